"""The CUDA path: half-precision evaluation against float32, the SVD and the restore on the device, and memory.

Every test here needs a CUDA device and is skipped, with that reason, where there is none (run them with
``pytest tests/test_gpu.py``; ``python benchmarks/check_gpu.py`` runs the same checks in one command).
"""

import pytest
import torch

from svd_icl.evaluation import FastEvaluator
from svd_icl.pruning import Pruner
from tests.tiny_models import tiny_model, tiny_tokenizer

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device (none on this machine)"),
]


def _prompts(checkpoint, tok):
    from svd_icl.prompts import encode
    from svd_icl.tasks import prepare

    return encode(prepare("sst2", 2, 0, n_test=40, data_root=str(checkpoint / "data")), "test", tok)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_on_the_device_agrees_with_float32(checkpoint, dtype):
    tok = tiny_tokenizer()
    prompts = _prompts(checkpoint, tok)
    ref = FastEvaluator(tiny_model("llama").to("cuda"), prompts, progress=False).evaluate()
    half = FastEvaluator(tiny_model("llama", dtype=dtype).to("cuda"), prompts, progress=False).evaluate()
    agree = float((ref.predictions == half.predictions).mean())
    assert agree >= 0.9, f"{dtype}: answers agree on {agree:.0%} of queries"
    assert abs(ref.scores - half.scores).max() < 0.1  # label scores are formed in float32 from half hidden states


def test_the_svd_runs_in_float32_on_the_device_and_the_weights_come_back_bit_for_bit():
    model = tiny_model("llama", dtype=torch.float16).to("cuda")
    before = {k: v.clone() for k, v in model.state_dict().items()}
    pruner = Pruner(model)
    with pruner.truncated(0, "mlp", 0.9) as infos:
        f = pruner.factors(0, infos[0].matrix)
        assert f.U.device.type == "cuda" and f.U.dtype == torch.float32
        assert any(not torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_a_sweep_holds_one_model_and_one_layers_factors(checkpoint):
    model = tiny_model("llama").to("cuda")
    weights = sum(p.numel() * p.element_size() for p in model.parameters())
    torch.cuda.reset_peak_memory_stats()
    start = torch.cuda.memory_allocated()
    evaluator = FastEvaluator(model, _prompts(checkpoint, tiny_tokenizer()), progress=False)
    for _ in evaluator.sweep(Pruner(model), 0, "all", [0.0, 0.5, 0.9]):
        pass
    extra = torch.cuda.max_memory_allocated() - start
    assert extra < 2 * weights + 64 * 2**20, f"{extra / 2**20:.0f} MiB above the model's {weights / 2**20:.0f} MiB"
