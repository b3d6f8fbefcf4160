"""Fixtures shared by the test modules."""

import pytest

from tests.tiny_models import tiny_model, tiny_tokenizer, write_tiny_sst2


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """A tiny LLaMA-family model and tokenizer saved as safetensors, plus a synthetic SST-2 directory."""
    root = tmp_path_factory.mktemp("ckpt")
    tiny_model("llama").save_pretrained(root / "model")
    tiny_tokenizer().save_pretrained(root / "model")
    write_tiny_sst2(root / "data", n_train=8200, n_val=10)
    return root
