"""A direct control for quantization noise: add more noise of the GGUF error's own shape, see if truncation helps more.

If a truncation's gain came from removing the rounding error ``E`` of a quantized checkpoint, then adding noise
with ``E``'s structure to the same matrices should make the unpruned model worse and the truncated one less so:
the truncation's gain should *grow* with the added noise. :func:`noise_control` scores the unpruned model and one
truncation on the same queries with the layer's matrices as stored (level 0) and with independent noise added
whose per-weight variance is ``level`` times the file's own estimated error variance ``s^2 / 12``
(:mod:`svd_icl.quantization`): uniform on ``[-s/2, s/2]`` per weight, ``s`` the weight's GGUF block step, so the
noise has the block structure and scale of the file's type (Q4_K, Q6_K, Q5_0, ...). The noise is drawn from a
seeded generator per (seed, layer, matrix), so a level's answers are reproducible, and removed bit for bit.

Why uniform noise rather than re-quantizing: the de-quantized weights already lie on their type's grid, so
re-quantizing them with the same type returns (nearly) the same weights, and ``gguf`` has no quantizer for the
K-types Gemma and Qwen use (:func:`requantizable`). Noise of the same step is the closest control we can build.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, replace
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from gguf import GGMLQuantizationType, GGUFReader, quants
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from svd_icl.architectures import architecture_for, check_layer, decoder_layers, select_matrices, weight_view
from svd_icl.confirm import Selection
from svd_icl.evaluation import FastEvaluator
from svd_icl.pruning import Pruner
from svd_icl.quantization import GGUF_MATRICES, UNQUANTIZED, block_steps, combined_norm, error_norm
from svd_icl.results import ResultStore
from svd_icl.sweep import KEY_FIELDS, SweepConfig, plan_sweep, run_sweep, select, unit_records

NOISE_FILE = "noise.jsonl"
NOISE_KEY = (*KEY_FIELDS, "noise", "noise_seed")


def requantizable(qtype: str) -> bool:
    """Whether ``gguf`` (the reference Python quantizers) can quantize this type; it has none for K-types."""
    try:
        quants.quantize(np.zeros((1, quants.GGML_QUANT_SIZES[GGMLQuantizationType[qtype]][0]), np.float32),
                        GGMLQuantizationType[qtype])  # fmt: skip
    except NotImplementedError:
        return False
    return True


def _open_gguf(path: str | Path) -> tuple[GGUFReader, dict]:
    """One memory-mapped reader per file, with its tensors by name: a chapter looks up several matrices of one file
    (every pick's, in both arms), and parsing the tensor table each time is wasted work. Keyed by the file's
    modification time and size too, so a file rewritten in place is read again."""
    stat = Path(path).stat()
    return _open_gguf_cached(str(Path(path).resolve()), stat.st_mtime_ns, stat.st_size)


@lru_cache(maxsize=4)
def _open_gguf_cached(path: str, mtime_ns: int, size: int) -> tuple[GGUFReader, dict]:
    reader = GGUFReader(path)
    return reader, {t.name: t for t in reader.tensors}


def requantization_arm(gguf_path: str | Path, layer: int, module: str) -> pd.DataFrame:
    """The second arm a noise control could have, measured on the file instead of run through the model: re-quantize
    the de-quantized weights of ``layer``'s ``module`` (``"attn"``, ``"mlp"`` or one matrix such as ``"mlp.down"``;
    ``layer`` absolute) with their own GGUF type and see how far they move.

    One row per quantized matrix: ``qtype``, ``requantizable`` (``gguf`` has a quantizer for it), ``changed_share``
    (share of weights that differ after the round trip) and ``change_over_error`` (Frobenius norm of the change over
    the file's estimated error norm, :func:`svd_icl.quantization.error_norm`); both NaN where the type cannot be
    re-quantized here. A share of 0 means the arm adds no noise at all and so cannot test noise removal; that is why
    :func:`noise_control` adds noise of the file's step instead.
    """
    _, by_name = _open_gguf(gguf_path)
    rows = []
    for gguf_name, name in GGUF_MATRICES.items():
        tensor = by_name.get(f"blk.{layer}.{gguf_name}.weight")
        if not (name == module or name.startswith(f"{module}.")) or tensor is None or tensor.tensor_type in UNQUANTIZED:
            continue
        qtype, data = tensor.tensor_type, np.asarray(tensor.data)
        row = {"layer": layer, "matrix": name, "qtype": qtype.name, "requantizable": requantizable(qtype.name),
               "changed_share": float("nan"), "change_over_error": float("nan")}  # fmt: skip
        if row["requantizable"]:
            weights = quants.dequantize(data, qtype)
            change = quants.dequantize(quants.quantize(weights, qtype), qtype).astype(np.float64) - weights
            row["changed_share"] = float((change != 0).mean())
            row["change_over_error"] = float(np.linalg.norm(change)) / error_norm(block_steps(data, qtype))
        rows.append(row)
    return pd.DataFrame(rows)


def _processor(reader: GGUFReader, model: PreTrainedModel):
    """transformers' GGUF tensor processor for this file's architecture: it reorders some tensors (LLaMA's q and k
    rows) on loading, and the steps must be reordered the same way. A private-ish transformers API, used so that the
    step map follows whatever transformers does; :func:`gguf_steps` checks the result against the model's weights."""
    from transformers.modeling_gguf_pytorch_utils import TENSOR_PROCESSORS, TensorProcessor

    field = reader.fields["general.architecture"]
    arch = bytes(field.parts[field.data[0]]).decode()
    config = {k: getattr(model.config, k, None) for k in ("num_attention_heads", "num_key_value_heads")}
    return TENSOR_PROCESSORS.get(arch, TensorProcessor)(config=config)


def gguf_steps(gguf_path: str | Path, model: PreTrainedModel, layer: int, module: str) -> dict[str, torch.Tensor]:
    """Per matrix of ``module`` in ``layer`` (e.g. ``"mlp.gate"``), the GGUF step of every weight, in the model's
    layout (float32, the weight's shape). Raises if a de-quantized GGUF tensor is not exactly the model's weight
    (the map would be misaligned) or a matrix is stored unquantized (no rounding error to mimic)."""
    arch = architecture_for(model)
    layer = check_layer(model, layer, arch)
    block = decoder_layers(model, arch)[layer]
    reader, by_name = _open_gguf(gguf_path)
    processor = _processor(reader, model)
    gguf_names = {v: k for k, v in GGUF_MATRICES.items()}
    steps = {}
    for name, (_, spec) in select_matrices(arch, module).items():
        if name not in gguf_names:
            raise ValueError(f"matrix {name} has no GGUF counterpart; known: {', '.join(gguf_names)}")
        tensor = by_name.get(f"blk.{layer}.{gguf_names[name]}.weight")
        if tensor is None:
            raise ValueError(f"{gguf_path}: no tensor blk.{layer}.{gguf_names[name]}.weight")
        if tensor.tensor_type in UNQUANTIZED:
            raise ValueError(f"{tensor.name} is stored as {tensor.tensor_type.name}: no quantization error to mimic")
        data = np.asarray(tensor.data)
        weights = quants.dequantize(data, tensor.tensor_type)
        shape = weights.shape
        step = block_steps(data, tensor.tensor_type).reshape(shape).astype(np.float32)
        gguf_name = tensor.name
        dequant = processor.process(weights=weights, name=gguf_name).weights
        view = weight_view(block, spec)
        if tuple(dequant.shape) != tuple(view.shape) or not np.array_equal(
            dequant.astype(np.float32), view.detach().float().cpu().numpy()
        ):
            raise ValueError(f"{gguf_name} de-quantized differs from the model's {name} of layer {layer}: "
                             "was the model converted from this file?")  # fmt: skip
        steps[name] = torch.from_numpy(np.ascontiguousarray(processor.process(weights=step, name=gguf_name).weights))
    return steps


def uniform_noise(steps: torch.Tensor, level: float, seed: tuple[int, ...]) -> torch.Tensor:
    """Noise of per-weight variance ``level * s^2 / 12``: ``sqrt(level) * s * U(-1/2, 1/2)``, from a numpy
    generator seeded by ``seed`` (the same numbers on every device)."""
    u = np.random.default_rng(list(seed)).random(tuple(steps.shape), dtype=np.float32) - np.float32(0.5)
    return steps * torch.from_numpy(u) * float(np.sqrt(level))


@contextmanager
def noisy(model: PreTrainedModel, layer: int, steps: dict[str, torch.Tensor], level: float,
          seed: int = 0) -> Iterator[dict[str, float]]:  # fmt: skip
    """Within the block, each matrix of ``steps`` in ``layer`` carries added :func:`uniform_noise`; yields the
    Frobenius norm of the noise added per matrix. The weights are restored bit for bit afterwards."""
    if not level >= 0:
        raise ValueError(f"noise level {level!r} must be >= 0 (a multiple of the file's error variance)")
    arch = architecture_for(model)
    layer = check_layer(model, layer, arch)
    block = decoder_layers(model, arch)[layer]
    specs = arch.all_matrices()
    saved, norms = [], {}
    try:
        for i, (name, step) in enumerate(sorted(steps.items())):
            view = weight_view(block, specs[name][1])
            noise = uniform_noise(step, level, (seed, layer, i))
            saved.append((view, view.clone()))
            view.add_(noise.to(device=view.device, dtype=view.dtype))
            norms[name] = float(torch.linalg.vector_norm(noise.double()))
        yield norms
    finally:
        for view, original in reversed(saved):
            view.copy_(original)


def noise_control(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    config: SweepConfig,
    selection: Selection,
    gguf_path: str | Path,
    levels: tuple[float, ...] = (0.0, 3.0),
    noise_seed: int = 0,
    sweeps_file: str | Path = "sweeps.jsonl",
    noise_file: str | Path = NOISE_FILE,
    progress: bool = True,
) -> pd.DataFrame:
    """The unpruned model and ``selection`` on ``config``'s queries at each noise ``level`` (added variance, as a
    multiple of the file's estimated error variance) in the selection's layer and module.

    Level 0 is an ordinary sweep point (stored in ``sweeps_file``, shared with :func:`svd_icl.confirm.confirm` when
    the queries are the same); other levels are stored in ``noise_file`` keyed by ``noise`` and ``noise_seed`` too,
    with ``noise_norm`` (the Frobenius norm added to the module) and ``error_norm`` (the file's estimate). Returns
    the records with ``role`` (``unpruned`` / ``selected``) and ``noise``.
    """
    if not levels or any(not (level >= 0) for level in levels):
        raise ValueError(f"levels {tuple(levels)!r}: give noise levels >= 0 (0 is the weights as stored)")
    config = replace(config, layers=[selection.layer], modules=[selection.module],
                     clip_rates=[0.0, selection.clip_rate])  # fmt: skip
    frames = []
    if 0.0 in levels:
        frames.append(run_sweep(model, tokenizer, config, sweeps_file, progress=progress).assign(noise=0.0))
    noisier = [float(v) for v in levels if v > 0]
    if noisier:
        plan = plan_sweep(model, tokenizer, config)
        store = ResultStore(noise_file, NOISE_KEY)
        store.open()
        keys, todo = set(), []
        for level in noisier:
            extra = {"noise": level, "noise_seed": noise_seed}
            wanted = {store.key({**plan.point(selection.layer, selection.module, xi), **extra})
                      for xi in config.clip_rates}  # fmt: skip
            keys |= wanted
            if not wanted <= store.done():
                todo.append(extra)
        if todo:  # reading a GGUF file takes seconds: only when something is missing
            steps = gguf_steps(gguf_path, model, selection.layer, selection.module)
            predicted = combined_norm([error_norm(s.numpy()) for s in steps.values()])
        for extra in todo:
            with noisy(model, selection.layer, steps, extra["noise"], noise_seed) as norms:
                evaluator = FastEvaluator(model, plan.prompts, batch_size=config.batch_size, progress=progress)
                for record in unit_records(model, plan, selection.layer, selection.module, config.clip_rates,
                                           evaluator, Pruner(model)):  # fmt: skip
                    store.append({**record, **extra, "noise_norm": combined_norm(list(norms.values())),
                                  "error_norm": predicted, "config": asdict(config)})  # fmt: skip
        frames.append(select(store.records(), keys, store.key))
    points = pd.concat(frames, ignore_index=True)
    return points.assign(role=["unpruned" if xi == 0 else "selected" for xi in points.clip_rate])
