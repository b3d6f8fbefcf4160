"""Sweeps and Algorithm 1 on a local Ray cluster: the serial run's records, and nothing lost or duplicated when a
worker or the driver dies."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

ray = pytest.importorskip("ray")

from svd_icl.cli import main as cli_main  # noqa: E402
from svd_icl.distributed import run_sweep_ray  # noqa: E402
from svd_icl.results import ResultStore  # noqa: E402
from svd_icl.sweep import KEY_FIELDS, SweepConfig, run_sweep  # noqa: E402

RATES = [0.0, 0.5, 0.9]
SAME = ("accuracy", "macro_f1", "predictions", "labels", "majority_rate")


@pytest.fixture(scope="module")
def cluster():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def config(ckpt, layers=(0, 1, 2)):
    return SweepConfig(
        model=str(ckpt / "model"),
        task="sst2",
        layers=list(layers),
        modules=["attn", "mlp"],
        clip_rates=RATES,
        shots=2,
        n=12,
        data_root=str(ckpt / "data"),
    )


def by_key(path):
    store = ResultStore(path, KEY_FIELDS)
    records = store.records()
    keys = [store.key(r) for r in records]
    assert len(keys) == len(set(keys))
    return {k: {f: r[f] for f in SAME} for k, r in zip(keys, records)}


def serial(ckpt, tmp_path):
    import torch

    from svd_icl.models import load_model

    model, tok = load_model(str(ckpt / "model"), torch.float32)
    run_sweep(model, tok, config(ckpt), tmp_path / "serial.jsonl", progress=False)
    return by_key(tmp_path / "serial.jsonl")


def test_distributed_run_writes_the_serial_records(checkpoint, tmp_path, cluster):
    frame = run_sweep_ray(config(checkpoint), tmp_path / "ray.jsonl", address="local", workers=2, progress=False)
    assert len(frame) == 3 * 2 * len(RATES)
    assert by_key(tmp_path / "ray.jsonl") == serial(checkpoint, tmp_path)


def test_a_worker_that_dies_is_replaced_and_its_unit_retried(checkpoint, tmp_path, cluster):
    marker = tmp_path / "crashed"
    run_sweep_ray(
        config(checkpoint), tmp_path / "ray.jsonl", address="local", workers=2, progress=False, crash_after=str(marker)
    )
    assert marker.exists(), "the worker did not die: the test tested nothing"
    assert by_key(tmp_path / "ray.jsonl") == serial(checkpoint, tmp_path)


def test_a_killed_driver_resumes_without_duplicates(checkpoint, tmp_path, cluster):
    out = tmp_path / "ray.jsonl"
    args = [
        "sweep",
        "--model",
        str(checkpoint / "model"),
        "--task",
        "sst2",
        "--layers",
        "0,1,2",
        "--modules",
        "attn,mlp",
        "--clip-rates",
        ",".join(map(str, RATES)),
        "--shots",
        "2",
        "--n",
        "12",
        "--data-dir",
        str(checkpoint / "data"),
        "--out",
        str(out),
        "--ray",
        "local",
        "--workers",
        "1",
    ]
    proc = subprocess.Popen(
        [sys.executable, "-m", "svd_icl.cli", *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.time() + 240
    while time.time() < deadline and proc.poll() is None:
        if out.exists() and out.read_text().count("\n") >= 1 + len(RATES):  # header and the first unit
            os.killpg(proc.pid, signal.SIGKILL)  # the driver and the Ray instance it started
            break
        time.sleep(0.05)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the driver finished before it could be killed"
    partial = len(out.read_text().splitlines()) - 1
    assert 0 < partial < 3 * 2 * len(RATES)
    assert cli_main(args) == 0  # rerun: joins this test's cluster, computes only what is missing
    assert by_key(out) == serial(checkpoint, tmp_path)
    assert len(out.read_text().splitlines()) == 1 + 3 * 2 * len(RATES)


def test_algorithm1_on_ray_matches_in_process(checkpoint, tmp_path, cluster):
    import torch

    from svd_icl.algorithm1 import RUN_KEY
    from svd_icl.distributed import run_grid
    from svd_icl.models import load_model

    model, tok = load_model(str(checkpoint / "model"), torch.float32)
    runs = [
        dict(
            task="sst2",
            module="mlp",
            seed=s,
            k=2,
            shots=2,
            n_validation=8,
            n_test=8,
            data_root=str(checkpoint / "data"),
        )
        for s in (0, 1)
    ]
    name = str(checkpoint / "model")  # what the workers load
    local = run_grid(
        ResultStore(tmp_path / "a.jsonl", RUN_KEY, kind="algorithm1"), model, tok, name, runs, progress=False
    )
    remote = run_grid(
        ResultStore(tmp_path / "b.jsonl", RUN_KEY, kind="algorithm1"),
        model,
        tok,
        name,
        runs,
        ray_address="local",
        progress=False,
    )
    fields = ("layer", "best_clip_rate", "validation", "test_predictions_pruned")
    assert [{f: r[f] for f in fields} for r in local] == [{f: r[f] for f in fields} for r in remote]
    assert json.dumps(local[0]["test_labels"]) == json.dumps(remote[0]["test_labels"])
