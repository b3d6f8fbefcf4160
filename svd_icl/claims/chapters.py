"""Every verdict the chapters state about the paper's empirical claims, decided from stored per-query results.

A verdict compares settings *on the same queries* (each sweep point stores its per-query predictions). The rule
that turns an effect into an outcome is :mod:`svd_icl.claims.core`'s: an interval adjusted for the family the
claim's status aggregates (``1 - alpha/m``), a stated smallest effect of interest per claim (``MARGINS``), the
minimum detectable effect beside every undetermined result, and the degenerate-prompt guard on every gain
(baselines are ``max(1/K, majority-class rate)`` and the same model's 0-shot accuracy). p-values are exact
McNemar (Wilcoxon for averaged values), Holm-adjusted over the same family, and ``m`` is reported.

The notebooks call these functions in visible cells and only format what they return.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from svd_icl.claims.core import (
    ALPHA,
    DEGENERATE,
    FAILS,
    HOLDS,
    MARGINS,
    UNDETERMINED,
    decide,
    degenerate,
    detectable_effect,
    family_level,
    fmt_p,
    paired_interval,
    power_note,
)
from svd_icl.conditioning import DEFAULT_AGGREGATE
from svd_icl.stats import holm, paired_comparison, wilson_interval
from svd_icl.tasks import get_task

COLLAPSE_MARGIN = MARGINS["collapse"]  # "collapse to chance": within this share of the baseline


__all__ = [
    "COLLAPSE_MARGIN",
    "COMPARABLE",
    "algorithm1_tests",
    "assumption1_verdicts",
    "baseline",
    "can_improve",
    "choose_variant",
    "collapse_grows_with_shots",
    "collapsed",
    "condition_gain",
    "confirmation_verdicts",
    "correctness",
    "depth_stability",
    "describe_condition_gain",
    "describe_confirmation",
    "describe_confound",
    "describe_fig1",
    "describe_fig2",
    "describe_scale",
    "describe_uniform_trends",
    "describe_variants",
    "effect",
    "fig3_verdicts",
    "fig5_verdicts",
    "group_fields",
    "point_tests",
    "quantization_confound",
    "shallow_collapse",
    "shots_help",
    "theorem1_verdicts",
    "theorem2_gap_verdicts",
    "uniform_quant_trends",
    "uniform_trend_outcome",
    "variant_tests",
]


def correctness(record: dict | pd.Series) -> np.ndarray:
    """Per-query 0/1 correctness of one stored point (a tie, -1, is wrong)."""
    return (np.asarray(record["predictions"]) == np.asarray(record["labels"])).astype(float)


def baseline(task: str, majority_rate: float) -> float:
    """The rate an answer-ignoring model reaches: the larger of 1/K and always answering the majority label."""
    return max(1.0 / get_task(task).num_classes, float(majority_rate))


def group_fields(group, key) -> dict:
    """``{column: value}`` of a ``groupby(group)`` key (a scalar when grouping by one column)."""
    return dict(zip(group, key if isinstance(key, tuple) else (key,)))


def _unpruned(g: pd.DataFrame) -> pd.Series:
    base = g[g.clip_rate == 0.0]
    if base.empty:
        raise ValueError("a sweep group has no clip rate 0 (the unpruned reference); include 0 in clip_rates")
    return base.iloc[0]


def point_tests(sweeps: pd.DataFrame, group: list[str], family: list[str] | None = None) -> pd.DataFrame:
    """Every pruned point against its group's unpruned point on the same queries, adjusted over its family.

    One row per pruned point: the paired difference in accuracy, its simultaneous interval ``low``/``high`` at
    level ``1 - alpha/m`` (``m``: the pruned points of the family, the size of the search), the exact McNemar
    ``p`` and its Holm adjustment ``p_holm``, and ``mde``, the smallest gain the family-adjusted test detects at
    80% power. ``family`` (default: ``group``) is a coarser grouping when one claim spans several reference
    points, e.g. all shot numbers of a model.
    """
    rows = []
    for key, g in sweeps.groupby(group, sort=False):
        g = g.sort_values(["layer", "module", "clip_rate"])
        ref = _unpruned(g)
        base = correctness(ref)
        for _, r in g[g.clip_rate > 0].iterrows():
            rows.append(
                {
                    **group_fields(group, key),
                    "layer": r.layer,
                    "module": r.module,
                    "clip_rate": r.clip_rate,
                    "unpruned": float(base.mean()),
                    "accuracy": float(r.accuracy),
                    "majority_rate": float(ref.majority_rate),
                    "p": paired_comparison(base, correctness(r)).p_value,
                    "_a": base,
                    "_b": correctness(r),
                }
            )
    out = pd.DataFrame(rows)
    if out.empty:
        return out
    families = out.groupby(family or group, sort=False, group_keys=False)
    return pd.concat([_adjusted(f) for _, f in families]).sort_index()


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
        f"validation) on {row.n} held-out queries x {row.seeds} demonstration sets: {_pct(row.unpruned)} → "
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


def _adjusted(out: pd.DataFrame) -> pd.DataFrame:
    """One family's adjusted columns for rows holding per-query ``_a``/``_b`` and ``p``: Holm p, ``m``, the
    simultaneous interval of ``_b - _a`` and the detectable effect (``_a``/``_b`` dropped)."""
    out = out.copy()
    m = len(out)
    out["p_holm"] = holm(out.p.to_numpy())
    out["m"] = m
    intervals = [paired_interval(a, b, m) for a, b in zip(out._a, out._b)]
    out["difference"] = [i.difference for i in intervals]
    out["low"] = [i.low for i in intervals]
    out["high"] = [i.high for i in intervals]
    out["mde"] = [detectable_effect(a, b, m) for a, b in zip(out._a, out._b)]
    return out.drop(columns=["_a", "_b"])


def _decided(out: pd.DataFrame, margin: float, sign: int = 1) -> pd.DataFrame:
    """:func:`_adjusted`, then the margin and the outcome (:func:`svd_icl.claims.core.decide`); rows with a
    ``degenerate`` column are claimed gains and get :func:`svd_icl.claims.core.gain_outcome`'s guard."""
    out = _adjusted(out)
    out["margin"] = margin
    out["outcome"] = [decide(lo, hi, margin, sign) for lo, hi in zip(out.low, out.high)]
    if "degenerate" in out:
        out.loc[(out.outcome == HOLDS) & out.degenerate.astype(bool), "outcome"] = DEGENERATE
    return out


def shallow_collapse(
    sweeps: pd.DataFrame, group: list[str], num_layers: dict[str, int], margin: float = COLLAPSE_MARGIN
) -> pd.DataFrame:
    """Claim: heavy truncation of a shallow layer collapses accuracy to chance (an equivalence claim).

    The worst shallow pruned point of each group, with intervals simultaneous over the group's shallow points
    (``m``): ``HOLDS`` when it is a drop from the unpruned model (interval of the difference below 0) *and* its
    accuracy's interval lies within ``margin`` of the baseline (max of 1/K and the majority rate);
    ``DOES NOT HOLD`` when even the worst point's accuracy is shown above the baseline plus the margin;
    ``UNDETERMINED`` otherwise, and when the unpruned model is itself within the margin (nothing to fall from).
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
        m = len(shallow)
        accs = [correctness(r) for _, r in shallow.iterrows()]
        worst = int(np.argmin([a.mean() for a in accs]))
        w = shallow.iloc[worst]
        t = paired_interval(base, accs[worst], m)
        acc_low, acc_high = (float(x) for x in wilson_interval(accs[worst].mean(), len(base), family_level(m)))
        p_adj = float(holm([paired_comparison(base, a).p_value for a in accs])[worst])
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
                "p_holm": p_adj,
                "m": m,
            }
        )
    return pd.DataFrame(rows)


def shots_help(sweeps: pd.DataFrame, group: list[str] = ("model",), margin: float = MARGINS["shots"]) -> pd.DataFrame:
    """Claim (Fig. 2a): unpruned accuracy grows with the number of shots. Paired: most vs fewest shots on the
    same queries (interval simultaneous over the groups, decided with ``margin``), plus each consecutive pair;
    a consecutive step that is a significant drop (Holm over the steps) refutes "grows"."""
    rows = []
    for key, g in sweeps[sweeps.clip_rate == 0.0].groupby(list(group), sort=False):
        g = g.drop_duplicates("shots").sort_values("shots")
        if len(g) < 2:
            raise ValueError(f"shots_help needs at least two shot numbers per group; {key} has {len(g)}")
        acc = [correctness(r) for _, r in g.iterrows()]
        steps = [paired_comparison(a, b) for a, b in zip(acc, acc[1:])]
        steps_p = holm([s.p_value for s in steps])
        rows.append(
            {
                **group_fields(group, key),
                "accuracy_by_shots": dict(zip(g.shots.astype(int), [float(a.mean()) for a in acc])),
                "p": paired_comparison(acc[0], acc[-1]).p_value,
                "steps_p_holm": [float(p) for p in steps_p],
                "step_drop": any(s.difference < 0 and p < ALPHA for s, p in zip(steps, steps_p)),
                "_a": acc[0],
                "_b": acc[-1],
            }
        )
    out = _decided(pd.DataFrame(rows), margin)
    out.loc[out.step_drop, "outcome"] = FAILS
    return out


def collapse_grows_with_shots(
    sweeps: pd.DataFrame, num_layers: dict[str, int], group: list[str] = ("model",), margin: float = MARGINS["shots"]
) -> pd.DataFrame:
    """Claim (Sec. 2.2c): with fewer shots, heavy truncation of shallow layers hurts less.

    Per query, the loss from truncating shallow layers is its unpruned correctness minus its correctness
    averaged over the shallow pruned points; the claim is that the loss is larger at the most shots than at the
    fewest (Wilcoxon on the paired per-query losses; interval simultaneous over groups, decided with ``margin``).
    """
    rows = []
    for key, g in sweeps.groupby(list(group), sort=False):
        losses = {}
        for shots, s in g.groupby("shots"):
            ref = correctness(_unpruned(s))
            shallow = s[(s.clip_rate > 0) & (s.layer < s.model.map(num_layers) / 2)]
            losses[int(shots)] = ref - np.mean([correctness(r) for _, r in shallow.iterrows()], axis=0)
        few, many = min(losses), max(losses)
        rows.append(
            {
                **group_fields(group, key),
                "loss_by_shots": {k: float(v.mean()) for k, v in sorted(losses.items())},
                "p": paired_comparison(losses[few], losses[many]).p_value,
                "_a": losses[few],
                "_b": losses[many],
            }
        )
    return _decided(pd.DataFrame(rows), margin)


def choose_variant(table: pd.DataFrame, metric: str = "accuracy") -> str:
    """The prompt variant with the best validation score (first listed among equals): chosen without test data."""
    val = table[table.split == "validation"]
    if val.empty:
        raise ValueError("no validation rows: prompt variants must be scored on validation to choose among them")
    return str(val.loc[val[metric].idxmax(), "variant"])


def variant_tests(table: pd.DataFrame, chosen: str) -> pd.DataFrame:
    """Each other variant against the chosen one on the test queries (paired), Holm over the comparisons."""
    test = table[table.split == "test"].set_index("variant")
    ref = correctness(test.loc[chosen])
    rows = []
    for name, r in test.iterrows():
        if name == chosen:
            continue
        t = paired_comparison(ref, correctness(r))
        rows.append({"variant": name, "difference": t.difference, "low": t.low, "high": t.high, "p": t.p_value})
    out = pd.DataFrame(rows)
    if len(out):
        out["p_holm"] = holm(out.p.to_numpy())
        out["m"] = len(out)
    return out


def collapsed(shares: list[float], threshold: float = 0.95) -> int | None:
    """The class index that at least ``threshold`` of the queries are answered with, or None."""
    shares = list(shares)
    top = int(np.argmax(shares))
    return top if shares[top] >= threshold else None


def algorithm1_tests(table: pd.DataFrame, margin: float = MARGINS["gain"]) -> pd.DataFrame:
    """Decide each Algorithm 1 run of ``table`` (:func:`svd_icl.analysis.algorithm1_table` rows, which carry the
    per-query test correctness), adjusted over every run in it.

    Algorithm 1 picks the clip rate on validation, so a run's test comparison is not a best-of-m pick; across the
    runs a chapter reports (tasks x modules x seeds) the adjustment keeps "some run gains" honest: McNemar p
    Holm-adjusted, the accuracy change's interval simultaneous over the ``m`` runs, the detectable effect, and
    the degenerate guard (an unpruned test accuracy within the margin of max(1/K, majority rate)).
    """
    floors = [max(c, r) for c, r in zip(table.chance, table.majority_rate)]
    guard = [degenerate(u, f) for u, f in zip(table.accuracy_unpruned, floors)]
    return _decided(table.assign(_a=table.correct_unpruned, _b=table.correct_pruned, degenerate=guard), margin)


def effect(row, unit: str = "points") -> str:
    """'+10.0 points (simultaneous 99.9% interval [+2.0, +18.0]), Holm p = 0.012, m = 56' from a row with
    difference/low/high and p_holm/m (or p: a single comparison, 95% interval)."""
    scale = 100 if unit == "points" else 1
    span = f"[{row.low * scale:+.1f}, {row.high * scale:+.1f}]"
    if hasattr(row, "p_holm") and hasattr(row, "m"):
        m = int(row.m)
        kind = f"simultaneous {family_level(m):.1%} interval" if m > 1 else "95% interval"
        return f"{row.difference * scale:+.1f} {unit} ({kind} {span}), Holm {fmt_p(row.p_holm)}, m = {m}"
    return f"{row.difference * scale:+.1f} {unit} (95% interval {span}), {fmt_p(row.p)}"


def _pct(x: float) -> str:
    return f"{x:.1%}"


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


def describe_fig2(help_: pd.Series, improve: pd.DataFrame, depth: pd.DataFrame, grows: pd.Series) -> str:
    """One generated paragraph per model: Sec. 2.2's claims (a)-(c) with paired effects."""
    by_shots = ", ".join(f"{k} shots {_pct(v)}" for k, v in help_.accuracy_by_shots.items())
    per_shot = "; ".join(
        f"{int(r.shots)} shots: **{r.outcome}** (best {_pct(r.unpruned)} → {_pct(r.best_accuracy)}, {effect(r)})"
        for r in improve.itertuples()
    )
    stable = "; ".join(f"{int(r.shots)} shots: **{r.outcome}** ({effect(r)})" for r in depth.itertuples())
    losses = ", ".join(f"{k} shots {v * 100:+.1f} points" for k, v in grows.loss_by_shots.items())
    return (
        f"**{help_.model}**. (a) *Accuracy grows with shots*: **{help_.outcome}** ({by_shots}; most vs fewest "
        f"{effect(help_)}). (b) *Truncation can help at every shot number* (Holm over all points of all shot "
        f"numbers): {per_shot}. *Deep layers more stable*: {stable}. (c) *Fewer shots, slower shallow collapse*: "
        f"**{grows.outcome}** (mean loss from truncating shallow layers: {losses}; most vs fewest {effect(grows)})."
    )


def describe_variants(
    table: pd.DataFrame, chosen: str, tests: pd.DataFrame, words_of: dict[str, list[str]], default: str = "ours"
) -> str:
    """What each prompt variant does on the test queries, from its predicted-label shares: a variant that answers
    one label for (nearly) every query is named as collapsed, and its accuracy is that label's share."""
    test = table[table.split == "test"].set_index("variant")
    gold = np.asarray(test.iloc[0]["labels"])
    parts = [
        f"Chosen on validation: **{chosen}**; the book's default prompt "
        + (f"({default}) is that choice." if chosen == default else f"({default}) is *not* the validation choice.")
    ]
    effects = {r.variant: f" ({effect(r)} against {chosen})" for r in tests.itertuples()}
    for variant, row in test.iterrows():
        words = words_of[variant]
        shares = ", ".join(f"'{w}' {s:.0%}" for w, s in zip(words, row.predicted_shares))
        top = collapsed(row.predicted_shares)
        text = f"**{variant}**: {_pct(row.accuracy)} on test{effects.get(variant, '')}; answers {shares}"
        if top is not None:
            text += (
                f" — it gives '{words[top]}' to (nearly) every query, so its accuracy is just the share of that "
                f"label among the queries ({_pct(float(np.mean(gold == top)))})"
            )
        parts.append(text + ".")
    return " ".join(parts)


# -- Figure 3 and Figure 5: verdicts on deterministic quantities (no sampling of queries) -------------------------


def fig3_verdicts(trends: pd.DataFrame, alpha: float = ALPHA) -> pd.DataFrame:
    """Fig. 3's observations per model, from :func:`svd_icl.conditioning.depth_and_module_trends` rows (index:
    model). (a) MLP better conditioned than ATTN: ``HOLDS`` in at least 90% of layers, ``FAILS`` in at most half,
    ``UNDETERMINED`` between. (b) condition numbers grow with depth: the two modules' Spearman p-values are
    Holm-adjusted within the model; ``HOLDS`` when some module rises significantly and none falls, ``FAILS`` when
    some falls and none rises, ``UNDETERMINED`` when neither or both directions are found (mixed)."""
    rows = []
    for model, r in trends.iterrows():
        share = float(r.mlp_below_attn)
        a = HOLDS if share >= 0.9 else (FAILS if share <= 0.5 else UNDETERMINED)
        modules = ("attn", "mlp")
        p_adj = dict(zip(modules, holm([r[f"p_{m}"] for m in modules])))
        rising = any(r[f"spearman_{m}"] > 0 and p_adj[m] < alpha for m in modules)
        falling = any(r[f"spearman_{m}"] < 0 and p_adj[m] < alpha for m in modules)
        b = _direction(rising, falling)
        rows.append(
            {"model": model, "mlp_better": a, "grows_with_depth": b, "mlp_below_attn": share,
             "p_holm_attn": float(p_adj["attn"]), "p_holm_mlp": float(p_adj["mlp"]), "m": len(modules)}
        )  # fmt: skip
    return pd.DataFrame(rows)


def _direction(rising: bool, falling: bool) -> str:
    """A trend claimed upward: up only -> holds; down only -> does not hold; neither or both -> undetermined."""
    if rising and not falling:
        return HOLDS
    if falling and not rising:
        return FAILS
    return UNDETERMINED


def fig5_verdicts(
    ls_error: pd.Series, tf_error: pd.Series, d: int, gap_by_step: pd.Series, trunc: pd.DataFrame | None = None
) -> dict:
    """Fig. 5 / App. C.4 from the error curves (index: number of in-context examples k) and a truncation table
    (columns layer, module, clip_rate, error_all):

    - ``ls_exact``: least squares reaches rounding-level error (< 1e-6) from k = d on;
    - ``tracks``: the transformer's error at k = 2d is below 0.1 (the zero estimator scores 1);
    - ``gap_shrinks``: the mean gap to least squares decreases with every recorded training step;
    - ``deep_better``: truncating the last layer raises the error less (mean over clip rates) than the first;
    - ``improves``: some truncation lowers the error by more than 2%.

    Without ``trunc`` only the first three are returned.
    """
    at_2d = tf_error.iloc[min(2 * d, len(tf_error) - 1)]
    curves = {
        "ls_exact": HOLDS if float(ls_error.iloc[d:].max()) < 1e-6 else FAILS,
        "ls_max_error": float(ls_error.iloc[d:].max()),
        "tracks": HOLDS if at_2d < 0.1 else FAILS,
        "error_at_2d": float(at_2d),
        "gap_shrinks": HOLDS if gap_by_step.is_monotonic_decreasing else UNDETERMINED,
    }
    if trunc is None:
        return curves
    base = float(trunc[trunc.clip_rate == 0.0].error_all.iloc[0])
    per = trunc[trunc.clip_rate > 0].groupby(["layer", "module"]).error_all.agg(["mean", "min"])
    first, last = per.index.get_level_values(0).min(), per.index.get_level_values(0).max()
    first_mean, last_mean = per.xs(first, level=0)["mean"].mean(), per.xs(last, level=0)["mean"].mean()
    return {
        **curves,
        "deep_better": HOLDS if last_mean < first_mean else FAILS,
        "first_mean": float(first_mean),
        "last_mean": float(last_mean),
        "improves": HOLDS if bool((per["min"] < base * 0.98).any()) else FAILS,
        "unpruned": base,
        "best": float(per["min"].min()),
    }


def theorem1_verdicts(checks: pd.DataFrame, num_demos: int, changed: pd.Series, num_layers: int) -> dict:
    """Lemma 1 / Theorem 1 and Remarks 1 and 5 on random float64 stacks, from ``theorem1_errors`` rows (all seeds)
    and, per pruned layer k, the layers whose G_t changed. Identities hold to rounding (relative error < 1e-10);
    Remark 1: rank(Delta W_t) <= N; Remark 5: pruning layer k changes exactly G_k..G_L (L - k + 1 terms)."""
    return {
        "theorem1": HOLDS if float(checks.rel_error_query.max()) < 1e-10 else FAILS,
        "max_rel_error": float(checks.rel_error_query.max()),
        "remark1": HOLDS if bool((checks.rank_delta_W <= num_demos).all()) else FAILS,
        "max_rank": int(checks.rank_delta_W.max()),
        "remark5": HOLDS if all(len(v) == num_layers - k + 1 for k, v in changed.items()) else FAILS,
    }


# ---------------------------------------------------------------------------------------------------------------
# The quantization confound (the bundled models are de-quantized GGUF files; see svd_icl.quantization).

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


def uniform_quant_trends(cond: pd.DataFrame, qtypes: pd.DataFrame, min_layers: int = 5) -> pd.DataFrame:
    """Fig. 3's depth trend, matrix by matrix, on matrices quantized with one GGUF type in every layer.

    ``cond``: :func:`svd_icl.conditioning.condition_numbers` rows (layer, module, matrix, cond); ``qtypes``: per
    (layer, matrix as ``"attn.q"``) the ``qtype``. A trend found where every layer has the same quantization cannot
    come from llama.cpp giving some layers more bits. One row per matrix: its type(s), whether uniform, Spearman's
    rho of condition number against layer index and its p-value (uniform matrices only; ``p_holm`` adjusted over
    them), and the outcome: ``HOLDS`` for a significant rise with depth, ``FAILS`` for a significant fall, else
    ``UNDETERMINED``.
    """
    from scipy.stats import spearmanr

    table = cond.assign(name=cond.module + "." + cond.matrix).merge(
        qtypes.rename(columns={"matrix": "name"})[["layer", "name", "qtype"]], on=["layer", "name"], how="left"
    )
    rows = []
    for name, g in table.groupby("name", sort=False):
        types = sorted(set(g.qtype.dropna()))
        uniform = len(types) == 1 and len(g) >= min_layers
        rho, p = spearmanr(g.layer, g.cond) if uniform else (np.nan, np.nan)
        rows.append({"matrix": name, "qtypes": "/".join(types), "uniform": uniform, "rho": float(rho),
                     "p": float(p)})  # fmt: skip
    out = pd.DataFrame(rows)
    tested = out.uniform.to_numpy(bool)
    out["p_holm"] = np.nan
    if tested.any():
        out.loc[tested, "p_holm"] = holm(out.p[tested].to_numpy())
    out["outcome"] = [
        (HOLDS if rho > 0 else FAILS) if u and p < ALPHA else (UNDETERMINED if u else "(mixed types: not tested)")
        for u, rho, p in zip(out.uniform, out.rho, out.p_holm)
    ]
    return out


def describe_uniform_trends(model: str, trends: pd.DataFrame) -> str:
    """One sentence from :func:`uniform_quant_trends` rows of one model."""
    uniform = trends[trends.uniform]
    mixed = trends[~trends.uniform]
    rising = uniform[uniform.outcome == HOLDS]
    falling = uniform[uniform.outcome == FAILS]
    parts = [f"{model}: {len(uniform)} of {len(trends)} matrices have one quantization type in every layer"]
    if len(uniform):
        named = ", ".join(f"{m} rho = {r:+.2f}" for m, r in zip(rising.matrix, rising.rho))
        parts.append(
            f"their condition numbers rise significantly with depth in {len(rising)}"
            + (f" ({named})" if len(rising) else "")
            + f" and fall in {len(falling)}"
            + (f" ({', '.join(falling.matrix)})" if len(falling) else "")
        )
    if len(mixed):
        parts.append(f"{', '.join(f'{m} ({q})' for m, q in zip(mixed.matrix, mixed.qtypes))} mix types by layer")
    return "; ".join(parts) + "."


def uniform_trend_outcome(trends: pd.DataFrame) -> str:
    """One model's verdict from :func:`uniform_quant_trends` (Holm over its uniformly quantized matrices):
    ``HOLDS`` when some matrix rises significantly with depth and none falls, ``FAILS`` when some falls and none
    rises, ``UNDETERMINED`` when neither or both (mixed directions)."""
    outcomes = set(trends[trends.uniform].outcome)
    return _direction(HOLDS in outcomes, FAILS in outcomes)


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


def describe_scale(
    big: str, small: list[str], helps: pd.DataFrame, improve: pd.DataFrame, depth: pd.DataFrame,
    collapse: pd.DataFrame,
) -> str:  # fmt: skip
    """A generated paragraph: each claim's outcome on the larger model ``big`` beside the smaller ``small`` ones
    (frames indexed by model, from :func:`shots_help`, :func:`can_improve`, :func:`depth_stability`,
    :func:`shallow_collapse`), and which claims change with scale."""
    claims = {
        "few-shot demonstrations help": helps.outcome,
        "truncating one layer raises accuracy": improve.outcome,
        "deep layers are more stable": depth.outcome,
        "shallow layers collapse": collapse.outcome,
    }
    by_shots = ", ".join(f"{k} shots {_pct(v)}" for k, v in helps.loc[big].accuracy_by_shots.items())
    lines = [f"**{big}**: {by_shots} (baseline max(1/K, majority rate) {_pct(collapse.loc[big].baseline)})."]
    same, differ = [], []
    for claim, outcomes in claims.items():
        others = ", ".join(f"{m} {outcomes.loc[m]}" for m in small if m in outcomes.index)
        sentence = f"*{claim}*: **{outcomes.loc[big]}** at {big}" + (f" ({others})" if others else "")
        (same if all(outcomes.loc[m] == outcomes.loc[big] for m in small if m in outcomes.index) else differ).append(
            sentence
        )
    if same:
        lines.append("Same outcome as on the smaller models: " + "; ".join(same) + ".")
    if differ:
        lines.append("Different outcome from at least one smaller model: " + "; ".join(differ) + ".")
    best = improve.loc[big]
    lines.append(
        f"The best truncation of {big} is layer {best.best_layer} {str(best.best_module).upper()} "
        f"ξ = {best.best_clip_rate:g}: {_pct(best.unpruned)} → {_pct(best.best_accuracy)}, {effect(best)}."
    )
    return " ".join(lines)


def theorem2_gap_verdicts(table: pd.DataFrame) -> pd.DataFrame:
    """Theorem 2 as an inequality, per surrogate, from :func:`svd_icl.theory.generalization.gap_vs_bound` rows:
    ``HOLDS`` when the bound (R = R_hat) is at least the measured gap's upper 95% end in every (case, shots) cell;
    otherwise ``UNDETERMINED`` ("cannot be refuted with R_hat"): R_hat is a lower bound on the theorem's R, so a
    surrogate below the gap does not show the theorem false. With the median looseness (bound / gap, over cells
    with a positive gap) and the share of cells where the bound exceeds 1, the zero estimator's loss (there it
    says less than predicting 0 would)."""
    rows = []
    for approx, g in table.groupby("approx", sort=False):
        positive = g[g.gap > 0]
        holds = bool(g.holds.all())
        rows.append(
            {
                "approx": approx,
                "outcome": HOLDS if holds else UNDETERMINED,
                "note": "" if holds else "cannot be refuted with R_hat (a lower bound on R)",
                "cells": len(g),
                "fails": int((~g.holds).sum()),
                "median_looseness": float(positive.looseness.median()) if len(positive) else float("nan"),
                "vacuous_share": float((g.bound > 1.0).mean()),
            }
        )
    return pd.DataFrame(rows)


def assumption1_verdicts(table: pd.DataFrame) -> list[str]:
    """Assumption 1 per layer from :func:`svd_icl.theory.generalization.assumption1_table`: ``HOLDS`` where no
    normality test rejects, ``FAILS`` where one does."""
    return [HOLDS if g else FAILS for g in table.gaussian]


# ---------------------------------------------------------------------------------------------------------------
# The condition-number rationale (Sec. 3.4, Algorithm 1): do worse-conditioned layers gain more from truncation?


def condition_gain(
    sweeps: pd.DataFrame,
    cond: dict[str, pd.DataFrame],
    group: list[str],
    k: int = 3,
    aggregate: str = DEFAULT_AGGREGATE,
    resamples: int = 2000,
    seed: int = 0,
) -> pd.DataFrame:
    """Across all layers, the association between a layer's condition number and its gain from truncation.

    ``sweeps``: points of every layer (one unpruned point and several clip rates per layer and module, on one
    query set per group); ``cond``: per model its :func:`svd_icl.conditioning.condition_numbers` table, ranked as
    Algorithm 1 ranks it (:func:`svd_icl.algorithm1.layer_scores` with ``aggregate``). Per group and module: a
    layer's ``gain`` is its best accuracy change over the clip rates (what Algorithm 1's grid search can reach);
    Spearman's rho between score and gain with a bootstrap interval
    over layers; Algorithm 1's layer (the deepest of the ``k`` top scores), its gain, the best layer's gain, the
    mean gain over layers (what a random layer gives on average) and the share of layers the chosen one beats or
    ties. The bootstrap interval is simultaneous over the ``m`` cells (level ``1 - alpha/m``): ``HOLDS`` when it
    lies above 0, ``FAILS`` when below (a negative association refutes the rationale), else ``UNDETERMINED``.
    """
    from scipy.stats import spearmanr

    from svd_icl.algorithm1 import layer_scores, select_layer

    rng = np.random.default_rng(seed)
    cells = sweeps.groupby([*group, "module"], sort=False).ngroups
    level = family_level(cells)
    rows = []
    for key, g in sweeps.groupby([*group, "module"], sort=False):
        fields = group_fields([*group, "module"], key)
        unpruned = float(_unpruned(g).accuracy)
        gains = g[g.clip_rate > 0].groupby("layer").accuracy.max() - unpruned
        s = layer_scores(cond[fields["model"]], fields["module"], aggregate)
        layers = gains.index.intersection(s.index)
        if len(layers) < 4:
            raise ValueError(f"condition_gain needs scores and points for at least 4 layers; {key} has {len(layers)}")
        gains = gains.loc[layers]
        x, y = s.loc[layers].to_numpy(float), gains.to_numpy(float)
        rho = float(spearmanr(x, y).statistic)
        boot = []
        for _ in range(resamples):
            i = rng.integers(0, len(layers), len(layers))
            if len(set(x[i])) > 1 and len(set(y[i])) > 1:
                boot.append(spearmanr(x[i], y[i]).statistic)
        low, high = np.quantile(boot, [(1 - level) / 2, (1 + level) / 2])
        chosen, _ = select_layer(cond[fields["model"]], fields["module"], k, aggregate)
        if chosen not in layers:
            raise ValueError(f"Algorithm 1's layer {chosen} for {key} has no points in the sweeps")
        rows.append(
            {
                **fields,
                "layers": len(layers),
                "rho": rho,
                "low": float(low),
                "high": float(high),
                "outcome": HOLDS if low > 0 else (FAILS if high < 0 else UNDETERMINED),
                "m": cells,
                "level": level,
                "unpruned": unpruned,
                "chosen_layer": chosen,
                "chosen_gain": float(gains.loc[chosen]),
                "best_layer": int(gains.idxmax()),
                "best_gain": float(gains.max()),
                "mean_gain": float(gains.mean()),
                "chosen_beats": float((gains.loc[chosen] >= gains).mean()),
            }
        )
    return pd.DataFrame(rows)


def describe_condition_gain(row) -> str:
    """One sentence from a :func:`condition_gain` row."""
    direction = {HOLDS: "do point at", FAILS: "point away from", UNDETERMINED: "do not detectably point at"}
    return (
        f"**{row.model} {row.task} {str(row.module).upper()}** ({row.layers} layers): condition numbers "
        f"**{direction[row.outcome]}** the layers that gain (Spearman ρ = {row.rho:+.2f}, simultaneous "
        f"{row.level:.1%} interval [{row.low:+.2f}, {row.high:+.2f}]). Algorithm 1's layer {row.chosen_layer} gains "
        f"{row.chosen_gain * 100:+.1f} points at its best clip rate, the best layer ({row.best_layer}) "
        f"{row.best_gain * 100:+.1f}, an average layer {row.mean_gain * 100:+.1f};"
        f" the chosen layer does at least as well as {row.chosen_beats:.0%} of layers."
    )
