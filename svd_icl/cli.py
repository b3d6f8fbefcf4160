"""``svd-icl``: the package's experiments from the command line (clusters, scripts, no Jupyter).

    svd-icl sweep --model gemma3-270m --task sst2 --layers 0,1,-2,-1 --modules attn,mlp \\
                  --clip-rates 0,0.1,0.5,0.75,0.9,0.95,0.99,0.995 --shots 10 --n 300 --out results/sweep.jsonl
    svd-icl cond --model smollm2-135m --out cond.csv
"""

from __future__ import annotations

import argparse
import sys

import torch


def _ints(text: str) -> list[int]:
    try:
        return [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers (e.g. 0,1,-1), got {text!r}") from None


def _floats(text: str) -> list[float]:
    try:
        return [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers (e.g. 0,0.5,0.9), got {text!r}") from None


def _dtype(text: str) -> torch.dtype:
    allowed = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}
    if text not in allowed:
        raise argparse.ArgumentTypeError(f"dtype {text!r} not one of {', '.join(allowed)}")
    return allowed[text]


def _model_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", required=True, help="bundled name (gemma3-270m, smollm2-135m), Hub id or directory")
    p.add_argument("--dtype", type=_dtype, default=torch.float32, help="float32 | float16 | bfloat16")
    p.add_argument("--device", default="cpu", help="cpu | cuda | cuda:N")
    p.add_argument("--trust-remote-code", action="store_true", help="run the model repository's own code (off)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="svd-icl", description="SVD pruning and in-context learning experiments")
    sub = parser.add_subparsers(dest="command", required=True)

    sw = sub.add_parser("sweep", help="few-shot metric over (layer, module, clip rate); resumable")
    _model_args(sw)
    sw.add_argument("--task", required=True, help="sst2 | agnews | emoc | mrpc | rte | cb | copa")
    sw.add_argument("--layers", type=_ints, required=True, help="comma list; negative counts from the end")
    sw.add_argument("--modules", default="attn,mlp", help="comma list of attn, mlp, all, or one matrix (e.g. v)")
    sw.add_argument("--clip-rates", type=_floats, default=[0, 0.1, 0.5, 0.75, 0.9, 0.95, 0.99, 0.995])
    sw.add_argument("--shots", type=int, default=None, help="demonstrations (default: the paper's, App. C.3)")
    sw.add_argument("--seed", type=int, default=0, help="fixes demonstrations and subsamples")
    sw.add_argument("--split", default="test", choices=["validation", "test"])
    sw.add_argument("--n", type=int, default=None, help="evaluate the first n (seeded) rows of the split")
    sw.add_argument("--batch-size", type=int, default=16)
    sw.add_argument(
        "--data-dir", default=None, help="directory of <task>/<split>.jsonl (default: $SVD_ICL_DATA or Hub)"
    )
    sw.add_argument("--out", required=True, help="results file (JSON lines); finished points are skipped on rerun")

    a1 = sub.add_parser("algorithm1", help="condition-number-guided layer + clip-rate search (App. C.2)")
    _model_args(a1)
    a1.add_argument("--task", required=True, help="sst2 | agnews | emoc | mrpc | rte | cb | copa")
    a1.add_argument("--module", required=True, choices=["attn", "mlp"])
    a1.add_argument("--k", type=int, default=3, help="take the deepest of the k layers with the largest cond")
    a1.add_argument("--aggregate", default="max", choices=["max", "mean"], help="combine a module's matrices")
    a1.add_argument("--clip-rates", type=_floats, default=[0, 0.1, 0.5, 0.75, 0.9, 0.95, 0.99, 0.995])
    a1.add_argument("--shots", type=int, default=None)
    a1.add_argument("--seed", type=int, default=0)
    a1.add_argument("--n-validation", type=int, default=None)
    a1.add_argument("--n-test", type=int, default=None)
    a1.add_argument("--batch-size", type=int, default=16)
    a1.add_argument("--data-dir", default=None)
    a1.add_argument("--out", default=None, help="append the result (JSON) to this file")

    cond = sub.add_parser("cond", help="condition numbers of every matrix of every layer (CSV)")
    _model_args(cond)
    cond.add_argument("--out", required=True)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from svd_icl.models import load_model  # heavy imports after argument errors are reported

    try:
        if args.command == "sweep":
            from svd_icl.sweep import SweepConfig, run_sweep

            modules = [m.strip() for m in args.modules.split(",") if m.strip()]
            config = SweepConfig(
                args.model,
                args.task,
                args.layers,
                modules,
                args.clip_rates,
                args.shots,
                args.seed,
                args.split,
                args.n,
                args.batch_size,
                args.data_dir,
            )
            from svd_icl.tasks import get_task

            get_task(config.task)  # fail on a bad task before loading a model
            model, tok = load_model(args.model, args.dtype, args.device, trust_remote_code=args.trust_remote_code)
            frame = run_sweep(model, tok, config, args.out)
            cols = ["layer", "module", "clip_rate", "accuracy", "macro_f1", "ties"]
            print(frame[cols].to_string(index=False))
        elif args.command == "algorithm1":
            import json

            from svd_icl.algorithm1 import algorithm1
            from svd_icl.tasks import get_task

            get_task(args.task)
            model, tok = load_model(args.model, args.dtype, args.device, trust_remote_code=args.trust_remote_code)
            res = algorithm1(
                model,
                tok,
                args.model,
                args.task,
                args.module,
                args.k,
                args.aggregate,
                tuple(args.clip_rates),
                args.shots,
                args.seed,
                args.n_validation,
                args.n_test,
                args.data_dir,
                args.batch_size,
            )
            print(json.dumps(res.row(), indent=2))
            if args.out:
                with open(args.out, "a") as fh:
                    fh.write(json.dumps(res.to_dict()) + "\n")
        elif args.command == "cond":
            from svd_icl.conditioning import condition_numbers

            model, _ = load_model(args.model, args.dtype, args.device, trust_remote_code=args.trust_remote_code)
            condition_numbers(model).to_csv(args.out, index=False)
            print(f"wrote {args.out}")
    except (ValueError, FileNotFoundError) as exc:
        print(f"svd-icl: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
