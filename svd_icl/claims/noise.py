"""Does a truncation's gain grow when more quantization-shaped noise is added? (records of :mod:`svd_icl.noise`)"""

from __future__ import annotations

import numpy as np
import pandas as pd

from svd_icl.analysis import group_fields
from svd_icl.claims.core import (
    ALPHA,
    FAILS,
    HOLDS,
    MARGINS,
    NOT_INFORMATIVE,
    UNDETERMINED,
    detectable_effect,
    interval_p,
    paired_interval,
)
from svd_icl.claims.points import baseline, correctness
from svd_icl.claims.sets import informative_set


def noise_effects(points: pd.DataFrame, group: list[str], margin: float = MARGINS["gain"],
                  alpha: float = ALPHA) -> pd.DataFrame:  # fmt: skip
    """Per case (``group``) and added noise level: the truncation's paired gain on the stored weights (``gain0``)
    and on the noisier ones (``gain``), the noise's cost to the unpruned model (``cost``: noisy minus stored) and
    the change of the gain, ``growth = gain - gain0`` (per query ``(s_k - u_k) - (s_0 - u_0)``), with its interval
    simultaneous over every (case, level) (``m``), the adjusted p dual to it against the margin (``p_adj``: the
    claim is decided against the margin, not against no change) and its detectable effect ``mde``.

    Outcome of "the gain is not the removal of quantization noise", i.e. more noise does not make the truncation
    help by ``margin`` or more: ``HOLDS`` when the growth's interval lies below ``margin``; ``FAILS`` only when it
    lies above it (truncation helps more with more noise, by at least the margin: what noise removal predicts);
    otherwise ``UNDETERMINED``. The control can only test a gain that is there and noise that costs something:
    ``NOT INFORMATIVE`` unless the truncation's gain on the stored weights is shown (its interval above 0) from an
    informative reference (:func:`svd_icl.claims.sets.informative_set`), and the noise is shown to cost the
    unpruned model accuracy (its interval below 0).
    """
    group = list(group)
    cases = []
    for key, g in points.groupby(group, sort=False):
        pick = {(float(r.noise), r.role): r for r in g.itertuples()}
        for level in sorted({float(v) for v in g.noise if v > 0}):
            need = [(0.0, "unpruned"), (0.0, "selected"), (level, "unpruned"), (level, "selected")]
            if any(k not in pick for k in need):
                raise ValueError(f"{key}: noise level {level:g} needs unpruned and selected points at 0 and {level:g}")
            u0, s0, uk, sk = (pick[k] for k in need)
            if any(not np.array_equal(np.asarray(u0.labels), np.asarray(r.labels)) for r in (s0, uk, sk)):
                raise ValueError(f"{key}: the noise control's points were scored on different queries")
            cases.append((key, level, s0, *(correctness(r._asdict()) for r in (u0, s0, uk, sk)), uk))
    m = max(len(cases), 1)
    rows = []
    for key, level, s0, a0, b0, ak, bk, uk in cases:
        growth = paired_interval(b0 - a0, bk - ak, m, alpha)
        cost = paired_interval(a0, ak, m, alpha)
        gain0 = paired_interval(a0, b0, m, alpha)
        floor = baseline(str(s0.task), float(s0.majority_rate))
        testable = gain0.low > 0 and cost.high < 0 and informative_set(a0, floor)
        outcome = (NOT_INFORMATIVE if not testable else HOLDS if growth.high < margin
                   else FAILS if growth.low > margin else UNDETERMINED)  # fmt: skip
        rows.append(
            {
                **group_fields(group, key),
                "layer": int(s0.layer),
                "module": s0.module,
                "clip_rate": float(s0.clip_rate),
                "noise": level,
                "noise_norm": float(uk.noise_norm),
                "error_norm": float(uk.error_norm),
                "n": len(a0),
                "unpruned": float(a0.mean()),
                "unpruned_noisy": float(ak.mean()),
                "gain0": float((b0 - a0).mean()),
                "gain0_low": gain0.low,
                "testable": testable,
                "gain": float((bk - ak).mean()),
                "cost": cost.difference,
                "cost_low": cost.low,
                "cost_high": cost.high,
                "growth": growth.difference,
                "low": growth.low,
                "high": growth.high,
                "m": m,
                "p_adj": interval_p(growth, m, margin),
                "p_null": margin,
                "mde": detectable_effect(b0 - a0, bk - ak, m, alpha),
                "margin": margin,
                "outcome": outcome,
            }
        )
    return pd.DataFrame(rows)


def describe_noise(row) -> str:
    """One sentence from a :func:`noise_effects` row."""
    case = f"{row.model} {row.task} (layer {row.layer} {row.module})"
    head = (
        f"{case}: adding {row.noise:g} times the file's estimated error variance (noise norm {row.noise_norm:.2f} "
        f"against an estimated error of {row.error_norm:.2f}) moves the unpruned model by {row.cost:+.1%} "
        f"[{row.cost_low:+.1%}, {row.cost_high:+.1%}]; the truncation's gain is {row.gain0:+.1%} on the stored "
        f"weights and {row.gain:+.1%} on the noisier ones, a change of {row.growth:+.1%} [{row.low:+.1%}, "
        f"{row.high:+.1%}] (n = {row.n}, m = {row.m})"
    )
    if row.outcome == NOT_INFORMATIVE:
        why = []
        if row.gain0_low <= 0:
            why.append("the truncation's gain on the stored weights is not shown")
        if row.cost_high >= 0:
            why.append("the added noise is not shown to cost the unpruned model anything")
        return head + ": not testable here (" + ("; ".join(why) or "the reference prompt is degenerate") + ")."
    if row.outcome == FAILS:
        return head + (
            f": the gain grows with the noise by more than {row.margin:.0%}, as removing quantization "
            "noise would predict."
        )
    if row.outcome == HOLDS:
        return (head + f": more noise does not make the truncation help by {row.margin:.0%} or more, so its effect "
                "here is not the removal of quantization-shaped noise.")  # fmt: skip
    return head + f": undetermined (this test detects a change of {row.mde:+.1%} or more)."


def describe_requantization(arm: pd.DataFrame) -> str:
    """A generated sentence from :func:`svd_icl.noise.requantization_arm` rows (with ``model``): what re-quantizing
    the tested matrices with their own type does, per type, and which types cannot be re-quantized here."""
    if arm.empty:
        return "No tested matrix is quantized: there is nothing to re-quantize."
    done, skipped = arm[arm.requantizable], arm[~arm.requantizable]
    parts = []
    for qtype, g in done.groupby("qtype"):
        models = ", ".join(sorted(set(g.model)))
        parts.append(f"{qtype} ({models}): {g.changed_share.max():.1%} of the weights change at most, by "
                     f"{g.change_over_error.max():.2f} of the estimated error norm")  # fmt: skip
    text = (
        "Re-quantizing the tested matrices with their own GGUF type (the other control one could run): "
        + ("; ".join(parts) if parts else "no tested matrix has a type `gguf` can quantize")
        + "."
    )
    if len(done) and (done.changed_share == 0).all():
        text += " The weights come back unchanged: that arm adds no noise, so it cannot test noise removal."
    if len(skipped):
        text += (
            f" {', '.join(sorted(set(skipped.qtype)))} ({', '.join(sorted(set(skipped.model)))}) cannot be "
            "re-quantized here (`gguf` has no K-type quantizer), so the added noise above is the only arm there."
        )
    return text
