"""Turn sweep records into the tables the book prints (Figures 1 and 2, Algorithm 1); the verdicts on them are
:mod:`svd_icl.claims`'."""

from __future__ import annotations

import numpy as np
import pandas as pd

from svd_icl.outcomes import Outcome
from svd_icl.stats import wilson_interval
from svd_icl.tasks import get_task


def group_fields(group, key) -> dict:
    """``{column: value}`` of a ``groupby(group)`` key (a scalar when grouping by one column)."""
    return dict(zip(group, key if isinstance(key, tuple) else (key,)))


def with_intervals(frame: pd.DataFrame, level: float = 0.95) -> pd.DataFrame:
    """Add Wilson ``acc_low``/``acc_high`` columns (the test sets are subsampled: n queries per point)."""
    low, high = wilson_interval(frame.accuracy.to_numpy(), frame.n_eval.to_numpy(), level)
    return frame.assign(acc_low=low, acc_high=high)


def is_shallow(frame: pd.DataFrame, num_layers: dict[str, int]) -> pd.Series:
    """True for points in the first half of their model's layers (the shallow/deep split of Figures 1 and 2: the one
    place it is defined)."""
    return frame.layer < frame.model.map(num_layers) / 2


def layer_depth(frame: pd.DataFrame, num_layers: dict[str, int]) -> pd.Series:
    """'shallow' for the first half of a model's layers, 'deep' for the second half."""
    return pd.Series(np.where(is_shallow(frame, num_layers), "shallow", "deep"), index=frame.index, name="depth")


def best_points(frame: pd.DataFrame, group: list[str]) -> pd.DataFrame:
    """Per group: unpruned accuracy, best accuracy and its clip rate (ties: the smaller clip rate), worst accuracy,
    mean over the pruned points and the majority-class rate of the queries. Descriptive only: the verdicts, with
    paired tests, are in :mod:`svd_icl.claims`."""
    rows = []
    for key, g in frame.groupby(group):
        g = g.sort_values("clip_rate")
        base = g[g.clip_rate == 0.0]
        if base.empty:
            continue
        base_acc = float(base.accuracy.iloc[0])
        best = g.loc[g.accuracy.idxmax()]
        rows.append(
            {
                **group_fields(group, key),
                "unpruned": base_acc,
                "best": float(best.accuracy),
                "best_clip_rate": float(best.clip_rate),
                "gain": float(best.accuracy) - base_acc,
                "worst": float(g.accuracy.min()),
                "mean_over_rates": float(g[g.clip_rate > 0].accuracy.mean()),
                "majority_rate": float(base.majority_rate.iloc[0]),
            }
        )
    return pd.DataFrame(rows)


def algorithm1_table(records: list[dict]) -> pd.DataFrame:
    """Our Algorithm 1 runs as rows in the paper's format, each with the paired change on the test queries: a
    paired-bootstrap 95% interval and the exact McNemar p-value on per-query correctness, the majority-class rate
    of the test queries and both metrics (accuracy and macro-F1) before and after."""
    from svd_icl.stats import METRICS, majority_rate, paired_bootstrap, paired_comparison

    rows = []
    for r in records:
        metric = METRICS[r["metric"]]
        labels = np.asarray(r["test_labels"])
        before_pred, after_pred = np.asarray(r["test_predictions_unpruned"]), np.asarray(r["test_predictions_pruned"])
        low, high = paired_bootstrap(labels, before_pred, after_pred, metric, resamples=1000)
        mcnemar = paired_comparison((before_pred == labels).astype(float), (after_pred == labels).astype(float))
        before, after = r["test_unpruned"][r["metric"]], r["test_pruned"][r["metric"]]
        rows.append(
            {
                "task": r["task"],
                "model": r["model"],
                "seed": r["seed"],
                "layer": r["layer"],
                "module": r["module"].upper(),
                "optimal_xi": r["best_clip_rate"],
                "metric": r["metric"],
                "test_unpruned": before,
                "test_pruned": after,
                "change": after - before,
                "change_low": low,
                "change_high": high,
                "p": mcnemar.p_value,
                "accuracy_unpruned": r["test_unpruned"]["accuracy"],
                "accuracy_pruned": r["test_pruned"]["accuracy"],
                "macro_f1_unpruned": r["test_unpruned"]["macro_f1"],
                "macro_f1_pruned": r["test_pruned"]["macro_f1"],
                "majority_rate": majority_rate(labels),
                "n_test": len(labels),
                "correct_unpruned": (before_pred == labels).astype(float),
                "correct_pruned": (after_pred == labels).astype(float),
                "params_saved": r["params_saved"],
                "chance": 1.0 / get_task(r["task"]).num_classes,
                "source": "measured here",
            }
        )
    return pd.DataFrame(rows)


def describe_algorithm1(task: str, ours: pd.DataFrame) -> str:
    """A plain paragraph on whether Algorithm 1 improves ``task`` here, from rows of
    :func:`svd_icl.claims.algorithm1_tests` (paired McNemar p-values Holm-adjusted over every run shown)."""
    parts = []
    for (model, module), g in ours.groupby(["model", "module"]):
        layers = ", ".join(sorted({str(x) for x in g.layer}))
        rates = ", ".join(f"{x:g}" for x in g.optimal_xi)
        outcomes = ", ".join(
            f"seed {int(r.seed)}: {r.change:+.1%} [{r.change_low:+.1%}, {r.change_high:+.1%}], Holm p = {r.p_holm:.3f}"
            f" ({r.outcome})"
            for r in g.itertuples()
        )
        if (g.outcome == Outcome.HOLDS).all():
            verdict = "a significant gain for every seed"
        elif (g.outcome == Outcome.HOLDS).any():
            verdict = "a significant gain for some seeds only"
        elif (g.optimal_xi == 0).all():
            verdict = "no change (the validation search kept clip rate 0)"
        elif (g.outcome == Outcome.FAILS).any():
            verdict = "a significant loss for some seed"
        else:
            verdict = "no change distinguishable from noise"
        level = f"{g.test_unpruned.mean():.1%} -> {g.test_pruned.mean():.1%}"
        parts.append(
            f"{model} {module} (layer {layers}, ξ* = {rates}): {level}; {outcomes}; Algorithm 1 gives {verdict}"
        )
    text = f"**{task}** (m = {int(ours.m.iloc[0])} runs in the Holm family): " + "; ".join(parts) + "."
    if (ours.outcome == Outcome.NOT_INFORMATIVE).any():
        text += (
            " Some runs' unpruned accuracy is not shown above the answer-ignoring rate (majority-class rate "
            f"{ours.majority_rate.iloc[0]:.0%}): they are not informative, a gain there may only undo a degenerate "
            "answer pattern."
        )
    return text
