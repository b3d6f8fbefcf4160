"""The seven ICL tasks of the paper: data, prompts (Table 1), label words, splits (App. C.3), demonstrations.

Data come from ``<data_dir>/<task>/<split>.jsonl`` (Hugging Face field names; ``data_dir`` from the argument or
``$SVD_ICL_DATA``) or, when no directory is given, from the Hugging Face Hub through ``datasets``.

Choices where the paper is silent or the authors' code differs (each is a field or an argument):

- Prompt strings follow the authors' code (``../reference``): one demonstration is the query text followed by
  ``" " + label word`` and a newline; demonstrations are concatenated with nothing else between them.
- Label words follow the authors' code: pos/neg (SST-2), world/sports/business/science (AGNews),
  false/true (MRPC), Yes/No (RTE), Yes/No/Maybe (CB). EmoC is binarised into "others" vs any emotion, as the
  authors' code does (the paper's text says "happiness and others"); its label words are others/emotion.
- Demonstrations are class-balanced, drawn from the train split with a seed, and the same demonstrations serve
  every query, as in the authors' code. The authors interleave them by class (0, 1, 0, 1, ...); we shuffle them
  by default (``order``), because a base model copies the alternation (see the Figure 1 chapter).
- Shot numbers default to App. C.3 (10, 8 for AGNews, 15 for CB); the authors' scripts used 5 for RTE, CB and
  COPA. Validation and test splits follow App. C.3: e.g. SST-2 validates on 8,000 train sentences and tests on the
  rest of train; RTE, CB and COPA test on their validation split. Both can be subsampled (``n``) with the seed.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class SplitRule:
    """Where a role's examples come from: ``source`` split, optionally excluding the demonstration pool's
    draws (``from_train_rest``) and capped at ``size`` examples (None: all)."""

    source: str
    from_train_rest: bool = False
    size: int | None = None


@dataclass(frozen=True)
class Task:
    name: str
    kind: str  # "classification" or "choice"
    hub: tuple[str, str | None]  # (dataset path, config) on the Hugging Face Hub
    label_words: tuple[str, ...]
    query: Callable[[dict], str]  # the prompt text before the answer
    shots: int
    validation: SplitRule
    test: SplitRule
    choices: Callable[[dict], list[str]] | None = None  # for kind == "choice"
    normalize: Callable[[pd.DataFrame], pd.DataFrame] = field(default=lambda df: df)
    metric: str = "accuracy"  # what the paper reports

    @property
    def num_classes(self) -> int:
        return len(self.label_words) if self.kind == "classification" else 2


def _clean(text: str) -> str:
    # GLUE keeps a trailing space on SST-2 sentences and EmoC has double spaces; neither belongs in a prompt.
    return " ".join(str(text).split())


def _emoc(df: pd.DataFrame) -> pd.DataFrame:
    """Local EmoC rows have turn1..3 and string labels; HF `emo` has `text` and ints (0 = others)."""
    if "turn1" in df.columns:
        text = df.turn1.map(_clean) + " " + df.turn2.map(_clean) + " " + df.turn3.map(_clean)
        label = (df.label != "others").astype(int)
    else:
        text = df.text.map(_clean)
        label = (df.label != 0).astype(int)
    return pd.DataFrame({"text": text, "label": label})


TASKS: dict[str, Task] = {
    t.name: t
    for t in [
        Task(
            "sst2",
            "classification",
            ("glue", "sst2"),
            ("negative", "positive"),
            lambda r: f"text: {_clean(r['sentence'])}\nsentiment:",
            10,
            validation=SplitRule("train", True, 8000),
            test=SplitRule("train", True),
        ),
        Task(
            "agnews",
            "classification",
            ("ag_news", None),
            ("world", "sports", "business", "science"),
            lambda r: f"text: {_clean(r['text'])}\nclassification:",
            8,
            validation=SplitRule("train", True, 8000),
            test=SplitRule("test"),
        ),
        Task(
            "emoc",
            "classification",
            ("emo", None),
            ("others", "emotion"),
            lambda r: f"text: {r['text']}\nsentiment:",
            10,
            validation=SplitRule("train", True, 5000),
            test=SplitRule("test"),
            normalize=_emoc,
        ),
        Task(
            "mrpc",
            "classification",
            ("glue", "mrpc"),
            ("false", "true"),
            lambda r: f"sentence1: {_clean(r['sentence1'])}\nsentence2: {_clean(r['sentence2'])}\nlabel:",
            10,
            validation=SplitRule("validation"),
            test=SplitRule("test"),
        ),
        Task(
            "rte",
            "classification",
            ("super_glue", "rte"),
            ("Yes", "No"),
            lambda r: (
                f"{_clean(r['premise'])} Does this mean that {_clean(r['hypothesis'])} is true? select Yes or No?"
            ),
            10,
            validation=SplitRule("train", True),
            test=SplitRule("validation"),
        ),
        Task(
            "cb",
            "classification",
            ("super_glue", "cb"),
            ("Yes", "No", "Maybe"),
            lambda r: (
                f'Suppose {_clean(r["premise"])} Can we infer that "{_clean(r["hypothesis"])}"? Yes, No, or Maybe?'
            ),
            15,
            validation=SplitRule("train", True),
            test=SplitRule("validation"),
            metric="accuracy",
        ),
        Task(
            "copa",
            "choice",
            ("super_glue", "copa"),
            (),
            lambda r: f"{_clean(r['premise'])}\n{r['question']}\n",
            10,
            validation=SplitRule("train", True, 200),
            test=SplitRule("validation"),
            choices=lambda r: [_clean(r["choice1"]), _clean(r["choice2"])],
            metric="macro_f1",
        ),
    ]
}


def get_task(name: str) -> Task:
    if name not in TASKS:
        raise ValueError(f"unknown task {name!r}; choose one of: {', '.join(TASKS)}")
    return TASKS[name]


def data_dir(explicit: str | os.PathLike | None = None) -> Path | None:
    """The local data directory: the argument, else ``$SVD_ICL_DATA``, else None (use the Hub)."""
    value = explicit if explicit is not None else os.environ.get("SVD_ICL_DATA")
    return Path(value).expanduser() if value else None


def load_split(task: str, split: str, data_root: str | os.PathLike | None = None) -> pd.DataFrame:
    """Rows of ``split`` for ``task`` as a DataFrame with Hugging Face field names, normalised for the task."""
    t = get_task(task)
    root = data_dir(data_root)
    if root is not None:
        path = root / t.name / f"{split}.jsonl"
        if not path.exists():
            raise FileNotFoundError(
                f"no data file {path} for task {t.name!r}, split {split!r}. Either put {split}.jsonl "
                f"(Hugging Face field names) in {root / t.name}, or unset SVD_ICL_DATA / data_dir to load "
                f"{t.hub[0]}{'/' + t.hub[1] if t.hub[1] else ''} from the Hugging Face Hub."
            )
        df = pd.read_json(path, lines=True, dtype=False)
    else:
        import datasets  # imported lazily: only the Hub path needs it

        df = datasets.load_dataset(t.hub[0], t.hub[1], split=split).to_pandas()
    return t.normalize(df).reset_index(drop=True)


@dataclass(frozen=True)
class TaskData:
    """Demonstrations and evaluation rows for one (task, seed): everything a prompt needs."""

    task: Task
    demos: pd.DataFrame
    validation: pd.DataFrame
    test: pd.DataFrame
    seed: int


DEMO_ORDERS = ("shuffled", "interleaved")


def balanced_demonstrations(
    pool: pd.DataFrame, shots: int, num_classes: int, rng: np.random.Generator, order: str = "shuffled"
) -> list[int]:
    """Row indices of ``shots`` class-balanced demonstrations.

    ``order="interleaved"`` is the authors' (class 0, 1, ..., 0, 1, ...); ``"shuffled"`` puts the same draws in a
    seeded random order. A strict alternation is a pattern a base model can copy instead of reading the query
    (the SST-2 chapter measures this), so shuffled is our default.
    """
    if order not in DEMO_ORDERS:
        raise ValueError(f"demonstration order {order!r} not one of {DEMO_ORDERS}")
    if shots == 0:
        return []
    per_class = [rng.permutation(pool.index[pool.label == c].to_numpy()) for c in range(num_classes)]
    picked, taken = [], [0] * num_classes
    for i in range(shots):
        c = i % num_classes
        if taken[c] >= len(per_class[c]):
            raise ValueError(f"class {c} has only {len(per_class[c])} examples; cannot draw {shots} balanced shots")
        picked.append(int(per_class[c][taken[c]]))
        taken[c] += 1
    return picked if order == "interleaved" else [picked[i] for i in rng.permutation(len(picked))]


def prepare(
    task: str,
    shots: int | None = None,
    seed: int = 0,
    n_validation: int | None = None,
    n_test: int | None = None,
    data_root: str | os.PathLike | None = None,
    order: str = "shuffled",
) -> TaskData:
    """Draw demonstrations, validation and test rows for ``task`` deterministically from ``seed``.

    ``shots`` defaults to App. C.3. ``n_validation``/``n_test`` subsample (seeded) after the paper's split rule;
    None keeps the paper's sizes.
    """
    t = get_task(task)
    shots = t.shots if shots is None else int(shots)
    if shots < 0:
        raise ValueError(f"shots must be >= 0, got {shots}")
    rng = np.random.default_rng(seed)
    train = load_split(t.name, "train", data_root)
    if t.kind == "choice":
        demo_idx = [int(i) for i in rng.permutation(len(train))[:shots]]
    else:
        demo_idx = balanced_demonstrations(train, shots, t.num_classes, rng, order)
    rest = train.drop(index=demo_idx)
    rest = rest.iloc[rng.permutation(len(rest))]
    taken_val = 0

    def take(rule: SplitRule, n: int | None) -> pd.DataFrame:
        nonlocal taken_val
        if rule.from_train_rest:
            pool = rest.iloc[taken_val:]
            size = len(pool) if rule.size is None else min(rule.size, len(pool))
            rows = pool.iloc[:size]
            taken_val += size  # validation is drawn first, so test never reuses its rows
        else:
            rows = load_split(t.name, rule.source, data_root)
            rows = (
                rows.iloc[rng.permutation(len(rows))]
                if rule.size is None
                else rows.sample(rule.size, random_state=seed)
            )
        if n is not None:
            rows = rows.iloc[: int(n)]
        return rows.reset_index(drop=True)

    validation = take(t.validation, n_validation)
    test = take(t.test, n_test)
    for role, rows, rule in (("validation", validation, t.validation), ("test", test, t.test)):
        if rows.empty:
            raise ValueError(
                f"{t.name}: the {role} split is empty ({rule}); the train split has only {len(train)} rows"
            )
    return TaskData(t, train.loc[demo_idx].reset_index(drop=True), validation, test, seed)
