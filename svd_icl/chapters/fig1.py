"""The Figure 1 chapter's claims: truncation raises accuracy (over fresh prompts, and for the tuned prompt), deep
layers tolerate truncation, shallow layers collapse; and the controls of the gain (quantization noise) and of the
verdicts (prompt format)."""

from __future__ import annotations

import pandas as pd

from svd_icl.chapters.common import cases, confirmation_claims
from svd_icl.claims.core import Quantifier
from svd_icl.claims.fig1 import collapse_evidence
from svd_icl.claims.formats import format_claim
from svd_icl.claims.points import case_evidence
from svd_icl.claims.records import Claim

GAIN, GAIN_TUNED = "fig1-gain", "fig1-gain-tuned"
DEPTH, COLLAPSE = "fig1-deep-tolerate", "fig1-shallow-collapse"
NOISE, FORMAT = "fig1-noise-control", "fig1-format-control"


def _case(r) -> str:
    return f"{r.model}/{r.task}"


def claims(
    over: pd.DataFrame, tuned: pd.DataFrame, depth: pd.DataFrame, collapse: pd.DataFrame,
    noise: pd.DataFrame | None = None, formats: pd.DataFrame | None = None,
) -> list[Claim]:  # fmt: skip
    """The chapter's claim records from its tables: :func:`svd_icl.claims.over_sets` / :func:`tuned_prompt` rows
    (the confirmation), :func:`depth_stability`, :func:`shallow_collapse`, :func:`noise_effects` and
    :func:`format_robustness` rows."""
    out = confirmation_claims(over, tuned, _case, (GAIN, GAIN_TUNED), "Truncating one layer can raise few-shot "
                              "accuracy", "Fig. 1", Quantifier.SOME, "Truncation raises accuracy")  # fmt: skip
    out.append(Claim(DEPTH, "Deep layers tolerate truncation better than shallow ones", "Fig. 1", Quantifier.EVERY,
                     cases(depth.itertuples(), _case, lambda r: case_evidence(
                         r, _case(r), f"deep {r.deep_mean:.1%} vs shallow {r.shallow_mean:.1%}, ")),
                     family=len(depth)))  # fmt: skip
    out.append(Claim(COLLAPSE, "Heavy truncation of a shallow layer collapses accuracy to chance (no better than "
                     "max(1/K, majority rate) + 10 points, and a drop)", "Fig. 1", Quantifier.EVERY,
                     cases(collapse.itertuples(), _case, lambda r: collapse_evidence(r, _case(r))),
                     family=int(collapse.m.max()) if len(collapse) else None))  # fmt: skip
    if noise is not None and len(noise):
        levels = ", ".join(f"{v:g}x" for v in sorted(set(noise.noise)))
        out.append(Claim(NOISE, "A truncation's gain is not quantization noise removed (more injected noise does not "
                         "raise it)", "(ours: quantization)", Quantifier.EVERY,
                         cases(noise.itertuples(), lambda r: f"{_case(r)} {r.noise:g}x", lambda r: case_evidence(
                             r, f"{_case(r)}", f"gain {r.gain0:+.1%} -> {r.gain:+.1%} with {r.noise:g}x the error "
                             f"variance added (noise cost {r.cost:+.1%}), change ", field="growth")),
                         family=int(noise.m.max()), control=f"quantization-shaped noise added ({levels} the error "
                         "variance)", control_of=(GAIN_TUNED,)))  # fmt: skip
    if formats is not None and len(formats):
        out.append(format_claim(formats, control_of=(COLLAPSE, GAIN_TUNED), claim_id=FORMAT))
    return out
