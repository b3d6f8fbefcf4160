"""Turn sweep records into the tables and verdicts the book prints (Figures 1 and 2)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from svd_icl.stats import wilson_interval


def with_intervals(frame: pd.DataFrame, level: float = 0.95) -> pd.DataFrame:
    """Add Wilson ``acc_low``/``acc_high`` columns (the test sets are subsampled: n queries per point)."""
    low, high = wilson_interval(frame.accuracy.to_numpy(), frame.n_eval.to_numpy(), level)
    return frame.assign(acc_low=low, acc_high=high)


def layer_role(frame: pd.DataFrame, num_layers: dict[str, int]) -> pd.Series:
    """'shallow' for the first half of a model's layers, 'deep' for the second half."""
    return pd.Series(
        np.where(frame.layer < frame.model.map(num_layers) / 2, "shallow", "deep"), index=frame.index, name="depth"
    )


def best_points(frame: pd.DataFrame, group: list[str]) -> pd.DataFrame:
    """Per group: unpruned accuracy, best accuracy and its clip rate (ties: the smaller clip rate), worst accuracy,
    and whether the best gain clears the 95% Wilson interval of the unpruned accuracy."""
    rows = []
    for key, g in frame.groupby(group):
        g = g.sort_values("clip_rate")
        base = g[g.clip_rate == 0.0]
        if base.empty:
            continue
        base_acc = float(base.accuracy.iloc[0])
        best = g.loc[g.accuracy.idxmax()]
        worst = g.accuracy.min()
        _, high = wilson_interval(base_acc, int(base.n_eval.iloc[0]))
        rows.append(
            {
                **dict(zip(group, key if isinstance(key, tuple) else (key,))),
                "unpruned": base_acc,
                "best": float(best.accuracy),
                "best_clip_rate": float(best.clip_rate),
                "gain": float(best.accuracy) - base_acc,
                "gain_beyond_ci": bool(best.accuracy > high),
                "worst": float(worst),
                "mean_over_rates": float(g[g.clip_rate > 0].accuracy.mean()),
            }
        )
    return pd.DataFrame(rows)


def chance_level(task_classes: dict[str, int], task: str) -> float:
    return 1.0 / task_classes[task]


def fig1_verdicts(best: pd.DataFrame, chance: dict[str, float]) -> pd.DataFrame:
    """The paper's three Fig. 1 claims, per (model, task), from :func:`best_points` rows with a ``depth`` column.

    - ``can_improve``: some (layer, module, rate) beats the unpruned model beyond its 95% interval;
    - ``deep_more_stable``: the mean accuracy over clip rates is higher for deep than for shallow layers;
    - ``shallow_collapse``: some shallow layer falls to within 5 points of chance at a high clip rate.
    """
    rows = []
    for (model, task), g in best.groupby(["model", "task"]):
        deep, shallow = g[g.depth == "deep"], g[g.depth == "shallow"]
        rows.append(
            {
                "model": model,
                "task": task,
                "can_improve": bool(g.gain_beyond_ci.any()),
                "largest_gain": float(g.gain.max()),
                "deep_mean": float(deep.mean_over_rates.mean()),
                "shallow_mean": float(shallow.mean_over_rates.mean()),
                "deep_more_stable": bool(deep.mean_over_rates.mean() > shallow.mean_over_rates.mean()),
                "shallow_worst": float(shallow.worst.min()),
                "chance": chance[task],
                "shallow_collapse": bool(shallow.worst.min() <= chance[task] + 0.05),
            }
        )
    return pd.DataFrame(rows)


def describe_fig1(v: pd.Series) -> str:
    """One sentence per (model, task) verdict row."""

    def yes(flag: bool) -> str:
        return "yes" if flag else "no"

    return (
        f"**{v.model}, {v.task}**: truncation improves beyond the 95% interval: {yes(v.can_improve)} "
        f"(largest gain {v.largest_gain:+.1%}); deep layers more stable than shallow: {yes(v.deep_more_stable)} "
        f"(mean accuracy over clip rates {v.deep_mean:.1%} deep vs {v.shallow_mean:.1%} shallow); "
        f"shallow layers collapse to chance: {yes(v.shallow_collapse)} (worst {v.shallow_worst:.1%}, chance {v.chance:.0%})."
    )
