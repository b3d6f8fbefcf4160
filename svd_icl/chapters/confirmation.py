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


@dataclass(frozen=True)
class Budget:
    """A wall-clock deadline for starting new looks (None: none)."""

    deadline: float | None = None

    @classmethod
    def from_env(cls) -> Budget:
        value = os.environ.get(BUDGET_ENV)
        return cls(float(value) if value else None)

    def expired(self) -> bool:
        return self.deadline is not None and time.time() >= self.deadline


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
    claim has cases that need no confirmation (Algorithm 1's runs that kept the unpruned model). A case stops at the
    first look that decides it (holds or does not hold), when it is not informative, at the last look, or when
    ``budget`` has expired before a further look.
    """
    budget = budget or Budget.from_env()
    m = family or len(keys)
    rows, tuned, frames = [], [], []
    looks_of = looks if callable(looks) else (lambda key: looks)
    for key in keys:
        looks = looks_of(key)
        row, points, started, why = None, None, time.time(), ""
        for k, sets in enumerate(looks.sets):
            if k and budget.expired():
                why = _budget_note(looks, k, time.time() - started)
                break
            points = run(key, sets)
            row = over_sets(points, group, looks, k, m, margin, reported).iloc[0].to_dict()
            if row["outcome"] != UNDETERMINED:
                why = ("not informative" if row["outcome"] == NOT_INFORMATIVE
                       else f"decided at look {k + 1} of {len(looks.sets)}")  # fmt: skip
                break
            if k < looks.last and futile(row, looks, k, m):
                why = (f"stopped for futility at look {k + 1} of {len(looks.sets)}: at the observed effect even "
                       f"{looks.sets[-1]} sets would leave the interval across 0 and the margin")  # fmt: skip
                break
        else:
            why = f"undetermined at the last look ({looks.sets[-1]} sets)"
        spent = int(row["look"])
        rows.append({**row, "stopped": why, "sets_spent": looks.sets[spent - 1], "fixed_sets": looks.sets[-1],
                     "seconds": float(points.seconds.sum())})  # fmt: skip
        tuned.append(tuned_prompt(points, group, m, margin, reported).iloc[0].to_dict())
        frames.append(points)
    return pd.DataFrame(rows), pd.DataFrame(tuned), pd.concat(frames, ignore_index=True)


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
