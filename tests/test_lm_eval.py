"""The book's prompts as lm-evaluation-harness tasks: the files reproduce the book's token sequences, lm-eval run on
them gives the book's per-query answers (a tiny model here, SmolLM2 unpruned and truncated in the slow test), and the
command refuses bad options before it loads anything."""

import json

import numpy as np
import pytest

from svd_icl.cli import main as cli_main
from svd_icl.evaluation import FastEvaluator
from svd_icl.lm_eval_tasks import lm_eval_split, sample_answers, scoring_module, write_tasks
from svd_icl.prompts import encode
from svd_icl.tasks import prepare
from tests.tiny_models import tiny_tokenizer


def _lm_eval(model_dir, files, batch_size=8) -> list[int]:
    """Per-document answers of lm-eval (its hf model, default BOS handling) on the written task."""
    lm_eval = pytest.importorskip("lm_eval")
    from lm_eval.tasks import TaskManager

    out = lm_eval.simple_evaluate(
        model="hf",
        model_args=f"pretrained={model_dir},dtype=float32",
        tasks=[files.name],
        task_manager=TaskManager(include_path=str(files.directory)),
        log_samples=True,
        batch_size=batch_size,
        device="cpu",
    )
    answers = sample_answers(out["samples"][files.name], files.directory)
    assert out["results"][files.name]["acc,none"] == pytest.approx(np.mean(np.array(answers) == _labels(files)))
    return answers


def _labels(files) -> np.ndarray:
    docs = (files.directory / f"{files.name}.jsonl").read_text().splitlines()
    return np.array([json.loads(d)["label"] for d in docs])


def test_the_documents_hold_the_books_token_sequences(checkpoint, tmp_path):
    tok = tiny_tokenizer()
    files = write_tasks("sst2", tmp_path / "t", tok, shots=4, seed=0, n=6, split="validation",
                        data_root=str(checkpoint / "data"))  # fmt: skip
    assert files.n_docs == 6 and files.mismatched == 0
    data = prepare("sst2", 4, 0, n_validation=6, data_root=str(checkpoint / "data"))
    prompts = encode(data, "validation", tok)
    docs = [json.loads(d) for d in (files.directory / f"{files.name}.jsonl").read_text().splitlines()]
    for i, doc in enumerate(docs):
        for c, choice in enumerate(doc["choices"]):
            ctx, cont = lm_eval_split(tok, doc["context"], doc["delimiter"] + choice)
            assert ctx == prompts.prefix + prompts.queries[i] and cont == prompts.candidates[i][c]
    text = (files.directory / f"{files.name}.yaml").read_text()
    assert f"task: {files.name}" in text and "num_fewshot: 0" in text and files.digest in text


def test_a_tokenizer_that_merges_across_the_boundary_is_reported(checkpoint, tmp_path):
    """A word tokenized with its leading space differently alone than after the query: lm-eval would score other
    tokens than the book, and the writer must count that document."""
    tok = tiny_tokenizer()

    class Merging:
        bos_token_id = tok.bos_token_id

        def __call__(self, text, add_special_tokens=True):
            ids = tok(text, add_special_tokens=add_special_tokens)["input_ids"]
            if text.endswith(": positive"):  # merged with what precedes it, as some tokenizers do
                ids = ids[:-1] + [ids[-1] + 1]
            return {"input_ids": ids}

        def decode(self, ids):
            return tok.decode(ids)

    files = write_tasks("sst2", tmp_path / "m", Merging(), shots=2, seed=0, n=4, split="validation",
                        data_root=str(checkpoint / "data"))  # fmt: skip
    assert files.mismatched == 4


def test_the_scoring_rule_subtracts_the_shared_whitespace_and_averages_per_token(tmp_path, checkpoint):
    """COPA-shaped document: the per-token mean of the book, not lm-eval's sum, decides; a tie is wrong."""
    write_tasks("sst2", tmp_path / "r", tiny_tokenizer(), shots=2, n=2, split="validation",
                data_root=str(checkpoint / "data"))  # fmt: skip
    rule = scoring_module(tmp_path / "r")
    doc = {"n_choices": 2, "n_tokens": [2, 6], "mean": True, "baseline": True, "label": 1}
    # lm-eval's sums include the newline (-1.0): choice 0 scores -3 over 2 tokens, choice 1 -6 over 6 tokens
    assert rule.answer(doc, [-4.0, -7.0, -1.0]) == 1  # means -1.5 vs -1.0; the plain sums would pick choice 0
    assert rule.process_results(doc, [(-4.0, False), (-7.0, False), (-1.0, True)]) == {"acc": 1.0}
    plain = {"n_choices": 2, "n_tokens": [1, 1], "mean": False, "baseline": False, "label": 0}
    assert rule.answer(plain, [-2.0, -2.0]) == -1 and rule.answer(plain, [-1.0, -2.0]) == 0


def test_lm_eval_gives_the_books_answers_on_a_tiny_model(checkpoint, tmp_path):
    from svd_icl.models import load_model

    data_root = str(checkpoint / "data")
    model, tok = load_model(str(checkpoint / "model"))
    files = write_tasks("sst2", tmp_path / "t", tok, shots=4, seed=0, n=10, split="validation", data_root=data_root)
    ours = FastEvaluator(model, encode(prepare("sst2", 4, 0, n_validation=10, data_root=data_root), "validation", tok),
                         progress=False).evaluate()  # fmt: skip
    assert np.array_equal(_lm_eval(checkpoint / "model", files), ours.predictions)


def test_the_command_refuses_bad_options_before_loading(tmp_path, capsys):
    taken = tmp_path / "taken"
    taken.mkdir()
    (taken / "x").write_text("x")
    cases = [
        (["--task", "rtx", "--out", str(tmp_path / "a")], "unknown task 'rtx'"),
        (["--task", "rte", "--n", "0", "--out", str(tmp_path / "b")], "--n 0"),
        (["--task", "rte", "--out", str(taken)], "not empty"),
    ]
    for argv, message in cases:
        assert cli_main(["lm-eval-tasks", "--model", "no-such-model", *argv]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("svd-icl: error:") and message in err and len(err.splitlines()) == 1


@pytest.mark.slow
@pytest.mark.parametrize("task,shots", [("sst2", 10), ("copa", 5)])
def test_lm_eval_agrees_with_svd_icl_on_smollm2_unpruned_and_truncated(task, shots, data_root, tmp_path):
    """SmolLM2 as bundled and with layer 0's MLP truncated at xi = 0.5 (exported), on 40 of the book's test queries:
    lm-eval's per-query answers are svd_icl's (>= 99%, accuracy within one query)."""
    from svd_icl.export import Truncation, export
    from svd_icl.models import bundled_dir, load_model
    from svd_icl.pruning import Pruner

    model, tok = load_model("smollm2-135m")
    files = write_tasks(task, tmp_path / "tasks", tok, shots=shots, seed=0, n=40, data_root=data_root)
    assert files.mismatched == 0
    prompts = encode(prepare(task, shots, 0, n_test=40, data_root=data_root), "test", tok)
    evaluator = FastEvaluator(model, prompts, progress=False)
    unpruned = evaluator.evaluate().predictions
    with Pruner(model).truncated(0, "mlp", 0.5):
        truncated = evaluator.evaluate().predictions
    exported = export("smollm2-135m", [Truncation(0, "mlp", 0.5)], tmp_path / "exported")
    for model_dir, ours in ((bundled_dir("smollm2-135m"), unpruned), (exported, truncated)):
        theirs = np.array(_lm_eval(model_dir, files))
        assert (theirs == ours).mean() >= 0.99
        labels = _labels(files)
        assert abs(int((theirs == labels).sum()) - int((ours == labels).sum())) <= 1
