"""Turn sweep records into the tables and verdicts the book prints (Figures 1 and 2)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from svd_icl.stats import wilson_interval
from svd_icl.tasks import get_task


def with_intervals(frame: pd.DataFrame, level: float = 0.95) -> pd.DataFrame:
    """Add Wilson ``acc_low``/``acc_high`` columns (the test sets are subsampled: n queries per point)."""
    low, high = wilson_interval(frame.accuracy.to_numpy(), frame.n_eval.to_numpy(), level)
    return frame.assign(acc_low=low, acc_high=high)


def layer_depth(frame: pd.DataFrame, num_layers: dict[str, int]) -> pd.Series:
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


def fig1_verdicts(best: pd.DataFrame, chance: dict[str, float]) -> pd.DataFrame:
    """The paper's three Fig. 1 claims, per (model, task), from :func:`best_points` rows with a ``depth`` column.

    - ``can_improve``: some (layer, module, rate) beats the unpruned model beyond its 95% interval;
    - ``deep_more_stable``: the mean accuracy over clip rates is higher for deep than for shallow layers;
    - ``shallow_collapse``: some shallow layer falls to within 5 points of chance, from an unpruned accuracy above
      that (when the unpruned model is already at chance, a collapse cannot be observed and the flag is False).
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
                "unpruned": float(g.unpruned.iloc[0]),
                "shallow_collapse": bool(shallow.worst.min() <= chance[task] + 0.05 < float(g.unpruned.iloc[0])),
            }
        )
    return pd.DataFrame(rows)


def _yes(flag: bool) -> str:
    return "yes" if flag else "no"


def describe_fig1(v: pd.Series) -> str:
    """One sentence per (model, task) verdict row."""
    yes = _yes
    return (
        f"**{v.model}, {v.task}**: truncation improves beyond the 95% interval: {yes(v.can_improve)} "
        f"(largest gain {v.largest_gain:+.1%}); deep layers more stable than shallow: {yes(v.deep_more_stable)} "
        f"(mean accuracy over clip rates {v.deep_mean:.1%} deep vs {v.shallow_mean:.1%} shallow); "
        f"shallow layers collapse to chance: {yes(v.shallow_collapse)} "
        f"(worst {v.shallow_worst:.1%}, chance {v.chance:.0%}"
        + (", but the unpruned model is already at chance)." if v.unpruned <= v.chance + 0.05 else ").")
    )


def fig2_verdicts(best: pd.DataFrame) -> pd.DataFrame:
    """Sec. 2.2's claims per model, from :func:`best_points` rows with ``shots`` and ``depth`` columns.

    - ``more_shots_better``: unpruned accuracy does not decrease as the shot number grows;
    - ``improves_at_every_shot``: at every shot number some truncation beats the unpruned model beyond its 95% interval;
    - ``deep_more_stable_at_every_shot``: at every shot number deep layers keep a higher mean accuracy over clip rates;
    - ``fewer_shots_slower_collapse``: the shallow layers' mean loss (unpruned minus mean over clip rates) grows
      with the shot number.
    """
    rows = []
    for model, g in best.groupby("model"):
        per_shot = g.groupby("shots")
        unpruned = per_shot.unpruned.first().sort_index()
        shallow_loss = (
            g[g.depth == "shallow"].assign(loss=lambda d: d.unpruned - d.mean_over_rates).groupby("shots").loss.mean()
        ).sort_index()
        deep_vs_shallow = g.groupby(["shots", "depth"]).mean_over_rates.mean().unstack()
        rows.append(
            {
                "model": model,
                "unpruned_by_shots": ", ".join(f"{s}: {a:.1%}" for s, a in unpruned.items()),
                "more_shots_better": bool(unpruned.is_monotonic_increasing),
                "improves_at_every_shot": bool(per_shot.gain_beyond_ci.any().all()),
                "deep_more_stable_at_every_shot": bool((deep_vs_shallow["deep"] > deep_vs_shallow["shallow"]).all()),
                "shallow_loss_by_shots": ", ".join(f"{s}: {v:+.1%}" for s, v in shallow_loss.items()),
                "fewer_shots_slower_collapse": bool(shallow_loss.is_monotonic_increasing),
            }
        )
    return pd.DataFrame(rows)


def describe_fig2(v: pd.Series) -> str:
    """One sentence per model verdict row."""
    yes = _yes
    return (
        f"**{v.model}**: accuracy grows with shots: {yes(v.more_shots_better)} ({v.unpruned_by_shots}); "
        f"truncation helps at every shot number: {yes(v.improves_at_every_shot)}; deep layers more stable at every "
        f"shot number: {yes(v.deep_more_stable_at_every_shot)}; fewer shots, slower shallow collapse: "
        f"{yes(v.fewer_shots_slower_collapse)} (mean shallow-layer loss {v.shallow_loss_by_shots})."
    )


def algorithm1_table(records: list[dict]) -> pd.DataFrame:
    """Our Algorithm 1 runs as rows in the paper's format, each with a paired-bootstrap 95% interval of the change."""
    from svd_icl.stats import METRICS, paired_bootstrap

    rows = []
    for r in records:
        metric = METRICS[r["metric"]]
        low, high = paired_bootstrap(
            r["test_labels"], r["test_predictions_unpruned"], r["test_predictions_pruned"], metric, resamples=1000
        )
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
                "n_test": len(r["test_labels"]),
                "params_saved": r["params_saved"],
                "chance": 1.0 / get_task(r["task"]).num_classes,
                "source": "measured here",
            }
        )
    return pd.DataFrame(rows)


def describe_algorithm1(task: str, ours: pd.DataFrame) -> str:
    """A plain paragraph on whether Algorithm 1 improves ``task`` here, and whether it survives the seed spread."""
    parts = []
    for (model, module), g in ours.groupby(["model", "module"]):
        mean = g.change.mean()
        clear = (g.change_low > 0).all()
        all_pos = (g.change > 0).all()
        layers = ", ".join(sorted({str(x) for x in g.layer}))
        rates = ", ".join(f"{x:g}" for x in g.optimal_xi)
        if clear:
            verdict = "improves the test metric beyond the 95% interval for every seed"
        elif all_pos:
            verdict = "improves it for every seed, but not beyond the 95% interval"
        elif (g.change == 0).all():
            verdict = "leaves it unchanged (the search kept clip rate 0 or the change was nil)"
        else:
            verdict = "does not improve it consistently across seeds"
        level = f"{g.test_unpruned.mean():.1%} -> {g.test_pruned.mean():.1%}"
        parts.append(
            f"{model} {module} (layer {layers}, ξ* = {rates}): {level}, mean change {mean:+.1%}; Algorithm 1 {verdict}"
        )
    text = f"**{task}**: " + "; ".join(parts) + "."
    if (ours.test_unpruned <= ours.chance + 0.05).any():
        text += " The unpruned model is at or below chance here, so a gain may only undo a degenerate answer pattern."
    return text
