"""Tiny randomly initialised models of every supported family, built from configs (no downloads)."""

from __future__ import annotations

import torch
from transformers import (
    AutoModelForCausalLM,
    Gemma3TextConfig,
    GPT2Config,
    GPTJConfig,
    GPTNeoXConfig,
    LlamaConfig,
)

VOCAB = 97


def tiny_config(family: str):
    common = {"vocab_size": VOCAB}
    if family == "llama":
        return LlamaConfig(
            hidden_size=32,
            intermediate_size=48,
            num_hidden_layers=3,
            num_attention_heads=4,
            num_key_value_heads=2,
            max_position_embeddings=256,
            **common,
        )
    if family == "gemma3":
        return Gemma3TextConfig(
            hidden_size=32,
            intermediate_size=48,
            num_hidden_layers=4,
            num_attention_heads=4,
            num_key_value_heads=2,
            head_dim=8,
            sliding_window=6,
            max_position_embeddings=256,
            layer_types=["sliding_attention", "sliding_attention", "sliding_attention", "full_attention"],
            **common,
        )
    if family == "gptj":
        return GPTJConfig(n_embd=32, n_layer=3, n_head=4, rotary_dim=4, n_positions=256, **common)
    if family == "gpt_neox":
        return GPTNeoXConfig(
            hidden_size=32,
            intermediate_size=48,
            num_hidden_layers=3,
            num_attention_heads=4,
            max_position_embeddings=256,
            **common,
        )
    if family == "gpt2":
        return GPT2Config(n_embd=32, n_layer=3, n_head=4, n_positions=256, **common)
    raise ValueError(family)


FAMILIES = ["llama", "gemma3", "gptj", "gpt_neox", "gpt2"]


def tiny_model(family: str, seed: int = 0, dtype: torch.dtype = torch.float32):
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(tiny_config(family), dtype=dtype)
    # Random init leaves some norms/biases at exact constants; perturb every parameter so that no
    # test passes by symmetry.
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.02)
    return model.eval()
