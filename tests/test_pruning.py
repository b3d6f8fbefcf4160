"""Truncating real model layers: registry coverage, exactness, bit-exact restore, factorization, errors."""

import numpy as np
import pytest
import torch

from svd_icl.architectures import architecture_for, decoder_layers, select_matrices, weight_view
from svd_icl.conditioning import condition_numbers, spectra
from svd_icl.pruning import Pruner, factorize, truncated
from tests.tiny_models import FAMILIES, VOCAB, tiny_model

EXPECTED = {
    "llama": {"attn.q", "attn.k", "attn.v", "attn.o", "mlp.gate", "mlp.up", "mlp.down"},
    "qwen2": {"attn.q", "attn.k", "attn.v", "attn.o", "mlp.gate", "mlp.up", "mlp.down"},
    "gemma3": {"attn.q", "attn.k", "attn.v", "attn.o", "mlp.gate", "mlp.up", "mlp.down"},
    "gptj": {"attn.q", "attn.k", "attn.v", "attn.o", "mlp.fc_in", "mlp.fc_out"},
    "gpt_neox": {"attn.qkv", "attn.o", "mlp.up", "mlp.down"},
    "gpt2": {"attn.q", "attn.k", "attn.v", "attn.o", "mlp.fc_in", "mlp.fc_out"},
}


def snapshot(model):
    return {k: v.clone() for k, v in model.state_dict().items()}


def assert_bit_identical(model, snap):
    for k, v in model.state_dict().items():
        assert torch.equal(v, snap[k]), f"{k} not restored bit for bit"


@pytest.mark.parametrize("family", FAMILIES)
def test_registry_finds_every_matrix(family):
    model = tiny_model(family)
    arch = architecture_for(model)
    assert set(arch.all_matrices()) == EXPECTED[family]
    for block in decoder_layers(model, arch):
        for _, spec in arch.all_matrices().values():
            assert weight_view(block, spec).ndim == 2


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("module", ["attn", "mlp", "v"])
def test_truncation_is_exact_and_restored(family, module):
    model = tiny_model(family)
    snap = snapshot(model)
    arch = architecture_for(model)
    pruner = Pruner(model, svd_dtype=torch.float64)
    selected = select_matrices(arch, module) if module != "v" or family != "gpt_neox" else {}
    if not selected:
        pytest.skip("gpt_neox has a fused qkv")
    layer = 1
    block = decoder_layers(model, arch)[layer]
    originals = {n: weight_view(block, s).clone() for n, (_, s) in selected.items()}
    with pruner.truncated(layer, module, 0.5) as infos:
        for info in infos:
            W = originals[info.matrix].double().numpy()
            U, S, Vh = np.linalg.svd(W, full_matrices=False)
            r = info.rank
            ref = (U[:, :r] * S[:r]) @ Vh[:r]
            got = weight_view(block, selected[info.matrix][1]).double().numpy()
            np.testing.assert_allclose(got, ref, atol=1e-5)
            assert np.linalg.matrix_rank(got, tol=1e-4) == r
            assert info.frobenius_error == pytest.approx(np.sqrt(np.sum(S[r:] ** 2)), rel=1e-6)
        # only the selected matrices of the selected layer changed
        changed = {k for k, v in model.state_dict().items() if not torch.equal(v, snap[k])}
        assert changed and all(f".{layer}." in k for k in changed)
    assert_bit_identical(model, snap)


def test_restore_after_exception_and_full_rank_untouched():
    model = tiny_model("llama")
    snap = snapshot(model)
    with pytest.raises(RuntimeError, match="boom"):
        with truncated(model, 0, "attn", 0.9):
            raise RuntimeError("boom")
    assert_bit_identical(model, snap)
    with truncated(model, 0, "mlp", 0.0) as infos:  # rank = full rank: weights left exactly as they are
        assert all(i.rank == i.full_rank for i in infos)
        assert_bit_identical(model, snap)


def test_factors_are_cached_per_layer():
    model = tiny_model("llama")
    pruner = Pruner(model)
    f1 = pruner.factors(2, "attn.q")
    assert pruner.factors(2, "attn.q") is f1
    pruner.factors(0, "attn.q")
    assert pruner._cache_layer == 0 and list(pruner._cache) == ["attn.q"]


@pytest.mark.parametrize("family", ["llama", "gemma3", "gptj"])
def test_factorized_layer_matches_truncation_and_saves_parameters(family):
    model = tiny_model(family)
    ids = torch.randint(0, VOCAB, (2, 11))
    with torch.no_grad(), truncated(model, 1, "mlp", 0.75):
        expected = model(ids).logits
    n_before = sum(p.numel() for p in model.parameters())
    report = factorize(model, 1, "mlp", 0.75)
    with torch.no_grad():
        got = model(ids).logits
    torch.testing.assert_close(got, expected, atol=1e-4, rtol=1e-4)
    assert report.params_saved > 0
    assert sum(p.numel() for p in model.parameters()) == n_before - report.params_saved


def test_factorize_refuses_fused_slices():
    with pytest.raises(ValueError, match="not a whole nn.Linear"):
        factorize(tiny_model("gpt2"), 0, "q", 0.5)


@pytest.mark.parametrize("family", FAMILIES)
def test_condition_numbers_match_numpy(family):
    model = tiny_model(family)
    table = condition_numbers(model, progress=False)
    arch = architecture_for(model)
    assert len(table) == len(decoder_layers(model, arch)) * len(arch.all_matrices())
    assert list(table.columns) == ["layer", "module", "matrix", "shape", "sigma_max", "sigma_min", "cond"]
    for row in table.itertuples():
        spec = arch.all_matrices()[f"{row.module}.{row.matrix}"][1]
        W = weight_view(decoder_layers(model, arch)[row.layer], spec).double().numpy()
        assert row.cond == pytest.approx(np.linalg.cond(W), rel=1e-4)
    sp = spectra(model, -1, "attn")
    assert (sp.groupby("matrix").sigma.apply(lambda s: (np.diff(s.to_numpy()) <= 1e-6).all())).all()


def test_clear_errors():
    model = tiny_model("llama")
    with pytest.raises(ValueError, match=r"out of range: this model has layers 0\.\.2"):
        with truncated(model, 3, "attn", 0.5):
            pass
    with pytest.raises(ValueError, match="not in the llama architecture; choose 'attn', 'mlp'"):
        with truncated(model, 0, "fc_in", 0.5):
            pass
    with pytest.raises(ValueError, match=r"outside \[0, 1\)"):
        with truncated(model, 0, "attn", 1.2):
            pass

    class Odd(torch.nn.Module):
        config = type("C", (), {"model_type": "mamba"})()

    with pytest.raises(ValueError, match="unsupported architecture model_type='mamba'.*ARCHITECTURES"):
        architecture_for(Odd())


def test_qwen2_truncation_changes_weights_not_biases():
    model = tiny_model("qwen2")
    attn = model.model.layers[1].self_attn
    bias, weight = attn.q_proj.bias.clone(), attn.q_proj.weight.clone()
    with Pruner(model).truncated(1, "attn", 0.5):
        assert torch.equal(attn.q_proj.bias, bias)
        assert not torch.equal(attn.q_proj.weight, weight)
    assert torch.equal(attn.q_proj.weight, weight)
