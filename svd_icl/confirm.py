"""The confirmatory half of a best-of-m claim: a setting picked on validation, scored on held-out queries.

An exploratory sweep searches (layer, module, clip rate) on *validation* queries; :func:`select_best` picks its
best point there. :func:`confirm` then scores that one setting and the unpruned model on *test* queries (the
paper's test split rules: disjoint from the demonstration pools and from every validation row) in two arms:

- **over prompts** (the claim about the method): ``sets`` *fresh* demonstration sets, disjoint from the search's
  and from each other (:func:`svd_icl.tasks.confirmation_set`). In the *nested* design (``Design.queries`` set)
  set ``j`` is scored on its own block of ``queries`` test rows, so sets and their queries are independent units;
  in the *crossed* design (``queries`` None: small test splits) every set scores every test row. The unpruned
  model at 0 shots is scored on the same queries (the reference the per-set guard needs).
- **the tuned prompt** (the paper's own procedure, as Tables 2-8 were produced): the search's demonstrations on the
  first ``Design.tuned`` test rows (whole blocks), with the same 0-shot reference.

Every point is an ordinary sweep point, stored, keyed and resumed like every other (:func:`svd_icl.sweep.run_sweep`):
a confirmation asked for more sets later computes only the sets it lacks, and the unpruned and 0-shot points are
shared by every case of the same model, task and prompt.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from svd_icl.sweep import SweepConfig, run_sweep
from svd_icl.tasks import check_count, disjoint_sets


@dataclass(frozen=True)
class Selection:
    """The setting an exploratory search picked for one (model, task): an absolute layer index."""

    model: str
    task: str
    layer: int
    module: str
    clip_rate: float


@dataclass(frozen=True)
class Design:
    """How a confirmation samples prompts and queries.

    ``looks``: cumulative numbers of fresh demonstration sets at which the sequential confirmation decides
    (:class:`svd_icl.claims.sets.Looks`); ``queries``: test rows per set in the nested design (None: the crossed
    design, every set on all test rows, or on the first ``cap`` of them); ``tuned``: test rows of the tuned-prompt
    arm (a multiple of ``queries`` in the nested design; None: the same rows as the crossed design's).
    """

    looks: tuple[int, ...]
    queries: int | None = None
    tuned: int | None = None
    cap: int | None = None

    def __post_init__(self):
        object.__setattr__(self, "looks", tuple(int(x) for x in self.looks))
        if not self.looks or self.looks[0] < 2 or any(b <= a for a, b in zip(self.looks, self.looks[1:])):
            raise ValueError(f"looks {list(self.looks)}: give increasing numbers of sets, the first at least 2")
        check_count("queries", self.queries, 1)
        check_count("tuned", self.tuned, 1)
        check_count("cap", self.cap, 1)
        if self.queries is not None and self.cap is not None:
            raise ValueError("cap applies to the crossed design only (queries None)")
        if self.queries is not None and self.tuned is not None and self.tuned % self.queries:
            raise ValueError(f"tuned {self.tuned}: the tuned prompt is scored on whole blocks; give a multiple of "
                             f"queries ({self.queries})")  # fmt: skip

    @property
    def nested(self) -> bool:
        return self.queries is not None

    @property
    def max_sets(self) -> int:
        return self.looks[-1]

    def block(self, j: int) -> tuple[int, int | None]:
        """(offset, n) of the test rows set ``j`` is scored on."""
        return (j * self.queries, self.queries) if self.nested else (0, self.cap)

    def tuned_blocks(self) -> list[tuple[int, int | None]]:
        """The (offset, n) blocks of the tuned-prompt arm."""
        if not self.nested:
            return [(0, self.cap)]
        return [self.block(j) for j in range((self.tuned or self.queries) // self.queries)]

    @classmethod
    def for_task(cls, looks, queries: dict, tuned: dict, task: str) -> Design:
        """The design of one task from a chapter's per-task parameters (``queries[task]``, ``tuned[task]``)."""
        return cls(tuple(looks), queries.get(task), tuned.get(task))


def select_best(tests: pd.DataFrame, group: list[str]) -> dict[tuple, Selection]:
    """Per ``group`` (which must include model and task), the point of :func:`svd_icl.claims.point_tests` rows with
    the largest accuracy difference over the unpruned model (among equal ones the smaller adjusted p, then the
    deeper layer and smaller clip rate: deterministic)."""
    picks = {}
    for key, g in tests.groupby(group, sort=False):
        best = g.sort_values(["difference", "p_holm", "layer", "clip_rate"], ascending=[False, True, False, True])
        r = best.iloc[0]
        picks[key if isinstance(key, tuple) else (key,)] = Selection(
            str(r.model), str(r.task), int(r.layer), str(r.module), float(r.clip_rate)
        )
    return picks


def algorithm1_selection(record: dict) -> Selection | None:
    """The setting an Algorithm 1 run chose (the layer its condition numbers picked, the clip rate its validation
    search picked), from its stored record; None when the search kept the unpruned model (xi* = 0): the method's
    output is then the unpruned model itself, and there is no change to confirm."""
    xi = float(record["best_clip_rate"])
    if xi == 0.0:
        return None
    return Selection(str(record["model"]), str(record["task"]), int(record["layer"]), str(record["module"]), xi)


def confirmation_configs(
    selection: Selection, shots: int | None, seed: int, design: Design, sets: int, tuned: bool = True,
    batch_size: int = 16, data_root: str | None = None,
) -> list[tuple[str, int | None, SweepConfig]]:  # fmt: skip
    """Every sweep a confirmation of ``sets`` fresh sets needs, as ``(arm, set, config)``: per set its pair
    (unpruned, selected) on its block, the tuned arm's pairs (``set`` None), and the unpruned 0-shot points of
    every block scored. The build plan prices the same list (:mod:`svd_icl.plan`)."""
    check_count("sets", sets, 1, optional=False)
    if shots == 0:  # no demonstrations to vary: one prompt, scored on the tuned arm's rows
        sets, tuned = 0, True
    common = dict(model=selection.model, task=selection.task, layers=[selection.layer], modules=[selection.module],
                  seed=seed, split="test", batch_size=batch_size, data_root=data_root)  # fmt: skip
    rates = [0.0, selection.clip_rate]
    out, blocks = [], []
    for j in range(sets):
        offset, n = design.block(j)
        out.append(("sets", j, SweepConfig(**common, clip_rates=rates, shots=shots, demo_set=j, offset=offset, n=n)))
        blocks.append((offset, n))
    if tuned:
        for offset, n in design.tuned_blocks():
            out.append(("tuned", None, SweepConfig(**common, clip_rates=rates, shots=shots, offset=offset, n=n)))
            blocks.append((offset, n))
    if shots != 0:  # at 0 shots the unpruned point is the 0-shot reference itself
        for offset, n in dict.fromkeys(blocks):
            out.append(("zero_shot", None, SweepConfig(**common, clip_rates=[0.0], shots=0, offset=offset, n=n)))
    return out


def confirm(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    selection: Selection,
    out: str | Path,
    shots: int | None,
    seed: int,
    design: Design,
    sets: int,
    tuned: bool = True,
    batch_size: int = 16,
    data_root: str | None = None,
    progress: bool = True,
) -> pd.DataFrame:
    """Score ``selection`` and the unpruned model over ``sets`` fresh demonstration sets (and, with ``tuned``, the
    search's own prompt), and the unpruned model at 0 shots on the same queries (:func:`confirmation_configs`).

    Returns the records with columns ``arm`` (``sets`` / ``tuned`` / ``zero_shot``), ``set`` (the fresh set's
    index, else None), ``role`` (``unpruned`` / ``selected`` / ``zero_shot``) and ``disjoint`` (the set shares no
    demonstration with an earlier one: :func:`svd_icl.tasks.disjoint_sets`). At 0 shots there are no
    demonstrations to vary: there is one prompt, scored as the tuned arm.
    """
    frames = []
    configs = confirmation_configs(selection, shots, seed, design, sets, tuned, batch_size, data_root)
    apart = disjoint_sets(selection.task, configs[0][2].resolved_shots, seed, data_root) if shots != 0 else 0
    for arm, j, config in configs:
        points = run_sweep(model, tokenizer, config, out, progress=progress)
        role = ["zero_shot" if arm == "zero_shot" else "unpruned" if xi == 0 else "selected" for xi in points.clip_rate]
        frames.append(points.assign(arm=arm, set=j, role=role, disjoint=j is not None and j < apart))
    return pd.concat(frames, ignore_index=True)
