"""Garg et al.'s model: a GPT-2 backbone fed with input embeddings, a linear read-in and a scalar read-out.

The prompt interleaves x_1, y_1, x_2, y_2, ... as vectors in R^d (y padded with zeros); the prediction for
y_i is read at the position of x_i, so it depends on the first i-1 examples only (causal attention).
The wrapper keeps the backbone under ``transformer`` and a GPT-2 config, so ``svd_icl.pruning`` finds its
matrices through the same registry as for language models: no second truncation routine.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn
from transformers import GPT2Config, GPT2Model


@dataclass(frozen=True)
class LinRegConfig:
    d: int = 5  # problem dimension
    n_points: int = 11  # in-context examples per prompt (the prompt has 2 * n_points tokens)
    width: int = 64  # Garg et al.: standard 256, small 128, tiny 64
    layers: int = 3  # standard 12, small 6, tiny 3
    heads: int = 2  # standard 8, small 4, tiny 2

    def to_dict(self) -> dict:
        return asdict(self)


class LinRegTransformer(nn.Module):
    def __init__(self, cfg: LinRegConfig):
        super().__init__()
        self.cfg = cfg
        self.config = GPT2Config(
            n_positions=2 * cfg.n_points,
            n_embd=cfg.width,
            n_layer=cfg.layers,
            n_head=cfg.heads,
            resid_pdrop=0.0,
            embd_pdrop=0.0,
            attn_pdrop=0.0,
            use_cache=False,
            vocab_size=1,  # tokens are never embedded: the prompt enters through read_in
            bos_token_id=0,
            eos_token_id=0,
        )
        self.read_in = nn.Linear(cfg.d, cfg.width)
        self.transformer = GPT2Model(self.config)
        self.read_out = nn.Linear(cfg.width, 1)

    @staticmethod
    def interleave(xs: torch.Tensor, ys: torch.Tensor) -> torch.Tensor:
        """(B, n, d) and (B, n) -> (B, 2n, d): x_1, [y_1, 0, ...], x_2, ..."""
        b, n, d = xs.shape
        ys_wide = torch.cat([ys[..., None], torch.zeros(b, n, d - 1, dtype=xs.dtype, device=xs.device)], dim=2)
        return torch.stack([xs, ys_wide], dim=2).reshape(b, 2 * n, d)

    def forward(self, xs: torch.Tensor, ys: torch.Tensor) -> torch.Tensor:
        """Predictions (B, n) for every y_i from the examples before it."""
        hidden = self.transformer(inputs_embeds=self.read_in(self.interleave(xs, ys))).last_hidden_state
        return self.read_out(hidden[:, ::2, :])[..., 0]
