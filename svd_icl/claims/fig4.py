"""Algorithm 1 (Tables 2-8) and the condition-number rationale of Sec. 3.4, across every layer."""

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
    decide,
    detectable_correlation,
    family_level,
    fmt_p,
)
from svd_icl.claims.points import (
    correctness,
    unpruned_row,
    with_outcomes,
)
from svd_icl.claims.sets import informative_set
from svd_icl.conditioning import DEFAULT_AGGREGATE
from svd_icl.stats import holm


def algorithm1_tests(table: pd.DataFrame, margin: float = MARGINS["gain"]) -> pd.DataFrame:
    """Decide each Algorithm 1 run of ``table`` (:func:`svd_icl.analysis.algorithm1_table` rows, which carry the
    per-query test correctness), adjusted over every run in it (exploratory: the chapter's verdict is the
    confirmation).

    Algorithm 1 picks the clip rate on validation, so a run's test comparison is not a best-of-m pick; across the
    runs a chapter reports (tasks x modules x seeds) the adjustment keeps "some run gains" honest: McNemar p
    Holm-adjusted, the accuracy change's interval simultaneous over the ``m`` runs, the detectable effect, and
    the guard (:func:`svd_icl.claims.sets.informative_set` on the unpruned test answers): a run whose reference is
    degenerate is not informative either way.
    """
    floors = [max(c, r) for c, r in zip(table.chance, table.majority_rate)]
    guard = [informative_set(np.asarray(u, float), f) for u, f in zip(table.correct_unpruned, floors)]
    return with_outcomes(table.assign(_a=table.correct_unpruned, _b=table.correct_pruned, informative=guard), margin)


ALGORITHM1_GROUP = ["model", "task", "module"]


def kept_rows(kept: pd.DataFrame) -> pd.DataFrame:
    """Cases whose validation search kept the unpruned model (xi* = 0): Algorithm 1's output is the unpruned model,
    there is no change to confirm, and the case is ``NOT INFORMATIVE`` (nothing was measured; n = 0)."""
    if not len(kept):
        return pd.DataFrame()
    return kept[ALGORITHM1_GROUP + ["layer"]].assign(
        clip_rate=0.0,
        n=0,
        sets=0,
        informative=0,
        difference=np.nan,
        low=np.nan,
        high=np.nan,
        outcome=NOT_INFORMATIVE,
        kept_unpruned=True,
        stopped="the search kept the unpruned model",
    )


def partial_spearman(x: np.ndarray, y: np.ndarray, z: np.ndarray) -> float:
    """Spearman correlation of ``x`` and ``y`` with ``z`` held fixed: the correlation of the ranks' residuals after a
    linear fit on ``z``'s ranks. Used to ask whether condition numbers point at the layers that gain *beyond* what
    depth alone explains (both rise with depth on these models)."""
    from scipy.stats import rankdata

    rx, ry, rz = (rankdata(v) for v in (x, y, z))
    design = np.column_stack([np.ones_like(rz), rz])
    ex = rx - design @ np.linalg.lstsq(design, rx, rcond=None)[0]
    ey = ry - design @ np.linalg.lstsq(design, ry, rcond=None)[0]
    if ex.std() < 1e-9 * max(rx.std(), 1.0) or ey.std() < 1e-9 * max(ry.std(), 1.0):
        return float("nan")  # x or y is a function of z's ranks: nothing is left to correlate
    return float(np.corrcoef(ex, ey)[0, 1])


def _correct_by_layer(pruned: pd.DataFrame, layers: pd.Index, base: pd.Series) -> np.ndarray:
    """Per-query correctness of every pruned point, as (layer, clip rate, query) with NaN where a layer has fewer
    rates; every point must be scored on ``base``'s queries (the paired design the bootstrap resamples)."""
    rates = max(int((pruned.layer == la).sum()) for la in layers)
    out = np.full((len(layers), rates, len(base["labels"])), np.nan)
    for li, la in enumerate(layers):
        for ri, (_, r) in enumerate(pruned[pruned.layer == la].iterrows()):
            if not np.array_equal(np.asarray(r["labels"]), np.asarray(base["labels"])):
                raise ValueError(f"layer {la} clip rate {r.clip_rate} was scored on other queries than the unpruned "
                                 "model: condition_gain needs every point on the same queries")  # fmt: skip
            out[li, ri] = correctness(r)
    return out


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
    ties. The bootstrap interval is simultaneous over the ``m`` cells (level ``1 - alpha/m``) and decided by the
    shared rule (:func:`svd_icl.claims.core.decide`, margin ``MARGINS["rho"]``): ``HOLDS`` when it lies above 0,
    ``FAILS`` when it lies below the margin (the data exclude even a small positive association), else
    ``UNDETERMINED``; ``p_holm`` is the bootstrap's two-sided p (the share of resamples on the far side of 0),
    Holm-adjusted over the cells, and ``mde`` the smallest rho the cell's layers detect at 80% power.
    Condition numbers and gains both change with depth on these models, so the same is decided with depth held
    fixed (``rho_given_depth``: :func:`partial_spearman` given the layer index, same bootstrap), and the gain of
    the rule that uses depth alone (the deepest layer) is set beside Algorithm 1's. The bootstrap resamples the
    queries and then the layers: every layer's gain is scored on the same queries and is the best of its clip rates
    on them, so each resample re-scores every point on the resampled queries and picks each layer's best rate again
    (the intervals carry the query noise and the selection, not only the spread over layers).
    """
    from scipy.stats import spearmanr

    from svd_icl.algorithm1 import layer_scores, select_layer

    rng = np.random.default_rng(seed)
    cells = sweeps.groupby([*group, "module"], sort=False).ngroups
    level = family_level(cells)
    rows = []
    for key, g in sweeps.groupby([*group, "module"], sort=False):
        fields = group_fields([*group, "module"], key)
        base = unpruned_row(g)
        unpruned = float(base.accuracy)
        s = layer_scores(cond[fields["model"]], fields["module"], aggregate)
        pruned = g[(g.clip_rate > 0) & g.layer.isin(s.index)]
        layers = pd.Index(sorted(set(pruned.layer)))
        if len(layers) < 4:
            raise ValueError(f"condition_gain needs scores and points for at least 4 layers; {key} has {len(layers)}")
        right, u = _correct_by_layer(pruned, layers, base), correctness(base)  # (layers, rates, queries), (queries,)
        gains = pd.Series(np.nanmax(right.mean(axis=2), axis=1) - u.mean(), index=layers)
        x, y = s.loc[layers].to_numpy(float), gains.to_numpy(float)
        z = np.asarray(layers, dtype=float)
        rho = float(spearmanr(x, y).statistic)
        rho_depth = partial_spearman(x, y, z)
        boot, boot_depth = [], []
        for _ in range(resamples):
            q = rng.integers(0, len(u), len(u))
            yq = np.nanmax(right[:, :, q].mean(axis=2), axis=1) - u[q].mean()
            i = rng.integers(0, len(layers), len(layers))
            if len(set(x[i])) > 1 and len(set(yq[i])) > 1:
                boot.append(spearmanr(x[i], yq[i]).statistic)
                if len(set(z[i])) > 1:
                    boot_depth.append(partial_spearman(x[i], yq[i], z[i]))
        low, high = np.quantile(boot, [(1 - level) / 2, (1 + level) / 2])
        boot_depth = [b for b in boot_depth if b == b]
        d_low, d_high = np.quantile(boot_depth, [(1 - level) / 2, (1 + level) / 2]) if boot_depth else (np.nan,) * 2
        margin = MARGINS["rho"]
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
                "outcome": decide(low, high, margin),
                "p": _bootstrap_p(boot),
                "rho_given_depth": rho_depth,
                "low_given_depth": float(d_low),
                "high_given_depth": float(d_high),
                "outcome_given_depth": decide(d_low, d_high, margin) if boot_depth else UNDETERMINED,
                "p_given_depth": _bootstrap_p(boot_depth),
                "m": cells,
                "level": level,
                "margin": margin,
                "mde": detectable_correlation(len(layers), cells),
                "unpruned": unpruned,
                "chosen_layer": chosen,
                "chosen_gain": float(gains.loc[chosen]),
                "best_layer": int(gains.idxmax()),
                "best_gain": float(gains.max()),
                "mean_gain": float(gains.mean()),
                "chosen_beats": float((gains.loc[chosen] >= gains).mean()),
                "deepest_gain": float(gains.loc[max(layers)]),  # the rule that uses depth alone
            }
        )
    out = pd.DataFrame(rows)
    # Holm over the cells, as the intervals are simultaneous over them
    out["p_holm"] = holm(out["p"].to_numpy())
    out["p_holm_given_depth"] = holm(out["p_given_depth"].to_numpy())
    return out


def _bootstrap_p(boot) -> float:
    """Two-sided bootstrap p of "rho = 0": twice the share of resamples on the far side of 0, with the +1 of a
    resampling p (never 0 from a finite number of resamples); 1 without resamples."""
    b = np.asarray(boot, dtype=float)
    if not len(b):
        return 1.0
    tail = min((b <= 0).sum(), (b >= 0).sum())
    return float(min(1.0, 2 * (tail + 1) / (len(b) + 1)))


def condition_gain_evidence(row, given_depth: bool = False) -> str:
    """A :func:`condition_gain` row's record line: outcome, rho with its simultaneous interval, layers, m, Holm p,
    margin and the smallest rho the test detects; with ``given_depth``, the same for the partial rho and the
    deepest-layer rule beside Algorithm 1's pick."""
    suffix = "_given_depth" if given_depth else ""
    label = "partial rho" if given_depth else "rho"
    text = (
        f"{row.model} {row.task} {row.module}: {getattr(row, 'outcome' + suffix)}, {label} "
        f"{getattr(row, 'rho' + suffix):+.2f} [{getattr(row, 'low' + suffix):+.2f}, "
        f"{getattr(row, 'high' + suffix):+.2f}] (n = {row.layers} layers, m = {row.m}, Holm "
        f"{fmt_p(getattr(row, 'p_holm' + suffix))}, margin {row.margin:+.2f}, detects |rho| >= {row.mde:.2f}); "
    )
    if given_depth:
        return text + f"deepest layer alone {row.deepest_gain:+.1%} vs Algorithm 1's {row.chosen_gain:+.1%}"
    return text + f"chosen layer {row.chosen_layer} {row.chosen_gain:+.1%} vs best {row.best_gain:+.1%}"


def describe_condition_gain(row) -> str:
    """One sentence from a :func:`condition_gain` row."""
    direction = {HOLDS: "do point at", FAILS: "point away from", UNDETERMINED: "do not detectably point at"}
    return (
        f"**{row.model} {row.task} {str(row.module).upper()}** ({row.layers} layers): condition numbers "
        f"**{direction[row.outcome]}** the layers that gain (Spearman ρ = {row.rho:+.2f}, simultaneous "
        f"{row.level:.1%} interval [{row.low:+.2f}, {row.high:+.2f}], Holm {fmt_p(row.p_holm)} over m = {row.m} cells;"
        f" over {row.layers} layers the test detects |ρ| ≥ {row.mde:.2f}, and ρ below {row.margin:+.2f} would refute"
        f" the rationale). Algorithm 1's layer {row.chosen_layer} gains "
        f"{row.chosen_gain * 100:+.1f} points at its best clip rate, the best layer ({row.best_layer}) "
        f"{row.best_gain * 100:+.1f}, an average layer {row.mean_gain * 100:+.1f};"
        f" the chosen layer does at least as well as {row.chosen_beats:.0%} of layers. With depth held fixed the"
        f" association **{row.outcome_given_depth}** (partial ρ = {row.rho_given_depth:+.2f}"
        f" [{row.low_given_depth:+.2f}, {row.high_given_depth:+.2f}], Holm {fmt_p(row.p_holm_given_depth)}), and the"
        f" deepest layer alone gains"
        f" {row.deepest_gain * 100:+.1f} points"
        + (": depth alone does as well as the condition number." if row.deepest_gain >= row.chosen_gain else ".")
    )


def _set_outputs(frame: pd.DataFrame | None, unpruned: pd.DataFrame) -> dict[int, np.ndarray]:
    """Per fresh demonstration set, a rule's output correctness on that set's queries: its ``selected`` points from
    its confirmation ``frame``, or the unpruned points where its search kept the unpruned model (``frame`` None)."""
    points = unpruned if frame is None else frame[(frame.arm == "sets") & (frame.role == "selected")]
    return {int(r["set"]): correctness(r) for _, r in points.iterrows()}


def depth_rule_comparison(cases: list[dict], margin: float = MARGINS["gain"]) -> pd.DataFrame:
    """Algorithm 1's choice against the rule that uses depth alone (the deepest layer, its clip rate searched on the
    same validation queries), on the same fresh demonstration sets and held-out queries.

    ``cases``: one dict per (model, task, module) whose Algorithm 1 layer is not the deepest, with ``layer``,
    ``clip_rate`` (Algorithm 1's pick; 0 where its search kept the unpruned model), ``deep_layer``,
    ``deep_clip_rate`` and ``algorithm1`` / ``deepest``: each rule's :func:`svd_icl.confirm.confirm` records, or
    None where that rule's search kept the unpruned model (its output is then the unpruned points of the other's
    confirmation: the same queries and sets). Per case the effect is Algorithm 1's accuracy minus the depth rule's
    over the sets both confirmations scored (a random-effects interval, :mod:`svd_icl.claims.sets`), simultaneous
    over the cases: ``HOLDS`` when it lies above 0 (the condition number adds something to depth), ``DOES NOT
    HOLD`` when it lies below the margin (depth alone does as well), else ``UNDETERMINED``.
    """
    from svd_icl.claims.sets import CROSSED, NESTED, set_interval

    m = max(len(cases), 1)
    rows = []
    for c in cases:
        frames = [f for f in (c["algorithm1"], c["deepest"]) if f is not None]
        if not frames:
            raise ValueError(f"{c['model']}/{c['task']} {c['module']}: both rules kept the unpruned model; they agree")
        unpruned = frames[0][(frames[0].arm == "sets") & (frames[0].role == "unpruned")]
        a1, deep = _set_outputs(c["algorithm1"], unpruned), _set_outputs(c["deepest"], unpruned)
        common = sorted(set(a1) & set(deep))
        if len(common) < 2:
            raise ValueError(f"{c['model']}/{c['task']} {c['module']}: the two rules share fewer than 2 sets")
        offsets = {int(x) if x == x and x is not None else 0 for x in unpruned.offset}
        est = set_interval([deep[j] for j in common], [a1[j] for j in common], ALPHA / m,
                           NESTED if len(offsets) > 1 else CROSSED)  # fmt: skip
        rows.append(
            {
                "model": c["model"], "task": c["task"], "module": c["module"], "layer": int(c["layer"]),
                "clip_rate": float(c["clip_rate"]), "deep_layer": int(c["deep_layer"]),
                "deep_clip_rate": float(c["deep_clip_rate"]), "sets": len(common), "n": est.queries,
                "algorithm1": float(np.mean([a1[j].mean() for j in common])),
                "deepest": float(np.mean([deep[j].mean() for j in common])), "difference": est.difference,
                "low": est.low, "high": est.high, "m": m, "p_adj": min(1.0, est.p(m)),
                "mde": est.detectable(ALPHA / m), "margin": margin, "tau": est.tau,
                "outcome": decide(est.low, est.high, margin),
            }
        )  # fmt: skip
    return pd.DataFrame(rows)


def describe_depth_rule(row) -> str:
    """One generated sentence per :func:`depth_rule_comparison` row."""
    words = {
        HOLDS: "the condition number's layer does better than depth alone",
        FAILS: "depth alone does as well as the condition number (within the margin)",
        UNDETERMINED: "these queries cannot tell the two rules apart",
    }
    return (
        f"**{row.model} {row.task} {str(row.module).upper()}**: Algorithm 1's layer {row.layer} at ξ = "
        f"{row.clip_rate:g} scores {row.algorithm1:.1%}, the deepest layer {row.deep_layer} at its own validation "
        f"choice ξ = {row.deep_clip_rate:g} {row.deepest:.1%} over {row.sets} fresh demonstration sets x {row.n} "
        f"held-out queries; {row.difference * 100:+.1f} points [{row.low * 100:+.1f}, {row.high * 100:+.1f}] "
        f"(simultaneous over m = {int(row.m)}): **{row.outcome}**, {words[row.outcome]}."
    )
