"""The book's prompts as lm-evaluation-harness tasks, so that ``lm_eval`` scores any model on the book's queries.

``write_tasks`` renders one (task, shots, seed, split, n) prompt set exactly as :func:`svd_icl.prompts.encode` builds
it: each document carries its whole context (the demonstrations, then the query) and its candidate continuations,
and the task file asks lm-eval for zero further shots, so lm-eval adds nothing of its own.

Three conventions differ between lm-eval's defaults and the book, and the files are written so that they agree:

* **Context and continuation are tokenized together.** The book tokenizes the prefix, each query and each candidate
  apart and concatenates the ids; lm-eval tokenizes ``context + continuation`` in one piece and splits it where the
  context's own tokens end. For the book's templates the two give the same ids (the prefix ends with a newline);
  ``write_tasks`` checks every document with the tokenizer and reports any that differ.
* **Trailing whitespace moves into the continuation.** lm-eval strips whitespace from the end of a context and scores
  it as the first token(s) of every continuation. A COPA query ends with a newline, so lm-eval would score
  ``"\\n" + choice`` where the book scores ``choice``. The same extra log-probability is added to every choice, which
  leaves a sum unchanged in rank but not the book's per-token mean. The documents therefore put the newline at the
  start of every choice and add it alone as one more choice (lm-eval refuses an empty one); ``utils.py`` subtracts
  that choice's log-probability and divides by the book's token count.
* **BOS.** The book prepends a BOS token exactly when the tokenizer adds one by itself (Gemma: yes; SmolLM2: no).
  lm-eval does the same when ``add_bos_token`` is left unset; ``add_bos_token=True`` adds a token the SmolLM2 prompts
  do not have (the answers of an unpruned model barely move; a layer-0-truncated one's can move by many points).

lm-eval's ``acc`` picks the first of tied candidates; the book counts a tie as wrong, and so does ``utils.py``.
"""

from __future__ import annotations

import importlib.util
import json
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from transformers import PreTrainedTokenizerBase

from svd_icl.prompts import EncodedPrompts, demonstration_text, encode, prompt_digest
from svd_icl.tasks import TaskData, prepare

# The scoring rule lm-eval runs (written to utils.py beside the task files). It is the book's rule
# (svd_icl.evaluation: sum of log-probabilities for classification, per-token mean for choice tasks, ties wrong),
# restated here in plain Python because lm-eval loads the file without svd_icl installed.
UTILS = '''\
"""Scoring of the svd_icl tasks (written by svd_icl.lm_eval_tasks; the book's rule, see that module)."""


def answer(doc, lls):
    """The chosen candidate from lm-eval's per-choice log-likelihoods; -1 when the top score is tied."""
    k = doc["n_choices"]
    if doc["baseline"]:  # the last choice is the whitespace every choice starts with, scored alone
        scores = [(ll - lls[k]) / n for ll, n in zip(lls[:k], doc["n_tokens"])]
    elif doc["mean"]:
        scores = [ll / n for ll, n in zip(lls[:k], doc["n_tokens"])]
    else:
        scores = list(lls[:k])
    best = max(scores)
    return scores.index(best) if scores.count(best) == 1 else -1


def process_results(doc, results):
    lls = [r[0] for r in results]
    return {"acc": float(answer(doc, lls) == doc["label"])}
'''


@dataclass(frozen=True)
class TaskFiles:
    """What ``write_tasks`` wrote: the lm-eval task name, its directory and how many documents tokenize unlike the
    book under lm-eval's split (0 means lm-eval scores exactly the book's token sequences)."""

    name: str
    directory: Path
    n_docs: int
    mismatched: int
    digest: str  # svd_icl.prompts.prompt_digest of the book's prompts: the "prompt" field of their results key


def lm_eval_split(tokenizer: PreTrainedTokenizerBase, context: str, continuation: str) -> tuple[list[int], list[int]]:
    """Context and continuation ids as lm-eval's causal ``_encode_pair`` makes them (lm-eval 0.4.x): trailing
    whitespace of the context moves to the continuation, the pair is tokenized whole and split at the context's
    length. Restated to check the written files without running lm-eval; the agreement test runs lm-eval itself."""
    stripped = context.rstrip()
    continuation = context[len(stripped) :] + continuation
    whole = tokenizer(stripped + continuation)["input_ids"]
    ctx = tokenizer(stripped)["input_ids"]
    return ctx, whole[len(ctx) :]


def task_name(task: str, shots: int, seed: int, split: str, n: int) -> str:
    return f"svd_icl_{task}_{shots}shot_seed{seed}_{split}{n}"


def _documents(
    data: TaskData, split: str, tokenizer: PreTrainedTokenizerBase, words: tuple[str, ...], prompts: EncodedPrompts
) -> tuple[list[dict], int]:
    """One lm-eval document per query of ``prompts`` (the book's encoding of ``data``), and the number whose
    lm-eval tokens differ from the book's."""
    task = data.task
    prefix_text = "".join(demonstration_text(task, r, words) for r in data.demos.to_dict("records"))
    docs, mismatched = [], 0
    for i, row in enumerate(getattr(data, split).to_dict("records")):
        context = prefix_text + task.query(row)
        if task.kind == "choice":
            choices, delimiter = list(task.choices(row)), ""
        else:
            choices, delimiter = list(words), " "
        book_ctx = prompts.prefix + prompts.queries[i]
        extra, ok = set(), True
        for c, choice in enumerate(choices):
            ctx, cont = lm_eval_split(tokenizer, context, delimiter + choice)
            cand = prompts.candidates[i][c]
            k = len(cont) - len(cand)
            ok &= k >= 0 and ctx + cont == book_ctx + cand and cont[k:] == cand
            extra.add(tuple(cont[: max(k, 0)]))
        stripped = context.rstrip()
        ws = context[len(stripped) :]
        baseline = bool(ws)
        if baseline:  # the whitespace alone must be exactly the extra tokens every choice was scored with
            _, ws_ids = lm_eval_split(tokenizer, stripped, ws)
            ok &= extra == {tuple(ws_ids)}
            # lm-eval refuses an empty choice, so the whitespace goes to the start of every choice and is the
            # baseline choice on its own: the same token sequences, and lm-eval scores the whitespace alone too.
            context, choices = stripped, [ws + c for c in choices] + [ws]
        else:
            ok &= extra == {()}
        mismatched += not ok
        docs.append(
            {
                "context": context,
                "choices": choices,
                "label": int(row["label"]),
                "n_choices": len(choices) - baseline,
                "n_tokens": [len(c) for c in prompts.candidates[i]],
                "mean": bool(prompts.length_normalize),
                "baseline": baseline,
                "delimiter": delimiter,
            }
        )
    return docs, mismatched


def _yaml(name: str, docs_file: Path, delimiter: str, meta: dict) -> str:
    """The task file. Written as text because of lm-eval's ``!function`` tag; strings are JSON (valid YAML)."""
    lines = [
        f"task: {name}",
        "dataset_path: json",
        "dataset_kwargs:",
        "  data_files:",
        f"    test: {json.dumps(str(docs_file))}",
        "test_split: test",
        "output_type: multiple_choice",
        "doc_to_text: context",  # a document field: the text is used as it is, never run through Jinja
        "doc_to_choice: choices",
        "doc_to_target: label",
        f"target_delimiter: {json.dumps(delimiter)}",
        'fewshot_delimiter: ""',
        "num_fewshot: 0",
        "process_results: !function utils.process_results",
        "metric_list:",
        "  - metric: acc",
        "    aggregation: mean",
        "    higher_is_better: true",
        "metadata:",
        "  version: 1",
        *[f"  {k}: {json.dumps(v)}" for k, v in meta.items()],
    ]
    return "\n".join(lines) + "\n"


def write_tasks(
    task: str,
    out: str | Path,
    tokenizer: PreTrainedTokenizerBase,
    shots: int | None = None,
    seed: int = 0,
    n: int | None = None,
    split: str = "test",
    label_words: tuple[str, ...] | None = None,
    order: str = "shuffled",
    demo_seed: int | None = None,
    data_root: str | None = None,
    tokenizer_name: str = "",
    force: bool = False,
) -> TaskFiles:
    """Write ``<name>.yaml``, ``<name>.jsonl`` and ``utils.py`` into ``out`` for ``lm_eval --include_path out``.

    The queries and demonstrations are :func:`svd_icl.tasks.prepare`'s for these arguments (the same rows as a sweep
    point with the same task, shots, seed, split and n), so lm-eval's per-document answers can be set beside a
    stored point's. ``tokenizer`` is the scored model's: the BOS convention and COPA's token counts are its own.
    """
    from svd_icl.export import check_out

    if split not in ("validation", "test"):
        raise ValueError(f"split must be 'validation' or 'test', got {split!r}")
    out = check_out(out, force)
    data = prepare(
        task,
        shots,
        seed,
        n_validation=n if split == "validation" else None,
        n_test=n if split == "test" else None,
        data_root=data_root,
        order=order,
        demo_seed=demo_seed,
    )
    words = tuple(label_words) if label_words is not None else data.task.label_words
    prompts = encode(data, split, tokenizer, label_words=words)
    docs, mismatched = _documents(data, split, tokenizer, words, prompts)
    name = task_name(data.task.name, len(data.demos), seed, split, len(docs))
    out.mkdir(parents=True, exist_ok=True)
    docs_file = (out / f"{name}.jsonl").resolve()
    docs_file.write_text("".join(json.dumps(d) + "\n" for d in docs))
    meta = {
        "svd_icl_task": data.task.name,
        "shots": len(data.demos),
        "seed": seed,
        "demo_seed": demo_seed,
        "order": order,
        "split": split,
        "n": len(docs),
        "prompt_digest": prompt_digest(prompts),
        "tokenizer": tokenizer_name,
        "bos": "added by the tokenizer" if prompts.prefix[:1] == [tokenizer.bos_token_id] else "none",
        "mismatched_docs": mismatched,
    }
    (out / f"{name}.yaml").write_text(_yaml(name, docs_file, docs[0]["delimiter"] if docs else " ", meta))
    (out / "utils.py").write_text(UTILS)
    return TaskFiles(name, out, len(docs), mismatched, meta["prompt_digest"])


def scoring_module(directory: str | Path) -> ModuleType:
    """The ``utils.py`` written into ``directory`` (the rule lm-eval ran), to turn logged samples into answers."""
    path = Path(directory) / "utils.py"
    spec = importlib.util.spec_from_file_location("svd_icl_lm_eval_utils", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def sample_answers(samples: list[dict], directory: str | Path) -> list[int]:
    """Per-document answers from lm-eval's logged samples (``log_samples=True``), in document order."""
    rule = scoring_module(directory)
    ordered = sorted(samples, key=lambda s: s["doc_id"])
    return [rule.answer(s["doc"], [float(r[0]) for r in s["filtered_resps"]]) for s in ordered]
