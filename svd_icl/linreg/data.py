"""Prompts for in-context linear regression: x ~ N(0, I_d), w ~ N(0, I_d) per prompt, y = w.x (+ noise).

Each step's batch comes from a generator seeded by (seed, step), so training that resumes at step s sees
exactly the batches an uninterrupted run would.
"""

from __future__ import annotations

import torch


def generator(seed: int, step: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed * 1_000_003 + step)


def sample(
    batch: int,
    n_points: int,
    d: int,
    gen: torch.Generator,
    active_dims: int | None = None,
    noise_std: float = 0.0,
    on_sphere: bool = False,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``xs`` (batch, n_points, d), ``ys`` (batch, n_points), ``w`` (batch, d).

    ``active_dims`` < d zeroes the trailing coordinates of x (Garg et al.'s dimension curriculum).
    ``on_sphere`` rescales each x to norm sqrt(d): same second moments (the zero estimator still scores 1),
    no norm outliers.
    """
    xs = torch.randn(batch, n_points, d, generator=gen)
    if on_sphere:
        xs = xs * (d**0.5 / torch.linalg.norm(xs, dim=-1, keepdim=True))
    if active_dims is not None and active_dims < d:
        xs[:, :, active_dims:] = 0.0
    w = torch.randn(batch, d, generator=gen)
    ys = torch.einsum("bnd,bd->bn", xs, w)
    if noise_std > 0:
        ys = ys + noise_std * torch.randn(ys.shape, generator=gen)
    return xs, ys, w
