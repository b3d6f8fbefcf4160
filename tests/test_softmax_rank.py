"""App. B.2's kernel form and Remark 1's rank measurements, on cases with a known answer."""

import pandas as pd
import pytest
import torch

from svd_icl.theory.softmax import (
    effective_rank,
    kernel_form_error,
    layer_ranks,
    numerical_rank,
    random_case,
    random_rank_checks,
    rank_bound_holds,
    rank_story,
)
from tests.tiny_models import tiny_model


def test_numerical_and_effective_rank():
    M = torch.diag(torch.tensor([3.0, 1.0, 1e-9, 0.0]))
    assert numerical_rank(M) == 2 and numerical_rank(torch.zeros(3, 3)) == 0
    assert effective_rank(torch.eye(5)) == pytest.approx(5.0)


def test_kernel_form_converges_and_rank_is_at_most_n():
    values, keys, query = random_case(6, 8, seed=2)
    assert kernel_form_error(values, keys, query, 50_000) < min(0.02, kernel_form_error(values, keys, query, 10))
    table = random_rank_checks([2, 6, 20], dim=8, m=64, seeds=2)
    assert table.within.all() and table[table.N == 2]["rank"].max() == 2 and table[table.N == 20]["rank"].max() == 8


def test_layer_ranks_on_a_tiny_model():
    model = tiny_model("llama")
    table = layer_ranks(model, [5, 9, 11, 5, 17], m=32)
    assert len(table) == model.config.num_hidden_layers and (table.N == 5).all()
    assert rank_bound_holds(table)
    assert table.rank_H.iloc[0] == 4  # token 5 appears twice: two identical embedding columns
    with pytest.raises(ValueError, match="empty prefix"):
        layer_ranks(model, [])


def test_rank_story_counts_zero_shots_as_rank_zero():
    ranks = pd.DataFrame({"shots": [4, 4, 10, 10], "effective_rank_H": [5.0, 7.0, 12.0, 14.0]})
    uneven = rank_story(ranks, pd.Series({0: 0.75, 4: 0.67, 10: 0.87}))
    assert uneven["rank_grows"] and not uneven["accuracy_grows"] and not uneven["fits"]
    assert rank_story(ranks, pd.Series({0: 0.5, 4: 0.6, 10: 0.8}))["fits"]
