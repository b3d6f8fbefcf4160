"""The scale chapter's sentence (its claims are Figure 1's and 2's functions applied to a larger model)."""

from __future__ import annotations

import pandas as pd

from svd_icl.claims.points import (
    _pct,
    case_evidence,
    effect,
)


def describe_scale(
    big: str, small: list[str], helps: pd.DataFrame, confirmed: pd.DataFrame, depth: pd.DataFrame,
    collapse: pd.DataFrame,
) -> str:  # fmt: skip
    """A generated paragraph: each claim's outcome on the larger model ``big`` beside the smaller ``small`` ones
    (frames indexed by model, from :func:`shots_help`, :func:`confirmation_verdicts` (the truncation chosen on
    validation, scored on held-out queries), :func:`depth_stability`, :func:`shallow_collapse`), and which claims
    change with scale."""
    claims = {
        "few-shot demonstrations help": helps.outcome,
        "truncating one layer raises accuracy (confirmed)": confirmed.outcome,
        "deep layers are more stable": depth.outcome,
        "shallow layers collapse": collapse.outcome,
    }
    by_shots = ", ".join(f"{k} shots {_pct(v)}" for k, v in helps.loc[big].accuracy_by_shots.items())
    lines = [f"**{big}**: {by_shots} (baseline max(1/K, majority rate) {_pct(collapse.loc[big].baseline)})."]
    same, differ = [], []
    for claim, outcomes in claims.items():
        others = ", ".join(f"{m} {outcomes.loc[m]}" for m in small if m in outcomes.index)
        sentence = f"*{claim}*: **{outcomes.loc[big]}** at {big}" + (f" ({others})" if others else "")
        (same if all(outcomes.loc[m] == outcomes.loc[big] for m in small if m in outcomes.index) else differ).append(
            sentence
        )
    if same:
        lines.append("Same outcome as on the smaller models: " + "; ".join(same) + ".")
    if differ:
        lines.append("Different outcome from at least one smaller model: " + "; ".join(differ) + ".")
    pick = confirmed.loc[big]
    lines.append(
        f"The truncation the search chose for {big}, layer {pick.layer} {str(pick.module).upper()} "
        f"ξ = {pick.clip_rate:g}, on the held-out queries: {_pct(pick.unpruned)} → {_pct(pick.selected)}, "
        f"{effect(pick)}."
    )
    return " ".join(lines)


def describe_smaller_confirmation(name: str, n: int, full: dict[str, pd.Series], small: dict[str, pd.Series]) -> str:
    """A generated sentence: each confirmed claim's verdict for model ``name`` on the whole confirmation set
    (``full``: claim -> decided row) and on its first ``n`` queries (``small``, from
    :func:`svd_icl.claims.points.first_queries`: exactly a confirmation of ``n``), and which verdicts the size alone
    changes. A verdict that flips with the set's size is a result about power, stated as such."""
    parts, flipped = [], []
    for claim, row in full.items():
        less = small[claim]
        parts.append(case_evidence(less, f"*{claim}*"))
        if less.outcome != row.outcome:
            flipped.append(f"*{claim}* ({less.outcome} at n = {n}, {row.outcome} at n = {row.n})")
    text = (
        f"On the first {n} of these queries for {name} (exactly the rows a {n}-query confirmation scores: the query "
        f"rows are nested prefixes of one seeded permutation), the same tests give: {'; '.join(parts)}. "
    )
    if flipped:
        return text + "The confirmation set's size alone changes " + " and ".join(flipped) + "."
    return text + "The larger set changes no verdict here; it narrows the intervals."
