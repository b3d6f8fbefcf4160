"""The summary page's generated text."""

import pandas as pd

from svd_icl.claims.core import FAILS, HOLDS, NOT_INFORMATIVE, UNDETERMINED, Quantifier
from svd_icl.claims.records import Case, Claim


def test_describe_gains_names_what_the_holding_gains_share():
    from svd_icl.summary import describe_gains

    rows = [
        {
            "chapter": "fig2",
            "case": "g 0 shots",
            "difference": 0.055,
            "low": 0.038,
            "high": 0.072,
            "outcome": "holds",
            "shots": 0,
        },
        {
            "chapter": "fig2",
            "case": "g 10 shots",
            "difference": -0.01,
            "low": -0.02,
            "high": 0.0,
            "outcome": "does not hold",
            "shots": 10,
        },
        {
            "chapter": "fig4",
            "case": "g mrpc/MLP",
            "difference": 0.26,
            "low": 0.15,
            "high": 0.36,
            "outcome": "not informative",
            "shots": 10,
        },
    ]
    text = describe_gains(pd.DataFrame(rows))
    assert text.startswith("Of the 3 confirmed cases on this page, 1 holds, 1 is not informative")
    assert "fig2 g 0 shots (0 shots): +5.5% [+3.8%, +7.2%]" in text
    assert "Every one of them was measured at 0 shots" in text
    rows[1]["outcome"] = "holds"  # a gain with demonstrations too: no longer only 0-shot
    text = describe_gains(pd.DataFrame(rows))
    assert "Every one" not in text and "1 of them with demonstrations" in text
    none = describe_gains(pd.DataFrame(rows[2:]))
    assert "No truncation gain survives its confirmation." in none


def _claim(claim_id, outcomes, quantifier=Quantifier.EVERY, **kw):
    return Claim(claim_id, claim_id.replace("-", " "), "Fig. 3", quantifier,
                 tuple(Case(f"case {i}", o, f"case {i}: {o}") for i, o in enumerate(outcomes)), **kw)  # fmt: skip


def test_controls_say_which_mechanisms_survive(tmp_path):
    from svd_icl.summary import collect, controls, controls_html, controls_markdown, record

    record(tmp_path, "fig3", [
        _claim("grows", [HOLDS, UNDETERMINED]),
        _claim("mlp-better", [HOLDS]),
        _claim("grows-null", [FAILS], control="shape null", control_of=("grows",)),
        _claim("mlp-null", [UNDETERMINED], control="shape null", control_of=("mlp-better",)),
    ])  # fmt: skip
    record(tmp_path, "fig1", [
        _claim("gain", [FAILS, NOT_INFORMATIVE], Quantifier.SOME),
        _claim("format", [HOLDS, NOT_INFORMATIVE], control="BOS", control_of=("gain", "collapse")),
    ])  # fmt: skip
    table = collect(tmp_path, ["fig3", "fig1"])
    assert table.set_index("id").status.to_dict() == {
        "grows": "undetermined", "mlp-better": "reproduced", "grows-null": "not reproduced",
        "mlp-null": "undetermined", "gain": "not reproduced", "format": "reproduced"}  # fmt: skip
    c = controls(table).set_index(["mechanism", "control"])
    assert c.loc[("grows", "shape null"), "survives"] == "does not survive"
    assert c.loc[("mlp better", "shape null"), "survives"] == "undetermined"
    gain = c.loc[("gain", "BOS")]
    assert gain.survives == "survives" and "itself is not reproduced" in gain.note
    assert gain.counts == "1 holds / 1 not informative"
    assert c.loc[("collapse", "BOS"), "mechanism_status"] == "missing"  # listed, not dropped
    text = controls_markdown(table)
    assert text.startswith("**4 controls: 2 survives, 1 does not survive, 1 undetermined.**")
    page = controls_html(table)
    assert page.startswith("<p>4 controls: 2 survives") and page.count("<tr") == 5 and "|" not in page


def test_the_readme_record_states_each_status_with_its_counts(tmp_path):
    from svd_icl.summary import record, record_markdown

    record(tmp_path, "fig1", [_claim("gain", [HOLDS, FAILS, NOT_INFORMATIVE], Quantifier.SOME)])
    text = record_markdown(tmp_path, ["fig1", "fig2"], {"fig1": 60.0}, "Build of x")
    assert "**2 claims: 1 reproduced, 1 missing.**" in text
    assert "| **reproduced** (1 holds / 1 refuted / 1 not informative) |" in text
