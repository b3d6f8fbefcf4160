"""Whether a truncation's gain is more than the removal of quantization noise (bundled GGUF models)."""

from __future__ import annotations

import pandas as pd

from svd_icl.analysis import group_fields
from svd_icl.claims.core import (
    ALPHA,
    HOLDS,
    UNDETERMINED,
)

COMPARABLE = 2.0  # a truncation removes an amount "comparable" to the quantization error: within a factor of 2


def quantization_confound(
    tests: pd.DataFrame, norms: pd.DataFrame, group: list[str], comparable: float = COMPARABLE, alpha: float = ALPHA
) -> pd.DataFrame:
    """Are truncation's gains just the removal of quantization noise?

    ``tests``: :func:`point_tests` rows; ``norms``: per (``model``, ``layer``, ``module``, ``clip_rate``) the
    Frobenius norm the truncation removes (``removed_norm``) and the module's predicted quantization error
    (``error_norm``). A truncation that only undid quantization would remove about as much as the error, so per
    group: ``HOLDS`` (the gains are *not* explained by noise removal alone) when some significant gain (simultaneous
    interval above 0) removes more than ``comparable`` times the error; ``UNDETERMINED`` when every significant
    gain removes at most that (the confound cannot be excluded, nor shown) or when there is no gain to explain.
    """
    merged = tests.merge(norms, on=["model", "layer", "module", "clip_rate"], how="left")
    if merged.removed_norm.isna().any() or merged.error_norm.isna().any():
        raise ValueError("norms lack some (model, layer, module, clip_rate) points of the tests")
    merged["ratio"] = merged.removed_norm / merged.error_norm
    rows = []
    for key, g in merged.groupby(group, sort=False):
        gains = g[g.low > 0]
        outcome = HOLDS if bool((gains.ratio > comparable).any()) else UNDETERMINED
        rows.append(
            {
                **group_fields(group, key),
                "outcome": outcome,
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
    if row.outcome == HOLDS:
        return (
            f"{case}: the {row.gains} significant gain(s) remove {row.ratio_at_gains} times the estimated quantization "
            f"error of the truncated matrices; at least one removes more than {COMPARABLE:g} times it, so more than "
            "half of what it removes is not quantization noise: the gain is not noise removal alone."
        )
    return (
        f"{case}: every significant gain removes at most {COMPARABLE:g} times the estimated quantization error "
        f"({row.ratio_at_gains}): these gains are consistent with undoing quantization, and the confound stays open."
    )
