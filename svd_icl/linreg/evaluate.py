"""Normalised squared error against the number of in-context examples, with bootstrap bands."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import torch

from svd_icl.linreg.data import generator, sample


@torch.no_grad()
def squared_errors(
    predict: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    d: int,
    n_points: int,
    n_prompts: int = 1280,
    seed: int = 10_000,
    batch: int = 256,
    noise_std: float = 0.0,
) -> torch.Tensor:
    """(n_prompts, n_points) of (prediction - y)^2 / d; column i uses i in-context examples.

    Normalised by d so that the zero estimator scores 1 (E[(w.x)^2] = d). The same prompts for every ``predict``.
    """
    out = []
    for start in range(0, n_prompts, batch):
        xs, ys, _ = sample(min(batch, n_prompts - start), n_points, d, generator(seed, start), noise_std=noise_std)
        out.append((predict(xs, ys) - ys) ** 2 / d)
    return torch.cat(out)


def error_curve(errors: torch.Tensor, level: float = 0.90, resamples: int = 1000, seed: int = 0) -> pd.DataFrame:
    """Mean error per number of examples, with a percentile-bootstrap band over prompts (Garg et al.: 90%)."""
    err = errors.double().numpy()
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(err), (resamples, len(err)))
    boot = err[idx].mean(axis=1)  # (resamples, n_points)
    return pd.DataFrame(
        {
            "examples": np.arange(err.shape[1]),
            "error": err.mean(axis=0),
            "low": np.quantile(boot, (1 - level) / 2, axis=0),
            "high": np.quantile(boot, (1 + level) / 2, axis=0),
        }
    )


def truncation_errors(
    model,
    layers: list[int],
    modules: list[str],
    clip_rates: list[float],
    d: int,
    n_points: int,
    n_prompts: int = 512,
    seed: int = 10_000,
) -> pd.DataFrame:
    """Mean error at n = d and n = 2d examples (and over all n) with one layer's ATTN or MLP truncated.

    Uses :class:`svd_icl.pruning.Pruner` (the GPT-2 registry entry), the same code that prunes language models.
    """
    from svd_icl.pruning import Pruner

    pruner = Pruner(model)
    rows = []
    for layer in layers:
        for module in modules:
            for xi in clip_rates:
                with pruner.truncated(layer, module, xi):
                    err = squared_errors(model, d, n_points, n_prompts, seed)
                mean = err.mean(dim=0)
                rows.append(
                    {
                        "layer": layer % pruner.num_layers,
                        "module": module,
                        "clip_rate": xi,
                        "error_all": float(mean.mean()),
                        "error_at_d": float(mean[min(d, n_points - 1)]),
                        "error_at_2d": float(mean[min(2 * d, n_points - 1)]),
                    }
                )
    return pd.DataFrame(rows)
