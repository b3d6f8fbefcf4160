"""Examples 1-4 (Sec. 3.3, App. B.6): what SVD truncation of W_Q, W_K, W_V or B.3's MLP map does to ||Delta W||_F.

For one layer with demonstrations ``h_i`` (columns of ``demos``),

    Delta W = W_MLP (sum_i W_V h_i (W_K h_i)^T) W_Q                     (W_MLP = I without App. B.3's MLP)
    UB      = ||W_MLP||_F^2 sum_i ||W_V h_i||^2 ||W_K h_i||^2 ||W_Q||_F^2   (Example 1; ||W_MLP||_F^2 by Eq. 19)

The examples claim that truncation lowers UB (Examples 1, 3) or an upper bound on ||Delta W||_F^2 (2, 4).
:func:`example_sweep` measures both quantities over a clip-rate grid and :func:`example_checks` tests each
inequality, including two the examples take for granted:

* ``UB >= ||Delta W||_F^2``.  By Cauchy-Schwarz only ``N * UB`` is guaranteed; the sum of N rank-one terms can
  exceed UB when they point the same way.  ``UB_triangle = ||W_MLP||_F^2 (sum_i ||W_V h_i|| ||W_K h_i||)^2 ||W_Q||_F^2``
  is the bound the triangle inequality does give.
* ``||Delta W||_F^2`` itself going down.  Truncating the outermost factor (W_Q on the right, W_MLP on the left, or
  W_V when there is no MLP) splits Delta W into two parts with orthogonal row (or column) spaces, so the norm drops
  by exactly the discarded part's norm (Pythagoras; the paper invokes Eq. 20, which is false in general).
  Truncating an inner factor (W_K, or W_V behind an MLP) has no such guarantee.
"""

from __future__ import annotations

import pandas as pd
import torch

from svd_icl.svd import rank_for_clip_rate, truncate_matrix
from svd_icl.theory.linear_attention import DTYPE, implicit_delta_w

MATRICES = ("Q", "K", "V", "MLP")
_REL_TOL = 1e-9  # relative slack for "<=" between float64 quantities


def upper_bounds(W_V, W_K, W_Q, demos, W_MLP=None) -> tuple[float, float]:
    """(Example 1's UB, the triangle-inequality bound) on ``||Delta W||_F^2``."""
    v = torch.linalg.norm(W_V @ demos, dim=0)
    k = torch.linalg.norm(W_K @ demos, dim=0)
    scale = float(torch.linalg.norm(W_Q) ** 2) * (1.0 if W_MLP is None else float(torch.linalg.norm(W_MLP) ** 2))
    return float(((v * k) ** 2).sum()) * scale, float((v * k).sum() ** 2) * scale


def example_sweep(
    W_V: torch.Tensor,
    W_K: torch.Tensor,
    W_Q: torch.Tensor,
    demos: torch.Tensor,
    clip_rates: list[float],
    W_MLP: torch.Tensor | None = None,
) -> pd.DataFrame:
    """``||Delta W||_F^2``, UB and the triangle bound when each matrix in turn is truncated at each clip rate.

    One row per (matrix, clip_rate) with the kept rank; "MLP" appears only when ``W_MLP`` is given.
    """
    mats = {"V": W_V, "K": W_K, "Q": W_Q}
    if W_MLP is not None:
        mats["MLP"] = W_MLP
    mats = {name: m.to(DTYPE) for name, m in mats.items()}
    demos = demos.to(DTYPE)
    rows = []
    for name, matrix in mats.items():
        for xi in clip_rates:
            current = {**mats, name: truncate_matrix(matrix, xi, dtype=DTYPE)}
            args = (current["V"], current["K"], current["Q"], demos, current.get("MLP"))
            ub, ub_triangle = upper_bounds(*args)
            rows.append(
                {
                    "matrix": name,
                    "clip_rate": xi,
                    "rank": rank_for_clip_rate(tuple(matrix.shape), xi),
                    "delta_W_sq": float((implicit_delta_w(*args) ** 2).sum()),
                    "UB": ub,
                    "UB_triangle": ub_triangle,
                }
            )
    return pd.DataFrame(rows)


def _non_increasing(values: pd.Series) -> bool:
    v = values.to_numpy()
    return bool((v[1:] <= v[:-1] * (1 + _REL_TOL) + 1e-300).all())


def example_checks(sweep: pd.DataFrame) -> pd.DataFrame:
    """Per matrix, whether each inequality holds over the whole clip-rate grid of :func:`example_sweep`.

    ``UB_decreases`` (Examples 1-3's claim), ``norm_decreases`` (what Remark 4 needs), ``UB_bounds_norm``
    (Example 1's UB is an upper bound) and ``triangle_bounds_norm`` (always true; a sanity check).
    """
    rows = []
    for name, grp in sweep.sort_values("clip_rate").groupby("matrix", sort=False):
        rows.append(
            {
                "matrix": name,
                "UB_decreases": _non_increasing(grp.UB),
                "norm_decreases": _non_increasing(grp.delta_W_sq),
                "UB_bounds_norm": bool((grp.delta_W_sq <= grp.UB * (1 + _REL_TOL)).all()),
                "triangle_bounds_norm": bool((grp.delta_W_sq <= grp.UB_triangle * (1 + _REL_TOL)).all()),
                "max_norm_over_UB": float((grp.delta_W_sq / grp.UB).max()),
            }
        )
    return pd.DataFrame(rows)


def random_layer(dim: int, num_demos: int, seed: int, mlp: bool = True) -> dict[str, torch.Tensor]:
    """Gaussian ``W_V, W_K, W_Q`` (and ``W_MLP``) of shape (dim, dim) and ``demos`` (dim, num_demos), float64."""
    gen = torch.Generator().manual_seed(seed)
    out = {name: torch.randn(dim, dim, generator=gen, dtype=DTYPE) / dim**0.5 for name in ("W_V", "W_K", "W_Q")}
    out["demos"] = torch.randn(dim, num_demos, generator=gen, dtype=DTYPE)
    if mlp:
        out["W_MLP"] = torch.randn(dim, dim, generator=gen, dtype=DTYPE) / dim**0.5
    return out


def failure_rates(
    seeds: list[int], dim: int, num_demos: int, clip_rates: list[float], mlp: bool = True
) -> pd.DataFrame:
    """Share of random layers (one per seed) where each check of :func:`example_checks` fails, per matrix."""
    checks = []
    for seed in seeds:
        layer = random_layer(dim, num_demos, seed, mlp)
        sweep = example_sweep(layer["W_V"], layer["W_K"], layer["W_Q"], layer["demos"], clip_rates, layer.get("W_MLP"))
        checks.append(example_checks(sweep))
    return failure_shares(pd.concat(checks), ["matrix"])


CHECKS = ("UB_decreases", "norm_decreases", "UB_bounds_norm", "triangle_bounds_norm")


def failure_shares(checks: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Per group of ``keys``, the share of :func:`example_checks` rows on which each check fails."""
    shares = 1.0 - checks.groupby(keys, sort=False)[list(CHECKS)].mean()
    return shares.rename(columns=lambda c: f"fails: {c}").reset_index()
