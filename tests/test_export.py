"""Exports a tool of the field loads without custom code, round trips, refusals before any model loads, pickled
weights never unpickled, and notebook results kept inside the repository whatever the working directory."""

import os
import pickle
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from transformers import AutoModelForCausalLM

from svd_icl.cli import main as cli_main
from svd_icl.export import MANIFEST, Truncation, export, load_factorized
from svd_icl.models import ModelLoadError, load_model
from svd_icl.pruning import LowRankLinear, Pruner
from svd_icl.results import NOTEBOOKS, resolve_results_dir

ROOT = Path(__file__).resolve().parents[1]
IDS = torch.tensor([[1, 5, 9, 4, 7, 3, 8, 2]])


def _logits(model) -> torch.Tensor:
    with torch.no_grad():
        return model(input_ids=IDS).logits


def test_a_dense_export_loads_with_transformers_alone_and_equals_the_truncated_model(checkpoint, tmp_path):
    cuts = [Truncation(0, "mlp", 0.5), Truncation(-1, "v", 0.9)]
    out = export(str(checkpoint / "model"), cuts, tmp_path / "dense", effect="+1.0 points [-2.0, +4.0] (test)")
    loaded = AutoModelForCausalLM.from_pretrained(out)  # no svd_icl, no remote code
    reference, _ = load_model(str(checkpoint / "model"))
    pruner = Pruner(reference)
    with pruner.truncated(0, "mlp", 0.5), pruner.truncated(-1, "v", 0.9):
        for (name, a), (_, b) in zip(reference.state_dict().items(), loaded.state_dict().items()):
            assert torch.equal(a, b), name  # the truncated weights, bit for bit
        assert torch.equal(_logits(reference), _logits(loaded))
    card = (out / "README.md").read_text()
    assert "layer 0 mlp at xi = 0.5" in card and "| 0 | mlp.up |" in card and "+1.0 points [-2.0, +4.0]" in card
    assert (out / "tokenizer.json").exists() and not list(out.glob("*.bin"))


def test_a_factorized_export_stores_the_factors_and_loads_back(checkpoint, tmp_path):
    out = export(str(checkpoint / "model"), [Truncation(1, "mlp", 0.9)], tmp_path / "low", factorized=True)
    model, _ = load_factorized(out)
    assert any(isinstance(m, LowRankLinear) for m in model.modules())
    dense = AutoModelForCausalLM.from_pretrained(export(str(checkpoint / "model"), [Truncation(1, "mlp", 0.9)],
                                                        tmp_path / "dense"))  # fmt: skip
    assert torch.allclose(_logits(model), _logits(dense), atol=1e-4)
    assert (out / MANIFEST).exists() and "rank-r factors" in (out / "README.md").read_text()


def test_bad_exports_are_refused_before_a_model_loads(tmp_path):
    with pytest.raises(ValueError, match="outside"):  # a model that does not exist is never reached
        export("no/such-model", [Truncation(0, "mlp", 1.5)], tmp_path / "a")
    with pytest.raises(ValueError, match="twice"):
        export("no/such-model", [Truncation(0, "mlp", 0.5), Truncation(0, "mlp", 0.9)], tmp_path / "b")
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("keep me")
    with pytest.raises(ValueError, match="not empty"):
        export("no/such-model", [Truncation(0, "mlp", 0.5)], tmp_path / "full")


def test_the_export_command(checkpoint, tmp_path, capsys):
    args = ["export", "--model", str(checkpoint / "model"), "--layer", "-1", "--module", "attn", "--clip-rate", "0.5",
            "--out", str(tmp_path / "e")]  # fmt: skip
    assert cli_main(args) == 0 and (tmp_path / "e" / "model.safetensors").exists()
    assert cli_main(args) == 2 and "exists and is not empty" in capsys.readouterr().err
    assert cli_main([*args, "--force"]) == 0
    assert cli_main([*args[:-2], "--layer", "0", "--out", str(tmp_path / "f")]) == 2
    assert "give one of each per truncation" in capsys.readouterr().err


class _Payload:
    """Unpickling this creates a file: proof that the pickle ran (it must not)."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (Path(self.marker),))


def test_pickled_weights_are_refused_and_never_unpickled(checkpoint, tmp_path, capsys):
    bad = tmp_path / "pickled"
    bad.mkdir()
    (bad / "config.json").write_text((checkpoint / "model" / "config.json").read_text())
    marker = tmp_path / "the-pickle-ran"
    with open(bad / "pytorch_model.bin", "wb") as fh:
        pickle.dump(_Payload(str(marker)), fh)
    with pytest.raises(ModelLoadError, match="pickled weights .pytorch_model.bin. and no safetensors"):
        load_model(str(bad))
    assert cli_main(["cond", "--model", str(bad), "--out", str(tmp_path / "c.csv")]) == 2
    assert "never unpickles" in capsys.readouterr().err and not marker.exists()


def test_relative_results_stay_inside_the_repository(tmp_path, monkeypatch):
    monkeypatch.delenv("SVD_ICL_RESULTS", raising=False)
    monkeypatch.chdir(tmp_path)  # anywhere: the checkout's notebooks/ directory is the reference
    assert resolve_results_dir("../results") == (NOTEBOOKS / "../results").resolve() == ROOT / "results"
    (tmp_path / "notebooks").mkdir()
    monkeypatch.chdir(tmp_path / "notebooks")  # papermill --cwd notebooks, the build's copies
    assert resolve_results_dir("../results") == tmp_path / "results"
    monkeypatch.setenv("SVD_ICL_RESULTS", str(tmp_path / "mine"))
    assert resolve_results_dir("../results") == tmp_path / "mine"
    assert resolve_results_dir(tmp_path / "abs") == tmp_path / "abs"


def test_papermill_from_the_repository_root_writes_inside_it(tmp_path):
    """The README's papermill call without --cwd, from the repository root: nothing lands in its parent."""
    env = {**os.environ, "SVD_ICL_RESULTS": str(tmp_path / "results")}
    before = set(ROOT.parent.iterdir())
    cmd = [sys.executable, "-m", "papermill", "notebooks/theorem1.ipynb", str(tmp_path / "out.ipynb"), "-f",
           "params/theorem1/smoke.yaml", "-p", "rank_model", "", "-k", "python3", "--log-level", "ERROR"]  # fmt: skip
    subprocess.run(cmd, cwd=ROOT, env=env, check=True, capture_output=True)
    assert (tmp_path / "results" / "verdicts" / "theorem1.json").exists()
    assert set(ROOT.parent.iterdir()) == before
