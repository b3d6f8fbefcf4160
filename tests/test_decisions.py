"""The shared decision core and the confirmation's two claims, on cases whose answer is known."""

import numpy as np
import pandas as pd
import pytest
from scipy.stats import binomtest

from svd_icl import claims
from svd_icl.claims.core import (
    FAILS,
    HOLDS,
    NOT_INFORMATIVE,
    UNDETERMINED,
    Quantifier,
    claim_status,
    decide,
    detectable_effect,
    paired_interval,
    refutation_margin,
    tally,
)
from svd_icl.claims.sets import Looks
from svd_icl.tasks import TASKS, confirmation_set, prepare


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
    assert one.low < 0 < one.high  # no query differs, yet the interval has width (exact bounds of the cells)
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


def test_a_refutation_must_exclude_the_papers_own_effect():
    """ "Does not hold" needs the interval below the smaller of the margin and the paper's smallest positive effect:
    an interval of [-1.5, +1.3] points excludes +2 but contains the paper's +0.29, so it is undetermined."""
    margin = refutation_margin(0.02, 0.0029)
    assert margin == pytest.approx(0.0029)
    assert decide(-0.015, 0.013, 0.02) == FAILS and decide(-0.015, 0.013, margin) == UNDETERMINED
    assert refutation_margin(0.02, None) == 0.02 and refutation_margin(0.02, -0.01) == 0.02  # no positive effect
    note = claims.margin_note(0.013, 0.02, 0.0029, UNDETERMINED)
    assert note == "excludes +2.0% or more, not the paper's +0.3%"
    assert claims.margin_note(0.001, 0.02, 0.0029, FAILS) == "excludes the paper's +0.3%"


@pytest.mark.parametrize(
    "quantifier,outcomes,status",
    [(Quantifier.EVERY, [HOLDS, HOLDS, NOT_INFORMATIVE], "reproduced"),
     (Quantifier.EVERY, [HOLDS, UNDETERMINED], "undetermined"),  # not yet shown in every case
     (Quantifier.EVERY, [HOLDS, HOLDS, FAILS], "not reproduced"),  # one refuted case refutes "every"
     (Quantifier.EVERY, [NOT_INFORMATIVE], "undetermined"),
     (Quantifier.SOME, [FAILS, UNDETERMINED, HOLDS], "reproduced"),  # one case is enough for "some"
     (Quantifier.SOME, [FAILS, FAILS, NOT_INFORMATIVE], "not reproduced"),  # every informative case refuted
     (Quantifier.SOME, [FAILS, UNDETERMINED], "undetermined"),
     (Quantifier.SOME, [NOT_INFORMATIVE, NOT_INFORMATIVE], "undetermined")],
)  # fmt: skip
def test_a_status_follows_the_claims_quantifier(quantifier, outcomes, status):
    assert claim_status(quantifier, outcomes) == status


def test_statuses_state_their_counts_and_refuse_unknown_outcomes():
    assert tally([HOLDS, HOLDS, FAILS, UNDETERMINED, NOT_INFORMATIVE]) == (
        "2 hold / 1 refuted / 1 undetermined / 1 not informative"
    )
    assert tally([HOLDS]) == "1 holds" and tally([]) == "no cases"
    with pytest.raises(ValueError, match="maybe"):
        claim_status(Quantifier.EVERY, ["maybe"])


# ---- confirmation records: fresh sets on query blocks, the tuned prompt and the 0-shot reference -----------------


def _correct(n, acc, seed):
    right = np.zeros(n, bool)
    right[np.random.default_rng(seed).permutation(n)[: int(round(acc * n))]] = True
    return right


def _record(role, arm, correct, offset, set_=None, shots=10, clip=0.0, labels=None):
    n = len(correct)
    labels = np.array([0, 1] * (n // 2)) if labels is None else labels
    return {"model": "m", "task": "sst2", "role": role, "arm": arm, "set": set_, "offset": offset or None,
            "layer": 5, "module": "mlp", "clip_rate": clip, "shots": 0 if role == "zero_shot" else shots,
            "majority_rate": 0.5, "labels": labels.tolist(),
            "predictions": np.where(correct, labels, 1 - labels).tolist(), "seconds": 1.0}  # fmt: skip


def _confirmation(effects, unpruned=0.80, zero_shot=0.60, q=200, tuned_gain=0.0, tuned_unpruned=None):
    """Records of a nested confirmation: set j on block j with the given per-set effect (selected minus unpruned),
    the tuned prompt on blocks 0-1, and the 0-shot reference of every block. ``unpruned`` may be a list (per set)."""
    rows = []
    ups = unpruned if isinstance(unpruned, list) else [unpruned] * len(effects)
    for j, (eff, u) in enumerate(zip(effects, ups)):
        a = _correct(q, u, 100 + j)
        b = a.copy()
        flip = np.flatnonzero(~a if eff > 0 else a)[: int(round(abs(eff) * q))]
        b[flip] = eff > 0
        rows += [_record("unpruned", "sets", a, j * q, j), _record("selected", "sets", b, j * q, j, clip=0.9),
                 _record("zero_shot", "zero_shot", _correct(q, zero_shot, 300 + j), j * q)]  # fmt: skip
    for j in range(2):
        a = _correct(q, tuned_unpruned if tuned_unpruned is not None else ups[0], 200 + j)
        b = a.copy()
        b[np.flatnonzero(~a)[: int(round(tuned_gain * q))]] = True
        rows += [_record("unpruned", "tuned", a, j * q), _record("selected", "tuned", b, j * q, clip=0.9)]
    return pd.DataFrame(rows)


def _over(points, m=1, look=0, looks=(4, 8), reported=None):
    return claims.over_sets(points, ["model", "task"], Looks(looks), look, m, 0.02, reported).iloc[0]


def test_sets_whose_effects_differ_in_sign_are_a_spread_not_a_gain():
    """Four sets with +10, -8, +12, -6 points: pooled over queries the mean is +2, but over prompts the interval must
    carry the between-set spread (tau), so nothing is decided; a consistent +10 holds."""
    mixed = _over(_confirmation([0.10, -0.08, 0.12, -0.06]))
    assert mixed.outcome == UNDETERMINED and mixed.tau > 0.05 and mixed.i2 > 0.5
    assert mixed.low < 0 < mixed.high and mixed.design == "nested" and mixed.sets == 4
    assert [round(e["effect"], 2) for e in mixed.per_set] == [0.10, -0.08, 0.12, -0.06]
    steady = _over(_confirmation([0.10, 0.11, 0.09, 0.10]))
    assert steady.outcome == HOLDS and steady.low > 0


def test_one_degenerate_set_among_four_is_left_out_in_either_direction():
    """A set whose reference is at the answer-ignoring rate is not informative: its +30 points do not count for a
    gain, and with most sets degenerate the case is not informative at all (not refuted)."""
    v = _over(_confirmation([0.30, 0.0, 0.0, 0.0], unpruned=[0.50, 0.80, 0.80, 0.80]))
    assert v.informative == 3 and not v.per_set[0]["informative"]
    assert abs(v.difference) < 0.01  # the degenerate set's +30 is left out
    worse_than_none = _confirmation([0.05, 0.05, 0.05, 0.05], unpruned=[0.55, 0.56, 0.80, 0.52], zero_shot=0.80)
    assert _over(worse_than_none).outcome == NOT_INFORMATIVE  # 3 of 4 sets below 0 shots: nothing to decide
    refuted = _confirmation([-0.1, -0.1, -0.1, -0.1], unpruned=[0.5, 0.5, 0.5, 0.8])
    assert _over(refuted).outcome == NOT_INFORMATIVE  # a loss from degenerate prompts refutes nothing either


def test_over_sets_refutes_at_the_papers_effect_and_states_it():
    flat = _confirmation([0.0] * 8, q=400)
    at_margin = _over(flat, looks=(8,))
    assert at_margin.outcome == FAILS and at_margin.high < 0.02  # excludes +2 points
    at_paper = _over(flat, looks=(8,), reported={("m", "sst2"): 0.0029})
    assert at_paper.margin == pytest.approx(0.0029) and at_paper.outcome == UNDETERMINED
    line = claims.confirmation_evidence(at_paper, "m/sst2")
    assert "the paper's smallest" in line and "not the paper's +0.3%" in line and "8 of 8 sets x 400" in line


def test_each_look_states_its_interval_at_its_share_of_alpha():
    points = _confirmation([0.04, 0.05, 0.03, 0.06, 0.05, 0.04, 0.05, 0.03])
    first, last = _over(points, look=0, looks=(4, 8)), _over(points, look=1, looks=(4, 8))
    assert first.miss == pytest.approx(0.05 * 4 / 12) and last.miss == pytest.approx(0.05 * 8 / 12)
    family = _over(points, m=4, look=1, looks=(4, 8))
    assert family.high - family.low > last.high - last.low  # a larger family, a wider interval
    assert (first.p_adj < 0.05) == (first.low > 0 or first.high < 0)  # the stated p is dual to the stated interval


def test_the_tuned_prompt_is_a_claim_of_its_own_and_guarded():
    points = _confirmation([-0.05] * 4, tuned_gain=0.15)
    tuned = claims.tuned_prompt(points, ["model", "task"], 1, 0.02).iloc[0]
    over = _over(points)
    assert tuned.outcome == HOLDS and over.outcome in (FAILS, UNDETERMINED) and over.difference < 0
    degenerate = claims.tuned_prompt(_confirmation([0.0] * 4, tuned_gain=0.2, tuned_unpruned=0.5),
                                     ["model", "task"], 1, 0.02).iloc[0]  # fmt: skip
    assert degenerate.outcome == NOT_INFORMATIVE  # its reference is at the majority rate
    assert "not shown above the baseline" in claims.describe_tuned(degenerate, "m sst2")


def test_confirmation_refuses_points_scored_on_other_queries():
    points = _confirmation([0.1] * 4)
    bad = points.copy()
    i = bad.index[(bad.arm == "sets") & (bad.role == "selected")][0]
    bad.at[i, "labels"] = [1 - x for x in bad.at[i, "labels"]]
    with pytest.raises(ValueError, match="different queries"):
        _over(bad)


def test_kept_runs_are_not_informative_not_refuted():
    """Algorithm 1 runs whose search kept the unpruned model have nothing to confirm: not a measured refutation."""
    from svd_icl.confirm import algorithm1_selection

    kept = claims.kept_rows(pd.DataFrame([{"model": "m", "task": "rte", "module": "mlp", "layer": 17}])).iloc[0]
    assert kept.outcome == NOT_INFORMATIVE and kept.n == 0 and kept.kept_unpruned
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
    fresh = [key(prepare(task, seed=0, n_validation=300, n_test=300, data_root=data_root, demo_set=j).demos)
             for j in range(3)]  # fmt: skip
    for j, f in enumerate(fresh):  # fresh sets: no query, no search row, not the search's demonstrations
        assert not f & val and not f & test and not f & demos, j
    disjoint = [confirmation_set(task, data.demos.shape[0], 0, j, data_root)[1] for j in range(3)]
    if all(disjoint):
        assert not fresh[0] & fresh[1] and not fresh[1] & fresh[2]


def test_blocks_are_disjoint_prefix_stable_and_sst2_queries_do_not_nest(data_root):
    """Set j's queries are the block [j q, (j + 1) q) of one seeded order, so a later look adds new queries; on
    SST-2 no held-out query lies inside, or contains, a search row, a demonstration or an earlier query."""
    from svd_icl.tasks import query_rows

    _, val, first = query_rows("sst2", 0, 200, 300, data_root)
    _, _, block = query_rows("sst2", 0, None, 100, data_root, offset=100)
    assert block.sentence.tolist() == first.sentence.iloc[100:200].tolist()
    pool, _, _ = query_rows("sst2", 0, 1, 1, data_root)
    seen = [f" {' '.join(s.split())} " for s in pd.concat([val.sentence, pool.sentence])]
    queries = [f" {' '.join(s.split())} " for s in first.sentence]
    for i, q in enumerate(queries):
        for other in seen + queries[:i]:  # word-level nesting: a phrase inside another, or the same phrase
            assert q not in other and other not in q, (q, other)


def test_the_sequential_runner_stops_when_decided_futile_or_at_the_budget():
    """A decided case stops at its first look; one that even the last look could not decide at its observed effect
    stops for futility; one that might be decided goes on to the next look, unless the budget has run out; each
    record says why it stopped and what the fixed design would have spent."""
    from svd_icl.chapters.confirmation import Budget, confirm_cases

    cases = {("m", "sst2"): [0.15] * 8, ("m", "rte"): [0.10, -0.08, 0.12, -0.06] * 2,
             ("m", "copa"): [0.05, 0.02, 0.06, 0.03, 0.05, 0.03, 0.06, 0.02]}  # fmt: skip
    asked = []

    def run(key, sets):
        asked.append((key, sets))
        return _confirmation(cases[key][:sets]).assign(task=key[1])

    over, tuned, points = confirm_cases(run, list(cases), ["model", "task"], Looks((4, 8)), 0.02)
    assert asked == [(("m", "sst2"), 4), (("m", "rte"), 4), (("m", "copa"), 4), (("m", "copa"), 8)]
    assert over.outcome.tolist()[:2] == [HOLDS, UNDETERMINED] and (over.m == 3).all()
    assert over.stopped.iloc[0] == "decided at look 1 of 2"
    assert over.stopped.iloc[1].startswith("stopped for futility at look 1 of 2")
    assert over.sets_spent.tolist() == [4, 4, 8] and (over.fixed_sets == 8).all() and len(tuned) == 3
    asked.clear()
    over, _, _ = confirm_cases(run, [("m", "copa")], ["model", "task"], Looks((4, 8)), 0.02, budget=Budget(0.0))
    assert asked == [(("m", "copa"), 4)] and over.look.tolist() == [1]
    assert over.stopped.iloc[0].startswith("stopped at the budget after 4 sets; the next look (8 sets) would take")


def test_open_cases_take_their_looks_in_turn_and_the_budget_keeps_the_later_chapters_time():
    """Every case's first look comes before any case's second (the time goes to the cases still open, in turn); a
    budget whose deadline is still ahead stops the further looks once the later chapters' reserved work would no
    longer end by it."""
    import time

    from svd_icl.chapters.confirmation import Budget, confirm_cases

    open_case = [0.05, 0.02, 0.06, 0.03, 0.05, 0.03, 0.06, 0.02, 0.04, 0.05, 0.03, 0.04]
    cases = {("m", "sst2"): open_case, ("m", "emoc"): open_case[::-1]}
    asked = []

    def run(key, sets):
        asked.append((key[1], sets))
        return _confirmation(cases[key][:sets]).assign(task=key[1])

    confirm_cases(run, list(cases), ["model", "task"], Looks((4, 8, 12)), 0.02)
    assert asked[:4] == [("sst2", 4), ("emoc", 4), ("sst2", 8), ("emoc", 8)]
    asked.clear()
    ahead = time.time() + 3600
    over, _, _ = confirm_cases(run, list(cases), ["model", "task"], Looks((4, 8, 12)), 0.02,
                               budget=Budget(ahead, reserve=3600 + 60))  # fmt: skip
    assert asked == [("sst2", 4), ("emoc", 4)] and over.look.tolist() == [1, 1]
    assert over.stopped.str.startswith("stopped at the budget after 4 sets").all()
    asked.clear()
    confirm_cases(run, list(cases), ["model", "task"], Looks((4, 8, 12)), 0.02, budget=Budget(ahead, reserve=60))
    assert ("sst2", 8) in asked


def test_sets_that_share_their_queries_are_decided_on_the_crossed_design():
    """Small test splits score every set on the same queries: the interval then comes from the two-way table."""
    points = _confirmation([0.12, 0.10, 0.11, 0.13])
    crossed = points.assign(offset=None)  # every set (and the 0-shot reference) on the same block
    crossed = crossed.drop_duplicates(subset=["role", "arm", "set"], keep="first")
    v = _over(crossed)
    assert v.design == "crossed" and v.outcome == HOLDS and v.sets == 4 and v.n == 200
    nested = _over(points)
    assert nested.design == "nested"


def _best(change, sem, m=20, base=0.10, changes=None, sems=None):
    rows = {"change": change, "change_sem": sem, "m": m, "unpruned error": base}
    frame = pd.DataFrame(rows, index=[5, 10, 20][: len(change)])
    if changes is not None:
        frame["changes"], frame["change_sems"] = changes, sems
    return frame


def test_the_toy_improvement_is_existential_over_every_truncation():
    """'Some truncation lowers the error': holds when the best truncation's interval lies above 0; refuted only when
    every truncation's interval lies below the margin, so a second truncation with a smaller estimate and a wide
    interval keeps the claim undetermined where the best alone would have refuted it."""
    from svd_icl.claims import toy_improvement

    out = toy_improvement(_best([-0.02, 0.02, 0.0], [0.001, 0.001, 0.01]))
    assert list(out.outcome) == [HOLDS, FAILS, UNDETERMINED] and out.decrease.iloc[0] == pytest.approx(0.2)
    narrow_best = _best([0.001], [0.0001], changes=[[0.001, 0.002]], sems=[[0.0001, 0.0001]])
    wide_second = _best([0.001], [0.0001], changes=[[0.001, 0.002]], sems=[[0.0001, 0.01]])
    assert toy_improvement(narrow_best).outcome.iloc[0] == FAILS
    second = toy_improvement(wide_second).iloc[0]
    assert second.outcome == UNDETERMINED and second.widest_high > second.margin > second.high
    # the interval is simultaneous over the m truncations searched: more of them, a wider interval
    assert (toy_improvement(_best([0.0], [0.01], m=200)).high > toy_improvement(_best([0.0], [0.01], m=2)).high).all()
    assert list(out.p_adj < 0.05) == [True, True, False]
