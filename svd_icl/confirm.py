"""The confirmatory half of a best-of-m claim: a setting picked on validation, scored once on held-out queries.

An exploratory sweep searches (layer, module, clip rate) on *validation* queries; :func:`select_best` picks its
best point there. :func:`confirm` then scores that one setting and the unpruned model on the *test* queries (the
paper's test split rules: disjoint from the demonstration pool and from every validation row), with the
demonstrations of the sweep's seed and of further demonstration seeds over the same queries, and the unpruned
model at 0 shots on the same queries (the reference :func:`svd_icl.claims.core.degenerate` needs). Each point is
an ordinary sweep point, so it is stored, keyed and resumed like every other (:func:`svd_icl.sweep.run_sweep`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from svd_icl.sweep import SweepConfig, run_sweep
from svd_icl.tasks import check_count


@dataclass(frozen=True)
class Selection:
    """The setting an exploratory search picked for one (model, task): an absolute layer index."""

    model: str
    task: str
    layer: int
    module: str
    clip_rate: float


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


def confirm(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    selection: Selection,
    out: str | Path,
    shots: int | None,
    seed: int = 0,
    demo_seeds: tuple[int, ...] = (),
    n: int | None = None,
    batch_size: int = 16,
    data_root: str | None = None,
    progress: bool = True,
) -> pd.DataFrame:
    """Score ``selection`` and the unpruned model on the test queries of ``seed`` (``n`` of them; None: all),
    with the demonstrations of ``seed`` and of each of ``demo_seeds``, plus the unpruned model at 0 shots.

    Returns the records with a ``role`` column: ``unpruned`` / ``selected`` (one pair per demonstration seed,
    ``demo_seed`` None for ``seed``'s own) and ``zero_shot``.
    """
    check_count("n", n, 1)
    for s in demo_seeds:
        check_count("demo_seed", s, 0, optional=False)
    if seed in demo_seeds:
        raise ValueError(f"demo_seeds {tuple(demo_seeds)} repeat seed {seed}: give further seeds")
    common = dict(model=selection.model, task=selection.task, layers=[selection.layer], modules=[selection.module],
                  seed=seed, split="test", n=n, batch_size=batch_size, data_root=data_root)  # fmt: skip
    frames = []
    for demo_seed in (None, *demo_seeds):
        config = SweepConfig(**common, clip_rates=[0.0, selection.clip_rate], shots=shots, demo_seed=demo_seed)
        points = run_sweep(model, tokenizer, config, out, progress=progress)
        frames.append(points.assign(role=["unpruned" if xi == 0 else "selected" for xi in points.clip_rate]))
    zero = run_sweep(model, tokenizer, SweepConfig(**common, clip_rates=[0.0], shots=0), out, progress=progress)
    frames.append(zero.assign(role="zero_shot"))
    return pd.concat(frames, ignore_index=True)
