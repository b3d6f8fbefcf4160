"""Benchmark of the evaluation engine, in float32 and bfloat16, against the naive float32 path (same run).

For each model: SST-2, 10 shots, ``--n`` test queries, a sweep of 8 clip rates over one layer's MLP, at layer 0
and at the last layer. The naive path is the authors' procedure in float32 (full prompt per query, batch size 1,
full-vocabulary logits at every position); the fast path caches the demonstration prefix, batches queries,
resumes from the truncated layer and forms only the label logits, once per ``--dtypes`` entry. Prints, per dtype,
the speed-up over the naive float32 path, queries per second, the agreement of the predictions with the naive
path and the largest score difference, and how far the fast path is from its arithmetic floor: the FLOPs it
needs divided by this CPU's measured matmul throughput *in the same dtype*.

    python benchmarks/bench_eval.py [--models gemma3-270m smollm2-135m] [--n 12] [--dtypes float32 bfloat16]
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
    """Matmul FLOPs the fast sweep cannot avoid: prefix once below ``layer`` and per rate above it, queries the
    same way, label logits only. Attention scores are included; norms and activations are not."""
    blocks = decoder_layers(model, architecture_for(model))
    per_layer = [2 * sum(p.numel() for p in blk.parameters() if p.ndim == 2) for blk in blocks]
    P = len(prompts.prefix)
    q_tokens = sum(len(q) for q in prompts.queries)
    hidden = model.config.hidden_size
    attn = 4 * hidden * (P * P / 2 + q_tokens * P)  # QK^T and AV over the prefix, per layer
    below, above = sum(per_layer[:layer]), sum(per_layer[layer:])
    L = len(blocks)
    once = (P + q_tokens) * below + attn * layer
    per_rate = (P + q_tokens) * above + attn * (L - layer) + 2 * hidden * len(prompts) * len(prompts.candidates[0])
    return once + rates * per_rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["gemma3-270m", "smollm2-135m"])
    parser.add_argument("--n", type=int, default=12, help="test queries (the naive path is slow)")
    parser.add_argument("--dtypes", nargs="+", default=["float32", "bfloat16"], choices=["float32", "bfloat16"])
    parser.add_argument("--data-dir", default=os.environ.get("SVD_ICL_DATA"))
    parser.add_argument("--profile", action="store_true", help="print torch.profiler's top operators per fast sweep")
    args = parser.parse_args()
    gflops = {d: matmul_gflops(getattr(torch, d)) for d in args.dtypes}
    print(f"CPU matmul throughput ({torch.get_num_threads()} threads): "
          + ", ".join(f"{d} {g:.0f} GFLOP/s" for d, g in gflops.items()))
    for name in args.models:
        model, tok = load_model(name)
        prompts = encode(prepare("sst2", 10, 0, n_test=args.n, data_root=args.data_dir), "test", tok)
        layers = (0, model.config.num_hidden_layers - 1)
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
                qps = len(prompts) * len(GRID) / t_fast
                floor = floor_flops(fast_model, prompts, layer, len(GRID)) / (gflops[dtype] * 1e9)
                print(
                    f"{name} {dtype:8s} layer {layer:2d}: naive float32 {t_naive[layer]:7.1f} s, fast {t_fast:6.2f} s,"
                    f" speed-up {t_naive[layer] / t_fast:6.1f}x | {qps:6.1f} query-rates/s"
                    f" | own-dtype floor {floor:5.2f} s ({t_fast / floor:4.1f}x above)"
                    f" | agreement with naive float32 {agree:.1%}, max score diff {diff:.1e}"
                )


if __name__ == "__main__":
    main()
