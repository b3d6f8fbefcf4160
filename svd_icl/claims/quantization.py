"""Whether a truncation's gain is more than the removal of quantization noise (bundled GGUF models)."""

from __future__ import annotations

import pandas as pd

from svd_icl.analysis import group_fields
from svd_icl.claims.core import ALPHA

COMPARABLE = 2.0  # a truncation removes an amount "comparable" to the quantization error: within a factor of 2


def quantization_confound(
    tests: pd.DataFrame, norms: pd.DataFrame, group: list[str], comparable: float = COMPARABLE, alpha: float = ALPHA
) -> pd.DataFrame:
    """Are truncation's gains just the removal of quantization noise?

    ``tests``: :func:`point_tests` rows; ``norms``: per (``model``, ``layer``, ``module``, ``clip_rate``) the
    Frobenius norm the truncation removes (``removed_norm``) and the module's predicted quantization error
    (``error_norm``). A truncation that only undid quantization would remove about as much as the error. The table
    is *descriptive* (a norm bounds what a truncation could remove, it tests nothing, and a significant search gain
    may come from a degenerate prompt): per group, ``removes_more`` says whether some significant gain (simultaneous
    interval above 0) removes more than ``comparable`` times the error. The test of the confound is the
    injected-noise control (:func:`svd_icl.claims.noise_effects`).
    """
    merged = tests.merge(norms, on=["model", "layer", "module", "clip_rate"], how="left")
    if merged.removed_norm.isna().any() or merged.error_norm.isna().any():
        raise ValueError("norms lack some (model, layer, module, clip_rate) points of the tests")
    merged["ratio"] = merged.removed_norm / merged.error_norm
    rows = []
    for key, g in merged.groupby(group, sort=False):
        gains = g[g.low > 0]
        rows.append(
            {
                **group_fields(group, key),
                "removes_more": bool((gains.ratio > comparable).any()),
                "gains": len(gains),
                "ratio_at_gains": ", ".join(f"{r:.1f}" for r in gains.ratio) if len(gains) else "",
                "points_comparable": int((g.ratio <= comparable).sum()),
                "points": len(g),
                "min_ratio": float(g.ratio.min()),
            }
        )
    return pd.DataFrame(rows)


def describe_confound(row) -> str:
    """One sentence from a :func:`quantization_confound` row."""
    case = f"{row.model} {row.task}"
    if row.gains == 0:
        return f"{case}: no significant gain, so nothing for quantization noise to explain."
    if row.removes_more:
        return (
            f"{case}: the {row.gains} significant search gain(s) remove {row.ratio_at_gains} times the estimated "
            f"quantization error of the truncated matrices; at least one removes more than {COMPARABLE:g} times it, so "
            "more than half of what it removes is not quantization noise (a bound on what was removed, not a test of "
            "why it helped)."
        )
    return (
        f"{case}: every significant search gain removes at most {COMPARABLE:g} times the estimated quantization error "
        f"({row.ratio_at_gains}): as much as undoing quantization could."
    )
