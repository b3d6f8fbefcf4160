"""Speed-up of a sweep on a local Ray cluster over the same sweep in-process (same records).

Runs one sweep serially, then the same sweep on Ray with ``--workers`` workers of ``--cpus-per-worker`` CPUs each,
into fresh results files, checks that both wrote the same records, and prints both wall times and their ratio.
On a machine with few cores the ratio is bounded by the cores (workers share them with torch's threads).

    python benchmarks/bench_ray.py [--model smollm2-135m] [--task sst2] [--layers 0,-1] [--n 40] [--workers 2]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch

from svd_icl.distributed import connect, run_sweep_ray
from svd_icl.models import load_model
from svd_icl.results import ResultStore
from svd_icl.sweep import KEY_FIELDS, SweepConfig, run_sweep


def answers(path: Path) -> dict:
    store = ResultStore(path, KEY_FIELDS)
    return {store.key(r): r["predictions"] for r in store.records()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--task", default="sst2")
    parser.add_argument("--layers", default="0,-1")
    parser.add_argument("--n", type=int, default=40)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--cpus-per-worker", type=int, default=1)
    args = parser.parse_args()

    config = SweepConfig(model=args.model, task=args.task, layers=[int(x) for x in args.layers.split(",")],
                         clip_rates=[0.0, 0.5, 0.9, 0.99], shots=4, n=args.n)  # fmt: skip
    tmp = Path(tempfile.mkdtemp(prefix="bench-ray-"))
    torch.set_num_threads(args.workers * args.cpus_per_worker)  # the serial run gets the same cores
    start = time.perf_counter()
    model, tok = load_model(args.model)
    run_sweep(model, tok, config, tmp / "serial.jsonl", progress=False)
    serial = time.perf_counter() - start
    del model
    connect("local")
    start = time.perf_counter()
    run_sweep_ray(config, tmp / "ray.jsonl", address="local", workers=args.workers,
                  cpus_per_worker=args.cpus_per_worker, progress=False)  # fmt: skip
    distributed = time.perf_counter() - start
    same = answers(tmp / "serial.jsonl") == answers(tmp / "ray.jsonl")
    points = len(answers(tmp / "ray.jsonl"))
    print(f"{args.model} {args.task}, {points} points: serial {serial:.1f} s (incl. loading the model once), "
          f"Ray {args.workers}x{args.cpus_per_worker} CPUs {distributed:.1f} s (incl. workers loading it); "
          f"speed-up {serial / distributed:.2f}x; same answers: {same}")  # fmt: skip


if __name__ == "__main__":
    main()
