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
