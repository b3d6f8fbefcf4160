"""Plotting helpers shared by the notebooks (matplotlib), so that notebooks stay a few lines long."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd

MODULE_COLOURS = {"attn": "tab:red", "mlp": "tab:blue"}


def condition_numbers_by_layer(
    table: pd.DataFrame, ax: plt.Axes, title: str | None = None, aggregate: str | None = None
) -> None:
    """Fig. 3 style: cond per layer, one thin line per matrix, the module's per-layer number (the aggregate that
    the trend test and Algorithm 1 use) in bold; log scale."""
    from svd_icl.conditioning import DEFAULT_AGGREGATE, layer_condition

    aggregate = aggregate or DEFAULT_AGGREGATE
    for (module, matrix), grp in table.groupby(["module", "matrix"]):
        ax.semilogy(grp.layer, grp.cond, color=MODULE_COLOURS[module], alpha=0.35, lw=1)
        last = grp.iloc[-1]
        ax.annotate(
            matrix,
            (last.layer, last.cond),
            fontsize=6,
            color=MODULE_COLOURS[module],
            xytext=(2, 0),
            textcoords="offset points",
        )
    for module in table.module.unique():
        per_layer = layer_condition(table, module, aggregate)
        ax.semilogy(
            per_layer.index,
            per_layer.values,
            color=MODULE_COLOURS[module],
            lw=2.2,
            label=f"{module.upper()} ({aggregate} over its matrices)",
        )
    ax.set(xlabel="layer", ylabel=r"condition number $\sigma_{max}/\sigma_{min}$")
    if title:
        ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7)


def spectra_panel(spec: pd.DataFrame, ax: plt.Axes, title: str | None = None) -> None:
    """Normalized singular values sigma_i / sigma_1 against i / min(m, n), i.e. against 1 - clip rate."""
    for matrix, grp in spec.groupby("matrix"):
        module = matrix.split(".")[0]
        sig = grp.sigma.to_numpy()
        frac = (grp["index"].to_numpy() + 1) / len(sig)
        ax.semilogy(frac, sig / sig[0], color=MODULE_COLOURS[module], alpha=0.7, lw=1, label=matrix)
    for xi in (0.5, 0.9, 0.99):
        ax.axvline(1 - xi, color="grey", ls=":", lw=0.8)
        ax.text(1 - xi, ax.get_ylim()[0], f" ξ={xi}", fontsize=6, rotation=90, va="bottom", color="grey")
    ax.set(xlabel="kept fraction r / min(m, n)", ylabel=r"$\sigma_i / \sigma_1$")
    if title:
        ax.set_title(title, fontsize=9)


LAYER_COLOURS = ["tab:blue", "tab:cyan", "tab:orange", "tab:red", "tab:purple", "tab:green"]


def sweep_panel(
    ax: plt.Axes,
    frame: pd.DataFrame,
    title: str | None = None,
    chance: float | None = None,
    majority: float | None = None,
) -> None:
    """Fig. 1 style: accuracy vs clip rate, one line per layer with its 95% band, unpruned accuracy dashed,
    each layer's best point starred, 1/K dotted and the majority-class rate of the queries dash-dotted (a model
    that always answers the majority label scores that). Clip rates sit at equal spacing (the paper's grid is far
    from uniform)."""
    rates = sorted(frame.clip_rate.unique())
    pos = {xi: i for i, xi in enumerate(rates)}
    for k, (layer, grp) in enumerate(frame.groupby("layer")):
        grp = grp.sort_values("clip_rate")
        x = grp.clip_rate.map(pos)
        colour = LAYER_COLOURS[k % len(LAYER_COLOURS)]
        ax.plot(x, grp.accuracy, marker="o", ms=3, color=colour, label=f"layer {layer}")
        if "acc_low" in grp:
            ax.fill_between(x, grp.acc_low, grp.acc_high, color=colour, alpha=0.12, lw=0)
        best = grp.loc[grp.accuracy.idxmax()]
        ax.plot(pos[best.clip_rate], best.accuracy, marker="*", ms=11, color=colour, mec="black", mew=0.5)
    base = frame[frame.clip_rate == 0.0].accuracy
    if len(base):
        ax.axhline(base.iloc[0], color="black", ls="--", lw=1, label="unpruned")
    if chance is not None:
        ax.axhline(chance, color="grey", ls=":", lw=1, label="1/K")
    if majority is not None and (chance is None or abs(majority - chance) > 1e-9):
        ax.axhline(majority, color="grey", ls="-.", lw=1, label="majority class")
    ax.set_xticks(range(len(rates)), [f"{xi:g}" for xi in rates], fontsize=7)
    ax.set(xlabel="clip rate ξ", ylabel="accuracy")
    if title:
        ax.set_title(title, fontsize=9)


def algorithm1_bars(
    ours: pd.DataFrame, reported: pd.DataFrame, tasks: list[str], groups: list[tuple[str, str]]
) -> plt.Figure:
    """Fig. 4 style: per task, unpruned and pruned test metric of our runs (bar = mean over seeds, whiskers = the
    seeds' range) beside the paper's reported rows (hatched), with the majority-class rate of our test queries
    as a dash-dotted line."""
    paper_groups = [("GPT-J-6B", "MLP"), ("GPT-J-6B", "ATTN"), ("LLaMA2-7B", "MLP"), ("LLaMA2-7B", "ATTN")]
    fig, axes = plt.subplots(1, len(tasks), figsize=(2.3 * len(tasks), 3.4), sharey=True, squeeze=False)
    for ax, task in zip(axes[0], tasks):
        ticks = []
        mine = ours[ours.task == task]
        for model, module in groups:
            g = mine[(mine.model == model) & (mine.module == module.upper())]
            if g.empty:
                continue
            x = len(ticks)
            for j, col in enumerate(["test_unpruned", "test_pruned"]):
                mean = g[col].mean()
                ax.bar(x + 0.4 * j, mean, 0.4, color=["#9ecae1", "#2171b5"][j],
                       yerr=[[mean - g[col].min()], [g[col].max() - mean]], capsize=2)  # fmt: skip
            ticks.append((x + 0.2, module.upper()))
        for model, module in paper_groups:
            r = reported[(reported.task == task) & (reported.model == model) & (reported.module == module)]
            if r.empty:
                continue
            x = len(ticks)
            for j, col in enumerate(["test_unpruned", "test_pruned"]):
                ax.bar(x + 0.4 * j, r[col].iloc[0], 0.4, color=["#fdd0a2", "#d94801"][j], hatch="//",
                       edgecolor="white")  # fmt: skip
            ticks.append((x + 0.2, f"{model.split('-')[0]} {module}"))
        if len(mine):
            ax.axhline(float(mine.majority_rate.iloc[0]), color="grey", ls="-.", lw=1, label="majority class (ours)")
        ax.set_xticks([p for p, _ in ticks], [t for _, t in ticks], rotation=70, fontsize=6)
        ax.set_title(task, fontsize=9)
        ax.set_ylim(0.0, 1.0)
    axes[0][0].set_ylabel("test metric (accuracy; F1 for COPA)")
    axes[0][0].legend(fontsize=6, loc="lower left")
    fig.tight_layout()
    return fig


def examples_panel(ax: plt.Axes, sweep: pd.DataFrame, clip_rates: list[float], legend: bool = True) -> None:
    """Examples 1-4: Example 1's UB (solid) and ||Delta W||_F^2 (dashed) against the clip rate, one colour per
    truncated matrix, each relative to its unpruned value (from :func:`svd_icl.theory.examples.example_sweep`)."""
    for (name, grp), color in zip(sweep.groupby("matrix", sort=False), plt.get_cmap("tab10").colors):
        x = range(len(grp))
        ax.plot(x, grp.UB / grp.UB.iloc[0], color=color, marker="o", ms=3, label=f"UB, truncate $W_{{{name}}}$")
        ax.plot(x, grp.delta_W_sq / grp.delta_W_sq.iloc[0], color=color, ls="--", marker="x", ms=3)
    ax.set_xticks(range(len(clip_rates)), [f"{x:g}" for x in clip_rates], fontsize=7)
    ax.set(xlabel="clip rate ξ", ylabel="relative to unpruned", yscale="log")
    if legend:
        ax.legend(fontsize=7)


def sweep_grid(sweeps: pd.DataFrame, rows: list[dict], modules: list[str]) -> plt.Figure:
    """Figures 1 and 2: one :func:`sweep_panel` per (row, module); a row is a dict of column values that selects
    its points, e.g. ``{"model": "gemma3-270m", "task": "sst2"}`` or ``{"model": ..., "shots": 4}``."""
    from svd_icl.tasks import get_task

    fig, axes = plt.subplots(len(rows), len(modules), figsize=(4.2 * len(modules), 2.8 * len(rows)), squeeze=False,
                             sharey="row")  # fmt: skip
    for axrow, row in zip(axes, rows):
        chosen = sweeps
        for key, value in row.items():
            chosen = chosen[chosen[key] == value]
        label = " · ".join(f"{v} shots" if k == "shots" else str(v) for k, v in row.items())
        for ax, module in zip(axrow, modules):
            sub = chosen[chosen.module == module]
            task = get_task(str(sub.task.iloc[0]))
            sweep_panel(ax, sub, title=f"{label} · {module.upper()}", chance=1 / task.num_classes,
                        majority=float(sub.majority_rate.iloc[0]))  # fmt: skip
    axes[0][-1].legend(fontsize=7, loc="lower left")
    fig.tight_layout()
    return fig


def condition_grid(tables: dict[str, pd.DataFrame]) -> plt.Figure:
    """Figure 3: :func:`condition_numbers_by_layer` for each model, side by side."""
    fig, axes = plt.subplots(1, len(tables), figsize=(5 * len(tables), 3.6), squeeze=False)
    for ax, (name, table) in zip(axes[0], tables.items()):
        condition_numbers_by_layer(table, ax, title=name)
    fig.tight_layout()
    return fig


def error_curves(curves: dict[str, pd.DataFrame], d: int, bands: bool = True, reference: str | None = None):
    """Figure 5: squared error / d against the number of in-context examples, one line per estimator or
    checkpoint (with its bootstrap band), ``d`` marked; ``reference`` names a curve drawn dashed in black."""
    fig, ax = plt.subplots(figsize=(6, 3.6))
    cmap = plt.get_cmap("viridis")
    others = [n for n in curves if n != reference]
    for i, name in enumerate(others):
        c = curves[name]
        colour = None if bands else cmap(i / max(1, len(others) - 1))
        ax.plot(c.examples, c.error, marker="o" if bands else ".", ms=3, label=name, color=colour,
                ls="--" if name == "zero" else "-")  # fmt: skip
        if bands:
            ax.fill_between(c.examples, c.low, c.high, alpha=0.15)
    if reference is not None:
        c = curves[reference]
        ax.plot(c.examples, c.error, color="black", ls="--", label=reference)
    ax.axvline(d, color="grey", ls=":", lw=1)
    ax.set(xlabel="in-context examples k", ylabel="squared error / d", ylim=(-0.05, 1.6))
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def truncation_curves(trunc: pd.DataFrame, clip_rates: list[float]) -> plt.Figure:
    """Figure 5's truncations: error (mean over k, and at k = 2d) against the clip rate per (layer, module)."""
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.3), sharey=False)
    for ax, col, label in zip(axes, ["error_all", "error_at_2d"], ["mean over k", "at k = 2d"]):
        for (layer, module), g in trunc.groupby(["layer", "module"]):
            ax.plot(range(len(g)), g[col], marker="o", ms=3, label=f"layer {layer} {module.upper()}")
        ax.set_xticks(range(len(clip_rates)), [f"{x:g}" for x in clip_rates], fontsize=7)
        ax.set(xlabel="clip rate ξ", ylabel=f"squared error / d ({label})")
        ax.set_yscale("log")
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    return fig
