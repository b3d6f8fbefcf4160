"""Plotting helpers shared by the notebooks (matplotlib), so that notebooks stay a few lines long."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd

MODULE_COLOURS = {"attn": "tab:red", "mlp": "tab:blue"}


def condition_numbers_by_layer(table: pd.DataFrame, ax: plt.Axes, title: str | None = None) -> None:
    """Fig. 3 style: cond per layer, one thin line per matrix, module mean in bold; log scale."""
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
    for module, grp in table.groupby("module"):
        mean = grp.groupby("layer").cond.apply(lambda s: float(s.prod() ** (1 / len(s))))
        ax.semilogy(
            mean.index, mean.values, color=MODULE_COLOURS[module], lw=2.2, label=f"{module.upper()} (geometric mean)"
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


def sweep_panel(ax: plt.Axes, frame: pd.DataFrame, title: str | None = None, chance: float | None = None) -> None:
    """Fig. 1 style: accuracy vs clip rate, one line per layer with its 95% band, unpruned accuracy dashed,
    each layer's best point starred. Clip rates sit at equal spacing (the paper's grid is far from uniform)."""
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
        ax.axhline(chance, color="grey", ls=":", lw=1, label="chance")
    ax.set_xticks(range(len(rates)), [f"{xi:g}" for xi in rates], fontsize=7)
    ax.set(xlabel="clip rate ξ", ylabel="accuracy")
    if title:
        ax.set_title(title, fontsize=9)
