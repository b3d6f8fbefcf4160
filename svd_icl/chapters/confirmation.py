"""The sequential confirmation: fresh demonstration sets added in looks until each case is decided.

For every case of a claim (a search's pick, or Algorithm 1's), :func:`confirm_cases` scores the sets of the first
look, decides (:func:`svd_icl.claims.confirmation.over_sets` at that look's level), and adds sets up to the next
look only while the case is undetermined. Every look's interval is stated at its share of alpha
(:class:`svd_icl.claims.sets.Looks`), so stopping early, at the last look or at a time budget leaves every stated
interval at its level. The record of each case says where it stopped and why, and what it spent beside what the
fixed design (every set of the last look) would have spent.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd

from svd_icl.claims.confirmation import over_sets, tuned_prompt
from svd_icl.claims.core import NOT_INFORMATIVE, UNDETERMINED
from svd_icl.claims.sets import Looks

BUDGET_ENV = "SVD_ICL_BUDGET_END"  # epoch seconds after which no further look starts (ci/build_book.sh --budget)
RESERVE_ENV = "SVD_ICL_BUDGET_RESERVE"  # seconds of required work the chapters after this one still need


@dataclass(frozen=True)
class Budget:
    """A wall-clock deadline for starting further looks (None: none). ``reserve``: the seconds the build's later
    chapters still need for their required work (their searches and first looks, from the build plan's estimate):
    a further look starts only while that work would still end by the deadline, so an early chapter's looks do not
    take the time a later chapter's first looks need."""

    deadline: float | None = None
    reserve: float = 0.0

    @classmethod
    def from_env(cls) -> Budget:
        value, reserve = os.environ.get(BUDGET_ENV), os.environ.get(RESERVE_ENV)
        return cls(float(value) if value else None, float(reserve) if reserve else 0.0)

    def expired(self) -> bool:
        return self.deadline is not None and time.time() + self.reserve >= self.deadline


def confirm_cases(
    run: Callable[[tuple, int], pd.DataFrame],
    keys: list[tuple],
    group: list[str],
    looks: Looks | Callable[[tuple], Looks],
    margin: float,
    reported: dict | None = None,
    budget: Budget | None = None,
    family: int | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Run the sequential confirmation of every case in ``keys``; returns (over-prompts verdicts, tuned-prompt
    verdicts, points).

    ``run(key, sets)`` computes (or reads back) the case's points for its first ``sets`` fresh sets, the tuned
    prompt and the 0-shot references, with the ``group`` columns set (:func:`svd_icl.confirm.confirm`). ``looks``:
    one :class:`Looks` for every case, or a function of the case's key (a small test split looks fewer times; each
    case spends its own share of alpha over its looks). The family is the ``len(keys)`` cases, or ``family`` when the
    claim has cases that need no confirmation (Algorithm 1's runs that kept the unpruned model). The cases take their
    looks in turn: every case's first look before any case's second. A case stops at the first look that decides it
    (holds or does not hold), when it is not informative, at the last look, for futility, or when ``budget`` has
    expired before a further look.
    """
    budget = budget or Budget.from_env()
    m = family or len(keys)
    looks_of = looks if callable(looks) else (lambda key: looks)
    cases = [_Case(key, looks_of(key)) for key in keys]
    # In turn: every case's first look, then the next look of each case still open, and so on; the budget is
    # checked before each further look, so the build spends what time it has on the cases still undecided.
    while open_cases := [c for c in cases if c.why is None]:
        for case in open_cases:
            if case.k and budget.expired():
                case.why = _budget_note(case.looks, case.k, case.elapsed)
                continue
            started = time.time()
            case.points = run(case.key, case.looks.sets[case.k])
            case.elapsed += time.time() - started
            case.row = over_sets(case.points, group, case.looks, case.k, m, margin, reported).iloc[0].to_dict()
            case.why = _stop_reason(case.row, case.looks, case.k, m)
            case.k += 1
    rows, tuned = [], []
    for case in cases:
        looks, spent = case.looks, int(case.row["look"])
        rows.append({**case.row, "stopped": case.why, "sets_spent": looks.sets[spent - 1],
                     "fixed_sets": looks.sets[-1], "seconds": float(case.points.seconds.sum())})  # fmt: skip
        tuned.append(tuned_prompt(case.points, group, m, margin, reported).iloc[0].to_dict())
    return pd.DataFrame(rows), pd.DataFrame(tuned), pd.concat([c.points for c in cases], ignore_index=True)


@dataclass
class _Case:
    """One case's progress through its looks: the next look's index ``k``, its latest points and verdict row, the
    seconds its looks took, and why it stopped (None while open)."""

    key: tuple
    looks: Looks
    k: int = 0
    points: pd.DataFrame | None = None
    row: dict | None = None
    elapsed: float = 0.0
    why: str | None = None


def _stop_reason(row: dict, looks: Looks, k: int, m: int) -> str | None:
    """Why the case stops after look ``k`` (decided, not informative, futile, or at its last look); None: it goes
    on to the next look."""
    if row["outcome"] == NOT_INFORMATIVE:
        return "not informative"
    if row["outcome"] != UNDETERMINED:
        return f"decided at look {k + 1} of {len(looks.sets)}"
    if k == looks.last:
        return f"undetermined at the last look ({looks.sets[-1]} sets)"
    if futile(row, looks, k, m):
        return (f"stopped for futility at look {k + 1} of {len(looks.sets)}: at the observed effect even "
                f"{looks.sets[-1]} sets would leave the interval across 0 and the margin")  # fmt: skip
    return None


def futile(row: dict, looks: Looks, k: int, m: int) -> bool:
    """Could the last look decide this case at the effect observed now? Its interval's half-width is projected from
    this look's standard error, shrinking as 1/sqrt(sets) (for sets that share their queries the query term does
    not shrink, so the projection errs towards continuing). Futile when that half-width, centred on the observed
    effect, would still reach both 0 and the margin: more sets are not expected to decide it. Stopping for futility
    never invalidates an interval (every look's is stated at its own share of alpha)."""
    from scipy.stats import t as student

    se, j, last = row.get("se"), looks.sets[k], looks.sets[-1]
    if se is None or se != se:
        return False
    half = float(student.ppf(1 - looks.miss(looks.last, m) / 2, last - 1)) * se * (j / last) ** 0.5
    return row["difference"] - half < 0 and row["difference"] + half > row["margin"]


def _budget_note(looks: Looks, k: int, elapsed: float) -> str:
    """'undetermined at the budget: 8 sets; the next look (16 sets) would take about 12 more minutes' (from the
    time the looks so far took, per set)."""
    per_set = elapsed / looks.sets[k - 1]
    more = per_set * (looks.sets[k] - looks.sets[k - 1]) / 60
    return (
        f"stopped at the budget after {looks.sets[k - 1]} sets; the next look ({looks.sets[k]} sets) would "
        f"take about {more:.0f} more minutes"
    )
