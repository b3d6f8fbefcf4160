"""The Figure 5 chapter's claims: least squares is exact from k = d, the trained transformer tracks it, and its gap
to least squares shrinks with training. The truncation results are descriptive (point estimates)."""

from __future__ import annotations

from svd_icl.claims.core import Quantifier
from svd_icl.claims.records import Case, Claim
from svd_icl.work import Facts, TrainedToys, Unit


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


def describe_curves(v: dict, error_at_d: float, gap_by_step: dict, tracks_below: float) -> str:
    """The error curves' three verdicts in words, from :func:`svd_icl.claims.fig5_verdicts`."""
    gaps = ", ".join(f"step {s}: {g:.3f}" for s, g in gap_by_step.items())
    return (f"- Least squares reaches rounding-level error from k = d on: **{v['ls_exact']}** (max error for k ≥ d: "
            f"{v['ls_max_error']:.1e}).\n"
            f"- The transformer tracks it: **{v['tracks']}** (error {error_at_d:.3f} at k = d, {v['error_at_2d']:.3f} "
            f"[{v['error_at_2d_low']:.3f}, {v['error_at_2d_high']:.3f}] at k = 2d, the band over prompts, against the "
            f"zero estimator's 1; tracking means below {tracks_below}); below k = d both are limited by the missing "
            "information, which is the paper's noisy-implicit-gradient regime.\n"
            f"- The gap to least squares shrinks with training: **{v['gap_shrinks']}** ({gaps}).")  # fmt: skip


def describe_truncation(v: dict) -> str:
    """The truncation results, described (point estimates: the table has no spread over prompts to decide with)."""
    from svd_icl.claims.core import HOLDS

    if v["improves"]:
        why = ""
    elif v["tracks"] == HOLDS:
        why = ("In this noiseless task the trained model is close to the optimum, so there is little noise for "
               "truncation to remove; the paper's gains come from language models whose implicit updates are far from "
               "optimal.")  # fmt: skip
    else:
        why = "The model has not learned the task well here (see above), so these numbers say little about the claim."
    return (f"Unpruned error (mean over k): {v['unpruned']:.4f}. Descriptively (point estimates; the truncation table "
            f"has no spread over prompts to decide with), truncating the last layer hurts "
            f"{'less' if v['deep_better'] else 'no less'} than truncating the first (mean error over clip rates "
            f"{v['last_mean']:.3f} vs {v['first_mean']:.3f}), and {'some' if v['improves'] else 'no'} truncation "
            f"lowers the error by more than 2% (best {v['best']:.4f}). {why}")  # fmt: skip


# Seconds of a cold run of the trained transformer at the default parameters on the 2-core CPU of CALIBRATION_GFLOPS.
TOY_SECONDS = 360


def work(p: dict, facts: Facts) -> list[Unit]:
    """The transformer trained on in-context linear regression, scaled by its steps, width squared and depth."""
    scale = p["steps"] / 6000 * (p["width"] / 128) ** 2 * p["layers"] / 4
    return [TrainedToys(chapter="fig5", label="trained toys", seconds=TOY_SECONDS * scale, pattern="linreg_*")]
