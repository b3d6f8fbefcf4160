"""Bad input to the CLI: one line naming the bad value and the fix, exit 2, before any model loads, no file touched."""

import json

import pytest

import svd_icl.models
from svd_icl.cli import main as cli_main

GOOD_TRAIN = "\n".join(json.dumps({"sentence": f"s{i}", "label": i % 2}) for i in range(9000)) + "\n"


def run(capsys, args):
    try:
        code = cli_main(args)
    except SystemExit as exc:  # argparse's own errors
        code = exc.code
    err = capsys.readouterr().err.strip().splitlines()
    return code, err


def _argv(command: str, args: dict, change: dict) -> list[str]:
    """``command`` with ``args`` as flag-value pairs, ``change`` overriding them."""
    return [command, *[x for kv in {**args, **change}.items() for x in kv]]


def sweep(ckpt, tmp, **change):
    args = {
        "--model": str(ckpt / "model"),
        "--task": "sst2",
        "--layers": "0,-1",
        "--modules": "attn,mlp",
        "--clip-rates": "0,0.5",
        "--shots": "2",
        "--n": "8",
        "--data-dir": str(ckpt / "data"),
        "--out": str(tmp / "out.jsonl"),
    }
    return _argv("sweep", args, change)


def algorithm1(ckpt, tmp, **change):
    args = {
        "--model": str(ckpt / "model"),
        "--task": "sst2",
        "--module": "mlp",
        "--n-validation": "8",
        "--n-test": "8",
        "--shots": "2",
        "--data-dir": str(ckpt / "data"),
    }
    return _argv("algorithm1", args, change)


def bad_data(tmp, content):
    (tmp / "bad" / "sst2").mkdir(parents=True, exist_ok=True)
    (tmp / "bad" / "sst2" / "train.jsonl").write_text(content)
    return str(tmp / "bad")


def _taken(tmp):
    (tmp / "taken").mkdir(exist_ok=True)
    (tmp / "taken" / "x").write_text("x")
    return str(tmp / "taken")


CASES = {
    # name: (builder, changes as a function of tmp, expected message)
    "malformed json": (
        sweep,
        lambda t: {"--data-dir": bad_data(t, GOOD_TRAIN + '{"sentence": "x", \n')},
        r"sst2/train.jsonl line 9001: not valid JSON",
    ),
    "no label field": (
        sweep,
        lambda t: {"--data-dir": bad_data(t, '{"sentence": "x"}\n')},
        r"rows lack field 'label' (sst2 needs sentence, label)",
    ),
    "no text field": (
        sweep,
        lambda t: {"--data-dir": bad_data(t, '{"text": "x", "label": 0}\n')},
        r"rows lack field 'sentence'",
    ),
    "empty data file": (sweep, lambda t: {"--data-dir": bad_data(t, "")}, "sst2/train.jsonl is empty"),
    "out is a directory": (sweep, lambda t: {"--out": str(t)}, "is a directory"),
    "out under a file": (sweep, lambda t: {"--out": str(t / "f.txt" / "r.jsonl")}, "a parent of it is a file"),
    "out is a text file": (sweep, lambda t: {"--out": str(t / "notes.txt")}, "is not an svd_icl results file"),
    "out is foreign json": (sweep, lambda t: {"--out": str(t / "other.jsonl")}, "is not an svd_icl results file"),
    "empty modules": (sweep, lambda t: {"--modules": ""}, "--modules ''"),
    "negative n": (sweep, lambda t: {"--n": "-5"}, "--n -5: must be an integer >= 1"),
    "zero n": (sweep, lambda t: {"--n": "0"}, "--n 0: must be an integer >= 1"),
    "negative shots": (sweep, lambda t: {"--shots": "-1"}, "--shots -1: must be an integer >= 0"),
    "zero batch": (sweep, lambda t: {"--batch-size": "0"}, "--batch-size 0"),
    "clip rate 1": (sweep, lambda t: {"--clip-rates": "0,1.0"}, "outside [0, 1)"),
    "empty clip rates": (sweep, lambda t: {"--clip-rates": ","}, "clip_rates is empty"),
    "empty layers": (sweep, lambda t: {"--layers": ","}, "layers is empty"),
    "unknown task": (sweep, lambda t: {"--task": "sst5"}, "unknown task 'sst5'"),
    "label words count": (sweep, lambda t: {"--label-words": "good"}, "sst2 has 2 classes"),
    "bad order": (sweep, lambda t: {"--order": "random"}, "invalid choice: 'random'"),
    "unparseable layers": (sweep, lambda t: {"--layers": "first"}, "comma-separated integers"),
    "negative test size": (algorithm1, lambda t: {"--n-test": "-1"}, "--n-test -1: must be an integer >= 1"),
    "zero validation size": (algorithm1, lambda t: {"--n-validation": "0"}, "--n-validation 0"),
    "zero k": (algorithm1, lambda t: {"--k": "0"}, "--k 0"),
    "algorithm1 bad data": (algorithm1, lambda t: {"--data-dir": bad_data(t, "[1]\n")}, "line 1: expected a JSON"),
    "algorithm1 out dir": (algorithm1, lambda t: {"--out": str(t)}, "is a directory"),
    "algorithm1 foreign out": (algorithm1, lambda t: {"--out": str(t / "notes.txt")}, "not an svd_icl results file"),
    "algorithm1 export taken": (algorithm1, lambda t: {"--export": _taken(t)}, "exists and is not empty"),
    "cond out dir": (
        lambda c, t, **ch: ["cond", "--model", str(c / "model"), *[x for kv in ch.items() for x in kv]],
        lambda t: {"--out": str(t)},
        "is a directory",
    ),
}


@pytest.mark.parametrize("name", list(CASES))
def test_bad_input_is_one_line_before_any_model_loads(name, checkpoint, tmp_path, capsys, monkeypatch):
    builder, change, message = CASES[name]
    (tmp_path / "f.txt").write_text("a file")
    (tmp_path / "notes.txt").write_text("my notes\n")
    (tmp_path / "other.jsonl").write_text('{"split": "x"}\n')
    args = builder(checkpoint, tmp_path, **change(tmp_path))
    before = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}

    def no_model(*args, **kwargs):
        raise AssertionError("a model was loaded before the input was validated")

    monkeypatch.setattr(svd_icl.models, "load_model", no_model)
    code, err = run(capsys, args)
    assert code == 2
    assert len([line for line in err if "error" in line]) == 1 and message in err[-1], err
    assert {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()} == before  # nothing written
    assert not (tmp_path / "out.jsonl").exists()


@pytest.mark.parametrize(
    "change,message",
    [({"--layers": "0,7"}, "layer 7 is out of range"), ({"--modules": "attn,fc_in"}, "module 'fc_in' is not in")],
)
def test_model_dependent_errors_leave_no_results_file(checkpoint, tmp_path, capsys, change, message):
    code, err = run(capsys, sweep(checkpoint, tmp_path, **change))
    assert code == 2 and message in err[-1]
    assert not (tmp_path / "out.jsonl").exists()


def test_unknown_model_names_the_fixes(checkpoint, tmp_path, capsys):
    code, err = run(capsys, sweep(checkpoint, tmp_path, **{"--model": str(tmp_path / "no-such-model")}))
    assert code == 2 and "cannot load model" in err[-1] and "bundled name" in err[-1] and "HF_HUB_OFFLINE" in err[-1]


@pytest.mark.parametrize("layers", ["-1,0", "-2,-1"])
def test_layer_lists_may_start_with_a_minus_sign(checkpoint, tmp_path, capsys, layers):
    args = sweep(checkpoint, tmp_path, **{"--layers": layers, "--modules": "mlp", "--clip-rates": "0,0.5"})
    assert cli_main(args) == 0
    out = capsys.readouterr().out
    assert sorted({int(x) % 3 for x in layers.split(",")}) == sorted(
        {int(line.split()[0]) for line in out.splitlines()[1:]}
    )


def test_repeated_points_are_computed_once_with_a_note(checkpoint, tmp_path, capsys):
    args = sweep(checkpoint, tmp_path, **{"--layers": "-1,2", "--modules": "mlp,mlp", "--clip-rates": "0.5,0.5,0.50"})
    assert cli_main(args) == 0
    err = capsys.readouterr().err
    assert "note: layers [-1, 2] name 1 distinct layers ([2])" in err  # -1 and 2 are one layer of three
    assert "note: modules: repeated values ignored" in err and "note: clip_rates: repeated" in err
    lines = (tmp_path / "out.jsonl").read_text().splitlines()
    assert len(lines) == 2  # the header and one point


def test_algorithm1_exports_its_choice_with_the_measured_effect(checkpoint, tmp_path, capsys):
    from transformers import AutoModelForCausalLM

    out = tmp_path / "chosen"
    code, err = run(capsys, algorithm1(checkpoint, tmp_path, **{"--clip-rates": "0.5", "--export": str(out)}))
    assert code == 0, err
    card = (out / "README.md").read_text()
    assert "Algorithm 1 chose layer" in card and "clip rate 0.5" in card and "95% interval" in card
    AutoModelForCausalLM.from_pretrained(out)  # a plain checkpoint
