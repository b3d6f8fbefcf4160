"""Plotting helpers shared by the notebooks (matplotlib), so that notebooks stay a few lines long.

Why one long module: one short function per kind of figure, sharing the module colours and the interval style;
split by chapter, the figures that must look alike would drift apart.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
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


def error_vs_demos_plot(curve: pd.DataFrame, d: int) -> plt.Figure:
    """Theorem 2 chapter: ICL error against the number of demonstrations per estimator (± 2 standard errors);
    the baselines dashed, d marked."""
    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    for name, grp in curve.groupby("estimator", sort=False):
        ax.errorbar(grp.demos, grp.error, yerr=2 * grp.error_sem, marker="o", ms=3, capsize=2, label=name,
                    ls="--" if name in ("least squares", "one GD step") else "-")  # fmt: skip
    ax.axvline(d, color="grey", ls=":", lw=1)
    ax.set(xlabel="demonstrations N", ylabel="squared error / d", ylim=(-0.05, 1.3))
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def truncation_grid_plot(errors: pd.DataFrame, layers: int, matrices: tuple[str, ...] = ("V", "K", "Q")):
    """Remark 5 on the trained toy: median ICL error against the clip rate (and kept rank), one line per truncated
    layer, one panel per (shot number, matrix); the unpruned error as a grey line."""
    shots = sorted(errors.shots.unique())
    fig, axes = plt.subplots(len(shots), len(matrices), figsize=(10, 2.6 * len(shots)), sharex=True, squeeze=False)
    cmap = plt.get_cmap("viridis")
    grid = errors.drop_duplicates("clip_rate")[["clip_rate", "rank"]]
    ticks = [f"{x:g}\nr={r}" for x, r in grid.itertuples(index=False)]
    for row, s in enumerate(shots):
        for col, which in enumerate(matrices):
            ax = axes[row, col]
            sub = errors[(errors.shots == s) & (errors.matrix == which)]
            for layer, grp in sub.groupby("layer"):
                ax.plot(range(len(grp)), grp["median_error"], marker="o", ms=3,
                        color=cmap((layer - 1) / max(1, layers - 1)), label=f"layer {layer}")  # fmt: skip
            ax.axhline(sub[sub.clip_rate == 0]["median_error"].iloc[0], color="grey", lw=1)
            ax.set_yscale("log")
            ax.set_title(f"truncate $W_{which}$, {s} shots", fontsize=9)
            if col == 0:
                ax.set_ylabel("median error / d")
    axes[-1, 0].legend(fontsize=7)
    for ax in axes[-1]:
        ax.set_xticks(range(len(ticks)), ticks, fontsize=6)
        ax.set_xlabel("clip rate ξ (kept rank r)")
    fig.tight_layout()
    return fig


BOUND_TERMS = {
    "delta_W_sq": r"$\|\Delta W_t\|_F^2$",
    "norm_product": r"$\|\Delta W_t\|_F^2\|I+W_{t-1}\|_F^2$",
    "trace_C": r"tr $C_t$",
    "term": r"term$_t$",
}


def bound_terms_plot(terms: pd.DataFrame, pruned_layers: list[int], approx: str, matrix: str = "V") -> plt.Figure:
    """Theorem 2's pieces per layer t of the trajectory, one line per kept rank, when ``matrix`` of each of
    ``pruned_layers`` (one row each) is truncated."""
    fig, axes = plt.subplots(len(pruned_layers), len(BOUND_TERMS), figsize=(12, 2.6 * len(pruned_layers)),
                             sharex=True, squeeze=False)  # fmt: skip
    cmap = plt.get_cmap("viridis")
    ranks = sorted(terms["rank"].unique(), reverse=True)
    for row, k in enumerate(pruned_layers):
        sub = terms[(terms.pruned_layer == k) & (terms.matrix == matrix) & (terms.approx == approx)]
        sub = sub.drop_duplicates(["rank", "t"])
        for col, (key, title) in enumerate(BOUND_TERMS.items()):
            ax = axes[row, col]
            for i, r in enumerate(ranks):
                g = sub[sub["rank"] == r]
                ax.plot(g.t, g[key], marker="o", ms=3, color=cmap(i / max(1, len(ranks) - 1)), label=f"rank {r}")
            ax.axvline(k, color="grey", ls=":", lw=1)
            ax.set_yscale("symlog" if key == "term" else "log")
            ax.set_title(f"{title}, prune layer {k}", fontsize=9)
            ax.set_xlabel("layer t")
    axes[0, 0].legend(fontsize=6)
    fig.tight_layout()
    return fig


def bound_vs_error_plot(merged: pd.DataFrame, approximations: list[str], layers: int) -> plt.Figure:
    """Theorem 2's bound (R = 1, each surrogate) against the median ICL error, one point per truncation,
    coloured by the truncated layer."""
    fig, axes = plt.subplots(1, len(approximations), figsize=(3.6 * len(approximations), 3.2), squeeze=False)
    for ax, approx in zip(axes[0], approximations):
        sub = merged[merged.approx == approx]
        points = ax.scatter(sub.bound, sub["median_error"], c=sub.pruned_layer, cmap="viridis", s=14)
        ax.set(xlabel="bound (R = 1)", title=approx, yscale="log")
    axes[0, 0].set_ylabel("median ICL error / d")
    fig.colorbar(points, ax=axes[0, -1], label="truncated layer", ticks=range(1, layers + 1))
    fig.tight_layout()
    return fig


def trajectory_norms_plot(norms: pd.DataFrame) -> plt.Figure:
    """Theorem 1: ||Delta W_t||_F and ||G_t||_F per layer t, one line per seed (from ``trajectory_norms``)."""
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.2), sharex=True)
    for seed, grp in norms.groupby("seed"):
        axes[0].semilogy(grp.layer, grp.delta_W, marker="o", alpha=0.7, label=f"seed {seed}")
        axes[1].semilogy(grp.layer, grp.G, marker="o", alpha=0.7)
    axes[0].set(xlabel="layer t", ylabel=r"$\|\Delta W_t\|_F$")
    axes[1].set(xlabel="layer t", ylabel=r"$\|G_t\|_F$")
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    return fig


def pruned_gradients_plot(sweeps: pd.DataFrame, prune_layers: list[int]) -> plt.Figure:
    """Remark 5: ||G_t||_F per layer t when W_V of layer k is truncated, one line per clip rate, one panel per k."""
    fig, axes = plt.subplots(1, len(prune_layers), figsize=(3.3 * len(prune_layers), 3.2), sharey=True, squeeze=False)
    cmap = plt.get_cmap("viridis")
    rates = sorted(sweeps.clip_rate.unique())
    for ax, k in zip(axes[0], prune_layers):
        sub = sweeps[sweeps.pruned_layer == k]
        for i, (xi, grp) in enumerate(sub.groupby("clip_rate")):
            ax.semilogy(grp.layer, grp.G, marker=".", color=cmap(i / max(1, len(rates) - 1)), label=f"ξ={xi}")
        ax.axvline(k, color="grey", ls=":", lw=1)
        ax.set(xlabel="layer t", title=f"prune $W_V$ of layer {k}")
    axes[0, 0].set_ylabel(r"$\|G_t\|_F$")
    axes[0, -1].legend(fontsize=7, loc="best")
    fig.tight_layout()
    return fig


def spectra_grid(spectra: dict[tuple[str, int], pd.DataFrame]) -> plt.Figure:
    """Figure 3's spectra: one :func:`spectra_panel` per (model, layer) key, models as rows."""
    models = list(dict.fromkeys(name for name, _ in spectra))
    layers = list(dict.fromkeys(layer for _, layer in spectra))
    fig, axes = plt.subplots(len(models), len(layers), figsize=(4.5 * len(layers), 3.2 * len(models)), squeeze=False,
                             sharey=True)  # fmt: skip
    for (name, layer), spec in spectra.items():
        ax = axes[models.index(name)][layers.index(layer)]
        spectra_panel(spec, ax, title=f"{name}, layer {spec.layer.iloc[0]}")
    axes[0][-1].legend(fontsize=6, ncol=2)
    fig.tight_layout()
    return fig


def gap_bound_plot(table: pd.DataFrame) -> plt.Figure:
    """Theorem 2 beside what it bounds: the measured generalization gap (95% interval) and each surrogate bound
    (R = R_hat) against the number of shots, one panel per case (from ``gap_vs_bound``), symmetric log scale."""
    cases = list(dict.fromkeys(table.case))
    fig, axes = plt.subplots(1, len(cases), figsize=(3.6 * len(cases), 3.2), sharey=True, squeeze=False)
    for ax, case in zip(axes[0], cases):
        sub = table[table.case == case]
        gap = sub.drop_duplicates("shots")
        ax.errorbar(gap.shots, gap.gap, yerr=[gap.gap - gap.gap_low, gap.gap_high - gap.gap], color="k", marker="o",
                    capsize=3, label="measured gap")  # fmt: skip
        for approx, grp in sub.groupby("approx", sort=False):
            ax.plot(grp.shots, grp.bound, marker=".", ls="--", label=f"bound ({approx})")
        ax.axhline(1.0, color="grey", ls=":", lw=1, label="zero estimator's loss")
        ax.set_yscale("symlog", linthresh=1e-3)  # a gap can be negative (the learner does better on new queries)
        ax.set(xlabel="shots b", title=case)
    axes[0, 0].set_ylabel("population - empirical loss")
    axes[0, -1].legend(fontsize=7)
    fig.tight_layout()
    return fig


def qq_grid(samples: dict[int, np.ndarray]) -> plt.Figure:
    """Normal Q-Q plots of one-dimensional samples, one panel per key (e.g. layer t)."""
    from scipy.stats import probplot

    fig, axes = plt.subplots(1, len(samples), figsize=(2.6 * len(samples), 2.6), squeeze=False)
    for ax, (key, x) in zip(axes[0], samples.items()):
        (theory, ordered), (slope, intercept, _) = probplot(x, dist="norm")
        ax.plot(theory, ordered, ".", ms=2)
        ax.plot(theory, slope * theory + intercept, color="grey", lw=1)
        ax.set(title=f"layer t = {key}", xlabel="normal quantile")
    axes[0, 0].set_ylabel("noise on C_t's top direction")
    fig.tight_layout()
    return fig


def rank_plot(ranks: pd.DataFrame) -> plt.Figure:
    """Remark 1 on a real model: effective rank of the demonstration hidden states H_s per layer, one line per
    number of shots (from ``layer_ranks`` rows with a ``shots`` column), beside the numerical rank over N."""
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.2))
    for shots, grp in ranks.groupby("shots"):
        axes[0].plot(grp.layer, grp.effective_rank_H, marker=".", label=f"{shots} shots (N = {grp.N.iloc[0]})")
        axes[1].plot(grp.layer, grp.rank_softmax / grp.N, marker=".")
    axes[0].set(xlabel="layer", ylabel="effective rank of $H_s$")
    axes[1].set(xlabel="layer", ylabel="rank of softmax $\\Delta W'$ / N", ylim=(0, 1.05))
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    return fig


def forest_plot(effects: pd.DataFrame) -> plt.Figure:
    """Every quantitative claim's effect at a glance: one row per (claim, case) of :func:`svd_icl.summary.effects`,
    the measured effect (accuracy points) with its simultaneous interval, coloured by the case's outcome, the claim's
    margin as a dotted tick and the value reported in the paper (where it has one) as a cross."""
    colours = {"holds": "#1a7f37", "does not hold": "#cf222e", "undetermined": "#57606a"}
    rows = effects.reset_index(drop=True)
    fig, ax = plt.subplots(figsize=(11, 0.32 * len(rows) + 1.2))
    y = np.arange(len(rows))[::-1]
    for yi, r in zip(y, rows.itertuples()):
        colour = colours.get(r.outcome, "#9a6700")
        ax.plot([100 * r.low, 100 * r.high], [yi, yi], color=colour, lw=2)
        ax.plot(100 * r.difference, yi, "o", color=colour, ms=5)
        if pd.notna(r.margin):
            ax.plot(100 * r.margin, yi, "|", color="k", ms=9, alpha=0.6)
        if pd.notna(r.reported):
            ax.plot(100 * r.reported, yi, "x", color="k", ms=6)
    ax.axvline(0, color="k", lw=0.8)
    ax.set_yticks(y, [f"{r.claim_short}: {r.case}" for r in rows.itertuples()], fontsize=7)
    ax.set_xlabel("effect (accuracy points): dot and simultaneous interval; | margin; x reported in the paper")
    handles = [plt.Line2D([], [], color=c, lw=2, label=o) for o, c in colours.items()]
    ax.legend(handles=handles, fontsize=7, loc="lower right")
    fig.tight_layout()
    return fig


def null_excess_grid(nulled: dict[str, pd.DataFrame], aggregate: str = "max") -> plt.Figure:
    """Per model, each module's condition number over its shape's Gaussian null median, by layer (log scale; 1 is
    what a random matrix of that shape gives), with the null's 5-95% band (the aggregate of the matrices' band
    edges) shaded and the permuted-entries control as a dashed line."""
    fig, axes = plt.subplots(1, len(nulled), figsize=(4.2 * len(nulled), 3.2), squeeze=False)
    for ax, (name, t) in zip(axes[0], nulled.items()):
        for module, colour in (("attn", "C0"), ("mlp", "C1")):
            sub = t[t.module == module]
            ax.plot(sub.groupby("layer").excess.agg(aggregate), color=colour, marker="o", ms=3, label=module.upper())
            band = (sub[["null_low", "null_high"]].div(sub.null_median, axis=0)).groupby(sub.layer).agg(aggregate)
            ax.fill_between(band.index, band.null_low, band.null_high, color=colour, alpha=0.15, lw=0,
                            label=f"{module.upper()} Gaussian null, 5-95%")  # fmt: skip
            if "permuted_cond" in sub:
                ratio = (sub.permuted_cond / sub.null_median).groupby(sub.layer).agg(aggregate)
                ax.plot(ratio, color=colour, ls="--", lw=1, label=f"{module.upper()} entries permuted")
        ax.axhline(1, color="k", lw=0.8)
        ax.set_yscale("log")
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("layer")
    axes[0][0].set_ylabel(f"cond / Gaussian null median ({aggregate} per module)")
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    return fig
