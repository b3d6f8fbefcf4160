"""Demonstration sets as a sampling unit: the interval of an effect over prompts, the sequential looks that add
sets, and the guard that sets a degenerate prompt aside.

A claim about the method ("truncation raises few-shot accuracy") generalises over two sources of variation: the
queries and the demonstration sets. A confirmation therefore scores *fresh* demonstration sets (disjoint from the
search's and from each other) and treats each as a unit drawn from the population of prompts:

- **nested design** (:func:`nested_interval`): each set is scored on its own block of held-out queries. Set ``j``'s
  effect ``d_j`` (selected minus unpruned accuracy on its block) then varies by the set *and* by its queries, the
  ``d_j`` are independent, and the two-stage random-effects interval is a t-interval over them with ``J - 1``
  degrees of freedom. Used wherever the test split holds enough queries.
- **crossed design** (:func:`crossed_interval`): every set scores the same queries (small test splits: RTE, CB,
  COPA). The variance of the grand mean of the ``n x J`` table of per-query differences is estimated from its
  two-way mean squares, ``(MS_queries + MS_sets) / (n J)`` (conservative: it counts the residual twice), with
  Satterthwaite's degrees of freedom.

Either way ``tau`` (the between-set standard deviation of the effect) and ``I^2`` (the share of the per-set
effects' spread that is between sets) are reported beside the per-set effects, and the detectable effect comes from
the same variance.

**Sequential looks** (:class:`Looks`): sets are added in looks (e.g. 8, 16, 32); look ``k`` states its interval at
level ``1 - alpha_k / m`` with ``alpha_k = alpha J_k / sum(J)`` (alpha spent in proportion to the sets each look
has). The ``alpha_k`` sum to ``alpha``, so by the union bound every interval stated at every look, of every case in
the family, covers at once with probability at least ``1 - alpha``: a case may stop at the first look that decides
it, or when a time budget runs out, and the interval it states keeps its level (``tests/test_sets.py`` checks it by
simulation).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.stats import t as student

from svd_icl.claims.core import ALPHA, MARGINS, POWER, paired_interval
from svd_icl.stats import wilson_interval

NESTED, CROSSED = "nested", "crossed"


@dataclass(frozen=True)
class SetEstimate:
    """An effect over demonstration sets: the mean of the per-set effects with its interval at ``level``."""

    effects: tuple[float, ...]  # per set (selected minus unpruned accuracy)
    difference: float
    low: float
    high: float
    level: float
    se: float
    df: float
    tau: float  # between-set standard deviation of the effect
    i2: float  # share of the per-set effects' variance that is between sets
    queries: int  # per set
    design: str

    @property
    def sets(self) -> int:
        return len(self.effects)

    def p(self, m: int = 1, null: float = 0.0) -> float:
        """The two-sided t p-value against ``null``, times ``m``: below ``1 - level`` exactly when the interval
        excludes ``null`` (the interval is ``difference +/- t se`` at the same degrees of freedom)."""
        return float(min(1.0, m * 2 * student.sf(abs(self.difference - null) / self.se, self.df)))

    def detectable(self, miss: float, power: float = POWER) -> float:
        """The smallest mean effect this design detects with probability ``power`` at two-sided level ``miss``."""
        return float((student.ppf(1 - miss / 2, self.df) + student.ppf(power, self.df)) * self.se)


def _check_sets(a_sets, b_sets) -> list[tuple[np.ndarray, np.ndarray]]:
    pairs = [(np.asarray(a, float), np.asarray(b, float)) for a, b in zip(a_sets, b_sets, strict=True)]
    if len(pairs) < 2:
        raise ValueError(f"an interval over demonstration sets needs at least 2 sets, got {len(pairs)}")
    for j, (a, b) in enumerate(pairs):
        if a.shape != b.shape or a.ndim != 1 or not len(a):
            raise ValueError(f"set {j}: paired values must be two non-empty 1-d arrays of one length")
    return pairs


def _within(a: np.ndarray, b: np.ndarray) -> float:
    """Variance of one set's mean difference over its queries, with the Bonett-Price pseudo-queries (+1 and -1), so
    that a set in which no query changes still carries its sampling uncertainty."""
    d = np.concatenate([b - a, [1.0, -1.0]])
    return float(d.var(ddof=1) / len(d))


def nested_interval(a_sets, b_sets, miss: float) -> SetEstimate:
    """Random-effects interval of the mean effect over sets scored on disjoint query blocks (two-stage: a
    t-interval over the per-set effects, ``J - 1`` degrees of freedom) at two-sided level ``1 - miss``.

    The standard error is ``max(s_d, sqrt(mean within-set variance)) / sqrt(J)``: the observed spread of the
    per-set effects, never below what their query sampling alone implies (a handful of sets can agree by chance).
    """
    pairs = _check_sets(a_sets, b_sets)
    effects = np.array([(b - a).mean() for a, b in pairs])
    within = float(np.mean([_within(a, b) for a, b in pairs]))
    spread = float(effects.var(ddof=1))
    j = len(effects)
    se = float(np.sqrt(max(spread, within) / j))
    df = j - 1
    tau2 = max(0.0, spread - within)
    i2 = max(0.0, 1 - within / spread) if spread > 0 else 0.0
    return _estimate(effects, se, df, tau2, i2, miss, int(np.mean([len(a) for a, _ in pairs])), NESTED)


def crossed_interval(a_sets, b_sets, miss: float) -> SetEstimate:
    """Interval of the mean effect when every set scored the same queries: the grand mean of the ``n x J`` table of
    per-query differences, with variance ``(MS_q + MS_s) / (n J)`` from the two-way mean squares (queries, sets;
    unbiased would subtract the residual mean square once, so this errs wide) and Satterthwaite's degrees of freedom.
    Two pseudo-queries (+1 and -1 in every set) keep a table in which nothing changes from a zero-width interval."""
    pairs = _check_sets(a_sets, b_sets)
    n = {len(a) for a, _ in pairs}
    if len(n) != 1:
        raise ValueError(f"a crossed design scores every set on the same queries; got blocks of sizes {sorted(n)}")
    table = np.column_stack([b - a for a, b in pairs])
    table = np.vstack([table, np.ones(table.shape[1]), -np.ones(table.shape[1])])
    rows, cols = table.shape
    grand = table.mean()
    ms_q = cols * ((table.mean(axis=1) - grand) ** 2).sum() / (rows - 1)
    ms_s = rows * ((table.mean(axis=0) - grand) ** 2).sum() / (cols - 1)
    resid = table - table.mean(axis=1, keepdims=True) - table.mean(axis=0, keepdims=True) + grand
    ms_e = (resid**2).sum() / ((rows - 1) * (cols - 1))
    var = (ms_q + ms_s) / (rows * cols)
    df = (ms_q + ms_s) ** 2 / (ms_q**2 / (rows - 1) + ms_s**2 / (cols - 1))
    tau2 = max(0.0, (ms_s - ms_e) / rows)
    i2 = max(0.0, 1 - ms_e / ms_s) if ms_s > 0 else 0.0
    effects = np.array([(b - a).mean() for a, b in pairs])
    return _estimate(effects, float(np.sqrt(var)), float(df), tau2, i2, miss, rows - 2, CROSSED)


def _estimate(effects, se, df, tau2, i2, miss, queries, design) -> SetEstimate:
    half = float(student.ppf(1 - miss / 2, df)) * se
    mean = float(np.mean(effects))
    return SetEstimate(tuple(float(e) for e in effects), mean, mean - half, mean + half, 1 - miss, se, float(df),
                       float(np.sqrt(tau2)), float(i2), int(queries), design)  # fmt: skip


def set_interval(a_sets, b_sets, miss: float, design: str) -> SetEstimate:
    """:func:`nested_interval` or :func:`crossed_interval` by ``design``."""
    if design == NESTED:
        return nested_interval(a_sets, b_sets, miss)
    if design == CROSSED:
        return crossed_interval(a_sets, b_sets, miss)
    raise ValueError(f"design {design!r} not one of {NESTED!r}, {CROSSED!r}")


@dataclass(frozen=True)
class Looks:
    """Cumulative numbers of demonstration sets at which a sequential confirmation looks, and the alpha each look
    spends: ``alpha * J_k / sum(J)`` (in proportion to the sets it holds), so the spends add up to ``alpha``."""

    sets: tuple[int, ...]

    def __post_init__(self):
        sets = tuple(int(s) for s in self.sets)
        if not sets or sets[0] < 2 or any(b <= a for a, b in zip(sets, sets[1:])):
            raise ValueError(f"looks {list(self.sets)}: give increasing set counts, the first at least 2")
        object.__setattr__(self, "sets", sets)

    def spend(self, k: int, alpha: float = ALPHA) -> float:
        """The alpha look ``k`` (0-based) spends."""
        return alpha * self.sets[k] / sum(self.sets)

    def miss(self, k: int, m: int, alpha: float = ALPHA) -> float:
        """Two-sided miss level of look ``k``'s interval in a family of ``m`` cases: ``spend(k) / m``."""
        return self.spend(k, alpha) / m

    @property
    def last(self) -> int:
        return len(self.sets) - 1


def informative_set(
    unpruned: np.ndarray, baseline: float, zero_shot: np.ndarray | None = None, margin: float | None = None
) -> bool:
    """Is a demonstration set informative about what truncation does to in-context learning? Decided on intervals
    (95%, a screen rather than a claim), the same way for a gain and for a loss:

    - its unpruned accuracy must be *shown* above the answer-ignoring rate plus ``margin`` (the lower end of its
      Wilson interval above it): a prompt the model may be ignoring has nothing for truncation to improve or harm
      *as in-context learning*, and a "gain" from it is a repair of the prompt;
    - it must not be *shown* below the same model's 0-shot accuracy on the same queries (the paired interval of
      few-shot minus 0-shot entirely below 0): demonstrations that make the model worse than none are a degenerate
      prompt.
    """
    margin = MARGINS["degenerate"] if margin is None else margin
    unpruned = np.asarray(unpruned, float)
    low, _ = wilson_interval(float(unpruned.mean()), len(unpruned), 0.95)
    if low <= baseline + margin:
        return False
    return zero_shot is None or paired_interval(np.asarray(zero_shot, float), unpruned).high >= 0
