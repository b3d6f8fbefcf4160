"""2-norm condition numbers and singular-value spectra of every weight matrix (paper Fig. 3, Algorithm 1).

``cond(W) = sigma_max / sigma_min`` from the singular values alone (``torch.linalg.svdvals``), computed in float32
or float64 whatever the weights' dtype: half precision would flush the smallest singular values, which set the
condition number.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch
from torch import nn
from tqdm import tqdm

from svd_icl.architectures import (
    Architecture,
    architecture_for,
    check_layer,
    decoder_layers,
    select_matrices,
    weight_view,
)


def _singular_values(weight: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    if dtype not in (torch.float32, torch.float64):
        raise ValueError(f"dtype must be torch.float32 or torch.float64, got {dtype}")
    return torch.linalg.svdvals(weight.detach().to(dtype))


def condition_numbers(
    model: nn.Module,
    layers: list[int] | None = None,
    module: str = "all",
    dtype: torch.dtype = torch.float32,
    progress: bool = True,
) -> pd.DataFrame:
    """One row per (layer, matrix): layer, module (attn/mlp), matrix, shape, sigma_max, sigma_min, cond."""
    arch = architecture_for(model)
    blocks = decoder_layers(model, arch)
    layer_ids = [check_layer(model, i, arch) for i in layers] if layers is not None else range(len(blocks))
    selected = select_matrices(arch, module)
    rows = []
    for i in tqdm(layer_ids, desc="condition numbers", disable=not progress):
        for name, (group, spec) in selected.items():
            view = weight_view(blocks[i], spec)
            s = _singular_values(view, dtype)
            rows.append(
                {
                    "layer": i,
                    "module": group,
                    "matrix": name.split(".", 1)[1],
                    "shape": tuple(view.shape),
                    "sigma_max": float(s[0]),
                    "sigma_min": float(s[-1]),
                    "cond": float(s[0] / s[-1]),
                }
            )
    return pd.DataFrame(rows)


def spectra(model: nn.Module, layer: int, module: str = "all", dtype: torch.dtype = torch.float32) -> pd.DataFrame:
    """Singular values of the selected matrices of one layer, long format: matrix, index, sigma."""
    arch: Architecture = architecture_for(model)
    layer = check_layer(model, layer, arch)
    block = decoder_layers(model, arch)[layer]
    frames = []
    for name, (_, spec) in select_matrices(arch, module).items():
        s = _singular_values(weight_view(block, spec), dtype).cpu()
        frames.append(pd.DataFrame({"layer": layer, "matrix": name, "index": range(len(s)), "sigma": s.numpy()}))
    return pd.concat(frames, ignore_index=True)


def depth_and_module_trends(table: pd.DataFrame) -> pd.DataFrame:
    """Test Fig. 3's two observations on a condition-number table.

    ``mlp_below_attn``: fraction of layers whose MLP geometric-mean cond is below the ATTN one.
    ``spearman_<module>``: rank correlation between layer index and the module's geometric-mean cond
    (positive: deeper layers are worse conditioned), with its p-value.
    """
    from scipy.stats import spearmanr

    logc = table.assign(logc=np.log(table.cond)).groupby(["layer", "module"]).logc.mean().unstack()
    out = {"mlp_below_attn": float((logc["mlp"] < logc["attn"]).mean())}
    for module in ("attn", "mlp"):
        rho, p = spearmanr(logc.index, logc[module])
        out[f"spearman_{module}"] = float(rho)
        out[f"p_{module}"] = float(p)
    return pd.DataFrame([out])


def describe_trends(model_name: str, trends: pd.Series, alpha: float = 0.05) -> str:
    """One plain sentence per observation of Fig. 3, from a row of :func:`depth_and_module_trends`."""
    share = trends["mlp_below_attn"]
    a = "holds" if share >= 0.9 else ("mostly holds" if share > 0.5 else "does not hold")
    parts = [f"**{model_name}**: (a) MLP better conditioned than ATTN {a} (MLP below ATTN in {share:.0%} of layers)"]
    for module in ("attn", "mlp"):
        rho, p = trends[f"spearman_{module}"], trends[f"p_{module}"]
        if p < alpha:
            trend = "rises with depth" if rho > 0 else "falls with depth"
        else:
            trend = "shows no significant depth trend"
        parts.append(f"{module.upper()} {trend} (Spearman rho = {rho:+.2f}, p = {p:.2g})")
    return parts[0] + "; (b) " + ", ".join(parts[1:]) + "."
