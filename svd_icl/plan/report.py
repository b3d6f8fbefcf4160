"""The plan as tables (per chapter on this machine, or on a stated device), the memory a profile needs, the audit of a
finished build (``--check``) and the compute its stored points took (the README's figure)."""

from __future__ import annotations

import os
from pathlib import Path

from svd_icl.plan.cost import NOTEBOOK_OVERHEAD_S, Shapes
from svd_icl.plan.planner import Planner, Priced, point_key
from svd_icl.profiles import chapter_parameters
from svd_icl.work import Confirmation, Sweep


def fmt_minutes(seconds: float) -> str:
    return f"{seconds / 60:.0f} min" if seconds >= 90 else f"{seconds:.0f} s"


def fmt_hours(seconds: float) -> str:
    return f"{seconds / 3600:.1f} h" if seconds >= 5400 else fmt_minutes(seconds)


def plan_table(priced: list[Priced], chapters: list[str], gflops: float) -> str:
    """The plan as a fixed-width table: one line per chapter, then the total (``gflops``: this CPU's float32)."""
    lines = [f"{'chapter':10s} {'needed':>7s} {'stored':>7s} {'estimate':>9s}  work"]
    total = stored = 0
    seconds = 0.0
    for name in chapters:
        mine = [p for p in priced if p.chapter == name]
        t, s = sum(p.total for p in mine), sum(p.stored for p in mine)
        sec = sum(p.seconds for p in mine) + NOTEBOOK_OVERHEAD_S
        kinds = sorted({p.kind for p in mine}) or ["(no sweep points)"]
        lines.append(f"{name:10s} {t:7d} {s:7d} {fmt_minutes(sec):>9s}  {', '.join(kinds)}")
        total, stored, seconds = total + t, stored + s, seconds + sec
    lines.append(f"{'total':10s} {total:7d} {stored:7d} {fmt_minutes(seconds):>9s}  "
                 f"(this CPU: {gflops:.0f} GFLOP/s float32, {os.cpu_count()} cores)")  # fmt: skip
    return "\n".join(lines)


def device_table(priced: list[Priced], chapters: list[str], tflops: float, workers: int) -> str:
    """Compute left per chapter on one device of ``tflops`` (dense matmul TFLOP/s at the profile's dtype) and on
    ``workers`` such devices: sweep points, confirmations and Algorithm 1 runs are independent units that Ray spreads
    over workers; a chapter's trained toys and condition-number tables run on one."""
    lines = [f"{'chapter':10s} {'points':>7s} {'1 device':>9s} {f'{workers} devices':>11s}"]
    one = many = 0.0
    for name in chapters:
        mine = [p for p in priced if p.chapter == name]
        parallel = sum(p.seconds for p in mine if p.kind != "fixed")
        serial = sum(p.seconds for p in mine if p.kind == "fixed") + NOTEBOOK_OVERHEAD_S
        a, b = parallel + serial, parallel / workers + serial
        lines.append(f"{name:10s} {sum(p.total for p in mine):7d} {fmt_hours(a):>9s} {fmt_hours(b):>11s}")
        one, many = one + a, many + b
    lines.append(f"{'total':10s} {sum(p.total for p in priced):7d} {fmt_hours(one):>9s} {fmt_hours(many):>11s}"
                 f"  (at {tflops:g} TFLOP/s per device)")  # fmt: skip
    return "\n".join(lines)


def memory_needs(profile: str, chapters: list[str], shapes: Shapes) -> dict[str, float]:
    """Per model of the profile: the GB one copy of its weights takes at the dtype it runs in (GPU memory needs that
    plus one layer's factors and activations; the download is about the same on disk)."""
    sizes: dict[str, float] = {}
    for name in chapters:
        p = chapter_parameters(name, profile)
        dtypes = {p.get(k) for k in ("dtype", "reference_dtype", "other_dtype")} - {None}  # precision loads both
        width = 4 if "float32" in dtypes or not dtypes else 2
        for m in [m for m, _ in p.get("runs", [])] + p.get("models", []) + p.get("model_names", []):
            sizes[m] = max(sizes.get(m, 0), shapes.size(m)[0] * width)
    return {m: b / 1e9 for m, b in sizes.items()}


def planned_points(priced: list[Priced], results: Path) -> dict[str, tuple[list[dict], list[dict]]]:
    """Per sweep store: its stored records some unit planned (a sweep point by key, or a point on a confirmation's
    queries) and those none did. One matcher for :func:`check` and :func:`stored_compute`."""
    planner = Planner(results)
    sweeps = [p.unit for p in priced if isinstance(p.unit, Sweep)]
    confirmations = [p.unit for p in priced if isinstance(p.unit, Confirmation)]
    sizes = [(c, {c.design.queries, c.design.cap, c.design.tuned}) for c in confirmations]
    out = {}
    for store_name in {u.store for u in sweeps}:
        store = planner.store(store_name)
        if store is None:
            continue
        wanted: set[str] = set()
        for u in sweeps:
            if u.store == store_name:
                wanted |= planner.prompt_plan(u.config, u.dtype).wanted(point_key)
        used, unused = [], []
        for r in store.records():
            on_confirmation = any(r.get("model") == c.model and r.get("task") == c.task and r.get("split") == "test"
                                  and r.get("n") in ns for c, ns in sizes)  # fmt: skip
            (used if store.key(r) in wanted or on_confirmation else unused).append(r)
        out[store_name] = (used, unused)
    return out


def check(priced: list[Priced], results: Path) -> list[str]:
    """Problems that make the plan disagree with a finished build, for every kind of unit: planned points (runs,
    files) not stored (a sequential confirmation must hold its first look), and stored sweep points no unit planned."""
    problems = [f"{p.chapter}: {p.label}: {p.missing} of {p.total} planned {p.kind} points not stored"
                + (" (of its first look)" if p.first_missing is not None else "")
                for p in priced if p.missing > 0]  # fmt: skip
    for store_name, (_, unused) in planned_points(priced, results).items():
        problems += [f"{store_name}: a stored point no chapter planned: {r.get('model')}/{r.get('task')} "
                     f"{r.get('split')} n={r.get('n')} shots={r.get('shots')} layer {r.get('layer')} "
                     f"{r.get('module')} xi={r.get('clip_rate')}" for r in unused]  # fmt: skip
    return problems


def stored_compute(priced: list[Priced], results: Path) -> tuple[float, float]:
    """Seconds of compute the stored points the plan uses took when they were computed (their records' own
    ``seconds``), and the part of it on held-out test queries (the confirmation sets): what a cold build of these
    points costs on the machine that computed them, whether or not this build computed them itself. Points no
    unit plans (left by earlier parameters) are not counted."""
    total = confirmation = 0.0
    for used, _ in planned_points(priced, results).values():
        for r in used:
            seconds = float(r.get("seconds") or 0)
            total += seconds
            confirmation += seconds if r.get("split") == "test" else 0.0
    return total, confirmation
