"""The cost model: matmul FLOPs of each unit of work over the machine's measured throughput.

The estimate is arithmetic, not a guess from earlier builds: each point's matmul FLOPs (the layers it runs, its
prompt and query tokens, the vocabulary products of a choice task) divided by the machine's measured matmul
throughput (:class:`Machine`), times the engine's measured distance from that floor (the constants below;
``benchmarks/bench_eval.py`` measures them). Shapes come from each model's architecture on the meta device
(:class:`Shapes`: no weights read), or from a paper model's published config where the Hub is out of reach.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

from svd_icl.sweep import SweepPlan

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
# bfloat16 matmuls run about 3.9x faster than float32 on a CPU with AVX512-BF16, but a bfloat16 sweep point only
# about 2.3x (the precision chapter's recorded seconds): the rest of the work (norms, softmax, casts) does not speed up.
DTYPE_EFFICIENCY = {"float32": 1.0, "bfloat16": 1.7, "float16": 1.7}
# LAPACK's cost of an (m, n) matrix in matmul-FLOP equivalents per m n min(m, n), on the tall orientation that
# svd.decompose and the condition numbers use (bench_svd.py), plus a fixed cost per matrix that dominates small ones:
# Qwen2.5-1.5B's 196 singular-value problems take about 64 s, Gemma-3-270M's 126 about 5 s; one Qwen layer's SVDs 4.3 s.
SVDVALS_FLOPS_PER_MNK = 10  # singular values only (condition numbers)
SVD_FLOPS_PER_MNK = 25  # singular vectors too (truncation)
SVD_SECONDS_PER_MATRIX = 0.025
NOTEBOOK_OVERHEAD_S = 25  # kernel start, imports, model loads, plots: a chapter with everything stored
# Reading a GGUF file and de-quantizing its tensors for the quantization table, per weight, in float32-matmul
# FLOPs (measured: the three bundled models' tables, 1.94e9 weights, took 123 s at 112 GFLOP/s on 2 cores).
QUANTIZATION_FLOPS_PER_WEIGHT = 7.1e3
CALIBRATION_GFLOPS = 300.0  # float32 matmul throughput of the 2-core CPUs the trained toys' seconds were measured on

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


def measure_throughput(dtype: str = "float32") -> float:
    """This CPU's matmul throughput in GFLOP/s for ``dtype`` (1024 x 1024 products, all torch threads), the best
    of five: a busy moment should not make the whole plan look slower."""
    import torch

    a = torch.randn(1024, 1024, dtype=getattr(torch, dtype))
    a @ a
    best = float("inf")
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(4):
            a @ a
        best = min(best, time.perf_counter() - start)
    return 2 * 1024**3 * 4 / best / 1e9


class Machine:
    """The machine a plan prices for: its matmul throughput per dtype (measured on first use, or given), the speed-up
    of the trained toys over the CPU their seconds were measured on, and format speed-ups (the precision chapter)."""

    def __init__(self, gflops: dict[str, float] | None = None, fixed_speedup: float = 1.0):
        self.gflops = dict(gflops or {})
        self.fixed_speedup = fixed_speedup
        self.speedups: dict[tuple[str, str], float] = {}

    @classmethod
    def device(cls, tflops: float) -> Machine:
        """A device of ``tflops`` dense TFLOP/s at every dtype (the CPU's measured bfloat16/float16 factors undone).
        The trained toys are small models that run far below a GPU's peak: their estimate is a lower bound."""
        if tflops <= 0:
            raise ValueError(f"--gpu-tflops {tflops:g}: give a positive TFLOP/s")
        return cls({d: tflops * 1e3 / DTYPE_EFFICIENCY[d] for d in DTYPE_EFFICIENCY}, tflops * 1e3 / CALIBRATION_GFLOPS)

    @classmethod
    def from_file(cls, path: Path) -> Machine:
        """The throughputs measured once for a build (``path``, JSON), or measured now and written there: a watcher
        measuring while the notebooks run would see the cores shared and overestimate every point. Only float32 is
        measured up front: a CPU without native bfloat16 takes about a minute to time an emulated one, and the
        precision chapter sweeps bfloat16 only where it is faster."""
        if path.exists():
            return cls(json.loads(path.read_text()))
        machine = cls({"float32": measure_throughput("float32")})  # another dtype is measured when a unit needs it
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(machine.gflops))
        return machine

    def throughput(self, dtype: str = "float32") -> float:
        if dtype not in self.gflops:
            self.gflops[dtype] = measure_throughput(dtype)
        return self.gflops[dtype]

    def speedup(self, other: str, reference: str) -> float:
        """How much faster ``other`` matmuls run than ``reference`` ones here (:func:`svd_icl.fidelity.matmul_speedup`,
        measured once per machine)."""
        if (other, reference) not in self.speedups:
            from svd_icl.fidelity import matmul_speedup

            self.speedups[(other, reference)] = matmul_speedup(other, reference)
        return self.speedups[(other, reference)]


@dataclass(frozen=True)
class LayerFlops:
    """Matmul FLOPs per token of one decoder layer, and the widths the attention and the output products scale with."""

    per_token: float
    hidden: int
    vocab: int


class Shapes:
    """Model shapes and tokenizers for the plan, loaded once each: architectures on the meta device (no weights read),
    a paper model out of the Hub's reach from its published config. ``notes`` lists what had to be assumed."""

    def __init__(self):
        self._models: dict = {}
        self._tokenizers: dict = {}
        self.notes: list[str] = []

    def _note(self, text: str) -> None:
        if text not in self.notes:
            self.notes.append(text)

    @staticmethod
    def offline_stand_in(name: str) -> bool:
        """True when ``name`` is a paper model that resolves to a Hub id not in the local Hugging Face cache."""
        from svd_icl.models import in_hub_cache, resolve

        if name not in PUBLISHED_CONFIGS:
            return False
        path = resolve(name)
        return not Path(path).exists() and not in_hub_cache(path)

    def model(self, name: str):
        """The model's architecture on the meta device (parameter shapes, no memory, no weights read)."""
        if name not in self._models:
            import torch
            from transformers import AutoConfig, AutoModelForCausalLM

            from svd_icl.models import BUNDLED, bundled_config, model_map, resolve

            mapped = model_map().get(name, name)
            if mapped in BUNDLED:  # its config alone: no weight conversion to price it
                config = bundled_config(mapped)
            elif self.offline_stand_in(name):
                fields = dict(PUBLISHED_CONFIGS[name])
                config = AutoConfig.for_model(fields.pop("model_type"), **fields)
                self._note(f"{name}: shapes from its published config.json (the Hub copy is not in the local cache)")
            else:
                config = AutoConfig.from_pretrained(resolve(name))
            with torch.device("meta"):
                self._models[name] = AutoModelForCausalLM.from_config(config)
        return self._models[name]

    def tokenizer(self, name: str):
        if name not in self._tokenizers:
            from svd_icl.models import load_tokenizer

            source = name
            if self.offline_stand_in(name):
                self._note(f"{name}: prompt tokens counted with {PROXY_TOKENIZER}'s tokenizer (its own is not in the "
                           "local cache)")  # fmt: skip
                source = PROXY_TOKENIZER
            self._tokenizers[name] = load_tokenizer(source)
        return self._tokenizers[name]

    def depth(self, name: str) -> int:
        return self.model(name).config.num_hidden_layers

    def size(self, name: str) -> tuple[int, int]:
        """(parameters, decoder layers) of a model, from its architecture alone."""
        model = self.model(name)
        return sum(p.numel() for p in model.parameters()), model.config.num_hidden_layers

    def layer_flops(self, name: str) -> LayerFlops:
        from svd_icl.architectures import architecture_for, decoder_layers

        model = self.model(name)
        block = decoder_layers(model, architecture_for(model))[0]
        per_token = 2 * sum(p.numel() for p in block.parameters() if p.ndim == 2)
        return LayerFlops(float(per_token), model.config.hidden_size, model.get_output_embeddings().weight.shape[0])

    def matrices(self, name: str, module: str | None = None) -> list[tuple[int, int]]:
        """Shapes of one decoder layer's ``module`` matrices (the truncated ones), or of every 2-D decoder weight."""
        from svd_icl.architectures import architecture_for, decoder_layers, select_matrices, weight_view

        model = self.model(name)
        arch = architecture_for(model)
        if module is None:
            return [tuple(p.shape) for p in decoder_layers(model, arch).parameters() if p.ndim == 2]
        block = decoder_layers(model, arch)[0]
        return [tuple(weight_view(block, spec).shape) for _, spec in select_matrices(arch, module).values()]


def model_size(name: str) -> tuple[int, int]:
    """(parameters, decoder layers) of a model from its architecture alone (a paper model from its published
    config where the Hub is out of reach)."""
    return Shapes().size(name)


def svd_seconds(shapes: list[tuple[int, int]], gflops: float, flops_per_mnk: float = SVD_FLOPS_PER_MNK) -> float:
    """Seconds of LAPACK on matrices of ``shapes`` (singular vectors too by default; values only with
    :data:`SVDVALS_FLOPS_PER_MNK`)."""
    work = sum(flops_per_mnk * m * n * min(m, n) for m, n in shapes)
    return work / (gflops * 1e9) + SVD_SECONDS_PER_MATRIX * len(shapes)


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


def evaluation_cost(flops: LayerFlops, plan: SweepPlan, gflops: float, dtype: str = "float32") -> EvalCost:
    """:class:`EvalCost` of ``plan``'s prompts on a model of ``flops``: matmul FLOPs over ``gflops``, scaled by the
    measured distances from that floor (the constants above)."""
    p = plan.prompts
    L = plan.num_layers
    context = len(p.prefix) + 32
    if p.shared_single_tokens is not None:
        tokens = len(p.prefix) + sum(len(q) for q in p.queries)
        body = EFFICIENCY * tokens * L * (flops.per_token + 4 * flops.hidden * context)
        head = 2.0 * flops.hidden * len(p) * len(p.candidates[0])
    else:  # one row per (query, candidate); full-vocabulary log-softmax at each continuation token
        rows = [len(q) + len(c) for q, cands in zip(p.queries, p.candidates) for c in cands]
        scored = sum(len(c) for cands in p.candidates for c in cands)
        tokens = len(p.prefix) + sum(rows)
        body = EFFICIENCY_CHOICE * tokens * L * (flops.per_token + 4 * flops.hidden * context)
        head = SOFTMAX_FACTOR * 2 * flops.hidden * flops.vocab * scored
    scale = DTYPE_EFFICIENCY.get(dtype, 1.0) / (gflops * 1e9)
    return EvalCost(body * scale, head * scale)
