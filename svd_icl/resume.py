"""Run part of a decoder: the hidden states entering layer ``l``, and the run from layer ``l`` on.

The evaluation engine's key idea (a sweep over the clip rates of layer ``l`` recomputes only layers ``l..L-1``)
rests on two operations, named after TransformerLens' ``run_with_cache(..., stop_at_layer=)`` and
``forward(..., start_at_layer=)`` but working on unmodified Hugging Face models:

- :func:`hidden_entering` runs the base model with its usual arguments and stops *before* decoder layer ``l``
  (exclusive: layer ``l`` does not run), returning the hidden states that enter it, i.e. the output of the
  embeddings and layers ``0..l-1``.
- :func:`run_from` runs decoder layers ``l..L-1`` (inclusive start) and the final norm on hidden states given for
  layer ``l``'s input. What it needs besides them, and why:

  * ``attention_mask`` over cached plus new positions and ``position_ids`` (or a cache whose length implies
    them), exactly as a full forward pass would get: the model builds its causal mask and rotary positions from
    them before the first layer;
  * a key/value ``cache`` whose layers ``>= l`` hold the keys and values those layers attend to (e.g. a prefix
    encoded with the same weights); its layers ``< l`` are never read, but their length sets the positions, so
    :func:`splice_cache` combines an unpruned cache below ``l`` with a recomputed one from ``l`` on.

Both use the base model's own ``forward`` (masks, rotary embeddings, sliding windows stay the library's): layers
below ``l`` are swapped for an identity module for the duration of the call (:func:`run_from`), and a forward
pre-hook on layer ``l`` stops the pass (:func:`hidden_entering`). Families that add something to the embeddings
before the first layer (GPT-2's learned positions) cannot resume from a hidden state: their
``Architecture.resumable`` is False and :func:`run_from` refuses them.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import nn
from transformers import DynamicCache, PreTrainedModel

from svd_icl.architectures import architecture_for, check_layer, decoder_layers


class _Identity(nn.Module):
    """Stands in for a decoder layer below the resume point: returns its input hidden states unchanged."""

    def forward(self, hidden_states: torch.Tensor, *args, **kwargs) -> torch.Tensor:
        return hidden_states


class _Stop(Exception):
    """Raised by the pre-hook of :func:`hidden_entering` to end the forward pass at the layer reached."""


@contextmanager
def _layers_skipped(model: PreTrainedModel, start: int) -> Iterator[None]:
    """Replace decoder layers ``0..start-1`` by :class:`_Identity` for the duration of the block."""
    layers = decoder_layers(model, architecture_for(model))
    saved = [layers[i] for i in range(start)]
    try:
        for i in range(start):
            layers[i] = _Identity()
        yield
    finally:
        for i, module in enumerate(saved):
            layers[i] = module


@torch.no_grad()
def hidden_entering(model: PreTrainedModel, layer: int, **forward_kwargs) -> torch.Tensor:
    """Hidden states entering decoder layer ``layer`` (exclusive stop: the layer itself does not run).

    ``forward_kwargs`` are the base model's forward arguments (``input_ids``, ``attention_mask``, ``cache``,
    ``position_ids``, ...); a cache passed in receives the keys and values of layers ``0..layer-1`` only.
    """
    layer = check_layer(model, layer)
    captured: dict[str, torch.Tensor] = {}

    def hook(module, args, kwargs):
        captured["h"] = kwargs.get("hidden_states", args[0] if args else None)
        raise _Stop

    handle = decoder_layers(model, architecture_for(model))[layer].register_forward_pre_hook(hook, with_kwargs=True)
    try:
        model.base_model(**forward_kwargs)
    except _Stop:
        pass
    finally:
        handle.remove()
    return captured["h"]


@torch.no_grad()
def run_from(model: PreTrainedModel, layer: int, hidden: torch.Tensor, **forward_kwargs):
    """Run decoder layers ``layer..L-1`` (inclusive start) and the final norm on ``hidden``, layer ``layer``'s input.

    Pass the ``attention_mask``, ``position_ids`` and ``cache`` a full forward pass would get (see the module
    docstring); returns the base model's output (``last_hidden_state``, and the cache updated from ``layer`` on).
    """
    arch = architecture_for(model)
    layer = check_layer(model, layer, arch)
    if not arch.resumable and layer > 0:
        raise ValueError(
            f"the {arch.name} family adds to the embeddings before its first layer, so it cannot resume from layer "
            f"{layer}; run the whole model instead"
        )
    with _layers_skipped(model, layer):
        return model.base_model(inputs_embeds=hidden, **forward_kwargs)


def splice_cache(below: DynamicCache, above: DynamicCache, layer: int) -> DynamicCache:
    """A copy of ``below`` whose layers ``layer..L-1`` are replaced by copies of ``above``'s.

    Used when only layers from ``layer`` on changed: their keys and values are recomputed (``above``), those below
    are kept, and the lengths of all layers agree, as the model's mask and position logic expects.
    """
    mixed = copy.deepcopy(below)
    for i in range(layer, len(above.layers)):
        mixed.layers[i] = copy.deepcopy(above.layers[i])
    return mixed
