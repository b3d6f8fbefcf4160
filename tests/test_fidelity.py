"""The precision gate: pairing points across dtypes, and the decision on synthetic sweeps of known outcome."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from papermill import inspect_notebook

from svd_icl.fidelity import BOOK_DTYPE, compare_dtypes, gate

ROOT = Path(__file__).resolve().parents[1]


def _records(dtype: str, predictions: list[np.ndarray], labels: np.ndarray) -> list[dict]:
    out = []
    for xi, pred in zip([0.0, 0.5, 0.9], predictions):
        scores = np.where(np.eye(2)[pred] == 1, -0.1, -2.4)  # the predicted class scores higher
        out.append(
            {
                "model": "m",
                "task": "t",
                "layer": 0,
                "module": "mlp",
                "clip_rate": xi,
                "dtype": dtype,
                "labels": labels.tolist(),
                "predictions": pred.tolist(),
                "scores": scores.tolist(),
            }
        )
    return out


def _frame(flip: list[int], n: int = 400, seed: int = 0, balanced: bool = False) -> pd.DataFrame:
    """float32 answers, and bfloat16 answers with ``flip[i]`` queries of point i turned from right to wrong (with
    ``balanced``, half of them from wrong to right instead: answers change, accuracy does not)."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, n)
    ref = [np.where(rng.random(n) < 0.8, labels, 1 - labels) for _ in flip]
    alt = []
    for pred, k in zip(ref, flip):
        changed = pred.copy()
        right = np.flatnonzero(pred == labels)[: k // 2 if balanced else k]
        wrong = np.flatnonzero(pred != labels)[: k // 2 if balanced else 0]
        changed[right] = 1 - labels[right]
        changed[wrong] = labels[wrong]
        alt.append(changed)
    return pd.DataFrame(_records("float32", ref, labels) + _records("bfloat16", alt, labels))


def test_identical_answers_pass():
    table = compare_dtypes(_frame([0, 0, 0]))
    assert len(table) == 3 and (table.agreement == 1).all() and (table.max_score_diff == 0).all()
    decision = gate(table)
    assert decision.passes and decision.significant == 0
    assert "bfloat16 passes the gate" in decision.sentence() and "after Holm" in decision.sentence()


def test_one_bad_point_fails_the_gate_although_the_pool_would_pass():
    table = compare_dtypes(_frame([28, 0, 0], balanced=True))  # one point at 93%, pooled agreement 97.7%
    big = compare_dtypes(_frame([28] + [0] * 2, balanced=True))
    assert table.agreement.min() == pytest.approx(0.93)
    decision = gate(table)
    assert not decision.passes and decision.agreement == pytest.approx(0.93) and decision.significant == 0
    assert "At the worst of 3 distinct points" in decision.sentence() and len(big) == 3


def test_the_unpruned_evaluation_counts_once():
    frame = _frame([0, 0, 0])
    again = frame[frame.clip_rate == 0.0].assign(module="attn")  # the same unpruned answers under another module
    table = compare_dtypes(pd.concat([frame, again], ignore_index=True))
    assert len(table) == 4 and gate(table).points == 3


def test_scattered_disagreement_fails_on_agreement_only():
    table = compare_dtypes(_frame([2, 0, 0], balanced=True))  # 2 of 400 answers change at one point, 1 each way
    assert gate(table).passes  # 99.5% at the worst point, accuracy unchanged
    low = compare_dtypes(_frame([8, 8, 8], balanced=True))  # 98.0% everywhere
    decision = gate(low)
    assert not decision.passes and decision.significant == 0
    text = decision.sentence()
    assert "below the 99% required" in text and "fails the gate and the book stays in float32" in text


def test_one_sided_flips_are_significant():
    decision = gate(compare_dtypes(_frame([40, 0, 0])))  # 40 right answers lost at one point
    assert not decision.passes and decision.significant == 1
    assert "1 of 3 points differ significantly" in decision.sentence()


def test_points_in_one_dtype_only_are_left_out_and_old_records_refused():
    frame = _frame([0, 0, 0])
    table = compare_dtypes(frame[~((frame.dtype == "bfloat16") & (frame.clip_rate == 0.9))])
    assert sorted(table.clip_rate) == [0.0, 0.5]
    with pytest.raises(ValueError, match="lack \\['scores'\\]"):
        compare_dtypes(frame.drop(columns="scores"))
    with pytest.raises(ValueError, match="no point was scored in both"):
        gate(compare_dtypes(frame[frame.dtype == "float32"]))


def test_different_queries_are_refused():
    frame = _frame([0, 0, 0])
    frame.loc[frame.index[-1], "labels"] = [1 - x for x in frame.labels.iloc[-1]]
    with pytest.raises(ValueError, match="different queries"):
        compare_dtypes(frame)


@pytest.mark.parametrize("path", sorted((ROOT / "notebooks").glob("*.ipynb")), ids=lambda p: p.stem)
def test_every_chapter_defaults_to_the_gated_dtype(path):
    params = inspect_notebook(str(path))
    if "dtype" in params:
        assert json.loads(params["dtype"]["default"].replace("'", '"')) == BOOK_DTYPE


def test_a_flipped_claim_fails_the_gate_although_every_answer_agrees():
    table = compare_dtypes(_frame([0, 0, 0]))
    claims = pd.DataFrame({"claim": ["deep layers", "collapse"], "model": "m", "task": "t", "same": [True, False]})
    decision = gate(table, claims=claims)
    assert not decision.passes and decision.claims == 2 and decision.claims_differ == ("collapse, m/t",)
    assert "1 of 2 claim outcomes differ between the formats (collapse, m/t)" in decision.sentence()
    assert gate(table, claims=claims.assign(same=True)).passes


def _sweep(dtype: str, deep_collapses: bool, n: int = 300) -> pd.DataFrame:
    """SST-2-like records on 4 layers: the unpruned model right on 90% of the queries; truncating layer 0 collapses
    every answer onto class 0; truncating layer 3 keeps the answers, unless ``deep_collapses``."""
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 2, n)
    good = np.where(rng.random(n) < 0.9, labels, 1 - labels)
    rows = []
    for layer in (0, 3):
        for xi in (0.0, 0.5, 0.9, 0.99):
            collapse = xi > 0 and (layer == 0 or deep_collapses)
            pred = np.zeros(n, dtype=int) if collapse else good
            rows.append({"model": "m", "task": "sst2", "layer": layer, "module": "mlp", "clip_rate": xi,
                         "dtype": dtype, "labels": labels.tolist(), "predictions": pred.tolist(),
                         "accuracy": float((pred == labels).mean()), "num_layers": 4,
                         "majority_rate": float(max(labels.mean(), 1 - labels.mean()))})  # fmt: skip
    return pd.DataFrame(rows)


def test_claim_outcomes_are_compared_between_formats():
    from svd_icl.claims import outcomes_by_dtype

    same = outcomes_by_dtype(pd.concat([_sweep("float32", False), _sweep("bfloat16", False)]), "float32", "bfloat16",
                             ["model", "task"])  # fmt: skip
    assert len(same) == 3 and same.same.all()
    flipped = outcomes_by_dtype(pd.concat([_sweep("float32", False), _sweep("bfloat16", True)]), "float32",
                                "bfloat16", ["model", "task"])  # fmt: skip
    depth = flipped.set_index("claim").loc["deep layers tolerate truncation"]
    assert depth.outcome_float32 == "holds" and depth.outcome_bfloat16 != "holds" and not depth.same
