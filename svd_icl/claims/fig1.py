"""Figure 1's claims: truncating one layer can raise accuracy (searched on validation, confirmed on held-out
queries), deep layers tolerate truncation, shallow layers collapse to the baseline."""

from __future__ import annotations

import numpy as np
import pandas as pd

from svd_icl.analysis import group_fields, is_shallow
from svd_icl.claims.core import (
    FAILS,
    HOLDS,
    MARGINS,
    NOT_INFORMATIVE,
    UNDETERMINED,
    family_level,
    fmt_p,
    interval_p,
    paired_interval,
)
from svd_icl.claims.points import (
    COLLAPSE_MARGIN,
    baseline,
    correctness,
    effect,
    pct,
    unpruned_row,
    with_outcomes,
)
from svd_icl.claims.sets import informative_set
from svd_icl.stats import holm, paired_comparison, wilson_interval


def can_improve(tests: pd.DataFrame, group: list[str], margin: float = MARGINS["gain"],
                sweeps: pd.DataFrame | None = None) -> pd.DataFrame:  # fmt: skip
    """Claim: some truncation raises accuracy, decided on the search itself (the exploratory verdict).

    From :func:`point_tests`: the best point of each group (largest difference; among equal ones the smaller
    adjusted p). ``HOLDS`` when some point's simultaneous interval lies above 0; ``DOES NOT HOLD`` when *every*
    point's interval lies below the margin (no point can gain that much, not only the best); else
    ``UNDETERMINED``; ``NOT INFORMATIVE`` either way when the search's reference prompt is degenerate (given
    ``sweeps``, the unpruned points: :func:`svd_icl.claims.sets.informative_set`). Where a confirmation exists,
    its verdicts (:mod:`svd_icl.claims.confirmation`) are the ones a chapter states; this one labels the search.
    """
    refs = {}
    if sweeps is not None:
        for key, g in sweeps.groupby(group, sort=False):
            ref = unpruned_row(g)
            refs[key] = informative_set(correctness(ref), baseline(str(ref.task), float(ref.majority_rate)))
    rows = []
    for key, g in tests.groupby(group, sort=False):
        best = g.sort_values(["difference", "p_holm"], ascending=[False, True]).iloc[0]
        significant = g[g.low > 0]
        if not refs.get(key, True):
            outcome = NOT_INFORMATIVE
        elif len(significant):
            outcome = HOLDS
        elif bool((g.high < margin).all()):
            outcome = FAILS
        else:
            outcome = UNDETERMINED
        rows.append(
            {
                **group_fields(group, key),
                "outcome": outcome,
                "best_layer": best.layer,
                "best_module": best.module,
                "best_clip_rate": best.clip_rate,
                "unpruned": best.unpruned,
                "best_accuracy": best.accuracy,
                "difference": best.difference,
                "low": best.low,
                "high": best.high,
                "p_holm": best.p_holm,
                "p_adj": best.p_adj,
                "m": int(best.m),
                "mde": float(best.mde),
                "margin": margin,
                "significant_gains": len(significant),
            }
        )
    return pd.DataFrame(rows)


def depth_stability(
    sweeps: pd.DataFrame, group: list[str], num_layers: dict[str, int], margin: float = MARGINS["depth"]
) -> pd.DataFrame:
    """Claim: deep layers tolerate truncation better than shallow ones.

    Per query, accuracy averaged over all pruned points of the deep half of the layers minus the same over the
    shallow half (same queries); Wilcoxon signed-rank, Holm over groups; the interval is simultaneous over the
    groups and decided by :func:`svd_icl.claims.core.decide` with ``margin``.
    """
    rows = []
    for key, g in sweeps.groupby(group, sort=False):
        pruned = g[g.clip_rate > 0]
        depth = is_shallow(pruned, num_layers)
        shallow, deep = pruned[depth], pruned[~depth]
        if shallow.empty or deep.empty:
            raise ValueError(f"depth stability needs shallow and deep layers in each group; {key} lacks one")
        deep_mean = np.mean([correctness(r) for _, r in deep.iterrows()], axis=0)
        shallow_mean = np.mean([correctness(r) for _, r in shallow.iterrows()], axis=0)
        rows.append(
            {
                **group_fields(group, key),
                "deep_mean": float(deep_mean.mean()),
                "shallow_mean": float(shallow_mean.mean()),
                "p": paired_comparison(shallow_mean, deep_mean).p_value,
                "_a": shallow_mean,
                "_b": deep_mean,
            }
        )
    return with_outcomes(pd.DataFrame(rows), margin)


def shallow_collapse(
    sweeps: pd.DataFrame, group: list[str], num_layers: dict[str, int], margin: float = COLLAPSE_MARGIN,
    m: int | None = None,
) -> pd.DataFrame:  # fmt: skip
    """Claim: heavy truncation of a shallow layer collapses accuracy to chance. The definition, stated before the
    data: the worst shallow point is *no better than the top of the answer-ignoring range plus* ``margin``
    (baseline = max(1/K, majority rate)) and is a drop from the unpruned model; one-sided, so a model pushed below
    chance has collapsed too.

    With the worst point's accuracy bounded one-sided at ``1 - alpha/m`` (the upper end of the two-sided
    ``1 - 2 alpha/m`` Wilson interval, as a TOST would) and its drop's interval simultaneous over the family:
    ``HOLDS`` when that upper bound is at most baseline + margin and the drop's interval lies below 0;
    ``DOES NOT HOLD`` when the worst accuracy's lower bound lies above baseline + margin (shown not to collapse);
    ``UNDETERMINED`` otherwise; ``NOT INFORMATIVE`` when the unpruned model is not shown above the band (nothing to
    fall from). ``m`` (default: every shallow point of every group, the points the worst is picked among) is the
    family. ``reach``: how far below baseline + margin the worst accuracy must lie for this n and m to show
    collapse (the upper bound's distance from the estimate).
    """
    groups = list(sweeps.groupby(group, sort=False))
    shallow_of = {key: g[(g.clip_rate > 0) & is_shallow(g, num_layers)] for key, g in groups}
    if m is None:
        m = sum(len(s) for s in shallow_of.values())
    rows = []
    for key, g in groups:
        ref = unpruned_row(g)
        base = correctness(ref)
        floor = baseline(g.task.iloc[0], ref.majority_rate)
        shallow = shallow_of[key]
        if shallow.empty:
            raise ValueError(f"shallow collapse needs shallow pruned points in each group; {key} has none")
        accs = [correctness(r) for _, r in shallow.iterrows()]
        worst = int(np.argmin([a.mean() for a in accs]))
        w = shallow.iloc[worst]
        t = paired_interval(base, accs[worst], m)
        one_sided = 1 - 2 * (1 - family_level(m))  # the two-sided level whose upper end is one-sided at alpha/m
        acc_low, acc_high = (float(x) for x in wilson_interval(accs[worst].mean(), len(base), one_sided))
        ref_low, _ = wilson_interval(float(base.mean()), len(base), 0.95)  # the screen informative_set uses
        p_holm = float(holm([paired_comparison(base, a).p_value for a in accs])[worst])
        if ref_low <= floor + margin:
            outcome = NOT_INFORMATIVE
        elif t.high < 0 and acc_high <= floor + margin:
            outcome = HOLDS
        elif acc_low > floor + margin:
            outcome = FAILS
        else:
            outcome = UNDETERMINED
        rows.append(
            {
                **group_fields(group, key),
                "outcome": outcome,
                "unpruned": float(base.mean()),
                "worst_accuracy": float(w.accuracy),
                "worst_low": acc_low,
                "worst_high": acc_high,
                "worst_layer": w.layer,
                "worst_module": w.module,
                "worst_clip_rate": w.clip_rate,
                "baseline": floor,
                "margin": margin,
                "difference": t.difference,
                "low": t.low,
                "high": t.high,
                "p_holm": p_holm,
                "p_adj": interval_p(t, m),
                "m": m,
                "n": len(base),
                "reach": acc_high - float(accs[worst].mean()),
            }
        )
    return pd.DataFrame(rows)


def collapse_evidence(row, name: str) -> str:
    """One :func:`shallow_collapse` case as the reproduction record states it: the outcome, the worst shallow
    point's accuracy with its two-sided ``1 - 2 alpha/m`` interval (its upper end is the one-sided bound) against the
    top of the band (baseline + margin), its drop with interval, n, m and adjusted p, and how far below the band's
    top an accuracy must lie for this n to show collapse (``reach``)::

        gemma3-270m/sst2: holds, worst 46.0% [35.9%, 57.4%] vs at most 65.0% (baseline 55.0% + 10%; layer 0 MLP
        xi = 0.9; drop -40.0% [-52.1%, -28.0%], n = 200, m = 28, adjusted p < 0.001; shows collapse when the worst
        accuracy is 11.4% or more below 65.0%)
    """
    top = row.baseline + row.margin
    why = ""
    if row.outcome == NOT_INFORMATIVE:
        why = f"; the unpruned model ({pct(row.unpruned)}) is not shown above the band"
    return (
        f"{name}: {row.outcome}, worst {pct(row.worst_accuracy)} [{pct(row.worst_low)}, {pct(row.worst_high)}] "
        f"vs at most {pct(top)} (baseline {pct(row.baseline)} + {row.margin:.0%}; layer {row.worst_layer} "
        f"{str(row.worst_module).upper()} xi = {row.worst_clip_rate:g}; drop {row.difference:+.1%} "
        f"[{row.low:+.1%}, {row.high:+.1%}], n = {row.n}, m = {int(row.m)}, adjusted {fmt_p(row.p_adj)}; shows "
        f"collapse when the worst accuracy is {row.reach:.1%} or more below {pct(top)}{why})"
    )


def describe_fig1(improve: pd.Series, depth: pd.Series, collapse: pd.Series) -> str:
    """One generated paragraph per (model, task): the three Fig. 1 claims with their paired effects."""
    best = (
        f"best point layer {improve.best_layer} {str(improve.best_module).upper()} ξ = {improve.best_clip_rate:g}: "
        f"{pct(improve.unpruned)} → {pct(improve.best_accuracy)}, {effect(improve)}"
    )
    return (
        f"**{improve.model}, {improve.task}** (baseline {pct(collapse.baseline)} = max(1/K, majority rate)). "
        f"*Truncation raises accuracy*: **{improve.outcome}** ({best}; {improve.significant_gains} of "
        f"{int(improve.m)} points significant after Holm). "
        f"*Deep layers more stable*: **{depth.outcome}** (mean accuracy over pruned points "
        f"{pct(depth.deep_mean)} deep vs {pct(depth.shallow_mean)} shallow, {effect(depth)}). "
        f"*Shallow layers collapse*: **{collapse.outcome}** (worst shallow point layer {collapse.worst_layer} "
        f"{str(collapse.worst_module).upper()} ξ = {collapse.worst_clip_rate:g} at {pct(collapse.worst_accuracy)}, "
        f"{effect(collapse)}"
        + (
            f"; the unpruned model is not shown above baseline + {collapse.margin * 100:.0f} points, so there is"
            " nothing to collapse from)."
            if collapse.outcome == NOT_INFORMATIVE
            else ")."
        )
    )
