"""Resumable sweeps: few-shot metrics of one model and task over (layer, module, clip rate) points.

Every finished point is appended to a :class:`~svd_icl.results.ResultStore` with the settings that produced it;
rerunning the same sweep skips what is already there. Clip rate 0 is the unpruned model (weights untouched).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pandas as pd
from tqdm import tqdm
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from svd_icl.architectures import architecture_for, check_layer, select_matrices
from svd_icl.evaluation import FastEvaluator
from svd_icl.prompts import encode
from svd_icl.pruning import Pruner
from svd_icl.results import ResultStore
from svd_icl.svd import check_clip_rate
from svd_icl.tasks import get_task, prepare

KEY_FIELDS = ("model", "task", "split", "n", "shots", "seed", "layer", "module", "clip_rate")


@dataclass
class SweepConfig:
    """What to evaluate. ``layers`` may be negative (from the end); ``n`` caps the split's size (None: all)."""

    model: str
    task: str
    layers: list[int]
    modules: list[str] = field(default_factory=lambda: ["attn", "mlp"])
    clip_rates: list[float] = field(default_factory=lambda: [0.0, 0.1, 0.5, 0.75, 0.9, 0.95, 0.99, 0.995])
    shots: int | None = None
    seed: int = 0
    split: str = "test"
    n: int | None = None
    batch_size: int = 16
    data_root: str | None = None

    def validate(self, model: PreTrainedModel) -> None:
        get_task(self.task)
        if not self.clip_rates:
            raise ValueError("clip_rates is empty: give at least one clip rate in [0, 1)")
        for xi in self.clip_rates:
            check_clip_rate(xi)
        if not self.layers:
            raise ValueError("layers is empty: give at least one layer index")
        arch = architecture_for(model)
        for layer in self.layers:
            check_layer(model, layer, arch)
        for module in self.modules:
            select_matrices(arch, module)
        if self.split not in ("validation", "test"):
            raise ValueError(f"split must be 'validation' or 'test', got {self.split!r}")
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {self.batch_size}")


def run_sweep(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    config: SweepConfig,
    out: str | Path,
    progress: bool = True,
) -> pd.DataFrame:
    """Evaluate every missing point of ``config``, appending each to ``out``; return this sweep's records."""
    config.validate(model)
    store = ResultStore(out, KEY_FIELDS)
    arch = architecture_for(model)
    layers = sorted({check_layer(model, x, arch) for x in config.layers})
    data = prepare(
        config.task,
        config.shots,
        config.seed,
        n_validation=config.n if config.split == "validation" else None,
        n_test=config.n if config.split == "test" else None,
        data_root=config.data_root,
    )
    shots = len(data.demos)
    common = {
        "model": config.model,
        "task": config.task,
        "split": config.split,
        "n": config.n,
        "shots": shots,
        "seed": config.seed,
    }
    done = store.done()

    def point(layer: int, module: str, xi: float) -> dict:
        return {**common, "layer": layer, "module": module, "clip_rate": float(xi)}

    todo = [
        (la, mo, [xi for xi in config.clip_rates if store.key(point(la, mo, xi)) not in done])
        for la in layers
        for mo in config.modules
    ]
    todo = [(la, mo, rates) for la, mo, rates in todo if rates]
    total = sum(len(r) for _, _, r in todo)
    if total:
        prompts = encode(data, config.split, tokenizer)
        evaluator = FastEvaluator(model, prompts, batch_size=config.batch_size, progress=False)
        pruner = Pruner(model)
        bar = tqdm(total=total, desc=f"{config.task} sweep", disable=not progress, mininterval=5)
        for layer, module, rates in todo:
            for xi, result in evaluator.sweep(pruner, layer, module, rates):
                store.append(
                    {
                        **point(layer, module, xi),
                        **result.metrics(),
                        "seconds": round(result.seconds, 4),
                        "ranks": result.extra.get("ranks"),
                        "config": asdict(config),
                        "time": time.time(),
                    }
                )
                bar.update()
        bar.close()
    wanted = {store.key(point(la, mo, xi)) for la in layers for mo in config.modules for xi in config.clip_rates}
    frame = store.frame()
    if frame.empty:
        return frame
    return frame[[store.key(r) in wanted for r in frame.to_dict("records")]].reset_index(drop=True)


def prompt_variants(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    task: str,
    variants: dict[str, dict],
    shots: int | None = None,
    seed: int = 0,
    n: int | None = None,
    batch_size: int = 16,
    data_root: str | None = None,
) -> pd.DataFrame:
    """Unpruned accuracy under prompt choices, e.g. ``{"authors": {"order": "interleaved", "label_words": (...)}}``.

    Each variant may set ``order`` (demonstration order) and ``label_words``; everything else is shared, so the
    rows differ only by the named choice.
    """
    rows = []
    for name, choice in variants.items():
        data = prepare(task, shots, seed, n_test=n, data_root=data_root, order=choice.get("order", "shuffled"))
        prompts = encode(data, "test", tokenizer, label_words=choice.get("label_words"))
        result = FastEvaluator(model, prompts, batch_size=batch_size, progress=False).evaluate()
        words = choice.get("label_words") or data.task.label_words
        positive_share = float((result.predictions == len(words) - 1).mean())
        rows.append(
            {
                "variant": name,
                "order": choice.get("order", "shuffled"),
                "label_words": "/".join(words),
                **result.metrics(),
                "share_predicted_last_label": positive_share,
            }
        )
    return pd.DataFrame(rows)
