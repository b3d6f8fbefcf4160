"""The prompt-format control: neutral format changes of the book's prompts, the points re-scored under them, and
the verdicts re-decided from them (on synthetic sweeps whose answer is known)."""

import json

import pandas as pd
import pytest

from svd_icl import claims
from svd_icl.claims import FAILS, HOLDS, NOT_INFORMATIVE, UNDETERMINED
from svd_icl.formats import format_control, format_variants
from svd_icl.prompts import check_separator, encode
from svd_icl.sweep import SweepConfig
from svd_icl.tasks import prepare
from tests.test_claims import NUM_LAYERS, point, sweep
from tests.tiny_models import tiny_tokenizer


def test_bos_and_separator_change_only_the_prefix(checkpoint):
    tok = tiny_tokenizer()
    data = prepare("sst2", 4, 0, n_validation=6, data_root=str(checkpoint / "data"))
    book = encode(data, "validation", tok)
    assert book.prefix[:1] != [tok.bos_token_id]  # this tokenizer adds no BOS: neither does the book
    added = encode(data, "validation", tok, bos=True)
    assert added.prefix == [tok.bos_token_id, *book.prefix] and added.queries == book.queries
    assert encode(data, "validation", tok, bos=False).prefix == book.prefix
    blank = encode(data, "validation", tok, separator="\n\n")
    assert len(blank.prefix) > len(book.prefix) and blank.queries == book.queries
    variants = format_variants(tok)
    assert variants == {"BOS added": {"bos": True}, "blank line between demonstrations": {"separator": "\n\n"}}


@pytest.mark.parametrize("bad", ["", " ", "\n ", "x\n"])
def test_a_separator_must_end_a_line(bad):
    with pytest.raises(ValueError, match="whitespace that ends with a newline"):
        check_separator(bad)


def test_the_control_scores_each_point_under_each_variant_and_resumes(checkpoint, tmp_path):
    from svd_icl.models import load_model

    model, tok = load_model(str(checkpoint / "model"))
    config = SweepConfig(model="tiny", task="sst2", layers=[0], shots=2, split="validation", n=8,
                         data_root=str(checkpoint / "data"))  # fmt: skip
    store = tmp_path / "formats.jsonl"
    points = [(0, "mlp", 0.5), (-1, "attn", 0.9), (0, "mlp", 0.5)]
    table = format_control(model, tok, config, points, store)
    assert sorted(table.variant.unique()) == ["BOS added", "blank line between demonstrations"]
    assert len(table) == 2 * 3  # per variant: the unpruned model once and the two distinct points
    assert table.groupby("variant").prompt.nunique().eq(1).all() and table.prompt.nunique() == 2
    lines = store.read_text().splitlines()
    again = format_control(model, tok, config, points, store)
    assert store.read_text().splitlines() == lines  # everything was stored: nothing recomputed
    pd.testing.assert_frame_equal(again[table.columns].reset_index(drop=True), table.reset_index(drop=True))
    assert all(json.loads(x).get("kind", "sweep") == "sweep" for x in lines[:1])


def _verdicts(book: pd.DataFrame):
    group = ["model", "task"]
    return claims.shallow_collapse(book, group, NUM_LAYERS), claims.can_improve(claims.point_tests(book, group), group)


def test_a_collapse_that_a_format_change_undoes_does_not_survive():
    book = sweep(0.9, 0.9, 0.5)  # shallow points at chance: collapse holds
    collapse, improve = _verdicts(book)
    assert collapse.iloc[0].outcome == HOLDS
    c = collapse.iloc[0]
    same = pd.DataFrame([point(0, "mlp", 0.0, 0.9), point(c.worst_layer, "mlp", c.worst_clip_rate, 0.5)])
    moved = pd.DataFrame([point(0, "mlp", 0.0, 0.9), point(c.worst_layer, "mlp", c.worst_clip_rate, 0.85)])
    b = improve.iloc[0]
    best = [point(b.best_layer, b.best_module, b.best_clip_rate, b.best_accuracy)]
    variants = pd.concat([pd.concat([same, pd.DataFrame(best)]).assign(variant="BOS added"),
                          pd.concat([moved, pd.DataFrame(best)]).assign(variant="blank line")])  # fmt: skip
    table = claims.format_robustness(variants, collapse, improve, ["model", "task"], NUM_LAYERS)
    rows = table.set_index(["verdict", "variant"])
    assert rows.loc[("shallow layers collapse", "BOS added")].survives
    flipped = rows.loc[("shallow layers collapse", "blank line")]
    assert flipped.outcome == FAILS and not flipped.survives  # 85% is far above chance: no collapse
    assert rows.loc[("some truncation raises accuracy", "BOS added")].outcome == improve.iloc[0].outcome
    text = claims.describe_formats(table)
    decided = int(table.groupby("verdict").decided.all().sum())
    assert f"Of the {decided} verdicts the book decided (of 2)" in text and "depend on the prompt's format" in text
    record = claims.format_claim(table)
    collapse_case = next(c for c in record.cases if "collapse" in c.name)
    assert collapse_case.outcome == FAILS and record.status == "not reproduced"  # a decided verdict flipped
    assert "m sst2 shallow layers collapse" in record.evidence


def test_an_undecided_verdict_neither_survives_nor_falls():
    """The control counts only the verdicts the book decided: an undetermined one that stays undetermined is not
    'survives' (the control would pass by construction), it is not informative."""
    book = sweep(0.9, 0.9, 0.62)  # the worst shallow point is neither collapsed nor clearly above the band
    collapse, improve = _verdicts(book)
    assert collapse.iloc[0].outcome == UNDETERMINED
    c = collapse.iloc[0]
    b = improve.iloc[0]
    again = pd.DataFrame([point(0, "mlp", 0.0, 0.9), point(c.worst_layer, "mlp", c.worst_clip_rate, 0.62),
                          point(b.best_layer, b.best_module, b.best_clip_rate, b.best_accuracy)])  # fmt: skip
    table = claims.format_robustness(again.assign(variant="v"), collapse, improve, ["model", "task"], NUM_LAYERS)
    row = table[table.verdict == "shallow layers collapse"].iloc[0]
    assert row.outcome == UNDETERMINED and not row.decided and not row.survives
    case = next(c for c in claims.format_claim(table).cases if "collapse" in c.name)
    assert case.outcome == NOT_INFORMATIVE


def test_a_gain_under_a_variant_is_decided_in_the_books_family():
    book = sweep(0.7, 0.85, 0.5)  # deep points gain 15 points: holds at m = 6
    collapse, improve = _verdicts(book)
    b = improve.iloc[0]
    assert b.outcome == HOLDS and b.m == 6
    c = collapse.iloc[0]
    small = pd.DataFrame([point(0, "mlp", 0.0, 0.7), point(b.best_layer, "mlp", b.best_clip_rate, 0.75, seed=7),
                          point(c.worst_layer, "mlp", c.worst_clip_rate, 0.5)])  # fmt: skip
    table = claims.format_robustness(small.assign(variant="v"), collapse, improve, ["model", "task"], NUM_LAYERS)
    gain = table[table.verdict == "some truncation raises accuracy"].iloc[0]
    assert gain.outcome == UNDETERMINED and not gain.survives  # +5 points, queries gained and lost: not shown at m = 6


def test_a_variant_scored_for_one_model_only_leaves_the_other_models_cases_alone():
    """BOS is added for a tokenizer that adds none and removed for one that adds it: each variant covers some
    cases only, and the others are not decided under it."""
    book = sweep(0.9, 0.9, 0.5)
    collapse, improve = _verdicts(book)
    c, b = collapse.iloc[0], improve.iloc[0]
    mine = pd.DataFrame([point(0, "mlp", 0.0, 0.9), point(c.worst_layer, "mlp", c.worst_clip_rate, 0.5),
                         point(b.best_layer, b.best_module, b.best_clip_rate, b.best_accuracy)])  # fmt: skip
    other = mine.assign(model="other", variant="BOS removed")
    table = claims.format_robustness(pd.concat([mine.assign(variant="BOS added"), other]), collapse, improve,
                                     ["model", "task"], NUM_LAYERS)  # fmt: skip
    assert set(zip(table.model, table.variant)) == {("m", "BOS added")} and len(table) == 2
