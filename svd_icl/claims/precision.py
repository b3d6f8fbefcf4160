"""The precision chapter's second question: do the chapters' claims come out the same from the cheaper format's
records as from float32? Agreement of answers point by point (:func:`svd_icl.fidelity.gate`) can hide a change
where it matters, at the points a claim turns on; this reruns the Figure 1 claims on each format's sweeps."""

from __future__ import annotations

import pandas as pd

from svd_icl.analysis import group_fields
from svd_icl.claims.fig1 import can_improve, depth_stability, shallow_collapse
from svd_icl.claims.points import point_tests


def claim_outcomes(sweeps: pd.DataFrame, group: list[str]) -> pd.DataFrame:
    """One row per (group, claim) with the outcome of Figure 1's three claims on ``sweeps`` (one dtype)."""
    num_layers = sweeps.groupby("model").num_layers.first().to_dict()
    tests = point_tests(sweeps, group)
    decided = {
        "truncation raises accuracy (search)": can_improve(tests, group),
        "deep layers tolerate truncation": depth_stability(sweeps, group, num_layers),
        "shallow layers collapse": shallow_collapse(sweeps, group, num_layers),
    }
    return pd.DataFrame(
        [
            {**group_fields(group, tuple(r[g] for g in group)), "claim": claim, "outcome": r["outcome"]}
            for claim, table in decided.items()
            for r in table.to_dict("records")
        ]  # fmt: skip
    )


def outcomes_by_dtype(sweeps: pd.DataFrame, reference: str, other: str, group: list[str]) -> pd.DataFrame:
    """Figure 1's claims decided on each format's records, side by side: ``outcome_<dtype>`` and ``same``."""
    ref = claim_outcomes(sweeps[sweeps.dtype == reference], group)
    oth = claim_outcomes(sweeps[sweeps.dtype == other], group)
    both = ref.merge(oth, on=[*group, "claim"], suffixes=(f"_{reference}", f"_{other}"))
    return both.assign(same=both[f"outcome_{reference}"] == both[f"outcome_{other}"])
