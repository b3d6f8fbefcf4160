"""How much noise the GGUF quantization put into each weight matrix, read from the file's block scales.

The bundled models are de-quantized GGUF files, so every weight the book truncates is ``W = W0 + E``: the trained
matrix plus a quantization error.  If truncation helped only by removing ``E``, the paper's effect would be an
artefact of quantized checkpoints.  To test that, we need ``||E||_F`` per matrix without knowing ``W0``.

**The error model.**  Every GGUF block format used here stores, per block (or sub-block) of 16-32 weights, a step
``s`` and integer codes: the weight is ``s * q + offset``.  Round-to-nearest with step ``s`` leaves an error that is
close to uniform on ``[-s/2, s/2]`` for weights spread over many steps, so ``E[e^2] = s^2 / 12`` and

    ||E||_F ~= sqrt( sum over weights of s^2 / 12 ).

Two caveats, both stated in the book: clipping at the ends of the code range and llama.cpp's importance-weighted
choice of scales (K-quants) change the error, in opposite directions; :func:`check_error_model` measures the model's
accuracy on Gaussian matrices quantized with ``gguf``'s reference quantizers, where they exist (Q8_0, Q5_0, Q4_1),
and :func:`check_k_error_model` on simulated Q4_K and Q6_K grids (``gguf`` cannot quantize K-types); :func:`off_grid`
checks on the files themselves that the steps read are the spacing of the de-quantized weights.

The per-format parsing follows the block layouts of ``gguf.quants`` (which de-quantizes but does not expose the
steps); each ``_steps_*`` function returns the step of every weight of a block array ``(n_blocks, bytes)``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
from gguf import GGMLQuantizationType, GGUFReader, quants

QK_K = 256

# GGUF tensor names of one block's matrices -> this package's matrix names (LLaMA, Qwen2 and Gemma files alike).
GGUF_MATRICES = {
    "attn_q": "attn.q",
    "attn_k": "attn.k",
    "attn_v": "attn.v",
    "attn_output": "attn.o",
    "ffn_gate": "mlp.gate",
    "ffn_up": "mlp.up",
    "ffn_down": "mlp.down",
}


def _f16(blocks: np.ndarray, start: int) -> np.ndarray:
    return blocks[:, start : start + 2].copy().view(np.float16).astype(np.float64)[:, 0]


def _steps_d_first(blocks: np.ndarray, size: int = 32) -> np.ndarray:
    """Q8_0, Q5_0, Q4_0, Q4_1, Q5_1: one float16 step ``d`` first in each block of 32 weights."""
    return np.repeat(np.abs(_f16(blocks, 0))[:, None], size, axis=1)


def _steps_q4_k(blocks: np.ndarray) -> np.ndarray:
    """Q4_K (and Q5_K): super-blocks of 256 = 8 sub-blocks of 32; step ``d * sc_j`` with 6-bit scales ``sc_j``."""
    d = _f16(blocks, 0)
    sc, _ = quants.Q4_K.get_scale_min(blocks[:, 4 : 4 + quants.Q4_K.K_SCALE_SIZE])
    return np.repeat(np.abs(d[:, None] * sc.astype(np.float64)), 32, axis=1)


def _steps_q6_k(blocks: np.ndarray) -> np.ndarray:
    """Q6_K: 16 sub-blocks of 16 weights; int8 scales after the 192 code bytes, float16 ``d`` last."""
    scales = blocks[:, QK_K // 2 + QK_K // 4 : QK_K // 2 + QK_K // 4 + QK_K // 16].copy().view(np.int8)
    d = _f16(blocks, blocks.shape[1] - 2)
    return np.repeat(np.abs(d[:, None] * scales.astype(np.float64)), 16, axis=1)


UNQUANTIZED = (GGMLQuantizationType.F32, GGMLQuantizationType.F16, GGMLQuantizationType.BF16)  # no rounding error

STEPS: dict[GGMLQuantizationType, Callable[[np.ndarray], np.ndarray]] = {
    GGMLQuantizationType.Q8_0: _steps_d_first,
    GGMLQuantizationType.Q5_0: _steps_d_first,
    GGMLQuantizationType.Q5_1: _steps_d_first,
    GGMLQuantizationType.Q4_0: _steps_d_first,
    GGMLQuantizationType.Q4_1: _steps_d_first,
    GGMLQuantizationType.Q4_K: _steps_q4_k,
    GGMLQuantizationType.Q5_K: _steps_q4_k,
    GGMLQuantizationType.Q6_K: _steps_q6_k,
}


def block_steps(data: np.ndarray, qtype: GGMLQuantizationType) -> np.ndarray:
    """The quantization step of every weight of raw GGUF data (any shape of uint8 whose rows are whole blocks)."""
    if qtype not in STEPS:
        raise ValueError(f"no error model for GGUF type {qtype.name}; supported: {', '.join(t.name for t in STEPS)}")
    block_size, type_size = quants.GGML_QUANT_SIZES[qtype]
    blocks = np.ascontiguousarray(data, dtype=np.uint8).reshape(-1, type_size)
    steps = STEPS[qtype](blocks)
    assert steps.shape == (len(blocks), block_size), (qtype, steps.shape)
    return steps.reshape(-1)


def error_norm(steps: np.ndarray) -> float:
    """Predicted Frobenius norm of the rounding error: ``sqrt(sum s^2 / 12)`` (uniform error within a step)."""
    return float(np.sqrt((np.asarray(steps, dtype=np.float64) ** 2).sum() / 12))


def quantization_table(gguf_path: str | Path) -> pd.DataFrame:
    """One row per truncatable matrix of a GGUF file: ``layer``, ``matrix`` (e.g. ``"mlp.down"``), ``qtype``,
    ``bits`` (stored bits per weight), ``weight_norm`` (Frobenius norm of the de-quantized matrix),
    ``error_norm`` (predicted ``||E||_F``) and ``relative_error`` (their ratio)."""
    rows = []
    for t in GGUFReader(str(gguf_path)).tensors:
        parts = t.name.split(".")
        if len(parts) != 4 or parts[0] != "blk" or parts[2] not in GGUF_MATRICES or parts[3] != "weight":
            continue
        data = np.asarray(t.data)
        if t.tensor_type in UNQUANTIZED:
            error, weights, outside = 0.0, data.astype(np.float64), 0.0
        else:
            error = error_norm(block_steps(data, t.tensor_type))
            weights = quants.dequantize(data, t.tensor_type).astype(np.float64)
            outside = off_grid(data, t.tensor_type, weights)
        block_size, type_size = quants.GGML_QUANT_SIZES[t.tensor_type]
        norm = float(np.linalg.norm(weights))
        rows.append(
            {
                "layer": int(parts[1]),
                "matrix": GGUF_MATRICES[parts[2]],
                "qtype": t.tensor_type.name,
                "bits": 8 * type_size / block_size,
                "weight_norm": norm,
                "error_norm": error,
                "relative_error": error / norm if norm else float("nan"),
                "off_grid": outside,
            }
        )
    if not rows:
        raise ValueError(f"{gguf_path}: no blk.N.<attn_q|...|ffn_down>.weight tensors found")
    return pd.DataFrame(rows).sort_values(["layer", "matrix"]).reset_index(drop=True)


def combined_norm(norms) -> float:
    """Frobenius norm of several matrices together, from their own norms: the root of the summed squares."""
    return float(np.sqrt((np.asarray(norms, dtype=np.float64) ** 2).sum()))


def module_error(table: pd.DataFrame, module: str) -> pd.DataFrame:
    """Per layer, the predicted quantization error of a module's matrices together (:func:`combined_norm`), with
    the types involved; ``module`` is "attn" or "mlp"."""
    part = table[table.matrix.str.startswith(module + ".")]
    return (
        part.groupby("layer")
        .agg(
            error_norm=("error_norm", combined_norm),
            weight_norm=("weight_norm", combined_norm),
            qtypes=("qtype", lambda q: "/".join(sorted(set(q)))),
        )
        .reset_index()
    )


def check_error_model(
    qtypes: tuple[str, ...] = ("Q8_0", "Q5_0", "Q4_1"), shape: tuple[int, int] = (256, 1024), seed: int = 0
) -> pd.DataFrame:
    """Quantize a Gaussian matrix with ``gguf``'s reference quantizer per type and compare the measured error norm
    with :func:`error_norm` of the steps read back from the quantized bytes (``ratio`` = measured / predicted)."""
    weights = _gaussian(shape, seed)
    rows = []
    for name in qtypes:
        qtype = GGMLQuantizationType[name]
        raw = quants.quantize(weights, qtype)
        measured = float(np.linalg.norm(quants.dequantize(raw, qtype).astype(np.float64) - weights))
        predicted = error_norm(block_steps(raw, qtype))
        rows.append({"qtype": name, "quantizer": "gguf reference", "measured": measured, "predicted": predicted,
                     "ratio": measured / predicted})  # fmt: skip
    return pd.DataFrame(rows)


def _gaussian(shape: tuple[int, int], seed: int) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32) * 0.02


# K-types: (weights per sub-block, lowest code, highest code, symmetric). Q6_K: w = step * q, q in [-32, 31];
# Q4_K / Q5_K: w = step * q - min, q in [0, 15] / [0, 31].
K_GRIDS = {"Q6_K": (16, -32, 31, True), "Q4_K": (32, 0, 15, False), "Q5_K": (32, 0, 31, False)}


def simulate_k_quant(weights: np.ndarray, qtype: str, search: bool) -> tuple[np.ndarray, np.ndarray]:
    """Quantize ``weights`` on a K-type's sub-block grid (float steps; the 6/8-bit coding of the steps is left
    out), returning (de-quantized weights, step per weight). ``gguf`` has no quantizer for K-types, so this brackets
    llama.cpp's: ``search=False`` sets each sub-block's step from its range (round-to-nearest); ``search=True``
    also tries 20 smaller steps (clipping the extremes) and keeps the one of least squared error, as llama.cpp's
    scale search does (unweighted here)."""
    size, lo, hi, symmetric = K_GRIDS[qtype]
    w = np.asarray(weights, dtype=np.float64).reshape(-1, size)
    if symmetric:
        offset = np.zeros((len(w), 1))
        # the step's sign maps the largest-magnitude weight to the code -32, as llama.cpp does (no clipping)
        base = np.take_along_axis(w, np.abs(w).argmax(axis=1)[:, None], axis=1) / lo
    else:
        offset = np.minimum(w.min(axis=1, keepdims=True), 0.0)
        base = (w.max(axis=1, keepdims=True) - offset) / hi
    base = np.where(base != 0, base, 1.0)
    best, best_err, best_step = None, None, None
    for factor in np.linspace(0.8, 1.0, 21) if search else [1.0]:
        step = base * factor
        deq = np.clip(np.round((w - offset) / step), lo, hi) * step + offset
        err = ((deq - w) ** 2).sum(axis=1, keepdims=True)
        if best is None:
            best, best_err, best_step = deq, err, np.broadcast_to(np.abs(step), w.shape).copy()
        else:
            better = err < best_err
            best = np.where(better, deq, best)
            best_step = np.where(better, np.abs(step), best_step)
            best_err = np.minimum(err, best_err)
    return best.reshape(np.shape(weights)), best_step.reshape(np.shape(weights))


def check_k_error_model(qtypes: tuple[str, ...] = ("Q4_K", "Q6_K"), shape: tuple[int, int] = (256, 1024),
                        seed: int = 0) -> pd.DataFrame:  # fmt: skip
    """:func:`check_error_model` for K-types, on :func:`simulate_k_quant`'s two quantizers."""
    weights = _gaussian(shape, seed).astype(np.float64)
    rows = []
    for name in qtypes:
        for search in (False, True):
            deq, steps = simulate_k_quant(weights, name, search)
            measured, predicted = float(np.linalg.norm(deq - weights)), error_norm(steps)
            rows.append({"qtype": name, "quantizer": "searched scales" if search else "round to nearest",
                         "measured": measured, "predicted": predicted, "ratio": measured / predicted})  # fmt: skip
    return pd.DataFrame(rows)


def off_grid(data: np.ndarray, qtype: GGMLQuantizationType, weights: np.ndarray | None = None) -> float:
    """Share of a raw GGUF tensor's de-quantized weights that are *not* on the grid of the steps read from its
    bytes: within each sub-block every weight minus the first must be a whole number of steps (to 1e-3 of a step).
    0 means :func:`block_steps` reads this type's layout right, on the file itself. ``weights``: the de-quantized
    tensor, when the caller has it already."""
    size = K_GRIDS[qtype.name][0] if qtype.name in K_GRIDS else 32  # weights sharing one step
    steps = block_steps(data, qtype).reshape(-1, size)
    w = (quants.dequantize(np.asarray(data), qtype) if weights is None else weights).astype(np.float64)
    w = w.reshape(-1, size)
    ok = steps[:, 0] > 0
    codes = (w[ok] - w[ok, :1]) / steps[ok]
    return float((np.abs(codes - np.round(codes)) > 1e-3).mean()) if ok.any() else 0.0


def quantization_path(results_dir: str | Path, name: str) -> Path:
    """Where :func:`bundled_quantization` caches model ``name``'s table (the build plan counts it by this name)."""
    return Path(results_dir) / f"quantization_{name}.csv"


def bundled_quantization(name: str, results_dir: str | Path) -> pd.DataFrame | None:
    """:func:`quantization_table` of a bundled model's GGUF file, cached in ``results_dir`` (reading a 1 GB file
    takes half a minute); ``None`` for a model that is not a bundled GGUF checkpoint (nothing was quantized)."""
    from svd_icl.models import BUNDLED, source_info
    from svd_icl.results import cached_table

    if name not in BUNDLED:
        return None
    sha = source_info(name)["gguf_sha256"]
    return cached_table(
        quantization_path(results_dir, name),
        {"model": name, "gguf_sha256": sha, "error_model": "s^2/12", "columns": "off_grid"},
        lambda: quantization_table(BUNDLED[name].locate_gguf()),
    )


def truncation_norms(model, name: str, layers: list[int], modules: list[str], clip_rates: list[float],
                     quant: pd.DataFrame) -> pd.DataFrame:  # fmt: skip
    """Per (layer, module, clip rate): the Frobenius norm the truncation removes from the module's matrices together
    (``removed_norm``) beside the module's predicted quantization error (``error_norm``) and its GGUF types."""
    from svd_icl.architectures import check_layer
    from svd_icl.conditioning import energy_removed, spectra

    rows = []
    for layer in dict.fromkeys(check_layer(model, la) for la in layers):
        for module in modules:
            spec = spectra(model, layer, module)
            removed = energy_removed(spec, clip_rates).groupby("clip_rate").removed_norm.agg(combined_norm)
            q = module_error(quant, module).set_index("layer").loc[layer]
            rows += [{"model": name, "layer": layer, "module": module, "clip_rate": xi, "removed_norm": removed[xi],
                      "error_norm": q.error_norm, "qtypes": q.qtypes} for xi in clip_rates]  # fmt: skip
    return pd.DataFrame(rows)
