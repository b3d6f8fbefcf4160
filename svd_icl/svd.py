"""Exact rank-r truncation by SVD: the operation every experiment of the paper applies.

The paper (Sec. 2) keeps the top ``r`` singular directions of a weight matrix ``W`` (m x n), the
Eckart-Young-Mirsky optimum, with the clip rate ``xi = 1 - r / min(m, n)``.  We decompose each matrix
once with the exact ``torch.linalg.svd`` (not the randomized ``svd_lowrank`` of the authors' code, which
is neither optimal nor seeded) and form every rank of a sweep from the cached factors, which costs one
matrix product instead of a new decomposition.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

# Floating-point slack for the floor in ``rank_for_clip_rate``: 1000 * (1 - 0.9) evaluates to
# 99.99999999999999, and we want 100 there, as the exact rational arithmetic gives.
_FLOOR_SLACK = 1e-9

# The paper's clip-rate grid (Sec. 2.1, Fig. 1); 0 is the unpruned model. The one copy every default uses.
DEFAULT_CLIP_RATES = (0.0, 0.1, 0.5, 0.75, 0.9, 0.95, 0.99, 0.995)


def factorized_params(shape: tuple[int, int], rank: int) -> int:
    """Parameters of an (m x n) matrix stored as rank-r factors, ``r (m + n)`` (the one home of this count)."""
    m, n = shape
    return rank * (m + n)


def check_clip_rate(clip_rate: float) -> float:
    """Return ``clip_rate`` as a float, or raise if it is not in [0, 1)."""
    try:
        xi = float(clip_rate)
    except (TypeError, ValueError):
        raise ValueError(f"clip rate must be a number in [0, 1), got {clip_rate!r}") from None
    if not (0.0 <= xi < 1.0) or math.isnan(xi):
        raise ValueError(
            f"clip rate {clip_rate!r} is outside [0, 1): xi = 1 - r/min(m, n) keeps r >= 1 singular values, "
            "so 0 keeps the full matrix and values close to 1 (e.g. 0.995) keep very few"
        )
    return xi


def rank_for_clip_rate(shape: tuple[int, int], clip_rate: float) -> int:
    """Rank kept at clip rate ``xi`` for a matrix of ``shape``: ``floor(min(m, n) * (1 - xi))``, at least 1.

    The floor follows the authors' code; we never go below rank 1, since the paper's
    ``r`` is a natural number and a rank-0 matrix would delete the layer rather than prune it.
    """
    xi = check_clip_rate(clip_rate)
    k = min(shape)
    return max(1, math.floor(k * (1.0 - xi) + _FLOOR_SLACK))


@dataclass
class SVDFactors:
    """Thin SVD ``W = U diag(S) Vh`` of one matrix, kept to rebuild any rank cheaply.

    Shapes: ``U`` (m, k), ``S`` (k,), ``Vh`` (k, n) with ``k = min(m, n)``; singular values descending.
    """

    U: torch.Tensor
    S: torch.Tensor
    Vh: torch.Tensor

    @property
    def shape(self) -> tuple[int, int]:
        return (self.U.shape[0], self.Vh.shape[1])

    def rank_for(self, clip_rate: float) -> int:
        return rank_for_clip_rate(self.shape, clip_rate)

    def reconstruct(self, rank: int) -> torch.Tensor:
        """Best rank-``rank`` approximation in the factors' dtype; shape (m, n)."""
        if not 1 <= rank <= self.S.numel():
            raise ValueError(f"rank {rank} outside [1, {self.S.numel()}] for a {self.shape} matrix")
        return (self.U[:, :rank] * self.S[:rank]) @ self.Vh[:rank]

    def at_clip_rate(self, clip_rate: float) -> torch.Tensor:
        return self.reconstruct(self.rank_for(clip_rate))

    def dropped_energy(self, rank: int) -> float:
        """Frobenius error of the rank-``rank`` approximation: sqrt of the sum of dropped sigma^2."""
        return float(torch.sqrt(torch.sum(self.S[rank:] ** 2)))


def decompose(weight: torch.Tensor, dtype: torch.dtype = torch.float32) -> SVDFactors:
    """Exact thin SVD of ``weight`` computed in ``dtype`` (float32 or float64), on the weight's device.

    fp16/bf16 weights are upcast: LAPACK/cuSOLVER have no half-precision SVD, and the small singular
    values that the clip rate cuts are exactly the ones half precision loses.

    A wide matrix (m < n, e.g. an MLP down-projection) is decomposed as its transpose: LAPACK's divide-and-
    conquer SVD on this project's CPUs takes 3-4x longer on the wide orientation of the same matrix
    (``benchmarks/bench_svd.py`` prints the ratio); the factors are the same up to the signs of singular pairs.
    """
    if dtype not in (torch.float32, torch.float64):
        raise ValueError(f"SVD dtype must be torch.float32 or torch.float64, got {dtype}")
    if weight.ndim != 2:
        raise ValueError(f"expected a 2-D weight matrix, got shape {tuple(weight.shape)}")
    w = weight.detach().to(dtype)
    if w.shape[0] < w.shape[1]:  # decompose the tall transpose: W^T = U' S Vh' gives W = Vh'^T S U'^T
        U, S, Vh = torch.linalg.svd(w.T, full_matrices=False)
        return SVDFactors(U=Vh.T, S=S, Vh=U.T)
    U, S, Vh = torch.linalg.svd(w, full_matrices=False)
    return SVDFactors(U=U, S=S, Vh=Vh)


def truncate_matrix(weight: torch.Tensor, clip_rate: float, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Rank-r truncation of one matrix at ``clip_rate``, returned in the weight's own dtype."""
    factors = decompose(weight, dtype=dtype)
    return factors.at_clip_rate(clip_rate).to(weight.dtype)
