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
    w = weight.detach().to(dtype)
    # Singular values of W and W^T are the same; LAPACK is 3-5x faster on the tall orientation (svd.decompose).
    return torch.linalg.svdvals(w.T if w.shape[0] < w.shape[1] else w)


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


AGGREGATES = ("max", "mean")
# One aggregation of a module's matrices into a per-layer number, used alike by Figure 3's trend test, its plot,
# and Algorithm 1's layer choice: the largest condition number among the module's matrices (the worst-conditioned
# matrix is the one truncation acts on most). ``mean`` is offered as a labelled alternative.
DEFAULT_AGGREGATE = "max"


def layer_condition(table: pd.DataFrame, module: str, aggregate: str = DEFAULT_AGGREGATE) -> pd.Series:
    """Per-layer condition number of ``module`` ("attn"/"mlp"), combining its matrices by ``aggregate``."""
    if aggregate not in AGGREGATES:
        raise ValueError(f"aggregate {aggregate!r} not one of {AGGREGATES}")
    sub = table[table.module == module]
    if sub.empty:
        raise ValueError(
            f"no condition numbers for module {module!r}; modules present: {sorted(table.module.unique())}"
        )
    return sub.groupby("layer").cond.agg(aggregate)


def depth_and_module_trends(table: pd.DataFrame, aggregate: str = DEFAULT_AGGREGATE) -> pd.DataFrame:
    """Test Fig. 3's two observations on a condition-number table, per layer with :func:`layer_condition`.

    ``mlp_below_attn``: fraction of layers whose MLP condition number is below the ATTN one.
    ``spearman_<module>``: rank correlation between layer index and the module's condition number
    (positive: deeper layers are worse conditioned), with its p-value; ``layers``: how many layers it spans.
    """
    from scipy.stats import spearmanr

    per_layer = {m: layer_condition(table, m, aggregate) for m in ("attn", "mlp")}
    out = {
        "aggregate": aggregate,
        "mlp_below_attn": float((per_layer["mlp"] < per_layer["attn"]).mean()),
        "layers": len(per_layer["attn"]),
    }
    for module, series in per_layer.items():
        rho, p = spearmanr(series.index, series.to_numpy())
        out[f"spearman_{module}"] = float(rho)
        out[f"p_{module}"] = float(p)
    return pd.DataFrame([out])


def energy_removed(spec: pd.DataFrame, clip_rates: list[float]) -> pd.DataFrame:
    """Share of each matrix's squared Frobenius norm that truncation at each clip rate removes (``energy_removed``),
    the Frobenius norm of what it removes (``removed_norm``, to set beside other errors such as quantization's), and
    the largest ratio between consecutive singular values (a spectral gap would single out a natural rank)."""
    from svd_icl.svd import rank_for_clip_rate

    rows = []
    for matrix, grp in spec.groupby("matrix", sort=False):
        sig = np.sort(grp.sigma.to_numpy())[::-1].astype(np.float64)
        energy = sig**2
        gap = float(np.max(sig[:-1] / np.maximum(sig[1:], np.finfo(float).tiny))) if len(sig) > 1 else 1.0
        for xi in clip_rates:
            r = rank_for_clip_rate((len(sig), len(sig)), xi)
            rows.append({"layer": int(grp.layer.iloc[0]), "matrix": matrix, "clip_rate": xi,
                         "energy_removed": float(energy[r:].sum() / energy.sum()),
                         "removed_norm": float(np.sqrt(energy[r:].sum())), "largest_gap": gap})  # fmt: skip
    return pd.DataFrame(rows)


def describe_spectra(energy: pd.DataFrame) -> str:
    """A sentence on how much each clip rate cuts and whether any spectrum has a gap, from :func:`energy_removed`."""
    by_rate = energy.groupby("clip_rate").energy_removed.agg(["min", "max"])
    cuts = "; ".join(f"ξ = {xi:g} removes {lo:.1%}-{hi:.1%}" for xi, (lo, hi) in by_rate.iterrows())
    gap = energy.largest_gap.max()
    where = energy.loc[energy.largest_gap.idxmax()]
    gap_text = (
        f"no spectrum has a gap (the largest ratio between consecutive singular values is {gap:.2f}, in "
        f"{where.matrix} of layer {where.layer})"
        if gap < 2
        else f"the largest ratio between consecutive singular values is {gap:.1f} ({where.matrix}, layer "
        f"{where.layer}): a gap there would single out a natural rank"
    )
    return f"Share of the squared Frobenius norm removed, over the matrices shown: {cuts}. Besides, {gap_text}."


def _shape(shape) -> tuple[int, int]:
    """A matrix shape from a tuple or from its text in a cached CSV table ("(1024, 640)")."""
    if isinstance(shape, str):
        shape = shape.strip("()[] ").split(",")
    return tuple(int(x) for x in shape)


def gaussian_null(shapes, draws: int = 10, seed: int = 0, dtype: torch.dtype = torch.float32) -> pd.DataFrame:
    """Condition numbers of ``draws`` standard Gaussian matrices of each shape: the null a weight's condition
    number is read against. The condition number is scale-free, so the shape alone fixes this null; it depends on
    the shape strongly (a square Gaussian matrix's smallest singular value is near 0, a tall one's is bounded away
    from it, Marchenko-Pastur), which is why raw condition numbers of differently shaped matrices do not compare."""
    gen = torch.Generator().manual_seed(seed)
    rows = []
    for shape in dict.fromkeys(_shape(s) for s in shapes):
        conds = []
        for _ in range(draws):
            s = _singular_values(torch.randn(shape, generator=gen, dtype=torch.float64), dtype)
            conds.append(float(s[0] / s[-1]))
        q = np.quantile(conds, [0.05, 0.5, 0.95])
        rows.append({"shape": shape, "null_low": q[0], "null_median": q[1], "null_high": q[2], "draws": draws})
    return pd.DataFrame(rows)


def permuted_conditions(
    model: nn.Module, table: pd.DataFrame, seed: int = 0, dtype: torch.dtype = torch.float32
) -> pd.Series:
    """For each row of a :func:`condition_numbers` table, the condition number of the same matrix with its entries
    randomly permuted: the same values (and quantization grid), none of the learned structure."""
    arch = architecture_for(model)
    blocks = decoder_layers(model, arch)
    selected = select_matrices(arch, "all")
    gen = torch.Generator().manual_seed(seed)
    out = []
    for r in table.itertuples():
        _, spec = selected[f"{r.module}.{r.matrix}"]
        w = weight_view(blocks[int(r.layer)], spec).detach()
        flat = w.reshape(-1)[torch.randperm(w.numel(), generator=gen)].reshape(w.shape)
        s = _singular_values(flat, dtype)
        out.append(float(s[0] / s[-1]))
    return pd.Series(out, index=table.index, name="permuted_cond")


def against_null(table: pd.DataFrame, null: pd.DataFrame, permuted: pd.Series | None = None) -> pd.DataFrame:
    """``table`` with its shape's Gaussian null (median and 5-95% band), the permuted control, and ``excess``:
    the condition number over the null median (1: what a random matrix of that shape gives). The claims of Fig. 3
    are decided again on ``excess`` (:func:`svd_icl.claims.fig3_null_verdicts`)."""
    by_shape = {_shape(r["shape"]): r for r in null.to_dict("records")}
    rows = [by_shape[_shape(s)] for s in table["shape"]]
    out = table.assign(**{k: [r[k] for r in rows] for k in ("null_low", "null_median", "null_high")})
    out["excess"] = out.cond / out.null_median
    if permuted is not None:
        out["permuted_cond"] = permuted.to_numpy()
    return out


def condition_table_path(results_dir, name: str, svd_dtype: str = "float32"):
    """Where a model's condition-number table is cached, one file per SVD precision (the Figure 3 chapter computes
    it, Algorithm 1's chapter and the build plan read it): the one home of that name."""
    from pathlib import Path

    tag = name.replace("/", "_")
    suffix = "" if svd_dtype == "float32" else f"_{svd_dtype}"
    return Path(results_dir) / f"fig3_cond_{tag}{suffix}.csv"


def stored_condition_numbers(results_dir, name: str, model: nn.Module, dtype: str, svd_dtype: str = "float32",
                             progress: bool = False) -> pd.DataFrame:  # fmt: skip
    """:func:`condition_numbers` of ``model`` (loaded as ``dtype``) with singular values in ``svd_dtype``, cached
    under :func:`condition_table_path` with the settings that made it."""
    from svd_icl.results import cached_table

    settings = {"model": name, "dtype": dtype, "svd_dtype": svd_dtype}
    return cached_table(
        condition_table_path(results_dir, name, svd_dtype),
        settings,
        lambda: condition_numbers(model, dtype=getattr(torch, svd_dtype), progress=progress),
    )
