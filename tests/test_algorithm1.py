"""Algorithm 1's selection and search logic, with a fabricated condition-number table and a stub evaluator."""

import numpy as np
import pandas as pd
import pytest

from svd_icl.algorithm1 import algorithm1, best_clip_rate, layer_scores, select_layer
from svd_icl.evaluation import EvalResult
from tests.tiny_models import tiny_model


def fabricated_cond():
    # layer: attn q/k, mlp up ; max over attn -> [5, 50, 20, 40]; mean over attn -> [5, 27.5, 20, 40]
    rows = []
    for layer, (q, k_, up) in enumerate([(5, 1, 2), (50, 5, 3), (20, 20, 9), (40, 40, 1)]):
        rows += [
            {"layer": layer, "module": "attn", "matrix": "q", "cond": q},
            {"layer": layer, "module": "attn", "matrix": "k", "cond": k_},
            {"layer": layer, "module": "mlp", "matrix": "up", "cond": up},
        ]
    return pd.DataFrame(rows)


def test_aggregation_and_top_k_selection():
    cond = fabricated_cond()
    assert layer_scores(cond, "attn", "max").tolist() == [5, 50, 20, 40]
    assert layer_scores(cond, "attn", "mean").tolist() == [3, 27.5, 20, 40]
    assert select_layer(cond, "attn", 1) == (1, [1])  # the single largest is layer 1
    assert select_layer(cond, "attn", 2) == (3, [1, 3])  # deepest of the top two
    assert select_layer(cond, "attn", 1, "mean") == (3, [3])
    assert select_layer(cond, "mlp", 2) == (2, [1, 2])


def test_search_keeps_the_smallest_clip_rate_among_ties():
    assert best_clip_rate({0.0: 0.7, 0.5: 0.8, 0.9: 0.8, 0.99: 0.6}) == 0.5
    assert best_clip_rate({0.0: 0.9, 0.5: 0.8}) == 0.0


def stub_evaluator(validation_scores, test_scores):
    """Returns EvalResults whose accuracy is the given number (scores built to hit it exactly)."""
    calls = []

    def result(acc, n=20):
        correct = int(round(acc * n))
        labels = np.zeros(n, dtype=int)
        scores = np.log(np.tile([0.9, 0.1], (n, 1)))
        scores[correct:] = np.log([0.1, 0.9])
        return EvalResult(scores, labels)

    def evaluate(split, layer, module, rates):
        calls.append((split, layer, module, tuple(rates)))
        table = validation_scores if split == "validation" else test_scores
        return {xi: result(table[xi]) for xi in rates}

    return evaluate, calls


def test_algorithm1_picks_layer_searches_on_validation_reports_test():
    model = tiny_model("llama")  # 3 layers; the fabricated table decides the layer
    cond = fabricated_cond()[lambda d: d.layer < 3]
    evaluate, calls = stub_evaluator({0.0: 0.5, 0.5: 0.75, 0.9: 0.75}, {0.0: 0.6, 0.5: 0.7})
    res = algorithm1(model, None, "tiny", "sst2", "attn", k=2, grid=(0.0, 0.5, 0.9), cond=cond, evaluate=evaluate)
    assert res.layer == 2 and res.top_k_layers == [1, 2]
    assert res.best_clip_rate == 0.5
    assert res.test_unpruned["accuracy"] == pytest.approx(0.6) and res.test_pruned["accuracy"] == pytest.approx(0.7)
    assert calls == [("validation", 2, "attn", (0.0, 0.5, 0.9)), ("test", 2, "attn", (0.0, 0.5))]
    assert 0 < res.params_saved < res.params_module
    assert res.row()["change"] == pytest.approx(0.1)


@pytest.mark.parametrize(
    "kwargs,message",
    [
        ({"k": 0}, "k must be an integer in"),
        ({"k": 9}, "k must be an integer in"),
        ({"grid": ()}, "grid is empty"),
        ({"task": "sst5"}, "unknown task"),
        ({"module": "mlp2"}, "module must be 'attn' or 'mlp'"),
        ({"aggregate": "median"}, "aggregate 'median'"),
        ({"grid": (0.0, 1.5)}, r"outside \[0, 1\)"),
    ],
)
def test_bad_arguments(kwargs, message):
    model = tiny_model("llama")
    evaluate, _ = stub_evaluator({0.0: 0.5}, {0.0: 0.5})
    args = {
        "task": "sst2",
        "module": "attn",
        "k": 1,
        "cond": fabricated_cond()[lambda d: d.layer < 3],
        "evaluate": evaluate,
        **kwargs,
    }
    with pytest.raises(ValueError, match=message):
        algorithm1(model, None, "tiny", **args)


def test_the_effect_sentence_states_the_paired_test_change():
    from svd_icl.algorithm1 import Algorithm1Result

    labels = [0, 1] * 10
    unpruned = [0, 1] * 5 + [1, 0] * 5  # 10 of 20 right
    pruned = [0, 1] * 8 + [1, 0] * 2  # 16 of 20 right: six queries gained, none lost
    res = Algorithm1Result("m", "sst2", "mlp", 3, "max", 5, [3, 4, 5], 0.9, {0.9: 0.8}, {}, {}, "accuracy",
                           labels, unpruned, pruned, 0, 0)  # fmt: skip
    text = res.effect()
    assert "layer 5 MLP, clip rate 0.9" in text and "50.0% to 80.0%" in text and "+30.0 points" in text
    assert "on 20 held-out sst2 test queries" in text
