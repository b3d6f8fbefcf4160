"""The quantization-noise control: noise of the file's own step, restored bit for bit, and its verdict."""

import numpy as np
import pandas as pd
import pytest
import torch

from svd_icl.claims import case_evidence, describe_noise, noise_effects
from svd_icl.claims.core import FAILS, HOLDS, NOT_INFORMATIVE
from svd_icl.noise import noisy, requantizable, uniform_noise
from svd_icl.quantization import error_norm
from tests.tiny_models import tiny_model


def test_injected_noise_has_the_error_models_variance():
    steps = torch.from_numpy(np.random.default_rng(0).uniform(0.001, 0.01, (300, 400)).astype(np.float32))
    predicted = error_norm(steps.numpy())
    for level in (1.0, 4.0):
        noise = uniform_noise(steps, level, (0, 1, 2))
        assert float(noise.double().norm()) == pytest.approx(np.sqrt(level) * predicted, rel=0.01)
        assert (noise.abs() <= np.sqrt(level) * steps / 2 + 1e-9).all()
    assert torch.equal(uniform_noise(steps, 1.0, (0, 1, 2)), uniform_noise(steps, 1.0, (0, 1, 2)))
    assert not torch.equal(uniform_noise(steps, 1.0, (0, 1, 2)), uniform_noise(steps, 1.0, (1, 1, 2)))


def test_noise_touches_only_the_named_matrices_and_is_undone_bit_for_bit():
    model = tiny_model("llama")
    before = {k: v.clone() for k, v in model.state_dict().items()}
    gate = model.model.layers[1].mlp.gate_proj.weight
    steps = {"mlp.gate": torch.full(gate.shape, 0.01)}
    with noisy(model, 1, steps, 3.0, seed=0) as norms:
        changed = {k for k, v in model.state_dict().items() if not torch.equal(before[k], v)}
        assert changed == {"model.layers.1.mlp.gate_proj.weight"}
        assert norms["mlp.gate"] == pytest.approx(np.sqrt(3 * gate.numel() * 0.01**2 / 12), rel=0.05)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    with pytest.raises(ValueError, match="noise level -1"):
        with noisy(model, 1, steps, -1.0):
            pass


def test_gguf_has_no_quantizer_for_k_types():
    assert requantizable("Q8_0") and not requantizable("Q4_K") and not requantizable("Q6_K")


def _points(n, u0, s0, uk, sk, level=3.0, labels=None):
    labels = np.array([0, 1] * (n // 2) + [0] * (n % 2)) if labels is None else labels
    rows = []
    for noise, role, correct in ((0.0, "unpruned", u0), (0.0, "selected", s0), (level, "unpruned", uk),
                                 (level, "selected", sk)):  # fmt: skip
        rows.append(
            {
                "model": "m",
                "task": "sst2",
                "layer": 3,
                "module": "mlp",
                "noise": noise,
                "role": role,
                "clip_rate": 0.0 if role == "unpruned" else 0.9,
                "majority_rate": 0.5,
                "labels": labels.tolist(),
                "predictions": np.where(correct, labels, 1 - labels).tolist(),
                "noise_norm": 2.0,
                "error_norm": 1.2,
            }
        )
    return pd.DataFrame(rows)


def _testable(rng, n, gain=0.05, cost=0.03):
    """Answers where the control can test something: the truncation's gain on the stored weights is real (``gain``
    of the queries the unpruned model gets wrong become right) and the noise costs the unpruned model (``cost``
    of the queries it gets right go wrong, for the truncated model too). Returns (u0, s0, uk, sk, free): ``free``
    the queries neither touches, where a test may plant more."""
    u0 = rng.random(n) < 0.7
    order = rng.permutation(n)
    fixed = order[np.isin(order, np.flatnonzero(~u0))][: int(gain * n)]
    broken = order[np.isin(order, np.flatnonzero(u0))][: int(cost * n)]
    s0 = u0.copy()
    s0[fixed] = True
    uk, sk = u0.copy(), s0.copy()
    uk[broken] = sk[broken] = False
    free = np.setdiff1d(np.arange(n), np.concatenate([fixed, broken]))
    return u0, s0, uk, sk, rng.permutation(free)


def test_a_gain_that_grows_with_noise_points_to_noise_removal():
    rng = np.random.default_rng(0)
    u0, s0, uk, sk, _ = _testable(rng, 2000)
    hurt = np.flatnonzero(u0 & s0 & uk)[:400]  # the noise costs the unpruned model more; the truncation undoes it
    uk[hurt] = False
    row = noise_effects(_points(2000, u0, s0, uk, sk), ["model", "task"]).iloc[0]
    assert row.outcome == FAILS and row.low > row.margin and row.cost < 0 and row.testable
    assert "as removing quantization noise would predict" in describe_noise(row)


def test_a_gain_that_grows_by_less_than_the_margin_is_not_refuted():
    """An interval above 0 but below the margin: the gain grows, by less than the smallest effect of interest."""
    rng = np.random.default_rng(3)
    n = 40000
    u0, s0, uk, sk, free = _testable(rng, n)
    up, down = free[: n // 100], free[n // 100 : n // 100 + n // 400]  # +1% gain, 0.25% lose: +0.75 points
    sk[up], uk[up] = True, False
    sk[down], uk[down] = False, True
    row = noise_effects(_points(n, u0, s0, uk, sk), ["model", "task"]).iloc[0]
    assert 0 < row.low and row.high < row.margin and row.outcome == HOLDS
    # its p is stated against the margin it is decided on (against 0 it would say the opposite: a significant rise)
    assert row.p_adj < 0.05 and row.p_null == row.margin
    line = case_evidence(row, "m/sst2", field="growth")
    assert f"adjusted p < 0.001 against {row.margin:+.1%}" in line


def test_an_unchanged_gain_on_many_queries_rules_out_noise_removal_and_few_queries_cannot():
    rng = np.random.default_rng(1)
    for n, expected in ((4000, HOLDS), (60, NOT_INFORMATIVE)):
        u0, s0, uk, sk, free = _testable(rng, n)
        up, down = free[: n // 40], free[n // 40 : n // 20]  # a few queries gain on the noisier weights, as many lose
        sk[up], uk[up], sk[down], uk[down] = True, False, False, True
        row = noise_effects(_points(n, u0, s0, uk, sk), ["model", "task"]).iloc[0]
        assert row.outcome == expected, (n, row.low, row.high)
    assert "not testable here" in describe_noise(row)  # 60 queries cannot show the gain it would test


@pytest.mark.parametrize("what", ["no gain", "free noise"])
def test_the_control_cannot_hold_without_a_gain_to_explain_or_noise_that_costs(what):
    """A control that passes by construction is no control: with no real gain on the stored weights, or noise that
    costs the unpruned model nothing, the case is not informative, however flat the growth."""
    rng = np.random.default_rng(2)
    u0, s0, uk, sk, _ = _testable(rng, 4000, gain=0.0 if what == "no gain" else 0.05,
                                  cost=0.0 if what == "free noise" else 0.03)  # fmt: skip
    row = noise_effects(_points(4000, u0, s0, uk, sk), ["model", "task"]).iloc[0]
    assert row.outcome == NOT_INFORMATIVE and not row.testable
    reason = "gain on the stored weights is not shown" if what == "no gain" else "not shown to cost"
    assert reason in describe_noise(row)


def test_the_control_refuses_points_of_other_queries_or_a_missing_arm():
    n = 10
    ok = np.ones(n, bool)
    points = _points(n, ok, ok, ok, ok)
    points.at[3, "labels"] = [1] * n
    with pytest.raises(ValueError, match="different queries"):
        noise_effects(points, ["model", "task"])
    with pytest.raises(ValueError, match="needs unpruned and selected points at 0 and 3"):
        noise_effects(_points(n, ok, ok, ok, ok).iloc[1:], ["model", "task"])


@pytest.mark.slow
def test_step_map_of_a_bundled_model_follows_transformers_reordering():
    """SmolLM2 is a LLaMA file: transformers reorders q and k rows on loading. The step map must follow (checked
    inside gguf_steps against the de-quantized weights) and carry the file's own error estimate per matrix."""
    from svd_icl.models import BUNDLED, load_model
    from svd_icl.noise import gguf_steps
    from svd_icl.quantization import quantization_table

    path = BUNDLED["smollm2-135m"].locate_gguf()
    model, _ = load_model("smollm2-135m")
    steps = gguf_steps(path, model, 0, "attn")
    table = quantization_table(path).set_index(["layer", "matrix"])
    for name, s in steps.items():
        assert tuple(s.shape) == tuple(model.model.layers[0].get_submodule(
            {"attn.q": "self_attn.q_proj", "attn.k": "self_attn.k_proj", "attn.v": "self_attn.v_proj",
             "attn.o": "self_attn.o_proj"}[name]).weight.shape)  # fmt: skip
        assert error_norm(s.numpy()) == pytest.approx(table.loc[(0, name), "error_norm"], rel=1e-6)
    with torch.no_grad():
        model.model.layers[0].self_attn.q_proj.weight[0, 0] += 1.0  # no longer the file's weights
    with pytest.raises(ValueError, match="differs from the model's attn.q"):
        gguf_steps(path, model, 0, "attn")


def _gguf_of(model, layer, path):
    """A GGUF file holding ``layer``'s v matrix quantized Q8_0, with the model's v set to its de-quantized values
    (as if the model had been converted from the file)."""
    from gguf import GGMLQuantizationType, GGUFWriter, quants

    v = model.model.layers[layer].self_attn.v_proj.weight
    raw = quants.quantize(v.detach().numpy().astype(np.float32), GGMLQuantizationType.Q8_0)
    with torch.no_grad():
        v.copy_(torch.from_numpy(quants.dequantize(raw, GGMLQuantizationType.Q8_0)))
    writer = GGUFWriter(str(path), "llama")
    writer.add_tensor(f"blk.{layer}.attn_v.weight", raw, raw_dtype=GGMLQuantizationType.Q8_0)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def test_requantizing_with_the_files_own_type_adds_no_noise(checkpoint, tmp_path):
    """The second arm (re-quantize the de-quantized weights with the same type) measured on a written Q8_0 file: the
    weights come back unchanged, so that arm could not test noise removal; off-grid weights would move."""
    from gguf import GGMLQuantizationType, GGUFWriter, quants

    from svd_icl.models import load_model
    from svd_icl.noise import requantization_arm

    model, _ = load_model(str(checkpoint / "model"))
    _gguf_of(model, 1, tmp_path / "tiny.gguf")
    arm = requantization_arm(tmp_path / "tiny.gguf", 1, "attn")
    assert arm[["matrix", "qtype", "requantizable"]].values.tolist() == [["attn.v", "Q8_0", True]]
    assert arm.changed_share.iloc[0] == 0 and arm.change_over_error.iloc[0] == 0
    assert requantization_arm(tmp_path / "tiny.gguf", 1, "mlp").empty  # no MLP matrix in the file
    # a file whose codes do not span their type's range (largest |code| 100, not 127) is off the grid that
    # re-quantizing picks, so its weights do move
    raw = quants.quantize(np.random.default_rng(0).standard_normal((8, 64)).astype(np.float32) * 0.02,
                          GGMLQuantizationType.Q8_0)  # fmt: skip
    blocks = raw.reshape(-1, 34).copy()
    codes = blocks[:, 2:].view(np.int8)
    blocks[:, 2:] = np.round(codes * (100 / 127)).astype(np.int8).view(np.uint8)
    writer = GGUFWriter(str(tmp_path / "moved.gguf"), "llama")
    writer.add_tensor("blk.0.ffn_down.weight", blocks.reshape(raw.shape), raw_dtype=GGMLQuantizationType.Q8_0)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    moved = requantization_arm(tmp_path / "moved.gguf", 0, "mlp.down").iloc[0]
    assert moved.changed_share > 0.5 and moved.change_over_error > 0


def test_the_control_scores_both_arms_on_the_same_queries_resumes_and_restores(checkpoint, tmp_path):
    from svd_icl.confirm import Selection
    from svd_icl.models import load_model
    from svd_icl.noise import noise_control
    from svd_icl.sweep import SweepConfig

    model, tok = load_model(str(checkpoint / "model"))
    _gguf_of(model, 1, tmp_path / "tiny.gguf")
    before = {k: v.clone() for k, v in model.state_dict().items()}
    config = SweepConfig(model="tiny", task="sst2", layers=[0], shots=2, split="validation", n=8,
                         data_root=str(checkpoint / "data"))  # fmt: skip
    pick = Selection("tiny", "sst2", 1, "v", 0.5)
    files = tmp_path / "sweeps.jsonl", tmp_path / "noise.jsonl"
    points = noise_control(model, tok, config, pick, tmp_path / "tiny.gguf", (0.0, 30.0), 0, *files, progress=False)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert sorted(zip(points.noise, points.role)) == [(0.0, "selected"), (0.0, "unpruned"), (30.0, "selected"),
                                                      (30.0, "unpruned")]  # fmt: skip
    assert points.labels.map(tuple).nunique() == 1
    u = points.set_index(["noise", "role"]).scores
    assert not np.allclose(u[(0.0, "unpruned")], u[(30.0, "unpruned")])  # the noise reached the answers
    noisy_row = points[points.noise == 30.0].iloc[0]
    assert noisy_row.noise_norm == pytest.approx(np.sqrt(30) * noisy_row.error_norm, rel=0.1)
    lines = [f.read_text() for f in files]
    again = noise_control(model, tok, config, pick, tmp_path / "tiny.gguf", (0.0, 30.0), 0, *files, progress=False)
    assert [f.read_text() for f in files] == lines and len(again) == 4  # all stored: nothing recomputed
    other = noise_control(model, tok, config, pick, tmp_path / "tiny.gguf", (30.0,), 1, *files, progress=False)
    assert not np.allclose(other.scores.iloc[0], u[(30.0, "unpruned")])  # another draw is another key
    table = noise_effects(points.assign(model="tiny", task="sst2"), ["model", "task"])
    assert len(table) == 1 and table.iloc[0].n == 8
    with pytest.raises(ValueError, match="levels"):
        noise_control(model, tok, config, pick, tmp_path / "tiny.gguf", (-1.0,), 0, *files)


def test_the_requantization_sentence_says_what_was_measured_and_what_could_not_be():
    from svd_icl.claims import describe_requantization

    arm = pd.DataFrame([
        {"model": "a", "qtype": "Q4_1", "requantizable": True, "changed_share": 0.0, "change_over_error": 0.0},
        {"model": "b", "qtype": "Q6_K", "requantizable": False, "changed_share": np.nan, "change_over_error": np.nan},
    ])  # fmt: skip
    text = describe_requantization(arm)
    assert "Q4_1 (a): 0.0% of the weights change" in text and "come back unchanged" in text
    assert "Q6_K (b) cannot be re-quantized" in text
    moved = describe_requantization(arm.assign(changed_share=[0.3, np.nan], change_over_error=[0.8, np.nan]))
    assert "30.0%" in moved and "come back unchanged" not in moved
    assert "nothing to re-quantize" in describe_requantization(arm.iloc[:0])
