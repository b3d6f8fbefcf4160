"""The build plan: every point each chapter of the book needs, how many are stored, and the time the rest will take.

``python -m svd_icl.plan --profile default --results build/default/results`` prints, per chapter, the sweep points,
confirmation points and Algorithm 1 runs it needs (from the notebook's parameters and the profile's file, exactly
as papermill gives them), how many are already in the results files, and an estimate of the compute left. With
``--watch`` it prints one progress line per interval while a build runs (chapter, points stored / needed, elapsed,
ETA); with ``--check`` it fails unless every planned sweep point is stored and every stored one was planned (the
test build runs it, so the plan cannot drift from the notebooks).

The estimate is arithmetic, not a guess from earlier builds: each point's matmul FLOPs (the layers it runs, its
prompt and query tokens, the vocabulary products of a choice task) divided by this CPU's measured matmul
throughput, times the engine's measured distance from that floor (``EFFICIENCY``; ``benchmarks/bench_eval.py``
measures it). While a build runs, the ETA is rescaled by how fast the points actually came in.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import dataclass, field
from functools import cache, lru_cache
from pathlib import Path

from svd_icl.conditioning import condition_table_path
from svd_icl.confirm import Design
from svd_icl.profiles import PROFILES, ROOT, chapter_parameters, toc_chapters
from svd_icl.results import ResultStore, record_key
from svd_icl.sweep import KEY_FIELDS, SweepConfig, SweepPlan, prompt_plan, unpruned_record

# Measured on the 2-core CPUs this project builds on (float32; Gemma and SmolLM2 on SST-2 with 200 queries, Gemma on
# COPA with 100; the precision chapter's per-point seconds of a cold build): the decoder layers of a classification
# evaluation run at 2.0x their matmul floor (short query rows), a choice task's longer rows at 1.7x; a choice task's
# full-vocabulary log-softmax at 2.25x its output product (the exp over 262k logits per scored token is not a
# matmul) and it is paid at every clip rate whatever the layer; each clip rate of a layer-resumed sweep also pays
# about a tenth of a full evaluation in fixed work (per-batch copies of the demonstrations' cache, masks).
EFFICIENCY = 2.0
EFFICIENCY_CHOICE = 1.7
SOFTMAX_FACTOR = 2.25
PER_RATE_OVERHEAD = 0.10
# bfloat16 matmuls run about 3.9x faster than float32 here (AVX512-BF16), but a bfloat16 sweep point only about
# 2.3x (the precision chapter's recorded seconds): the rest of the work (norms, softmax, casts) does not speed up.
DTYPE_EFFICIENCY = {"float32": 1.0, "bfloat16": 1.7, "float16": 1.7}
# LAPACK's cost of an (m, n) matrix in matmul-FLOP equivalents per m n min(m, n), on the tall orientation that
# svd.decompose and the condition numbers use (bench_svd.py), plus a fixed cost per matrix that dominates small ones:
# Qwen2.5-1.5B's 196 singular-value problems take about 64 s, Gemma-3-270M's 126 about 5 s; one Qwen layer's SVDs 4.3 s.
SVDVALS_FLOPS_PER_MNK = 10  # singular values only (condition numbers)
SVD_FLOPS_PER_MNK = 25  # singular vectors too (truncation)
SVD_SECONDS_PER_MATRIX = 0.025
NOTEBOOK_OVERHEAD_S = 25  # kernel start, imports, model loads, plots: a chapter with everything stored
# Chapters whose compute is not sweep points (trained toys): seconds of a cold run at the default parameters on this
# machine, scaled by the training steps (and for fig5 the transformer's size) of the parameters run, and the files
# whose presence means that work is stored.
FIXED = {
    "theorem2": (180, "theorem2/*.csv", lambda p: p["steps"] / 6000),
    "fig5": (360, "linreg_*", lambda p: p["steps"] / 6000 * (p["width"] / 128) ** 2 * p["layers"] / 4),
}


@dataclass
class Need:
    """Work one chapter needs: a sweep (points counted by key), or a number of other units (runs, points)."""

    chapter: str
    label: str
    kind: str  # "sweep" | "confirmation" | "noise" | "formats" | "algorithm1" | "fixed"
    store: str = "sweeps.jsonl"
    config: SweepConfig | None = None
    dtype: str = "float32"
    total: int = 0  # for kinds other than "sweep"
    stored: int = 0
    seconds: float = 0.0  # estimated compute of what is not stored
    extra: dict = field(default_factory=dict)


# ---------------------------------------------------------------------------------------------------------------
# What each chapter needs (mirrors the notebook's calls; `--check` on the test build keeps the two in step).


def _sweep(chapter, label, store="sweeps.jsonl", dtype="float32", **config) -> Need:
    return Need(chapter, label, "sweep", store, SweepConfig(**config), dtype)


def needs_fig1(p: dict) -> list[Need]:
    out = []
    for model, task in p["runs"]:
        layers = p.get("layers_by_task", {}).get(task, p["layers"])
        out.append(_sweep("fig1", f"{model}/{task} search", model=model, task=task, layers=layers,
                          modules=p["modules"], clip_rates=p["clip_rates"], shots=p["shots"].get(task),
                          seed=p["seed"], split="validation", n=p["n_search"].get(task)))  # fmt: skip
        design = Design.for_task(p["confirm_sets"][task], p["confirm_queries"], p["tuned_queries"], task)
        out.append(_confirmation_need("fig1", f"{model}/{task} confirmation", model, task, p["shots"].get(task),
                                      p["seed"], design, layers))
        out.append(Need("fig1", f"{model}/{task} format control", "formats", store="formats.jsonl",
                        extra={"model": model, "task": task, "shots": p["shots"].get(task), "seed": p["seed"],
                               "n": p["n_search"].get(task), "layers": layers}))  # fmt: skip
        levels = [v for v in p.get("noise_levels", []) if v > 0]
        if levels and _bundled(model):  # the quantization-noise control: a quantized checkpoint only
            out.append(Need("fig1", f"{model}/{task} noise control", "noise", store="noise.jsonl",
                            total=2 * len(levels), extra={"model": model, "task": task, "shots": p["shots"].get(task),
                            "seed": p["seed"], "n": design.tuned or design.cap, "levels": levels,
                            "noise_seed": p.get("noise_seed", 0), "layers": layers}))  # fmt: skip
    return out


def _confirmation_need(chapter: str, label: str, model: str, task: str, shots: int | None, seed: int, design: Design,
                       layers: list[int], **extra) -> Need:  # fmt: skip
    """A confirmation's need (:func:`svd_icl.confirm.confirmation_configs` lists its sweeps): priced at the fixed
    design's size, every set of the last look, an upper bound on what the sequential design spends."""
    return Need(chapter, label, "confirmation", extra={"model": model, "task": task, "shots": shots, "seed": seed,
                                                       "design": design, "layers": layers, **extra})  # fmt: skip


def _bundled(model: str) -> bool:
    from svd_icl.models import BUNDLED

    return model in BUNDLED


def needs_fig2(p: dict) -> list[Need]:
    """Per model and shot number: the sweep on ``split``, then its best point confirmed on ``n_confirm`` test queries
    (per demonstration set the unpruned model and the pick, and the unpruned model at 0 shots; at 0 shots there are
    no demonstrations, so one pick and the unpruned model)."""
    out = []
    for m in p["models"]:
        for k in p["shot_counts"]:
            out.append(_sweep("fig2", f"{m}/{p['task']} {k} shots", model=m, task=p["task"], layers=p["layers"],
                              modules=p["modules"], clip_rates=p["clip_rates"], shots=k, seed=p["seed"],
                              split=p["split"], n=p["n_queries"]))  # fmt: skip
            design = Design(tuple(p["confirm_sets"]), p["confirm_queries"], p["tuned_queries"])
            out.append(_confirmation_need("fig2", f"{m}/{p['task']} {k} shots confirmation", m, p["task"], k,
                                          p["seed"], design, p["layers"]))
    return out


@cache
def _speedup(other: str, reference: str) -> float:
    from svd_icl.fidelity import matmul_speedup

    return matmul_speedup(other, reference)


def needs_precision(p: dict) -> list[Need]:
    """Both formats' sweeps, or the reference format's alone where the other is no faster on this CPU (the chapter
    measures the same ratio and does not sweep it: :func:`svd_icl.fidelity.matmul_speedup`)."""
    compared = p.get("device", "cpu") != "cpu" or _speedup(p["other_dtype"], p["reference_dtype"]) >= p.get(
        "min_speedup", 1.0)
    dtypes = (p["reference_dtype"], p["other_dtype"]) if compared else (p["reference_dtype"],)
    return [
        _sweep(
            "precision",
            f"{m}/{t} {dtype}",
            "sweeps.jsonl",
            dtype,
            model=m,
            task=t,
            layers=p["layers"],
            modules=p["modules"],
            clip_rates=p["clip_rates"],
            shots=p["shots"].get(t),
            seed=p["seed"],
            split=p["split"],
            n=p["n_queries"].get(t),
        )  # fmt: skip
        for dtype in dtypes
        for m, t in p["runs"]
    ]


def needs_scale(p: dict) -> list[Need]:
    """Per model: the search on validation queries, the confirmation of its pick on test queries (the unpruned model
    and the pick at the largest shot number with each demonstration set, the unpruned model at 0), and any other
    shot number unpruned."""
    out = []
    top = max(p["shots"])
    for m in p["models"]:
        common = dict(model=m, task=p["task"], seed=p["seed"])
        out.append(_sweep("scale", f"{m} search", layers=p["layers"], modules=p["modules"], clip_rates=p["clip_rates"],
                          shots=top, split="validation", n=p["n_search"], **common))  # fmt: skip
        design = Design(tuple(p["confirm_sets"]), p["confirm_queries"], p["tuned_queries"])
        out.append(_confirmation_need("scale", f"{m} confirmation", m, p["task"], top, p["seed"], design,
                                      p["layers"]))
    return out


def needs_theorem1(p: dict) -> list[Need]:
    if not p["rank_model"]:
        return []
    return [
        _sweep(
            "theorem1",
            f"{p['rank_model']} {s} shots",
            model=p["rank_model"],
            task="sst2",
            layers=[-1],
            modules=["mlp"],
            clip_rates=[0.0],
            shots=s,
            split=p["accuracy_split"],
            n=p["accuracy_n"],
        )  # fmt: skip
        for s in p["accuracy_shots"]
    ]


def needs_fig4(p: dict) -> list[Need]:
    out = []
    for name in p["model_names"]:
        for task in p["tasks"]:
            for module in p["modules"]:
                out.append(Need("fig4", f"{name}/{task} {module} Algorithm 1", "algorithm1", "algorithm1.jsonl",
                                total=len(p["seeds"]),
                                extra={"model": name, "task": task, "module": module, "seeds": p["seeds"], "k": p["k"],
                                       "aggregate": p["aggregate"], "grid": p["clip_rates"],
                                       "shots": p["shots"].get(task), "n_validation": p["n_validation"].get(task),
                                       "n_test": p["n_test"].get(task), "dtype": p["dtype"],
                                       "device": p["device"]}))  # fmt: skip
        for task in p["tasks"]:  # the confirmation of the first seed's choices (fig4's "Confirmation" section)
            design = Design.for_task(p["confirm_sets"][task], p["confirm_queries"], p["tuned_queries"], task)
            for module in p["modules"]:
                out.append(_confirmation_need("fig4", f"{name}/{task} {module} confirmation", name, task,
                                              p["shots"].get(task), p["seeds"][0], design, [-1], module=module,
                                              k=p["k"], grid=p["clip_rates"], n_test=p["n_test"].get(task),
                                              n_validation=p["n_validation"].get(task), aggregate=p["aggregate"],
                                              dtype=p["dtype"], device=p["device"]))
        for task in p.get("depth_rule_tasks", []):  # Algorithm 1 against the deepest-layer rule, on the same queries
            for module in p["modules"]:
                rule = {"model": name, "task": task, "module": module, "depth_rule": True, "alg1_k": p["k"],
                        "aggregate": p["aggregate"], "shots": p["shots"].get(task), "dtype": p["dtype"],
                        "device": p["device"]}
                out.append(Need("fig4", f"{name}/{task} {module} deepest-layer rule", "algorithm1", "algorithm1.jsonl",
                                total=1, extra={**rule, "seeds": p["seeds"][:1], "k": _layers(name),
                                                "grid": p["clip_rates"], "n_validation": p["n_validation"].get(task),
                                                "n_test": p["n_test"].get(task)}))  # fmt: skip
                design = Design.for_task(p["confirm_sets"][task], p["confirm_queries"], p["tuned_queries"], task)
                out.append(_confirmation_need("fig4", f"{name}/{task} {module} deepest-layer rule confirmation",
                                              name, task, p["shots"].get(task), p["seeds"][0], design, [-1],
                                              **{k: v for k, v in rule.items() if k not in ("model", "task", "shots")},
                                              grid=p["clip_rates"], n_validation=p["n_validation"].get(task),
                                              n_test=p["n_test"].get(task)))  # fmt: skip
    for name, task in p["cond_gain_runs"]:
        layers = list(range(_layers(name)))
        out.append(_sweep("fig4", f"{name}/{task} every layer", model=name, task=task, layers=layers,
                          modules=["attn", "mlp"], clip_rates=p["cond_gain_clip_rates"], shots=p["shots"].get(task),
                          seed=0, split="validation", n=p["cond_gain_n"].get(task)))  # fmt: skip
    return out


def needs_fig3(p: dict) -> list[Need]:
    """Per model: its condition-number table, the permuted-entries control (as many SVDs again) and the Gaussian
    null (``null_draws`` SVDs per distinct shape)."""
    out = []
    for m in p["models"]:
        tag = m.replace("/", "_")
        cond = condition_table_path(".", m, p.get("svd_dtype", "float32")).name
        for label, pattern, scale in (("condition numbers", cond, 1.0),
                                      ("permuted-entries control", f"fig3_permuted_{tag}.csv", 1.0),
                                      ("Gaussian null", f"fig3_null_{tag}.csv", None)):  # fmt: skip
            extra = {"model": m, "pattern": pattern, "svd_scale": scale, "draws": p.get("null_draws", 10)}
            out.append(Need("fig3", f"{m} {label}", "fixed", total=1, extra=extra))
    return out


# A stated device's speed-up over the CPU the FIXED seconds were measured on (set by --gpu-tflops): the trained toys
# are small models, which run far below a GPU's peak, so their device estimate is a lower bound.
FIXED_SPEEDUP = [1.0]
CALIBRATION_GFLOPS = 300.0  # float32 matmul throughput of the 2-core CPUs FIXED was measured on


def needs_fixed(name: str, p: dict) -> list[Need]:
    seconds, pattern, scale = FIXED[name]
    extra = {"seconds": seconds * scale(p) / FIXED_SPEEDUP[0], "pattern": pattern}
    return [Need(name, "trained toys", "fixed", total=1, extra=extra)]


NEEDS = {"fig1": needs_fig1, "fig2": needs_fig2, "precision": needs_precision, "scale": needs_scale,
         "theorem1": needs_theorem1, "fig4": needs_fig4, "fig3": needs_fig3}  # fmt: skip


def chapter_needs(name: str, params: dict) -> list[Need]:
    if name in NEEDS:
        return NEEDS[name](params)
    return needs_fixed(name, params) if name in FIXED else []


# ---------------------------------------------------------------------------------------------------------------
# The cost model: matmul FLOPs of each unit of work over this CPU's measured throughput.


# The paper models' published shapes (config.json of EleutherAI/gpt-j-6b and meta-llama/Llama-2-7b-hf): the plan
# needs shapes only, and the paper profile's plan must work where the Hub cannot be reached. Where the Hub is out of
# reach their prompts are counted with a bundled tokenizer (GPT-J's is a byte-level BPE like SmolLM2's; LLaMA-2's
# SentencePiece makes somewhat more tokens of the same text), and the plan says so.
PUBLISHED_CONFIGS = {
    "gpt-j-6b": {"model_type": "gptj", "n_layer": 28, "n_embd": 4096, "n_head": 16, "rotary_dim": 64,
                 "vocab_size": 50400, "n_positions": 2048},
    "llama2-7b": {"model_type": "llama", "num_hidden_layers": 32, "hidden_size": 4096, "intermediate_size": 11008,
                  "num_attention_heads": 32, "num_key_value_heads": 32, "vocab_size": 32000,
                  "max_position_embeddings": 4096},
}  # fmt: skip
PROXY_TOKENIZER = "smollm2-135m"
NOTES: list[str] = []  # what the plan had to assume, printed under its table


def _note(text: str) -> None:
    if text not in NOTES:
        NOTES.append(text)


def _offline_stand_in(name: str) -> bool:
    """True when ``name`` is a paper model that resolves to a Hub id not in the local Hugging Face cache: the plan
    then uses its published shapes instead of waiting on the network."""
    from svd_icl.models import in_hub_cache, resolve

    if name not in PUBLISHED_CONFIGS:
        return False
    path = resolve(name)
    return not Path(path).exists() and not in_hub_cache(path)


@cache
def _meta_model(name: str):
    """The model's architecture on the meta device (parameter shapes, no memory, no weights read)."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    from svd_icl.models import resolve

    if _offline_stand_in(name):
        fields = dict(PUBLISHED_CONFIGS[name])
        config = AutoConfig.for_model(fields.pop("model_type"), **fields)
        _note(f"{name}: shapes from its published config.json (the Hub copy is not in the local cache)")
    else:
        config = AutoConfig.from_pretrained(resolve(name))
    with torch.device("meta"):
        return AutoModelForCausalLM.from_config(config)


@cache
def _tokenizer(name: str):
    from svd_icl.models import load_tokenizer

    if _offline_stand_in(name):
        _note(f"{name}: prompt tokens counted with {PROXY_TOKENIZER}'s tokenizer (its own is not in the local cache)")
        name = PROXY_TOKENIZER
    return load_tokenizer(name)


def _layers(name: str) -> int:
    return _meta_model(name).config.num_hidden_layers


def model_size(name: str) -> tuple[int, int]:
    """(parameters, decoder layers) of a model, from its architecture alone (the meta device: no weights read;
    a paper model out of the Hub's reach from its published config)."""
    model = _meta_model(name)
    return sum(p.numel() for p in model.parameters()), model.config.num_hidden_layers


@cache
def _layer_flops(name: str) -> tuple[float, int, int]:
    """(matmul FLOPs per token per decoder layer, hidden size, vocabulary size)."""
    from svd_icl.architectures import architecture_for, decoder_layers

    model = _meta_model(name)
    block = decoder_layers(model, architecture_for(model))[0]
    per_token = 2 * sum(p.numel() for p in block.parameters() if p.ndim == 2)
    return float(per_token), model.config.hidden_size, model.get_output_embeddings().weight.shape[0]


def _svd_seconds(name: str, module: str, gflops: float) -> float:
    from svd_icl.architectures import architecture_for, decoder_layers, select_matrices, weight_view

    model = _meta_model(name)
    arch = architecture_for(model)
    block = decoder_layers(model, arch)[0]
    shapes = [weight_view(block, spec).shape for _, spec in select_matrices(arch, module).values()]
    work = sum(SVD_FLOPS_PER_MNK * m * n * min(m, n) for m, n in shapes)
    return work / (gflops * 1e9) + SVD_SECONDS_PER_MATRIX * len(shapes)


MEASURED: dict[str, float] = {}  # throughputs read from --throughput-file (measured once, on an idle machine)


@cache
def throughput(dtype: str = "float32") -> float:
    """This CPU's matmul throughput in GFLOP/s for ``dtype`` (1024 x 1024 products, all torch threads), or the value
    measured earlier in this build (``MEASURED``): a watcher measuring while the notebooks run would see the
    cores shared and overestimate every point."""
    if dtype in MEASURED:
        return MEASURED[dtype]
    import torch

    a = torch.randn(1024, 1024, dtype=getattr(torch, dtype))
    a @ a
    best = float("inf")
    for _ in range(5):  # the best of five: a busy moment should not make the whole plan look slower
        start = time.perf_counter()
        for _ in range(4):
            a @ a
        best = min(best, time.perf_counter() - start)
    return 2 * 1024**3 * 4 / best / 1e9


@dataclass(frozen=True)
class EvalCost:
    """Estimated seconds of one unpruned evaluation of a prompt set, split as a layer-resumed sweep pays it."""

    body: float  # the decoder layers, prefix once and queries batched (a layer-l rate runs (L - l) / L of it)
    head: float  # the scoring products (paid in full at every rate)

    @property
    def full(self) -> float:
        return self.body + self.head

    def unit(self, layer: int, num_layers: int, rates: int) -> float:
        """A layer-resumed sweep of ``rates`` clip rates at ``layer``: the layers below once, the rest per rate."""
        above = (num_layers - layer) / num_layers
        per_rate = self.body * (above + PER_RATE_OVERHEAD) + self.head
        return self.body * (layer / num_layers) + rates * per_rate


def evaluation_cost(name: str, plan: SweepPlan, dtype: str = "float32") -> EvalCost:
    """:class:`EvalCost` of ``plan``'s prompts on model ``name``: matmul FLOPs over this CPU's throughput, scaled
    by the measured distances from that floor (the constants above)."""
    per_token, hidden, vocab = _layer_flops(name)
    p = plan.prompts
    L = plan.num_layers
    context = len(p.prefix) + 32
    if p.shared_single_tokens is not None:
        tokens = len(p.prefix) + sum(len(q) for q in p.queries)
        body = EFFICIENCY * tokens * L * (per_token + 4 * hidden * context)
        head = 2.0 * hidden * len(p) * len(p.candidates[0])
    else:  # one row per (query, candidate); full-vocabulary log-softmax at each continuation token
        rows = [len(q) + len(c) for q, cands in zip(p.queries, p.candidates) for c in cands]
        scored = sum(len(c) for cands in p.candidates for c in cands)
        tokens = len(p.prefix) + sum(rows)
        body = EFFICIENCY_CHOICE * tokens * L * (per_token + 4 * hidden * context)
        head = SOFTMAX_FACTOR * 2 * hidden * vocab * scored
    scale = DTYPE_EFFICIENCY.get(dtype, 1.0) / (throughput(dtype) * 1e9)
    return EvalCost(body * scale, head * scale)


# ---------------------------------------------------------------------------------------------------------------
# Counting what is stored and estimating the rest.


class Planner:
    """Evaluates needs against a results directory; caches prompt plans and stores between calls (``--watch``)."""

    def __init__(self, results: str | Path):
        self.results = Path(results)
        self._plans: dict[str, SweepPlan] = {}
        self._stores: dict[str, ResultStore] = {}
        self.reset()

    def store(self, name: str, kind: str = "sweep") -> ResultStore | None:
        path = self.results / name
        if not path.exists():
            return None
        if name not in self._stores:
            from svd_icl.algorithm1 import KEY_FIELDS as A1_FIELDS
            from svd_icl.noise import NOISE_FILE, NOISE_KEY

            fields = A1_FIELDS if kind == "algorithm1" else NOISE_KEY if name == NOISE_FILE else KEY_FIELDS
            self._stores[name] = ResultStore(path, fields, kind=kind)
        return self._stores[name]

    def plan(self, need: Need) -> SweepPlan:
        key = repr((need.config, need.dtype))
        if key not in self._plans:
            name = need.config.model
            self._plans[key] = prompt_plan(_tokenizer(name), need.config, need.dtype, "cpu", _layers(name))
        return self._plans[key]

    def evaluate(self, need: Need) -> Need:
        if need.extra.get("depth_rule") and self._rules_agree(need.extra):
            need.total = need.stored = 0  # the chapter skips the comparison: nothing to compute
            need.seconds = 0.0
            return need
        getattr(self, f"_{need.kind}")(need)
        return need

    def _stored_run(self, e: dict, k: int, seed: int) -> dict | None:
        """The stored Algorithm 1 run a need names (its model, task, module and settings, with ``k`` and ``seed``),
        or None: matched on the run's full key, as the chapter's own :func:`svd_icl.algorithm1.stored_run` does."""
        from svd_icl.algorithm1 import find_run, run_fields

        store = self.store("algorithm1.jsonl", "algorithm1")
        if store is None:
            return None
        fields = run_fields(e["model"], e["task"], e["module"], seed, k, e["aggregate"], tuple(e["grid"]), e["shots"],
                            e["n_validation"], e["n_test"], e.get("dtype", "float32"), e.get("device", "cpu"))
        return find_run(store, fields)

    def _kept_unpruned(self, e: dict, k: int) -> bool:
        """Did the stored run with ``k`` (of the need's first seed) keep the unpruned model (xi* = 0)? Then the
        chapter has no pick to confirm. Not stored yet: False (a cold plan prices the confirmation, an upper bound)."""
        run = self._stored_run(e, k, e["seed"])
        return run is not None and float(run["best_clip_rate"]) == 0.0

    @staticmethod
    @lru_cache(maxsize=32)
    def _deepest_is_chosen(path: Path, mtime: float, module: str, k: int, aggregate: str, layers: int) -> bool:
        """Does Algorithm 1 pick the deepest layer by the condition numbers in ``path``? Cached by the file's mtime:
        ``--watch`` asks every minute, the table changes once."""
        import pandas as pd

        from svd_icl.algorithm1 import select_layer

        return select_layer(pd.read_csv(path), module, k, aggregate)[0] == layers - 1

    def _rules_agree(self, e: dict) -> bool:
        """Is there nothing to compare for a deepest-layer-rule need? True when Algorithm 1's own layer is the deepest
        (from the condition numbers the Figure 3 chapter stored), or, for its confirmation, when the rule's stored run
        kept the unpruned model (no pick to confirm; the chapter then compares with the unpruned points). Unknown
        (nothing stored yet): False, so a cold plan prices the comparison in full, an upper bound."""
        L = _layers(e["model"])
        path = condition_table_path(self.results, e["model"])  # the table Algorithm 1's chapter reads (float32)
        if path.exists() and self._deepest_is_chosen(path, path.stat().st_mtime, e["module"], e["alg1_k"],
                                                     e["aggregate"], L):  # fmt: skip
            return True
        return "design" in e and self._kept_unpruned(e, L)  # the confirmation: its run must have picked xi > 0

    def reset(self) -> None:
        """Forget what earlier needs planned (a new pass over the book)."""
        self.planned: dict[str, set[str]] = {}
        self.planned_unpruned: set[str] = set()

    def _sweep(self, need: Need) -> None:
        """Points stored, or planned by an earlier need (another chapter computes them first: same key, same
        file), count as stored; the estimate covers the units the sweep will run."""
        plan = self.plan(need)
        store = self.store(need.store)
        stored = store.done() if store else set()
        earlier = self.planned.setdefault(need.store, set())
        prompt_set = need.store + json.dumps(plan.common, sort_keys=True, default=str)
        have = (store is not None and unpruned_record(store.records(), plan) is not None) or (
            prompt_set in self.planned_unpruned
        )
        wanted = plan.wanted(_key)
        need.total = len(wanted)
        need.extra["shared"] = len((wanted & earlier) - stored)
        units = plan.pending(stored | earlier, _key, have)
        missing = sum(len(rates) for _, _, rates in units)
        need.stored = max(0, need.total - missing - _copies_pending(plan, units, stored | earlier, have))
        earlier |= wanted
        if 0.0 in plan.config.clip_rates:
            self.planned_unpruned.add(prompt_set)
        cost = evaluation_cost(need.config.model, plan, need.dtype)
        L, g = plan.num_layers, throughput(need.dtype)
        need.seconds = sum(
            cost.unit(la, L, len(rates)) + _svd_seconds(need.config.model, mo, g) for la, mo, rates in units
        )

    def _test_pair_cost(self, e: dict, split: str = "test", n: int | None = None, offset: int = 0):
        """For a confirmation, noise or format control (``e``: its extra), the evaluation cost of its prompts on
        ``split`` (``n`` rows from ``offset``; default the need's ``n``), the model's depth and the layer to price a
        truncation at: the mean searched layer (the pick is not known yet)."""
        config = SweepConfig(e["model"], e["task"], [0], shots=e["shots"], seed=e["seed"], split=split,
                             n=e.get("n") if n is None else n, offset=offset, data_root=e.get("data_root"))  # fmt: skip
        cost = evaluation_cost(e["model"], self.plan(Need("", "", "sweep", config=config)))
        L = _layers(e["model"])
        return cost, L, round(sum((x if x >= 0 else x + L) for x in e["layers"]) / len(e["layers"]))

    @staticmethod
    def _point(r: dict) -> tuple:
        """A confirmation point's place: (fresh set, query block, shots, unpruned?) (None offsets read as 0)."""
        return r.get("demo_set"), r.get("offset") or 0, r.get("n"), r.get("shots"), r.get("clip_rate") == 0

    def _confirmation(self, need: Need) -> None:
        """A confirmation's points, at the fixed design's size (every set of the last look: an upper bound on what
        the sequential design spends): the sweeps :func:`svd_icl.confirm.confirmation_configs` lists, the same
        function the chapters run. Unpruned and 0-shot points stored or planned by an earlier confirmation on the
        same queries count as stored; a pick counts only for its module when the need names one."""
        from svd_icl.confirm import Selection, confirmation_configs

        e = need.extra
        if "k" in e and not e.get("depth_rule") and self._kept_unpruned(e, e["k"]):
            need.total = need.stored = 0  # Algorithm 1's search kept the unpruned model: the chapter confirms nothing
            need.seconds = 0.0
            return
        design = e["design"]
        store = self.store(need.store)
        records = store.records() if store else []
        deepest = _layers(e["model"]) - 1 if e.get("depth_rule") else None  # the rule's pick is at the deepest layer
        found = {self._point(r) for r in records
                 if r.get("model") == e["model"] and r.get("task") == e["task"] and r.get("split") == "test"
                 and r.get("seed") == e["seed"] and r.get("demo_seed") is None
                 and (r.get("clip_rate") == 0 or e.get("module") in (None, r.get("module")))
                 and (deepest is None or (r.get("clip_rate") != 0 and r.get("layer") == deepest))}  # fmt: skip
        placeholder = Selection(e["model"], e["task"], 0, e.get("module") or "mlp", 0.5)
        configs = confirmation_configs(placeholder, e["shots"], e["seed"], design, design.max_sets,
                                       tuned=deepest is None, data_root=e.get("data_root"))  # fmt: skip
        shots = SweepConfig(e["model"], e["task"], [0], shots=e["shots"]).resolved_shots
        wanted = []
        for arm, _, c in configs:
            k = 0 if arm == "zero_shot" else shots
            point = (c.demo_set, c.offset, c.n, k)
            if deepest is None or arm == "zero_shot":
                wanted.append((*point, True))
            if arm != "zero_shot":
                wanted.append((*point, False))
        if deepest is not None:  # only the rule's picks: the unpruned points are Algorithm 1's confirmation's
            wanted = [w for w in wanted if not w[4]]
        wanted = list(dict.fromkeys(wanted))
        need.total = len(wanted)
        queries = (e["model"], e["task"], e["seed"])
        earlier = self.planned.setdefault("confirmation unpruned", set())
        found |= {w for w in wanted if w[4] and (queries, w) in earlier}
        earlier |= {(queries, w) for w in wanted if w[4]}
        need.stored = sum(w in found for w in wanted)
        cost, L, depth = self._test_pair_cost(e, n=design.queries if design.nested else design.cap)
        layer = deepest if deepest is not None else depth
        # per prompt and block: the layers below the pick once, then one rate per missing point from there on
        missing = {}
        for w in wanted:
            if w not in found:
                missing[w[:4]] = missing.get(w[:4], 0) + 1
        need.seconds = sum(cost.full * 0.5 if key[3] == 0 else cost.unit(layer, L, count)
                           for key, count in missing.items())  # fmt: skip

    def _noise(self, need: Need) -> None:
        """The noise control's points (unpruned and selected per level; level 0 is the confirmation's own)."""
        e = need.extra
        store = self.store(need.store)
        records = store.records() if store else []
        found = {(r.get("noise"), r.get("clip_rate") == 0) for r in records
                 if r.get("model") == e["model"] and r.get("task") == e["task"] and r.get("split") == "test"
                 and r.get("n") == e["n"] and r.get("seed") == e["seed"] and r.get("demo_seed") is None
                 and r.get("noise_seed") == e["noise_seed"]}  # fmt: skip
        need.stored = sum((v, z) in found for v in e["levels"] for z in (True, False))
        cost, L, depth = self._test_pair_cost(e)
        need.seconds = (need.total - need.stored) / 2 * cost.unit(depth, L, 2)

    def _formats(self, need: Need) -> None:
        """The prompt-format control (:mod:`svd_icl.formats`): per format variant, the unpruned model, the worst
        shallow point and the best point of the search, on its validation queries (priced at layer 0 and at the mean
        searched layer: the points are not known before the search)."""
        from svd_icl.formats import format_variants

        e = need.extra
        variants = len(format_variants(_tokenizer(e["model"])))
        need.total = 3 * variants
        store = self.store(need.store)
        records = store.records() if store else []
        found = {(r.get("prompt"), r.get("layer"), r.get("module"), r.get("clip_rate")) for r in records
                 if r.get("model") == e["model"] and r.get("task") == e["task"] and r.get("split") == "validation"
                 and r.get("n") == e["n"] and r.get("seed") == e["seed"]}  # fmt: skip
        unpruned = {f[0] for f in found if f[3] == 0}
        need.stored = min(need.total, len(unpruned) + len([f for f in found if f[3] != 0]))
        cost, L, depth = self._test_pair_cost(e, split="validation")
        per_variant = cost.unit(0, L, 2) + cost.unit(depth, L, 1)
        need.seconds = per_variant * (need.total - need.stored) / 3

    def _algorithm1(self, need: Need) -> None:
        e = need.extra
        need.stored = sum(self._stored_run(e, e["k"], s) is not None for s in e["seeds"])
        L = _layers(e["model"])
        layer = L - 1  # the deepest of the top-k: deep on these models (fig3); an upper bound on the work is layer 0
        cost = 0.0
        for split, n, rates in (("validation", e["n_validation"], len(e["grid"])), ("test", e["n_test"], 2)):
            config = SweepConfig(e["model"], e["task"], [0], shots=e["shots"], seed=e["seeds"][0], split=split, n=n)
            cost += evaluation_cost(e["model"], self.plan(Need("", "", "sweep", config=config))).unit(layer, L, rates)
        need.seconds = (need.total - need.stored) * (cost + _svd_seconds(e["model"], e["module"], throughput()))

    def _fixed(self, need: Need) -> None:
        e = need.extra
        need.stored = int(any(self.results.glob(e["pattern"])))
        if "seconds" in e:
            need.seconds = 0.0 if need.stored else e["seconds"]
            return
        from svd_icl.architectures import architecture_for, decoder_layers

        model = _meta_model(e["model"])
        shapes = [tuple(p.shape) for p in decoder_layers(model, architecture_for(model)).parameters() if p.ndim == 2]
        if e["svd_scale"] is None:  # the Gaussian null: draws per distinct shape
            shapes = list(dict.fromkeys(shapes)) * int(e["draws"])
        work = sum(SVDVALS_FLOPS_PER_MNK * a * b * min(a, b) for a, b in shapes)
        need.seconds = 0.0 if need.stored else work / (throughput() * 1e9) + SVD_SECONDS_PER_MATRIX * len(shapes)


def _key(record: dict) -> str:
    """A point's key as the results store computes it (the plan's points carry ``format`` already)."""
    return record_key(record, KEY_FIELDS)


def _copies_pending(plan: SweepPlan, units, done: set[str], have: bool) -> int:
    """Unpruned points not stored yet and not computed by any unit (they will be copies of one that is)."""
    wanted0 = [plan.point(la, mo, 0.0) for la in plan.layers for mo in plan.config.modules
               if 0.0 in plan.config.clip_rates]  # fmt: skip
    missing0 = sum(_key(p) not in done for p in wanted0)
    computed0 = sum(0.0 in rates for _, _, rates in units)
    return missing0 - computed0


def build_plan(profile: str, results: str | Path, chapters: list[str] | None = None,
               planner: Planner | None = None) -> list[Need]:  # fmt: skip
    """Every need of every chapter (in build order) under ``profile``, evaluated against ``results``."""
    planner = planner or Planner(results)
    planner.reset()
    out = []
    for name in chapters or toc_chapters():
        params = chapter_parameters(name, profile)
        out += [planner.evaluate(n) for n in chapter_needs(name, params)]
    return out


def _fmt_minutes(seconds: float) -> str:
    return f"{seconds / 60:.0f} min" if seconds >= 90 else f"{seconds:.0f} s"


def plan_table(needs: list[Need], chapters: list[str]) -> str:
    """The plan as a fixed-width table: one line per chapter, then the total."""
    lines = [f"{'chapter':10s} {'needed':>7s} {'stored':>7s} {'estimate':>9s}  work"]
    total = stored = 0
    seconds = 0.0
    for name in chapters:
        mine = [n for n in needs if n.chapter == name]
        t, s = sum(n.total for n in mine), sum(n.stored for n in mine)
        sec = sum(n.seconds for n in mine) + NOTEBOOK_OVERHEAD_S
        kinds = sorted({n.kind for n in mine}) or ["(no sweep points)"]
        lines.append(f"{name:10s} {t:7d} {s:7d} {_fmt_minutes(sec):>9s}  {', '.join(kinds)}")
        total, stored, seconds = total + t, stored + s, seconds + sec
    lines.append(f"{'total':10s} {total:7d} {stored:7d} {_fmt_minutes(seconds):>9s}  "
                 f"(this CPU: {throughput():.0f} GFLOP/s float32, {os.cpu_count()} cores)")  # fmt: skip
    return "\n".join(lines)


def device_table(needs: list[Need], chapters: list[str], tflops: float, workers: int) -> str:
    """Compute left per chapter on one device of ``tflops`` (dense matmul TFLOP/s at the profile's dtype) and on
    ``workers`` such devices: sweep points, confirmations and Algorithm 1 runs are independent units that Ray spreads
    over workers; a chapter's trained toys and condition-number tables run on one."""
    lines = [f"{'chapter':10s} {'points':>7s} {'1 device':>9s} {f'{workers} devices':>11s}"]
    one = many = 0.0
    for name in chapters:
        mine = [n for n in needs if n.chapter == name]
        parallel = sum(n.seconds for n in mine if n.kind != "fixed")
        serial = sum(n.seconds for n in mine if n.kind == "fixed") + NOTEBOOK_OVERHEAD_S
        a, b = parallel + serial, parallel / workers + serial
        lines.append(f"{name:10s} {sum(n.total for n in mine):7d} {_fmt_hours(a):>9s} {_fmt_hours(b):>11s}")
        one, many = one + a, many + b
    lines.append(f"{'total':10s} {sum(n.total for n in needs):7d} {_fmt_hours(one):>9s} {_fmt_hours(many):>11s}"
                 f"  (at {tflops:g} TFLOP/s per device)")  # fmt: skip
    return "\n".join(lines)


def _fmt_hours(seconds: float) -> str:
    return f"{seconds / 3600:.1f} h" if seconds >= 5400 else _fmt_minutes(seconds)


def memory_needs(profile: str, chapters: list[str]) -> dict[str, float]:
    """Per model of the profile: the GB one copy of its weights takes at the dtype it runs in (GPU memory needs that
    plus one layer's factors and activations; the download is about the same on disk)."""
    sizes = {}
    for name in chapters:
        p = chapter_parameters(name, profile)
        dtypes = {p.get(k) for k in ("dtype", "reference_dtype", "other_dtype")} - {None}  # precision loads both
        width = 4 if "float32" in dtypes or not dtypes else 2
        names = [m for m, _ in p.get("runs", [])] + p.get("models", []) + p.get("model_names", [])
        for m in names:
            params = sum(t.numel() for t in _meta_model(m).parameters())
            sizes[m] = max(sizes.get(m, 0), params * width)
    return {m: b / 1e9 for m, b in sizes.items()}


def _planned_points(needs: list[Need], results: Path) -> dict[str, tuple[list[dict], list[dict]]]:
    """Per sweep store of ``needs``: its stored records some chapter planned (a sweep point by key, or a point on a
    confirmation's queries) and those none did. One matcher for :func:`check` and :func:`stored_compute`."""
    planner = Planner(results)
    out = {}
    for store_name in {n.store for n in needs if n.kind == "sweep"}:
        store = planner.store(store_name)
        if store is None:
            continue
        wanted = set()
        for n in needs:
            if n.kind == "sweep" and n.store == store_name:
                wanted |= planner.plan(n).wanted(_key)
        confirm = [n.extra for n in needs if n.kind == "confirmation"]
        sizes = [(e, {e["design"].queries, e["design"].cap, e["design"].tuned}) for e in confirm]
        used, unused = [], []
        for r in store.records():
            on_confirmation = any(
                r.get("model") == e["model"] and r.get("task") == e["task"] and r.get("split") == "test"
                and r.get("n") in ns for e, ns in sizes
            )  # fmt: skip
            (used if store.key(r) in wanted or on_confirmation else unused).append(r)
        out[store_name] = (used, unused)
    return out


def check(needs: list[Need], results: Path) -> list[str]:
    """Problems that make the plan disagree with a finished build: planned sweep points not stored, stored sweep
    points no chapter planned."""
    problems = [f"{n.chapter}: {n.label}: {n.total - n.stored} of {n.total} planned points not stored"
                for n in needs if n.kind == "sweep" and n.stored < n.total]  # fmt: skip
    for store_name, (_, unused) in _planned_points(needs, results).items():
        problems += [f"{store_name}: a stored point no chapter planned: {r.get('model')}/{r.get('task')} "
                     f"{r.get('split')} n={r.get('n')} shots={r.get('shots')} layer {r.get('layer')} "
                     f"{r.get('module')} xi={r.get('clip_rate')}" for r in unused]  # fmt: skip
    return problems


def stored_compute(needs: list[Need], results: Path) -> tuple[float, float]:
    """Seconds of compute the stored points the plan uses took when they were computed (their records' own
    ``seconds``), and the part of it on held-out test queries (the confirmation sets): what a cold build of these
    points costs on the machine that computed them, whether or not this build computed them itself. Points no
    chapter plans (left by earlier parameters) are not counted."""
    total = confirmation = 0.0
    for used, _ in _planned_points(needs, results).values():
        for r in used:
            seconds = float(r.get("seconds") or 0)
            total += seconds
            confirmation += seconds if r.get("split") == "test" else 0.0
    return total, confirmation


def competing_processes(build_pid: int | None, threshold: float = 50.0) -> list[str]:
    """Processes outside the build (not ``build_pid`` or its descendants) using more than ``threshold`` percent of
    a core over the last interval. Two torch processes on 2 cores slow each other about tenfold (their thread pools
    oversubscribe the cores), so a build says so rather than just running late."""
    import psutil

    ours = set()
    if build_pid is not None and psutil.pid_exists(build_pid):
        root = psutil.Process(build_pid)
        ours = {root.pid, *(c.pid for c in root.children(recursive=True))}
    ours.add(os.getpid())
    busy = []
    for proc in psutil.process_iter(["pid", "name", "cpu_percent"]):
        if proc.info["pid"] not in ours and (proc.info["cpu_percent"] or 0) > threshold:
            busy.append(f"{proc.info['name']} (pid {proc.info['pid']}, {proc.info['cpu_percent']:.0f}% CPU)")
    return busy


class Pace:
    """The ETA of the work left: the plan's estimate, rescaled by the pace measured so far once 5% of the estimated
    work is done. The pace is measured from the last moment nothing had been done yet, not from the build's start:
    chapters whose points are all stored take minutes of replotting and no planned compute, and counting them
    would inflate the ETA of a warm build many times over."""

    def __init__(self, first: float, now: float):
        self.first, self.idle_until = first, now

    def eta(self, left: float, now: float) -> float:
        done = self.first - left
        if done <= 0:
            self.idle_until = now  # still nothing done: the clock of the pace starts later
            return left
        if done < 0.05 * self.first:
            return left
        return left * (now - self.idle_until) / done


def watch(profile: str, results: Path, interval: float, current: Path | None, build_pid: int | None = None) -> None:
    """Print one progress line every ``interval`` seconds until killed: the chapter running, its points stored /
    needed, the whole book's, elapsed time and the ETA (the plan's estimate of what is left, rescaled by the pace
    measured so far); and a warning when other processes compete for the cores."""
    import psutil

    chapters = toc_chapters()
    planner = Planner(results)
    start = time.time()
    pace = Pace(sum(n.seconds for n in build_plan(profile, results, chapters, planner)), start)
    for proc in psutil.process_iter():  # the first cpu_percent call of a process only starts its counter
        try:
            proc.cpu_percent()
        except psutil.Error:
            pass
    while True:
        time.sleep(interval)
        needs = build_plan(profile, results, chapters, planner)
        left = sum(n.seconds for n in needs)
        elapsed = time.time() - start
        eta = pace.eta(left, time.time())
        now = current.read_text().strip() if current and current.exists() else "?"
        mine = [n for n in needs if n.chapter == now]
        print(f"\n[build] {time.strftime('%H:%M')} {now}: {sum(n.stored for n in mine)}/{sum(n.total for n in mine)}"
              f" · book {sum(n.stored for n in needs)}/{sum(n.total for n in needs)} points"
              f" · elapsed {_fmt_minutes(elapsed)} · ETA {_fmt_minutes(eta)}", flush=True)  # fmt: skip
        busy = competing_processes(build_pid)
        if busy:
            print(f"[build] warning: other processes share the {os.cpu_count()} cores and slow this build: "
                  + ", ".join(busy[:3]), flush=True)  # fmt: skip


def _shared_throughput(path: Path) -> None:
    """Read the build's measured throughputs from ``path``, or measure them now and write them there."""
    if path.exists():
        MEASURED.update(json.loads(path.read_text()))
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({d: throughput(d) for d in ("float32", "bfloat16")}))


def fill(needs: list[Need], results: Path, address: str, workers: int | None = None, cpus_per_worker: int = 1) -> int:
    """Compute every planned sweep point on a Ray cluster (:func:`svd_icl.distributed.run_sweep_ray`) into the
    build's results files, so that the notebooks then only read and replot them. Returns the points computed.
    Confirmations and Algorithm 1 runs depend on earlier results (a selection, condition numbers) and are left to
    the chapters (or ``svd-icl algorithm1 --ray``)."""
    from svd_icl.distributed import run_sweep_ray

    computed = 0
    for need in needs:
        if need.kind == "sweep" and need.stored < need.total:
            before = need.stored
            run_sweep_ray(need.config, results / need.store, need.dtype, address, workers, cpus_per_worker)
            computed += need.total - before
    return computed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="svd-icl plan", description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="default", help=", ".join(PROFILES) + " (params/<chapter> files)")
    parser.add_argument("--results", default="build/default/results", help="the build's results directory")
    parser.add_argument("--chapters", default=None, help="comma-separated chapter names (default: all, in order)")
    parser.add_argument("--watch", type=float, default=0, metavar="SECONDS", help="print progress every SECONDS")
    parser.add_argument("--current", default=None, help="file holding the chapter being executed (--watch)")
    parser.add_argument("--build-pid", type=int, default=None, help="the build's process (--watch: others compete)")
    parser.add_argument("--check", action="store_true", help="fail unless the stored points are the planned ones")
    parser.add_argument("--fill", default=None, metavar="local|auto|ADDRESS",
                        help="compute the planned sweep points on this Ray cluster, then exit")  # fmt: skip
    parser.add_argument("--workers", type=int, default=None, help="Ray workers for --fill")
    parser.add_argument("--gpu-tflops", type=float, default=None, metavar="T",
                        help="estimate for a device of T dense TFLOP/s at the profile's dtype, on 1 and --workers")
    parser.add_argument("--gpu-memory", type=float, default=None, metavar="GB",
                        help="with --gpu-tflops: fail unless each model's weights fit in GB (one device)")
    parser.add_argument("--throughput-file", default=None,
                        help="JSON file of measured GFLOP/s: written if missing, read if present")  # fmt: skip
    args = parser.parse_args(argv)
    results = Path(args.results)
    if args.profile == "paper-dry":  # the dry run's stand-ins, as ci/build_book.sh maps them (unless told otherwise)
        from svd_icl.models import MODEL_MAP_ENV

        os.environ.setdefault(MODEL_MAP_ENV, str(ROOT / "ci" / "paper_dry_models.yaml"))
    if args.gpu_tflops is not None:
        if args.gpu_tflops <= 0:
            print(f"svd-icl plan: error: --gpu-tflops {args.gpu_tflops:g}: give a positive TFLOP/s", file=sys.stderr)
            return 2
        # the stated throughput is the device's at every dtype: undo the CPU's measured bfloat16/float16 factors
        MEASURED.update({d: args.gpu_tflops * 1e3 / DTYPE_EFFICIENCY[d] for d in DTYPE_EFFICIENCY})
        FIXED_SPEEDUP[0] = args.gpu_tflops * 1e3 / CALIBRATION_GFLOPS
    elif args.throughput_file:
        _shared_throughput(Path(args.throughput_file))
    chapters = args.chapters.split(",") if args.chapters else toc_chapters()
    try:
        if args.watch:
            watch(args.profile, results, args.watch, Path(args.current) if args.current else None, args.build_pid)
            return 0
        needs = build_plan(args.profile, results, chapters)
    except (ValueError, OSError) as exc:
        print(f"svd-icl plan: error: {exc}", file=sys.stderr)
        return 2
    if args.gpu_tflops is not None:
        workers = args.workers or 8
        print(device_table(needs, chapters, args.gpu_tflops, workers))
        memory = memory_needs(args.profile, chapters)
        print("memory: " + "; ".join(f"{m} {gb:.1f} GB of weights" for m, gb in memory.items())
              + " (one copy per device, plus a layer's factors and activations; about as much disk per download)")
        for note in NOTES:
            print(f"note: {note}")
        print("note: the engine's distance from the matmul floor was measured on a CPU; short rows run further from "
              "a GPU's peak, and the trained toys far further: read these as lower bounds")  # fmt: skip
        too_big = [f"{m} ({gb:.1f} GB)" for m, gb in memory.items() if args.gpu_memory and gb > args.gpu_memory]
        if too_big:
            print(f"svd-icl plan: error: weights do not fit in --gpu-memory {args.gpu_memory:g} GB: "
                  + ", ".join(too_big), file=sys.stderr)  # fmt: skip
            return 1
        return 0
    print(plan_table(needs, chapters))
    for note in NOTES:
        print(f"note: {note}")
    if args.fill:
        computed = fill(needs, results, args.fill, args.workers)
        print(f"svd-icl plan: {computed} sweep points computed on Ray into {results}")
        return 0
    if args.check:
        problems = check(needs, results)
        for p in problems:
            print(f"svd-icl plan: {p}", file=sys.stderr)
        return 1 if problems else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
