"""Resumable sweeps: durable points, no loss or duplication after a real SIGKILL, clear CLI errors."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from svd_icl.cli import main as cli_main
from svd_icl.results import ResultStore
from svd_icl.sweep import KEY_FIELDS, SweepConfig, run_sweep
from tests.tiny_models import tiny_model, tiny_tokenizer

RATES = [0.0, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99]


def sweep_args(ckpt, out, layers="0,1,2", n=40):
    return [
        "sweep",
        "--model",
        str(ckpt / "model"),
        "--task",
        "sst2",
        "--layers",
        layers,
        "--modules",
        "attn,mlp",
        "--clip-rates",
        ",".join(map(str, RATES)),
        "--shots",
        "4",
        "--n",
        str(n),
        "--batch-size",
        "8",
        "--data-dir",
        str(ckpt / "data"),
        "--out",
        str(out),
    ]


def test_store_skips_a_torn_last_line(tmp_path):
    store = ResultStore(tmp_path / "r.jsonl", ("a",))
    store.append({"a": 1})
    with open(store.path, "a") as fh:
        fh.write('{"a": 2, "trunc')  # what a kill in the middle of a write leaves
    assert store.done() == {json.dumps([1])}
    store.append({"a": 3})
    assert [r["a"] for r in store.records()] == [1, 3]


def test_sigkill_mid_sweep_loses_and_duplicates_nothing(checkpoint, tmp_path):
    out = tmp_path / "sweep.jsonl"
    cmd = [sys.executable, "-m", "svd_icl.cli", *sweep_args(checkpoint, out)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        if out.exists() and out.read_text().count("\n") >= 4:  # the header and three points
            os.kill(proc.pid, signal.SIGKILL)
            break
        time.sleep(0.005)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the sweep finished before it could be killed; make it longer"
    partial = ResultStore(out, KEY_FIELDS).records()
    total = 3 * 2 * len(RATES)
    assert 3 <= len(partial) < total

    assert cli_main(sweep_args(checkpoint, out)) == 0  # resume
    records = ResultStore(out, KEY_FIELDS).records()
    keys = [json.dumps([r[f] for f in KEY_FIELDS]) for r in records]
    assert len(keys) == len(set(keys)) == total
    # the points written before the kill are kept as they were, and equal an uninterrupted run's
    fresh = tmp_path / "fresh.jsonl"
    assert cli_main(sweep_args(checkpoint, fresh)) == 0
    by_key = {json.dumps([r[f] for f in KEY_FIELDS]): r["accuracy"] for r in ResultStore(fresh, KEY_FIELDS).records()}
    assert {k: r["accuracy"] for k, r in zip(keys, records)} == by_key


def test_rerun_skips_finished_points(checkpoint, tmp_path):
    model, tok = tiny_model("llama"), tiny_tokenizer()
    config = SweepConfig("tiny", "sst2", [-1], ["mlp"], [0.0, 0.5], shots=2, n=12, data_root=str(checkpoint / "data"))
    first = run_sweep(model, tok, config, tmp_path / "r.jsonl", progress=False)
    again = run_sweep(model, tok, config, tmp_path / "r.jsonl", progress=False)
    assert len(first) == len(again) == 2
    assert (first.time == again.time).all(), "points were recomputed"
    assert first.layer.tolist() == [2, 2]  # -1 is stored as the layer's index


@pytest.mark.parametrize(
    "change,message",
    [
        ({"--task": "sst5"}, "unknown task 'sst5'"),
        ({"--clip-rates": "0,1.0"}, "outside [0, 1)"),
        ({"--layers": "0,7"}, "layer 7 is out of range"),
        ({"--modules": "attn,fc_in"}, "module 'fc_in' is not in the llama architecture"),
    ],
)
def test_cli_bad_arguments_are_named(checkpoint, tmp_path, capsys, change, message):
    args = sweep_args(checkpoint, tmp_path / "x.jsonl")
    for flag, value in change.items():
        args[args.index(flag) + 1] = value
    assert cli_main(args) == 2
    assert message in capsys.readouterr().err


def test_cli_unparseable_numbers(checkpoint, tmp_path, capsys):
    args = sweep_args(checkpoint, tmp_path / "x.jsonl")
    args[args.index("--layers") + 1] = "first"
    with pytest.raises(SystemExit):
        cli_main(args)
    assert "comma-separated integers" in capsys.readouterr().err


def test_a_point_is_reused_only_under_the_same_settings(checkpoint, tmp_path):
    import torch

    from svd_icl.sweep import saved_points

    out = tmp_path / "r.jsonl"
    tok = tiny_tokenizer()
    config = SweepConfig("tiny", "sst2", [-1], ["mlp"], [0.0, 0.5], shots=2, n=12, data_root=str(checkpoint / "data"))
    run_sweep(tiny_model("llama"), tok, config, out, progress=False)
    run_sweep(tiny_model("llama", dtype=torch.bfloat16), tok, config, out, progress=False)  # another dtype
    interleaved = SweepConfig(**{**config.__dict__, "order": "interleaved"})
    run_sweep(tiny_model("llama"), tok, interleaved, out, progress=False)  # another demonstration order
    worded = SweepConfig(**{**config.__dict__, "label_words": ("bad", "good")})
    run_sweep(tiny_model("llama"), tok, worded, out, progress=False)  # other label words
    records = ResultStore(out, KEY_FIELDS).records()
    assert len(records) == 8  # nothing reused across settings
    assert {r["dtype"] for r in records} == {"float32", "bfloat16"}
    # a chapter can replot from the results file alone, without loading a model
    again = saved_points(out, config, dtype="bfloat16")
    assert len(again) == 2 and set(again.layer) == {2} and set(again.dtype) == {"bfloat16"}
    # every point carries its per-query answers, on the same queries for every setting
    assert all(len(r["predictions"]) == len(r["labels"]) == 12 for r in records)
    assert len({tuple(r["labels"]) for r in records}) == 1


def test_torn_tail_of_a_finished_sweep_is_repaired_on_rerun(checkpoint, tmp_path):
    out = tmp_path / "r.jsonl"
    model, tok = tiny_model("llama"), tiny_tokenizer()
    config = SweepConfig("tiny", "sst2", [-1], ["mlp"], [0.0, 0.5], shots=2, n=12, data_root=str(checkpoint / "data"))
    first = run_sweep(model, tok, config, out, progress=False)
    with out.open("a") as fh:
        fh.write('{"format": 2, "model": "tiny", "ta')  # a kill mid-write, after every point was done
    again = run_sweep(model, tok, config, out, progress=False)  # nothing left to compute
    assert (again.time == first.time).all()
    lines = out.read_text().splitlines()
    assert len(lines) == 3 and all(json.loads(line) for line in lines)  # header + 2 points, valid JSON lines


def test_the_unpruned_model_is_evaluated_once_per_prompt_set(checkpoint, tmp_path):
    import numpy as np

    model, tok = tiny_model("llama"), tiny_tokenizer()
    data = str(checkpoint / "data")
    out = tmp_path / "r.jsonl"
    config = SweepConfig("tiny", "sst2", [0, -1], ["attn", "mlp"], [0.0, 0.5], shots=2, n=12, data_root=data)
    points = run_sweep(model, tok, config, out, progress=False)
    unpruned = points[points.clip_rate == 0]
    assert len(unpruned) == 4  # every (layer, module) has its clip-rate-0 point ...
    computed = unpruned[unpruned.reused_from.isna()]
    assert len(computed) == 1 and computed.layer.iloc[0] == 2  # ... computed once, where resuming is cheapest
    assert (unpruned[unpruned.reused_from.notna()].seconds == 0).all()
    # a copy holds the answers a separate evaluation under its own (layer, module) gives
    alone = run_sweep(model, tok, SweepConfig(**{**config.__dict__, "layers": [0], "modules": ["attn"]}),
                      tmp_path / "alone.jsonl", progress=False)  # fmt: skip
    fresh = alone[alone.clip_rate == 0].iloc[0]
    copy = unpruned[(unpruned.layer == 0) & (unpruned.module == "attn")].iloc[0]
    assert copy.predictions == fresh.predictions
    assert np.allclose(copy.scores, fresh.scores, atol=1e-5)
    # another sweep of the same prompts into the same file computes no unpruned point at all
    other = SweepConfig(**{**config.__dict__, "layers": [1], "modules": ["mlp"]})
    again = run_sweep(model, tok, other, out, progress=False)
    assert again[again.clip_rate == 0].reused_from.notna().all()
    # other prompts (another demonstration seed) are another prompt set: their unpruned point is computed
    seeded = run_sweep(model, tok, SweepConfig(**{**other.__dict__, "demo_seed": 1}), out, progress=False)
    assert "reused_from" not in seeded or seeded[seeded.clip_rate == 0].reused_from.isna().all()
