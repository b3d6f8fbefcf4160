"""The Figure 5 chapter's claims: least squares is exact from k = d, the trained transformer tracks it, and its gap
to least squares shrinks with training. The truncation results are descriptive (point estimates)."""

from __future__ import annotations

from svd_icl.claims.core import Quantifier
from svd_icl.claims.records import Case, Claim


def claims(v: dict, gap_by_step: dict, tracks_below: float) -> list[Claim]:
    """The records from :func:`svd_icl.claims.fig5_verdicts` (``v``) and the gap at each recorded training step."""
    gaps = ", ".join(f"step {s}: {g:.3f}" for s, g in gap_by_step.items())
    return [
        Claim("fig5-ls-exact", "Least squares reaches zero error once k >= d", "Fig. 5a", Quantifier.EVERY,
              (Case("least squares", v["ls_exact"], f"max error for k >= d: {v['ls_max_error']:.1e}"),)),
        Claim("fig5-tracks", "The trained transformer tracks least squares", "Fig. 5a", Quantifier.EVERY,
              (Case("k = 2d", v["tracks"], f"error {v['error_at_2d']:.3f} [{v['error_at_2d_low']:.3f}, "
                    f"{v['error_at_2d_high']:.3f}] at k = 2d (90% band over prompts; holds below {tracks_below}, "
                    "does not hold when the band lies above it; the zero estimator scores 1)"),), family=1),
        Claim("fig5-gap-shrinks", "The gap to least squares shrinks with training steps", "Fig. 5b",
              Quantifier.EVERY, (Case("training steps", v["gap_shrinks"], gaps + " (holds when it shrinks at every "
                                      "step, does not hold when the last is not below the first)"),)),
    ]  # fmt: skip
