"""Benchmark of the evaluation engine, in float32 and bfloat16, against the naive float32 path (same run).

For each model and task (SST-2, 10 shots, a single-token classification; COPA, 5 shots, a choice between
multi-token continuations): ``--n`` test queries, a sweep of 8 clip rates over one layer's MLP, at layer 0 and at
the last layer. The naive path is the authors' procedure in float32 (full prompt per query, batch size 1,
full-vocabulary logits at every position); the fast path caches the demonstration prefix, batches queries,
resumes from the truncated layer and forms only the label logits, once per ``--dtypes`` entry. Prints, per dtype,
the speed-up over the naive float32 path, queries per second, the agreement of the predictions with the naive
path and the largest score difference, and how far the fast path is from its arithmetic floor: the FLOPs it
needs divided by this CPU's measured matmul throughput *in the same dtype*.

Then, per model and task, one float32 evaluation of 200 queries at several batch sizes: the bound on what stacking
clip rates into the batch dimension could gain on this CPU.

    python benchmarks/bench_eval.py [--models gemma3-270m smollm2-135m] [--tasks sst2 copa] [--n 12]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import time

import numpy as np
import torch

from svd_icl.architectures import architecture_for, decoder_layers
from svd_icl.evaluation import FastEvaluator, evaluate_naive
from svd_icl.models import load_model
from svd_icl.prompts import encode
from svd_icl.pruning import Pruner
from svd_icl.tasks import prepare

GRID = [0.0, 0.1, 0.5, 0.75, 0.9, 0.95, 0.99, 0.995]


def matmul_gflops(dtype: torch.dtype = torch.float32, size: int = 1024, repeats: int = 10) -> float:
    a, b = torch.randn(size, size, dtype=dtype), torch.randn(size, size, dtype=dtype)
    a @ b
    t0 = time.perf_counter()
    for _ in range(repeats):
        a @ b
    return 2 * size**3 * repeats / (time.perf_counter() - t0) / 1e9


def floor_flops(model, prompts, layer: int, rates: int) -> float:
    """Matmul FLOPs the fast sweep cannot avoid: prefix once below ``layer`` and per rate above it, each query's
    tokens once and each candidate continuation's tokens once (a choice task's candidates can share the query's
    cached state), and the scoring products: the label rows at the last position for single-token labels, the
    full vocabulary at every scored continuation token otherwise (the log-softmax needs all of it). Attention scores
    are included; norms, activations and the softmax's exponentials are not."""
    blocks = decoder_layers(model, architecture_for(model))
    per_layer = [2 * sum(p.numel() for p in blk.parameters() if p.ndim == 2) for blk in blocks]
    P = len(prompts.prefix)
    single = prompts.shared_single_tokens is not None
    cont = 0 if single else sum(len(c) for cands in prompts.candidates for c in cands)
    q_tokens = sum(len(q) for q in prompts.queries) + cont
    hidden = model.config.hidden_size
    vocab = model.get_output_embeddings().weight.shape[0]
    attn = 4 * hidden * (P * P / 2 + q_tokens * P)  # QK^T and AV over the prefix, per layer
    below, above = sum(per_layer[:layer]), sum(per_layer[layer:])
    L = len(blocks)
    head = 2 * hidden * (len(prompts) * len(prompts.candidates[0]) if single else vocab * cont)
    once = (P + q_tokens) * below + attn * layer
    per_rate = (P + q_tokens) * above + attn * (L - layer) + head
    return once + rates * per_rate


def batch_scaling(model, prompts, sizes: list[int]) -> dict[int, float]:
    """Seconds of one full evaluation per batch size: stacking k clip rates into the batch dimension (one changed
    layer each) multiplies the batch by k, so it can only beat one rate at a time if bigger batches run faster per
    query on this CPU. This measures that bound without building the stacked model."""
    out = {}
    for size in sizes:
        evaluator = FastEvaluator(model, prompts, batch_size=size, progress=False)
        evaluator.evaluate()  # warm-up
        t0 = time.perf_counter()
        evaluator.evaluate()
        out[size] = time.perf_counter() - t0
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["gemma3-270m", "smollm2-135m"])
    parser.add_argument("--tasks", nargs="+", default=["sst2", "copa"], help="a classification and a choice task")
    parser.add_argument("--n", type=int, default=12, help="test queries (the naive path is slow)")
    parser.add_argument("--dtypes", nargs="+", default=["float32", "bfloat16"], choices=["float32", "bfloat16"])
    parser.add_argument("--batch-sizes", nargs="*", type=int, default=[8, 16, 32, 64],
                        help="batch sizes of the multi-rate bound (one evaluation each)")  # fmt: skip
    parser.add_argument("--data-dir", default=os.environ.get("SVD_ICL_DATA"))
    parser.add_argument("--profile", action="store_true", help="print torch.profiler's top operators per fast sweep")
    args = parser.parse_args()
    gflops = {d: matmul_gflops(getattr(torch, d)) for d in args.dtypes}
    print(f"CPU matmul throughput ({torch.get_num_threads()} threads): "
          + ", ".join(f"{d} {g:.0f} GFLOP/s" for d, g in gflops.items()))  # fmt: skip
    shots = {"sst2": 10, "copa": 5}
    for name in args.models:
        model, tok = load_model(name)
        layers = (0, model.config.num_hidden_layers - 1)
        for task in args.tasks:
            prompts = encode(prepare(task, shots.get(task), 0, n_test=args.n, data_root=args.data_dir), "test", tok)
            naive, t_naive = {}, {}
            pruner = Pruner(model)
            for layer in layers:
                t0 = time.perf_counter()
                for xi in GRID:
                    with pruner.truncated(layer, "mlp", xi):
                        naive[layer, xi] = evaluate_naive(model, prompts)
                t_naive[layer] = time.perf_counter() - t0
            for dtype in args.dtypes:
                fast_model = model if dtype == "float32" else load_model(name, getattr(torch, dtype))[0]
                for layer in layers:
                    evaluator = FastEvaluator(fast_model, prompts, progress=False)
                    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) if args.profile \
                            else contextlib.nullcontext() as prof:  # fmt: skip
                        t0 = time.perf_counter()
                        fast = dict(evaluator.sweep(Pruner(fast_model), layer, "mlp", GRID))
                        t_fast = time.perf_counter() - t0
                    if args.profile:
                        print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=8))
                    agree = np.mean([(naive[layer, xi].predictions == fast[xi].predictions).mean() for xi in GRID])
                    diff = max(np.abs(naive[layer, xi].scores - fast[xi].scores).max() for xi in GRID)
                    floor = floor_flops(fast_model, prompts, layer, len(GRID)) / (gflops[dtype] * 1e9)
                    print(
                        f"{name} {task:5s} {dtype:8s} layer {layer:2d}: naive float32 {t_naive[layer]:7.1f} s, fast"
                        f" {t_fast:6.2f} s, speed-up {t_naive[layer] / t_fast:6.1f}x"
                        f" | own-dtype floor {floor:5.2f} s ({t_fast / floor:4.1f}x above)"
                        f" | agreement with naive float32 {agree:.1%}, max score diff {diff:.1e}"
                    )
            if args.batch_sizes:
                big = encode(prepare(task, shots.get(task), 0, n_test=200, data_root=args.data_dir), "test", tok)
                times = batch_scaling(model, big, args.batch_sizes)
                ref = times.get(16, next(iter(times.values())))
                print(f"{name} {task:5s} float32 one evaluation of 200 queries by batch size: "
                      + ", ".join(f"{b}: {t:.2f} s ({ref / t:.2f}x)" for b, t in times.items())
                      + " (ratios against batch 16; a rate-stacked forward needs a larger batch to gain)")  # fmt: skip


if __name__ == "__main__":
    main()
