"""Theorem 2's generalization bound, term by term, along the implicit-gradient trajectory (Sec. 3.3, App. B.5, C.4).

For layer t the bound adds

    term_t = d log( (||Delta W_t||_F^2 ||I + W_{t-1}||_F^2 + tr C_t) / d )  -  tr log C_t,

and ``error <= sqrt(R^2 / N * sum_t E[term_t])``.  ``d = D^2`` is the size of the vectorised implicit gradient and
``C_t`` the implicit-gradient noise covariance of Assumption 1:

    C_t = (N - b) / (b (N - 1)) * ( 1/N sum_i g_i g_i^T - G_t G_t^T ),

the covariance of the mean of ``b`` per-sample gradients drawn without replacement from the ``N`` the best
implicit gradient ``G_t = 1/N sum_i g_i`` uses (App. C.4: ``b`` shots below a threshold ``N``).  The per-sample
gradient of demonstration i is its share of Theorem 1's update, ``g_i = N vec(W_V h_i (W_K h_i)^T W_Q (I + W_{t-1}))``,
so that the shares add up to ``G_t`` exactly.

``C_t`` has rank at most N - 1 < d, so ``tr log C_t = -inf`` and the bound as stated is infinite.  Three finite
surrogates are offered, and the notebook compares them:

* ``"diagonal"``: ``C_t`` replaced by its diagonal.  By Hadamard's inequality ``log det C <= sum log C_jj``, so this
  term is *smaller* than the exact one would be: a surrogate, not a bound.
* ``"projected"``: the Gaussian restricted to the support of ``C_t`` (its k nonzero eigenvalues, d -> k).
* ``"ridge"``: ``C_t + eps tr(C_t)/d I`` (isotropic noise added, as Wang and Mao's SGLD analysis has).

Every term is >= 0 by the AM-GM inequality (equal to 0 only when ``G_t = 0`` and the noise is isotropic).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import pandas as pd
import torch

from svd_icl.theory.linear_attention import DTYPE, LinearAttentionStack, trajectory

APPROXIMATIONS = ("diagonal", "projected", "ridge")


def _layers(stack: LinearAttentionStack, H: torch.Tensor):
    """Yield ``(Delta W_t, W_{t-1}, shares)`` for t = 1..L, the shares (N, D, D) summing to ``G_t``.

    Built on Theorem 1's :func:`~svd_icl.theory.trajectory`, which also keeps the demonstrations entering each layer.
    """
    traj = trajectory(stack, H)
    eye = torch.eye(H.shape[0], dtype=DTYPE)
    for t, (W_V, W_K, W_Q) in enumerate(zip(stack.W_V, stack.W_K, stack.W_Q), start=1):
        demos, W_prev = traj.demos[t - 1], traj.W_before(t)
        right = (W_K @ demos).T @ W_Q @ (eye + W_prev)  # (N, D): row i is (W_K h_i)^T W_Q (I + W_{t-1})
        yield traj.delta_W[t - 1], W_prev, (W_V @ demos).T[:, :, None] * right[:, None, :]


def per_sample_gradients(stack: LinearAttentionStack, H: torch.Tensor) -> list[torch.Tensor]:
    """Per layer t = 1..L: (N, D, D) shares ``c_i = W_V h_i (W_K h_i)^T W_Q (I + W_{t-1})``; they sum to ``G_t``."""
    return [shares for _, _, shares in _layers(stack, H)]


def gradient_matrix(shares: torch.Tensor) -> torch.Tensor:
    """The N per-sample gradients of one layer as rows (N, d): ``g_i = N vec(c_i)``, so that they average to ``G_t``."""
    pool = shares.shape[0]
    return pool * shares.reshape(pool, -1)


def noise_covariance(grads: torch.Tensor, shots: int) -> torch.Tensor:
    """Sec. 3.3's ``C_t = (N - b) / (b (N - 1)) (1/N sum_i g_i g_i^T - G_t G_t^T)``, as a d x d matrix, from the
    per-sample gradients (N, d) of :func:`gradient_matrix`. :func:`bound_terms` never forms it (it works with the
    N x N Gram matrix, which has the same nonzero eigenvalues); Assumption 1's check compares draws with it."""
    centered = grads - grads.mean(0)
    return shot_factor(grads.shape[0], shots) * centered.T @ centered / grads.shape[0]


def shot_factor(pool: int, shots: int) -> float:
    """``(N - b) / (b (N - 1))``: the variance of a mean of ``b`` of ``N`` items drawn without replacement."""
    if not 1 <= shots < pool:
        raise ValueError(f"shots b = {shots} must satisfy 1 <= b < N = {pool} (the noise vanishes at b = N)")
    return (pool - shots) / (shots * (pool - 1))


def _log_det_and_dim(centered: torch.Tensor, factor: float, approx: str, ridge: float) -> tuple[float, float, int]:
    """(tr C, log det of the surrogate, its dimension) for ``C = factor * centered^T centered / N``.

    Works with the N x N Gram matrix, never the d x d covariance: the nonzero eigenvalues are the same.
    """
    n, d = centered.shape
    gram_eigs = torch.linalg.eigvalsh(centered @ centered.T / n).clamp_min(0) * factor
    trace = float(gram_eigs.sum())
    if approx == "diagonal":
        diag = (centered**2).sum(0) / n * factor
        floor = 1e-300  # a coordinate no demonstration moves would make the surrogate infinite too
        return trace, float(torch.log(diag.clamp_min(floor)).sum()), d
    if approx == "projected":
        keep = gram_eigs[gram_eigs > gram_eigs.max() * 1e-10]
        return trace, float(torch.log(keep).sum()), int(keep.numel())
    if approx == "ridge":
        eps = ridge * trace / d
        log_det = float(torch.log(gram_eigs + eps).sum()) + (d - n) * math.log(eps)
        return trace + d * eps, log_det, d
    raise ValueError(f"unknown approximation {approx!r}; choose one of {APPROXIMATIONS}")


def bound_terms(
    stack: LinearAttentionStack,
    H: torch.Tensor,
    shots: int,
    approx: str | Sequence[str] = "projected",
    ridge: float = 1e-3,
) -> pd.DataFrame:
    """Theorem 2's ingredients per layer t for one prompt ``H`` whose N demonstrations are the pool.

    Columns: ``delta_W_sq`` = ||Delta W_t||_F^2, ``resid_sq`` = ||I + W_{t-1}||_F^2, ``norm_product`` (their
    product, the Eq. 19 bound on ``G_sq`` = ||G_t||_F^2), ``trace_C``, ``log_det_C`` (of the surrogate), ``dim``
    (d or k) and ``term``; one row per layer and approximation (``approx`` may name several).
    """
    approxes = [approx] if isinstance(approx, str) else list(approx)
    for name in approxes:
        if name not in APPROXIMATIONS:
            raise ValueError(f"unknown approximation {name!r}; choose one of {APPROXIMATIONS}")
    pool = H.shape[1] - 1
    factor = shot_factor(pool, shots)
    eye = torch.eye(H.shape[0], dtype=DTYPE)
    rows = []
    for t, (delta, W_prev, shares) in enumerate(_layers(stack, H), start=1):
        G_sq = float((shares.sum(0) ** 2).sum())
        grads = gradient_matrix(shares)
        centered = grads - grads.mean(0)
        delta_sq = float((delta**2).sum())
        resid_sq = float(((eye + W_prev) ** 2).sum())
        product = delta_sq * resid_sq
        for name in approxes:
            trace, log_det, dim = _log_det_and_dim(centered, factor, name, ridge)
            rows.append(
                {
                    "layer": t,
                    "approx": name,
                    "delta_W_sq": delta_sq,
                    "resid_sq": resid_sq,
                    "norm_product": product,
                    "G_sq": G_sq,
                    "trace_C": trace,
                    "log_det_C": log_det,
                    "dim": dim,
                    "term": dim * math.log((product + trace) / dim) - log_det,
                }
            )
    return pd.DataFrame(rows)


def mean_bound_terms(
    stack: LinearAttentionStack,
    prompts: list[torch.Tensor],
    shots: int,
    approx: str | Sequence[str] = "projected",
    ridge: float = 1e-3,
) -> pd.DataFrame:
    """:func:`bound_terms` averaged over prompts (the expectation over demonstrations in Theorem 2)."""
    frames = [bound_terms(stack, H, shots, approx, ridge) for H in prompts]
    return pd.concat(frames).groupby(["approx", "layer"], as_index=False, sort=False).mean()


def bound_value(terms: pd.DataFrame, pool: int, R: float = 1.0) -> float:
    """``sqrt(R^2 / N * sum_t E[term_t])`` from one approximation's (mean) per-layer terms.

    R is the loss's sub-Gaussian constant, unknown here, so only ratios of values are meaningful.
    """
    if "approx" in terms and terms.approx.nunique() > 1:
        raise ValueError("terms hold several approximations; select one before summing over layers")
    return math.sqrt(R**2 / pool * float(terms.term.sum()))
