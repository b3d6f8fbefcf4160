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


@pytest.fixture(scope="session")
def data_root():
    """The real data directory ($SVD_ICL_DATA); tests that need it are skipped, visibly, without it."""
    import os

    root = os.environ.get("SVD_ICL_DATA")
    if not root:
        pytest.skip("SVD_ICL_DATA is not set: the real task data are not available")
    return root
