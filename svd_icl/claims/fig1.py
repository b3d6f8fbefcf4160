"""Figure 1's claims: truncating one layer can raise accuracy (searched on validation, confirmed on held-out
queries), deep layers tolerate truncation, shallow layers collapse to the baseline."""

from __future__ import annotations

import numpy as np
import pandas as pd

from svd_icl.analysis import group_fields
from svd_icl.claims.core import (
    DEGENERATE,
    FAILS,
    HOLDS,
    MARGINS,
    UNDETERMINED,
    degenerate,
    family_level,
    fmt_p,
    interval_p,
    paired_interval,
    power_note,
)
from svd_icl.claims.points import (
    COLLAPSE_MARGIN,
    _decided,
    _pct,
    _unpruned,
    baseline,
    correctness,
    effect,
)
from svd_icl.stats import holm, paired_comparison, wilson_interval


def can_improve(tests: pd.DataFrame, group: list[str], margin: float = MARGINS["gain"]) -> pd.DataFrame:
    """Claim: some truncation raises accuracy, decided on the search itself (the exploratory verdict).

    From :func:`point_tests`: the best point of each group (largest difference; among equal ones the smaller
    adjusted p). ``HOLDS`` when some point's simultaneous interval lies above 0 and the reference is not a
    degenerate prompt (else ``DEGENERATE``); ``DOES NOT HOLD`` only when *every* point's interval lies below the
    margin (no point can gain that much); else ``UNDETERMINED``. Where a confirmation set exists, its verdict
    (:func:`confirmation_verdicts`) is the one a chapter states; this one labels the exploratory search.
    """
    rows = []
    for key, g in tests.groupby(group, sort=False):
        best = g.sort_values(["difference", "p_holm"], ascending=[False, True]).iloc[0]
        significant = g[g.low > 0]
        floor = baseline(str(best.task), best.majority_rate) if "task" in g else 0.0
        if len(significant):
            outcome = DEGENERATE if degenerate(float(best.unpruned), floor) else HOLDS
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


def confirmation_verdicts(
    points: pd.DataFrame, group: list[str] = ("model", "task"), margin: float = MARGINS["gain"],
    reported: dict | None = None,
) -> pd.DataFrame:  # fmt: skip
    """The confirmatory verdict of "truncation raises accuracy" from :func:`svd_icl.confirm.confirm` records.

    Per case (``group``): the selected setting against the unpruned model on the same held-out queries, for each
    demonstration seed (``per_seed``: difference and 95% interval) and pooled (per query, correctness averaged
    over the seeds). The pooled interval is simultaneous over the cases (``m``), the p-value (exact McNemar for
    one seed, Wilcoxon for averages) Holm-adjusted over them; ``mde`` is the smallest gain that test detects at
    80% power. The outcome follows :func:`svd_icl.claims.core.gain_outcome` with the baseline and the same
    model's 0-shot accuracy on the same queries as the degenerate-prompt guard. ``reported``: per case key an
    effect the paper reports, for the power note.
    """
    group = list(group)
    rows = []
    for key, g in points.groupby(group, sort=False):
        seeds = g[g.role != "zero_shot"].demo_seed.map(lambda s: -1 if s is None or s != s else int(s))
        per_seed, ua, sb = [], [], []
        labels = None
        for s in sorted(set(seeds)):
            pair = g[(g.role != "zero_shot") & (seeds == s)]
            u, b = pair[pair.role == "unpruned"], pair[pair.role == "selected"]
            if len(u) != 1 or len(b) != 1:
                raise ValueError(f"{key}: demonstration seed {s} needs one unpruned and one selected point")
            u, b = u.iloc[0], b.iloc[0]
            for r in (u, b):
                if labels is None:
                    labels = np.asarray(r["labels"])
                elif not np.array_equal(labels, np.asarray(r["labels"])):
                    raise ValueError(f"{key}: the confirmation points were scored on different queries")
            a_, b_ = correctness(u), correctness(b)
            i = paired_interval(a_, b_)
            per_seed.append(
                {"demo_seed": None if s < 0 else s, "unpruned": float(a_.mean()), "selected": float(b_.mean()),
                 "difference": i.difference, "low": i.low, "high": i.high}
            )  # fmt: skip
            ua.append(a_)
            sb.append(b_)
        zero = g[g.role == "zero_shot"]
        u_mean, s_mean = np.mean(ua, axis=0), np.mean(sb, axis=0)
        first = g[g.role == "selected"].iloc[0]
        rows.append(
            {
                **group_fields(group, key),
                "layer": int(first.layer),
                "module": first.module,
                "clip_rate": float(first.clip_rate),
                "n": len(u_mean),
                "seeds": len(ua),
                "unpruned": float(u_mean.mean()),
                "selected": float(s_mean.mean()),
                "zero_shot": float(correctness(zero.iloc[0]).mean()) if len(zero) else float("nan"),
                "baseline": baseline(str(first.task), float(first.majority_rate)),
                "p": paired_comparison(u_mean, s_mean).p_value,
                "per_seed": per_seed,
                "_a": u_mean,
                "_b": s_mean,
                "reported": (reported or {}).get(key, float("nan")),
            }
        )
    out = pd.DataFrame(rows)
    if out.empty:
        return out
    out["degenerate"] = [
        degenerate(u, f, z if np.isfinite(z) else None) for u, f, z in zip(out.unpruned, out.baseline, out.zero_shot)
    ]
    return _decided(out, margin)


def describe_confirmation(row) -> str:
    """One generated sentence from a :func:`confirmation_verdicts` row: the outcome, the pooled effect with its
    simultaneous interval, per-seed effects, the guard's numbers and, when undetermined, the detectable effect."""
    seeds = ", ".join(f"{e['difference'] * 100:+.1f}" for e in row.per_seed)
    text = (
        f"**{row.model} {row.task}**: layer {row.layer} {str(row.module).upper()} ξ = {row.clip_rate:g} (chosen on "
        f"validation) on {row.n} held-out queries x {row.seeds} demonstration set{'s' if row.seeds != 1 else ''}: "
        f"{_pct(row.unpruned)} → "
        f"{_pct(row.selected)}, {effect(row)}; per demonstration set {seeds} points. **{row.outcome}**"
    )
    if row.outcome == DEGENERATE:
        text += (
            f": the unpruned reference ({_pct(row.unpruned)}) is within {MARGINS['degenerate'] * 100:.0f} points of "
            f"the baseline ({_pct(row.baseline)}) or below the same model's 0-shot accuracy ({_pct(row.zero_shot)})"
        )
    elif row.outcome == UNDETERMINED:
        text += f": {power_note(row.mde, row.reported if np.isfinite(row.reported) else None, row.n)}"
    elif row.outcome == FAILS:
        text += f": the interval excludes a gain of {row.margin * 100:+.0f} points (the smallest effect of interest)"
    return text + "."


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
        depth = pruned.layer < pruned.model.map(num_layers) / 2
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
    return _decided(pd.DataFrame(rows), margin)


def shallow_collapse(
    sweeps: pd.DataFrame, group: list[str], num_layers: dict[str, int], margin: float = COLLAPSE_MARGIN,
    m: int | None = None,
) -> pd.DataFrame:  # fmt: skip
    """Claim: heavy truncation of a shallow layer collapses accuracy to chance (an equivalence claim).

    The worst shallow pruned point of each group, with intervals simultaneous over the group's shallow points
    (``m``): ``HOLDS`` when it is a drop from the unpruned model (interval of the difference below 0) *and* its
    accuracy's interval lies within ``margin`` of the baseline (max of 1/K and the majority rate);
    ``DOES NOT HOLD`` when even the worst point's accuracy is shown above the baseline plus the margin;
    ``UNDETERMINED`` otherwise, and when the unpruned model is itself within the margin (nothing to fall from).
    ``m`` fixes the family size when ``sweeps`` holds only some of a group's shallow points (the prompt-format
    control re-scores the worst one alone, within the book's family). ``reach``: an equivalence claim's power, the
    largest distance from the baseline at which an accuracy can still be shown inside the band at this n and m
    (``margin`` minus the half-width of the worst point's interval; not above 0: no accuracy can be).
    """
    rows = []
    for key, g in sweeps.groupby(group, sort=False):
        ref = _unpruned(g)
        base = correctness(ref)
        task = g.task.iloc[0]
        floor = baseline(task, ref.majority_rate)
        shallow = g[(g.clip_rate > 0) & (g.layer < g.model.map(num_layers) / 2)]
        if shallow.empty:
            raise ValueError(f"shallow collapse needs shallow pruned points in each group; {key} has none")
        m = len(shallow) if m is None else m
        accs = [correctness(r) for _, r in shallow.iterrows()]
        worst = int(np.argmin([a.mean() for a in accs]))
        w = shallow.iloc[worst]
        t = paired_interval(base, accs[worst], m)
        acc_low, acc_high = (float(x) for x in wilson_interval(accs[worst].mean(), len(base), family_level(m)))
        p_holm = float(holm([paired_comparison(base, a).p_value for a in accs])[worst])
        if float(base.mean()) <= floor + margin:
            outcome = UNDETERMINED
        elif t.high < 0 and floor - margin <= acc_low and acc_high <= floor + margin:
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
                "reach": margin - (acc_high - acc_low) / 2,
            }
        )
    return pd.DataFrame(rows)


def collapse_evidence(row, name: str) -> str:
    """One :func:`shallow_collapse` case as the reproduction record states it: the outcome, the worst shallow
    point's accuracy with its simultaneous interval against the equivalence band (baseline +/- margin), and its
    drop from the unpruned model with interval, n, m and the adjusted p dual to that interval, and how close to the
    baseline an accuracy must be for this n to show it inside the band (``reach``)::

        gemma3-270m/sst2: undetermined, worst 46.0% [40.1%, 52.0%] vs baseline 55.0% +/- 10% (layer 0 MLP
        xi = 0.9; drop -9.0% [-15.2%, -2.8%], n = 200, m = 12, adjusted p = 0.004; shows equivalence within
        +/-4.0% of the baseline)
    """
    reach = getattr(row, "reach", None)
    if reach is None or not np.isfinite(reach):
        power = ""
    elif reach > 0:
        power = f"; shows equivalence within +/-{reach:.1%} of the baseline"
    else:
        power = f"; n = {row.n} cannot show equivalence within the band (interval half-width {row.margin - reach:.1%})"
    why = ""
    if row.outcome == UNDETERMINED and row.unpruned <= row.baseline + row.margin:
        why = f"; the unpruned model ({_pct(row.unpruned)}) is already within the band"
    return (
        f"{name}: {row.outcome}, worst {_pct(row.worst_accuracy)} [{_pct(row.worst_low)}, {_pct(row.worst_high)}] "
        f"vs baseline {_pct(row.baseline)} +/- {row.margin:.0%} (layer {row.worst_layer} "
        f"{str(row.worst_module).upper()} xi = {row.worst_clip_rate:g}; drop {row.difference:+.1%} "
        f"[{row.low:+.1%}, {row.high:+.1%}], n = {row.n}, m = {int(row.m)}, adjusted {fmt_p(row.p_adj)}{power}{why})"
    )


def describe_fig1(improve: pd.Series, depth: pd.Series, collapse: pd.Series) -> str:
    """One generated paragraph per (model, task): the three Fig. 1 claims with their paired effects."""
    best = (
        f"best point layer {improve.best_layer} {str(improve.best_module).upper()} ξ = {improve.best_clip_rate:g}: "
        f"{_pct(improve.unpruned)} → {_pct(improve.best_accuracy)}, {effect(improve)}"
    )
    return (
        f"**{improve.model}, {improve.task}** (baseline {_pct(collapse.baseline)} = max(1/K, majority rate)). "
        f"*Truncation raises accuracy*: **{improve.outcome}** ({best}; {improve.significant_gains} of "
        f"{int(improve.m)} points significant after Holm). "
        f"*Deep layers more stable*: **{depth.outcome}** (mean accuracy over pruned points "
        f"{_pct(depth.deep_mean)} deep vs {_pct(depth.shallow_mean)} shallow, {effect(depth)}). "
        f"*Shallow layers collapse*: **{collapse.outcome}** (worst shallow point layer {collapse.worst_layer} "
        f"{str(collapse.worst_module).upper()} ξ = {collapse.worst_clip_rate:g} at {_pct(collapse.worst_accuracy)}, "
        f"{effect(collapse)}"
        + (
            f", but the unpruned model is already within {collapse.margin * 100:.0f} points of the baseline)."
            if collapse.outcome == UNDETERMINED
            else ")."
        )
    )
