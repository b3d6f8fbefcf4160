"""Appendix B.2 and Remark 1 numerically: the rank of ICL's implicit update, with softmax attention and on a real
model's layers.

**B.2.** With softmax attention the output for a query ``q`` is ``sum_i v_i exp(k_i . q) / Z``. Writing the
softmax kernel through a feature map, ``exp(k . q) = phi(k)^T phi(q)``, makes the demonstrations' contribution a
linear map applied to ``phi(q)``:

    Delta W' = sum_i v_i phi(k_i)^T,      output(q) = Delta W' phi(q) / Z,

a sum of N outer products, so ``rank(Delta W') <= N`` whatever the (infinite) width of ``phi``. We use positive
random features (Choromanski et al.'s FAVOR+): ``phi(x) = exp(W x - |x|^2 / 2) / sqrt(m)`` with Gaussian ``W``
(m, d), an unbiased estimate of ``exp(k . q)``; :func:`kernel_form_error` checks that ``Delta W' phi(q)`` reproduces
the unnormalised attention output as ``m`` grows, and :func:`numerical_rank` counts ``Delta W'``'s rank.

**Remark 1.** ``rank(Delta W_icl) <= rank(H_s) <= N`` (N demonstration tokens). :func:`layer_ranks` measures both
ranks at every layer of a real model from the key/value cache of a demonstration prefix (the keys and values as
the model computes them: after its norms and rotary embedding), so the bound can be set beside how accuracy
changes with the number of shots (Figure 2).

Numerical rank: the number of singular values above ``rtol * sigma_max`` (default ``1e-6``, far above float32
rounding of these products, ~1e-7 relative, and far below any singular value that matters); both the count at that
tolerance and the "effective rank" exp(entropy of the normalised singular values) are reported.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import torch
from transformers import DynamicCache, PreTrainedModel

RTOL = 1e-6


def numerical_rank(M: torch.Tensor, rtol: float = RTOL) -> int:
    """Singular values above ``rtol`` times the largest (0 for a zero matrix)."""
    s = torch.linalg.svdvals(M.double())
    return int((s > rtol * s[0]).sum()) if len(s) and s[0] > 0 else 0


def effective_rank(M: torch.Tensor) -> float:
    """exp of the entropy of the normalised singular values (Roy and Vetterli): a tolerance-free size of a spectrum."""
    s = torch.linalg.svdvals(M.double())
    p = s / s.sum()
    p = p[p > 0]
    return float(torch.exp(-(p * p.log()).sum()))


def random_features(x: torch.Tensor, W: torch.Tensor) -> torch.Tensor:
    """FAVOR+ positive random features of the rows of ``x`` (n, d) with ``W`` (m, d): (n, m)."""
    return torch.exp(x @ W.T - (x**2).sum(-1, keepdim=True) / 2) / math.sqrt(W.shape[0])


def softmax_update(values: torch.Tensor, keys: torch.Tensor, W: torch.Tensor) -> torch.Tensor:
    """B.2's ``Delta W' = sum_i v_i phi(k_i)^T`` (d_v, m) from ``values`` (N, d_v) and ``keys`` (N, d)."""
    return values.T @ random_features(keys, W)


def kernel_form_error(values: torch.Tensor, keys: torch.Tensor, query: torch.Tensor, m: int, seed: int = 0) -> float:
    """Relative error of ``Delta W' phi(q)`` against the exact unnormalised output ``sum_i v_i exp(k_i . q)``."""
    gen = torch.Generator().manual_seed(seed)
    W = torch.randn(m, keys.shape[1], generator=gen, dtype=keys.dtype)
    approx = softmax_update(values, keys, W) @ random_features(query[None], W)[0]
    exact = values.T @ torch.exp(keys @ query)
    return float(torch.linalg.norm(approx - exact) / torch.linalg.norm(exact))


def random_case(num_demos: int, dim: int, seed: int = 0, scale: float = 0.1) -> tuple[torch.Tensor, ...]:
    """Random float64 ``values`` (N, d), ``keys`` (N, d) and a query (d,), small enough for exp to stay tame."""
    gen = torch.Generator().manual_seed(seed)
    draw = lambda *shape: torch.randn(*shape, generator=gen, dtype=torch.float64) * scale  # noqa: E731
    return draw(num_demos, dim), draw(num_demos, dim), draw(dim)


def random_rank_checks(demos: list[int], dim: int = 32, m: int = 256, seeds: int = 5) -> pd.DataFrame:
    """B.2 on random weights: per N and seed, rank of ``Delta W'`` (bound: N) and the kernel form's error."""
    rows = []
    for n in demos:
        for seed in range(seeds):
            values, keys, query = random_case(n, dim, seed)
            W = torch.randn(m, dim, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
            rank = numerical_rank(softmax_update(values, keys, W))
            rows.append({"N": n, "seed": seed, "rank": rank, "bound": min(n, dim, m), "within": rank <= n,
                         "kernel_error": kernel_form_error(values, keys, query, 20 * m, seed)})  # fmt: skip
    return pd.DataFrame(rows)


@torch.no_grad()
def layer_ranks(model: PreTrainedModel, prefix: list[int], m: int = 512, seed: int = 0) -> pd.DataFrame:
    """Remark 1 and B.2 at every layer of ``model`` for one demonstration prefix (token ids, N of them).

    One row per layer: ``N``; ``rank_H`` (numerical rank of the hidden states entering the layer, H x N);
    ``rank_linear`` (of Lemma 1's ``sum_i v_i k_i^T``) and ``rank_softmax`` (of B.2's
    ``sum_i v_i phi(k_i)^T``), each per (key/value) head and the largest over heads, since Remark 1 is about one
    attention head, with the bound ``N``; and the effective rank of ``H``. Keys are scaled by the layer's attention
    scaling so that ``exp(k . q)`` is the softmax's numerator.
    """
    if not prefix:
        raise ValueError("an empty prefix has no demonstration tokens (0 shots): there is no implicit update")
    ids = torch.tensor([prefix], device=next(model.parameters()).device)
    cache = DynamicCache(config=model.config)
    out = model.base_model(input_ids=ids, cache=cache, use_cache=True, output_hidden_states=True)
    n = len(prefix)
    gen = torch.Generator().manual_seed(seed)
    rows = []
    layers = getattr(model.base_model, "layers", None)
    for layer in range(model.config.num_hidden_layers):
        keys = cache.layers[layer].keys[0].double().cpu()  # (heads_kv, N, head_dim)
        values = cache.layers[layer].values[0].double().cpu()
        scale = getattr(layers[layer].self_attn, "scaling", keys.shape[-1] ** -0.5) if layers is not None else 1.0
        hidden = out.hidden_states[layer][0].double().cpu()  # (N, H), entering the layer
        W = torch.randn(m, keys.shape[-1], generator=gen, dtype=torch.float64)
        # Features of scaled keys: phi(sqrt(s) k)^T phi(sqrt(s) q) estimates exp(s k . q), the softmax numerator.
        soft = [numerical_rank(softmax_update(v, k * math.sqrt(scale), W)) for v, k in zip(values, keys)]
        lin = max(numerical_rank(v.T @ k) for v, k in zip(values, keys))
        rows.append({"layer": layer, "N": n, "rank_H": numerical_rank(hidden), "rank_linear": lin,
                     "rank_softmax": max(soft), "effective_rank_H": effective_rank(hidden)})  # fmt: skip
    return pd.DataFrame(rows)


def rank_bound_holds(table: pd.DataFrame) -> bool:
    """Remark 1 / B.2 as identities: every measured rank at most N."""
    return bool((table[["rank_H", "rank_linear", "rank_softmax"]].le(table.N, axis=0)).all().all())


def rank_story(ranks: pd.DataFrame, accuracy: pd.Series) -> dict:
    """Does the rank bound fit Figure 2? ``ranks``: :func:`layer_ranks` rows with a ``shots`` column; ``accuracy``:
    unpruned accuracy by shots (0 shots counts as rank 0). Remark 1 reads "fewer shots, lower-rank update" as the
    reason shot numbers matter unevenly; the story fits if accuracy is ordered like the (median over layers)
    effective rank of H_s."""
    from scipy.stats import spearmanr

    by_shots = ranks.groupby("shots").effective_rank_H.median()
    if 0 in accuracy.index:  # no demonstrations: no implicit update, rank 0
        by_shots.loc[0] = 0.0
        by_shots = by_shots.sort_index()
    common = by_shots.index.intersection(accuracy.index)
    rank_up = bool(np.all(np.diff(by_shots.loc[common].to_numpy()) > 0))
    acc_up = bool(np.all(np.diff(accuracy.loc[common].to_numpy()) > 0))
    rho = float(spearmanr(by_shots.loc[common], accuracy.loc[common]).statistic) if len(common) > 2 else float("nan")
    return {"shots": list(common), "rank_grows": rank_up, "accuracy_grows": acc_up, "spearman": rho,
            "fits": rank_up == acc_up and (rho > 0 if np.isfinite(rho) else acc_up)}  # fmt: skip
