"""The precision chapter's work (both formats' sweeps, where the cheaper one is cheaper here) and its decision in
words (it records no claim: it decides the book's dtype)."""

from __future__ import annotations

import pandas as pd

from svd_icl.fidelity import GateDecision
from svd_icl.sweep import SweepConfig
from svd_icl.work import Facts, Sweep, Unit


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


def compared(p: dict, speedup: float) -> bool:
    """Does the chapter sweep both formats? On a GPU always; on a CPU only where the other format's matmuls run at
    least ``min_speedup`` times as fast as the reference's (``speedup``, :func:`svd_icl.fidelity.matmul_speedup`):
    an emulated format only costs."""
    return p.get("device", "cpu") != "cpu" or speedup >= p.get("min_speedup", 1.0)


def work(p: dict, facts: Facts) -> list[Unit]:
    """Both formats' sweeps of every run, or the reference format's alone where the other is no faster here."""
    on_gpu = p.get("device", "cpu") != "cpu"
    speedup = float("inf") if on_gpu else facts.speedup(p["other_dtype"], p["reference_dtype"])
    dtypes = (p["reference_dtype"], p["other_dtype"]) if compared(p, speedup) else (p["reference_dtype"],)
    return [Sweep(chapter="precision", label=f"{m}/{t} {dtype}", config=sweep_config(p, m, t), dtype=dtype)
            for dtype in dtypes for m, t in p["runs"]]  # fmt: skip


def sweep_config(p: dict, model: str, task: str) -> SweepConfig:
    """The sweep both formats run on (``model``, ``task``)."""
    return SweepConfig(model=model, task=task, layers=p["layers"], modules=p["modules"], clip_rates=p["clip_rates"],
                       shots=p["shots"].get(task), seed=p["seed"], split=p["split"],
                       n=p["n_queries"].get(task))  # fmt: skip
