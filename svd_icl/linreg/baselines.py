"""Estimators the trained transformer is compared with (Garg et al., Fig. 5a of the paper).

Each takes the prompt (xs (B, n, d), ys (B, n)) and predicts y_i from the first i-1 examples, for every i.
"""

from __future__ import annotations

import torch


def least_squares(xs: torch.Tensor, ys: torch.Tensor) -> torch.Tensor:
    """Minimum-norm least squares (the pseudo-inverse) when underdetermined; 0 before any example."""
    b, n, _ = xs.shape
    preds = torch.zeros(b, n, dtype=xs.dtype)
    for i in range(1, n):
        w = torch.linalg.pinv(xs[:, :i].double()) @ ys[:, :i, None].double()  # (B, d, 1)
        preds[:, i] = (xs[:, i : i + 1].double() @ w)[:, 0, 0].to(xs.dtype)
    return preds


def nearest_neighbours(xs: torch.Tensor, ys: torch.Tensor, k: int = 3) -> torch.Tensor:
    """Mean label of the k nearest previous examples (all of them when fewer than k)."""
    b, n, _ = xs.shape
    preds = torch.zeros(b, n, dtype=xs.dtype)
    for i in range(1, n):
        dist = torch.cdist(xs[:, i : i + 1], xs[:, :i])[:, 0]  # (B, i)
        idx = dist.topk(min(k, i), largest=False).indices
        preds[:, i] = ys[:, :i].gather(1, idx).mean(dim=1)
    return preds


def averaging(xs: torch.Tensor, ys: torch.Tensor) -> torch.Tensor:
    """w_hat = mean of y_j x_j (one step of gradient descent from 0), prediction w_hat . x_i."""
    b, n, _ = xs.shape
    preds = torch.zeros(b, n, dtype=xs.dtype)
    for i in range(1, n):
        w = (ys[:, :i, None] * xs[:, :i]).mean(dim=1)
        preds[:, i] = (w * xs[:, i]).sum(dim=1)
    return preds


def zero(xs: torch.Tensor, ys: torch.Tensor) -> torch.Tensor:
    return torch.zeros_like(ys)


BASELINES = {
    "least squares": least_squares,
    "3-nearest neighbours": nearest_neighbours,
    "averaging": averaging,
    "zero": zero,
}
