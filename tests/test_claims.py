"""The claims module on synthetic sweeps whose answer is known: each claim reaches each of its outcomes."""

import numpy as np
import pandas as pd
import pytest

from svd_icl import claims
from svd_icl.claims import FAILS, HOLDS, NOT_INFORMATIVE, UNDETERMINED

N = 200
LABELS = np.array([0, 1] * (N // 2))
NUM_LAYERS = {"m": 4}


def point(layer, module, xi, accuracy, shots=10, seed=0, task="sst2"):
    """A stored point whose first ``accuracy * N`` queries (in a seeded order) are right."""
    rng = np.random.default_rng(seed)
    right = np.zeros(N, bool)
    right[rng.permutation(N)[: int(round(accuracy * N))]] = True
    pred = np.where(right, LABELS, 1 - LABELS)
    return {
        "model": "m",
        "task": task,
        "shots": shots,
        "layer": layer,
        "module": module,
        "clip_rate": xi,
        "accuracy": right.mean(),
        "majority_rate": 0.5,
        "predictions": pred.tolist(),
        "labels": LABELS.tolist(),
    }


def sweep(unpruned, deep, shallow, shots=10, seed=0):
    """Layers 0 (shallow) and 3 (deep); every pruned point of a layer at the given accuracy."""
    rows = [point(0, "mlp", 0.0, unpruned, shots, seed)]
    for xi in (0.5, 0.9, 0.99):
        # the same seed as the unpruned point: a point right on more queries is right on a superset of them
        rows.append(point(0, "mlp", xi, shallow, shots, seed))
        rows.append(point(3, "mlp", xi, deep, shots, seed))
    return pd.DataFrame(rows)


@pytest.mark.parametrize("deep,outcome", [(0.85, HOLDS), (0.72, UNDETERMINED), (0.60, FAILS)])
def test_can_improve_reaches_each_outcome(deep, outcome):
    s = sweep(0.70, deep, 0.5)
    tests = claims.point_tests(s, ["model", "task"])
    verdict = claims.can_improve(tests, ["model", "task"], sweeps=s).iloc[0]
    assert verdict.outcome == outcome
    assert verdict.m == 6  # the search: 2 layers x 3 clip rates, all Holm-adjusted together


@pytest.mark.parametrize("deep", [0.85, 0.30])
def test_a_degenerate_search_reference_is_not_informative_either_way(deep):
    """A reference at the answer-ignoring rate (50%): a gain from it is a repair, a loss from it says nothing."""
    s = sweep(0.50, deep, 0.5)
    verdict = claims.can_improve(claims.point_tests(s, ["model", "task"]), ["model", "task"], sweeps=s).iloc[0]
    assert verdict.outcome == NOT_INFORMATIVE


def test_a_gain_significant_alone_is_undetermined_after_the_search():
    # one point right on 12 more queries (and wrong on 4 others): raw McNemar p ~ 0.08 at m = 1 ... make it
    # 0.02-0.05 alone, and above 0.05 once the 6 points searched are accounted for
    s = sweep(0.70, 0.70, 0.70)
    gain = point(3, "mlp", 0.99, 0.70)
    right = np.array(gain["predictions"]) == LABELS
    wrong_idx, right_idx = np.flatnonzero(~right)[:13], np.flatnonzero(right)[:3]
    pred = np.array(gain["predictions"])
    pred[wrong_idx], pred[right_idx] = LABELS[wrong_idx], 1 - LABELS[right_idx]
    s.loc[s.index[-1]] = {**gain, "predictions": pred.tolist(), "accuracy": float(np.mean(pred == LABELS))}
    tests = claims.point_tests(s, ["model", "task"])
    best = tests.sort_values("difference").iloc[-1]
    assert best.p < 0.05 < best.p_holm  # significant alone, not after the search
    verdict = claims.can_improve(tests, ["model", "task"]).iloc[0]
    assert verdict.outcome == UNDETERMINED and verdict.low < 0 < verdict.high
    alone = claims.core.paired_interval(claims.correctness(s.iloc[0]), claims.correctness(s.iloc[-1]))
    assert alone.low > 0 and verdict.low < alone.low  # the simultaneous interval is the wider one


@pytest.mark.parametrize("deep,shallow,outcome", [(0.8, 0.5, HOLDS), (0.5, 0.8, FAILS), (0.7, 0.7, FAILS)])
def test_depth_stability_outcomes(deep, shallow, outcome):
    # (0.7, 0.7): the same answers on 200 queries, so the interval is narrow and excludes the +2-point margin
    v = claims.depth_stability(sweep(0.8, deep, shallow), ["model", "task"], NUM_LAYERS).iloc[0]
    assert v.outcome == outcome


def test_no_difference_on_scattered_answers_is_undetermined_not_refuted():
    # deep and shallow equally accurate, but right on *different* queries (mixed discordance): no effect is
    # shown, and the interval still reaches the margin, so the claim is undetermined, never "does not hold"
    rows = [point(0, "mlp", 0.0, 0.8)]
    for i, xi in enumerate((0.5, 0.9, 0.99)):
        rows += [point(0, "mlp", xi, 0.7, seed=10 + i), point(3, "mlp", xi, 0.7, seed=20 + i)]
    v = claims.depth_stability(pd.DataFrame(rows), ["model", "task"], NUM_LAYERS).iloc[0]
    assert abs(v.difference) < 0.03 and v.low < 0 < claims.MARGINS["depth"] < v.high
    assert v.outcome == UNDETERMINED and v.mde > claims.MARGINS["depth"]


@pytest.mark.parametrize(
    "unpruned,shallow,outcome",
    [(0.9, 0.5, HOLDS), (0.9, 0.8, FAILS), (0.9, 0.62, UNDETERMINED), (0.58, 0.5, NOT_INFORMATIVE),
     (0.9, 0.3, HOLDS)],  # pushed below chance: collapsed too (one-sided: no better than the band's top)
)  # fmt: skip
def test_shallow_collapse_outcomes(unpruned, shallow, outcome):
    v = claims.shallow_collapse(sweep(unpruned, unpruned, shallow), ["model", "task"], NUM_LAYERS).iloc[0]
    assert v.outcome == outcome
    assert v.m == 3  # every shallow point the worst is picked among


def test_collapse_is_judged_against_the_majority_rate_not_one_over_k():
    s = sweep(0.97, 0.97, 0.8)
    s["majority_rate"] = 0.8  # a skewed split: 80% is what always answering the majority label scores
    v = claims.shallow_collapse(s, ["model", "task"], NUM_LAYERS).iloc[0]
    assert v.baseline == 0.8 and v.outcome == HOLDS


def test_shots_help_and_collapse_grow_with_shots():
    many = sweep(0.9, 0.9, 0.5, shots=10)
    few = sweep(0.6, 0.6, 0.58, shots=0)
    both = pd.concat([few, many], ignore_index=True)
    assert claims.shots_help(both).iloc[0].outcome == HOLDS
    assert claims.collapse_grows_with_shots(both, NUM_LAYERS).iloc[0].outcome == HOLDS
    reversed_ = pd.concat([sweep(0.9, 0.9, 0.5, shots=0), sweep(0.6, 0.6, 0.58, shots=10)], ignore_index=True)
    assert claims.shots_help(reversed_).iloc[0].outcome == FAILS
    assert claims.collapse_grows_with_shots(reversed_, NUM_LAYERS).iloc[0].outcome == FAILS
    # a floor: a many-shot reference at the answer-ignoring rate has no headroom to lose, refuting nothing
    floor = pd.concat([sweep(0.9, 0.9, 0.5, shots=0), sweep(0.5, 0.5, 0.5, shots=10)], ignore_index=True)
    assert claims.collapse_grows_with_shots(floor, NUM_LAYERS).iloc[0].outcome == NOT_INFORMATIVE


def test_shots_help_refuses_to_pick_one_of_several_prompts():
    two = pd.concat([sweep(0.6, 0.6, 0.5, shots=0), sweep(0.9, 0.9, 0.5, shots=10),
                     sweep(0.7, 0.7, 0.5, shots=10, seed=3).assign(prompt="other")], ignore_index=True)  # fmt: skip
    two["prompt"] = two.get("prompt").fillna("one") if "prompt" in two else "one"
    with pytest.raises(ValueError, match="different prompts"):
        claims.shots_help(two)


def test_prompt_variant_is_chosen_on_validation_not_test():
    def row(variant, split, acc):
        return {**point(0, "mlp", 0.0, acc), "variant": variant, "split": split}

    table = pd.DataFrame(
        [row("a", "validation", 0.9), row("a", "test", 0.6), row("b", "validation", 0.7), row("b", "test", 0.95)]
    )
    assert claims.choose_variant(table) == "a"  # although b is better on test
    t = claims.variant_tests(table, "a").iloc[0]
    assert t.variant == "b" and t.difference > 0 and t.m == 1


def test_collapsed():
    assert claims.collapsed([0.02, 0.98]) == 1 and claims.collapsed([0.4, 0.6]) is None


def test_fig3_verdicts_table():
    trends = pd.DataFrame(
        {
            "mlp_below_attn": [1.0, 0.7, 0.2],
            "spearman_attn": [0.8, 0.1, -0.9],
            "p_attn": [0.001, 0.6, 0.001],
            "spearman_mlp": [0.1, 0.2, 0.3],
            "p_mlp": [0.5, 0.4, 0.3],
            "layers": 30,
        },
        index=pd.Index(["rising", "flat", "falling"], name="model"),
    )
    v = claims.fig3_verdicts(trends).set_index("model")
    # 30, 21 and 6 of 30 layers: the sign test's interval (simultaneous over the 3 models) lies above one half,
    # straddles it (21 of 30 is p = 0.04 alone, not after the 3 models), and lies below it
    assert v.mlp_better.tolist() == [HOLDS, UNDETERMINED, FAILS]
    assert v.layers_below.tolist() == [30, 21, 6] and v.share_low["flat"] < 0.5 < v.share_high["flat"]
    # the stated p is the interval's dual: below 0.05 exactly when the interval excludes one half
    for k in range(31):
        row = claims.fig3_verdicts(trends.assign(mlp_below_attn=k / 30)).iloc[0]
        assert (row.p_adj_share < 0.05) == (not row.share_low <= 0.5 <= row.share_high), k
    assert v.grows_with_depth.tolist() == [HOLDS, UNDETERMINED, FAILS]
    assert (v.m == 6).all()  # every (model, module) trend test the claim's status covers
    # a minority of layers is not a refutation when there are few of them: 8 of 18 is undetermined
    few = trends.assign(mlp_below_attn=[8 / 18] * 3, layers=18)
    assert set(claims.fig3_verdicts(few).mlp_better) == {UNDETERMINED}
    line = claims.share_evidence(next(claims.fig3_verdicts(few).itertuples()))
    assert "MLP below ATTN in 8 of 18 layers (44%) [" in line and "m = 3" in line
    with pytest.raises(ValueError, match="layers"):
        claims.fig3_verdicts(trends.drop(columns="layers"))


def test_fig5_verdicts_table():
    k = pd.Series(range(11))
    ls = pd.Series([1.0] * 5 + [0.0] * 6, index=k)
    good = pd.Series([1.0, 0.8, 0.6, 0.4, 0.2] + [0.05] * 6, index=k)
    trunc = pd.DataFrame(
        {
            "layer": [0, 0, 0, 3, 3],
            "module": "attn",
            "clip_rate": [0.0, 0.5, 0.9, 0.5, 0.9],
            "error_all": [0.10, 0.50, 0.90, 0.11, 0.12],
        }
    )
    v = claims.fig5_verdicts(ls, good, 5, pd.Series({100: 0.5, 200: 0.2}), trunc)
    assert (v["ls_exact"], v["tracks"], v["gap_shrinks"], v["deep_better"], v["improves"]) == (
        HOLDS,
        HOLDS,
        HOLDS,
        True,
        False,
    )  # the truncation results are descriptive: point estimates, not verdicts
    better = trunc.assign(error_all=[0.10, 0.50, 0.90, 0.09, 0.12])  # a 10% lower error at layer 3, xi = 0.5
    assert claims.fig5_verdicts(ls, good + 0.2, 5, pd.Series({100: 0.2, 200: 0.5}), better)["improves"] is True
    worse = claims.fig5_verdicts(ls + 1e-3, good + 0.2, 5, pd.Series({100: 0.2, 200: 0.5}), trunc)
    # a gap that rises with training refutes "the gap shrinks" (it cannot only be undetermined)
    assert (worse["ls_exact"], worse["tracks"], worse["gap_shrinks"]) == (FAILS, FAILS, FAILS)
    back = claims.fig5_verdicts(ls, good, 5, pd.Series({100: 0.5, 200: 0.2, 300: 0.3}), trunc)
    assert back["gap_shrinks"] == UNDETERMINED  # it shrank overall, with a step back
    # with the curve's band over prompts: a point estimate below 0.1 whose band reaches past it is undetermined
    wide = claims.fig5_verdicts(ls, good, 5, pd.Series({100: 0.5}), tf_band=(good - 0.03, good + 0.07))
    assert wide["tracks"] == UNDETERMINED and wide["error_at_2d_high"] == pytest.approx(0.12)
    steps = pd.Series({100: 0.5})
    assert claims.fig5_verdicts(ls, good, 5, steps, tf_band=(good - 0.01, good + 0.01))["tracks"] == HOLDS
    assert claims.fig5_verdicts(ls, good + 0.1, 5, steps, tf_band=(good + 0.06, good + 0.14))["tracks"] == FAILS


def test_theorem1_verdicts_table():
    ok = pd.DataFrame({"rel_error_query": [1e-15, 3e-14], "rank_delta_W": [2, 3]})
    changed = pd.Series({1: [1, 2, 3], 3: [3]})
    v = claims.theorem1_verdicts(ok, num_demos=3, changed=changed, num_layers=3)
    assert (v["theorem1"], v["remark1"], v["remark5"]) == (HOLDS, HOLDS, HOLDS)
    bad = pd.DataFrame({"rel_error_query": [1e-3], "rank_delta_W": [4]})
    v = claims.theorem1_verdicts(bad, num_demos=3, changed=pd.Series({1: [1, 2]}), num_layers=3)
    assert (v["theorem1"], v["remark1"], v["remark5"]) == (FAILS, FAILS, FAILS)


def _norms(ratio_by_rate: dict[float, float]) -> pd.DataFrame:
    """Removed norm = ratio x a quantization error of 1, for every layer/module of :func:`sweep`."""
    return pd.DataFrame([{"model": "m", "layer": la, "module": "mlp", "clip_rate": xi, "removed_norm": r,
                          "error_norm": 1.0} for la in (0, 3) for xi, r in ratio_by_rate.items()])  # fmt: skip


@pytest.mark.parametrize(
    "deep,ratios,more",
    [
        (0.85, {0.5: 0.5, 0.9: 10.0, 0.99: 30.0}, True),  # gains where truncation removes 10-30x the noise
        (0.85, {0.5: 1.0, 0.9: 1.5, 0.99: 1.9}, False),  # gains remove about the noise
        (0.6, {0.5: 0.5, 0.9: 10.0, 0.99: 30.0}, False),  # no gain to explain
    ],
)
def test_quantization_confound_is_descriptive(deep, ratios, more):
    """The norm-ratio table bounds what a truncation removed; it decides nothing (no outcome column)."""
    tests = claims.point_tests(pd.DataFrame(sweep(0.6, deep, 0.6)), ["model", "task"])
    out = claims.quantization_confound(tests, _norms(ratios), ["model", "task"]).iloc[0]
    assert out.removes_more == more and "outcome" not in out.index
    assert out.gains == (3 if deep > 0.6 else 0)
    with pytest.raises(ValueError, match="norms lack"):
        claims.quantization_confound(tests, _norms(ratios).iloc[1:], ["model", "task"])


def test_uniform_quant_trends():
    layers = np.arange(12)
    cond = pd.DataFrame(
        [{"layer": la, "module": "mlp", "matrix": "up", "cond": 10 + la} for la in layers]  # rises with depth
        + [{"layer": la, "module": "mlp", "matrix": "gate", "cond": 50 - la} for la in layers]  # falls
        + [{"layer": la, "module": "mlp", "matrix": "down", "cond": 10 + la} for la in layers]  # rises, mixed types
        + [{"layer": la, "module": "attn", "matrix": "q", "cond": [5, 9, 4, 8, 6, 7][la % 6]} for la in layers]
    )
    qtypes = pd.DataFrame(
        [{"layer": la, "matrix": m, "qtype": "Q5_0"} for la in layers for m in ("mlp.up", "mlp.gate", "attn.q")]
        + [{"layer": la, "matrix": "mlp.down", "qtype": "Q8_0" if la in (0, 11) else "Q4_K"} for la in layers]
    )
    out = claims.uniform_quant_trends(cond, qtypes).set_index("matrix")
    assert (out.m == 3).all() and (claims.uniform_quant_trends(cond, qtypes, m=17).m == 17).all()
    assert out.loc["mlp.up", "outcome"] == HOLDS and out.loc["mlp.gate", "outcome"] == FAILS
    assert out.loc["attn.q", "outcome"] == UNDETERMINED
    assert not out.loc["mlp.down", "uniform"] and out.loc["mlp.down", "qtypes"] == "Q4_K/Q8_0"


def test_uniform_trend_outcome():
    rows = lambda *o: pd.DataFrame({"uniform": [True] * len(o) + [False], "outcome": [*o, HOLDS]})  # noqa: E731
    assert claims.uniform_trend_outcome(rows(UNDETERMINED, HOLDS, FAILS)) == UNDETERMINED  # mixed directions
    assert claims.uniform_trend_outcome(rows(UNDETERMINED, HOLDS)) == HOLDS
    assert claims.uniform_trend_outcome(rows(UNDETERMINED, FAILS)) == FAILS
    assert claims.uniform_trend_outcome(rows(UNDETERMINED)) == UNDETERMINED  # the mixed matrix's HOLDS is ignored


def test_describe_scale_separates_claims_that_change_with_scale():
    frames = {}
    for name, (big, small) in {"helps": (HOLDS, HOLDS), "improve": (FAILS, HOLDS), "depth": (HOLDS, HOLDS),
                               "collapse": (UNDETERMINED, HOLDS)}.items():  # fmt: skip
        frames[name] = pd.DataFrame({"outcome": [big, small]}, index=["big", "small"])
    for col, value in {"few": 0, "many": 10, "accuracy_few": [0.5, 0.6], "accuracy_many": [0.9, 0.7],
                       "sets": 8}.items():  # fmt: skip
        frames["helps"][col] = value
    frames["collapse"]["baseline"] = 0.5
    for col, value in {"layer": [27, 0], "module": "mlp", "clip_rate": [0.9, 0.5], "unpruned": 0.9,
                       "selected": [0.88, 0.95], "difference": [-0.02, 0.05], "low": -0.05, "high": 0.01,
                       "p_holm": 1.0, "m": 1}.items():  # fmt: skip
        frames["improve"][col] = value
    text = claims.describe_scale("big", ["small"], frames["helps"], frames["improve"], frames["depth"],
                                 frames["collapse"])  # fmt: skip
    same, differ = text.split("Different outcome")
    assert "few-shot demonstrations help" in same and "deep layers are more stable" in same
    moved = "truncating one layer raises accuracy (over fresh prompts)*: **does not hold** at big (small holds)"
    assert moved in differ
    assert "shallow layers collapse" in differ and "0 shots 50.0%, 10 shots 90.0% over 8 fresh" in text
    # the closing sentence is the big model's confirmed pick, not the small one's
    assert "layer 27 MLP ξ = 0.9, over fresh prompts: 90.0% → 88.0%, -2.0% [-5.0%, +1.0%]" in text


def test_theorem2_gap_verdicts():
    table = pd.DataFrame({"approx": ["a", "a", "b", "b"], "holds": [True, True, True, False],
                          "gap": [0.5, -0.1, 0.5, 0.2], "looseness": [4.0, np.inf, 3.0, 0.5],
                          "bound": [2.0, 0.3, 1.5, 0.1]})  # fmt: skip
    out = claims.theorem2_gap_verdicts(table).set_index("approx")
    assert out.loc["a", "outcome"] == HOLDS and out.loc["b", "outcome"] == UNDETERMINED and out.loc["b", "fails"] == 1
    assert "cannot be refuted" in out.loc["b", "note"]
    assert out.loc["a", "median_looseness"] == 4.0 and out.loc["a", "vacuous_share"] == 0.5


def test_assumption1_is_decided_on_effect_size_not_on_significance():
    """A normality test that rejects at 2,000 draws does not make a departure large: Gaussian enough when the
    moments are shown within the margin, refuted only when one is shown beyond it, whatever the tests say."""
    table = pd.DataFrame({"t": [1, 2, 3], "directions": 5, "gaussian": [False, True, False],
                          "max_abs_skew": [0.05, 0.9, 0.2], "max_abs_kurtosis": [0.1, 0.1, 0.45],
                          "skew_se": 0.055, "kurtosis_se": 0.11})  # fmt: skip
    assert claims.assumption1_verdicts(table) == [HOLDS, FAILS, UNDETERMINED]


def _depth_sweep(gain_of_layer, layers=8):
    rows = [point(0, "mlp", 0.0, 0.6)]
    for la in range(layers):
        for xi in (0.5, 0.9):
            rows.append(point(la, "mlp", xi, 0.6 + gain_of_layer(la) * (1 if xi == 0.9 else 0.5)))
    return pd.DataFrame(rows)


def _cond_table(cond_of_layer, layers=8):
    return {"m": pd.DataFrame([{"layer": la, "module": "mlp", "matrix": mat, "cond": cond_of_layer(la) * f}
                               for la in range(layers) for mat, f in (("up", 1.0), ("down", 0.5))])}  # fmt: skip


@pytest.mark.parametrize(
    "gain,outcome",
    [
        (lambda la: 0.02 * la, HOLDS),  # worse-conditioned (deeper here) layers gain more: planted association
        (lambda la: 0.02 * (7 - la), FAILS),  # the opposite
        (lambda la: 0.02 * [3, 0, 5, 1, 6, 2, 4, 3][la], UNDETERMINED),  # unrelated
    ],
)
def test_condition_gain(gain, outcome):
    out = claims.condition_gain(_depth_sweep(gain), _cond_table(lambda la: 10.0 + la), ["model", "task"], k=3).iloc[0]
    assert out.outcome == outcome
    assert out.chosen_layer == 7 and out.layers == 8  # deepest of the top 3 condition numbers
    assert out.best_gain == pytest.approx(max(gain(la) for la in range(8)), abs=0.01)
    assert "condition numbers" in claims.describe_condition_gain(out)


def test_condition_gain_intervals_carry_the_query_noise():
    """Gains that rank the layers exactly like their condition numbers, but by one query each, on independent
    queries: over layers alone the association looks certain; resampling the queries (as the bootstrap does) shows
    that one query per layer cannot decide it."""
    rows = [point(0, "mlp", 0.0, 0.5)]
    for la in range(8):
        rows += [point(la, "mlp", xi, 0.5 + 0.01 * la, seed=1 + 2 * la + (xi == 0.9)) for xi in (0.5, 0.9)]
    sweep = pd.DataFrame(rows)
    out = claims.condition_gain(sweep, _cond_table(lambda la: 10.0 + la), ["model", "task"], k=3).iloc[0]
    assert out.rho == pytest.approx(1.0) and out.outcome == UNDETERMINED and out.low < 0
    other = sweep.copy()
    other.at[3, "labels"] = list(reversed(other.at[3, "labels"]))
    with pytest.raises(ValueError, match="other queries"):
        claims.condition_gain(other, _cond_table(lambda la: 10.0 + la), ["model", "task"], k=3)


def test_condition_gain_states_its_adjusted_p_margin_and_power():
    planted = claims.condition_gain(_depth_sweep(lambda la: 0.02 * la), _cond_table(lambda la: 10.0 + la),
                                    ["model", "task"], k=3).iloc[0]  # fmt: skip
    unrelated = claims.condition_gain(_depth_sweep(lambda la: 0.02 * [3, 0, 5, 1, 6, 2, 4, 3][la]),
                                      _cond_table(lambda la: 10.0 + la), ["model", "task"], k=3).iloc[0]  # fmt: skip
    assert planted.p_holm < 0.05 < unrelated.p_holm
    assert planted.mde == pytest.approx(claims.detectable_correlation(8, 1))
    line = claims.condition_gain_evidence(planted)
    assert line.startswith("m sst2 mlp: holds, rho +1.00") and "m = 1, Holm p" in line and "margin +0.10" in line
    assert "detects |rho| >= " in line and "partial rho" in claims.condition_gain_evidence(planted, given_depth=True)


def test_a_square_gaussian_is_worse_conditioned_than_a_tall_one():
    from svd_icl.conditioning import gaussian_null

    null = gaussian_null([(64, 64), (256, 64)], draws=5).set_index("shape")
    assert null.loc[[(64, 64)], "null_median"].iloc[0] > 10 * null.loc[[(256, 64)], "null_median"].iloc[0]


def test_the_shape_null_removes_a_gap_made_by_shape_and_keeps_a_planted_depth_trend():
    from svd_icl.claims import fig3_null_verdicts, fig3_verdicts
    from svd_icl.conditioning import against_null, depth_and_module_trends

    layers = range(10)
    rows = []
    for la in layers:  # ATTN square (null 1000), MLP tall (null 5); both twice their null, MLP's excess rises
        rows.append({"layer": la, "module": "attn", "matrix": "q", "shape": "(64, 64)", "cond": 2000.0 + la % 3})
        rows.append({"layer": la, "module": "mlp", "matrix": "up", "shape": "(256, 64)", "cond": 5.0 * (2 + la)})
    table = pd.DataFrame(rows)
    null = pd.DataFrame({"shape": [(64, 64), (256, 64)], "null_low": [500.0, 4.0], "null_median": [1000.0, 5.0],
                         "null_high": [2000.0, 6.0], "draws": 5})  # fmt: skip
    nulled = against_null(table, null)
    assert nulled.excess.tolist()[:2] == [2.0, 2.0]
    raw = fig3_verdicts(depth_and_module_trends(table).assign(model="m").set_index("model")).iloc[0]
    after = fig3_null_verdicts({"m": nulled}).iloc[0]
    assert raw.mlp_better == "holds" and after.mlp_better != "holds"  # the raw gap was the shape's
    assert after.grows_with_depth == "holds" and after.spearman_mlp > 0.9  # the planted trend survives
    row = next(fig3_null_verdicts({"m": nulled}).itertuples(index=False))  # as the chapter passes it
    text = claims.describe_null(raw, row)
    assert "the null changes (a) MLP better conditioned" in text and "raw: holds" in text


def test_partial_spearman_removes_a_shared_dependence_on_depth():
    rng = np.random.default_rng(0)
    depth = np.arange(40, dtype=float)
    x, y = depth + rng.normal(0, 3, 40), depth + rng.normal(0, 3, 40)  # both follow depth, not each other
    assert claims.partial_spearman(x, y, depth) == pytest.approx(0, abs=0.35)
    w = x + rng.normal(0, 1, 40)  # follows x beyond depth
    assert claims.partial_spearman(x, w, depth) > 0.6


def test_condition_gain_with_depth_held_fixed():
    # condition number and gain both rise with depth: the raw association holds, the depth-adjusted one cannot
    # (the residuals are pure noise), and the deepest layer alone gains as much as Algorithm 1's pick
    jitter = [0.0, 1.6, -1.4, 1.2, -1.5, 1.3, -1.2, 0.0]
    out = claims.condition_gain(_depth_sweep(lambda la: 0.02 * la), _cond_table(lambda la: 10.0 + la + jitter[la]),
                                ["model", "task"], k=3).iloc[0]  # fmt: skip
    assert out.outcome == HOLDS and out.outcome_given_depth != HOLDS
    assert out.deepest_gain >= out.chosen_gain
    assert "depth alone does as well" in claims.describe_condition_gain(out)


def test_detectable_correlation_has_the_power_it_states():
    # simulate pairs with the stated correlation: a two-sided Spearman test at alpha/m should find it about 80% of
    # the time (Fisher's z slightly flatters Spearman, so a little under 80% is expected; far off is a wrong formula)
    from scipy.stats import spearmanr

    n, m = 30, 2
    rho = claims.detectable_correlation(n, m)
    rng = np.random.default_rng(0)
    cov = [[1, rho], [rho, 1]]
    hits = [spearmanr(*rng.multivariate_normal([0, 0], cov, n).T).pvalue < 0.05 / m for _ in range(2000)]
    assert 0.70 < np.mean(hits) < 0.85
    assert claims.detectable_correlation(18, 2) > claims.detectable_correlation(36, 2)  # fewer layers: coarser
    assert np.isnan(claims.detectable_correlation(3))


def test_record_lines_carry_n_m_p_margin_and_detectable_effect():
    depth = claims.depth_stability(sweep(0.8, 0.8, 0.5), ["model", "task"], NUM_LAYERS).iloc[0]
    line = claims.case_evidence(depth, "m/sst2", "deep vs shallow ")
    assert depth.n == N and line.startswith("m/sst2: holds, deep vs shallow +30.0% [")
    assert f"n = {N}, m = 1, adjusted p < 0.001, margin +2.0%, detects" in line
    collapse = claims.shallow_collapse(sweep(0.58, 0.58, 0.5), ["model", "task"], NUM_LAYERS).iloc[0]
    line = claims.collapse_evidence(collapse, "m/sst2")
    assert line.startswith("m/sst2: not informative, worst 50.0% [")
    assert "vs at most 60.0% (baseline 50.0% + 10%" in line
    assert "m = 3" in line and "the unpruned model (58.0%) is not shown above the band" in line
    held = claims.shallow_collapse(sweep(0.9, 0.9, 0.5), ["model", "task"], NUM_LAYERS).iloc[0]
    assert "not shown above" not in claims.collapse_evidence(held, "x") and held.outcome == HOLDS
    # the one-sided claim's power: how far below the band's top the worst accuracy must lie for n to show collapse
    assert 0 < held.reach < 0.1 and f"shows collapse when the worst accuracy is {held.reach:.1%} or more below" in (
        claims.collapse_evidence(held, "x")
    )
    few = claims.shallow_collapse(sweep(0.9, 0.9, 0.5), ["model", "task"], NUM_LAYERS, m=10**6).iloc[0]
    assert few.reach > held.reach and few.outcome == UNDETERMINED  # a larger family needs a deeper collapse


def test_trend_evidence_states_intervals_margin_and_what_the_layers_can_detect():
    trends = pd.DataFrame(
        {
            "mlp_below_attn": [1.0],
            "spearman_attn": [0.05],
            "p_attn": [0.8],
            "spearman_mlp": [0.83],
            "p_mlp": [0.0001],
            "layers": [18],
        },
        index=pd.Index(["g"], name="model"),
    )
    row = next(claims.fig3_verdicts(trends).itertuples())
    # Fisher z of 0.83 is 1.188 with Bonett-Wright SE sqrt((1 + 0.83^2/2) / 15) = 0.2994; at 1 - 0.05/(2 m) the
    # normal quantile is 2.2414: tanh(1.188 -/+ 0.671) = [+0.48, +0.95]
    assert claims.trend_evidence(row) == (
        "g: holds, rho ATTN +0.05 [-0.48, +0.56] (adjusted p = 1.000), MLP +0.83 [+0.48, +0.95] (adjusted p < 0.001) "
        f"(n = 18 layers, m = 2, margin +0.10, detects |rho| >= {claims.detectable_correlation(18, 2):.2f})"
    )  # one model: m = 2 (model, module) tests


def test_a_flat_trend_over_many_layers_is_refuted_not_just_undetermined():
    trends = pd.DataFrame(
        {
            "mlp_below_attn": [0.5, 0.5],
            "spearman_attn": [0.0, 0.0],
            "p_attn": [1.0, 1.0],
            "spearman_mlp": [0.02, 0.02],
            "p_mlp": [0.9, 0.9],
            "layers": [1000, 18],
        },
        index=pd.Index(["many", "few"], name="model"),
    )
    v = claims.fig3_verdicts(trends).set_index("model")
    # 1000 layers: both intervals lie below rho = 0.1, so the claimed rise is excluded; 18 layers cannot tell
    assert v.rho_high_attn["many"] < 0.1 and v.grows_with_depth["many"] == FAILS
    assert v.grows_with_depth["few"] == UNDETERMINED
    # a share of 50% over 1000 layers excludes "most layers" (60%); over 18 it does not
    assert v.mlp_better.tolist() == [FAILS, UNDETERMINED] and v.share_mde["few"] > v.share_mde["many"]


def test_rank_story_is_decided_paired_not_on_point_estimates():
    # 0, 4, 10 shots: a 1-point dip at 4 shots (not significant) and a large rise at 10 shots (nested answers)
    points = pd.DataFrame([point(0, "mlp", 0.0, a, shots=s) for s, a in ((0, 0.60), (4, 0.59), (10, 0.90))])
    grows = {"rank_grows": True}
    assert claims.rank_story_verdict(grows, points).outcome == HOLDS  # the dip alone does not refute it
    assert claims.rank_story_verdict({"rank_grows": False}, points).outcome == FAILS
    flat = pd.DataFrame([point(0, "mlp", 0.0, 0.6, shots=s, seed=s) for s in (0, 4, 10)])  # scattered answers
    assert claims.rank_story_verdict(grows, flat).outcome == UNDETERMINED


def _confirmation(selected: float, unpruned: float = 0.7, sets=(0, 1, 2, 3), seed: int = 0) -> pd.DataFrame:
    """confirm()-like records: per fresh set an unpruned and a selected point on that set's query block."""
    rows = []
    for j in sets:
        rows.append({**point(0, "mlp", 0.0, unpruned, seed=j), "arm": "sets", "set": j, "offset": j * N,
                     "role": "unpruned"})  # fmt: skip
        rows.append({**point(2, "mlp", 0.5, selected, seed=j + seed), "arm": "sets", "set": j, "offset": j * N,
                     "role": "selected"})  # fmt: skip
    return pd.DataFrame(rows)


def _case(a1, deep, **kw):
    return {
        "model": "m",
        "task": "sst2",
        "module": "attn",
        "layer": 2,
        "clip_rate": 0.5,
        "deep_layer": 3,
        "deep_clip_rate": 0.5,
        "algorithm1": a1,
        "deepest": deep,
        **kw,
    }


def test_depth_rule_comparison_reaches_each_outcome():
    better = claims.depth_rule_comparison([_case(_confirmation(0.85), _confirmation(0.60))]).iloc[0]
    assert better.outcome == HOLDS and better.difference == pytest.approx(0.25) and better.sets == 4
    same = claims.depth_rule_comparison([_case(_confirmation(0.70), _confirmation(0.70))]).iloc[0]
    assert same.outcome == FAILS  # the same answers on 200 queries: depth alone does as well, within the margin
    scattered = claims.depth_rule_comparison([_case(_confirmation(0.70), _confirmation(0.70, seed=5))]).iloc[0]
    assert scattered.outcome == UNDETERMINED  # equal accuracy on different queries: nothing shown either way


def test_depth_rule_comparison_uses_the_unpruned_points_for_a_rule_that_kept_the_model():
    # Algorithm 1's search kept the unpruned model (0.7); the deepest layer's pick scores 0.8 on the same queries
    row = claims.depth_rule_comparison([_case(None, _confirmation(0.80), clip_rate=0.0)]).iloc[0]
    assert row.algorithm1 == pytest.approx(0.7) and row.deepest == pytest.approx(0.8) and row.difference < 0
    with pytest.raises(ValueError, match="both rules kept"):
        claims.depth_rule_comparison([_case(None, None)])
    with pytest.raises(ValueError, match="fewer than 2 sets"):
        claims.depth_rule_comparison([_case(_confirmation(0.8), _confirmation(0.8, sets=(5,)))])


def test_first_queries_cuts_points_to_their_first_n_queries():
    """Cutting stored points to their first n queries (nested prefixes of one permutation) recomputes what the
    verdicts use."""
    rng = np.random.default_rng(5)
    n = 2000
    labels = rng.integers(0, 2, n)
    u = np.where(rng.random(n) < 0.8, labels, 1 - labels)  # 80% right
    rows = [{"model": "m", "task": "sst2", "labels": list(labels), "predictions": list(u), "shots": 10,
             "accuracy": float((u == labels).mean()), "majority_rate": 0.5, "clip_rate": 0.0, "layer": 0,
             "module": "mlp"}]  # fmt: skip
    small = claims.first_queries(pd.DataFrame(rows), 100)
    assert all(len(x) == 100 for x in small.labels) and small.n_eval.tolist() == [100]
    assert small.accuracy[0] == float((u[:100] == labels[:100]).mean())
    assert small.majority_rate[0] == float(np.bincount(labels[:100]).max() / 100)
    with pytest.raises(ValueError, match="n = 3000 exceeds a point scored on 2000 queries"):
        claims.first_queries(pd.DataFrame(rows), 3000)
