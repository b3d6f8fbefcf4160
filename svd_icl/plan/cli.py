"""``python -m svd_icl.plan`` (``svd-icl plan``): the plan table, progress while a build runs (``--watch``), the audit
of a finished build (``--check``), a time budget (``--budget``), a stated device (``--gpu-tflops``) and filling the
planned sweep points on a Ray cluster (``--fill``)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from svd_icl.plan.cost import Machine
from svd_icl.plan.planner import Planner, Priced, build_plan
from svd_icl.plan.report import check, device_table, fmt_minutes, memory_needs, plan_table
from svd_icl.plan.watch import watch
from svd_icl.profiles import PROFILES, ROOT, toc_chapters
from svd_icl.work import Confirmation, Sweep


def fill(priced: list[Priced], results: Path, address: str, workers: int | None = None,
         cpus_per_worker: int = 1) -> int:  # fmt: skip
    """Compute every planned sweep point on a Ray cluster (:func:`svd_icl.distributed.run_sweep_ray`) into the
    build's results files, so that the notebooks then only read and replot them. Returns the points computed.
    Confirmations and Algorithm 1 runs depend on earlier results (a selection, condition numbers) and are left to
    the chapters (or ``svd-icl algorithm1 --ray``)."""
    from svd_icl.distributed import run_sweep_ray

    computed = 0
    for p in priced:
        if isinstance(p.unit, Sweep) and p.stored < p.total:
            run_sweep_ray(p.unit.config, results / p.unit.store, p.unit.dtype, address, workers, cpus_per_worker)
            computed += p.total - p.stored
    return computed


def save_estimates(priced: list[Priced], chapters: list[str], machine: Machine, path: Path) -> None:
    """Each chapter's estimated seconds (notebook overhead included) and its required part, as JSON at ``path``: the
    README's record sets them beside the measured times."""
    from svd_icl.plan.cost import NOTEBOOK_OVERHEAD_S

    out = {
        name: {
            "seconds": sum(p.seconds for p in priced if p.chapter == name) + NOTEBOOK_OVERHEAD_S,
            "required_seconds": sum(p.required_seconds for p in priced if p.chapter == name) + NOTEBOOK_OVERHEAD_S,
        }
        for name in chapters
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"chapters": out, "gflops": machine.gflops}, indent=1))


def budget_report(priced: list[Priced], minutes: float) -> str:
    """What a build given ``minutes`` for its chapters (``ci/build_book.sh --budget``) computes: every chapter's
    required work (searches, controls, Algorithm 1 runs, every confirmation's first look) and, in build order until
    the deadline, the further looks of cases still undetermined; the confirmations the deadline may leave open."""
    required = sum(p.required_seconds for p in priced)
    further = [p for p in priced if isinstance(p.unit, Confirmation) and p.seconds > p.required_seconds]
    extra = sum(p.seconds - p.required_seconds for p in further)
    budget = minutes * 60
    lines = [
        f"budget {minutes:g} min: the required work (searches, controls, runs, first looks) is about "
        f"{fmt_minutes(required)}; further looks, if every case went to its last, about {fmt_minutes(extra)}"
    ]
    if required > budget:
        lines.append("the budget is shorter than the required work: the chapters still run whole, every confirmation "
                     "stops at its first look, and the build overruns by about "
                     f"{fmt_minutes(required - budget)}")  # fmt: skip
        return "\n".join(lines)
    left, spent, open_ = budget - required, 0.0, []
    for p in further:  # the build runs chapters in order: a later chapter's looks come after an earlier one's
        spent += p.seconds - p.required_seconds
        if spent > left:
            open_.append(f"{p.chapter}: {p.label}")
    if open_:
        lines.append(f"may stop at the budget before their last look ({len(open_)}): " + "; ".join(open_))
    else:
        lines.append("every confirmation can reach its last look within the budget")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="svd-icl plan", description="The build plan: every unit of work each "
                                     "chapter needs, how much is stored, and the compute left.")  # fmt: skip
    parser.add_argument("--profile", default="default", help=", ".join(PROFILES) + " (params/<chapter> files)")
    parser.add_argument("--results", default="build/default/results", help="the build's results directory")
    parser.add_argument("--chapters", default=None, help="comma-separated chapter names (default: all, in order)")
    parser.add_argument("--watch", type=float, default=0, metavar="SECONDS", help="print progress every SECONDS")
    parser.add_argument("--current", default=None, help="file holding the chapter being executed (--watch)")
    parser.add_argument("--build-pid", type=int, default=None, help="the build's process (--watch: others compete)")
    parser.add_argument("--check", action="store_true", help="fail unless the stored work is the planned work")
    parser.add_argument(
        "--budget",
        type=float,
        default=None,
        metavar="MIN",
        help="say what a build given MIN minutes for its chapters computes and may leave open",
    )
    parser.add_argument("--fill", default=None, metavar="local|auto|ADDRESS",
                        help="compute the planned sweep points on this Ray cluster, then exit")  # fmt: skip
    parser.add_argument("--workers", type=int, default=None, help="Ray workers for --fill")
    parser.add_argument(
        "--gpu-tflops",
        type=float,
        default=None,
        metavar="T",
        help="estimate for a device of T dense TFLOP/s at the profile's dtype, on 1 and --workers",
    )
    parser.add_argument(
        "--gpu-memory",
        type=float,
        default=None,
        metavar="GB",
        help="with --gpu-tflops: fail unless each model's weights fit in GB (one device)",
    )
    parser.add_argument(
        "--save",
        default=None,
        metavar="FILE",
        help="write each chapter's estimated seconds (and the machine's GFLOP/s) to FILE as JSON",
    )
    parser.add_argument(
        "--competition-log",
        default=None,
        metavar="FILE",
        help="--watch: append each check that found other processes on the cores to FILE",
    )
    parser.add_argument("--throughput-file", default=None,
                        help="JSON file of measured GFLOP/s: written if missing, read if present")  # fmt: skip
    args = parser.parse_args(argv)
    results = Path(args.results)
    if args.profile == "paper-dry":  # the dry run's stand-ins, as ci/build_book.sh maps them (unless told otherwise)
        from svd_icl.models import MODEL_MAP_ENV

        os.environ.setdefault(MODEL_MAP_ENV, str(ROOT / "ci" / "paper_dry_models.yaml"))
    if args.budget is not None and args.budget <= 0:
        print(f"svd-icl plan: error: --budget {args.budget:g}: give a positive number of minutes", file=sys.stderr)
        return 2
    try:
        if args.gpu_tflops is not None:
            machine = Machine.device(args.gpu_tflops)
        elif args.throughput_file:
            machine = Machine.from_file(Path(args.throughput_file))
        else:
            machine = Machine()
        planner = Planner(results, machine)
        chapters = args.chapters.split(",") if args.chapters else toc_chapters()
        if args.watch:
            current = Path(args.current) if args.current else None
            log = Path(args.competition_log) if args.competition_log else None
            watch(args.profile, planner, args.watch, current, args.build_pid, log)
            return 0
        priced = build_plan(args.profile, results, chapters, planner)
        if args.throughput_file and args.gpu_tflops is None:  # keep what pricing measured (another dtype) for later
            Path(args.throughput_file).write_text(json.dumps(machine.gflops))
    except (ValueError, OSError) as exc:
        print(f"svd-icl plan: error: {exc}", file=sys.stderr)
        return 2
    if args.gpu_tflops is not None:
        return _device_report(args, priced, chapters, planner)
    print(plan_table(priced, chapters, machine.throughput()))
    if args.save:
        save_estimates(priced, chapters, machine, Path(args.save))
    for note in planner.shapes.notes:
        print(f"note: {note}")
    if args.budget is not None:
        print(budget_report(priced, args.budget))
    if args.fill:
        computed = fill(priced, results, args.fill, args.workers)
        print(f"svd-icl plan: {computed} sweep points computed on Ray into {results}")
        return 0
    if args.check:
        problems = check(priced, results)
        for p in problems:
            print(f"svd-icl plan: {p}", file=sys.stderr)
        return 1 if problems else 0
    return 0


def _device_report(args: argparse.Namespace, priced: list[Priced], chapters: list[str], planner: Planner) -> int:
    """The plan on a stated device (``--gpu-tflops``): its table, the memory each model needs, and whether it fits."""
    print(device_table(priced, chapters, args.gpu_tflops, args.workers or 8))
    memory = memory_needs(args.profile, chapters, planner.shapes)
    print(
        "memory: "
        + "; ".join(f"{m} {gb:.1f} GB of weights" for m, gb in memory.items())
        + " (one copy per device, plus a layer's factors and activations; about as much disk per download)"
    )
    for note in planner.shapes.notes:
        print(f"note: {note}")
    print("note: the engine's distance from the matmul floor was measured on a CPU; short rows run further from "
          "a GPU's peak, and the trained toys far further: read these as lower bounds")  # fmt: skip
    too_big = [f"{m} ({gb:.1f} GB)" for m, gb in memory.items() if args.gpu_memory and gb > args.gpu_memory]
    if too_big:
        print(f"svd-icl plan: error: weights do not fit in --gpu-memory {args.gpu_memory:g} GB: "
              + ", ".join(too_big), file=sys.stderr)  # fmt: skip
        return 1
    return 0
