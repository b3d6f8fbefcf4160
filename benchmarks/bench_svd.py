"""Benchmark of the truncation core on a bundled model (issue: SVD speed and memory targets).

Prints, for one layer of the model: the time to decompose all its ATTN+MLP matrices, the time per additional
clip rate from the cached factors (target: < 5% of a decomposition), and the peak resident memory of a sweep
against the model's own size (target: model + one layer's factors, no second copy of the model); then, for each
wide matrix shape of the layer, LAPACK's time on the wide orientation against the tall one that ``svd.decompose``
and the condition numbers use (the same singular values).

    python benchmarks/bench_svd.py [--model smollm2-135m] [--layer 0] [--repeats 3]
"""

from __future__ import annotations

import argparse
import resource
import time

import torch

from svd_icl.models import load_model
from svd_icl.pruning import Pruner


def rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--layer", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    grid = [0.1, 0.5, 0.75, 0.9, 0.95, 0.99, 0.995]

    model, _ = load_model(args.model)
    model_mib = sum(p.numel() * p.element_size() for p in model.parameters()) / 2**20
    rss_loaded = rss_mib()

    decompose_times, rate_times = [], []
    for _ in range(args.repeats):
        pruner = Pruner(model)
        t0 = time.perf_counter()
        with pruner.truncated(args.layer, "all", grid[0]):
            pass
        decompose_times.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        for xi in grid[1:]:
            with pruner.truncated(args.layer, "all", xi):
                pass
        rate_times.append((time.perf_counter() - t0) / (len(grid) - 1))
    factors_mib = (
        sum((f.U.numel() + f.S.numel() + f.Vh.numel()) * f.U.element_size() for f in pruner._cache.values()) / 2**20
    )
    dec, per_rate = min(decompose_times), min(rate_times)
    print(f"model {args.model}, layer {args.layer}, {len(pruner._cache)} matrices, threads {torch.get_num_threads()}")
    print(f"decompose all matrices of the layer (once, incl. first rate): {dec * 1000:8.1f} ms")
    print(f"each further clip rate from cached factors (apply + restore):  {per_rate * 1000:8.1f} ms")
    print(f"ratio per-rate / decomposition: {per_rate / dec:.3f}  (target < 0.05)")
    print(f"model weights {model_mib:.0f} MiB; one layer's factors {factors_mib:.1f} MiB")
    print(
        f"peak RSS after load {rss_loaded:.0f} MiB, after sweeps {rss_mib():.0f} MiB "
        f"(growth {rss_mib() - rss_loaded:.0f} MiB; a second model copy would add {model_mib:.0f} MiB)"
    )
    orientation(sorted({f.shape for f in pruner._cache.values()}), args.repeats)


def orientation(shapes: list[tuple[int, int]], repeats: int) -> None:
    """Seconds of ``torch.linalg.svd`` on each wide shape as it is and transposed, in one run."""
    for m, n in shapes:
        if m >= n:
            continue
        w = torch.randn(m, n, generator=torch.Generator().manual_seed(0))
        wide, tall = (min(_seconds(lambda a=a: torch.linalg.svd(a, full_matrices=False)) for _ in range(repeats))
                      for a in (w, w.T.contiguous()))  # fmt: skip
        print(f"svd of a {m}x{n} matrix: wide {wide * 1000:7.1f} ms, as its {n}x{m} transpose {tall * 1000:7.1f} ms "
              f"(ratio {wide / tall:.1f}x)")  # fmt: skip


def _seconds(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


if __name__ == "__main__":
    main()
