"""The decision core every verdict of the book shares: outcomes, margins, simultaneous intervals, power.

One rule decides every quantitative claim (:func:`decide`): with the effect's interval *adjusted for the family of
comparisons the claim's status aggregates* (level ``1 - alpha/m``),

- ``HOLDS`` when the interval lies above zero in the claimed direction (and, for a gain, the reference prompt is
  not degenerate: :func:`degenerate`);
- ``DOES NOT HOLD`` only when the interval lies below the claim's *smallest effect of interest* (its margin): the
  data exclude an effect as large as the claim needs;
- ``UNDETERMINED`` otherwise: the data cannot tell, and :func:`detectable_effect` says how large an effect the test
  could have detected at 80% power.

Absence of evidence is never reported as evidence of absence: a non-significant result whose interval still
reaches the margin is ``UNDETERMINED``, whatever its point estimate.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.stats import norm

__all__ = [
    "ALPHA",
    "DEGENERATE",
    "FAILS",
    "HOLDS",
    "Interval",
    "MARGINS",
    "OUTCOMES",
    "PARTLY",
    "POWER",
    "REFUTED",
    "REPRODUCED",
    "STATUSES",
    "STATUS_UNDETERMINED",
    "UNDETERMINED",
    "check_outcomes",
    "decide",
    "degenerate",
    "detectable_correlation",
    "detectable_effect",
    "detectable_share",
    "family_level",
    "fmt_p",
    "gain_outcome",
    "interval_p",
    "outcome_status",
    "paired_interval",
    "power_note",
    "rho_interval",
    "rho_p",
]
HOLDS, FAILS, UNDETERMINED = "holds", "does not hold", "undetermined"
DEGENERATE = "recovery from a degenerate prompt"
OUTCOMES = (HOLDS, FAILS, UNDETERMINED, DEGENERATE)
ALPHA = 0.05
POWER = 0.8

# Smallest effects of interest, in accuracy (a share): a claim is refuted only when its interval excludes these.
MARGINS = {
    "gain": 0.02,  # "truncation raises accuracy": +2 points (the paper's Tables 2-8 median change is under +1)
    "depth": 0.02,  # "deep layers are more stable than shallow ones": +2 points
    "shots": 0.02,  # "accuracy grows with shots": +2 points
    "collapse": 0.10,  # "collapse to chance": within 10 points of max(1/K, majority rate) (an equivalence band;
    # at 5 points an equivalence test would need about 600 queries per point)
    "degenerate": 0.02,  # a reference within 2 points of the baseline is a degenerate prompt
    "toy_gain": 0.01,  # "a truncation lowers the trained toy's ICL error": by 1% of the unpruned error
    "rho": 0.1,  # a rank correlation claimed positive (condition number vs gain): Cohen's "small" correlation
    "share": 0.1,  # "in most layers" (Figure 3's sign test): a share of 60% of the layers, 10 points over one half
}

# Summary statuses, from per-case outcomes (each already adjusted within the claim's family).
REPRODUCED, PARTLY, REFUTED, STATUS_UNDETERMINED = "reproduced", "partly", "not reproduced", "undetermined"
STATUSES = (REPRODUCED, PARTLY, REFUTED, STATUS_UNDETERMINED)


def family_level(m: int, alpha: float = ALPHA) -> float:
    """Confidence level of each of ``m`` simultaneous intervals (Bonferroni): ``1 - alpha / m``."""
    if m < 1:
        raise ValueError(f"family size m must be >= 1, got {m}")
    return 1.0 - alpha / m


def _pseudo(d: np.ndarray) -> np.ndarray:
    """``d`` with one pseudo-query of +1 and one of -1 added: the Bonett-Price adjustment for paired proportions,
    which keeps an interval honest (not of zero width) when no query, or only a few, differ."""
    return np.concatenate([np.asarray(d, dtype=float), [1.0, -1.0]])


@dataclass(frozen=True)
class Interval:
    """A paired effect (mean of per-query differences b - a) with its interval at ``level``."""

    difference: float
    low: float
    high: float
    level: float
    n: int


def paired_interval(a: np.ndarray, b: np.ndarray, m: int = 1, alpha: float = ALPHA) -> Interval:
    """Simultaneous (1 - alpha/m) interval for the mean of ``b - a`` over the same queries.

    Adjusted Wald (Bonett-Price for 0/1 values; the same pseudo-queries for averaged values) rather than a
    bootstrap: a bootstrap's tail quantile at ``alpha/m = 0.001`` needs tens of thousands of resamples and is
    degenerate when no query differs.
    """
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.shape != b.shape or a.ndim != 1 or not len(a):
        raise ValueError(f"paired values must be two non-empty 1-d arrays of one length, got {a.shape}, {b.shape}")
    d = b - a
    adj = _pseudo(d)
    centre = float(adj.mean())
    se = float(np.sqrt(max(adj.var(), 1e-300) / len(adj)))
    level = family_level(m, alpha)
    z = norm.ppf(0.5 + level / 2)
    return Interval(float(d.mean()), centre - z * se, centre + z * se, level, len(d))


def interval_p(interval: Interval, m: int = 1, null: float = 0.0) -> float:
    """The adjusted p-value dual to :func:`paired_interval`'s simultaneous interval: the two-sided p of the same
    adjusted-Wald statistic against ``null`` (0: no effect; a margin for a claim decided against its margin), times
    ``m`` (Bonferroni, capped at 1). It is below ``alpha`` exactly when the interval at level ``1 - alpha/m``
    excludes ``null``, so the p and the interval a record line states never disagree. (The exact McNemar / Wilcoxon
    p, Holm-adjusted, stays in the chapters' tables; for averaged per-query values Wilcoxon tests a location other
    than the mean, and near the edge the two can point different ways.)"""
    z = norm.ppf(0.5 + interval.level / 2)
    centre, se = (interval.low + interval.high) / 2, (interval.high - interval.low) / (2 * z)
    return float(min(1.0, m * 2 * norm.sf(abs(centre - null) / se)))


def _fisher_z(rho: float) -> float:
    """Fisher's z of a correlation, clipped short of +/-1 so that a perfect rank order stays finite."""
    return float(np.arctanh(np.clip(rho, -0.9999999, 0.9999999)))


def _rho_se(rho: float, n: int) -> float:
    """Standard error of Fisher's z of a Spearman rho over ``n`` pairs, Bonett and Wright's (2000)
    ``sqrt((1 + rho^2 / 2) / (n - 3))``: Pearson's ``1 / sqrt(n - 3)`` understates a rank correlation's spread."""
    if n < 4:
        raise ValueError(f"a rank correlation's interval needs at least 4 pairs, got n = {n}")
    return float(np.sqrt((1 + rho**2 / 2) / (n - 3)))


def rho_interval(rho: float, n: int, m: int = 1, alpha: float = ALPHA) -> tuple[float, float]:
    """Simultaneous (1 - alpha/m) interval of a Spearman rho over ``n`` pairs (e.g. layers): Fisher's z with
    :func:`_rho_se`, back-transformed. Used where the pairs themselves are the sample (condition number against
    layer index); where each pair is a noisy estimate, resample instead (:func:`svd_icl.claims.fig4.condition_gain`)."""
    z, half = _fisher_z(rho), norm.ppf(0.5 + family_level(m, alpha) / 2)
    se = _rho_se(rho, n)
    return float(np.tanh(z - half * se)), float(np.tanh(z + half * se))


def rho_p(rho: float, n: int, m: int = 1) -> float:
    """The adjusted p dual to :func:`rho_interval`: below ``alpha`` exactly when that interval excludes 0."""
    return float(min(1.0, m * 2 * norm.sf(abs(_fisher_z(rho)) / _rho_se(rho, n))))


def detectable_effect(a: np.ndarray, b: np.ndarray, m: int = 1, alpha: float = ALPHA, power: float = POWER) -> float:
    """Minimum detectable effect: the smallest mean difference a two-sided paired test at ``alpha/m`` detects with
    probability ``power`` at this n, given the observed discordance (per-query spread of ``b - a``).

    For 0/1 answers this is ``(z_{1-alpha/2m} + z_power) * sqrt(p_discordant / n)``, the normal approximation of
    exact McNemar's power.
    """
    d = _pseudo(np.asarray(b, dtype=float) - np.asarray(a, dtype=float))
    spread = float(np.sqrt(np.mean(d**2)))
    z = norm.ppf(1 - alpha / (2 * m)) + norm.ppf(power)
    return z * spread / np.sqrt(len(d))


def detectable_correlation(n: int, m: int = 1, alpha: float = ALPHA, power: float = POWER) -> float:
    """The smallest rank correlation a two-sided test at ``alpha/m`` detects with probability ``power`` over ``n``
    pairs (e.g. layers): Fisher's z, ``tanh((z_{1-alpha/2m} + z_power) / sqrt(n - 3))``. For Spearman's rho this
    slightly flatters the test (its z has about 1.06 times Pearson's variance), so the true detectable rho is a
    little larger. ``nan`` below 4 pairs, where no such test exists."""
    if n < 4:
        return float("nan")
    z = norm.ppf(1 - alpha / (2 * m)) + norm.ppf(power)
    return float(np.tanh(z / np.sqrt(n - 3)))


def detectable_share(n: int, m: int = 1, alpha: float = ALPHA, power: float = POWER) -> float:
    """The smallest share of ``n`` units (e.g. layers) a two-sided sign test against one half at ``alpha/m`` detects
    with probability ``power``: ``1/2 + (z_{1-alpha/2m} + z_power) / (2 sqrt(n))`` (normal approximation), capped
    at 1."""
    z = norm.ppf(1 - alpha / (2 * m)) + norm.ppf(power)
    return float(min(1.0, 0.5 + z / (2 * np.sqrt(n))))


def decide(low: float, high: float, margin: float, sign: int = 1) -> str:
    """The shared rule (see the module docstring) on an adjusted interval, for a claim of direction ``sign``
    (+1: the effect is claimed positive; -1: negative) with smallest effect of interest ``margin`` (> 0)."""
    if margin <= 0:
        raise ValueError(f"margin must be > 0 (a smallest effect of interest), got {margin}")
    lo, hi = (low, high) if sign > 0 else (-high, -low)
    if lo > 0:
        return HOLDS
    if hi < margin:
        return FAILS
    return UNDETERMINED


def degenerate(unpruned: float, baseline: float, zero_shot: float | None = None, margin: float | None = None) -> bool:
    """Is a gain's reference a degenerate prompt? Its accuracy is within ``margin`` of the answer-ignoring baseline
    (max of 1/K and the majority rate), or below the same model's 0-shot accuracy on the same queries: a gain from
    there is the truncation undoing a bad prompt, not better in-context learning."""
    margin = MARGINS["degenerate"] if margin is None else margin
    if unpruned <= baseline + margin:
        return True
    return zero_shot is not None and unpruned < zero_shot


def gain_outcome(interval: Interval, margin: float, is_degenerate: bool) -> str:
    """:func:`decide` for a claimed gain, with the degenerate-prompt guard: a would-be ``HOLDS`` from a degenerate
    reference is ``DEGENERATE``."""
    outcome = decide(interval.low, interval.high, margin)
    return DEGENERATE if outcome == HOLDS and is_degenerate else outcome


def check_outcomes(outcomes) -> list[str]:
    outcomes = list(outcomes)
    for o in outcomes:
        if o not in OUTCOMES:
            raise ValueError(f"outcome {o!r} not one of {OUTCOMES}")
    return outcomes


def outcome_status(outcomes) -> str:
    """A claim's summary status from its cases' outcomes (each already adjusted within the claim's family):
    every case holds -> reproduced; some -> partly; none holds and some is refuted -> not reproduced; else
    (every case undetermined or degenerate) -> undetermined."""
    outcomes = check_outcomes(outcomes)
    if outcomes and all(o == HOLDS for o in outcomes):
        return REPRODUCED
    if any(o == HOLDS for o in outcomes):
        return PARTLY
    if any(o == FAILS for o in outcomes):
        return REFUTED
    return STATUS_UNDETERMINED


def fmt_p(p: float) -> str:
    return "p < 0.001" if p < 0.001 else f"p = {p:.3f}"


def power_note(mde: float, reported: float | None = None, n: int | None = None, unit: str = "points") -> str:
    """'n = 277 detects +7.9 points or more; the paper reports +1.8': the sentence an undetermined outcome needs."""
    scale = 100 if unit == "points" else 1
    text = (f"n = {n} " if n is not None else "this test ") + f"detects {mde * scale:+.1f} {unit} or more"
    if reported is not None and np.isfinite(reported):
        text += f"; the paper reports {reported * scale:+.1f}"
        if mde > abs(reported):
            text += " (smaller than this test can detect)"
    return text
