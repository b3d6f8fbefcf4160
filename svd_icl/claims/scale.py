"""The scale chapter's sentence (its claims are Figure 1's and 2's functions applied to a larger model)."""

from __future__ import annotations

import pandas as pd

from svd_icl.claims.points import pct


def describe_scale(
    big: str, small: list[str], helps: pd.DataFrame, confirmed: pd.DataFrame, depth: pd.DataFrame,
    collapse: pd.DataFrame,
) -> str:  # fmt: skip
    """A generated paragraph: each claim's outcome on the larger model ``big`` beside the smaller ``small`` ones
    (frames indexed by model, from :func:`shots_help_sets`, :func:`svd_icl.claims.confirmation.over_sets` (the
    truncation chosen on validation, scored over fresh prompts), :func:`depth_stability`, :func:`shallow_collapse`),
    and which claims change with scale."""
    claims = {
        "few-shot demonstrations help (over prompts)": helps.outcome,
        "truncating one layer raises accuracy (over fresh prompts)": confirmed.outcome,
        "deep layers are more stable": depth.outcome,
        "shallow layers collapse": collapse.outcome,
    }
    h = helps.loc[big]
    lines = [
        f"**{big}**: {int(h.few)} shots {pct(h.accuracy_few)}, {int(h.many)} shots {pct(h.accuracy_many)} "
        f"over {int(h.sets)} fresh demonstration sets (baseline max(1/K, majority rate) "
        f"{pct(collapse.loc[big].baseline)})."
    ]
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
    effect = ("no estimate (not informative)" if pick.difference != pick.difference
              else f"{pick.difference:+.1%} [{pick.low:+.1%}, {pick.high:+.1%}]")  # fmt: skip
    lines.append(
        f"The truncation the search chose for {big}, layer {pick.layer} {str(pick.module).upper()} "
        f"ξ = {pick.clip_rate:g}, over fresh prompts: {pct(pick.unpruned)} → {pct(pick.selected)}, {effect}."
    )
    return " ".join(lines)
