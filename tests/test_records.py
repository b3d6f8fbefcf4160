"""Typed claim records: ids, quantifiers, families that cover every test, and a verdict file that reads back the
same; a chapter's records built from its tables (Figure 3 with one module undetermined and one refuted)."""

import json

import pandas as pd
import pytest

from svd_icl.chapters import fig3
from svd_icl.claims import fig3_verdicts
from svd_icl.claims.core import FAILS, HOLDS, NOT_INFORMATIVE, UNDETERMINED, Quantifier
from svd_icl.claims.records import Case, Claim, Effect
from svd_icl.summary import collect, controls, effects, load, record


def _claim(**kw):
    base = dict(
        id="c-1",
        text="A claim",
        paper="Fig. 1",
        quantifier=Quantifier.EVERY,
        cases=(Case("a", HOLDS, "a: holds"), Case("b", UNDETERMINED, "b: undetermined")),
        family=2,
    )
    return Claim(**{**base, **kw})


def test_a_claim_derives_its_status_and_counts_and_round_trips(tmp_path):
    c = _claim(cases=(Case("a", HOLDS, "a: holds", Effect(0.05, 0.01, 0.09, 0.02, 0.003, 10)),
                      Case("b", FAILS, "b: does not hold"), Case("c", NOT_INFORMATIVE, "c: not informative")),
               family=3)  # fmt: skip
    assert c.status == "not reproduced" and c.counts == "1 holds / 1 refuted / 1 not informative"
    record(tmp_path, "fig1", [c])
    raw = json.loads((tmp_path / "verdicts" / "fig1.json").read_text())[0]
    assert raw["status"] == "not reproduced" and raw["quantifier"] == "every case" and raw["id"] == "c-1"
    back = load(tmp_path, "fig1")[0]
    assert back == c and back.cases[0].effect.reported == 0.003
    table = effects(tmp_path, ["fig1"])
    assert table.case.tolist() == ["a"] and table.claim_short.iloc[0] == "A claim"  # a label, never "nan"


def test_a_family_smaller_than_its_cases_and_a_half_declared_control_are_refused():
    with pytest.raises(ValueError, match="family"):
        _claim(family=1)
    with pytest.raises(ValueError, match="control"):
        _claim(control="shape null")
    with pytest.raises(ValueError, match="claim id"):
        _claim(id="has space")


def test_repeated_ids_are_refused_and_controls_name_their_mechanism_by_id(tmp_path):
    with pytest.raises(ValueError, match="repeat"):
        record(tmp_path, "x", [_claim(), _claim()])
    mechanism = _claim(id="mech", cases=(Case("a", HOLDS),), family=1)
    control = _claim(id="ctl", text="It survives a null", cases=(Case("a", FAILS),), family=1, control="a null",
                     control_of=("mech", "missing-one"))  # fmt: skip
    record(tmp_path, "x", [mechanism, control])
    table = collect(tmp_path, ["x", "not-run"])
    assert table.status.tolist() == ["reproduced", "not reproduced", "missing"]
    c = controls(table)
    assert c.survives.tolist() == ["does not survive", "does not survive"]
    assert c.mechanism.tolist() == ["A claim", "missing-one"] and "no chapter recorded" in c.note.iloc[1]


def test_figure_3_with_one_module_undetermined_and_one_refuted_is_not_reproduced():
    """Cases are (model, module): a refuted module refutes "grows with depth in every model and module", whatever
    the other module says; the family is every (model, module) test."""
    trends = pd.DataFrame(
        {
            "model": ["a", "b"],
            "layers": [30, 30],
            "mlp_below_attn": [0.9, 0.9],
            "spearman_attn": [0.1, 0.8],
            "spearman_mlp": [-0.7, 0.85],
        }
    ).set_index("model")
    raw = fig3_verdicts(trends)
    assert raw.loc[0, "trend_attn"] == UNDETERMINED and raw.loc[0, "trend_mlp"] == FAILS and (raw.m == 4).all()
    grows = next(c for c in fig3.claims(raw, raw, {}, "max") if c.id == fig3.GROWS)
    assert grows.status == "not reproduced" and grows.counts == "2 hold / 1 refuted / 1 undetermined"
    assert grows.family == 4 and [c.name for c in grows.cases] == ["a ATTN", "a MLP", "b ATTN", "b MLP"]


def test_a_case_names_its_shot_number_once():
    """The deciding number of a finding says how many demonstrations the prompt had, unless the case's own name does
    (Figure 2's cases are named by their shot number)."""
    effect = Effect(-0.062, -0.488, 0.386, shots=0, reported=0.003)
    named = Case("smollm2-135m 0 shots", UNDETERMINED, effect=effect).effect_text()
    plain = Case("smollm2-135m/sst2", UNDETERMINED, effect=effect).effect_text()
    assert named.count("0 shots") == 1 and named.startswith("smollm2-135m 0 shots -6.2% [-48.8%, +38.6%]")
    assert plain.startswith("smollm2-135m/sst2 at 0 shots -6.2%") and plain.endswith("the paper reports +0.3%")
