"""The paper profile without its GPU: the model map and random stand-ins of the paper models' depth, the layered
paper-dry parameters, the plan's device cost table, and the checks a paper model meets before it downloads."""

import pytest
import torch

from svd_icl.models import (
    MODEL_MAP_ENV,
    ModelLoadError,
    _load_advice,
    check_room,
    load_model,
    model_map,
    random_dir,
    resolve,
)
from svd_icl.plan import Priced, chapter_parameters, device_table
from svd_icl.sweep import SweepConfig
from svd_icl.work import Sweep, TrainedToys


def test_the_model_map_substitutes_any_name(checkpoint, tmp_path, monkeypatch):
    table = tmp_path / "map.yaml"
    table.write_text(f"gpt-j-6b: {checkpoint / 'model'}\n")
    monkeypatch.setenv(MODEL_MAP_ENV, str(table))
    assert resolve("gpt-j-6b") == str(checkpoint / "model")
    model, _ = load_model("gpt-j-6b")
    assert model.config.model_type == "llama"  # the tiny checkpoint, not the Hub's GPT-J
    monkeypatch.delenv(MODEL_MAP_ENV)
    assert resolve("gpt-j-6b") == "EleutherAI/gpt-j-6b"


@pytest.mark.parametrize("content,message", [("[1, 2]\n", "expected a mapping"), ("a: [\n", "cannot read")])
def test_a_bad_model_map_is_one_clear_error(content, message, tmp_path, monkeypatch):
    table = tmp_path / "map.yaml"
    table.write_text(content)
    monkeypatch.setenv(MODEL_MAP_ENV, str(table))
    with pytest.raises(ValueError, match=message):
        model_map()


@pytest.mark.parametrize("spec", ["random:gptj", "random:bert:12", "random:llama:0", "random:llama:x"])
def test_bad_stand_in_specs_name_the_allowed_form(spec):
    with pytest.raises(ValueError, match=r"random:<family>:<layers> with family one of gptj, llama"):
        random_dir(spec)


def test_paper_dry_parameters_are_the_papers_with_the_caps_over_them():
    paper, dry = chapter_parameters("fig1", "paper"), chapter_parameters("fig1", "paper-dry")
    assert dry["runs"] == paper["runs"] and dry["shots"] == paper["shots"] and dry["layers_by_task"] == {}
    assert paper["device"] == "cuda" and dry["device"] == "cpu" and dry["dtype"] == "float32"
    assert set(dry["n_search"].values()) == {8}
    assert chapter_parameters("fig5", "paper-dry")["width"] == chapter_parameters("fig5", "paper")["width"]


def test_the_device_table_spreads_points_over_workers_and_not_fixed_work():
    needs = [
        Priced(Sweep(chapter="fig1", label="a", config=SweepConfig("m", "sst2", [0])), total=10, seconds=8000.0),
        Priced(TrainedToys(chapter="fig1", label="b", seconds=400.0, pattern="x"), total=1, seconds=400.0),
    ]
    table = device_table(needs, ["fig1"], 312, 8).splitlines()
    # one device: 8000 + 400 + 25 s of notebook = 2.3 h; eight: 1000 + 400 + 25 s = 24 min
    assert table[1].split() == ["fig1", "11", "2.3", "h", "24", "min"]
    assert "312 TFLOP/s" in table[-1]


def test_a_paper_model_that_cannot_fit_fails_before_it_downloads():
    with pytest.raises(ModelLoadError, match=r"needs up to 27 GB of disk .* has 5 GB free"):
        check_room("meta-llama/Llama-2-7b-hf", torch.float16, "cpu", free_disk=5e9)
    with pytest.raises(ModelLoadError, match=r"in float16 needs 13.5 GB on cuda:0 and it has 8.0 GB free"):
        check_room("meta-llama/Llama-2-7b-hf", torch.float16, "cuda:0", free_disk=1e12, free_device=8e9)
    check_room("meta-llama/Llama-2-7b-hf", torch.float16, "cuda:0", free_disk=1e12, free_device=20e9)
    check_room("some/other-model", torch.float32, "cuda:0")  # unknown size: nothing to check


def test_a_gated_model_says_how_to_authenticate():
    advice = _load_advice("meta-llama/Llama-2-7b-hf")
    assert "gated" in advice and "hf auth login" in advice and "HF_TOKEN" in advice and MODEL_MAP_ENV in advice
    assert "gated" not in _load_advice("EleutherAI/gpt-j-6b")


@pytest.mark.slow
@pytest.mark.parametrize("spec,layers,kind", [("random:gptj:28", 28, "gptj"), ("random:llama:32", 32, "llama")])
def test_a_random_stand_in_has_the_paper_models_depth_and_family(spec, layers, kind, tmp_path, monkeypatch):
    model, tok = load_model(spec)
    assert model.config.model_type == kind and model.config.num_hidden_layers == layers
    assert model.get_input_embeddings().weight.shape[0] == len(tok)
    first = next(model.parameters()).detach().clone()
    again, _ = load_model(spec)  # built once, then loaded: the same weights
    assert torch.equal(next(again.parameters()), first)


@pytest.mark.slow
def test_the_paper_plan_prices_a_gpu_without_the_hub(data_root, capsys, monkeypatch):
    from svd_icl.plan import main

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert main(["--profile", "paper", "--chapters", "scale", "--results", "/nonexistent",
                 "--gpu-tflops", "312", "--workers", "8", "--gpu-memory", "40"]) == 0  # fmt: skip
    out = capsys.readouterr().out
    assert "8 devices" in out and "at 312 TFLOP/s" in out and "llama2-7b 13.5 GB" in out
    assert "shapes from its published config.json" in out
    assert main(["--profile", "paper", "--chapters", "scale", "--results", "/nonexistent",
                 "--gpu-tflops", "312", "--gpu-memory", "10"]) == 1  # fmt: skip
    assert "do not fit in --gpu-memory 10 GB" in capsys.readouterr().err
