"""Uncertainty for accuracies measured on subsampled test sets."""

from __future__ import annotations

import numpy as np
from scipy.stats import norm


def wilson_interval(
    accuracy: np.ndarray | float, n: np.ndarray | int, level: float = 0.95
) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval for a binomial proportion (better than the normal interval near 0 and 1)."""
    p = np.asarray(accuracy, dtype=float)
    n = np.asarray(n, dtype=float)
    z = norm.ppf(0.5 + level / 2)
    centre = (p + z**2 / (2 * n)) / (1 + z**2 / n)
    half = z * np.sqrt(p * (1 - p) / n + z**2 / (4 * n**2)) / (1 + z**2 / n)
    return centre - half, centre + half


def bootstrap_interval(
    values: np.ndarray, level: float = 0.95, resamples: int = 2000, seed: int = 0
) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of per-example ``values`` (e.g. 0/1 correctness)."""
    rng = np.random.default_rng(seed)
    values = np.asarray(values, dtype=float)
    means = values[rng.integers(0, len(values), (resamples, len(values)))].mean(axis=1)
    return float(np.quantile(means, (1 - level) / 2)), float(np.quantile(means, (1 + level) / 2))


def paired_bootstrap(
    labels: np.ndarray,
    pred_a: np.ndarray,
    pred_b: np.ndarray,
    metric,
    level: float = 0.95,
    resamples: int = 2000,
    seed: int = 0,
) -> tuple[float, float]:
    """Interval for ``metric(labels, pred_b) - metric(labels, pred_a)`` resampling examples jointly (paired)."""
    rng = np.random.default_rng(seed)
    labels, pred_a, pred_b = map(np.asarray, (labels, pred_a, pred_b))
    diffs = []
    for _ in range(resamples):
        idx = rng.integers(0, len(labels), len(labels))
        diffs.append(metric(labels[idx], pred_b[idx]) - metric(labels[idx], pred_a[idx]))
    return float(np.quantile(diffs, (1 - level) / 2)), float(np.quantile(diffs, (1 + level) / 2))


def accuracy(labels: np.ndarray, pred: np.ndarray) -> float:
    return float(np.mean(np.asarray(labels) == np.asarray(pred)))


def macro_f1(labels: np.ndarray, pred: np.ndarray, classes: list[int] | None = None) -> float:
    """Macro-F1 over ``classes`` (default: those present in ``labels`` or ``pred``); a tie, -1, predicts no class."""
    labels, pred = np.asarray(labels), np.asarray(pred)
    if classes is None:
        classes = sorted(set(labels.tolist()) | {p for p in pred.tolist() if p >= 0})
    f1s = []
    for c in classes:
        tp = np.sum((pred == c) & (labels == c))
        denom = 2 * tp + np.sum((pred == c) & (labels != c)) + np.sum((pred != c) & (labels == c))
        f1s.append(2 * tp / denom if denom else 0.0)
    return float(np.mean(f1s))


METRICS = {"accuracy": accuracy, "macro_f1": macro_f1}
