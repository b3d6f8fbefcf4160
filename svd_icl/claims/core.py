"""The decision core every verdict of the book shares: outcomes, statuses, margins, intervals, power.

One rule decides every quantitative case (:func:`decide`): with the effect's interval *adjusted for the family of
tests the claim's status aggregates* (level ``1 - alpha/m``),

- ``HOLDS`` when the interval lies above zero in the claimed direction;
- ``DOES NOT HOLD`` only when the interval lies below the claim's *smallest effect of interest* (its margin, and
  for an effect the paper reports, the paper's smallest positive effect: :func:`refutation_margin`): the data
  exclude an effect as large as the claim needs;
- ``UNDETERMINED`` otherwise: the data cannot tell, and :func:`detectable_effect` says how large an effect the test
  could have detected at 80% power;
- ``NOT INFORMATIVE`` where the case cannot speak to the claim in either direction (a degenerate reference prompt,
  nothing left to lose): :mod:`svd_icl.claims.sets` decides it per demonstration set.

A claim's *status* follows its declared quantifier over its cases (:func:`claim_status`): a claim about *every*
case is reproduced when every informative case holds and not reproduced when any is refuted; a claim that *some*
case shows an effect is reproduced when one holds and not reproduced only when every informative case is refuted.
Absence of evidence is never reported as evidence of absence.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import yaml
from scipy.stats import beta, norm

from svd_icl.outcomes import Outcome, Quantifier, Status

__all__ = [
    "ALPHA",
    "FAILS",
    "HOLDS",
    "Interval",
    "MARGINS",
    "NOT_INFORMATIVE",
    "Outcome",
    "POWER",
    "Quantifier",
    "REFUTED",
    "REPRODUCED",
    "STATUS_UNDETERMINED",
    "Status",
    "UNDETERMINED",
    "check_outcome",
    "claim_status",
    "decide",
    "detectable_correlation",
    "detectable_effect",
    "detectable_share",
    "family_level",
    "fmt_p",
    "interval_p",
    "margin_note",
    "paired_interval",
    "power_note",
    "refutation_margin",
    "rho_interval",
    "rho_p",
    "tally",
]


HOLDS, FAILS, UNDETERMINED, NOT_INFORMATIVE = Outcome
REPRODUCED, REFUTED, STATUS_UNDETERMINED = Status
ALPHA = 0.05
POWER = 0.8

MARGINS_FILE = Path(__file__).with_name("margins.yaml")


def load_margins(path: Path = MARGINS_FILE) -> dict[str, float]:
    """The smallest effects of interest from their dated file (each with its reason, date and whether it was set
    after the data it decides were seen; ``tests/test_margins.py`` keeps the values and their history in step)."""
    spec = yaml.safe_load(path.read_text())["margins"]
    return {name: float(entry["value"]) for name, entry in spec.items()}


MARGINS = load_margins()


def margins_set_after_data(path: Path = MARGINS_FILE) -> list[str]:
    """The margins that were set after the data they decide had been seen (a record states this beside them)."""
    spec = yaml.safe_load(path.read_text())["margins"]
    return [name for name, entry in spec.items() if entry.get("after_data")]


def family_level(m: int, alpha: float = ALPHA) -> float:
    """Confidence level of each of ``m`` simultaneous intervals (Bonferroni): ``1 - alpha / m``."""
    if m < 1:
        raise ValueError(f"family size m must be >= 1, got {m}")
    return 1.0 - alpha / m


def _pseudo(d: np.ndarray) -> np.ndarray:
    """``d`` with one pseudo-query of +1 and one of -1 added (Bonett-Price): keeps a Wald interval of averaged
    values honest, never of zero width, when no query or only a few differ."""
    return np.concatenate([np.asarray(d, dtype=float), [1.0, -1.0]])


def _binary(x: np.ndarray) -> bool:
    return bool(np.isin(x, (0.0, 1.0)).all())


@dataclass(frozen=True)
class Interval:
    """A paired effect (mean of per-query differences b - a) with its interval at ``level``.

    ``method`` is ``"mover-cp"`` for 0/1 answers (``gain``/``loss``: queries only ``b`` / only ``a`` gets right)
    or ``"wald"`` for averaged values (``centre``/``se``: the adjusted-Wald statistic); :func:`interval_p` inverts
    the same method, so a p and an interval from one :class:`Interval` cannot disagree.
    """

    difference: float
    low: float
    high: float
    level: float
    n: int
    method: str = "wald"
    gain: int = 0
    loss: int = 0
    centre: float = 0.0
    se: float = 0.0
    extra: dict = field(default_factory=dict, compare=False)


def _clopper_pearson(x, n, tail: float):
    """One-sided Clopper-Pearson bounds of a binomial proportion ``x / n`` (arrays allowed), each with miss
    probability ``tail``."""
    x, n = np.asarray(x, dtype=float), np.asarray(n, dtype=float)
    with np.errstate(invalid="ignore"):
        low = np.where(x > 0, beta.ppf(tail, x, n - x + 1), 0.0)
        high = np.where(x < n, beta.ppf(1 - tail, x + 1, n - x), 1.0)
    return low, high


def _mover_cp(gain, loss, n, level: float):
    """MOVER interval for ``p_gain - p_loss`` (two cells of one multinomial) from Clopper-Pearson bounds of each
    cell and their correlation (Zou and Donner's method of variance estimates recovery, 2008); arrays allowed.

    Chosen over a score interval by exact enumeration (``tests/test_intervals.py``): at sparse one-way
    discordance (p_gain = 0.02, p_loss = 0) Tango's score interval misses on one side up to 2.4x its nominal rate
    at the book's family sizes, and Newcombe's method 10 has zero width when no query differs; this one stays at
    or below its nominal rate there and near it elsewhere."""
    tail = (1 - level) / 2
    gain, loss, n = (np.asarray(v, dtype=float) for v in (gain, loss, n))
    p1, p2 = gain / n, loss / n
    l1, u1 = _clopper_pearson(gain, n, tail)
    l2, u2 = _clopper_pearson(loss, n, tail)
    inner = (p1 > 0) & (p1 < 1) & (p2 > 0) & (p2 < 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        corr = np.where(inner, -np.sqrt(p1 * p2 / ((1 - p1) * (1 - p2))), 0.0)
    d = p1 - p2
    low = d - np.sqrt(np.maximum((p1 - l1) ** 2 + (u2 - p2) ** 2 - 2 * corr * (p1 - l1) * (u2 - p2), 0.0))
    high = d + np.sqrt(np.maximum((u1 - p1) ** 2 + (p2 - l2) ** 2 - 2 * corr * (u1 - p1) * (p2 - l2), 0.0))
    return low, high


def paired_interval(a: np.ndarray, b: np.ndarray, m: int = 1, alpha: float = ALPHA) -> Interval:
    """Simultaneous (1 - alpha/m) interval for the mean of ``b - a`` over the same queries.

    0/1 answers: the MOVER interval from exact (Clopper-Pearson) bounds of the two discordant cells
    (:func:`_mover_cp`), whose one-sided miss rate stays near its nominal rate even when only a few queries differ,
    all one way. Averaged values (correctness averaged over points): adjusted Wald (Bonett-Price pseudo-queries).
    A bootstrap's tail quantile at ``alpha/m = 0.001`` would need tens of thousands of resamples.
    """
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.shape != b.shape or a.ndim != 1 or not len(a):
        raise ValueError(f"paired values must be two non-empty 1-d arrays of one length, got {a.shape}, {b.shape}")
    level = family_level(m, alpha)
    d = b - a
    if _binary(a) and _binary(b):
        gain, loss = int((d > 0).sum()), int((d < 0).sum())
        low, high = _mover_cp(gain, loss, len(d), level)
        return Interval(float(d.mean()), float(low), float(high), level, len(d), "mover-cp", gain, loss)
    adj = _pseudo(d)
    centre = float(adj.mean())
    se = float(np.sqrt(max(adj.var(), 1e-300) / len(adj)))
    z = norm.ppf(0.5 + level / 2)
    return Interval(float(d.mean()), centre - z * se, centre + z * se, level, len(d), "wald", centre=centre, se=se)


def interval_p(interval: Interval, m: int = 1, null: float = 0.0) -> float:
    """The adjusted p-value dual to ``interval``'s method: the smallest ``alpha`` at which the method's interval at
    level ``1 - alpha/m`` excludes ``null`` (0: no effect; a margin for a claim decided against its margin). It is
    below ``alpha`` exactly when that interval excludes ``null``, so a record line's p and interval never disagree.
    (The exact McNemar / Wilcoxon p, Holm-adjusted, stays in the chapters' tables.)"""
    if interval.method == "wald":
        return float(min(1.0, m * 2 * norm.sf(abs(interval.centre - null) / interval.se)))
    lo, hi = 0.0, 1.0  # bisection on the two-sided miss level a = alpha/m: is null outside at level 1 - a?
    if not _excludes(interval, 1.0, null):
        return 1.0
    for _ in range(50):
        mid = (lo + hi) / 2
        lo, hi = (lo, mid) if _excludes(interval, mid, null) else (mid, hi)
    return float(min(1.0, m * hi))


def _excludes(interval: Interval, miss: float, null: float) -> bool:
    low, high = _mover_cp(interval.gain, interval.loss, interval.n, 1 - miss)
    return null < low or null > high


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


def decide(low: float, high: float, margin: float, sign: int = 1) -> Outcome:
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


def refutation_margin(margin: float, reported: float | None) -> float:
    """The margin a refutation must clear: the smaller of the claim's smallest effect of interest and the smallest
    positive effect the paper reports for the same task and module (:func:`svd_icl.reported.paper_margin`), so that
    "does not hold" never stands beside an interval that still contains the paper's own effect."""
    if reported is None or not np.isfinite(reported) or reported <= 0:
        return margin
    return float(min(margin, reported))


def margin_note(high: float, margin: float, reported: float | None, outcome: Outcome) -> str:
    """What a decided or undecided case says about the paper's effect: 'the interval contains the paper's +0.3' or
    'excludes +2.0 or more, not the paper's +0.3' (an interval below the claim's margin but not the paper's)."""
    if reported is None or not np.isfinite(reported):
        return ""
    if outcome == FAILS:
        return f"excludes the paper's {reported:+.1%}"
    if high < margin:
        return f"excludes {margin:+.1%} or more, not the paper's {reported:+.1%}"
    return f"the paper's {reported:+.1%} lies in the interval"


def check_outcome(flag: bool) -> Outcome:
    """The outcome of a deterministic check (an identity, a bound on given weights: no sampling): true holds, and
    false is a counterexample, which refutes."""
    return HOLDS if bool(flag) else FAILS


def _outcomes(outcomes: Iterable) -> list[Outcome]:
    out = []
    for o in outcomes:
        try:
            out.append(Outcome(o))
        except ValueError:
            raise ValueError(f"outcome {o!r} not one of {[x.value for x in Outcome]}") from None
    return out


def claim_status(quantifier: Quantifier | str, outcomes: Iterable) -> Status:
    """A claim's status from its quantifier over its cases' outcomes (each already adjusted within the claim's
    family). Not-informative cases count for neither side.

    - *every case*: reproduced when every informative case holds; not reproduced when any is refuted; else
      undetermined (some case undetermined, or none informative).
    - *some case*: reproduced when some case holds; not reproduced when every informative case is refuted (at least
      one); else undetermined.
    """
    quantifier = Quantifier(quantifier)
    informative = [o for o in _outcomes(outcomes) if o != NOT_INFORMATIVE]
    if quantifier == Quantifier.EVERY:
        if any(o == FAILS for o in informative):
            return REFUTED
        if informative and all(o == HOLDS for o in informative):
            return REPRODUCED
        return STATUS_UNDETERMINED
    if any(o == HOLDS for o in informative):
        return REPRODUCED
    if informative and all(o == FAILS for o in informative):
        return REFUTED
    return STATUS_UNDETERMINED


def tally(outcomes: Iterable) -> str:
    """'2 hold / 1 refuted / 3 undetermined / 1 not informative' (zero counts left out): what stands beside every
    status, so that a status can be read with what it rests on."""
    outcomes = _outcomes(outcomes)
    words = {HOLDS: ("hold", "holds"), FAILS: ("refuted", "refuted"), UNDETERMINED: ("undetermined", "undetermined"),
             NOT_INFORMATIVE: ("not informative", "not informative")}  # fmt: skip
    parts = [f"{k} {words[o][k == 1]}" for o in Outcome if (k := sum(x == o for x in outcomes))]
    return " / ".join(parts) if parts else "no cases"


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
