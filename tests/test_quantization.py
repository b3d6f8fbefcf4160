"""The GGUF quantization-error model: steps read from the blocks, the s^2/12 estimate, the per-matrix table."""

import numpy as np
import pytest
from gguf import GGMLQuantizationType, GGUFWriter, quants

from svd_icl.quantization import block_steps, check_error_model, error_norm, module_error, quantization_table


def test_error_model_matches_reference_quantizers():
    table = check_error_model(shape=(64, 512))
    # A wrong step (say, the scale of another block or a factor 2) would be off by far more than 10%.
    assert ((table.ratio > 0.9) & (table.ratio < 1.1)).all(), table


@pytest.mark.parametrize("name,sub", [("Q4_K", 32), ("Q6_K", 16), ("Q8_0", 32), ("Q5_0", 32), ("Q4_1", 32)])
def test_values_of_a_sub_block_lie_on_its_step_grid(name, sub):
    """Whatever the codes, de-quantized values within a sub-block differ by integer multiples of its step."""
    qtype = GGMLQuantizationType[name]
    block_size, type_size = quants.GGML_QUANT_SIZES[qtype]
    rng = np.random.default_rng(1)
    raw = rng.integers(0, 256, (20, type_size), dtype=np.uint8)
    half = np.array([0.01], np.float16).tobytes()  # finite float16 fields where d/dmin/m sit
    d_at = type_size - 2 if name == "Q6_K" else 0
    raw[:, d_at : d_at + 2] = np.frombuffer(half, np.uint8)
    if name in ("Q4_K", "Q4_1"):
        raw[:, 2:4] = np.frombuffer(half, np.uint8)
    values = quants.dequantize(raw, qtype).astype(np.float64).reshape(-1, sub)
    steps = block_steps(raw, qtype).reshape(-1, sub)
    assert (steps == steps[:, :1]).all()
    ok = steps[:, 0] > 0
    multiples = (values[ok] - values[ok].min(axis=1, keepdims=True)) / steps[ok]
    assert np.allclose(multiples, np.round(multiples), atol=1e-3)


def test_error_norm_is_the_uniform_rounding_variance():
    assert error_norm(np.full(12, 2.0)) == pytest.approx(2.0)  # 12 weights, s^2/12 = 1/3 each... sum = 4 -> 2
    with pytest.raises(ValueError, match="no error model for GGUF type F16"):
        block_steps(np.zeros(4, np.uint8), GGMLQuantizationType.F16)


def test_table_from_a_written_gguf_file(tmp_path):
    rng = np.random.default_rng(0)
    path = tmp_path / "tiny.gguf"
    writer = GGUFWriter(str(path), "llama")
    weights = {}
    for layer, (name, qtype) in enumerate([("attn_q", "Q8_0"), ("ffn_down", "Q4_1")]):
        w = rng.standard_normal((8, 64)).astype(np.float32)
        weights[layer] = w
        raw = quants.quantize(w, GGMLQuantizationType[qtype])
        writer.add_tensor(f"blk.{layer}.{name}.weight", raw, raw_dtype=GGMLQuantizationType[qtype])
    writer.add_tensor("token_embd.weight", rng.standard_normal((4, 64)).astype(np.float32))  # not a block matrix
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    table = quantization_table(path)
    assert list(table.matrix) == ["attn.q", "mlp.down"] and list(table.qtype) == ["Q8_0", "Q4_1"]
    assert table.bits.tolist() == [8.5, 5.0]
    assert table.weight_norm[0] == pytest.approx(np.linalg.norm(weights[0]), rel=0.01)
    assert table.relative_error[0] < table.relative_error[1]  # 8 bits leave less error than 4
    mlp = module_error(table, "mlp")
    assert mlp.layer.tolist() == [1] and mlp.qtypes.tolist() == ["Q4_1"]


def test_truncation_norms_on_a_tiny_model():
    import pandas as pd
    import torch

    from svd_icl.architectures import architecture_for, decoder_layers, select_matrices, weight_view
    from svd_icl.quantization import truncation_norms
    from tests.tiny_models import tiny_model

    model = tiny_model("llama")
    quant = pd.DataFrame([{"layer": la, "matrix": m, "qtype": "Q4_1", "error_norm": 0.5, "weight_norm": 1.0}
                          for la in range(3) for m in ("mlp.gate", "mlp.up", "mlp.down")])  # fmt: skip
    table = truncation_norms(model, "tiny", [-1], ["mlp"], [0.0, 0.5, 0.99], quant)
    assert table.layer.tolist() == [2, 2, 2] and table.removed_norm.iloc[0] == 0.0
    assert table.removed_norm.is_monotonic_increasing
    assert table.error_norm.iloc[0] == pytest.approx(np.sqrt(3 * 0.25)) and table.qtypes.iloc[0] == "Q4_1"
    # At the largest clip rate (rank 1 of each matrix) the removed norm is everything but the top singular values.
    arch = architecture_for(model)
    layer = decoder_layers(model, arch)[2]
    rest = sum(float((torch.linalg.svdvals(weight_view(layer, s))[1:] ** 2).sum())
               for _, s in select_matrices(arch, "mlp").values())  # fmt: skip
    assert table.removed_norm.iloc[2] == pytest.approx(np.sqrt(rest), rel=1e-4)


def _random_blocks(name, n=20, seed=1):
    qtype = GGMLQuantizationType[name]
    _, type_size = quants.GGML_QUANT_SIZES[qtype]
    raw = np.random.default_rng(seed).integers(0, 256, (n, type_size), dtype=np.uint8)
    half = np.frombuffer(np.array([0.01], np.float16).tobytes(), np.uint8)
    d_at = type_size - 2 if name == "Q6_K" else 0
    raw[:, d_at : d_at + 2] = half
    if name in ("Q4_K", "Q4_1"):
        raw[:, 2:4] = half
    return raw, qtype


@pytest.mark.parametrize("name", ["Q4_K", "Q6_K", "Q8_0", "Q5_0", "Q4_1"])
def test_off_grid_is_zero_for_the_right_steps_and_not_for_wrong_ones(name, monkeypatch):
    from svd_icl import quantization

    raw, qtype = _random_blocks(name)
    assert quantization.off_grid(raw, qtype) == 0.0
    right = quantization.STEPS[qtype]
    monkeypatch.setitem(quantization.STEPS, qtype, lambda blocks: right(blocks) * 1.5)  # a misread step
    assert quantization.off_grid(raw, qtype) > 0.3


def test_k_quant_simulation_puts_weights_on_its_grid_and_search_never_loses():
    from svd_icl.quantization import K_GRIDS, simulate_k_quant

    w = np.random.default_rng(0).standard_normal((32, 256)) * 0.02
    for name, (size, lo, hi, _) in K_GRIDS.items():
        rtn, steps = simulate_k_quant(w, name, search=False)
        searched, _ = simulate_k_quant(w, name, search=True)
        blocks, s = rtn.reshape(-1, size), steps.reshape(-1, size)
        codes = (blocks - blocks[:, :1]) / s
        assert np.allclose(codes, np.round(codes), atol=1e-6), name
        assert (np.round(codes).max(axis=1) - np.round(codes).min(axis=1) <= hi - lo).all(), name
        sse_searched, sse_rtn = (((x - w).reshape(-1, size) ** 2).sum(axis=1) for x in (searched, rtn))
        assert (sse_searched <= sse_rtn + 1e-18).all(), name


def test_round_to_nearest_on_widely_spread_weights_has_the_uniform_error():
    """Weights spread evenly over many steps: every weight has the s^2/12 error but the ones that set the step,
    which lie on the grid (Q4_K's sub-block minimum and maximum, 2 of 32; Q6_K's largest magnitude, 1 of 16)."""
    from svd_icl.quantization import simulate_k_quant

    rng = np.random.default_rng(2)
    # Q6_K's weights of one sign: its codes [-32, 31] are asymmetric, so the other sign's extreme would be clipped
    cases = (("Q4_K", 2 / 32, rng.uniform(-1, 1, (64, 256))), ("Q6_K", 1 / 16, rng.uniform(0, 1, (64, 256))))
    for name, exact, w in cases:
        deq, steps = simulate_k_quant(w, name, search=False)
        assert np.linalg.norm(deq - w) / error_norm(steps) == pytest.approx(np.sqrt(1 - exact), abs=0.01), name


def test_k_error_model_check_reports_both_quantizers():
    from svd_icl.quantization import check_k_error_model

    table = check_k_error_model(shape=(64, 512))
    assert set(zip(table.qtype, table.quantizer)) == {
        (q, k) for q in ("Q4_K", "Q6_K") for k in ("round to nearest", "searched scales")
    }
    assert ((table.ratio > 0.85) & (table.ratio < 1.05)).all(), table
