"""Take a truncated model out of the book: a checkpoint the tools of the field load with no custom code.

:func:`export` applies one or more truncations (layer, module, clip rate) to a model and writes a directory that
``transformers.AutoModelForCausalLM.from_pretrained(DIR)`` loads as it is: safetensors weights, config, tokenizer
and a model card (``README.md``) stating the source, the truncations (rank and dropped energy per matrix), the
parameter counts and, when given, the measured effect that motivated the export. With ``factorized=True`` the
truncated matrices are written as their rank-r factors instead (the real parameter saving), and
:func:`load_factorized` rebuilds the model from them, still without remote code: the factorized layers are
:class:`svd_icl.pruning.LowRankLinear` maps put back where the manifest (``svd_icl_factorized.json``) says.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer, PreTrainedModel

from svd_icl.architectures import architecture_for, check_layer, decoder_layers, select_matrices
from svd_icl.models import BUNDLED, load_model, source_info
from svd_icl.pruning import LowRankLinear, Pruner, TruncationInfo, factorize
from svd_icl.svd import check_clip_rate

MANIFEST = "svd_icl_factorized.json"
WEIGHTS = "model.safetensors"


@dataclass(frozen=True)
class Truncation:
    """One truncation to export: ``module`` (attn, mlp or a matrix name) of ``layer`` at ``clip_rate``."""

    layer: int
    module: str
    clip_rate: float


def check_out(out: str | Path, force: bool = False) -> Path:
    """``out`` as a directory to write into: refused if it exists and is not empty, unless ``force``."""
    out = Path(out).expanduser()
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out {out} is a file; give a directory to write the checkpoint into")
    if out.is_dir() and any(out.iterdir()) and not force:
        raise ValueError(f"--out {out} exists and is not empty; give a new directory, or --force to overwrite it")
    return out


def check_truncations(truncations: list[Truncation]) -> list[Truncation]:
    """Clip rates in range, at least one truncation, no (layer, module) twice: before any model is loaded."""
    if not truncations:
        raise ValueError("no truncation given: give --layer, --module and --clip-rate (each may be repeated)")
    for t in truncations:
        check_clip_rate(t.clip_rate)
    keys = [(t.layer, t.module) for t in truncations]
    if len(set(keys)) < len(keys):
        raise ValueError(f"truncations {keys} name one (layer, module) twice; give each once")
    return truncations


def _card(name: str, truncations: list[Truncation], infos: list[TruncationInfo], params: tuple[int, int],
          factorized: bool, effect: str | None) -> str:  # fmt: skip
    from svd_icl import __version__

    if name in BUNDLED:
        src = source_info(name)
        source = (f"`{name}`: {src['description']} (GGUF `{src['gguf_file']}`, SHA-256 `{src['gguf_sha256']}`; "
                  f"licence: {src['licence']})")  # fmt: skip
    else:
        source = f"`{name}`"
    rows = "\n".join(
        f"| {i.layer} | {i.matrix} | {i.shape[0]} x {i.shape[1]} | {i.rank} / {i.full_rank} | {i.frobenius_error:.4g} |"
        for i in infos
    )
    before, after = params
    lines = [
        "---",
        "library_name: transformers",
        "tags: [svd-icl, low-rank, svd-truncation]",
        "---",
        "",
        f"# {name}, SVD-truncated",
        "",
        f"Source model: {source}. Written by svd_icl {__version__} (`svd_icl.export`), a reproduction of Yao et al., "
        "*Enhancing In-Context Learning Performance with just SVD-Based Weight Pruning* (NeurIPS 2024).",
        "",
        "Truncations (clip rate xi keeps rank r = round((1 - xi) min(m, n)) of each matrix): "
        + ", ".join(f"layer {t.layer} {t.module} at xi = {t.clip_rate:g}" for t in truncations)
        + ".",
        "",
        "| Layer | Matrix | Shape | Rank kept / full | Frobenius norm removed |",
        "|---|---|---|---|---|",
        rows,
        "",
        f"Parameters of the truncated matrices: {before:,} dense; {after:,} as rank-r factors. "
        + (
            "This checkpoint stores the factors (load it with `svd_icl.export.load_factorized`)."
            if factorized
            else "This checkpoint stores dense matrices: it loads with `AutoModelForCausalLM.from_pretrained`."
        ),
    ]
    if effect:
        lines += ["", f"Measured effect of this setting: {effect}"]
    return "\n".join(lines) + "\n"


def export(
    name: str,
    truncations: list[Truncation],
    out: str | Path,
    factorized: bool = False,
    dtype: torch.dtype = torch.float32,
    force: bool = False,
    effect: str | None = None,
    model: PreTrainedModel | None = None,
    tokenizer=None,
) -> Path:
    """Write ``name`` with ``truncations`` applied to ``out``; return the directory.

    ``model``/``tokenizer`` may be given (already loaded, unmodified); they are truncated in place. ``effect`` is
    a sentence for the model card (e.g. the stored Algorithm 1 run's change with its interval).
    """
    truncations = check_truncations(list(truncations))
    out = check_out(out, force)
    if model is None:
        model, tokenizer = load_model(name, dtype=dtype)
    arch = architecture_for(model)
    for t in truncations:
        check_layer(model, t.layer, arch)
        select_matrices(arch, t.module)
    infos: list[TruncationInfo] = []
    manifest = []
    if factorized:
        before = after = 0
        for t in truncations:
            report = factorize(model, t.layer, t.module, t.clip_rate)
            infos += report.infos
            before, after = before + report.params_before, after + report.params_after
            layer_module = decoder_layers(model, arch)[check_layer(model, t.layer, arch)]
            for info in report.infos:
                _, spec = select_matrices(arch, info.matrix)[info.matrix]
                if isinstance(layer_module.get_submodule(spec.path), LowRankLinear):
                    manifest.append({"layer": info.layer, "matrix": info.matrix, "path": spec.path,
                                     "shape": list(info.shape), "rank": info.rank})  # fmt: skip
    else:
        pruner = Pruner(model)
        for t in truncations:
            infos += pruner.apply(t.layer, t.module, t.clip_rate)
        before = sum(i.shape[0] * i.shape[1] for i in infos)
        after = sum(min(i.shape[0] * i.shape[1], i.params_if_factorized) for i in infos)
    out.mkdir(parents=True, exist_ok=True)
    if factorized:
        model.config.save_pretrained(out)
        state = {k: v.contiguous() for k, v in model.state_dict().items()}
        save_file(_untied(model, state), str(out / WEIGHTS), metadata={"format": "pt"})
        (out / MANIFEST).write_text(json.dumps({"layers": manifest, "truncations": [asdict(t) for t in truncations]},
                                               indent=1))  # fmt: skip
    else:
        model.save_pretrained(out, safe_serialization=True)
    if tokenizer is not None:
        tokenizer.save_pretrained(out)
    (out / "README.md").write_text(_card(name, truncations, infos, (before, after), factorized, effect))
    return out


def _untied(model: PreTrainedModel, state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """``state`` without the tied output matrix (safetensors refuses two names for one storage; loading ties it)."""
    if getattr(model.config, "tie_word_embeddings", False):
        out_name = next((k for k in state if k.endswith("lm_head.weight")), None)
        if out_name is not None:
            state = {k: v for k, v in state.items() if k != out_name}
    return state


def load_factorized(path: str | Path, dtype: torch.dtype = torch.float32) -> tuple[PreTrainedModel, object]:
    """A model written by ``export(..., factorized=True)``: its architecture from the config, the listed matrices
    replaced by :class:`LowRankLinear` of the stored ranks, then the stored weights (safetensors) loaded strictly."""
    path = Path(path)
    manifest = json.loads((path / MANIFEST).read_text())
    config = AutoConfig.from_pretrained(path)
    model = AutoModelForCausalLM.from_config(config, dtype=dtype)
    arch = architecture_for(model)
    layers = decoder_layers(model, arch)
    for entry in manifest["layers"]:
        block = layers[entry["layer"]]
        dense = block.get_submodule(entry["path"])
        out_features, in_features = entry["shape"]
        block.set_submodule(entry["path"], LowRankLinear.empty(in_features, out_features, entry["rank"],
                                                               dense.bias is not None, dtype))  # fmt: skip
    state = load_file(str(path / WEIGHTS))
    missing, unexpected = model.load_state_dict(state, strict=False)
    missing = [k for k in missing if not k.endswith("lm_head.weight")]  # tied to the embeddings
    if missing or unexpected:
        raise ValueError(f"{path} does not match its manifest: missing {missing[:3]}, unexpected {unexpected[:3]}")
    model.tie_weights()
    model.eval()
    tokenizer = AutoTokenizer.from_pretrained(path)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return model, tokenizer
