"""The summary page's generated text."""

import pandas as pd


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
