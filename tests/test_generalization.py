"""Theorem 2's measured gap and Assumption 1's tests, on cases whose answer is known."""

import numpy as np
import pytest
import torch

from svd_icl.theory.generalization import gaussianity, generalization_gaps, mardia, noise_samples, summarize_gap
from svd_icl.theory.linear_attention import random_prompt, random_stack
from svd_icl.theory.toy import QUERY_BASELINES

D = 5


def memorizer(xs, ys):
    """Returns a demonstration's label when the query is that demonstration's x, else 0: empirical loss 0."""
    match = (xs[:, :-1] == xs[:, -1:]).all(-1).to(ys.dtype)  # (P, N)
    return (match * ys).sum(1)


def test_memorizer_has_gap_one_and_least_squares_none():
    mem = summarize_gap(generalization_gaps(memorizer, D, 8, n_prompts=100))
    assert mem["empirical"] == 0 and mem["gap"] == pytest.approx(1.0, abs=0.15)
    assert mem["gap_low"] < mem["gap"] < mem["gap_high"] and mem["R_hat"] > 0
    ls = summarize_gap(generalization_gaps(QUERY_BASELINES["least squares"], D, 12, n_prompts=50))
    assert abs(ls["gap"]) < 1e-6  # N > d noiseless demonstrations: the task is recovered exactly


def test_mardia_accepts_gaussian_and_rejects_heavy_tails():
    rng = np.random.default_rng(0)
    gauss = mardia(rng.standard_normal((2000, 4)))
    heavy = mardia(rng.standard_t(3, (2000, 4)))
    assert gauss["skew_p"] > 0.01 and gauss["kurt_p"] > 0.01
    assert heavy["kurt_p"] < 1e-6
    with pytest.raises(ValueError, match="more samples than dimensions"):
        mardia(rng.standard_normal((3, 4)))


def test_gaussianity_on_planted_noise():
    rng = np.random.default_rng(1)
    A = rng.standard_normal((6, 6))
    C = A @ A.T
    V = rng.multivariate_normal(np.zeros(6), C, size=3000)
    ok = gaussianity(V, C, directions=3)
    assert ok["gaussian"] and ok["cov_rel_error"] < 0.1
    heavy = gaussianity(rng.standard_t(3, (3000, 6)) @ A.T, C, directions=3)
    assert not heavy["gaussian"]


def test_noise_covariance_is_c_t():
    stack = random_stack(2, D + 1, seed=3)
    H = random_prompt(12, D, seed=3).to(torch.float64)
    for V, C in noise_samples(stack, H, shots=4, n_samples=20000, seed=0):
        assert abs(V.mean(0)).max() < 0.05 * np.sqrt(np.diag(C).max())
        assert np.linalg.norm(np.cov(V, rowvar=False, bias=True) - C) / np.linalg.norm(C) < 0.05
    with pytest.raises(ValueError, match="shots 12 must be in 1..11"):
        noise_samples(stack, H, shots=12)
