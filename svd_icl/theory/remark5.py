"""Remark 5 on a trained model: truncate one layer's W_V, W_K or W_Q and watch the ICL error and Theorem 2's terms.

All grids are computed once per distinct kept rank (several of the paper's clip rates keep the same rank in a
small matrix) and reported per clip rate.  Errors are paired: every truncation is scored on the same prompts as
the unpruned model, so ``change`` and its standard error are over per-prompt differences.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

import pandas as pd
import torch
from scipy.stats import spearmanr
from tqdm import tqdm

from svd_icl.svd import rank_for_clip_rate
from svd_icl.theory.bound import mean_bound_terms
from svd_icl.theory.examples import example_checks, example_sweep, failure_shares
from svd_icl.theory.linear_attention import DTYPE
from svd_icl.theory.toy import ToyTransformer, held_out_prompts, icl_errors, prompts, to_stack, truncated

MATRICES = ("V", "K", "Q")


def _by_rank(dim: int, clip_rates: Sequence[float]) -> dict[int, list[float]]:
    ranks: dict[int, list[float]] = {}
    for xi in clip_rates:
        ranks.setdefault(rank_for_clip_rate((dim, dim), xi), []).append(xi)
    return ranks


def truncation_grid(
    model: ToyTransformer,
    shots: int,
    clip_rates: Sequence[float],
    matrices: Sequence[str] = MATRICES,
    n_prompts: int = 1000,
    progress: bool = True,
) -> pd.DataFrame:
    """ICL error with ``shots`` demonstrations for every (layer, matrix, clip rate), with the paired change."""
    base = icl_errors(model, model.cfg.d, shots, n_prompts)
    ranks = _by_rank(model.cfg.dim, clip_rates)
    rows = []
    cells = [(t, m) for t in range(1, model.cfg.layers + 1) for m in matrices]
    for layer, which in tqdm(cells, disable=not progress, desc=f"truncate ({shots} shots)", mininterval=5):
        for rank, rates in ranks.items():
            if rank == model.cfg.dim:
                err = base
            else:
                err = icl_errors(truncated(model, layer, which, rates[0]), model.cfg.d, shots, n_prompts)
            diff = err - base
            for xi in rates:
                rows.append(
                    {
                        "layer": layer,
                        "matrix": which,
                        "clip_rate": xi,
                        "rank": rank,
                        "shots": shots,
                        "error": float(err.mean()),
                        "median_error": float(err.median()),
                        "change": float(diff.mean()),
                        "change_sem": float(diff.std() / len(diff) ** 0.5),
                    }
                )
    return pd.DataFrame(rows)


def bound_grid(
    model: ToyTransformer,
    pool: int,
    shots: int,
    clip_rates: Sequence[float],
    approximations: Sequence[str],
    matrices: Sequence[str] = MATRICES,
    n_prompts: int = 100,
    progress: bool = True,
) -> pd.DataFrame:
    """Theorem 2's per-layer terms (mean over ``n_prompts`` pools of ``pool`` demonstrations) for every truncation.

    Long format: one row per (pruned layer, matrix, clip rate, approximation, layer t of the trajectory).
    """
    xs, ys = held_out_prompts(model.cfg.d, pool, n_prompts, seed=20_000)
    Hs = list(prompts(xs.to(DTYPE), ys[:, :-1].to(DTYPE)))
    rows = []
    unpruned = mean_bound_terms(to_stack(model), Hs, shots, approximations)
    cells = [(k, m) for k in range(1, model.cfg.layers + 1) for m in matrices]
    ranks = _by_rank(model.cfg.dim, clip_rates)
    for layer, which in tqdm(cells, disable=not progress, desc="bound terms", mininterval=5):
        for rank, rates in ranks.items():
            if rank == model.cfg.dim:
                terms = unpruned
            else:
                terms = mean_bound_terms(to_stack(truncated(model, layer, which, rates[0])), Hs, shots, approximations)
            for xi in rates:
                rows.append(terms.assign(pruned_layer=layer, matrix=which, clip_rate=xi, rank=rank))
    return pd.concat(rows, ignore_index=True).rename(columns={"layer": "t"})


def bound_totals(grid: pd.DataFrame, pool: int) -> pd.DataFrame:
    """Sum over t of each term per (pruned layer, matrix, clip rate, approximation); ``bound`` = sqrt(sum / N)."""
    keys = ["pruned_layer", "matrix", "clip_rate", "rank", "approx"]
    sums = grid.groupby(keys, as_index=False)[["term", "norm_product", "G_sq", "trace_C"]].sum()
    sums["bound"] = (sums.term / pool) ** 0.5
    return sums


def agreement(
    errors: pd.DataFrame, totals: pd.DataFrame, quantity: str = "bound", error: str = "error"
) -> pd.DataFrame:
    """Spearman correlation, across clip rates, of ``quantity`` (a column of :func:`bound_totals`) with the ICL
    ``error`` column, per (layer, matrix, approx).

    Positive: the quantity moves with the error, as Theorem 2 suggests.  NaN where the grid has fewer than three
    distinct ranks.
    """
    merged = totals.merge(
        errors.rename(columns={"layer": "pruned_layer"}), on=["pruned_layer", "matrix", "clip_rate", "rank"]
    )
    rows = []
    for (layer, which, approx), grp in merged.groupby(["pruned_layer", "matrix", "approx"]):
        distinct = grp.drop_duplicates("rank")
        rho = spearmanr(distinct[quantity], distinct[error]).statistic if len(distinct) > 2 else float("nan")
        rows.append({"pruned_layer": layer, "matrix": which, "approx": approx, "spearman": float(rho)})
    return pd.DataFrame(rows)


def depth_trend(errors: pd.DataFrame) -> pd.DataFrame:
    """Per matrix: mean error increase over the truncated clip rates for each layer, and Spearman(layer, increase).

    Remark 5 predicts a negative correlation: the deeper the truncated layer, the smaller the damage.
    """
    pruned = errors[errors["rank"] < errors["rank"].max()]
    damage = pruned.groupby(["matrix", "layer"], as_index=False).change.mean()
    rows = []
    for which, grp in damage.groupby("matrix", sort=False):
        rows.append(
            {
                "matrix": which,
                **{f"layer {int(r.layer)}": r.change for r in grp.itertuples()},
                "spearman(layer, damage)": float(spearmanr(grp.layer, grp.change).statistic),
            }
        )
    return pd.DataFrame(rows)


def trained_layers(model: ToyTransformer, num_demos: int, n_prompts: int = 20) -> list[dict[str, torch.Tensor]]:
    """Per layer t = 1..L, float64 ``W_V, W_K, W_Q`` (and ``W_MLP``) and ``demos`` (P, D, N): the tokens reaching t.

    The input of Examples 1-4 on trained weights; the caller's model is left as it is.
    """
    xs, ys = held_out_prompts(model.cfg.d, num_demos, n_prompts, seed=30_000)
    model = copy.deepcopy(model).to(DTYPE)
    with torch.no_grad():
        states = model.states(prompts(xs.to(DTYPE), ys[:, :-1].to(DTYPE)))
        out = []
        for t in range(model.cfg.layers):
            layer = {f"W_{n}": getattr(model, f"W_{n}")[t].clone() for n in ("V", "K", "Q")}
            if model.cfg.mlp_width:
                layer["W_MLP"] = model.mlp_map(t)
            out.append({**layer, "demos": states[t][:, :, :num_demos]})
    return out


def trained_example_checks(
    model: ToyTransformer, num_demos: int, clip_rates: Sequence[float], n_prompts: int = 20
) -> pd.DataFrame:
    """Examples 1-4's checks on the trained weights, with each layer's actual input tokens as the ``h_i``.

    One row per (layer, matrix): the share of prompts on which each check fails, and the largest
    ``||Delta W||^2 / UB`` seen (> 1 means Example 1's UB is not an upper bound there).
    """
    frames = []
    for t, layer in enumerate(trained_layers(model, num_demos, n_prompts), start=1):
        for demos in layer["demos"]:
            sweep = example_sweep(layer["W_V"], layer["W_K"], layer["W_Q"], demos, list(clip_rates), layer.get("W_MLP"))
            frames.append(example_checks(sweep).assign(layer=t))
    table = pd.concat(frames)
    fails = failure_shares(table, ["layer", "matrix"])
    fails["max_norm_over_UB"] = table.groupby(["layer", "matrix"], sort=False).max_norm_over_UB.max().to_numpy()
    return fails


def best_truncation_test(errors: pd.DataFrame, alpha: float = 0.05) -> pd.DataFrame:
    """Does any truncation *lower* the ICL error? Per shot number, the truncation with the largest paired decrease,
    with its one-sided p-value (normal approximation of the mean of per-prompt differences: hundreds of prompts)
    Holm-adjusted over every distinct truncation tried at *every* shot number (the claim searches them all).
    """
    from scipy.stats import norm

    from svd_icl.stats import holm

    pruned = errors[errors["rank"] < errors["rank"].max()].drop_duplicates(["shots", "layer", "matrix", "rank"])
    pruned = pruned.assign(
        p=[float(norm.cdf(c / s)) if s > 0 else float(c >= 0) for c, s in zip(pruned.change, pruned.change_sem)]
    )
    pruned["p_holm"] = holm(pruned.p.to_numpy())
    pruned["m"] = len(pruned)
    best = pruned.loc[pruned.groupby("shots").change.idxmin()].set_index("shots")
    best["unpruned error"] = errors[errors["rank"] == errors["rank"].max()].groupby("shots").error.first()
    best["significant"] = (best.change < 0) & (best.p_holm < alpha)
    # every truncation tried at the shot number: a refutation of "some truncation lowers it" needs all of them
    best["changes"] = pruned.groupby("shots").change.agg(list)
    best["change_sems"] = pruned.groupby("shots").change_sem.agg(list)
    return best[["layer", "matrix", "clip_rate", "rank", "unpruned error", "error", "change", "change_sem", "p",
                 "p_holm", "m", "significant", "changes", "change_sems"]]  # fmt: skip


def first_layer_damage_factor(errors: pd.DataFrame) -> float:
    """How many times the unpruned error the mean damage of truncating layer 1 is (worst matrix and shot number):
    what "catastrophic" has to mean before the chapter may say it."""
    pruned = errors[(errors["rank"] < errors["rank"].max()) & (errors.layer == 1)]
    base = errors[errors["rank"] == errors["rank"].max()].groupby("shots").error.first()
    damage = pruned.groupby(["shots", "matrix"]).change.mean().reset_index()
    return float((damage.change / damage.shots.map(base)).max())


def terms_response(terms: pd.DataFrame, matrix: str = "V", approx: str = "projected", layer: int = 1) -> pd.Series:
    """How Theorem 2's pieces respond to the heaviest truncation of ``matrix`` in ``layer``, from :func:`bound_grid`:
    ``delta_W_factor``, the largest ratio (pruned / unpruned) of ||Delta W_t||_F^2 over the later layers t, and
    ``term_factor``, the ratio of the summed terms."""
    sub = terms[(terms.pruned_layer == layer) & (terms.matrix == matrix) & (terms.approx == approx)]
    full, heavy = sub[sub["rank"] == sub["rank"].max()], sub[sub["rank"] == sub["rank"].min()]
    full, heavy = full.drop_duplicates("t").set_index("t"), heavy.drop_duplicates("t").set_index("t")
    later = full.index[full.index > layer]
    ratio = heavy.delta_W_sq.loc[later] / full.delta_W_sq.loc[later]
    return pd.Series(
        {
            "delta_W_factor": float(ratio.max()) if len(ratio) else float("nan"),
            "term_factor": float(heavy.term.sum() / full.term.sum()),
        }
    )
