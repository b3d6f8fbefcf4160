"""In-context linear regression: baselines, sampler, checkpoints, resumption, and a tiny model that learns."""

import json

import pytest
import torch

from svd_icl.linreg.baselines import BASELINES, averaging, least_squares, nearest_neighbours
from svd_icl.linreg.data import generator, sample
from svd_icl.linreg.evaluate import error_curve, squared_errors, truncation_errors
from svd_icl.linreg.model import LinRegConfig, LinRegTransformer
from svd_icl.linreg.train import TrainConfig, load_checkpoint, train


def test_least_squares_is_exact_once_n_reaches_d():
    xs, ys, _ = sample(64, 12, 5, generator(0))
    err = squared_errors(least_squares, d=5, n_points=12, n_prompts=64)
    curve = err.mean(dim=0)
    assert curve[5:].max() < 1e-10  # rounding level from n = d examples on, noiseless
    assert curve[2] > 0.1  # underdetermined before that


def test_zero_estimator_scores_one_and_baselines_shape():
    err = squared_errors(BASELINES["zero"], d=4, n_points=8, n_prompts=2048)
    assert err.mean().item() == pytest.approx(1.0, abs=0.08)
    xs, ys, _ = sample(3, 6, 4, generator(1))
    for fn in (least_squares, nearest_neighbours, averaging):
        assert fn(xs, ys).shape == (3, 6)


def test_sampler_is_deterministic_per_seed_and_step():
    a = sample(4, 5, 3, generator(7, 11))
    b = sample(4, 5, 3, generator(7, 11))
    c = sample(4, 5, 3, generator(7, 12))
    assert all(torch.equal(x, y) for x, y in zip(a, b))
    assert not torch.equal(a[0], c[0])
    xs, _, _ = sample(2, 3, 6, generator(0), active_dims=2)
    assert (xs[:, :, 2:] == 0).all()


def test_prediction_at_position_i_ignores_later_examples():
    model = LinRegTransformer(LinRegConfig(d=3, n_points=6, width=16, layers=2, heads=2)).eval()
    xs, ys, _ = sample(2, 6, 3, generator(0))
    ys2 = ys.clone()
    ys2[:, 4:] += 5.0
    with torch.no_grad():
        torch.testing.assert_close(model(xs, ys)[:, :5], model(xs, ys2)[:, :5])


def small_run(steps, keep=()):
    return (
        LinRegConfig(d=3, n_points=7, width=32, layers=2, heads=2),
        TrainConfig(steps=steps, lr=1e-3, checkpoint_every=10, keep_steps=keep),
    )


def test_checkpoint_round_trip_and_interrupted_training_resumes_exactly(tmp_path):
    cfg, tc = small_run(40, keep=(20,))
    full = train(cfg, tc, tmp_path / "full", progress=False)
    # "interrupt" after 20 steps: a run with steps=20 leaves the same files a killed run would at step 20
    cfg2, tc_short = small_run(20, keep=(20,))
    train(cfg2, tc_short, tmp_path / "resumed", progress=False)
    state = json.loads((tmp_path / "resumed" / "state.json").read_text())
    state["train"]["steps"] = 40  # continue the same run to 40 steps
    (tmp_path / "resumed" / "state.json").write_text(json.dumps(state))
    resumed = train(cfg, tc, tmp_path / "resumed", progress=False)
    assert resumed["step"] == full["step"] == 40
    assert resumed["losses"] == full["losses"]
    a, b = load_checkpoint(tmp_path / "full"), load_checkpoint(tmp_path / "resumed")
    for (ka, va), (kb, vb) in zip(a.state_dict().items(), b.state_dict().items()):
        assert ka == kb and torch.equal(va, vb), ka
    kept = load_checkpoint(tmp_path / "full", step=20)
    assert not torch.equal(kept.read_out.weight, a.read_out.weight)
    with pytest.raises(FileNotFoundError, match="kept: step_20.safetensors"):
        load_checkpoint(tmp_path / "full", step=30)


def test_other_settings_refuse_to_resume(tmp_path):
    cfg, tc = small_run(10)
    train(cfg, tc, tmp_path, progress=False)
    with pytest.raises(ValueError, match="other settings"):
        train(LinRegConfig(d=4, n_points=7, width=32, layers=2, heads=2), tc, tmp_path, progress=False)


def test_smoke_model_learns_in_context(tmp_path):
    cfg = LinRegConfig(d=3, n_points=9, width=32, layers=2, heads=2)
    train(cfg, TrainConfig(steps=1500, lr=2e-3, checkpoint_every=1500), tmp_path, progress=False)
    model = load_checkpoint(tmp_path)
    curve = error_curve(squared_errors(model, 3, 9, n_prompts=512))
    assert curve.error[6] < 0.5  # n = 2d examples: clearly below the zero estimator's 1
    table = truncation_errors(model, [0, -1], ["attn"], [0.0, 0.9], 3, 9, n_prompts=64)
    assert len(table) == 4 and set(table.layer) == {0, 1}
    base = table[table.clip_rate == 0.0].error_all.iloc[0]
    assert table.error_all.max() > base  # truncation is not a no-op
