"""Shared pieces of the sweep-based claims: per-query correctness, baselines, every point against the unpruned
model on the same queries (:func:`point_tests`), the family adjustment and the decision with the guard."""

from __future__ import annotations

import numpy as np
import pandas as pd

from svd_icl.analysis import group_fields
from svd_icl.claims.core import (
    MARGINS,
    NOT_INFORMATIVE,
    decide,
    detectable_effect,
    family_level,
    fmt_p,
    interval_p,
    paired_interval,
)
from svd_icl.stats import holm, paired_comparison
from svd_icl.tasks import get_task

COLLAPSE_MARGIN = MARGINS["collapse"]  # "collapse to chance": within this share of the baseline


def correctness(record: dict | pd.Series) -> np.ndarray:
    """Per-query 0/1 correctness of one stored point (a tie, -1, is wrong)."""
    return (np.asarray(record["predictions"]) == np.asarray(record["labels"])).astype(float)


PER_QUERY = ("labels", "predictions", "scores")  # a stored point's fields with one entry per query


def first_queries(points: pd.DataFrame, n: int) -> pd.DataFrame:
    """The same points scored on their first ``n`` queries only (per-query fields cut; accuracy, ``n_eval`` and the
    majority rate recomputed). Query rows are nested prefixes of one seeded permutation
    (:func:`svd_icl.tasks.query_rows`), so these are exactly the queries a confirmation of ``n`` scores: the
    verdicts a smaller confirmation set would have given, without computing anything again."""
    if n < 1:
        raise ValueError(f"first_queries: n must be >= 1, got {n}")
    short = [len(r) for r in points["labels"] if len(r) < n]
    if short:
        raise ValueError(f"first_queries: n = {n} exceeds a point scored on {min(short)} queries")

    def cut(row: pd.Series) -> pd.Series:
        row = row.copy()
        for field in PER_QUERY:
            if field in row.index and isinstance(row[field], (list, tuple, np.ndarray)):
                row[field] = list(row[field])[:n]
        labels = np.asarray(row["labels"])
        row["accuracy"] = float((np.asarray(row["predictions"]) == labels).mean())
        row["n_eval"] = n
        row["majority_rate"] = float(np.bincount(labels[labels >= 0]).max() / len(labels))
        return row

    return points.apply(cut, axis=1)


def baseline(task: str, majority_rate: float) -> float:
    """The rate an answer-ignoring model reaches: the larger of 1/K and always answering the majority label."""
    return max(1.0 / get_task(task).num_classes, float(majority_rate))


def unpruned_row(g: pd.DataFrame) -> pd.Series:
    """The unpruned point (clip rate 0) of one sweep group: the reference every truncation is compared with."""
    base = g[g.clip_rate == 0.0]
    if base.empty:
        raise ValueError("a sweep group has no clip rate 0 (the unpruned reference); include 0 in clip_rates")
    return base.iloc[0]


def point_tests(sweeps: pd.DataFrame, group: list[str], family: list[str] | None = None) -> pd.DataFrame:
    """Every pruned point against its group's unpruned point on the same queries, adjusted over its family.

    One row per pruned point: the paired difference in accuracy, its simultaneous interval ``low``/``high`` at
    level ``1 - alpha/m`` (``m``: the pruned points of the family, the size of the search), the exact McNemar
    ``p`` and its Holm adjustment ``p_holm``, and ``mde``, the smallest gain the family-adjusted test detects at
    80% power. ``family`` (default: ``group``) is a coarser grouping when one claim spans several reference
    points, e.g. all shot numbers of a model.
    """
    rows = []
    for key, g in sweeps.groupby(group, sort=False):
        g = g.sort_values(["layer", "module", "clip_rate"])
        ref = unpruned_row(g)
        base = correctness(ref)
        for _, r in g[g.clip_rate > 0].iterrows():
            rows.append(
                {
                    **group_fields(group, key),
                    "layer": r.layer,
                    "module": r.module,
                    "clip_rate": r.clip_rate,
                    "unpruned": float(base.mean()),
                    "accuracy": float(r.accuracy),
                    "majority_rate": float(ref.majority_rate),
                    "p": paired_comparison(base, correctness(r)).p_value,
                    "_a": base,
                    "_b": correctness(r),
                }
            )
    out = pd.DataFrame(rows)
    if out.empty:
        return out
    families = out.groupby(family or group, sort=False, group_keys=False)
    return pd.concat([_adjusted(f) for _, f in families]).sort_index()


def _adjusted(out: pd.DataFrame) -> pd.DataFrame:
    """One family's adjusted columns for rows holding per-query ``_a``/``_b`` and ``p``: Holm p (of the exact tests),
    ``m``, the queries ``n`` (unless given), the simultaneous interval of ``_b - _a``, the adjusted p dual to it
    (``p_adj``) and the detectable effect (``_a``/``_b`` dropped)."""
    out = out.copy()
    m = len(out)
    if "n" not in out:
        out["n"] = [len(a) for a in out._a]
    out["p_holm"] = holm(out.p.to_numpy())
    out["m"] = m
    intervals = [paired_interval(a, b, m) for a, b in zip(out._a, out._b)]
    out["difference"] = [i.difference for i in intervals]
    out["low"] = [i.low for i in intervals]
    out["high"] = [i.high for i in intervals]
    out["p_adj"] = [interval_p(i, m) for i in intervals]  # dual to the interval: what a record line states
    out["mde"] = [detectable_effect(a, b, m) for a, b in zip(out._a, out._b)]
    return out.drop(columns=["_a", "_b"])


def with_outcomes(out: pd.DataFrame, margin: float, sign: int = 1) -> pd.DataFrame:
    """:func:`_adjusted`, then the margin and the outcome (:func:`svd_icl.claims.core.decide`). Rows with an
    ``informative`` column that is false are ``NOT INFORMATIVE`` in either direction (a degenerate reference:
    :func:`svd_icl.claims.sets.informative_set`)."""
    out = _adjusted(out)
    out["margin"] = margin
    out["outcome"] = [decide(lo, hi, margin, sign) for lo, hi in zip(out.low, out.high)]
    if "informative" in out:
        out.loc[~out.informative.astype(bool), "outcome"] = NOT_INFORMATIVE
    return out


def collapsed(shares: list[float], threshold: float = 0.95) -> int | None:
    """The class index that at least ``threshold`` of the queries are answered with, or None."""
    shares = list(shares)
    top = int(np.argmax(shares))
    return top if shares[top] >= threshold else None


def effect(row, unit: str = "points") -> str:
    """'+10.0 points (simultaneous 99.9% interval [+2.0, +18.0]), adjusted p = 0.012, m = 56' from a row with
    difference/low/high and p_adj (else p_holm) and m (or p: a single comparison, 95% interval)."""
    scale = 100 if unit == "points" else 1
    span = f"[{row.low * scale:+.1f}, {row.high * scale:+.1f}]"
    if hasattr(row, "p_holm") and hasattr(row, "m"):
        m = int(row.m)
        kind = f"simultaneous {family_level(m):.1%} interval" if m > 1 else "95% interval"
        p = f"adjusted {fmt_p(row.p_adj)}" if hasattr(row, "p_adj") else f"Holm {fmt_p(row.p_holm)}"
        return f"{row.difference * scale:+.1f} {unit} ({kind} {span}), {p}, m = {m}"
    return f"{row.difference * scale:+.1f} {unit} (95% interval {span}), {fmt_p(row.p)}"


def case_evidence(row, name: str, detail: str = "", note: str = "", field: str = "difference") -> str:
    """One decided case as the reproduction record states it: the outcome, the effect with its simultaneous
    interval, and what a reader needs to weigh it: queries (and demonstration sets), the family size ``m``, the
    adjusted p where the claim has one (against ``p_null`` when the row has one), the margin (smallest effect of
    interest) and the smallest effect the test
    detects. The effect is the row's ``field``; ``detail`` goes before it (e.g. the setting), ``note`` inside the
    parentheses at the end::

        gemma3-270m/sst2: does not hold, -1.2% [-1.8%, -0.6%] (n = 2000 x 4 sets, m = 4, adjusted p = 0.002,
        margin +2.0%, detects +0.8%)
    """
    seeds = getattr(row, "seeds", None)
    parts = [f"n = {row.n}" + (f" x {seeds} set{'s' if seeds != 1 else ''}" if seeds else ""), f"m = {int(row.m)}"]
    p_adj, p_holm = getattr(row, "p_adj", None), getattr(row, "p_holm", None)
    if p_adj is not None and np.isfinite(p_adj):  # the p dual to the interval (they cannot disagree)
        null = getattr(row, "p_null", 0.0)  # a claim decided against its margin states its p against the margin
        parts.append(f"adjusted {fmt_p(p_adj)}" + (f" against {null:+.1%}" if null else ""))
    elif p_holm is not None and np.isfinite(p_holm):
        parts.append(f"Holm {fmt_p(p_holm)}")
    parts += [f"margin {row.margin:+.1%}", f"detects {row.mde:+.1%}"] + ([note] if note else [])
    value = getattr(row, field)
    return f"{name}: {row.outcome}, {detail}{value:+.1%} [{row.low:+.1%}, {row.high:+.1%}] ({', '.join(parts)})"


def pct(x: float) -> str:
    return f"{x:.1%}"
