"""The identities of Sec. 3.2 (Lemma 1, Theorem 1, Remarks 1 and 5) on random float64 instances."""

import pytest
import torch

from svd_icl.theory import (
    forward,
    lemma1_error,
    make_prompt,
    random_prompt,
    random_stack,
    theorem1_errors,
    trajectory,
    truncate_layer,
    truncation_sweep,
)

CASES = [(1, 3, 4, 1), (3, 5, 6, 1), (6, 4, 9, 1), (4, 8, 5, 3), (8, 2, 3, 2)]


@pytest.mark.parametrize("L,N,d_in,d_out", CASES)
@pytest.mark.parametrize("seed", [0, 7, 42])
def test_theorem1_forward_equals_implicit_update(L, N, d_in, d_out, seed):
    stack = random_stack(L, d_in + d_out, seed=seed)
    H = random_prompt(N, d_in, d_out, seed=seed + 100)
    errors = theorem1_errors(stack, H)
    assert len(errors) == L
    assert errors.rel_error_query.max() < 1e-12
    assert (errors.rank_delta_W <= min(N, d_in + d_out)).all()


@pytest.mark.parametrize("seed", range(5))
def test_lemma1_single_layer(seed):
    stack = random_stack(1, 7, seed=seed)
    H = random_prompt(4, 6, 1, seed=seed)
    assert lemma1_error(stack.W_V[0], stack.W_K[0], stack.W_Q[0], H) < 1e-13


def test_rank_bound_is_tight_when_demos_are_few():
    stack = random_stack(3, 10, seed=3)
    H = random_prompt(2, 9, 1, seed=3)
    assert (theorem1_errors(stack, H).rank_delta_W == 2).all()


def _query_states_by_sums(stack, H):
    """The query token after each layer, written out as Eq. (3)'s sum over demonstrations (a loop, not matrices):
    h_q <- h_q + sum_i W_V h_i <W_K h_i, W_Q h_q>, and each demonstration moves the same way (it attends to the
    demonstrations, never to the query)."""
    demos = [H[:, i].clone() for i in range(H.shape[1] - 1)]
    query = H[:, -1].clone()
    out = []
    for W_V, W_K, W_Q in zip(stack.W_V, stack.W_K, stack.W_Q):

        def update(h, demos=demos, W_V=W_V, W_K=W_K, W_Q=W_Q):
            return sum(W_V @ d * torch.dot(W_K @ d, W_Q @ h) for d in demos)

        query = query + update(query)
        demos = [d + update(d) for d in demos]
        out.append(query)
    return out


def test_implicit_weights_reproduce_an_independent_forward_pass():
    # Theorem 1: after layer t the query is (I + W_t) h_0, with W_t accumulated from the G_t; checked against the
    # per-demonstration sums above (no shared code with trajectory or forward). Layer 1: G_1 = Delta W_1.
    stack = random_stack(4, 6, seed=1)
    H = random_prompt(3, 5, 1, seed=1)
    traj = trajectory(stack, H)
    h0 = H[:, -1]
    for t, query in enumerate(_query_states_by_sums(stack, H)):
        torch.testing.assert_close(h0 + traj.W[t] @ h0, query, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(h0 + traj.delta_W[0] @ h0, _query_states_by_sums(stack, H)[0], rtol=1e-10, atol=1e-12)


def test_query_label_is_masked_and_never_used_as_key():
    x = torch.randn(4, 3, dtype=torch.float64)
    y = torch.randn(3, 1, dtype=torch.float64)
    H = make_prompt(x, y)
    assert H.shape == (4, 4) and H[-1, -1] == 0
    # changing the query must not change the demonstrations' trajectory
    H2 = H.clone()
    H2[:3, -1] += 1.0
    stack = random_stack(3, 4, seed=0)
    torch.testing.assert_close(forward(stack, H)[-1][:, :-1], forward(stack, H2)[-1][:, :-1])


@pytest.mark.parametrize("k", [1, 3, 5])
@pytest.mark.parametrize("which", ["V", "K", "Q"])
def test_remark5_pruning_layer_k_changes_exactly_the_later_terms(k, which):
    L = 5
    stack = random_stack(L, 8, seed=k)
    H = random_prompt(3, 7, 1, seed=k)
    sweep = truncation_sweep(stack, H, k, which, [0.0, 0.5])
    assert not sweep[sweep.clip_rate == 0.0].changed.any()
    changed = sweep[(sweep.clip_rate == 0.5) & sweep.changed].layer.tolist()
    assert changed == list(range(k, L + 1))


def test_truncate_layer_validates():
    stack = random_stack(2, 4)
    with pytest.raises(ValueError, match="out of range"):
        truncate_layer(stack, 3, "V", 0.5)
    with pytest.raises(ValueError, match="unknown matrix"):
        truncate_layer(stack, 1, "O", 0.5)
    with pytest.raises(ValueError, match=r"outside \[0, 1\)"):
        truncate_layer(stack, 1, "V", 1.0)
