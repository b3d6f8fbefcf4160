"""Paired tests and multiplicity control, checked against values computed by hand."""

import numpy as np
import pytest
from scipy.stats import binom

from svd_icl.stats import holm, majority_rate, paired_comparison, predicted_shares


def test_mcnemar_is_the_two_sided_binomial_on_discordant_pairs():
    # 10 queries: B fixes 6 that A got wrong, breaks 1 that A got right
    a = np.array([0, 0, 0, 0, 0, 0, 1, 1, 1, 1])
    b = np.array([1, 1, 1, 1, 1, 1, 0, 1, 1, 1])
    t = paired_comparison(a, b)
    assert (t.a_better, t.b_better) == (1, 6)
    assert t.p_value == pytest.approx(2 * binom.cdf(1, 7, 0.5))  # 2 * P(X <= 1), X ~ Bin(7, 1/2) = 0.125
    assert t.difference == pytest.approx(0.5) and t.low <= 0.5 <= t.high
    assert t.test == "exact McNemar"


def test_identical_settings_have_p_one_and_a_zero_interval():
    a = np.array([1, 0, 1, 1, 0])
    t = paired_comparison(a, a.copy())
    assert t.p_value == 1.0 and t.low == t.high == 0.0


def test_fractional_values_use_wilcoxon():
    rng = np.random.default_rng(0)
    a = rng.uniform(0, 0.5, 60)
    t = paired_comparison(a, a + 0.2)
    assert t.test == "Wilcoxon signed-rank" and t.p_value < 1e-6


def test_holm_by_hand():
    # sorted p: 0.01, 0.02, 0.04 with m = 3 -> 0.03, 0.04, 0.04 (monotone), back in input order
    assert holm([0.04, 0.01, 0.02]).tolist() == pytest.approx([0.04, 0.03, 0.04])


def test_majority_rate_and_predicted_shares():
    assert majority_rate(np.array([0, 0, 0, 1])) == 0.75
    assert predicted_shares(np.array([1, 1, -1, 0]), 2) == [0.25, 0.5]
