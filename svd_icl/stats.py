"""Uncertainty for accuracies measured on subsampled test sets, and paired tests between settings."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.stats import binomtest, norm, wilcoxon
from statsmodels.stats.multitest import multipletests


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


def majority_rate(labels: np.ndarray) -> float:
    """Share of the most frequent label: what always answering it scores (a skewed split's honest baseline)."""
    labels = np.asarray(labels)
    if not len(labels):
        return float("nan")
    return float(np.bincount(labels[labels >= 0]).max() / len(labels))


def predicted_shares(pred: np.ndarray, num_classes: int) -> list[float]:
    """Share of queries predicted as each class 0..num_classes-1 (ties, -1, count for none)."""
    pred = np.asarray(pred)
    if not len(pred):
        return [float("nan")] * num_classes
    return [float(np.mean(pred == c)) for c in range(num_classes)]


@dataclass(frozen=True)
class PairedComparison:
    """Setting B against setting A on the same queries: mean difference B - A, its 95% interval and p-value.

    For 0/1 correctness the p-value is the exact McNemar test (a binomial test on the discordant pairs); for
    per-query values in [0, 1] (e.g. correctness averaged over several settings) it is the Wilcoxon signed-rank
    test. The interval is a paired percentile bootstrap of the mean difference.
    """

    difference: float
    low: float
    high: float
    p_value: float
    n: int
    a_better: int  # queries where A scores more than B (discordant pairs for 0/1 values)
    b_better: int
    test: str


def paired_comparison(
    a: np.ndarray, b: np.ndarray, level: float = 0.95, resamples: int = 4000, seed: int = 0
) -> PairedComparison:
    """Compare per-query values ``b`` with ``a`` (same queries, same order); see :class:`PairedComparison`."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f"paired values must be two 1-d arrays of one length, got shapes {a.shape} and {b.shape}")
    if not len(a):
        raise ValueError("paired comparison of zero queries")
    d = b - a
    a_better, b_better = int((d < 0).sum()), int((d > 0).sum())
    binary = set(np.unique(a)) <= {0.0, 1.0} and set(np.unique(b)) <= {0.0, 1.0}
    if a_better + b_better == 0:
        p, test = 1.0, "none (no query differs)"
    elif binary:
        p, test = float(binomtest(b_better, a_better + b_better, 0.5).pvalue), "exact McNemar"
    else:
        p, test = float(wilcoxon(d[d != 0]).pvalue), "Wilcoxon signed-rank"
    rng = np.random.default_rng(seed)
    means = d[rng.integers(0, len(d), (resamples, len(d)))].mean(axis=1)
    low, high = np.quantile(means, [(1 - level) / 2, (1 + level) / 2])
    return PairedComparison(float(d.mean()), float(low), float(high), p, len(d), a_better, b_better, test)


def holm(p_values: list[float] | np.ndarray) -> np.ndarray:
    """Holm-adjusted p-values (family-wise error control over all of them), in the input order."""
    p = np.asarray(p_values, dtype=float)
    if not len(p):
        return p
    return multipletests(p, method="holm")[1]
