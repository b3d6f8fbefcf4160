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
