"""Does a cheaper number format give the same answers?  The precision gate for bfloat16 sweeps.

A sweep in bfloat16 (weights and activations; the SVD, the rank-r reconstruction and the label scores stay in
float32) runs about twice as fast on a CPU with AVX512-BF16, but every weight and every residual-stream value is
rounded to 8 significant bits.  Whether that changes the paper's measurements is an empirical question, asked here
of real sweeps: the same points (model, task, layer, module, clip rate, queries, demonstrations) scored in both
formats, compared query by query.

:func:`compare_dtypes` pairs the points of two dtypes and reports, per point, the share of queries given the
same answer, the paired accuracy difference with its interval and exact McNemar p-value, and the largest change
of a candidate score.  :func:`gate` turns that table into the decision the book applies: the cheaper format
becomes the default only if the answers agree on at least ``min_agreement`` of the queries *at every distinct point*
(the unpruned evaluation, which several (layer, module) groups share, counted once) and no point's accuracy differs
significantly after Holm's adjustment over those points.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from svd_icl.stats import holm, paired_comparison

BOOK_DTYPE = "float32"  # the dtype every chapter's `dtype` parameter defaults to (tests/test_fidelity.py checks)
MIN_AGREEMENT = 0.99  # share of queries that must get the same answer in both formats
ALPHA = 0.05

POINT = ["model", "task", "layer", "module", "clip_rate"]


def compare_dtypes(frame: pd.DataFrame, reference: str = "float32", other: str = "bfloat16") -> pd.DataFrame:
    """One row per point scored in both ``reference`` and ``other`` (sweep records with per-query answers).

    Columns: the point, ``n``, ``agreement`` (share of queries with the same prediction, ties included),
    ``acc_reference``, ``acc_other``, ``difference`` (other - reference) with its paired-bootstrap interval
    ``low``/``high``, exact McNemar ``p`` and ``p_holm`` (over all rows), and ``max_score_diff`` (largest absolute
    change of a normalised candidate log-probability).  Points scored in only one dtype are left out.
    """
    missing = {*POINT, "dtype", "labels", "predictions", "scores"} - set(frame.columns)
    if missing:
        raise ValueError(f"sweep records lack {sorted(missing)}; rerun the sweep with this version of svd_icl")
    ref = frame[frame.dtype == reference].set_index(POINT)
    alt = frame[frame.dtype == other].set_index(POINT)
    rows = []
    for point in ref.index.intersection(alt.index):
        a, b = ref.loc[point], alt.loc[point]
        labels = np.asarray(a["labels"])
        if not np.array_equal(labels, np.asarray(b["labels"])):
            raise ValueError(f"point {point}: the two dtypes were scored on different queries")
        pa, pb = np.asarray(a["predictions"]), np.asarray(b["predictions"])
        test = paired_comparison((pa == labels).astype(float), (pb == labels).astype(float))
        rows.append(
            {
                **dict(zip(POINT, point)),
                "n": len(labels),
                "agreement": float((pa == pb).mean()),
                "acc_reference": float((pa == labels).mean()),
                "acc_other": float((pb == labels).mean()),
                "difference": test.difference,
                "low": test.low,
                "high": test.high,
                "p": test.p_value,
                "max_score_diff": float(np.abs(np.asarray(a["scores"]) - np.asarray(b["scores"])).max()),
            }
        )
    table = pd.DataFrame(rows)
    if not table.empty:
        table["p_holm"] = holm(table.p)
        table = table.sort_values(POINT).reset_index(drop=True)
    return table


@dataclass(frozen=True)
class GateDecision:
    passes: bool
    agreement: float  # the lowest agreement among distinct points
    significant: int  # points whose accuracy differs after Holm
    points: int
    min_agreement: float
    worst: str  # the point with the lowest agreement, described
    claims: int = 0  # (claim, case) outcomes compared between the formats (0: not checked)
    claims_differ: tuple[str, ...] = ()  # those that differ, described

    def sentence(self, other: str = "bfloat16", reference: str = "float32", book: str = BOOK_DTYPE) -> str:
        """The decision in words, generated from the numbers; ``book`` is the dtype the chapters default to."""
        if self.passes:
            verdict = f"so {other} passes the gate (the chapters compute in {book})"
        else:
            verdict = f"so {other} fails the gate and the book stays in {reference}"
        reasons = []
        if self.agreement < self.min_agreement:
            reasons.append(
                f"at the worst of {self.points} distinct points the answers agree on {self.agreement:.1%} of queries, "
                f"below the {self.min_agreement:.0%} required at every point"
            )
        else:
            reasons.append(
                f"the answers agree on at least {self.agreement:.1%} of queries at every one of {self.points} distinct "
                f"points (at least {self.min_agreement:.0%} required)"
            )
        reasons.append(
            f"{self.significant} of {self.points} points differ significantly in accuracy after Holm"
            if self.significant
            else f"no accuracy difference is significant after Holm over {self.points} points"
        )
        if self.claims:
            reasons.append(
                f"{len(self.claims_differ)} of {self.claims} claim outcomes differ between the formats "
                f"({'; '.join(self.claims_differ)})"
                if self.claims_differ
                else f"all {self.claims} claim outcomes are the same in both formats"
            )
        text = f"{'; '.join(reasons)} (lowest: {self.worst}), {verdict}."
        return text[0].upper() + text[1:]


def distinct_points(table: pd.DataFrame) -> pd.DataFrame:
    """``table`` with the unpruned evaluations (clip rate 0) kept once per (model, task): they are one evaluation
    repeated under every (layer, module), and counting them again would weigh one comparison several times."""
    unpruned = table.clip_rate == 0
    once = table[unpruned].drop_duplicates(["model", "task"])
    return pd.concat([once, table[~unpruned]]).sort_values(POINT).reset_index(drop=True)


def gate(
    table: pd.DataFrame,
    min_agreement: float = MIN_AGREEMENT,
    alpha: float = ALPHA,
    claims: pd.DataFrame | None = None,
) -> GateDecision:
    """The cheaper dtype passes if *every* distinct point agrees on at least ``min_agreement`` of its queries, no
    accuracy differs after Holm over the distinct points, and (when ``claims`` is given:
    :func:`svd_icl.claims.outcomes_by_dtype`'s rows, with ``claim``, ``model``, ``task`` and ``same``) every claim
    comes out the same from both formats' records: one bad point or one flipped claim fails the gate."""
    if table.empty:
        raise ValueError("no point was scored in both dtypes; nothing to decide the precision gate on")
    table = distinct_points(table)
    p_holm = holm(table.p.to_numpy())
    significant = int((p_holm < alpha).sum())
    w = table.loc[table.agreement.idxmin()]
    worst = f"{w.model} {w.task} layer {w.layer} {w.module} xi = {w.clip_rate:g}, {w.agreement:.1%}"
    agreement = float(w.agreement)
    differ = ()
    if claims is not None and len(claims):
        differ = tuple(f"{r.claim}, {r.model}/{r.task}" for r in claims[~claims.same.astype(bool)].itertuples())
    passes = agreement >= min_agreement and significant == 0 and not differ
    n_claims = 0 if claims is None else len(claims)
    return GateDecision(passes, agreement, significant, len(table), min_agreement, worst, n_claims, differ)


def matmul_speedup(other: str = "bfloat16", reference: str = "float32", size: int = 512, repeats: int = 5) -> float:
    """How many times faster a ``size`` x ``size`` matmul runs in ``other`` than in ``reference`` on this CPU (the
    best of ``repeats`` timings each, all torch threads). Below 1 on a CPU without AVX512-BF16: there bfloat16 is
    emulated, often a hundred times slower, and cannot make the book cheaper, so the precision chapter does not run
    its sweeps there (a comparison that would take days to say "keep float32")."""
    import time

    import torch

    def best(dtype: str) -> float:
        a = torch.randn(size, size, dtype=getattr(torch, dtype))
        a @ a
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            a @ a
            times.append(time.perf_counter() - start)
        return min(times)

    return best(reference) / best(other)
