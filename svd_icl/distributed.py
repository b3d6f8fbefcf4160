"""Sweeps and Algorithm 1 across processes, GPUs and machines, on Ray.

The unit of work is one (layer, module) of a sweep with all its clip rates still to do, so that a worker keeps the
layer's SVD factors and its resume cache for the whole unit (:func:`svd_icl.sweep.unit_records`), or one Algorithm 1
run (task, module, seed). Workers are Ray actors that load the model once and serve many units; each asks for one
GPU when the cluster has GPUs, otherwise ``cpus_per_worker`` CPUs (and uses that many torch threads).

The driver is the only writer of the results file: it appends each unit's records as they arrive, through the
same :class:`svd_icl.results.ResultStore` (file lock, one record per key), so kill-safety and resume are those of
an in-process run. Faults: a worker process that dies (killed, out of memory) is restarted by Ray and its pending
unit retried (``max_restarts`` / ``max_task_retries``); a unit's records are returned whole, so a retry never writes
half a unit twice. A killed driver loses only units in flight; rerunning the same command skips what is stored.

``address``: ``None`` runs in-process (no Ray); ``"local"`` starts a Ray instance on this machine; ``"auto"``
joins the cluster this machine belongs to (``ray start``, ``RAY_ADDRESS``); anything else is a cluster address
(``ray://head:10001`` or ``head:6379``).
"""

from __future__ import annotations

import os
from dataclasses import asdict
from pathlib import Path

import pandas as pd
from tqdm import tqdm
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from svd_icl.algorithm1 import algorithm1, stored_run
from svd_icl.results import ResultStore
from svd_icl.sweep import KEY_FIELDS, SweepConfig, fill_unpruned, select, unpruned_record

RAY_MODES = ("local", "auto")


def connect(address: str) -> None:
    """Start or join a Ray cluster for ``address`` (see the module docstring); a no-op when already connected."""
    import ray

    if ray.is_initialized():
        return
    if not address:
        raise ValueError("Ray address is empty: give local, auto or a cluster address")
    kwargs = {"include_dashboard": False, "log_to_driver": False, "ignore_reinit_error": True}
    if address == "local":
        ray.init(**kwargs)
    else:
        ray.init(address=address, **kwargs)


def _worker_class():
    """The actor class, defined lazily so that importing this module does not import Ray."""
    import ray

    class Worker:
        """Loads ``model_name`` once; plans and evaluates sweep units and Algorithm 1 runs on it."""

        def __init__(self, model_name: str, dtype: str, device: str, threads: int, crash_after: str | None = None):
            import torch

            from svd_icl.models import load_model

            if device == "cpu":
                torch.set_num_threads(max(1, threads))
            self.model, self.tokenizer = load_model(model_name, getattr(torch, dtype), device)
            self.plans: dict[str, object] = {}
            # Test hook: a file path whose creation makes this process die once, after its first unit.
            self.crash_after = crash_after

        def _plan(self, config: dict):
            from svd_icl.sweep import plan_sweep

            key = repr(sorted(config.items()))
            if key not in self.plans:
                self.plans[key] = plan_sweep(self.model, self.tokenizer, SweepConfig(**config))
            return self.plans[key]

        def plan(self, config: dict):
            """The validated :class:`svd_icl.sweep.SweepPlan` of ``config`` (the driver has no model to build it)."""
            return self._plan(config)

        def sweep_unit(self, config: dict, layer: int, module: str, rates: list[float]) -> list[dict]:
            from svd_icl.sweep import unit_records

            records = list(unit_records(self.model, self._plan(config), layer, module, rates))
            if self.crash_after and not Path(self.crash_after).exists():
                Path(self.crash_after).touch()
                os._exit(1)  # simulate a worker dying after computing (the unit is retried elsewhere)
            return records

        def algorithm1(self, model_name: str, task: str, module: str, seed: int, kwargs: dict) -> dict:
            from svd_icl.algorithm1 import algorithm1

            res = algorithm1(self.model, self.tokenizer, model_name, task, module, seed=seed, **kwargs)
            return res.record()

    return ray.remote(max_restarts=-1, max_task_retries=3)(Worker)


def start_workers(
    model_name: str,
    dtype: str = "float32",
    workers: int | None = None,
    cpus_per_worker: int = 1,
    crash_after: str | None = None,
) -> list:
    """One actor per GPU of the cluster, or ``cluster CPUs // cpus_per_worker`` actors on CPUs (at most ``workers``)."""
    import ray

    resources = ray.cluster_resources()
    gpus = int(resources.get("GPU", 0))
    Worker = _worker_class()
    if gpus:
        count = min(gpus, workers or gpus)
        options, device = {"num_gpus": 1, "num_cpus": 1}, "cuda"
    else:
        count = max(1, int(resources.get("CPU", 1)) // cpus_per_worker)
        count = min(count, workers or count)
        options, device = {"num_cpus": cpus_per_worker}, "cpu"
    return [
        Worker.options(**options).remote(model_name, dtype, device, cpus_per_worker, crash_after) for _ in range(count)
    ]


def _dispatch(workers: list, calls: list, submit, on_result, desc: str, progress: bool) -> None:
    """Run ``calls`` over ``workers``, at most one in flight per worker, handing each result to ``on_result``
    in the driver as it arrives (ray.wait), so that finished work is stored before the rest is done."""
    import ray

    pending = list(calls)
    in_flight: dict = {}
    free = list(workers)
    bar = tqdm(total=len(pending), desc=desc, disable=not progress, mininterval=5)
    while pending or in_flight:
        while pending and free:
            worker = free.pop()
            call = pending.pop(0)
            in_flight[submit(worker, call)] = worker
        ready, _ = ray.wait(list(in_flight), num_returns=1)
        for ref in ready:
            free.append(in_flight.pop(ref))
            on_result(ray.get(ref))
            bar.update()
    bar.close()


def run_sweep_ray(
    config: SweepConfig,
    out: str | Path,
    dtype: str = "float32",
    address: str = "local",
    workers: int | None = None,
    cpus_per_worker: int = 1,
    progress: bool = True,
    crash_after: str | None = None,
) -> pd.DataFrame:
    """:func:`svd_icl.sweep.run_sweep` fanned out over a Ray cluster: the same records in the same file.

    ``config.model`` is loaded by every worker (a bundled name, a Hub id the workers can reach, or a directory
    they share). Returns this sweep's records, as :func:`run_sweep` does.
    """
    import ray

    for note in config.check():
        print(f"svd-icl: note: {note}")
    store = ResultStore(out, KEY_FIELDS)
    store.open()  # checks that the file can be written before the cluster is touched
    connect(address)
    pool = start_workers(config.model, dtype, workers, cpus_per_worker, crash_after)
    cfg = asdict(config)
    plan = ray.get(pool[0].plan.remote(cfg))
    units = plan.pending(store.done(), store.key, unpruned_record(store.records(), plan) is not None)

    def store_all(records: list[dict]) -> None:
        for record in records:
            store.append(record)

    _dispatch(
        pool,
        units,
        lambda w, unit: w.sweep_unit.remote(cfg, *unit),
        store_all,
        f"{config.task} sweep on Ray ({len(pool)} workers)",
        progress,
    )
    for w in pool:
        ray.kill(w)
    fill_unpruned(store, plan)
    return select(store.records(), plan.wanted(store.key), store.key)


def run_algorithm1_ray(
    model_name: str,
    runs: list[dict],
    store: ResultStore,
    dtype: str = "float32",
    address: str = "local",
    workers: int | None = None,
    cpus_per_worker: int = 1,
    progress: bool = True,
) -> list[dict]:
    """Algorithm 1 runs (dicts of task, module, seed and :func:`svd_icl.algorithm1.algorithm1` keyword arguments)
    on a Ray cluster; each finished run is appended to ``store`` by the driver (runs already stored are skipped
    by the caller, e.g. with :func:`svd_icl.algorithm1.stored_run`). Returns the records computed, as they came."""
    import ray

    if not runs:
        return []
    connect(address)
    pool = start_workers(model_name, dtype, workers, cpus_per_worker)

    def submit(worker, run: dict):
        kwargs = {k: v for k, v in run.items() if k not in ("task", "module", "seed")}
        return worker.algorithm1.remote(model_name, run["task"], run["module"], run["seed"], kwargs)

    records: list[dict] = []

    def keep(record: dict) -> None:
        store.append(record)
        records.append(record)

    _dispatch(pool, runs, submit, keep, "Algorithm 1 on Ray", progress)
    for w in pool:
        ray.kill(w)
    return records


def run_grid(
    store: ResultStore,
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    model_name: str,
    runs: list[dict],
    ray_address: str | None = None,
    progress: bool = True,
) -> list[dict]:
    """Every run of ``runs`` (dicts of task, module, seed and :func:`algorithm1` keyword arguments), reusing those
    stored in ``store`` and appending the others as they finish: in-process, or on a Ray cluster when
    ``ray_address`` is given (:func:`run_algorithm1_ray`). Returns the records in the order of ``runs``.
    It lives here, not in :mod:`svd_icl.algorithm1`, so that the algorithm does not import its distribution."""
    missing = [run for run in runs if stored_run(store, model, model_name, run) is None]
    if missing and ray_address:
        dtype = str(next(model.parameters()).dtype).removeprefix("torch.")
        remote = [{k: v for k, v in run.items() if k != "cond"} for run in missing]
        run_algorithm1_ray(model_name, remote, store, dtype=dtype, address=ray_address, progress=progress)
    else:
        for run in tqdm(missing, desc="Algorithm 1", disable=not progress or not missing, mininterval=5):
            kwargs = {k: v for k, v in run.items() if k not in ("task", "module", "seed")}
            res = algorithm1(model, tokenizer, model_name, run["task"], run["module"], seed=run["seed"], **kwargs)
            store.append(res.record())
    return [stored_run(store, model, model_name, run) for run in runs]
