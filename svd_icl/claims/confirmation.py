"""Verdicts of a confirmation (:func:`svd_icl.confirm.confirm` records): the effect over fresh prompts, and the
effect for the prompt the search was tuned on.

Two claims come from one confirmation, and a chapter states both:

- **over prompts** (:func:`over_sets`, the claim about the method): the mean effect over fresh demonstration sets,
  each set a sampling unit (:mod:`svd_icl.claims.sets`), sets that are not informative left out (a degenerate
  reference, per set, on intervals), the interval at the sequential look's level;
- **for the tuned prompt** (:func:`tuned_prompt`, the paper's procedure as Tables 2-8 were produced): the search's
  own demonstrations on held-out queries, a paired interval over queries.

Both refute only below the smaller of the claim's margin and the paper's smallest positive effect for the same
task and module (:func:`svd_icl.claims.core.refutation_margin`), and state whether the paper's value lies in the
interval.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from svd_icl.analysis import group_fields
from svd_icl.claims.core import (
    ALPHA,
    FAILS,
    NOT_INFORMATIVE,
    UNDETERMINED,
    decide,
    detectable_effect,
    fmt_p,
    interval_p,
    margin_note,
    paired_interval,
    refutation_margin,
)
from svd_icl.claims.points import baseline, correctness, pct
from svd_icl.claims.sets import CROSSED, NESTED, Looks, informative_set, set_interval


def _block(r) -> tuple[int, int]:
    offset = r["offset"] if "offset" in r and r["offset"] == r["offset"] and r["offset"] is not None else 0
    return int(offset), len(r["labels"])


def _zero_shot(g: pd.DataFrame) -> dict[tuple[int, int], np.ndarray]:
    """The 0-shot correctness of each scored block, keyed by (offset, queries)."""
    return {_block(r): correctness(r) for _, r in g[g.role == "zero_shot"].iterrows()}


def _pair(g: pd.DataFrame, what: str) -> tuple[pd.Series, pd.Series]:
    u, s = g[g.role == "unpruned"], g[g.role == "selected"]
    if len(u) != 1 or len(s) != 1:
        raise ValueError(f"{what} needs one unpruned and one selected point, got {len(u)} and {len(s)}")
    u, s = u.iloc[0], s.iloc[0]
    if not np.array_equal(np.asarray(u["labels"]), np.asarray(s["labels"])):
        raise ValueError(f"{what}: the unpruned and selected points were scored on different queries")
    return u, s


def _set_rows(g: pd.DataFrame) -> list[dict]:
    """Per fresh set of one case: its correctness pair, 0-shot reference, baseline and guard."""
    zero = _zero_shot(g)
    rows = []
    sets = g[g.arm == "sets"]
    for j in sorted(int(x) for x in set(sets["set"])):
        u, s = _pair(sets[sets["set"] == j], f"set {j}")
        a, b = correctness(u), correctness(s)
        floor = baseline(str(u.task), float(u.majority_rate))
        z = zero.get(_block(u))
        rows.append({"set": j, "a": a, "b": b, "baseline": floor, "zero_shot": None if z is None else float(z.mean()),
                     "informative": informative_set(a, floor, z), "offset": _block(u)[0],
                     "disjoint": bool(u.get("disjoint", True))})  # fmt: skip
    return rows


def _reported(reported: dict | None, key) -> float:
    value = (reported or {}).get(key)
    return float("nan") if value is None else float(value)


def over_sets(
    points: pd.DataFrame, group: list[str], looks: Looks, look: int, m: int, margin: float,
    reported: dict | None = None, alpha: float = ALPHA,
) -> pd.DataFrame:  # fmt: skip
    """The verdict of "the setting raises accuracy over prompts" at sequential look ``look`` (0-based), one row per
    case (``group``), with the interval simultaneous over the family of ``m`` cases and all looks.

    Per case: every fresh set's effect, the sets that are informative (:func:`svd_icl.claims.sets.informative_set`),
    the random-effects interval over those (:func:`svd_icl.claims.sets.set_interval`, nested when each set has its
    own query block, crossed when they share them) at two-sided level ``1 - looks.miss(look, m)``, tau and I^2, the
    adjusted p dual to the interval, and the detectable effect of the same variance. ``NOT INFORMATIVE`` when fewer
    than two sets, or fewer than half of them, are informative. A case at 0 shots has one prompt (no demonstrations
    to vary): its interval is the paired one over the tuned arm's queries. ``reported``: per case key the paper's
    smallest positive effect for the same task and module (the refutation margin and the interval's note).
    """
    group = list(group)
    miss = looks.miss(look, m, alpha)
    rows = []
    for key, g in points.groupby(group, sort=False):
        first = g[g.role == "selected"].iloc[0]
        paper = _reported(reported, key)
        common = {**group_fields(group, key), "layer": int(first.layer), "module": first.module,
                  "clip_rate": float(first.clip_rate), "shots": int(first.shots), "look": look + 1,
                  "looks": len(looks.sets), "m": m, "miss": miss, "reported": paper,
                  "margin": refutation_margin(margin, paper), "claim_margin": margin}  # fmt: skip
        if int(first.shots) == 0:  # one prompt (no demonstrations to vary): the paired interval over its queries
            fields = _single_prompt(g[g.arm == "tuned"], miss, m, alpha)
            outcome = (decide(fields["low"], fields["high"], refutation_margin(margin, paper))
                       if fields["informative"] else NOT_INFORMATIVE)  # fmt: skip
            rows.append({**common, **fields, "outcome": outcome})
            continue
        sets = _set_rows(g)
        keep = [s for s in sets if s["informative"]]
        design = NESTED if len({s["offset"] for s in sets}) > 1 else CROSSED
        row = {**common, "sets": len(sets), "informative": len(keep), "design": design,
               "shared_sets": sum(not s["disjoint"] for s in sets),
               "per_set": [{"set": s["set"], "effect": float((s["b"] - s["a"]).mean()),
                            "unpruned": float(s["a"].mean()), "informative": s["informative"]} for s in sets],
               "baseline": float(np.mean([s["baseline"] for s in sets])),
               "zero_shot": _mean([s["zero_shot"] for s in sets])}  # fmt: skip
        if len(keep) < 2 or 2 * len(keep) < len(sets):
            rows.append({**row, "outcome": NOT_INFORMATIVE, "difference": np.nan, "low": np.nan, "high": np.nan,
                         "n": int(np.mean([len(s["a"]) for s in sets])),
                         "unpruned": _mean([s["a"].mean() for s in sets]),
                         "selected": _mean([s["b"].mean() for s in sets]), "p_adj": np.nan, "mde": np.nan,
                         "tau": np.nan, "i2": np.nan, "df": np.nan, "se": np.nan})  # fmt: skip
            continue
        est = set_interval([s["a"] for s in keep], [s["b"] for s in keep], miss, design)
        rows.append({**row, "difference": est.difference, "low": est.low, "high": est.high, "n": est.queries,
                     "se": est.se,
                     "unpruned": _mean([s["a"].mean() for s in keep]), "selected": _mean([s["b"].mean() for s in keep]),
                     "p_adj": min(1.0, est.p() * alpha / miss), "mde": est.detectable(miss), "tau": est.tau,
                     "i2": est.i2, "df": est.df,
                     "outcome": decide(est.low, est.high, refutation_margin(margin, paper))})  # fmt: skip
    return pd.DataFrame(rows)


def _mean(values) -> float:
    values = [v for v in values if v is not None]
    return float(np.mean(values)) if values else float("nan")


def _single_prompt(g: pd.DataFrame, miss: float, m: int, alpha: float, zero: dict | None = None) -> dict:
    """The paired verdict fields of one prompt over its blocks (the tuned arm, or the only prompt at 0 shots)."""
    by_block = g.groupby(g["offset"].map(lambda x: 0 if x is None or x != x else int(x)))
    pairs = [_pair(b, "the tuned prompt") for _, b in by_block]
    blocks = sorted(((_block(u), u, s) for u, s in pairs), key=lambda t: t[0])
    a = np.concatenate([correctness(u) for _, u, _ in blocks])
    b = np.concatenate([correctness(s) for _, _, s in blocks])
    z = None
    if zero is not None and all(k in zero for k, _, _ in blocks):
        z = np.concatenate([zero[k] for k, _, _ in blocks])
    first = blocks[0][1]
    floor = baseline(str(first.task), float(np.mean([u.majority_rate for _, u, _ in blocks])))
    i = paired_interval(a, b, 1, miss)  # level 1 - miss (the family's and the look's share of alpha)
    return {"n": len(a), "sets": 1, "informative": int(informative_set(a, floor, z)), "design": "one prompt",
            "unpruned": float(a.mean()), "selected": float(b.mean()), "baseline": floor,
            "zero_shot": float("nan") if z is None else float(z.mean()), "difference": i.difference, "low": i.low,
            "high": i.high, "p_adj": min(1.0, interval_p(i) * alpha / miss), "mde": detectable_effect(a, b, 1, miss),
            "tau": np.nan, "i2": np.nan, "df": np.nan, "per_set": []}  # fmt: skip


def tuned_prompt(
    points: pd.DataFrame, group: list[str], m: int, margin: float, reported: dict | None = None, alpha: float = ALPHA
) -> pd.DataFrame:
    """The verdict of "the setting raises accuracy for the prompt it was tuned on" (the paper's procedure): the
    search's demonstrations on the tuned arm's held-out queries, a paired interval simultaneous over the ``m``
    cases, ``NOT INFORMATIVE`` when that prompt's reference is degenerate (at the answer-ignoring rate, or shown
    below the same model's 0-shot accuracy on the same queries)."""
    group = list(group)
    rows = []
    for key, g in points.groupby(group, sort=False):
        paper = _reported(reported, key)
        first = g[g.role == "selected"].iloc[0]
        fields = _single_prompt(g[g.arm == "tuned"], alpha / m, m, alpha, _zero_shot(g))
        outcome = (NOT_INFORMATIVE if not fields["informative"]
                   else decide(fields["low"], fields["high"], refutation_margin(margin, paper)))  # fmt: skip
        rows.append({**group_fields(group, key), "layer": int(first.layer), "module": first.module,
                     "clip_rate": float(first.clip_rate), "shots": int(first.shots), "m": m, "reported": paper,
                     "margin": refutation_margin(margin, paper), "claim_margin": margin, **fields,
                     "outcome": outcome})  # fmt: skip
    return pd.DataFrame(rows)


def confirmation_evidence(row, name: str, detail: str = "") -> str:
    """One confirmed case as a record line: outcome, effect and interval, the sampling (sets x queries, the look),
    tau and the per-set effects, m, adjusted p, the margin, the detectable effect and the paper's value::

        gemma3-270m/sst2: undetermined, -0.8% [-3.1%, +1.5%] (16 of 16 sets x 100 queries, look 2 of 3, tau 1.2%,
        I^2 31%; m = 4, adjusted p = 0.412, margin +0.3% (the paper's smallest), detects +2.2%; the paper's +0.3%
        lies in the interval; per set +1, -2, ...)
    """
    if row.outcome == NOT_INFORMATIVE:
        zero = f", 0 shots {row.zero_shot:.1%}" if np.isfinite(row.zero_shot) else ""
        return (
            f"{name}: {row.outcome} ({_informative_text(row)}; {row.unpruned:.1%} unpruned, baseline "
            f"{row.baseline:.1%}{zero})"
        )
    parts = [
        _sampling(row),
        f"m = {int(row.m)}",
        f"adjusted {fmt_p(row.p_adj)}",
        _margin_text(row),
        f"detects {row.mde:+.1%}",
    ]
    note = margin_note(row.high, row.claim_margin, row.reported, row.outcome)
    if note:
        parts.append(note)
    shared = getattr(row, "shared_sets", 0)
    if shared == shared and shared:  # NaN where the row is one prompt's
        parts.append(f"{int(shared)} sets share demonstrations with earlier ones (the pool is too small)")
    if getattr(row, "per_set", None):
        parts.append("per set " + ", ".join(f"{e['effect'] * 100:+.0f}" + ("" if e["informative"] else "*")
                                            for e in row.per_set) + " points")  # fmt: skip
    effect = f"{row.difference:+.1%} [{row.low:+.1%}, {row.high:+.1%}]"
    return f"{name}: {row.outcome}, {detail}{effect} ({', '.join(parts)})"


def _margin_text(row) -> str:
    own = np.isfinite(row.reported) and row.margin < row.claim_margin
    return f"margin {row.margin:+.1%}" + (" (the paper's smallest)" if own else "")


def _informative_text(row) -> str:
    return f"{int(row.informative)} of {int(row.sets)} sets informative"


def _sampling(row) -> str:
    if row.design == "one prompt":
        return f"n = {int(row.n)}, one prompt"
    text = f"{int(row.informative)} of {int(row.sets)} sets x {int(row.n)} queries ({row.design})"
    if getattr(row, "look", None) is not None and row.looks > 1:
        text += f", look {int(row.look)} of {int(row.looks)}"
    if np.isfinite(row.tau):
        text += f", tau {row.tau:.1%}, I^2 {row.i2:.0%}"
    return text


def describe_over_sets(row, label: str) -> str:
    """One generated sentence per :func:`over_sets` row (with the sequential record's ``stopped`` if present)."""
    text = (f"**{label}**: layer {row.layer} {str(row.module).upper()} ξ = {row.clip_rate:g} (chosen on validation); "
            + confirmation_evidence(row, "over fresh prompts"))  # fmt: skip
    why = getattr(row, "stopped", None)
    if why and row.outcome != NOT_INFORMATIVE:
        text += f"; {why}"
    if row.outcome == UNDETERMINED:
        text += f". Undetermined: the interval reaches {row.margin:+.1%} and 0"
    elif row.outcome == FAILS:
        text += f". The interval excludes a gain of {row.margin:+.1%} or more"
    return text + "."


def describe_tuned(row, label: str) -> str:
    """One generated sentence per :func:`tuned_prompt` row."""
    text = f"**{label}**, the prompt the search was tuned on: " + confirmation_evidence(row, "held-out queries")
    if row.outcome == NOT_INFORMATIVE:
        text += (
            f": its unpruned accuracy ({pct(row.unpruned)}) is not shown above the baseline "
            f"({pct(row.baseline)}) plus the margin, or is below the 0-shot accuracy ({pct(row.zero_shot)})"
        )
    return text + "."
