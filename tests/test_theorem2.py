"""Theorem 2's bound terms and Examples 1-4, checked against direct computations on small cases."""

from __future__ import annotations

import itertools
import math

import pandas as pd
import pytest
import torch

from svd_icl.claims.core import FAILS, HOLDS
from svd_icl.svd import truncate_matrix
from svd_icl.theory import forward, random_prompt, random_stack, trajectory
from svd_icl.theory.bound import (
    APPROXIMATIONS,
    bound_terms,
    bound_value,
    mean_bound_terms,
    per_sample_gradients,
    shot_factor,
)
from svd_icl.theory.examples import (
    example_checks,
    example_sweep,
    failure_rates,
    random_layer,
    upper_bounds,
)
from svd_icl.theory.linear_attention import DTYPE, implicit_delta_w
from svd_icl.theory.remark5 import agreement, bound_grid, depth_trend, trained_example_checks, truncation_grid
from svd_icl.theory.toy import (
    ToyConfig,
    ToyTransformer,
    error_vs_demos,
    held_out_prompts,
    icl_errors,
    one_gd_step,
    prompts,
    to_stack,
    train_toy,
    truncated,
)

GRID = [0.0, 0.1, 0.25, 0.5, 0.75, 0.9]


@pytest.fixture
def small_case():
    return random_stack(3, 4, scale=0.4, seed=1), random_prompt(5, 3, 1, seed=2)


def _explicit_covariance(stack, H, t: int, shots: int) -> torch.Tensor:
    """C_t formed as a d x d matrix straight from the definition in Sec. 3.3."""
    shares = per_sample_gradients(stack, H)[t - 1]
    pool = shares.shape[0]
    g = pool * shares.reshape(pool, -1)
    mean = g.mean(0)
    second = sum(torch.outer(gi, gi) for gi in g) / pool
    return (pool - shots) / (shots * (pool - 1)) * (second - torch.outer(mean, mean))


def test_shares_add_up_to_theorem1_G(small_case):
    stack, H = small_case
    traj = trajectory(stack, H)
    for shares, G in zip(per_sample_gradients(stack, H), traj.G):
        assert torch.allclose(shares.sum(0), G, rtol=1e-12, atol=1e-14)


def test_covariance_is_that_of_a_b_shot_mean(small_case):
    """Enumerating every b-subset of the N demonstrations gives exactly C_t (sampling without replacement)."""
    stack, H = small_case
    pool, shots, t = H.shape[1] - 1, 2, 2
    g = pool * per_sample_gradients(stack, H)[t - 1].reshape(pool, -1)
    means = torch.stack([g[list(s)].mean(0) for s in itertools.combinations(range(pool), shots)])
    centered = means - means.mean(0)
    empirical = centered.T @ centered / len(means)
    assert torch.allclose(empirical, _explicit_covariance(stack, H, t, shots), rtol=1e-10, atol=1e-14)


def _independent_updates(stack, H):
    """Without the package's trajectory: each layer's Delta W_t as the explicit sum of Lemma 1 over the tokens that
    reach it (moved by Eq. (3) written as loops), and I + W_{t-1} as the linear map from the original query to the
    query entering layer t, read column by column by feeding basis vectors as queries."""
    D = H.shape[0]
    demos = [H[:, i].clone() for i in range(H.shape[1] - 1)]
    queries = [torch.eye(D, dtype=DTYPE)[:, j] for j in range(D)]
    deltas, maps = [], []
    for W_V, W_K, W_Q in zip(stack.W_V, stack.W_K, stack.W_Q):
        maps.append(torch.stack(queries, dim=1))
        delta = sum(torch.outer(W_V @ h, W_K @ h) for h in demos) @ W_Q
        deltas.append(delta)
        queries = [q + delta @ q for q in queries]
        demos = [h + delta @ h for h in demos]
    return deltas, maps


@pytest.mark.parametrize("approx", APPROXIMATIONS)
def test_bound_terms_match_direct_computation(small_case, approx):
    stack, H = small_case
    shots, ridge = 2, 1e-3
    terms = bound_terms(stack, H, shots, approx, ridge)
    d = H.shape[0] ** 2
    deltas, maps = _independent_updates(stack, H)
    for t in range(1, stack.num_layers + 1):
        row = terms.iloc[t - 1]
        assert row.delta_W_sq == pytest.approx(float((deltas[t - 1] ** 2).sum()), rel=1e-10)
        assert row.resid_sq == pytest.approx(float((maps[t - 1] ** 2).sum()), rel=1e-10)
        assert row.G_sq <= row.norm_product * (1 + 1e-12)  # Eq. (19)
        C = _explicit_covariance(stack, H, t, shots)
        eigs = torch.linalg.eigvalsh(C)
        if approx == "diagonal":
            trace, log_det, dim = float(C.trace()), float(torch.log(torch.diag(C)).sum()), d
        elif approx == "projected":
            keep = eigs[eigs > eigs.max() * 1e-10]
            trace, log_det, dim = float(C.trace()), float(torch.log(keep).sum()), len(keep)
        else:
            Cr = C + ridge * float(C.trace()) / d * torch.eye(d, dtype=DTYPE)
            trace, log_det, dim = float(Cr.trace()), float(torch.linalg.slogdet(Cr).logabsdet), d
        assert row.trace_C == pytest.approx(trace, rel=1e-9)
        assert row.log_det_C == pytest.approx(log_det, rel=1e-7, abs=1e-7)
        assert row.dim == dim
        assert row.term == pytest.approx(dim * math.log((row.norm_product + trace) / dim) - log_det, rel=1e-9)
        assert row.term >= 0  # AM-GM


def test_projected_dimension_is_the_noise_rank(small_case):
    stack, H = small_case
    terms = bound_terms(stack, H, shots=2, approx="projected")
    assert (terms.dim <= H.shape[1] - 2).all()  # N demonstrations, centred: rank <= N - 1


def test_bound_value_and_mean(small_case):
    stack, H = small_case
    prompts = [H, random_prompt(5, 3, 1, seed=3)]
    mean = mean_bound_terms(stack, prompts, shots=2)
    single = [bound_terms(stack, P, 2) for P in prompts]
    assert mean.term.tolist() == pytest.approx([(a + b) / 2 for a, b in zip(single[0].term, single[1].term)])
    one = pd.DataFrame({"term": [3.0, 1.0]})
    assert bound_value(one, pool=1) == pytest.approx(2.0)  # sqrt(3 + 1) by hand
    assert bound_value(mean, pool=5, R=2.0) == pytest.approx(2 * bound_value(mean, pool=5))  # linear in R
    assert bound_value(mean, pool=20) == pytest.approx(bound_value(mean, pool=5) / 2)  # 1 / sqrt(N)


@pytest.mark.parametrize("pool,shots", [(5, 5), (5, 0), (5, 7)])
def test_shot_factor_rejects_b_outside_range(pool, shots):
    with pytest.raises(ValueError, match=r"1 <= b < N"):
        shot_factor(pool, shots)


def test_single_shot_factor_is_one():
    assert shot_factor(7, 1) == 1.0


def test_unknown_approximation(small_case):
    with pytest.raises(ValueError, match="choose one of"):
        bound_terms(*small_case, shots=2, approx="exact")


# ---- Examples 1-4 -----------------------------------------------------------------------------------------


def test_delta_w_is_lemma1_with_and_without_the_mlp():
    # Lemma 1 written as its sum over demonstrations, and App. B.3's W_MLP in front
    layer = random_layer(5, 4, seed=0, mlp=True)
    V, K, Q, M, h = layer["W_V"], layer["W_K"], layer["W_Q"], layer["W_MLP"], layer["demos"]
    by_sum = sum(torch.outer(V @ h[:, i], K @ h[:, i]) for i in range(h.shape[1])) @ Q
    torch.testing.assert_close(implicit_delta_w(V, K, Q, h), by_sum)
    torch.testing.assert_close(implicit_delta_w(V, K, Q, h, M), M @ by_sum)


def test_upper_bounds_direct():
    layer = random_layer(4, 3, seed=5)
    V, K, Q, M, h = layer["W_V"], layer["W_K"], layer["W_Q"], layer["W_MLP"], layer["demos"]
    ub, tri = upper_bounds(V, K, Q, h, M)
    direct = sum(float(torch.linalg.norm(torch.outer(V @ h[:, i], K @ h[:, i])) ** 2) for i in range(3))
    scale = float(torch.linalg.norm(Q) ** 2 * torch.linalg.norm(M) ** 2)
    assert ub == pytest.approx(direct * scale)
    assert tri >= ub  # (sum a_i)^2 >= sum a_i^2 for a_i >= 0


def test_example_claims_on_many_random_layers():
    """UB falls with the clip rate for every matrix, every seed (Examples 1-3); the triangle bound always holds."""
    rates = failure_rates(list(range(60)), dim=6, num_demos=4, clip_rates=GRID).set_index("matrix")
    assert (rates["fails: UB_decreases"] == 0).all()
    assert (rates["fails: triangle_bounds_norm"] == 0).all()
    # Outermost factors: ||Delta W|| itself falls (Examples 2 and 4, by Pythagoras).
    assert rates.loc["Q", "fails: norm_decreases"] == 0
    assert rates.loc["MLP", "fails: norm_decreases"] == 0


def test_norm_falls_when_W_V_is_outermost():
    rates = failure_rates(list(range(60)), dim=6, num_demos=4, clip_rates=GRID, mlp=False).set_index("matrix")
    assert rates.loc["V", "fails: norm_decreases"] == 0


def test_truncating_W_K_can_raise_the_norm():
    """An inner factor has no Pythagoras: some random layer's ||Delta W|| grows when W_K is truncated."""
    rates = failure_rates(list(range(200)), dim=6, num_demos=4, clip_rates=GRID, mlp=False).set_index("matrix")
    assert rates.loc["K", "fails: norm_decreases"] > 0


def test_example1_UB_is_not_an_upper_bound_for_aligned_demonstrations():
    """N identical demonstrations h: ||Delta W||^2 = N^2 |a|^2 |b^T W_Q|^2 exceeds UB = N |a|^2 |b|^2 ||W_Q||_F^2.

    Here a = W_V h, b = W_K h and W = I (D = 3), so the ratio is N / D.
    """
    dim, n = 3, 10
    eye = torch.eye(dim, dtype=DTYPE)
    demos = torch.ones(dim, n, dtype=DTYPE)
    sweep = example_sweep(eye, eye, eye, demos, [0.0])
    checks = example_checks(sweep)
    assert not checks.UB_bounds_norm.any()
    assert checks.triangle_bounds_norm.all()
    assert checks.max_norm_over_UB.iloc[0] == pytest.approx(n / dim)


def test_pythagoras_for_W_Q():
    layer = random_layer(6, 4, seed=3, mlp=False)
    V, K, Q, h = layer["W_V"], layer["W_K"], layer["W_Q"], layer["demos"]
    Q_r = truncate_matrix(Q, 0.5, dtype=DTYPE)
    full, kept, dropped = (float((implicit_delta_w(V, K, q, h) ** 2).sum()) for q in (Q, Q_r, Q - Q_r))
    assert full == pytest.approx(kept + dropped, rel=1e-12)


# ---- the trained toy model ----------------------------------------------------------------------------------

SMOKE = ToyConfig(d=3, layers=2, max_demos=6, steps=2000, batch=128, lr=1e-2, seed=0)


@pytest.mark.parametrize("mlp_width", [0, 5])
def test_to_stack_is_the_model(mlp_width):
    """The trained model's forward pass is exactly Eq. (3) on the exported stack (Theorem 1 applies as is)."""
    model = ToyTransformer(ToyConfig(d=3, layers=3, mlp_width=mlp_width, init_scale=0.5, seed=1)).double()
    xs, ys = held_out_prompts(3, 5, 4)
    H = prompts(xs.double(), ys[:, :-1].double())
    ours = model.states(H)[-1]
    stack = to_stack(model)
    for p in range(4):
        theirs = forward(stack, H[p])[-1]
        assert torch.allclose(ours[p], theirs, rtol=1e-10, atol=1e-12)
        traj = trajectory(stack, H[p])
        assert torch.allclose(traj.query_state(H[p][:, -1], 3), theirs[:, -1], rtol=1e-9, atol=1e-12)


def test_to_stack_rejects_softmax():
    with pytest.raises(ValueError, match="softmax"):
        to_stack(ToyTransformer(ToyConfig(attention="softmax")))


@pytest.mark.parametrize(
    "kwargs,match",
    [({"attention": "relu"}, "unknown attention"), ({"mlp_width": 2}, "at least D"), ({"layers": 0}, "at least 1")],
)
def test_config_validation(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ToyConfig(**kwargs)


def test_truncated_copies_and_truncates():
    model = ToyTransformer(ToyConfig(d=4, layers=3, mlp_width=6, seed=2))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    cut = truncated(model, 2, "K", 0.5)
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in before.items())  # the original is untouched
    assert int(torch.linalg.matrix_rank(cut.W_K[1])) == 2  # D = 5, floor(0.5 * 5) = 2
    assert torch.equal(cut.W_K[0], model.W_K[0]) and torch.equal(cut.W_V[1], model.W_V[1])
    mlp = truncated(model, 3, "MLP", 0.6)
    expected = truncate_matrix(model.mlp_map(2).double(), 0.6, dtype=DTYPE)
    assert torch.allclose(mlp.mlp_map(2).double(), expected, atol=1e-5)


@pytest.mark.parametrize("layer,which,match", [(0, "V", "out of range"), (4, "V", "out of range"), (1, "O", "not in")])
def test_truncated_rejects_bad_input(layer, which, match):
    with pytest.raises(ValueError, match=match):
        truncated(ToyTransformer(ToyConfig(d=4, layers=3)), layer, which, 0.5)


def test_smoke_training_learns_and_caches(tmp_path, monkeypatch):
    """Smoke budget (2000 steps of 128 prompts, d = 3, ~2 s): error with 6 demonstrations below 0.25 (zero: 1)."""
    model, history = train_toy(SMOKE, tmp_path, progress=False)
    err = icl_errors(model, SMOKE.d, 6, n_prompts=500).mean()
    assert err < 0.25, err
    assert history["skipped"] < SMOKE.steps // 4

    def no_training(*args, **kwargs):
        raise AssertionError("the cached checkpoint should have been loaded")

    monkeypatch.setattr(torch.optim, "Adam", no_training)
    again, history_again = train_toy(SMOKE, tmp_path, progress=False)
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), again.state_dict().values()))
    assert history_again == history


def test_training_is_deterministic():
    cfg = ToyConfig(d=3, layers=2, max_demos=4, steps=20, batch=16, seed=3)
    a, _ = train_toy(cfg, progress=False)
    b, _ = train_toy(cfg, progress=False)
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))


def test_one_gd_step_and_errors_shape():
    xs, ys = held_out_prompts(4, 3, 7)
    assert one_gd_step(xs, ys[:, :-1]).shape == (7,)
    frame = error_vs_demos({}, 4, [1, 3], n_prompts=50)
    assert set(frame.estimator) == {"least squares", "one GD step"}
    assert (frame.blown_up == 0).all()


@pytest.mark.parametrize("approx", APPROXIMATIONS)
def test_terms_are_invariant_to_scaling_the_gradients(approx):
    """One layer: W_V -> s W_V scales every per-sample gradient by s; the term does not move (norm and noise cancel)."""
    stack, H = random_stack(1, 4, scale=0.4, seed=4), random_prompt(6, 3, 1, seed=5)
    scaled = type(stack)(W_V=(7.0 * stack.W_V[0],), W_K=stack.W_K, W_Q=stack.W_Q)
    a, b = bound_terms(stack, H, 2, approx), bound_terms(scaled, H, 2, approx)
    assert b.delta_W_sq.iloc[0] == pytest.approx(49 * a.delta_W_sq.iloc[0])
    assert b.term.iloc[0] == pytest.approx(a.term.iloc[0], rel=1e-9)


# ---- Remark 5 grids on the trained toy ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def smoke_model(tmp_path_factory):
    return train_toy(SMOKE, tmp_path_factory.mktemp("toy"), progress=False)[0]


def test_truncation_grid_is_paired_and_complete(smoke_model):
    grid = truncation_grid(smoke_model, 3, [0.0, 0.5, 0.9], n_prompts=100, progress=False)
    assert len(grid) == SMOKE.layers * 3 * 3
    unpruned = grid[grid.clip_rate == 0.0]
    assert (unpruned.change == 0).all() and unpruned.error.nunique() == 1
    # D = 4: 0.5 keeps rank 2, 0.9 keeps rank 1 (floor, at least 1)
    assert sorted(grid["rank"].unique()) == [1, 2, 4]


def test_depth_trend_and_agreement_signs():
    errors = pd.DataFrame(
        [
            {"layer": k, "matrix": "V", "clip_rate": xi, "rank": r, "change": dmg * (r < 4), "error": 1 + dmg * (r < 4)}
            for k, dmg in [(1, 3.0), (2, 2.0), (3, 1.0)]
            for xi, r in [(0.0, 4), (0.5, 2), (0.9, 1)]
        ]
    )
    trend = depth_trend(errors)
    assert trend["spearman(layer, damage)"].iloc[0] == pytest.approx(-1.0)
    totals = errors.rename(columns={"layer": "pruned_layer"})[["pruned_layer", "matrix", "clip_rate", "rank"]]
    totals = totals.assign(approx="projected", bound=[0.0, 1.0, 2.0] * 3)
    errors = errors.assign(error=[1.0, 2.0, 3.0] * 3)
    assert agreement(errors, totals).spearman.tolist() == pytest.approx([1.0, 1.0, 1.0])


def test_trained_example_checks_keep_the_model(smoke_model):
    before = smoke_model.W_V.dtype
    checks = trained_example_checks(smoke_model, 3, [0.0, 0.5], n_prompts=3)
    assert smoke_model.W_V.dtype == before
    assert set(checks.matrix) == {"V", "K", "Q"} and (checks["fails: UB_decreases"] == 0).all()


def test_bound_grid_leaves_earlier_layers_alone(smoke_model):
    """Remark 5 on the bound: truncating layer 2 changes no term of layer 1."""
    grid = bound_grid(smoke_model, 6, 2, [0.0, 0.5], ["projected"], matrices=("V",), n_prompts=3, progress=False)
    layer2 = grid[grid.pruned_layer == 2]
    first = layer2[layer2.t == 1].drop_duplicates("rank")
    assert first.term.nunique() == 1
    assert layer2[layer2.t == 2].drop_duplicates("rank").term.nunique() == 2


def test_bound_tracking_status_counts_the_surrogates_that_rise_with_the_error():
    from svd_icl.claims import bound_tracking

    wide = pd.DataFrame({"a": [0.9, 0.8, -0.2], "b": [-0.5, -0.1, 0.3], "sum ||G_t||^2": [0.9, 0.9, 0.9]})
    totals = pd.DataFrame({"approx": ["a", "a", "b", "b"], "bound": [1.0, 2.0, 3.0, 3.3]})
    errors = pd.DataFrame({"median_error": [0.1, 0.4]})
    bt = bound_tracking(wide, totals, errors, ["a", "b"])
    assert bt["outcomes"] == {"a": HOLDS, "b": FAILS}  # a rises in 2 of 3 cells, b in 1: a counterexample
    assert (bt["bound_tracks"], bt["g_better"]) == (False, True)
    assert bt["same_sign"] == 0.0 and bt["spans"]["a"] == 2.0 and bt["error_span"] == 4.0
    both = bound_tracking(wide.assign(b=[0.1, 0.2, 0.3]), totals, errors, ["a", "b"])
    assert set(both["outcomes"].values()) == {HOLDS} and both["bound_tracks"]
