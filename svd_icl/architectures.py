"""Where each layer's ATTN and MLP weight matrices live, per model family.

The paper truncates "the ATTN matrices" (q, k, v, o) or "the MLP matrices" (GPT-J: fc_in, fc_out; LLaMA:
gate, up, down) of one layer.  This registry names those matrices for every supported family so that the rest
of the package never branches on the architecture.  Layers are numbered from 0, as in Hugging Face and in the
paper's tables (GPT-J layer 27 is its last of 28).

Fused projections: GPT-2 stores q, k and v side by side in one ``Conv1D`` (``c_attn``, weight of shape
(d, 3d)); we expose them as three matrices, the column blocks of that weight, because the paper treats q, k and v
separately.  GPT-NeoX interleaves q, k and v per head in ``query_key_value``; splitting it would need a gather,
so it is exposed as one matrix ``qkv`` (truncating it is a different operation from truncating q, k, v apart).

To add a family, append an :class:`Architecture` to ``ARCHITECTURES`` naming its ``model_type`` values, the
attribute path of its layer list, and the path of each matrix inside one layer.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn


@dataclass(frozen=True)
class MatrixSpec:
    """One weight matrix inside a decoder layer.

    ``path`` is the module path relative to the layer (its ``.weight`` is used).  ``part = (i, n)`` selects the
    i-th of n equal blocks along ``part_dim`` of a fused weight (GPT-2's ``c_attn``).
    """

    path: str
    part: tuple[int, int] | None = None
    part_dim: int = 0


@dataclass(frozen=True)
class Architecture:
    name: str
    model_types: tuple[str, ...]
    layers_path: str
    attn: dict[str, MatrixSpec] = field(default_factory=dict)
    mlp: dict[str, MatrixSpec] = field(default_factory=dict)
    # Whether the base model feeds ``inputs_embeds`` straight into layer 0, so that a hidden state cached at the
    # input of layer l can be resumed from (GPT-2 adds learned position embeddings first: not resumable).
    resumable: bool = True

    @property
    def groups(self) -> dict[str, dict[str, MatrixSpec]]:
        return {"attn": self.attn, "mlp": self.mlp}

    def all_matrices(self) -> dict[str, tuple[str, MatrixSpec]]:
        """``{"attn.q": ("attn", spec), ...}`` for every matrix of one layer."""
        return {f"{g}.{n}": (g, s) for g, mats in self.groups.items() for n, s in mats.items()}


def _specs(prefix: str, names: dict[str, str]) -> dict[str, MatrixSpec]:
    return {short: MatrixSpec(f"{prefix}.{attr}") for short, attr in names.items()}


_LLAMA_ATTN = _specs("self_attn", {"q": "q_proj", "k": "k_proj", "v": "v_proj", "o": "o_proj"})
_LLAMA_MLP = _specs("mlp", {"gate": "gate_proj", "up": "up_proj", "down": "down_proj"})

ARCHITECTURES: dict[str, Architecture] = {
    a.name: a
    for a in [
        Architecture("llama", ("llama", "mistral"), "model.layers", _LLAMA_ATTN, _LLAMA_MLP),
        # Qwen2: LLaMA's matrix names; q, k and v carry biases, which truncation leaves as they are (the paper
        # truncates weight matrices only).
        Architecture("qwen2", ("qwen2", "qwen3"), "model.layers", _LLAMA_ATTN, _LLAMA_MLP),
        Architecture("gemma3", ("gemma3_text", "gemma2", "gemma"), "model.layers", _LLAMA_ATTN, _LLAMA_MLP),
        Architecture(
            "gptj",
            ("gptj",),
            "transformer.h",
            _specs("attn", {"q": "q_proj", "k": "k_proj", "v": "v_proj", "o": "out_proj"}),
            _specs("mlp", {"fc_in": "fc_in", "fc_out": "fc_out"}),
        ),
        Architecture(
            "gpt_neox",
            ("gpt_neox",),
            "gpt_neox.layers",
            _specs("attention", {"qkv": "query_key_value", "o": "dense"}),
            _specs("mlp", {"up": "dense_h_to_4h", "down": "dense_4h_to_h"}),
        ),
        Architecture(
            "gpt2",
            ("gpt2",),
            "transformer.h",
            {
                # Conv1D weight is (in, out): q, k, v are the three column blocks of c_attn.
                "q": MatrixSpec("attn.c_attn", part=(0, 3), part_dim=1),
                "k": MatrixSpec("attn.c_attn", part=(1, 3), part_dim=1),
                "v": MatrixSpec("attn.c_attn", part=(2, 3), part_dim=1),
                "o": MatrixSpec("attn.c_proj"),
            },
            _specs("mlp", {"fc_in": "c_fc", "fc_out": "c_proj"}),
            resumable=False,
        ),
    ]
}


def architecture_for(model: nn.Module) -> Architecture:
    """The registry entry for ``model`` (a Hugging Face causal LM), by its ``config.model_type``."""
    model_type = getattr(getattr(model, "config", None), "model_type", None)
    for arch in ARCHITECTURES.values():
        if model_type in arch.model_types:
            return arch
    supported = sorted(t for a in ARCHITECTURES.values() for t in a.model_types)
    raise ValueError(
        f"unsupported architecture model_type={model_type!r}; supported: {', '.join(supported)}. "
        "To add one, append an Architecture (layer-list path and matrix paths) to "
        "svd_icl.architectures.ARCHITECTURES."
    )


def decoder_layers(model: nn.Module, arch: Architecture | None = None) -> nn.ModuleList:
    arch = arch or architecture_for(model)
    return model.get_submodule(arch.layers_path)


def check_layer(model: nn.Module, layer: int, arch: Architecture | None = None) -> int:
    n = len(decoder_layers(model, arch))
    if not isinstance(layer, int) or isinstance(layer, bool) or not -n <= layer < n:
        raise ValueError(
            f"layer {layer!r} is out of range: this model has layers 0..{n - 1} (negative counts from the end)"
        )
    return layer % n


def select_matrices(arch: Architecture, module: str) -> dict[str, tuple[str, MatrixSpec]]:
    """Resolve a module selector to ``{"attn.q": (group, spec), ...}``.

    ``module`` is a group (``"attn"``, ``"mlp"``), ``"all"``, one matrix (``"v"`` or ``"attn.v"``), or a comma
    list of those (``"q,k"``).
    """
    everything = arch.all_matrices()
    chosen: dict[str, tuple[str, MatrixSpec]] = {}
    for token in (t.strip() for t in str(module).split(",")):
        if token == "all":
            chosen.update(everything)
        elif token in arch.groups:
            chosen.update({k: v for k, v in everything.items() if v[0] == token})
        elif token in everything:
            chosen[token] = everything[token]
        else:
            by_short = {k: v for k, v in everything.items() if k.split(".", 1)[1] == token}
            if not by_short:
                raise ValueError(
                    f"module {token!r} is not in the {arch.name} architecture; choose 'attn', 'mlp', 'all' "
                    f"or one of: {', '.join(everything)}"
                )
            chosen.update(by_short)
    return chosen


def weight_view(layer_module: nn.Module, spec: MatrixSpec) -> torch.Tensor:
    """A writable view of the matrix ``spec`` inside ``layer_module`` (no copy)."""
    weight = layer_module.get_submodule(spec.path).weight.data
    if spec.part is None:
        return weight
    i, n = spec.part
    size = weight.shape[spec.part_dim] // n
    return weight.narrow(spec.part_dim, i * size, size)
