"""Resumable sweeps: few-shot metrics of one model and task over (layer, module, clip rate) points.

Every finished point is appended to a :class:`~svd_icl.results.ResultStore` with the settings that produced it;
rerunning the same sweep skips what is already there. Clip rate 0 is the unpruned model (weights untouched).
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from svd_icl.architectures import architecture_for, check_layer, decoder_layers, select_matrices
from svd_icl.evaluation import FastEvaluator
from svd_icl.prompts import EncodedPrompts, check_separator, encode, prompt_digest
from svd_icl.pruning import Pruner
from svd_icl.results import FORMAT_VERSION, ResultStore
from svd_icl.svd import DEFAULT_CLIP_RATES, check_clip_rate
from svd_icl.tasks import DEMO_ORDERS, check_count, get_task, prepare

KEY_FIELDS = (
    "format", "model", "task", "split", "n", "offset", "shots", "seed", "demo_seed", "demo_set", "order", "label_words",
    "prompt", "scoring", "dtype", "device", "layer", "module", "clip_rate",
)  # fmt: skip


@dataclass
class SweepConfig:
    """What to evaluate. ``layers`` may be negative (from the end); ``n`` caps the split's size (None: all).

    ``order`` and ``label_words`` (None: the task's) are the prompt choices; every field that can change a number is
    part of each stored point's key, together with the model's dtype and device and a digest of the prompt tokens.
    """

    model: str
    task: str
    layers: list[int]
    modules: list[str] = field(default_factory=lambda: ["attn", "mlp"])
    clip_rates: list[float] = field(default_factory=lambda: list(DEFAULT_CLIP_RATES))
    shots: int | None = None
    seed: int = 0
    split: str = "test"
    n: int | None = None
    batch_size: int = 16
    data_root: str | None = None
    order: str = "shuffled"
    label_words: tuple[str, ...] | None = None
    demo_seed: int | None = None  # None: the demonstrations of ``seed``; else other draws over the same queries
    demo_set: int | None = None  # a confirmation's fresh demonstration set (svd_icl.tasks.confirmation_set)
    offset: int = 0  # test rows skipped before the ``n`` scored (a confirmation's query block)
    bos: bool | None = None  # None: the book's (BOS exactly when the tokenizer adds one); True/False force it
    separator: str = "\n"  # what follows each demonstration (the prompt-format control tries "\n\n")

    def check(self) -> list[str]:
        """Validate everything that needs no model; return notes on repeated values (dropped). Raises ValueError."""
        task = get_task(self.task)
        notes = []
        if not self.clip_rates:
            raise ValueError("clip_rates is empty: give at least one clip rate in [0, 1)")
        for xi in self.clip_rates:
            check_clip_rate(xi)
        if not self.layers:
            raise ValueError("layers is empty: give at least one layer index (negative counts from the end)")
        for layer in self.layers:
            if isinstance(layer, bool) or not isinstance(layer, (int, np.integer)):
                raise ValueError(f"layer {layer!r} is not an integer; give layer indices such as 0, 1, -1")
        if not self.modules or any(not str(m).strip() for m in self.modules):
            raise ValueError(f"modules {self.modules!r}: give at least one of attn, mlp, all or a matrix name")
        if self.split not in ("validation", "test"):
            raise ValueError(f"split must be 'validation' or 'test', got {self.split!r}")
        check_count("n", self.n, 1)
        check_count("shots", self.shots, 0)
        check_count("batch_size", self.batch_size, 1, optional=False)
        check_count("seed", self.seed, 0, optional=False)
        check_count("demo_seed", self.demo_seed, 0)
        check_count("demo_set", self.demo_set, 0)
        check_count("offset", self.offset, 0, optional=False)
        if self.demo_seed is not None and self.demo_set is not None:
            raise ValueError(f"give demo_seed ({self.demo_seed}) or demo_set ({self.demo_set}), not both")
        if self.offset and self.split != "test":
            raise ValueError(f"offset {self.offset}: only test rows come in blocks; use split='test' or offset 0")
        check_separator(self.separator)
        if self.order not in DEMO_ORDERS:
            raise ValueError(f"order {self.order!r} not one of {', '.join(DEMO_ORDERS)}")
        if self.label_words is not None and task.kind == "classification" and len(self.label_words) != task.num_classes:
            raise ValueError(
                f"label_words {tuple(self.label_words)!r}: {task.name} has {task.num_classes} classes, "
                f"so give {task.num_classes} words"
            )
        for name in ("layers", "modules", "clip_rates"):
            values = getattr(self, name)
            unique = list(dict.fromkeys(float(v) if name == "clip_rates" else v for v in values))
            if len(unique) < len(values):
                notes.append(f"{name}: repeated values ignored ({len(values) - len(unique)} of {len(values)})")
            setattr(self, name, unique)
        return notes

    def validate(self, model: PreTrainedModel) -> list[str]:
        """:meth:`check`, then what needs the model: layer indices in range and module names of its family.
        Returns :meth:`check`'s notes."""
        notes = self.check()
        arch = architecture_for(model)
        for layer in self.layers:
            check_layer(model, layer, arch)
        for module in self.modules:
            select_matrices(arch, module)
        return notes

    @property
    def words(self) -> tuple[str, ...]:
        return tuple(self.label_words) if self.label_words is not None else get_task(self.task).label_words

    @property
    def resolved_shots(self) -> int:
        return get_task(self.task).shots if self.shots is None else int(self.shots)


def model_settings(model: PreTrainedModel) -> dict:
    """The model state that changes numbers besides its name: parameter dtype and device type."""
    param = next(model.parameters())
    return {"dtype": str(param.dtype).removeprefix("torch."), "device": param.device.type}


def _common(config: SweepConfig, dtype: str, device: str) -> dict:
    return {
        "format": FORMAT_VERSION,
        "model": config.model,
        "task": config.task,
        "split": config.split,
        "n": config.n,
        "offset": config.offset or None,  # None at 0: points stored before blocks existed keep their keys
        "shots": config.resolved_shots,
        "seed": config.seed,
        "demo_seed": config.demo_seed,
        "demo_set": config.demo_set,
        "order": config.order,
        "label_words": "/".join(config.words),
        "dtype": dtype,
        "device": device,
    }


def saved_points(out: str | Path, config: SweepConfig, dtype: str = "float32", device: str = "cpu") -> pd.DataFrame:
    """The points of ``config`` already in ``out``, without loading the model (a chapter can replot from results).

    Negative layers are resolved with the ``num_layers`` stored in each record.
    """
    want = _common(config, dtype, device)
    # matched on the stored records, not on a frame: a frame turns an optional field (None or an int) into NaN or
    # a float; a field absent from old records reads as its default, None
    frame = pd.DataFrame(
        [r for r in ResultStore(out, KEY_FIELDS).records() if all(r.get(k) == v for k, v in want.items())]
    )
    if frame.empty:
        return frame.reset_index(drop=True)
    layer_ok = [any(la == absolute_layer(x, n) for x in config.layers) for la, n in zip(frame.layer, frame.num_layers)]
    keep = (
        np.array(layer_ok, dtype=bool)
        & frame.module.isin(config.modules).to_numpy()
        & frame.clip_rate.isin([float(x) for x in config.clip_rates]).to_numpy()
    )
    return frame[keep].reset_index(drop=True)


@dataclass
class SweepPlan:
    """A validated sweep on one model: the prompts it scores, the key fields its points share, its layers.

    Built by :func:`plan_sweep` wherever the model is (in-process, or in a Ray worker): the units of work
    (:meth:`pending`) and the records (:func:`unit_records`) are the same either way.
    """

    config: SweepConfig
    prompts: EncodedPrompts
    common: dict
    layers: list[int]
    num_layers: int

    def point(self, layer: int, module: str, xi: float) -> dict:
        return {**self.common, "layer": layer, "module": module, "clip_rate": float(xi)}

    def pending(
        self, done: set[str], key: Callable[[dict], str], have_unpruned: bool = False
    ) -> list[tuple[int, str, list[float]]]:
        """Units of work, ``(layer, module, clip rates not yet in done)``; a unit keeps its layer's resume cache.

        Clip rate 0 is the unpruned model, the same answers whatever the (layer, module) of its key: it is computed
        in one unit only (the deepest layer's, where resuming makes it cheapest), and in none if ``have_unpruned``
        (an unpruned record of these prompts is stored); :func:`fill_unpruned` then copies it to the other keys.
        """
        units = [
            (la, mo, [xi for xi in self.config.clip_rates if key(self.point(la, mo, xi)) not in done])
            for la in sorted(self.layers, reverse=True)
            for mo in self.config.modules
        ]
        for i, (_, _, rates) in enumerate(units):
            if 0.0 in rates and (have_unpruned or any(0.0 in r for _, _, r in units[:i])):
                rates.remove(0.0)
        return [(la, mo, rates) for la, mo, rates in units if rates]

    def wanted(self, key: Callable[[dict], str]) -> set[str]:
        return {key(self.point(la, mo, xi)) for la in self.layers for mo in self.config.modules
                for xi in self.config.clip_rates}  # fmt: skip


def unpruned_record(records: list[dict], plan: SweepPlan) -> dict | None:
    """A stored unpruned evaluation (clip rate 0) of ``plan``'s prompts under its settings, at any (layer, module)."""
    for r in records:
        if r.get("clip_rate") == 0.0 and all(r.get(k) == v for k, v in plan.common.items()):
            return r
    return None


def fill_unpruned(store: ResultStore, plan: SweepPlan) -> int:
    """Store, for every clip-rate-0 point ``plan`` wants and ``store`` lacks, a copy of a stored unpruned record of
    the same prompts with this point's layer and module: the answers are the same model's on the same queries, so
    they are not computed again. A copy records ``reused_from`` (the layer and module it was computed under) and
    ``seconds`` 0 (no compute spent). Returns the number of copies."""
    twin = unpruned_record(store.records(), plan)
    if twin is None:
        return 0
    copies = 0
    done = store.done()
    for la in plan.layers:
        for mo in plan.config.modules:
            point = plan.point(la, mo, 0.0)
            if 0.0 in plan.config.clip_rates and store.key(point) not in done:
                origin = twin.get("reused_from") or {"layer": twin["layer"], "module": twin["module"]}
                copies += store.append({**twin, **point, "seconds": 0.0, "ranks": None, "reused_from": origin,
                                        "config": asdict(plan.config), "time": time.time()})  # fmt: skip
    return copies


def plan_sweep(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, config: SweepConfig) -> SweepPlan:
    """Validate ``config`` against ``model``, draw the queries and demonstrations and encode the prompts."""
    for note in config.validate(model):
        warnings.warn(f"sweep: {note}", stacklevel=3)
    arch = architecture_for(model)
    layers = sorted({check_layer(model, x, arch) for x in config.layers})
    if len(layers) < len(config.layers):
        warnings.warn(
            f"sweep: layers {config.layers} name {len(layers)} distinct layers ({layers}); each is computed once",
            stacklevel=3,
        )
    settings = model_settings(model)
    return prompt_plan(tokenizer, config, settings["dtype"], settings["device"], len(decoder_layers(model, arch)))


def absolute_layer(layer: int, num_layers: int) -> int:
    """A layer index counted from the top when negative (-1: the deepest), as Python indexes a list."""
    return layer if layer >= 0 else layer + num_layers


def prompt_plan(
    tokenizer: PreTrainedTokenizerBase, config: SweepConfig, dtype: str, device: str, num_layers: int
) -> SweepPlan:
    """The :class:`SweepPlan` of ``config`` for a model of ``num_layers`` layers, without the model: what a build
    plan (:mod:`svd_icl.plan`) needs to count stored points and estimate the rest. Layers are resolved, not
    checked against a model (:func:`plan_sweep` checks them)."""
    layers = sorted({absolute_layer(x, num_layers) for x in config.layers})
    data = prepare(
        config.task,
        config.shots,
        config.seed,
        n_validation=config.n if config.split == "validation" else None,
        n_test=config.n if config.split == "test" else None,
        data_root=config.data_root,
        order=config.order,
        demo_seed=config.demo_seed,
        demo_set=config.demo_set,
        offset=config.offset,
    )
    prompts = encode(data, config.split, tokenizer, config.label_words, config.bos, config.separator)
    common = {
        **_common(config, dtype, device),
        "prompt": prompt_digest(prompts),
        "scoring": "mean_loglik" if prompts.length_normalize else "sum_loglik",
    }
    return SweepPlan(config, prompts, common, layers, num_layers)


def unit_records(
    model: PreTrainedModel,
    plan: SweepPlan,
    layer: int,
    module: str,
    clip_rates: list[float],
    evaluator: FastEvaluator | None = None,
    pruner: Pruner | None = None,
) -> Iterator[dict]:
    """The finished records of one unit, one clip rate at a time (a layer-resumed sweep of that layer)."""
    evaluator = evaluator or FastEvaluator(model, plan.prompts, batch_size=plan.config.batch_size, progress=False)
    pruner = pruner or Pruner(model)
    for xi, result in evaluator.sweep(pruner, layer, module, clip_rates):
        yield {
            **plan.point(layer, module, xi),
            **result.metrics(),
            **result.per_query(),
            "num_layers": plan.num_layers,
            "seconds": round(result.seconds, 4),
            "ranks": result.extra.get("ranks"),
            "config": asdict(plan.config),
            "time": time.time(),
        }


def select(records: list[dict], keys: set[str], key: Callable[[dict], str]) -> pd.DataFrame:
    """The records whose keys are in ``keys``, as a frame. Keys are computed on the records as stored: a frame
    would turn an optional integer field (``demo_seed``: None or 1) into floats and NaN, and change its key."""
    return pd.DataFrame([r for r in records if key(r) in keys])


def run_sweep(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    config: SweepConfig,
    out: str | Path,
    progress: bool = True,
) -> pd.DataFrame:
    """Evaluate every missing point of ``config``, appending each to ``out``; return this sweep's records.

    Everything is validated before the results file is touched; each record holds the per-query predictions, so
    any two points can be compared with a paired test later without recomputing. For many GPUs or machines, see
    :func:`svd_icl.distributed.run_sweep_ray` (same records).
    """
    plan = plan_sweep(model, tokenizer, config)
    store = ResultStore(out, KEY_FIELDS)
    store.open()  # checks that the file can be written before anything is computed
    todo = plan.pending(store.done(), store.key, unpruned_record(store.records(), plan) is not None)
    total = sum(len(r) for _, _, r in todo)
    if total:
        evaluator = FastEvaluator(model, plan.prompts, batch_size=config.batch_size, progress=False)
        pruner = Pruner(model)
        bar = tqdm(total=total, desc=f"{config.task} sweep", disable=not progress, mininterval=5)
        for layer, module, rates in todo:
            for record in unit_records(model, plan, layer, module, rates, evaluator, pruner):
                store.append(record)
                bar.update()
        bar.close()
    fill_unpruned(store, plan)
    return select(store.records(), plan.wanted(store.key), store.key)


def prompt_variants(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    task: str,
    variants: dict[str, dict],
    shots: int | None = None,
    seed: int = 0,
    n_validation: int | None = None,
    n_test: int | None = None,
    batch_size: int = 16,
    data_root: str | None = None,
) -> pd.DataFrame:
    """Unpruned scores under prompt choices, e.g. ``{"authors": {"order": "interleaved", "label_words": (...)}}``,
    on both the validation and the test rows (one row per variant and split, with per-query predictions).

    Each variant may set ``order`` (demonstration order) and ``label_words``; the demonstrations (same draws) and
    the queries are shared, so rows differ only by the named choice. Choose on validation
    (:func:`svd_icl.claims.choose_variant`), report on test.
    """
    rows = []
    for name, choice in variants.items():
        order = choice.get("order", "shuffled")
        data = prepare(task, shots, seed, n_validation=n_validation, n_test=n_test, data_root=data_root, order=order)
        words = tuple(choice.get("label_words") or data.task.label_words)
        for split in ("validation", "test"):
            prompts = encode(data, split, tokenizer, label_words=words)
            result = FastEvaluator(model, prompts, batch_size=batch_size, progress=False).evaluate()
            rows.append(
                {
                    "variant": name,
                    "split": split,
                    "order": order,
                    "label_words": "/".join(words),
                    **result.metrics(),
                    **result.per_query(),
                    "prompt": prompt_digest(prompts),
                }
            )
    return pd.DataFrame(rows)
