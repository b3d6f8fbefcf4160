"""``svd-icl``: the package's experiments from the command line (clusters, scripts, no Jupyter).

    svd-icl sweep --model gemma3-270m --task sst2 --layers 0,1,-2,-1 --modules attn,mlp \\
                  --clip-rates 0,0.1,0.5,0.75,0.9,0.95,0.99,0.995 --shots 10 --n 300 --out results/sweep.jsonl
    svd-icl cond --model smollm2-135m --out cond.csv
"""

from __future__ import annotations

import argparse
import sys
import warnings

import torch

from svd_icl.svd import DEFAULT_CLIP_RATES
from svd_icl.tasks import check_count


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


def _ray_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--ray",
        default=None,
        metavar="local|auto|ADDRESS",
        help="fan out over Ray: local (this machine), auto (the cluster this machine joined), or a cluster address",
    )
    p.add_argument("--workers", type=int, default=None, help="Ray workers (default: one per GPU, else per CPU group)")
    p.add_argument("--cpus-per-worker", type=int, default=1, help="CPUs (torch threads) per Ray worker without GPUs")


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
    sw.add_argument("--clip-rates", type=_floats, default=list(DEFAULT_CLIP_RATES))
    sw.add_argument("--shots", type=int, default=None, help="demonstrations (default: the paper's, App. C.3)")
    sw.add_argument("--seed", type=int, default=0, help="fixes demonstrations and subsamples")
    sw.add_argument(
        "--demo-seed", type=int, default=None, help="other demonstrations over the same queries (default: --seed)"
    )
    sw.add_argument("--split", default="test", choices=["validation", "test"])
    sw.add_argument("--n", type=int, default=None, help="evaluate the first n (seeded) rows of the split")
    sw.add_argument("--order", default="shuffled", choices=["shuffled", "interleaved"], help="demonstration order")
    sw.add_argument("--label-words", default=None, help="comma list, one per class (default: the task's)")
    sw.add_argument("--batch-size", type=int, default=16)
    sw.add_argument(
        "--data-dir", default=None, help="directory of <task>/<split>.jsonl (default: $SVD_ICL_DATA or Hub)"
    )
    sw.add_argument("--out", required=True, help="results file (JSON lines); finished points are skipped on rerun")
    _ray_args(sw)

    a1 = sub.add_parser("algorithm1", help="condition-number-guided layer + clip-rate search (App. C.2)")
    _model_args(a1)
    a1.add_argument("--task", required=True, help="sst2 | agnews | emoc | mrpc | rte | cb | copa")
    a1.add_argument("--module", required=True, choices=["attn", "mlp"])
    a1.add_argument("--k", type=int, default=3, help="take the deepest of the k layers with the largest cond")
    a1.add_argument("--aggregate", default="max", choices=["max", "mean"], help="combine a module's matrices")
    a1.add_argument("--clip-rates", type=_floats, default=list(DEFAULT_CLIP_RATES))
    a1.add_argument("--shots", type=int, default=None)
    a1.add_argument("--seed", type=int, default=0)
    a1.add_argument("--n-validation", type=int, default=None)
    a1.add_argument("--n-test", type=int, default=None)
    a1.add_argument("--batch-size", type=int, default=16)
    a1.add_argument("--data-dir", default=None)
    a1.add_argument("--out", default=None, help="append the result (JSON) to this file")
    a1.add_argument("--export", default=None, metavar="DIR", help="write the chosen truncation there (svd-icl export)")
    a1.add_argument("--force", action="store_true", help="with --export: write into a non-empty DIR")
    _ray_args(a1)

    cond = sub.add_parser("cond", help="condition numbers of every matrix of every layer (CSV)")
    _model_args(cond)
    cond.add_argument("--out", required=True)
    ex = sub.add_parser("export", help="write a truncated model as a transformers checkpoint with a model card")
    _model_args(ex)
    ex.add_argument("--layer", type=int, action="append", required=True, help="layer to truncate (repeatable)")
    ex.add_argument("--module", action="append", required=True, help="attn, mlp or a matrix, one per --layer")
    ex.add_argument("--clip-rate", type=float, action="append", required=True, help="clip rate, one per --layer")
    ex.add_argument("--out", required=True, help="new (or empty) directory for the checkpoint")
    ex.add_argument("--factorized", action="store_true", help="store rank-r factors (svd_icl.export.load_factorized)")
    ex.add_argument("--force", action="store_true", help="write into a non-empty --out")
    ex.add_argument("--effect", default=None, help="a sentence on the setting's measured effect, for the model card")
    lt = sub.add_parser("lm-eval-tasks", help="the book's prompts as lm-evaluation-harness task files")
    lt.add_argument("--model", required=True, help="the model you will score (its tokenizer sets BOS and counts)")
    lt.add_argument("--task", required=True, help="sst2 | agnews | emoc | mrpc | rte | cb | copa")
    lt.add_argument("--shots", type=int, default=None, help="demonstrations (default: the paper's, App. C.3)")
    lt.add_argument("--seed", type=int, default=0, help="fixes demonstrations and subsamples (as for sweep)")
    lt.add_argument("--demo-seed", type=int, default=None, help="other demonstrations over the same queries")
    lt.add_argument("--split", default="test", choices=["validation", "test"])
    lt.add_argument("--n", type=int, default=None, help="the first n (seeded) rows of the split, as for sweep")
    lt.add_argument("--order", default="shuffled", choices=["shuffled", "interleaved"], help="demonstration order")
    lt.add_argument("--label-words", default=None, help="comma list, one per class (default: the task's)")
    lt.add_argument("--data-dir", default=None, help="directory of <task>/<split>.jsonl (default: $SVD_ICL_DATA)")
    lt.add_argument("--out", required=True, help="new (or empty) directory for the task files")
    lt.add_argument("--force", action="store_true", help="write into a non-empty --out")
    # listed for --help; its options are svd_icl.plan's own (main() hands the arguments over unparsed)
    sub.add_parser("plan", help="the book build's plan: points each chapter needs, stored, compute left")
    return parser


# Options whose values may start with a minus sign ("--layers -1,0"): argparse would read "-1,0" as an option.
LIST_OPTIONS = ("--layers", "--clip-rates")


def _join_list_values(argv: list[str]) -> list[str]:
    """Rewrite ``--layers -1,0`` as ``--layers=-1,0`` so that argparse takes the value as the option's."""
    out, i = [], 0
    while i < len(argv):
        if argv[i] in LIST_OPTIONS and i + 1 < len(argv):
            out.append(f"{argv[i]}={argv[i + 1]}")
            i += 2
        else:
            out.append(argv[i])
            i += 1
    return out


def _sweep(args) -> int:
    from svd_icl.models import load_model
    from svd_icl.results import ResultStore
    from svd_icl.sweep import KEY_FIELDS, SweepConfig, run_sweep

    check_count("--n", args.n, 1)
    check_count("--shots", args.shots, 0)
    check_count("--demo-seed", args.demo_seed, 0)
    check_count("--batch-size", args.batch_size, 1)
    modules = [m.strip() for m in args.modules.split(",") if m.strip()]
    if not modules:
        raise ValueError(f"--modules {args.modules!r}: give a comma list of attn, mlp, all or matrix names")
    config = SweepConfig(
        model=args.model,
        task=args.task,
        layers=args.layers,
        modules=modules,
        clip_rates=args.clip_rates,
        shots=args.shots,
        seed=args.seed,
        demo_seed=args.demo_seed,
        split=args.split,
        n=args.n,
        batch_size=args.batch_size,
        data_root=args.data_dir,
        order=args.order,
        label_words=tuple(args.label_words.split(",")) if args.label_words else None,
    )
    for note in config.check():
        print(f"svd-icl: note: {note}", file=sys.stderr)
    _check_out(args.out)
    ResultStore(args.out, KEY_FIELDS).records()  # refuse a foreign file before loading anything
    _check_data(config.task, config.seed, args.data_dir)
    _check_ray(args)
    if args.ray:
        from svd_icl.distributed import run_sweep_ray

        dtype = str(args.dtype).removeprefix("torch.")
        frame = run_sweep_ray(config, args.out, dtype, args.ray, args.workers, args.cpus_per_worker)
    else:
        model, tok = load_model(args.model, args.dtype, args.device, trust_remote_code=args.trust_remote_code)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            frame = run_sweep(model, tok, config, args.out)
        for w in caught:  # our notes as one line each; others (libraries') are passed on unchanged
            if str(w.message).startswith("sweep: "):
                print(f"svd-icl: note: {str(w.message).removeprefix('sweep: ')}", file=sys.stderr)
            else:
                warnings.showwarning(w.message, w.category, w.filename, w.lineno)
    cols = ["layer", "module", "clip_rate", "accuracy", "majority_rate", "macro_f1", "ties"]
    print(frame[cols].to_string(index=False))
    return 0


def _algorithm1(args) -> int:
    import json

    from svd_icl.algorithm1 import RUN_KEY, algorithm1
    from svd_icl.models import load_model
    from svd_icl.results import ResultStore
    from svd_icl.svd import check_clip_rate

    check_count("--n-validation", args.n_validation, 1)
    check_count("--n-test", args.n_test, 1)
    check_count("--shots", args.shots, 0)
    check_count("--k", args.k, 1)
    check_count("--batch-size", args.batch_size, 1)
    if not args.clip_rates:
        raise ValueError("--clip-rates is empty: give at least one clip rate in [0, 1)")
    for xi in args.clip_rates:
        check_clip_rate(xi)
    store = None
    if args.out:
        _check_out(args.out)
        store = ResultStore(args.out, RUN_KEY, kind="algorithm1")
        store.records()
    if args.export:
        from svd_icl.export import check_out

        check_out(args.export, args.force)
    _check_data(args.task, args.seed, args.data_dir, args.n_validation, args.n_test)
    _check_ray(args)
    if args.ray:
        from svd_icl.distributed import run_algorithm1_ray

        if store is None:
            raise ValueError("--ray needs --out: the driver appends the run there")
        run = {"task": args.task, "module": args.module, "seed": args.seed, "k": args.k, "aggregate": args.aggregate,
               "grid": tuple(args.clip_rates), "shots": args.shots, "n_validation": args.n_validation,
               "n_test": args.n_test, "data_root": args.data_dir, "batch_size": args.batch_size}  # fmt: skip
        dtype = str(args.dtype).removeprefix("torch.")
        (record,) = run_algorithm1_ray(args.model, [run], store, dtype, args.ray, args.workers, args.cpus_per_worker)
        print(json.dumps({k: record[k] for k in ("model", "task", "layer", "module", "best_clip_rate")}, indent=2))
        if args.export:
            from svd_icl.algorithm1 import Algorithm1Result

            fields = Algorithm1Result.__dataclass_fields__
            _export_choice(args, Algorithm1Result(**{k: v for k, v in record.items() if k in fields}))
        return 0
    model, tok = load_model(args.model, args.dtype, args.device, trust_remote_code=args.trust_remote_code)
    res = algorithm1(
        model,
        tok,
        args.model,
        args.task,
        args.module,
        k=args.k,
        aggregate=args.aggregate,
        grid=tuple(args.clip_rates),
        shots=args.shots,
        seed=args.seed,
        n_validation=args.n_validation,
        n_test=args.n_test,
        data_root=args.data_dir,
        batch_size=args.batch_size,
    )
    print(json.dumps(res.row(), indent=2))
    if store is not None:
        store.append(res.record())
    if args.export:
        _export_choice(args, res, model, tok)  # the model is back to its loaded weights (restored bit for bit)
    return 0


def _export_choice(args, res, model=None, tok=None) -> None:
    """``--export``: the truncation Algorithm 1 chose, with its measured test effect on the model card."""
    from svd_icl.export import Truncation, export

    if res.best_clip_rate == 0:
        print(f"svd-icl: note: Algorithm 1 kept the model unpruned (clip rate 0); nothing written to {args.export}",
              file=sys.stderr)  # fmt: skip
        return
    cut = Truncation(res.layer, res.module, res.best_clip_rate)
    out = export(args.model, [cut], args.export, dtype=args.dtype, force=args.force, effect=res.effect(),
                 model=model, tokenizer=tok)  # fmt: skip
    print(f"wrote {out} (layer {res.layer} {res.module}, clip rate {res.best_clip_rate:g}; card: {out / 'README.md'})")


def _cond(args) -> int:
    from svd_icl.conditioning import condition_numbers
    from svd_icl.models import load_model

    out = _check_out(args.out)
    model, _ = load_model(args.model, args.dtype, args.device, trust_remote_code=args.trust_remote_code)
    condition_numbers(model).to_csv(out, index=False)
    print(f"wrote {out}")
    return 0


def _export(args) -> int:
    from svd_icl.export import Truncation, export

    if not len(args.layer) == len(args.module) == len(args.clip_rate):
        raise ValueError(
            f"{len(args.layer)} --layer, {len(args.module)} --module and {len(args.clip_rate)} --clip-rate given: "
            "give one of each per truncation"
        )
    # export() checks the truncations and --out before it loads the model
    truncations = [Truncation(la, mo, xi) for la, mo, xi in zip(args.layer, args.module, args.clip_rate)]
    out = export(args.model, truncations, args.out, args.factorized, args.dtype, args.force, args.effect)
    print(
        f"wrote {out} ({'rank-r factors' if args.factorized else 'dense safetensors'}; model card: {out / 'README.md'})"
    )
    return 0


def _lm_eval_tasks(args) -> int:
    from svd_icl.export import check_out
    from svd_icl.lm_eval_tasks import write_tasks
    from svd_icl.models import load_tokenizer

    check_count("--n", args.n, 1)
    check_count("--shots", args.shots, 0)
    check_count("--demo-seed", args.demo_seed, 0)
    check_out(args.out, args.force)
    n = {"n_validation" if args.split == "validation" else "n_test": args.n}
    _check_data(args.task, args.seed, args.data_dir, **n)
    tokenizer = load_tokenizer(args.model)
    words = tuple(args.label_words.split(",")) if args.label_words else None
    files = write_tasks(args.task, args.out, tokenizer, args.shots, args.seed, args.n, args.split, words, args.order,
                        args.demo_seed, args.data_dir, tokenizer_name=args.model, force=args.force)  # fmt: skip
    print(f"wrote {files.name} ({files.n_docs} documents, prompt digest {files.digest}) to {files.directory}")
    if files.mismatched:
        print(f"svd-icl: note: {files.mismatched} documents tokenize differently under lm-eval's context/continuation "
              "split than in the book: lm-eval scores other token sequences there", file=sys.stderr)  # fmt: skip
    print(f"score a model: lm_eval --model hf --model_args pretrained=MODEL_DIR --tasks {files.name} "
          f"--include_path {files.directory} --log_samples --output_path OUT (add_bos_token unset)")  # fmt: skip
    return 0


def _check_out(path: str):
    """Every command treats ``--out`` alike: missing parents are created; a directory or unwritable path is refused."""
    from svd_icl.results import check_writable

    return check_writable(path, "--out")


def _check_ray(args) -> None:
    if args.ray is None:
        return
    if not args.ray.strip():
        raise ValueError("--ray '': give local, auto or a cluster address (e.g. ray://head:10001)")
    check_count("--workers", args.workers, 1)
    check_count("--cpus-per-worker", args.cpus_per_worker, 1)
    if args.device != "cpu":
        raise ValueError(
            f"--device {args.device} with --ray: workers use the cluster's GPUs when it has them; leave --device at cpu"
        )


def _check_data(task: str, seed: int, data_dir: str | None, n_validation=None, n_test=None) -> None:
    """Load and check the task's data (files, fields, split sizes) before a model is loaded."""
    from svd_icl.tasks import get_task, query_rows

    get_task(task)
    query_rows(task, seed, n_validation, n_test, data_dir)


def main(argv: list[str] | None = None) -> int:
    """Run one command; user errors print ``svd-icl: error: ...`` and return 2, before any model is loaded."""
    argv = _join_list_values(list(sys.argv[1:] if argv is None else argv))
    if argv[:1] == ["plan"]:
        from svd_icl.plan import main as plan_main

        return plan_main(argv[1:])
    args = build_parser().parse_args(argv)
    commands = {"sweep": _sweep, "algorithm1": _algorithm1, "cond": _cond, "export": _export,
                "lm-eval-tasks": _lm_eval_tasks}  # fmt: skip
    try:
        return commands[args.command](args)
    except (ValueError, FileNotFoundError) as exc:  # includes models.ModelLoadError
        print(f"svd-icl: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("svd-icl: interrupted; finished points are saved, rerun the same command to resume", file=sys.stderr)
        return 130
    except Exception:
        print("svd-icl: internal error (a bug, not your input); please report it with this traceback:", file=sys.stderr)
        raise


if __name__ == "__main__":
    sys.exit(main())
