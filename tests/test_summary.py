"""The summary page's generated text."""

import pandas as pd
import pytest


def test_describe_gains_names_what_the_holding_gains_share():
    from svd_icl.summary import describe_gains

    rows = [
        {"chapter": "fig2", "case": "g 0 shots", "difference": 0.055, "low": 0.038, "high": 0.072, "outcome": "holds",
         "shots": 0},
        {"chapter": "fig2", "case": "g 10 shots", "difference": -0.01, "low": -0.02, "high": 0.0,
         "outcome": "does not hold", "shots": 10},
        {"chapter": "fig4", "case": "g mrpc/MLP", "difference": 0.26, "low": 0.15, "high": 0.36,
         "outcome": "recovery from a degenerate prompt", "shots": 10},
    ]
    text = describe_gains(pd.DataFrame(rows))
    assert text.startswith("Of the 3 confirmed cases on this page, 1 holds, 1 is a recovery from a degenerate prompt,")
    assert "fig2 g 0 shots (0 shots): +5.5% [+3.8%, +7.2%]" in text
    assert "Every one of them was measured at 0 shots" in text
    rows[1]["outcome"] = "holds"  # a gain with demonstrations too: no longer only 0-shot
    text = describe_gains(pd.DataFrame(rows))
    assert "Every one" not in text and "1 of them with demonstrations" in text
    none = describe_gains(pd.DataFrame(rows[2:]))
    assert "No truncation gain survives its confirmation." in none


def test_controls_say_which_mechanisms_survive(tmp_path):
    from svd_icl.summary import collect, controls, controls_html, controls_markdown, record

    grows = "Condition numbers grow with depth"
    record(tmp_path, "fig3", [
        {"claim": grows, "paper": "Fig. 3", "status": "partly", "evidence": "e"},
        {"claim": "MLP better", "paper": "Fig. 3", "status": "reproduced", "evidence": "e"},
        {"claim": "grows beyond the null", "paper": "", "status": "not reproduced", "evidence": "e",
         "control": "shape null", "control_of": grows},
        {"claim": "MLP better beyond shapes", "paper": "", "status": "undetermined", "evidence": "e",
         "control": "shape null", "control_of": "MLP better"},
    ])  # fmt: skip
    record(tmp_path, "fig1", [
        {"claim": "gain", "paper": "Fig. 1", "status": "not reproduced", "evidence": "e"},
        {"claim": "format", "paper": "", "status": "reproduced", "evidence": "e", "control": "BOS",
         "control_of": ["gain", "collapse"]},
    ])  # fmt: skip
    c = controls(collect(tmp_path, ["fig3", "fig1"])).set_index(["mechanism", "control"])
    assert c.loc[(grows, "shape null"), "survives"] == "does not survive"
    assert c.loc[("MLP better", "shape null"), "survives"] == "undetermined"
    gain = c.loc[("gain", "BOS")]
    assert gain.survives == "survives" and "itself is not reproduced" in gain.note
    assert c.loc[("collapse", "BOS"), "mechanism_status"] == "missing"  # listed, not dropped
    text = controls_markdown(collect(tmp_path, ["fig3", "fig1"]))
    assert text.startswith("**4 controls: 2 survives, 1 does not survive, 1 undetermined.**")
    page = controls_html(collect(tmp_path, ["fig3", "fig1"]))
    assert page.startswith("<p>4 controls: 2 survives") and page.count("<tr") == 5 and "|" not in page
    with pytest.raises(ValueError, match="needs both"):
        record(tmp_path, "fig5", [{"claim": "c", "paper": "", "status": "reproduced", "evidence": "", "control": "x"}])
