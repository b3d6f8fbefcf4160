"""The seven ICL tasks of the paper: data, prompts (Table 1), label words, splits (App. C.3), demonstrations.

Data come from ``<data_dir>/<task>/<split>.jsonl`` (Hugging Face field names; ``data_dir`` from the argument or
``$SVD_ICL_DATA``) or, when no directory is given, from the Hugging Face Hub through ``datasets``.

Choices where the paper is silent or the authors' code differs (each is a field or an argument):

- Prompt strings follow the authors' code (``../reference``): a classification demonstration is the query text,
  a space, the label word and a newline; a COPA demonstration is the query text (which ends with a newline) and
  the correct choice *with no space*, then a newline. Demonstrations are concatenated with nothing between them.
  ``svd_icl.prompts.render_example`` shows the exact strings (the Evaluation chapter prints them).
- Label words: negative/positive for SST-2 (the authors use pos/neg, which breaks small base models: the Figure 2
  chapter measures it), world/sports/business/science (AGNews), false/true (MRPC), Yes/No (RTE), Yes/No/Maybe
  (CB). EmoC is binarised into "others" vs any emotion, as the authors' code does (the paper's text says
  "happiness and others"); its label words are others/emotion.
- Demonstrations are class-balanced, drawn with a seed from a pool of train rows reserved before any query is
  drawn, and the same demonstrations serve every query, as in the authors' code. The authors interleave them by
  class (0, 1, 0, 1, ...); we shuffle them by default (``order``).
- Validation and test rows come from a random stream of their own, so they are the same for every shot number,
  demonstration order and label wording (paired comparisons need the same queries).
- Shot numbers default to App. C.3 (10, 8 for AGNews, 15 for CB); the authors' scripts used 5 for RTE, CB and
  COPA. Validation and test splits follow App. C.3: e.g. SST-2 validates on 8,000 train sentences and tests on the
  rest of train; RTE, CB and COPA test on their validation split. Both can be subsampled (``n``) with the seed.

Why one long module: every rule that keeps two roles of a row apart (demonstration pools, confirmation pools,
validation, test, SST-2's phrase-level duplicates) lives here, so that their disjointness can be read, and is
tested, in one place; splitting them would put the rules that must agree in different files.
"""

from __future__ import annotations

import functools
import json
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
    fields: tuple[str, ...] = ()  # fields every data row must have (Hugging Face names), besides "label"
    dedupe: str | None = None  # a text field whose test rows must not nest with other rows (GLUE phrase fragments)

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
            fields=("sentence",),
            dedupe="sentence",  # GLUE's SST-2 train rows are parse-tree fragments: one is often inside another
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
            fields=("text",),
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
            fields=(),  # either turn1..turn3 (local files) or text (Hub); checked by _emoc
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
            fields=("sentence1", "sentence2"),
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
            fields=("premise", "hypothesis"),
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
            fields=("premise", "hypothesis"),
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
            fields=("premise", "question", "choice1", "choice2"),
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


def read_jsonl(path: Path) -> pd.DataFrame:
    """Rows of a JSON-lines file; a line that is not a JSON object is an error naming the file and line.

    Parsed line by line with :mod:`json` rather than ``pandas.read_json`` so that the error can say where.
    """
    rows = []
    with path.open(encoding="utf-8") as fh:
        for number, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ValueError(f"{_short(path)} line {number}: not valid JSON ({exc.msg})") from None
            if not isinstance(row, dict):
                raise ValueError(f"{_short(path)} line {number}: expected a JSON object, got {type(row).__name__}")
            rows.append(row)
    if not rows:
        raise ValueError(f"{_short(path)} is empty: it holds no rows")
    return pd.DataFrame(rows)


def _short(path: Path) -> str:
    """``<task>/<split>.jsonl``: enough to find the file, short enough for a one-line error."""
    return f"{path.parent.name}/{path.name}"


def required_fields(task: Task, columns) -> tuple[str, ...]:
    """The fields a row of ``task`` must have, given the columns present (EmoC accepts two layouts)."""
    if task.name == "emoc":
        return ("turn1", "turn2", "turn3", "label") if "turn1" in columns else ("text", "label")
    return (*task.fields, "label")


def check_rows(task: Task, df: pd.DataFrame, where: str) -> None:
    """Raise a one-line error naming ``where`` when rows lack a field the task needs or have a bad label."""
    need = required_fields(task, df.columns)
    missing = [f for f in need if f not in df.columns or df[f].isna().any()]
    if missing:
        raise ValueError(f"{where}: rows lack field {missing[0]!r} ({task.name} needs {', '.join(need)})")
    if task.name == "emoc":
        return  # EmoC's labels are strings (local) or ints (Hub); _emoc binarises either
    labels = pd.to_numeric(df.label, errors="coerce")
    allowed = range(task.num_classes)
    bad = ~labels.isin(allowed)
    if bad.any():
        first = int(np.flatnonzero(bad.to_numpy())[0])
        raise ValueError(
            f"{where}: row {first + 1} has label {df.label.tolist()[first]!r}; {task.name} labels are "
            f"{', '.join(map(str, allowed))}"
        )


def load_split(task: str, split: str, data_root: str | os.PathLike | None = None) -> pd.DataFrame:
    """Rows of ``split`` for ``task`` as a DataFrame with Hugging Face field names, normalised for the task.

    A local file is checked as it is read: bad JSON, a missing field or an out-of-range label is an error that
    names the file (and the line or row) and what the task expects.
    """
    t = get_task(task)
    root = data_dir(data_root)
    hub = f"{t.hub[0]}{'/' + t.hub[1] if t.hub[1] else ''}"
    if root is not None:
        path = root / t.name / f"{split}.jsonl"
        if not path.exists():
            raise FileNotFoundError(
                f"no data file {path} for task {t.name!r}, split {split!r}. Either put {split}.jsonl "
                f"(Hugging Face field names) in {root / t.name}, or unset SVD_ICL_DATA / data_dir to load "
                f"{hub} from the Hugging Face Hub."
            )
        df = read_jsonl(path)
        where = _short(path)
    else:
        import datasets  # imported lazily: only the Hub path needs it

        try:
            df = datasets.load_dataset(t.hub[0], t.hub[1], split=split).to_pandas()
        except ConnectionError as exc:  # offline, or the Hub unreachable: say how to use local files instead
            raise FileNotFoundError(
                f"cannot load {hub} ({split}) from the Hugging Face Hub ({exc}); set SVD_ICL_DATA (or --data-dir) "
                f"to a directory holding {t.name}/{split}.jsonl, or make the Hub reachable (HF_HUB_OFFLINE=1 reads "
                "its local cache)"
            ) from None
        where = f"{t.hub[0]} {split}"
    check_rows(t, df, where)
    return t.normalize(df).reset_index(drop=True)


@dataclass(frozen=True)
class TaskData:
    """Demonstrations and evaluation rows for one (task, seed): everything a prompt needs."""

    task: Task
    demos: pd.DataFrame
    validation: pd.DataFrame
    test: pd.DataFrame
    seed: int
    order: str = "shuffled"


DEMO_ORDERS = ("shuffled", "interleaved")

# Train rows reserved, per class, as the pool demonstrations are drawn from (all of a class when it has fewer
# than twice this). Reserving the pool before any query is drawn is what keeps the validation and test rows the
# same for every shot number and demonstration order; 32 per class leaves room for the paper's 8-15 shots.
DEMO_POOL_PER_CLASS = 32


def _streams(seed: int) -> tuple[np.random.Generator, np.random.Generator]:
    """Two independent generators from one seed: (queries and splits, demonstrations)."""
    split_seq, demo_seq = np.random.SeedSequence(seed).spawn(2)
    return np.random.default_rng(split_seq), np.random.default_rng(demo_seq)


def demonstration_pool(train: pd.DataFrame, task: Task, rng: np.random.Generator) -> pd.Index:
    """Train rows set aside for demonstrations: ``DEMO_POOL_PER_CLASS`` per class (half a class if it is small)."""
    if task.kind == "choice":
        groups = [train.index.to_numpy()]
        per = 2 * DEMO_POOL_PER_CLASS
    else:
        groups = [train.index[train.label == c].to_numpy() for c in range(task.num_classes)]
        per = DEMO_POOL_PER_CLASS
    picked = [rng.permutation(g)[: min(per, max(1, len(g) // 2))] for g in groups if len(g)]
    return pd.Index(np.sort(np.concatenate(picked)) if picked else [])


def balanced_demonstrations(
    pool: pd.DataFrame, shots: int, num_classes: int, rng: np.random.Generator, order: str = "shuffled"
) -> list[int]:
    """Row indices of ``shots`` class-balanced demonstrations.

    ``order="interleaved"`` is the authors' (class 0, 1, ..., 0, 1, ...); ``"shuffled"`` puts the same draws in a
    seeded random order. A strict alternation is a pattern a base model can copy instead of reading the query
    (the Figure 2 chapter measures what it does), so shuffled is our default.
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
            raise ValueError(
                f"class {c} has only {len(per_class[c])} examples in the demonstration pool; "
                f"cannot draw {shots} balanced shots"
            )
        picked.append(int(per_class[c][taken[c]]))
        taken[c] += 1
    return picked if order == "interleaved" else [picked[i] for i in rng.permutation(len(picked))]


def check_count(name: str, value: int | None, minimum: int, optional: bool = True) -> int | None:
    """``value`` as an int >= ``minimum`` (None passes through when ``optional``); else an error naming ``name``.

    The one check of counts (sizes, shots, seeds, batch sizes) for every public entry point, the command line's
    options included (``name`` is then the option).
    """
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} {value!r}: must be an integer >= {minimum}{' (or unset)' if optional else ''}")
    return int(value)


# Train rows reserved, per class, for the confirmation's fresh demonstration sets (svd_icl.confirm): carved from
# the *end* of the shuffled rows left after the demonstration pool and after what the size-capped query roles take,
# so every validation and test row keeps its position (query rows stay nested prefixes) and a capped role its size;
# a role that takes all the remaining rows keeps at least half of them.
CONFIRM_POOL_PER_CLASS = 160


def _carve(rest: pd.DataFrame, task: Task) -> pd.Index:
    """The confirmation pool's rows: of the rows of ``rest`` beyond those the capped train-rest roles take, the last
    ``CONFIRM_POOL_PER_CLASS`` of each class (``2 x`` that for a choice task), at most half of them where a role
    takes every remaining row."""
    rules = [r for r in (task.validation, task.test) if r.from_train_rest]
    needed = sum(r.size for r in rules if r.size is not None)
    share = 2 if any(r.size is None for r in rules) else 1
    tail = rest.iloc[min(needed, len(rest)) :]
    groups = [tail.index] if task.kind == "choice" else [tail.index[tail.label == c] for c in range(task.num_classes)]
    per = 2 * CONFIRM_POOL_PER_CLASS if task.kind == "choice" else CONFIRM_POOL_PER_CLASS
    taken = [g[len(g) - min(per, len(g) // share) :] for g in groups]
    return pd.Index(np.concatenate([t.to_numpy() for t in taken])) if taken else pd.Index([])


def _spans(words: list[str]) -> set[str]:
    return {" ".join(words[i:j]) for i in range(len(words)) for j in range(i + 1, len(words) + 1)}


def _non_nested(rows: pd.DataFrame, seen: pd.DataFrame, field: str, needed: int | None) -> pd.DataFrame:
    """The first ``needed`` (None: all) of ``rows``, in order, whose ``field`` (as words) neither lies inside nor
    contains the text of a row of ``seen`` or of an earlier row of ``rows``: GLUE's SST-2 train split holds phrases
    cut from the same parse trees, and a query inside a demonstration or a search row is not held out. Prefix-stable:
    the first k kept rows do not depend on ``needed``."""
    full, inside = set(), set()  # texts seen; every word span of a text seen

    def add(words: list[str]) -> None:
        full.add(" ".join(words))
        inside.update(_spans(words))

    for text in seen[field]:
        add(str(text).split())
    keep = []
    for i, text in enumerate(rows[field]):
        words = str(text).split()
        if " ".join(words) in inside or not full.isdisjoint(_spans(words)):
            continue
        keep.append(i)
        add(words)
        if needed is not None and len(keep) >= needed:
            break
    return rows.iloc[keep]


@functools.lru_cache(maxsize=16)
def _roles(task: str, seed: int, data_root: str | None) -> tuple[pd.DataFrame, ...]:
    """(demonstration pool, validation rows, test rows, confirmation pool) of ``(task, seed)`` at full size, in their
    seeded order; cached because every sweep and every demonstration set of a confirmation asks again."""
    t = get_task(task)
    rng, _ = _streams(seed)
    train = load_split(t.name, "train", data_root)
    pool = demonstration_pool(train, t, rng)
    rest = train.drop(index=pool)
    rest = rest.iloc[rng.permutation(len(rest))]
    carved = _carve(rest, t)
    rest = rest.drop(index=carved)
    taken = 0

    def take(rule: SplitRule, role: str) -> pd.DataFrame:
        nonlocal taken
        if rule.from_train_rest:
            available = rest.iloc[taken:]
            size = len(available) if rule.size is None else min(rule.size, len(available))
            rows = available.iloc[:size]
            taken += size  # validation is drawn first, so test never reuses its rows
        else:
            rows = load_split(t.name, rule.source, data_root)
            rows = rows.iloc[rng.permutation(len(rows))]
            if rule.size is not None:
                rows = rows.iloc[: rule.size]
        if rows.empty:
            raise ValueError(
                f"{t.name}: the {role} split is empty: its rule takes {rule.source!r}"
                f"{' rows left after the demonstration pool and validation' if rule.from_train_rest else ''}, "
                f"and the train split has only {len(train)} rows"
            )
        return rows

    validation = take(t.validation, "validation")
    test = take(t.test, "test")
    return train.loc[pool], validation, test, train.loc[carved]


@functools.lru_cache(maxsize=64)
def _test_rows(task: str, seed: int, data_root: str | None, needed: int | None) -> pd.DataFrame:
    pool, validation, test, carved = _roles(task, seed, data_root)
    field = get_task(task).dedupe
    if field is None:
        return test if needed is None else test.iloc[:needed]
    return _non_nested(test, pd.concat([validation, pool, carved]), field, needed)


def query_rows(
    task: str,
    seed: int = 0,
    n_validation: int | None = None,
    n_test: int | None = None,
    data_root: str | os.PathLike | None = None,
    offset: int = 0,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(demonstration pool, validation rows, test rows) for ``(task, seed)``, independent of shots and order.

    Drawn from their own random stream: the rows a run is scored on depend only on the task, the seed and the
    subsample sizes, so settings that differ in shots, demonstration order, label words or template are compared
    on the same queries. Train rows used for queries are never in the demonstration pool or the confirmation pool
    (:func:`confirmation_pool`). ``offset`` skips the first test rows: a confirmation scores each demonstration set
    on its own block ``[offset, offset + n_test)``. A task with a ``dedupe`` field keeps only test rows that do not
    nest with a search row, a pool row or an earlier test row.
    """
    t = get_task(task)
    n_validation = check_count("n_validation", n_validation, 1)
    n_test = check_count("n_test", n_test, 1)
    offset = check_count("offset", offset, 0, optional=False)
    root = None if data_dir(data_root) is None else str(data_dir(data_root))
    pool, validation, _, _ = _roles(t.name, seed, root)
    test = _test_rows(t.name, seed, root, None if n_test is None else offset + n_test)
    test = test.iloc[offset:] if n_test is None else test.iloc[offset : offset + n_test]
    if test.empty:
        raise ValueError(f"{t.name}: no test rows from offset {offset}: the test split has fewer rows")
    if n_validation is not None:
        validation = validation.iloc[:n_validation]
    return pool.copy(), validation.reset_index(drop=True), test.reset_index(drop=True)


def confirmation_pool(task: str, seed: int = 0, data_root: str | os.PathLike | None = None) -> pd.DataFrame:
    """Train rows the confirmation's demonstration sets are drawn from: the carved rows (:func:`_carve`) and the
    demonstration pool's rows; in none of them is a validation or test row."""
    root = None if data_dir(data_root) is None else str(data_dir(data_root))
    pool, _, _, carved = _roles(get_task(task).name, seed, root)
    return pd.concat([carved, pool])


def _search_demonstrations(pool: pd.DataFrame, task: Task, shots: int, demo_seed: int, order: str) -> list[int]:
    """Row indices of the demonstrations ``demo_seed`` draws from ``pool`` (the search's prompt when it is the seed)."""
    _, rng = _streams(demo_seed)
    if task.kind == "choice":
        if shots > len(pool):
            raise ValueError(f"{task.name}: {shots} shots asked, but the demonstration pool has {len(pool)} rows")
        return [int(i) for i in rng.permutation(pool.index.to_numpy())[:shots]]
    return balanced_demonstrations(pool, shots, task.num_classes, rng, order)


def _per_class(shots: int, task: Task) -> list[int]:
    """How many of ``shots`` balanced demonstrations each class gets (class i % K for the i-th): one group for a
    choice task."""
    if task.kind == "choice":
        return [shots]
    return [len(range(c, shots, task.num_classes)) for c in range(task.num_classes)]


def confirmation_set(
    task: str, shots: int, seed: int, index: int, data_root: str | os.PathLike | None = None, order: str = "shuffled"
) -> tuple[list[int], bool]:
    """Row indices (into the train split) of the ``index``-th fresh demonstration set of a confirmation, and whether
    it is disjoint from every earlier set.

    Drawn from :func:`confirmation_pool` without the search's own demonstrations (``seed``'s at ``shots``), class by
    class from one seeded permutation cut into consecutive chunks, so sets are disjoint from the search's prompt and
    from each other while the pool allows. Once a class runs out (CB's train split has 16 'neutral' rows), each
    further set draws that class's rows at random from the pool: its sets overlap, and the record says how many are
    disjoint (:func:`disjoint_sets`).
    """
    t = get_task(task)
    check_count("index", index, 0, optional=False)
    pool = confirmation_pool(t.name, seed, data_root)
    search_pool, _, _ = query_rows(t.name, seed, 1, 1, data_root)
    exclude = set(_search_demonstrations(search_pool, t, shots, seed, order))
    pool = pool.drop(index=[i for i in exclude if i in pool.index])
    groups = [pool.index.to_numpy()] if t.kind == "choice" else [
        pool.index[pool.label == c].to_numpy() for c in range(t.num_classes)]  # fmt: skip
    perm_seq, set_seq = np.random.SeedSequence(seed).spawn(3)[2].spawn(2)
    rng = np.random.default_rng(perm_seq)
    orders = [rng.permutation(np.sort(g)) for g in groups]
    set_rng = np.random.default_rng(set_seq.spawn(index + 1)[index])
    picked, disjoint = [], True
    for rows, k in zip(orders, _per_class(shots, t)):
        if k > len(rows):
            raise ValueError(f"{t.name}: a class has {len(rows)} rows in the confirmation pool; {shots} balanced "
                             f"shots need {k}")  # fmt: skip
        if (index + 1) * k <= len(rows):
            picked.append([int(i) for i in rows[index * k : (index + 1) * k]])
        else:
            picked.append([int(i) for i in set_rng.choice(rows, k, replace=False)])
            disjoint = False
    if t.kind == "choice":
        demo = picked[0]
    else:  # interleaved by class as balanced_demonstrations draws them (class i % K for the i-th)
        demo = [picked[i % t.num_classes][i // t.num_classes] for i in range(shots)]
    if order == "shuffled":
        demo = [demo[i] for i in set_rng.permutation(len(demo))]
    return demo, disjoint


def disjoint_sets(task: str, shots: int, seed: int, data_root: str | os.PathLike | None = None) -> int:
    """How many fresh demonstration sets of ``shots`` are disjoint from each other (and from the search's)."""
    t = get_task(task)
    pool = confirmation_pool(t.name, seed, data_root)
    sizes = [len(pool)] if t.kind == "choice" else [int((pool.label == c).sum()) for c in range(t.num_classes)]
    return min((n - k) // k if k else 10**9 for n, k in zip(sizes, _per_class(shots, t)))


def prepare(
    task: str,
    shots: int | None = None,
    seed: int = 0,
    n_validation: int | None = None,
    n_test: int | None = None,
    data_root: str | os.PathLike | None = None,
    order: str = "shuffled",
    demo_seed: int | None = None,
    demo_set: int | None = None,
    offset: int = 0,
) -> TaskData:
    """Demonstrations, validation and test rows for ``task``, deterministic in ``seed``.

    The queries come from :func:`query_rows` (the same for any ``shots`` and ``order``); the demonstrations are
    drawn from the reserved pool with a second stream of the same seed, nested across shot numbers (the 4-shot
    draws are among the 10-shot draws), and ``order`` only rearranges them. ``shots`` defaults to App. C.3;
    ``n_validation``/``n_test`` subsample after the paper's split rules (None: the paper's sizes), ``offset`` skips
    test rows (a confirmation's query blocks). ``demo_seed`` (None: ``seed``) draws other demonstrations from the
    same pool; ``demo_set`` takes the confirmation's fresh set of that index instead (:func:`confirmation_set`).
    """
    t = get_task(task)
    shots = t.shots if shots is None else check_count("shots", shots, 0)
    if order not in DEMO_ORDERS:
        raise ValueError(f"demonstration order {order!r} not one of {DEMO_ORDERS}")
    if demo_set is not None and demo_seed is not None:
        raise ValueError(f"give demo_seed ({demo_seed}) or demo_set ({demo_set}), not both")
    demo_seed = seed if demo_seed is None else check_count("demo_seed", demo_seed, 0, optional=False)
    pool, validation, test = query_rows(task, seed, n_validation, n_test, data_root, offset)
    if demo_set is None:
        demos = pool.loc[_search_demonstrations(pool, t, shots, demo_seed, order)]
    else:
        rows, _ = confirmation_set(t.name, shots, seed, demo_set, data_root, order)
        demos = confirmation_pool(t.name, seed, data_root).loc[rows]
    return TaskData(t, demos.reset_index(drop=True), validation, test, seed, order)
