"""Algorithm 1 of the paper (App. C.2): condition-number-guided layer choice and clip-rate search.

1. Compute the condition numbers of the chosen module type (ATTN or MLP) in every layer.
2. Take the ``k`` layers with the largest ones and, among them, the deepest layer ``l``.
3. Score every clip rate of the grid on the validation split (fixed demonstrations); keep the best ``xi*``.
4. Report the unpruned and the pruned (``l``, ``xi*``) model on the test split.

Two choices the paper leaves open, both parameters here:

- *Aggregation*: a module has several matrices (q, k, v, o), each with its condition number; the per-layer number
  is their ``max`` (default) or ``mean``. The authors' code has no selection step (layers are hard-coded).
- *Ties in the search*: Algorithm 1 updates ``xi*`` only on a strictly larger score while scanning the grid in
  increasing order, so among equal validation scores the smallest clip rate (least pruning) wins. We keep that rule.

The evaluation is the engine's: the validation grid is one layer-resumed sweep, which for the deep layers that
Algorithm 1 picks costs a fraction of one full evaluation per clip rate.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from svd_icl.architectures import architecture_for, decoder_layers, select_matrices, weight_view
from svd_icl.conditioning import AGGREGATES, DEFAULT_AGGREGATE, condition_numbers, layer_condition
from svd_icl.evaluation import EvalResult, FastEvaluator
from svd_icl.prompts import encode
from svd_icl.pruning import Pruner
from svd_icl.results import FORMAT_VERSION, ResultStore
from svd_icl.stats import paired_comparison
from svd_icl.svd import DEFAULT_CLIP_RATES, check_clip_rate, factorized_params, rank_for_clip_rate
from svd_icl.sweep import model_settings
from svd_icl.tasks import check_count, get_task, prepare

DEFAULT_GRID = DEFAULT_CLIP_RATES
# Everything that changes an Algorithm 1 run's numbers; a stored run is reused only when all of them match.
RUN_KEY = (
    "format", "model", "task", "module", "seed", "k", "aggregate", "shots", "n_validation", "n_test", "grid",
    "order", "label_words", "dtype", "device",
)  # fmt: skip


def layer_scores(cond: pd.DataFrame, module: str, aggregate: str = DEFAULT_AGGREGATE) -> pd.Series:
    """Per-layer condition number of ``module``: :func:`svd_icl.conditioning.layer_condition` (one home)."""
    return layer_condition(cond, module, aggregate)


def select_layer(cond: pd.DataFrame, module: str, k: int, aggregate: str = DEFAULT_AGGREGATE) -> tuple[int, list[int]]:
    """The deepest layer among the ``k`` with the largest condition numbers; also returns those ``k`` layers."""
    scores = layer_scores(cond, module, aggregate)
    if not isinstance(k, int) or isinstance(k, bool) or not 1 <= k <= len(scores):
        raise ValueError(f"k must be an integer in [1, {len(scores)}] (the number of layers), got {k!r}")
    top = scores.sort_values(ascending=False, kind="stable").index[:k].tolist()
    return max(top), sorted(top)


def best_clip_rate(scores: dict[float, float]) -> float:
    """Algorithm 1's search: scan clip rates in increasing order, keep one only if strictly better."""
    if not scores:
        raise ValueError("the clip-rate grid is empty: give at least one clip rate")
    best_xi, best = None, float("-inf")
    for xi in sorted(scores):
        if scores[xi] > best:
            best_xi, best = xi, scores[xi]
    return best_xi


@dataclass
class Algorithm1Result:
    model: str
    task: str
    module: str
    k: int
    aggregate: str
    layer: int
    top_k_layers: list[int]
    best_clip_rate: float
    validation: dict[float, float]  # clip rate -> validation metric
    test_unpruned: dict
    test_pruned: dict
    metric: str
    test_labels: list[int]
    test_predictions_unpruned: list[int]
    test_predictions_pruned: list[int]
    params_saved: int  # if the truncated matrices were stored as rank-r factors
    params_module: int
    settings: dict = field(default_factory=dict)

    def row(self) -> dict:
        """Table 2-8 format: model, layer, module, optimal xi, test metric unpruned -> pruned."""
        before, after = self.test_unpruned[self.metric], self.test_pruned[self.metric]
        return {
            "model": self.model,
            "task": self.task,
            "layer": self.layer,
            "module": self.module.upper(),
            "optimal_xi": self.best_clip_rate,
            "metric": self.metric,
            "test_unpruned": before,
            "test_pruned": after,
            "change": after - before,
            "params_saved": self.params_saved,
        }

    def to_dict(self) -> dict:
        return asdict(self)

    def effect(self) -> str:
        """The chosen truncation's measured effect on the test queries, for a model card: the paired difference
        with its 95% interval and exact McNemar p (one selected setting, so nothing to adjust for)."""
        labels = np.asarray(self.test_labels)
        before = np.asarray(self.test_predictions_unpruned) == labels
        after = np.asarray(self.test_predictions_pruned) == labels
        c = paired_comparison(before.astype(float), after.astype(float))
        return (
            f"Algorithm 1 chose layer {self.layer} {self.module.upper()}, clip rate {self.best_clip_rate:g}, on "
            f"validation; on {c.n} held-out {self.task} test queries accuracy went from {before.mean():.1%} to "
            f"{after.mean():.1%} (paired difference {100 * c.difference:+.1f} points, 95% interval "
            f"[{100 * c.low:+.1f}, {100 * c.high:+.1f}], {c.test} p = {c.p_value:.3g})."
        )

    def record(self) -> dict:
        """The run as a results-file record: its key fields at the top level, then everything else."""
        return {**self.settings, **self.to_dict()}


Evaluate = Callable[[str, int, str, list[float]], dict[float, EvalResult]]


def engine_evaluator(
    model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, data, batch_size: int = 16
) -> Evaluate:
    """``evaluate(split, layer, module, rates)`` on ``data`` with the fast engine (one layer-resumed sweep)."""
    pruner = Pruner(model)
    evaluators = {
        split: FastEvaluator(model, encode(data, split, tokenizer), batch_size, progress=False)
        for split in ("validation", "test")
    }

    def evaluate(split: str, layer: int, module: str, rates: list[float]) -> dict[float, EvalResult]:
        return dict(evaluators[split].sweep(pruner, layer, module, rates))

    return evaluate


def parameters_saved(model: PreTrainedModel, layer: int, module: str, clip_rate: float) -> tuple[int, int]:
    """(parameters saved by storing each truncated matrix as rank-r factors where that is smaller, module size)."""
    arch = architecture_for(model)
    block = decoder_layers(model, arch)[layer]
    saved = total = 0
    for _, spec in select_matrices(arch, module).values():
        m, n = weight_view(block, spec).shape
        total += m * n
        saved += max(0, m * n - factorized_params((m, n), rank_for_clip_rate((m, n), clip_rate)))
    return saved, total


def run_fields(
    model_name: str, task: str, module: str, seed: int, k: int = 3, aggregate: str = DEFAULT_AGGREGATE,
    grid: tuple[float, ...] = DEFAULT_GRID, shots: int | None = None, n_validation: int | None = None,
    n_test: int | None = None, dtype: str = "float32", device: str = "cpu",
) -> dict:  # fmt: skip
    """The :data:`RUN_KEY` of a run (without ``format``, which the results store adds), from its settings alone:
    what :func:`stored_run` and the build plan both match a stored run on (one matcher)."""
    t = get_task(task)
    return {
        "model": model_name,
        "task": task,
        "module": module,
        "seed": seed,
        "k": k,
        "aggregate": aggregate,
        "shots": t.shots if shots is None else int(shots),
        "n_validation": n_validation,
        "n_test": n_test,
        "grid": [float(x) for x in grid],
        "order": "shuffled",
        "label_words": "/".join(t.label_words),
        "dtype": dtype,
        "device": device,
    }


def run_key(
    model: PreTrainedModel, model_name: str, task: str, module: str, k: int, aggregate: str, grid: tuple[float, ...],
    shots: int | None, seed: int, n_validation: int | None, n_test: int | None,
) -> dict:  # fmt: skip
    """:func:`run_fields` with the model's dtype and device."""
    return run_fields(model_name, task, module, seed, k, aggregate, grid, shots, n_validation, n_test,
                      **model_settings(model))  # fmt: skip


def find_run(store: ResultStore, fields: dict) -> dict | None:
    """The stored record whose key is ``fields``' (:func:`run_fields`), or None."""
    wanted = store.key({"format": FORMAT_VERSION, **fields})
    return next((rec for rec in store.records() if store.key(rec) == wanted), None)


def stored_run(store: ResultStore, model: PreTrainedModel, model_name: str, run: dict) -> dict | None:
    """The record of ``run`` (task, module, seed and :func:`algorithm1` keyword arguments) in ``store``, or None."""
    return find_run(store, run_key(
        model, model_name, run["task"], run["module"], run.get("k", 3), run.get("aggregate", DEFAULT_AGGREGATE),
        tuple(run.get("grid", DEFAULT_GRID)), run.get("shots"), run["seed"], run.get("n_validation"),
        run.get("n_test"),
    ))  # fmt: skip


def algorithm1(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase | None,
    model_name: str,
    task: str,
    module: str,
    k: int = 3,
    aggregate: str = "max",
    grid: tuple[float, ...] = DEFAULT_GRID,
    shots: int | None = None,
    seed: int = 0,
    n_validation: int | None = None,
    n_test: int | None = None,
    data_root: str | None = None,
    batch_size: int = 16,
    cond: pd.DataFrame | None = None,
    evaluate: Evaluate | None = None,
) -> Algorithm1Result:
    """Run Algorithm 1 for one (model, task, module). ``cond`` and ``evaluate`` can be supplied (tests, reuse)."""
    t = get_task(task)
    if module not in ("attn", "mlp"):
        raise ValueError(f"module must be 'attn' or 'mlp' (Algorithm 1's ATTN / MLP), got {module!r}")
    grid = tuple(check_clip_rate(x) for x in grid)
    if not grid:
        raise ValueError("the clip-rate grid is empty: give at least one clip rate")
    if aggregate not in AGGREGATES:
        raise ValueError(f"aggregate {aggregate!r} not one of {AGGREGATES}")
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ValueError(f"k must be an integer in [1, number of layers], got {k!r}")
    check_count("batch_size", batch_size, 1, optional=False)
    data = None
    if evaluate is None:  # load and check the data (sizes, files, fields) before any compute
        data = prepare(task, shots, seed, n_validation=n_validation, n_test=n_test, data_root=data_root)
    cond = condition_numbers(model, module=module, progress=False) if cond is None else cond
    layer, top = select_layer(cond, module, k, aggregate)
    if evaluate is None:
        evaluate = engine_evaluator(model, tokenizer, data, batch_size)
    metric = t.metric
    validation = {xi: r.metrics()[metric] for xi, r in evaluate("validation", layer, module, list(grid)).items()}
    xi_star = best_clip_rate(validation)
    test = evaluate("test", layer, module, sorted({0.0, xi_star}))
    saved, total = parameters_saved(model, layer, module, xi_star) if xi_star > 0 else (0, 0)
    settings = run_key(model, model_name, task, module, k, aggregate, grid, shots, seed, n_validation, n_test)
    return Algorithm1Result(
        model=model_name,
        task=task,
        module=module,
        k=k,
        aggregate=aggregate,
        layer=layer,
        top_k_layers=top,
        best_clip_rate=xi_star,
        validation=validation,
        test_unpruned=test[0.0].metrics(),
        test_pruned=test[xi_star].metrics(),
        metric=metric,
        test_labels=test[0.0].labels.tolist(),
        test_predictions_unpruned=test[0.0].predictions.tolist(),
        test_predictions_pruned=test[xi_star].predictions.tolist(),
        params_saved=saved,
        params_module=total,
        settings=settings,
    )
