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
    Qwen2Config,
)

VOCAB = 300


# LLaMA and Qwen2 share these shapes (Qwen2 adds q/k/v biases, as Qwen2.5 has).
_LLAMA_LIKE = {"hidden_size": 32, "intermediate_size": 48, "num_hidden_layers": 3, "num_attention_heads": 4,
               "num_key_value_heads": 2, "max_position_embeddings": 256}  # fmt: skip


def tiny_config(family: str):
    common = {"vocab_size": VOCAB}
    if family == "llama":
        return LlamaConfig(**_LLAMA_LIKE, **common)
    if family == "qwen2":
        return Qwen2Config(**_LLAMA_LIKE, **common)
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


FAMILIES = ["llama", "qwen2", "gemma3", "gptj", "gpt_neox", "gpt2"]


def tiny_model(family: str, seed: int = 0, dtype: torch.dtype = torch.float32):
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(tiny_config(family), dtype=dtype)
    # Random init leaves some norms/biases at exact constants; perturb every parameter so that no
    # test passes by symmetry.
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.02)
    return model.eval()


WORDS = (
    "good bad great awful movie film plot actor boring fun dull charming story scene music long short "
    "the a an is was it this that and but not very too"
).split()


def tiny_tokenizer():
    """A byte-level BPE tokenizer trained in milliseconds on the synthetic corpus (no downloads)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    corpus = [" ".join(WORDS), "text: sentiment: negative positive\n", "sentence1: sentence2: label: true false"]
    trainer = trainers.BpeTrainer(
        vocab_size=VOCAB, special_tokens=["<pad>", "<bos>"], initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    tok.train_from_iterator(corpus * 20, trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", bos_token="<bos>")


def write_tiny_sst2(root, n_train=60, n_val=40, seed=0):
    """A synthetic SST-2-shaped data directory: <root>/sst2/{train,validation}.jsonl."""
    import json

    import numpy as np

    rng = np.random.default_rng(seed)
    (root / "sst2").mkdir(parents=True, exist_ok=True)
    for split, n in (("train", n_train), ("validation", n_val)):
        with open(root / "sst2" / f"{split}.jsonl", "w") as fh:
            for i in range(n):
                words = rng.choice(WORDS, size=rng.integers(3, 8))
                fh.write(json.dumps({"sentence": " ".join(words) + " ", "label": int(i % 2)}) + "\n")
    return root
