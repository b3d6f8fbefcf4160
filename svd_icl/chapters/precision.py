"""The precision chapter's decision in words (it records no claim: it decides the book's dtype)."""

from __future__ import annotations

import pandas as pd

from svd_icl.fidelity import GateDecision


def describe_decision(decision: GateDecision | None, sweeps: pd.DataFrame, reference: str, other: str,
                      speedup: float, min_speedup: float) -> str:  # fmt: skip
    """The gate's decision with the compute each format took, or why the cheaper format was not swept here."""
    if decision is None:
        return (f"**Not compared on this machine: a {other} matmul runs {speedup:.2f} times as fast as a {reference} "
                f"one on this CPU** (below {min_speedup:g}: no native {other} arithmetic, so it is emulated), so "
                f"{other} cannot make the book cheaper here, and the book stays in {reference}. On a CPU with "
                "AVX512-BF16, or a GPU, the chapter sweeps both formats and applies the gate.")  # fmt: skip
    seconds = sweeps.groupby("dtype").seconds.sum()
    return (f"**{decision.sentence(other, reference)}** Over these {decision.points} points the {other} sweeps took "
            f"{seconds[reference] / seconds[other]:.2f} times less compute time than the {reference} ones "
            f"({seconds[other]:.0f} s against {seconds[reference]:.0f} s, as recorded when each point was "
            "computed).")  # fmt: skip
