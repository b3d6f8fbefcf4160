"""Exact truncation: rank, Eckart-Young error, agreement with numpy, clip-rate rounding and validation."""

import numpy as np
import pytest
import torch

from svd_icl.svd import decompose, rank_for_clip_rate, truncate_matrix


@pytest.mark.parametrize("shape", [(8, 5), (5, 8), (16, 16)])
@pytest.mark.parametrize("xi", [0.1, 0.5, 0.75, 0.9])
def test_truncation_matches_numpy_reference(shape, xi):
    rng = np.random.default_rng(0)
    W = rng.standard_normal(shape)
    r = rank_for_clip_rate(shape, xi)
    U, S, Vh = np.linalg.svd(W, full_matrices=False)
    ref = (U[:, :r] * S[:r]) @ Vh[:r]
    got = truncate_matrix(torch.from_numpy(W), xi, dtype=torch.float64).numpy()
    np.testing.assert_allclose(got, ref, atol=1e-12)
    assert np.linalg.matrix_rank(got) == r
    # Eckart-Young: the Frobenius error is the norm of the dropped singular values
    assert np.linalg.norm(W - got) == pytest.approx(np.sqrt(np.sum(S[r:] ** 2)), rel=1e-10)
    assert decompose(torch.from_numpy(W), torch.float64).dropped_energy(r) == pytest.approx(np.linalg.norm(W - got))


@pytest.mark.parametrize(
    "shape,xi,rank",
    [
        ((1000, 4096), 0.9, 100),
        ((640, 1024), 0.995, 3),
        ((256, 640), 0.995, 1),
        ((64, 64), 0.0, 64),
        ((100, 50), 0.5, 25),
        ((10, 10), 0.99, 1),
        ((4096, 4096), 0.75, 1024),
    ],
)
def test_rank_floors_as_the_authors_code(shape, xi, rank):
    assert rank_for_clip_rate(shape, xi) == rank


@pytest.mark.parametrize("bad", [-0.1, 1.0, 1.5, float("nan"), "high", None])
def test_bad_clip_rate_is_named(bad):
    with pytest.raises(ValueError, match=r"\[0, 1\)"):
        rank_for_clip_rate((4, 4), bad)


def test_svd_dtype_validation():
    with pytest.raises(ValueError, match="float32 or torch.float64"):
        decompose(torch.ones(3, 3), dtype=torch.float16)


@pytest.mark.parametrize("shape", [(6, 9), (9, 6)])
def test_factors_of_either_orientation_are_a_thin_svd_of_the_matrix(shape):
    """A wide matrix is decomposed through its transpose (faster in LAPACK); the factors must still be W's own:
    U (m, k) and Vh (k, n) orthonormal, singular values descending, full rank rebuilding W."""
    W = torch.from_numpy(np.random.default_rng(1).standard_normal(shape))
    f = decompose(W, torch.float64)
    k = min(shape)
    assert f.U.shape == (shape[0], k) and f.Vh.shape == (k, shape[1]) and f.shape == shape
    np.testing.assert_allclose((f.U.T @ f.U).numpy(), np.eye(k), atol=1e-12)
    np.testing.assert_allclose((f.Vh @ f.Vh.T).numpy(), np.eye(k), atol=1e-12)
    assert torch.all(f.S[:-1] >= f.S[1:])
    np.testing.assert_allclose(f.reconstruct(k).numpy(), W.numpy(), atol=1e-12)
    np.testing.assert_allclose(f.S.numpy(), np.linalg.svd(W.numpy(), compute_uv=False), rtol=1e-12)
