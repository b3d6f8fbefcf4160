"""Theorem 2 against what it bounds, and its Assumption 1 against the noise it describes (Sec. 3.3).

Theorem 2 bounds the *expected generalization error* of the implicit learner: the population loss of what the
model learned from the N demonstrations minus its empirical loss on those same demonstrations. For the trained
Eq. (3) toy both are measurable: the model predicts a fresh query of the prompt's task (population) and each
demonstration's own label with the demonstrations in context (empirical). :func:`generalization_gaps` measures
them per prompt; :func:`gap_vs_bound` sets the mean gap, with its interval, beside the bound's finite surrogates
(:mod:`svd_icl.theory.bound`).

The bound needs ``R``, the loss's sub-Gaussian constant, which is unknown. We use the standard deviation of the
per-query loss, ``R_hat``: every sigma-sub-Gaussian variable has variance at most sigma^2, so the true ``R`` is at
least ``R_hat`` and a bound that holds with ``R_hat`` holds with any valid ``R``; one that fails with ``R_hat``
fails the check as computed, and the factor ``R`` would need is reported.

Assumption 1 says the implicit-gradient noise ``V_t = G_t - G~_t`` (the best gradient from all N demonstrations
minus the one from the b shown) is Gaussian with covariance ``C_t``. :func:`noise_samples` draws ``V_t`` by drawing
b of the N demonstrations; :func:`gaussianity` tests it (Mardia's multivariate skewness and kurtosis, and
Shapiro-Wilk along the leading principal directions, Holm-adjusted) and compares its covariance with ``C_t``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd
import torch
from scipy.stats import chi2, norm, shapiro

from svd_icl.stats import holm
from svd_icl.theory.bound import (
    bound_value,
    gradient_matrix,
    mean_bound_terms,
    noise_covariance,
    per_sample_gradients,
)
from svd_icl.theory.linear_attention import DTYPE, LinearAttentionStack
from svd_icl.theory.toy import held_out_prompts, prompts

Predict = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]  # xs (P, N+1, d), ys (P, N) -> (P,)


@torch.no_grad()
def generalization_gaps(
    predict: Predict, d: int, num_demos: int, n_prompts: int = 200, n_fresh: int = 50, seed: int = 30_000
) -> pd.DataFrame:
    """Per prompt: ``population`` (mean loss on ``n_fresh`` fresh queries of the prompt's task), ``empirical``
    (mean loss on its ``num_demos`` demonstrations, each predicted with all of them in context) and ``gap``.

    Loss: squared error over ``d`` (the zero estimator scores 1), as in :func:`svd_icl.theory.toy.icl_errors`.
    """
    xs, ys = held_out_prompts(d, num_demos + n_fresh - 1, n_prompts, seed)  # one task per prompt
    demo_x, demo_y = xs[:, :num_demos], ys[:, :num_demos]
    query_x, query_y = xs[:, num_demos:], ys[:, num_demos:]

    def losses(qx: torch.Tensor, qy: torch.Tensor) -> torch.Tensor:  # qx (P, Q, d) -> (P, Q)
        P, Q = qy.shape
        context = demo_x[:, None].expand(P, Q, num_demos, d)
        batch_x = torch.cat([context, qx[:, :, None]], dim=2).reshape(P * Q, num_demos + 1, d)
        batch_y = demo_y[:, None].expand(P, Q, num_demos).reshape(P * Q, num_demos)
        return ((predict(batch_x, batch_y).reshape(P, Q) - qy) ** 2 / d).double()

    population, empirical = losses(query_x, query_y), losses(demo_x, demo_y)
    return pd.DataFrame(
        {
            "population": population.mean(1).numpy(),
            "empirical": empirical.mean(1).numpy(),
            "gap": (population.mean(1) - empirical.mean(1)).numpy(),
            "loss_std": population.std(1).numpy(),
        }
    )


def summarize_gap(gaps: pd.DataFrame, level: float = 0.95) -> dict:
    """Mean gap with a normal-approximation interval over prompts, and ``R_hat`` (pooled per-query loss std)."""
    n = len(gaps)
    half = norm.ppf((1 + level) / 2) * gaps.gap.std(ddof=1) / math.sqrt(n)
    return {
        "gap": float(gaps.gap.mean()),
        "gap_low": float(gaps.gap.mean() - half),
        "gap_high": float(gaps.gap.mean() + half),
        "population": float(gaps.population.mean()),
        "empirical": float(gaps.empirical.mean()),
        "R_hat": float(np.sqrt((gaps.loss_std**2).mean())),
    }


def gap_vs_bound(
    cases: dict[str, tuple[Predict, LinearAttentionStack]],
    d: int,
    pool: int,
    shots: Sequence[int],
    approximations: Sequence[str],
    n_prompts: int = 200,
    n_bound_prompts: int = 30,
) -> pd.DataFrame:
    """One row per (case, shots, approximation): the measured gap with ``b = shots`` demonstrations in context and
    Theorem 2's surrogate bound for that ``b`` (pool ``N``), with ``R = 1`` and ``R = R_hat``; ``holds`` when the
    bound with ``R_hat`` is at least the gap's upper interval end; ``R_needed`` = the ``R`` at which the bound
    equals the gap's mean; ``looseness`` = bound / gap.

    ``cases`` maps a name (e.g. "unpruned", "layer 1 V xi = 0.9") to the model's prediction function and its exact
    Eq. (3) stack.
    """
    xs, ys = held_out_prompts(d, pool, n_bound_prompts, seed=20_000)
    Hs = list(prompts(xs.to(DTYPE), ys[:, :-1].to(DTYPE)))
    rows = []
    for name, (predict, stack) in cases.items():
        for b in shots:
            measured = summarize_gap(generalization_gaps(predict, d, b, n_prompts))
            terms = mean_bound_terms(stack, Hs, b, approximations)
            for approx, t in terms.groupby("approx", sort=False):
                unit = bound_value(t, pool)  # R = 1
                bound = unit * measured["R_hat"]
                rows.append({"case": name, "shots": b, "approx": approx, **measured, "bound_R1": unit,
                             "bound": bound, "holds": bound >= measured["gap_high"],
                             "R_needed": measured["gap"] / unit if unit > 0 else math.inf,
                             "looseness": bound / measured["gap"] if measured["gap"] > 0 else math.inf})  # fmt: skip
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------------------------------------------------
# Assumption 1.


def noise_samples(
    stack: LinearAttentionStack, H: torch.Tensor, shots: int, n_samples: int = 2000, seed: int = 0
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per layer t: ``(V, C)``: ``n_samples`` draws of ``V_t = G_t - G~_t`` (b = ``shots`` of the pool's N
    per-sample gradients, without replacement; vectorised, shape (n_samples, d)) and Sec. 3.3's ``C_t`` (d, d)."""
    pool = H.shape[1] - 1
    if not 1 <= shots < pool:
        raise ValueError(f"shots {shots} must be in 1..{pool - 1} (the pool has N = {pool} demonstrations)")
    rng = np.random.default_rng(seed)
    picks = np.stack([rng.choice(pool, shots, replace=False) for _ in range(n_samples)])
    out = []
    for shares in per_sample_gradients(stack, H):
        grads = gradient_matrix(shares)
        V = (grads.mean(0) - grads[picks].mean(1)).numpy()
        out.append((V, noise_covariance(grads, shots).numpy()))
    return out


def mardia(X: np.ndarray) -> dict:
    """Mardia's multivariate skewness and kurtosis tests of normality for a sample ``X`` (n, k), n > k.

    Hand-written (a dozen lines of the textbook formulas) because neither scipy nor statsmodels has it and pingouin
    would be a dependency for one function. Skewness: ``n b1 / 6 ~ chi2(k (k+1)(k+2)/6)``; kurtosis:
    ``(b2 - k(k+2)) / sqrt(8 k (k+2) / n) ~ N(0, 1)``.
    """
    n, k = X.shape
    if n <= k:
        raise ValueError(f"Mardia's test needs more samples than dimensions, got n = {n}, k = {k}")
    Z = X - X.mean(0)
    S = Z.T @ Z / n
    M = Z @ np.linalg.solve(S, Z.T)
    b1 = float((M**3).sum() / n**2)
    b2 = float((np.diag(M) ** 2).mean())
    skew_p = float(chi2.sf(n * b1 / 6, k * (k + 1) * (k + 2) / 6))
    kurt_z = (b2 - k * (k + 2)) / math.sqrt(8 * k * (k + 2) / n)
    return {"skewness": b1, "skew_p": skew_p, "kurtosis": b2, "kurt_p": float(2 * norm.sf(abs(kurt_z)))}


def leading_projections(V: np.ndarray, C: np.ndarray, directions: int) -> np.ndarray:
    """Centred noise draws ``V`` (n, d) projected on the ``directions`` leading eigenvectors of ``C`` (n, k)."""
    evals, evecs = np.linalg.eigh(C)
    return (V - V.mean(0)) @ evecs[:, np.argsort(evals)[::-1][:directions]]


def gaussianity(V: np.ndarray, C: np.ndarray, directions: int = 5, alpha: float = 0.05) -> dict:
    """Assumption 1 for one layer's noise draws ``V`` (n, d) and its ``C_t``: Mardia on the projections onto the
    ``directions`` leading eigenvectors of ``C`` (where the noise lives: ``C`` has rank < N), Shapiro-Wilk along
    each of them (Holm), the largest |skewness| and |excess kurtosis| over the directions with their standard
    errors under normality (the effect sizes :func:`svd_icl.claims.assumption1_verdicts` decides on), and
    ``cov_rel_error`` = ||cov(V) - C||_F / ||C||_F (0 up to sampling error when ``C_t``
    is the noise's covariance). ``gaussian`` is False when any normality test rejects at ``alpha``."""
    from scipy.stats import kurtosis, skew

    proj = leading_projections(V, C, directions)
    m = mardia(proj)
    n = len(proj)
    moments = {
        "max_abs_skew": float(np.abs(skew(proj, axis=0)).max()),
        "max_abs_kurtosis": float(np.abs(kurtosis(proj, axis=0)).max()),
        "skew_se": float(np.sqrt(6 * n * (n - 1) / ((n - 2) * (n + 1) * (n + 3)))),
        "kurtosis_se": float(np.sqrt(24 * n * (n - 1) ** 2 / ((n - 3) * (n - 2) * (n + 3) * (n + 5)))),
    }
    sw = holm([shapiro(proj[:5000, j]).pvalue for j in range(proj.shape[1])])
    cov = np.cov(V, rowvar=False, bias=True)
    rel = float(np.linalg.norm(cov - C) / np.linalg.norm(C)) if np.linalg.norm(C) > 0 else float("nan")
    p_min = min(m["skew_p"], m["kurt_p"], float(sw.min()))
    return {
        **m,
        **moments,
        "shapiro_p_holm_min": float(sw.min()),
        "cov_rel_error": rel,
        "gaussian": bool(p_min >= alpha),
    }


def assumption1_table(stack: LinearAttentionStack, H: torch.Tensor, shots: int, n_samples: int = 2000,
                      directions: int = 5, seed: int = 0) -> tuple[pd.DataFrame, dict[int, np.ndarray]]:  # fmt: skip
    """:func:`gaussianity` per layer t (one row each) and, per layer, the noise projected on ``C_t``'s leading
    direction (for a Q-Q plot)."""
    directions = min(directions, H.shape[1] - 2)  # the noise spans at most N - 1 directions
    rows, leading = [], {}
    for t, (V, C) in enumerate(noise_samples(stack, H, shots, n_samples, seed), start=1):
        rows.append({"t": t, "directions": directions, **gaussianity(V, C, directions)})
        leading[t] = leading_projections(V, C, 1)[:, 0]
    return pd.DataFrame(rows), leading
