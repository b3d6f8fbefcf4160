"""The shared decision core and the confirmatory verdict, on cases whose answer is known."""

import numpy as np
import pandas as pd
import pytest
from scipy.stats import binomtest

from svd_icl import claims
from svd_icl.claims.core import (
    DEGENERATE,
    FAILS,
    HOLDS,
    UNDETERMINED,
    decide,
    degenerate,
    detectable_effect,
    gain_outcome,
    outcome_status,
    paired_interval,
)  # fmt: skip
from svd_icl.tasks import TASKS, prepare


@pytest.mark.parametrize(
    "low,high,sign,outcome",
    [(0.01, 0.05, 1, HOLDS), (-0.03, 0.015, 1, FAILS), (-0.01, 0.05, 1, UNDETERMINED), (-0.05, -0.01, -1, HOLDS),
     (-0.015, 0.03, -1, FAILS), (-0.06, -0.03, 1, FAILS)],
)  # fmt: skip
def test_decide_every_branch(low, high, sign, outcome):
    assert decide(low, high, 0.02, sign) == outcome


def test_decide_refuses_a_margin_that_is_not_positive():
    with pytest.raises(ValueError, match="margin must be > 0"):
        decide(0.0, 1.0, 0.0)


def test_interval_is_wider_for_a_larger_family_and_never_empty():
    a = np.zeros(100)
    b = a.copy()
    one, many = paired_interval(a, b, 1), paired_interval(a, b, 50)
    assert one.low < 0 < one.high  # no query differs, yet the interval has width (Bonett-Price pseudo-queries)
    assert many.high - many.low > one.high - one.low


def test_detectable_effect_has_the_stated_power_under_exact_mcnemar():
    # simulate a gain equal to the stated detectable effect and check that the test at alpha/m finds it ~80%
    rng = np.random.default_rng(0)
    n, p_disc, m = 400, 0.2, 4
    a, b = np.zeros(n), np.zeros(n)
    b[:40], b[40:80] = 1, -1  # 20% discordant, half each way
    mde = detectable_effect(a, b, m)
    hits = 0
    for _ in range(400):  # queries up / down / unchanged with the discordance above and a true gain of mde
        d = rng.choice([1, -1, 0], n, p=[p_disc / 2 + mde / 2, p_disc / 2 - mde / 2, 1 - p_disc])
        k, total = int((d > 0).sum()), int((d != 0).sum())
        hits += binomtest(k, total, 0.5).pvalue < 0.05 / m
    assert 0.65 < hits / 400 < 0.92


def test_degenerate_guard_and_gain_outcome():
    assert degenerate(0.51, 0.5) and degenerate(0.7, 0.5, zero_shot=0.78) and not degenerate(0.8, 0.5, 0.78)
    sure_gain = paired_interval(np.zeros(200), np.r_[np.ones(60), np.zeros(140)])
    assert gain_outcome(sure_gain, 0.02, False) == HOLDS
    assert gain_outcome(sure_gain, 0.02, True) == DEGENERATE
    assert outcome_status([DEGENERATE, DEGENERATE]) == "undetermined"


def _point(role, acc, demo_seed=None, n=300, seed=0):
    labels = np.array([0, 1] * (n // 2))
    right = np.zeros(n, bool)
    right[np.random.default_rng(seed).permutation(n)[: int(acc * n)]] = True
    return {"model": "m", "task": "sst2", "role": role, "demo_seed": demo_seed, "layer": 5, "module": "mlp",
            "clip_rate": 0.0 if role != "selected" else 0.9, "majority_rate": 0.5, "labels": labels.tolist(),
            "predictions": np.where(right, labels, 1 - labels).tolist()}  # fmt: skip


def _confirmation(unpruned, selected, zero_shot, seeds=(None, 1, 2, 3), mixed=False):
    rows = [r for s in seeds for r in (_point("unpruned", unpruned, s),
                                       _point("selected", selected, s, seed=5 + (s or 0) if mixed else 0))]  # fmt: skip
    return pd.DataFrame(rows + [_point("zero_shot", zero_shot, seed=7)])


@pytest.mark.parametrize(
    "unpruned,selected,zero_shot,outcome",
    [(0.70, 0.85, 0.60, HOLDS),  # a real gain from a healthy prompt
     (0.70, 0.85, 0.80, DEGENERATE),  # the 10-shot prompt is worse than 0 shots: a recovery, not better ICL
     (0.51, 0.70, 0.40, DEGENERATE),  # the reference is at the majority rate
     (0.70, 0.70, 0.60, FAILS),  # same answers on 300 queries x 4 sets: a +2-point gain is excluded
     (0.70, 0.72, 0.60, UNDETERMINED)],  # right on other queries (mixed): too small to show or exclude
)  # fmt: skip
def test_confirmation_verdicts(unpruned, selected, zero_shot, outcome):
    mixed = outcome == UNDETERMINED
    v = claims.confirmation_verdicts(_confirmation(unpruned, selected, zero_shot, mixed=mixed)).iloc[0]
    assert v.outcome == outcome
    assert v.seeds == 4 and len(v.per_seed) == 4 and v.n == 300 and v.m == 1
    assert v.difference == pytest.approx(selected - unpruned, abs=0.005)
    text = claims.describe_confirmation(v)
    assert f"**{outcome}**" in text
    if outcome == UNDETERMINED:
        assert "detects" in text


def test_case_evidence_states_what_the_verdicts_issue_asks_of_every_case():
    """The record's line for a decided case carries the outcome, the effect with its simultaneous interval, n and the
    demonstration sets, m, the adjusted p, the margin and the detectable effect, all read from the verdict row."""
    one = _confirmation(0.70, 0.72, 0.6, mixed=True)
    rows = claims.confirmation_verdicts(pd.concat([one, one.assign(task="rte")], ignore_index=True))
    v = next(rows.itertuples())
    text = claims.case_evidence(v, "m/sst2", "layer 5 MLP, ", "a note")
    assert text.startswith(f"m/sst2: {v.outcome}, layer 5 MLP, {v.difference:+.1%} [{v.low:+.1%}, {v.high:+.1%}] (")
    for part in ("n = 300 x 4 sets", "m = 2", f"adjusted p = {v.p_adj:.3f}", f"margin {v.margin:+.1%}",
                 f"detects {v.mde:+.1%}", "a note)"):  # fmt: skip
        assert part in text, part
    single = claims.confirmation_verdicts(_confirmation(0.70, 0.72, 0.6, seeds=(None,), mixed=True))
    assert "n = 300 x 1 set," in claims.case_evidence(next(single.itertuples()), "m/sst2")
    # a claim without an adjusted p (the noise control's growth) says nothing of one, and names its own effect
    growth = pd.DataFrame([{"outcome": UNDETERMINED, "growth": 0.014, "low": -0.045, "high": 0.074, "n": 277, "m": 4,
                            "margin": 0.02, "mde": 0.079}])  # fmt: skip
    text = claims.case_evidence(next(growth.itertuples()), "g/rte", "change ", field="growth")
    assert text == "g/rte: undetermined, change +1.4% [-4.5%, +7.4%] (n = 277, m = 4, margin +2.0%, detects +7.9%)"


def test_confirmation_adjusts_across_cases_and_refuses_other_queries():
    one = _confirmation(0.70, 0.85, 0.6)
    two = pd.concat([one, one.assign(task="rte")], ignore_index=True)
    v1, v2 = claims.confirmation_verdicts(one).iloc[0], claims.confirmation_verdicts(two).iloc[0]
    assert v2.m == 2 and v2.high - v2.low > v1.high - v1.low and v2.mde > v1.mde
    bad = one.copy()
    bad.at[1, "labels"] = [1 - x for x in bad.at[1, "labels"]]
    with pytest.raises(ValueError, match="different queries"):
        claims.confirmation_verdicts(bad)


def test_algorithm1_is_decided_on_its_confirmations():
    """Per (task, module) the confirmed pick; the interval is simultaneous over the runs that truncated only, and a
    run whose search kept the unpruned model (xi* = 0) changes nothing, so it does not hold there, untested."""
    from svd_icl.confirm import algorithm1_selection

    gain, flat = _confirmation(0.70, 0.85, 0.6), _confirmation(0.70, 0.72, 0.6, mixed=True)
    points = pd.concat([gain.assign(module="mlp"), flat.assign(module="attn")], ignore_index=True)
    kept = pd.DataFrame([{"model": "m", "task": "rte", "module": "mlp", "layer": 17}])
    out = claims.algorithm1_confirmed(points, kept).set_index(["task", "module"])
    assert out.loc[("sst2", "mlp")].outcome == HOLDS and out.loc[("sst2", "attn")].outcome == UNDETERMINED
    assert (out.loc[[("sst2", "mlp"), ("sst2", "attn")]].m == 2).all()  # the kept run is not in the family
    zero = out.loc[("rte", "mlp")]
    assert zero.outcome == FAILS and zero.kept_unpruned and zero.difference == 0 and zero.n == 0
    texts = [claims.describe_algorithm1_confirmation(r) for r in out.reset_index().itertuples()]
    assert "kept the unpruned model" in texts[2] and "**holds**" in texts[0] and "detects" in texts[1]
    run = {"model": "m", "task": "sst2", "module": "mlp", "layer": 17, "best_clip_rate": 0.9}
    assert algorithm1_selection(run).clip_rate == 0.9 and algorithm1_selection({**run, "best_clip_rate": 0.0}) is None


@pytest.mark.parametrize("task", sorted(TASKS))
def test_demonstrations_validation_and_confirmation_rows_are_disjoint(task, data_root):
    data = prepare(task, seed=0, n_validation=300, n_test=300, data_root=data_root)
    other = prepare(task, seed=0, n_validation=300, n_test=300, data_root=data_root, demo_seed=3)
    key = lambda df: set(map(tuple, df.drop(columns="label").astype(str).to_numpy()))  # noqa: E731
    demos, val, test = key(data.demos), key(data.validation), key(data.test)
    assert not demos & val and not demos & test and not val & test
    assert key(other.test) == test and key(other.validation) == val  # a demonstration seed keeps the queries
    assert not key(other.demos) & test and key(other.demos) != demos


def test_algorithm1_runs_are_adjusted_together_and_guarded():
    n = 200
    before = np.r_[np.ones(140), np.zeros(60)]
    after = before.copy()
    after[140:180] = 1  # +20 points, all in favour
    at_majority = np.r_[np.ones(100), np.zeros(100)]
    lifted = at_majority.copy()
    lifted[100:140] = 1

    def run(a, b):
        return {"correct_unpruned": a, "correct_pruned": b, "accuracy_unpruned": a.mean(), "chance": 0.5,
                "majority_rate": 0.5, "p": binomtest(int((b > a).sum()), int((b != a).sum()), 0.5).pvalue
                if (b != a).any() else 1.0,
                "change": b.mean() - a.mean()}  # fmt: skip

    out = claims.algorithm1_tests(pd.DataFrame([run(before, after), run(at_majority, lifted), run(before, before)]))
    assert out.outcome.tolist() == [HOLDS, DEGENERATE, FAILS] and (out.m == 3).all()
    assert len(before) == n and out.mde.iloc[2] < out.mde.iloc[0]


def _best(change, sem, m=20, base=0.10):
    rows = {"change": change, "change_sem": sem, "m": m, "unpruned error": base}
    return pd.DataFrame(rows, index=[5, 10, 20][: len(change)])


def test_the_toy_improvement_is_decided_by_the_rule_not_by_significance_alone():
    from svd_icl.claims import FAILS, HOLDS, UNDETERMINED, toy_improvement

    # error 0.10: a decrease of 0.02 (20%) with a tiny standard error holds; an increase of 0.02 whose interval
    # excludes even a 1% decrease does not hold; a change of 0 with a wide interval is undetermined
    out = toy_improvement(_best([-0.02, 0.02, 0.0], [0.001, 0.001, 0.01]))
    assert list(out.outcome) == [HOLDS, FAILS, UNDETERMINED]
    assert out.decrease.iloc[0] == pytest.approx(0.2)
    # the interval is simultaneous over the m truncations searched: more of them, a wider interval
    assert (toy_improvement(_best([0.0], [0.01], m=200)).high > toy_improvement(_best([0.0], [0.01], m=2)).high).all()
    # the record line states m, the p dual to the interval and the detectable decrease
    assert list(out.p_adj < 0.05) == [True, True, False]
    line = claims.toy_improvement_evidence(out)
    assert line.startswith("5 shots: holds, +20.00% [") and "adjusted p < 0.001" in line and "detects" in line


def test_a_bound_below_the_gap_never_refutes_theorem2():
    from svd_icl.claims import gap_status, theorem2_gap_verdicts

    table = pd.DataFrame({"approx": ["diag"] * 2, "gap": [0.1, 0.2], "holds": [False, False],
                          "looseness": [0.5, 0.4], "bound": [0.05, 0.08]})  # fmt: skip
    verdicts = theorem2_gap_verdicts(table)
    assert gap_status(verdicts) == "undetermined"
    assert gap_status(theorem2_gap_verdicts(table.assign(holds=True))) == "reproduced"


@pytest.mark.parametrize("m", [1, 4, 56])
def test_the_stated_p_and_the_simultaneous_interval_never_disagree(m):
    """A record line states an interval and a p; they must say the same thing: p < alpha exactly when the interval
    at 1 - alpha/m excludes 0 (with averaged per-query values a Wilcoxon p could say 0.013 beside [-10.7, +16.5])."""
    rng = np.random.default_rng(m)
    agree = []
    for n in (10, 60, 300):
        for shift in (0.0, 0.05, 0.1, 0.2, 0.4):
            a = rng.integers(0, 2, n).astype(float)
            b = np.where(rng.random(n) < shift, 1.0, a)  # b right on a share of the queries a got wrong
            averaged = rng.random(n) * 0.5 + shift * (rng.random(n) < 0.6)  # skewed averaged values
            for x, y in ((a, b), (np.zeros(n), averaged), (averaged, np.zeros(n))):
                i = claims.paired_interval(x, y, m)
                agree.append((claims.interval_p(i, m) < 0.05) == (i.low > 0 or i.high < 0))
    assert all(agree) and len(agree) == 45


@pytest.mark.parametrize("m", [1, 2, 7])
def test_a_rank_correlation_p_and_its_interval_never_disagree_and_against_a_margin(m):
    """rho_p is below alpha exactly when rho_interval excludes 0; interval_p against a margin is below alpha exactly
    when the interval excludes that margin (the noise control's p is stated against its margin)."""
    agree = []
    for n in (5, 18, 30, 200):
        for rho in (-0.9, -0.45, -0.1, 0.0, 0.2, 0.5, 0.66, 0.95):
            low, high = claims.rho_interval(rho, n, m)
            agree.append((claims.rho_p(rho, n, m) < 0.05) == (not low <= 0 <= high))
    assert all(agree) and len(agree) == 32
    lo, hi = claims.rho_interval(0.5, 18, m)
    assert -1 < lo < 0.5 < hi < 1 and claims.rho_interval(0.5, 18, m + 1)[0] < lo  # wider for a larger family
    a = np.zeros(400)
    b = np.where(np.arange(400) < 60, 1.0, 0.0)  # +15% with no query worse
    i = claims.paired_interval(a, b, m)
    for null in (0.0, 0.02, 0.1, 0.2):
        assert (claims.interval_p(i, m, null) < 0.05) == (not i.low <= null <= i.high)
    with pytest.raises(ValueError, match="at least 4 pairs"):
        claims.rho_interval(0.5, 3)
