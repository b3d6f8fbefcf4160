"""Token-level prompts: the demonstration prefix, each query, and each query's candidate continuations.

Both evaluation paths (the fast one with a cached prefix and the naive full-prompt one) consume the same token
ids, so any difference between them is arithmetic, never tokenization.  Candidates are tokenized on their own
with their leading space (``" pos"``) and appended to the query's tokens; the prefix ends with a newline, so the
boundary between prefix and query never merges tokens.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

import numpy as np
from transformers import PreTrainedTokenizerBase

from svd_icl.tasks import Task, TaskData


@dataclass(frozen=True)
class EncodedPrompts:
    """``prefix`` (demonstrations, with BOS if the tokenizer adds one), ``queries[i]`` token ids,
    ``candidates[i][c]`` continuation ids of candidate c for query i, ``labels[i]`` the gold candidate."""

    prefix: list[int]
    queries: list[list[int]]
    candidates: list[list[list[int]]]
    labels: np.ndarray
    length_normalize: bool  # COPA: mean per-token log-likelihood (Table 1); classification: sum

    def __len__(self) -> int:
        return len(self.queries)

    @property
    def shared_single_tokens(self) -> list[int] | None:
        """Candidate ids when every query has the same single-token candidates (logits at one position suffice)."""
        first = self.candidates[0] if self.candidates else []
        if self.length_normalize or any(len(c) != 1 for c in first):
            return None
        if any(cands != first for cands in self.candidates):
            return None
        return [c[0] for c in first]


def label_token_ids(tokenizer: PreTrainedTokenizerBase, words: tuple[str, ...]) -> list[list[int]]:
    """Token ids of each label word as a continuation (``" " + word``), checked for odd tokenizations.

    Raises when a word tokenizes to nothing, does not decode back to itself, or two words share a token sequence
    (they would be indistinguishable). Multi-token words are fine: they are scored over all their tokens.
    """
    for w in words:
        if not w.strip():
            raise ValueError(f"label word {w!r} is empty; label words must be non-blank strings")
    ids = [tokenizer(" " + w, add_special_tokens=False)["input_ids"] for w in words]
    for w, t in zip(words, ids):
        decoded = tokenizer.decode(t)
        if not t or decoded.strip() != w.strip():
            raise ValueError(
                f"label word {w!r} tokenizes oddly with this tokenizer: {t} decodes to {decoded!r}; "
                "choose label words that round-trip (e.g. plain lowercase words)"
            )
    seen: dict[tuple[int, ...], str] = {}
    for w, t in zip(words, ids):
        if tuple(t) in seen:
            raise ValueError(f"label words {seen[tuple(t)]!r} and {w!r} have the same tokens {t}")
        seen[tuple(t)] = w
    return ids


def demonstration_text(task: Task, row: dict, label_words: tuple[str, ...], separator: str = "\n") -> str:
    """One demonstration: the query text, then (classification) a space and the label word, or (COPA) the correct
    choice with no space (the query ends with a newline), then ``separator`` (the book's: one newline)."""
    if task.kind == "choice":
        return task.query(row) + task.choices(row)[int(row["label"])] + separator
    return task.query(row) + " " + label_words[int(row["label"])] + separator


def check_separator(separator: str) -> str:
    """A demonstration separator must be whitespace ending in a newline: the query then starts a line of its own,
    and the prefix/query boundary never merges tokens."""
    if not separator or separator.strip() or not separator.endswith("\n"):
        raise ValueError(f"separator {separator!r}: give whitespace that ends with a newline (e.g. '\\n' or '\\n\\n')")
    return separator


def encode(
    data: TaskData,
    split: str,
    tokenizer: PreTrainedTokenizerBase,
    label_words: tuple[str, ...] | None = None,
    bos: bool | None = None,
    separator: str = "\n",
) -> EncodedPrompts:
    """Tokenize the demonstrations and the rows of ``split`` ("validation" or "test") of ``data``.

    The book's format is the default: a BOS token exactly when the tokenizer adds one itself (``bos=None``) and one
    newline after each demonstration. ``bos=True``/``False`` forces one in or out and ``separator`` changes what
    follows each demonstration: neutral format changes, for the prompt-format control (:mod:`svd_icl.formats`).
    """
    if split not in ("validation", "test"):
        raise ValueError(f"split must be 'validation' or 'test', got {split!r}")
    task = data.task
    words = tuple(label_words) if label_words is not None else task.label_words
    if task.kind == "classification" and len(words) != task.num_classes:
        raise ValueError(f"{task.name} has {task.num_classes} classes but {len(words)} label words were given")
    check_separator(separator)
    prefix_text = "".join(demonstration_text(task, r, words, separator) for r in data.demos.to_dict("records"))
    prefix = tokenizer(prefix_text, add_special_tokens=True)["input_ids"] if prefix_text else []
    if not prefix and tokenizer.bos_token_id is not None and adds_bos(tokenizer):
        prefix = [tokenizer.bos_token_id]
    if bos is not None:
        if tokenizer.bos_token_id is None:
            raise ValueError("bos=True/False asked, but this tokenizer has no BOS token")
        has = prefix[:1] == [tokenizer.bos_token_id]
        if bos and not has:
            prefix = [tokenizer.bos_token_id, *prefix]
        elif not bos and has:
            prefix = prefix[1:]
    rows = getattr(data, split).to_dict("records")
    queries = [tokenizer(task.query(r), add_special_tokens=False)["input_ids"] for r in rows]
    if task.kind == "classification":
        cand = label_token_ids(tokenizer, words)
        candidates = [cand for _ in rows]
    else:
        candidates = [[tokenizer(c, add_special_tokens=False)["input_ids"] for c in task.choices(r)] for r in rows]
    labels = np.array([int(r["label"]) for r in rows], dtype=np.int64)
    return EncodedPrompts(prefix, queries, candidates, labels, length_normalize=task.kind == "choice")


def adds_bos(tokenizer: PreTrainedTokenizerBase) -> bool:
    probe = tokenizer("a", add_special_tokens=True)["input_ids"]
    return bool(probe) and probe[0] == tokenizer.bos_token_id


def prompt_digest(prompts: EncodedPrompts) -> str:
    """A short hash of every token the evaluation reads (prefix, queries, candidates) and the gold labels.

    Two runs with the same digest score the same token sequences, whatever produced them; a different template,
    label wording, demonstration order or tokenizer changes it. Stored in every result key.
    """
    payload = json.dumps([prompts.prefix, prompts.queries, prompts.candidates, prompts.labels.tolist()])
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def render_example(data: TaskData, label_words: tuple[str, ...] | None = None, split: str = "test") -> str:
    """The text of a one-demonstration prompt followed by the first query of ``split`` and its first candidate
    continuation, exactly as the evaluation builds it (before tokenization)."""
    task = data.task
    words = tuple(label_words) if label_words is not None else task.label_words
    demo = demonstration_text(task, data.demos.iloc[0].to_dict(), words) if len(data.demos) else ""
    row = getattr(data, split).iloc[0].to_dict()
    first = task.choices(row)[0] if task.kind == "choice" else " " + words[0]
    return demo + task.query(row) + first


def visible_whitespace(text: str) -> str:
    """``text`` with spaces as ``·`` and newlines as ``⏎`` (then a line break), for showing a prompt exactly."""
    return text.replace(" ", "·").replace("\n", "⏎\n")


def prompt_examples_markdown(data_root: str | None = None, seed: int = 0) -> str:
    """A Markdown section per task showing one demonstration and one query exactly as the evaluation renders
    them (whitespace made visible), generated from real rows: the Evaluation chapter includes it."""
    from svd_icl.tasks import TASKS, prepare

    parts = [
        "Each block is one demonstration followed by one test query and its first candidate continuation, "
        "generated by `svd_icl.prompts.render_example` from the data (seed "
        f"{seed}); `·` is a space and `⏎` a newline.\n"
    ]
    for name in TASKS:
        data = prepare(name, shots=1 if TASKS[name].kind == "choice" else TASKS[name].num_classes, seed=seed,
                       n_validation=1, n_test=1, data_root=data_root)  # fmt: skip
        data = TaskData(data.task, data.demos.iloc[:1], data.validation, data.test, seed, data.order)
        text = visible_whitespace(render_example(data))
        parts.append(f"**{name}**\n\n```text\n{text}\n```\n")
    return "\n".join(parts)


if __name__ == "__main__":
    print(prompt_examples_markdown())
