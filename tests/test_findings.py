"""The findings that open the book and the README are generated from the verdict files: a changed verdict changes
the sentence, and the README's compact record keeps every cell short."""

from svd_icl.claims.core import FAILS, HOLDS, NOT_INFORMATIVE, UNDETERMINED, Quantifier
from svd_icl.claims.records import Case, Claim, Effect
from svd_icl.findings import findings_markdown
from svd_icl.summary import RECORD_CELL, record, record_markdown


def _effect(outcome, shots):
    if outcome == HOLDS:
        return Effect(0.05, 0.01, 0.09, 0.02, 0.003, shots)
    return Effect(-0.01, -0.03, 0.001, 0.02, 0.003, shots)


def _gain(outcomes, shots=10):
    cases = tuple(Case(f"m/t{i}", o, f"m/t{i}: {o}", _effect(o, shots)) for i, o in enumerate(outcomes))
    return Claim("fig1-gain", "Truncating one layer can raise few-shot accuracy", "Fig. 1", Quantifier.SOME, cases,
                 family=len(cases))  # fmt: skip


def test_a_changed_verdict_changes_the_findings(tmp_path):
    record(tmp_path, "fig1", [_gain([FAILS, UNDETERMINED])])
    before = findings_markdown(tmp_path, ["fig1"])
    assert "**The pruning effect**" in before and "**undetermined** (1 refuted / 1 undetermined" in before
    assert "[Figure 1](../notebooks/fig1.ipynb)" in before and "0 hold, 1 are refuted" in before
    record(tmp_path, "fig1", [_gain([HOLDS, UNDETERMINED], shots=0)])
    after = findings_markdown(tmp_path, ["fig1"])
    assert "**reproduced** (1 holds / 1 undetermined; m/t0 at 0 shots +5.0% [+1.0%, +9.0%]" in after
    assert "Every one was measured at 0 shots" in after and after != before
    plain = findings_markdown(tmp_path, ["fig1"], style="plain")
    assert "Figure 1 (`notebooks/fig1.ipynb`)" in plain and "](" not in plain


def test_the_readme_record_is_compact(tmp_path):
    long_evidence = "x" * 2000  # a chapter's evidence can run to a paragraph: it stays in the book
    claim = Claim("fig3-grows", "Condition numbers grow with depth", "Fig. 3", Quantifier.EVERY,
                  (Case("a MLP", HOLDS, long_evidence), Case("b MLP", NOT_INFORMATIVE, long_evidence)))  # fmt: skip
    record(tmp_path, "fig3", [claim])
    text = record_markdown(tmp_path, ["fig3"], {"fig3": 60.0}, "Build of x", findings="Found: things.")
    rows = [line for line in text.splitlines() if line.startswith("| ")]
    assert text.splitlines()[2] == "Found: things."
    assert all(len(cell) <= RECORD_CELL for row in rows for cell in row.split(" | "))
    assert "x" * 400 not in text
