"""The fast evaluation path gives the naive path's answers: same predictions, scores within 1e-4."""

import numpy as np
import pytest
import torch

from svd_icl.evaluation import EvalResult, FastEvaluator, evaluate_naive
from svd_icl.prompts import EncodedPrompts
from svd_icl.pruning import Pruner
from tests.tiny_models import FAMILIES, VOCAB, tiny_model


def random_prompts(seed=0, n=7, prefix_len=23, kind="single", bos=True):
    rng = np.random.default_rng(seed)
    prefix = ([1] if bos else []) + rng.integers(3, VOCAB, prefix_len).tolist()
    queries = [rng.integers(3, VOCAB, rng.integers(2, 9)).tolist() for _ in range(n)]
    if kind == "single":
        cands = [[[5], [9], [17]] for _ in range(n)]
    elif kind == "multi":  # multi-token label words shared by all queries
        cands = [[[5, 8], [9], [17, 4, 3]] for _ in range(n)]
    else:  # COPA-like: per-query candidates, length-normalised
        cands = [[rng.integers(3, VOCAB, rng.integers(1, 5)).tolist() for _ in range(2)] for _ in range(n)]
    labels = rng.integers(0, len(cands[0]), n)
    return EncodedPrompts(prefix, queries, cands, labels, length_normalize=kind == "choice")


def assert_same(fast: EvalResult, naive: EvalResult):
    np.testing.assert_allclose(fast.scores, naive.scores, atol=1e-4)
    np.testing.assert_array_equal(fast.predictions, naive.predictions)


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("kind", ["single", "multi", "choice"])
def test_fast_evaluate_equals_naive(family, kind):
    model = tiny_model(family)
    prompts = random_prompts(kind=kind)
    fast = FastEvaluator(model, prompts, batch_size=3, progress=False).evaluate()
    assert_same(fast, evaluate_naive(model, prompts))


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("layer", [0, 1, -1])
@pytest.mark.parametrize("module", ["attn", "mlp"])
def test_sweep_from_cached_layer_input_equals_naive(family, layer, module):
    model = tiny_model(family, seed=3)
    prompts = random_prompts(seed=5, kind="single" if module == "attn" else "choice")
    pruner = Pruner(model)
    ev = FastEvaluator(model, prompts, batch_size=4, progress=False)
    rates = [0.0, 0.5, 0.9]
    scores = []
    for xi, fast in ev.sweep(pruner, layer, module, rates):
        with pruner.truncated(layer, module, xi):
            naive = evaluate_naive(model, prompts)
        assert_same(fast, naive)
        scores.append(fast.scores)
    assert np.abs(scores[-1] - scores[0]).max() > 1e-3, "truncation did not change the scores: test is vacuous"


def test_prefix_longer_than_sliding_window_and_zero_shot():
    model = tiny_model("gemma3")  # sliding_window=6: the 23-token prefix overflows it
    for prompts in (random_prompts(prefix_len=23), random_prompts(prefix_len=0, bos=False)):
        ev = FastEvaluator(model, prompts, batch_size=5, progress=False)
        assert_same(ev.evaluate(), evaluate_naive(model, prompts))
        for xi, fast in ev.sweep(Pruner(model), 2, "attn", [0.5]):
            with Pruner(model).truncated(2, "attn", xi):
                assert_same(fast, evaluate_naive(model, prompts))


def test_ties_are_reported_and_counted_wrong():
    r = EvalResult(np.log(np.array([[0.5, 0.5], [0.9, 0.1], [0.2, 0.8]])), np.array([0, 0, 1]))
    assert r.ties.tolist() == [True, False, False]
    assert r.predictions.tolist() == [-1, 0, 1]
    assert r.accuracy == pytest.approx(2 / 3)
    assert r.metrics()["ties"] == 1 and r.metrics()["n_eval"] == 3


def test_macro_f1():
    r = EvalResult(np.log(np.array([[0.9, 0.1], [0.9, 0.1], [0.1, 0.9], [0.9, 0.1]])), np.array([0, 0, 1, 1]))
    # class 0: tp 2 fp 1 fn 0 -> 0.8; class 1: tp 1 fp 0 fn 1 -> 2/3
    assert r.macro_f1 == pytest.approx((0.8 + 2 / 3) / 2)


def test_sweep_restores_weights():
    model = tiny_model("llama")
    snap = {k: v.clone() for k, v in model.state_dict().items()}
    ev = FastEvaluator(model, random_prompts(), progress=False)
    list(ev.sweep(Pruner(model), 1, "mlp", [0.5, 0.9]))
    assert all(torch.equal(v, snap[k]) for k, v in model.state_dict().items())
    # and the layer list is intact (no _Skip left behind)
    assert all(type(m).__name__ != "_Skip" for m in model.model.layers)
