"""Every verdict the chapters state about the paper's empirical claims, decided from stored per-query results.

A verdict compares settings *on the same queries* (each sweep point stores its per-query predictions) with a
paired test (:func:`svd_icl.stats.paired_comparison`), and when a claim is decided by the best of ``m`` settings
(clip rates x layers x modules, and shot numbers where the claim spans them) the p-values are Holm-adjusted over
all ``m``, and ``m`` is reported. Baselines are ``max(1/K, majority-class rate)``: a model that answers the most
frequent label every time must not look like a gain over chance.

Each claim ends in one of three outcomes:

- ``HOLDS``: the paired effect is in the claimed direction and significant after adjustment;
- ``FAILS``: the effect is significantly in the opposite direction, or there is no effect to find (for "can
  improve": no pruned point scores above the unpruned model at all);
- ``INCONCLUSIVE``: neither; the data cannot tell at this sample size.

The notebooks call these functions in visible cells and only format what they return.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from svd_icl.conditioning import DEFAULT_AGGREGATE
from svd_icl.stats import holm, paired_comparison
from svd_icl.tasks import get_task

HOLDS, FAILS, INCONCLUSIVE = "holds", "does not hold", "inconclusive"
OUTCOMES = (HOLDS, FAILS, INCONCLUSIVE)
ALPHA = 0.05
COLLAPSE_MARGIN = 0.05  # "collapse to chance": within 5 points of the baseline


def correctness(record: dict | pd.Series) -> np.ndarray:
    """Per-query 0/1 correctness of one stored point (a tie, -1, is wrong)."""
    return (np.asarray(record["predictions"]) == np.asarray(record["labels"])).astype(float)


def baseline(task: str, majority_rate: float) -> float:
    """The rate an answer-ignoring model reaches: the larger of 1/K and always answering the majority label."""
    return max(1.0 / get_task(task).num_classes, float(majority_rate))


def _outcome(difference: float, p_adjusted: float, claimed_sign: int = 1) -> str:
    if p_adjusted < ALPHA and np.sign(difference) == claimed_sign:
        return HOLDS
    if p_adjusted < ALPHA and np.sign(difference) == -claimed_sign:
        return FAILS
    return INCONCLUSIVE


def group_fields(group, key) -> dict:
    """``{column: value}`` of a ``groupby(group)`` key (a scalar when grouping by one column)."""
    return dict(zip(group, key if isinstance(key, tuple) else (key,)))


def _unpruned(g: pd.DataFrame) -> pd.Series:
    base = g[g.clip_rate == 0.0]
    if base.empty:
        raise ValueError("a sweep group has no clip rate 0 (the unpruned reference); include 0 in clip_rates")
    return base.iloc[0]


def point_tests(sweeps: pd.DataFrame, group: list[str], family: list[str] | None = None) -> pd.DataFrame:
    """Every pruned point against its group's unpruned point on the same queries, Holm-adjusted over its family.

    One row per pruned point: the paired difference in accuracy, its 95% interval, the raw and adjusted p-value
    and ``m``, the number of pruned points in the family (the size of the search). ``family`` (default: ``group``)
    is a coarser grouping when one claim spans several reference points, e.g. all shot numbers of a model.
    """
    rows = []
    for key, g in sweeps.groupby(group, sort=False):
        g = g.sort_values(["layer", "module", "clip_rate"])
        base = correctness(_unpruned(g))
        for _, r in g[g.clip_rate > 0].iterrows():
            t = paired_comparison(base, correctness(r))
            rows.append(
                {
                    **group_fields(group, key),
                    "layer": r.layer,
                    "module": r.module,
                    "clip_rate": r.clip_rate,
                    "unpruned": float(base.mean()),
                    "accuracy": float(r.accuracy),
                    "difference": t.difference,
                    "low": t.low,
                    "high": t.high,
                    "p": t.p_value,
                }
            )
    out = pd.DataFrame(rows)
    if out.empty:
        return out
    by = family or group
    out["p_holm"] = out.groupby(by, sort=False).p.transform(lambda p: holm(p.to_numpy()))
    out["m"] = out.groupby(by, sort=False).p.transform("size")
    return out


def can_improve(tests: pd.DataFrame, group: list[str]) -> pd.DataFrame:
    """Claim: some truncation raises accuracy. From :func:`point_tests`: the best point of each group (largest
    difference; among equal ones the smaller adjusted p), with ``HOLDS`` when any point is a significant gain."""
    rows = []
    for key, g in tests.groupby(group, sort=False):
        best = g.sort_values(["difference", "p_holm"], ascending=[False, True]).iloc[0]
        significant = g[(g.difference > 0) & (g.p_holm < ALPHA)]
        if len(significant):
            outcome = HOLDS
        elif g.difference.max() <= 0:
            outcome = FAILS
        else:
            outcome = INCONCLUSIVE
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
                "significant_gains": len(significant),
            }
        )
    return pd.DataFrame(rows)


def depth_stability(sweeps: pd.DataFrame, group: list[str], num_layers: dict[str, int]) -> pd.DataFrame:
    """Claim: deep layers tolerate truncation better than shallow ones.

    Per query, accuracy averaged over all pruned points of the deep half of the layers minus the same over the
    shallow half (same queries); a Wilcoxon signed-rank test on those per-query differences, Holm over groups.
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
        t = paired_comparison(shallow_mean, deep_mean)
        rows.append(
            {
                **group_fields(group, key),
                "deep_mean": float(deep_mean.mean()),
                "shallow_mean": float(shallow_mean.mean()),
                "difference": t.difference,
                "low": t.low,
                "high": t.high,
                "p": t.p_value,
            }
        )
    out = pd.DataFrame(rows)
    out["p_holm"] = holm(out.p.to_numpy())
    out["m"] = len(out)
    out["outcome"] = [_outcome(d, p) for d, p in zip(out.difference, out.p_holm)]
    return out


def shallow_collapse(sweeps: pd.DataFrame, group: list[str], num_layers: dict[str, int]) -> pd.DataFrame:
    """Claim: heavy truncation of a shallow layer collapses accuracy to chance.

    The worst shallow pruned point of each group must be a significant drop from the unpruned model (Holm over
    the group's shallow points) *and* end within ``COLLAPSE_MARGIN`` of the baseline (max of 1/K and the majority
    rate). ``INCONCLUSIVE`` when the unpruned model is itself within that margin: there is nothing to fall from.
    """
    rows = []
    for key, g in sweeps.groupby(group, sort=False):
        ref = _unpruned(g)
        base = correctness(ref)
        task = g.task.iloc[0]
        floor = baseline(task, ref.majority_rate)
        shallow = g[(g.clip_rate > 0) & (g.layer < g.model.map(num_layers) / 2)]
        tests = [paired_comparison(base, correctness(r)) for _, r in shallow.iterrows()]
        adjusted = holm([t.p_value for t in tests])
        worst = int(np.argmin([t.difference for t in tests]))
        w, t, p_adj = shallow.iloc[worst], tests[worst], float(adjusted[worst])
        if float(base.mean()) <= floor + COLLAPSE_MARGIN:
            outcome = INCONCLUSIVE
        elif p_adj < ALPHA and t.difference < 0 and float(w.accuracy) <= floor + COLLAPSE_MARGIN:
            outcome = HOLDS
        else:
            outcome = FAILS
        rows.append(
            {
                **group_fields(group, key),
                "outcome": outcome,
                "unpruned": float(base.mean()),
                "worst_accuracy": float(w.accuracy),
                "worst_layer": w.layer,
                "worst_module": w.module,
                "worst_clip_rate": w.clip_rate,
                "baseline": floor,
                "difference": t.difference,
                "low": t.low,
                "high": t.high,
                "p_holm": p_adj,
                "m": len(tests),
            }
        )
    return pd.DataFrame(rows)


def shots_help(sweeps: pd.DataFrame, group: list[str] = ("model",)) -> pd.DataFrame:
    """Claim (Fig. 2a): unpruned accuracy grows with the number of shots. Paired: most vs fewest shots on the
    same queries, plus each consecutive pair; ``HOLDS`` when most > fewest significantly and no consecutive step
    is a significant drop (Holm over the steps)."""
    rows = []
    for key, g in sweeps[sweeps.clip_rate == 0.0].groupby(list(group), sort=False):
        g = g.drop_duplicates("shots").sort_values("shots")
        if len(g) < 2:
            raise ValueError(f"shots_help needs at least two shot numbers per group; {key} has {len(g)}")
        acc = [correctness(r) for _, r in g.iterrows()]
        overall = paired_comparison(acc[0], acc[-1])
        steps = [paired_comparison(a, b) for a, b in zip(acc, acc[1:])]
        steps_p = holm([s.p_value for s in steps])
        drop = any(s.difference < 0 and p < ALPHA for s, p in zip(steps, steps_p))
        outcome = FAILS if drop else _outcome(overall.difference, overall.p_value)
        rows.append(
            {
                **group_fields(group, key),
                "outcome": outcome,
                "accuracy_by_shots": dict(zip(g.shots.astype(int), [float(a.mean()) for a in acc])),
                "difference": overall.difference,
                "low": overall.low,
                "high": overall.high,
                "p": overall.p_value,
                "steps_p_holm": [float(p) for p in steps_p],
            }
        )
    return pd.DataFrame(rows)


def collapse_grows_with_shots(sweeps: pd.DataFrame, num_layers: dict[str, int], group: list[str] = ("model",)):
    """Claim (Sec. 2.2c): with fewer shots, heavy truncation of shallow layers hurts less.

    Per query, the loss from truncating shallow layers is its unpruned correctness minus its correctness
    averaged over the shallow pruned points; the claim holds when that loss is significantly larger at the most
    shots than at the fewest (Wilcoxon on the paired per-query losses).
    """
    rows = []
    for key, g in sweeps.groupby(list(group), sort=False):
        losses = {}
        for shots, s in g.groupby("shots"):
            ref = correctness(_unpruned(s))
            shallow = s[(s.clip_rate > 0) & (s.layer < s.model.map(num_layers) / 2)]
            losses[int(shots)] = ref - np.mean([correctness(r) for _, r in shallow.iterrows()], axis=0)
        few, many = min(losses), max(losses)
        t = paired_comparison(losses[few], losses[many])
        rows.append(
            {
                **group_fields(group, key),
                "outcome": _outcome(t.difference, t.p_value),
                "loss_by_shots": {k: float(v.mean()) for k, v in sorted(losses.items())},
                "difference": t.difference,
                "low": t.low,
                "high": t.high,
                "p": t.p_value,
            }
        )
    return pd.DataFrame(rows)


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


def algorithm1_tests(table: pd.DataFrame) -> pd.DataFrame:
    """Holm-adjust Algorithm 1's per-run McNemar p-values over every run in ``table`` and decide each run.

    Algorithm 1 picks the clip rate on validation, so the test comparison is not a best-of-m pick within a run;
    across the runs a chapter reports (tasks x modules x seeds) the adjustment keeps "some run gains" honest.
    """
    out = table.copy()
    out["p_holm"] = holm(out.p.to_numpy())
    out["m"] = len(out)
    out["outcome"] = [_outcome(d, p) for d, p in zip(out.change, out.p_holm)]
    return out


def outcome_status(outcomes) -> str:
    """A summary status from outcomes: every case holds -> reproduced; some -> partly; none -> not reproduced."""
    outcomes = list(outcomes)
    for o in outcomes:
        if o not in OUTCOMES:
            raise ValueError(f"outcome {o!r} not one of {OUTCOMES}")
    if outcomes and all(o == HOLDS for o in outcomes):
        return "reproduced"
    return "partly" if any(o == HOLDS for o in outcomes) else "not reproduced"


def fmt_p(p: float) -> str:
    return "p < 0.001" if p < 0.001 else f"p = {p:.3f}"


def effect(row, unit: str = "points") -> str:
    """'+10.0 points [+2.0, +18.0], Holm p = 0.012, m = 56' from a row with difference/low/high/p_holm/m."""
    scale = 100 if unit == "points" else 1
    text = f"{row.difference * scale:+.1f} {unit} [{row.low * scale:+.1f}, {row.high * scale:+.1f}]"
    if hasattr(row, "p_holm") and hasattr(row, "m"):
        return text + f", Holm {fmt_p(row.p_holm)}, m = {int(row.m)}"
    return text + f", {fmt_p(row.p)}"


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
            ", but the unpruned model is already within 5 points of the baseline)."
            if collapse.outcome == INCONCLUSIVE
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
    ``INCONCLUSIVE`` between. (b) condition numbers grow with depth: ``HOLDS`` when some module has a significant
    positive Spearman correlation with the layer index, ``FAILS`` when a module's is significantly negative and
    none is significantly positive, else ``INCONCLUSIVE``."""
    rows = []
    for model, r in trends.iterrows():
        share = float(r.mlp_below_attn)
        a = HOLDS if share >= 0.9 else (FAILS if share <= 0.5 else INCONCLUSIVE)
        rising = any(r[f"spearman_{m}"] > 0 and r[f"p_{m}"] < alpha for m in ("attn", "mlp"))
        falling = any(r[f"spearman_{m}"] < 0 and r[f"p_{m}"] < alpha for m in ("attn", "mlp"))
        b = HOLDS if rising else (FAILS if falling else INCONCLUSIVE)
        rows.append({"model": model, "mlp_better": a, "grows_with_depth": b, "mlp_below_attn": share})
    return pd.DataFrame(rows)


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
        "gap_shrinks": HOLDS if gap_by_step.is_monotonic_decreasing else INCONCLUSIVE,
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
    group: ``HOLDS`` (the gains are *not* explained by noise removal alone) when some significant gain removes more
    than ``comparable`` times the error, ``FAILS`` when every significant gain removes at most that (the confound
    cannot be excluded), ``INCONCLUSIVE`` when there is no significant gain to explain.
    """
    merged = tests.merge(norms, on=["model", "layer", "module", "clip_rate"], how="left")
    if merged.removed_norm.isna().any() or merged.error_norm.isna().any():
        raise ValueError("norms lack some (model, layer, module, clip_rate) points of the tests")
    merged["ratio"] = merged.removed_norm / merged.error_norm
    rows = []
    for key, g in merged.groupby(group, sort=False):
        gains = g[(g.difference > 0) & (g.p_holm < alpha)]
        if gains.empty:
            outcome = INCONCLUSIVE
        else:
            outcome = HOLDS if bool((gains.ratio > comparable).any()) else FAILS
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
    rho of condition number against layer index and its p-value (uniform matrices only), and the outcome: ``HOLDS``
    for a significant rise with depth, ``FAILS`` for a significant fall, else ``INCONCLUSIVE``.
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
        outcome = INCONCLUSIVE
        if uniform and p < ALPHA:
            outcome = HOLDS if rho > 0 else FAILS
        rows.append({"matrix": name, "qtypes": "/".join(types), "uniform": uniform, "rho": float(rho),
                     "p": float(p), "outcome": outcome if uniform else "(mixed types: not tested)"})  # fmt: skip
    return pd.DataFrame(rows)


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
    """One model's verdict from :func:`uniform_quant_trends`: ``HOLDS`` when some uniformly quantized matrix rises
    significantly with depth, ``FAILS`` when some falls and none rises, else ``INCONCLUSIVE``."""
    outcomes = set(trends[trends.uniform].outcome)
    return HOLDS if HOLDS in outcomes else (FAILS if FAILS in outcomes else INCONCLUSIVE)


def describe_confound(row) -> str:
    """One sentence from a :func:`quantization_confound` row."""
    case = f"{row.model} {row.task}"
    if row.outcome == INCONCLUSIVE:
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
    ``HOLDS`` when the bound (R = R_hat) is at least the measured gap's upper 95% end in every (case, shots) cell,
    else ``FAILS``; with the median looseness (bound / gap, over cells with a positive gap) and the share of cells
    where the bound exceeds 1, the zero estimator's loss (there it says less than predicting 0 would)."""
    rows = []
    for approx, g in table.groupby("approx", sort=False):
        positive = g[g.gap > 0]
        rows.append(
            {
                "approx": approx,
                "outcome": HOLDS if bool(g.holds.all()) else FAILS,
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
    ties. ``HOLDS`` when the interval lies above 0, ``FAILS`` when below, else ``INCONCLUSIVE``.
    """
    from scipy.stats import spearmanr

    from svd_icl.algorithm1 import layer_scores, select_layer

    rng = np.random.default_rng(seed)
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
        low, high = np.quantile(boot, [0.025, 0.975])
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
                "outcome": HOLDS if low > 0 else (FAILS if high < 0 else INCONCLUSIVE),
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
    direction = {HOLDS: "do point at", FAILS: "point away from", INCONCLUSIVE: "do not detectably point at"}
    return (
        f"**{row.model} {row.task} {str(row.module).upper()}** ({row.layers} layers): condition numbers "
        f"**{direction[row.outcome]}** the layers that gain (Spearman ρ = {row.rho:+.2f}, 95% interval "
        f"[{row.low:+.2f}, {row.high:+.2f}]). Algorithm 1's layer {row.chosen_layer} gains "
        f"{row.chosen_gain * 100:+.1f} points at its best clip rate, the best layer ({row.best_layer}) "
        f"{row.best_gain * 100:+.1f}, an average layer {row.mean_gain * 100:+.1f};"
        f" the chosen layer does at least as well as {row.chosen_beats:.0%} of layers."
    )
