"""A trainable stack of the paper's attention layers, for in-context linear regression (Remark 5 on real weights).

Each layer is Eq. (3) of the paper exactly (or Eq. (2) with ``attention="softmax"``), applied to every token, with
the query's label slot starting at 0 (the paper's "mask")::

    H <- H + P W_V H_s (W_K H_s)^T W_Q H                     (linear; H_s: the N demonstration columns)
    H <- H + P W_V H_s softmax((W_K H_s)^T W_Q H / sqrt(D))  (softmax, over the N keys)

``P`` is the identity, or Appendix B.3's relaxed feed-forward map ``W_out W_in`` (activation removed, as the paper
does for its analysis) when ``mlp_width > 0``.  The prediction is the query's label coordinate after the last layer.

Inputs: ``x`` uniform on the sphere of radius sqrt(d) (so the zero estimator still scores 1), tokens scaled by
1/sqrt(d).  Gaussian ``x`` has norm outliers, and a stack of L cubic layers is a polynomial of degree 3^L in the
prompt: in trials those outliers made training diverge.  The sum over demonstrations is left unnormalised, as in
Eq. (3): a 1/N normalisation blew up on one- and two-shot prompts, whereas the plain sum shrinks the update when
there are few demonstrations, as the Bayes-optimal estimator does.  :func:`to_stack` is therefore an exact Eq. (3)
stack, for Theorem 1 and 2.  Every batch comes from ``generator(seed, step)``; weights are cached as safetensors.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

import pandas as pd
import torch
from safetensors.torch import load_file, save_file
from tqdm import tqdm

from svd_icl.linreg.baselines import least_squares
from svd_icl.linreg.data import generator, sample
from svd_icl.svd import truncate_matrix
from svd_icl.theory.linear_attention import DTYPE, LinearAttentionStack, check_theory_layer, layer_update

ATTENTIONS = ("linear", "softmax")
MAX_LOSS = 10.0  # a batch whose loss exceeds 10x the zero estimator's has blown up; its step is skipped


@dataclass(frozen=True)
class ToyConfig:
    """Model and training settings; together they name the cached checkpoint."""

    d: int = 10  # dimension of x; tokens have D = d + 1 coordinates
    layers: int = 4  # 6 trained too, but then rare prompts blow up (degree 3^6 = 729)
    attention: Literal["linear", "softmax"] = "linear"
    mlp_width: int = 0  # > 0: Appendix B.3's relaxed MLP W_out W_in after each attention
    max_demos: int = 20  # training prompts hold 1..max_demos demonstrations (uniform per step)
    steps: int = 6000  # about 30 s on 2 CPU cores at the default sizes
    batch: int = 256
    lr: float = 3e-3
    init_scale: float = 0.15  # weights ~ N(0, init_scale^2 / D); the update is cubic, so small but not tiny
    seed: int = 0

    def __post_init__(self) -> None:
        if self.attention not in ATTENTIONS:
            raise ValueError(f"unknown attention {self.attention!r}; choose one of {ATTENTIONS}")
        for name in ("d", "layers", "max_demos", "steps", "batch"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.mlp_width and self.mlp_width < self.dim:
            raise ValueError(f"mlp_width must be 0 (no MLP) or at least D = {self.dim}, got {self.mlp_width}")

    @property
    def dim(self) -> int:
        return self.d + 1

    def tag(self) -> str:
        """Short hash of the settings, naming the checkpoint file."""
        return hashlib.sha256(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()[:10]


class ToyTransformer(torch.nn.Module):
    """``layers`` attention layers on tokens ``[x, y]``; parameters ``W_V``, ``W_K``, ``W_Q`` of shape (L, D, D)."""

    def __init__(self, cfg: ToyConfig) -> None:
        super().__init__()
        self.cfg = cfg
        gen = torch.Generator().manual_seed(cfg.seed)
        dim, std = cfg.dim, cfg.init_scale / math.sqrt(cfg.dim)

        def param(*shape: int, scale: float = std) -> torch.nn.Parameter:
            return torch.nn.Parameter(torch.randn(*shape, generator=gen) * scale)

        self.W_V = param(cfg.layers, dim, dim)
        self.W_K = param(cfg.layers, dim, dim)
        self.W_Q = param(cfg.layers, dim, dim)
        if cfg.mlp_width:
            # Unit-scale start: W_out W_in has entries of variance 1/D, so the MLP neither kills nor inflates
            # the attention update at first.
            self.W_in = param(cfg.layers, cfg.mlp_width, dim, scale=1 / math.sqrt(dim))
            self.W_out = param(cfg.layers, dim, cfg.mlp_width, scale=1 / math.sqrt(cfg.mlp_width))

    def mlp_map(self, layer: int) -> torch.Tensor | None:
        """B.3's ``W_MLP = W_out W_in`` of ``layer`` (0-based), or None without an MLP."""
        return self.W_out[layer] @ self.W_in[layer] if self.cfg.mlp_width else None

    def states(self, H: torch.Tensor) -> list[torch.Tensor]:
        """``[H^0, ..., H^L]`` for prompts ``H`` (B, D, N+1), the last column being the query."""
        scale = None if self.cfg.attention == "linear" else math.sqrt(self.cfg.dim)
        out = [H]
        for t in range(self.cfg.layers):
            H = H + layer_update(self.W_V[t], self.W_K[t], self.W_Q[t], H, scale, self.mlp_map(t))
            out.append(H)
        return out

    def forward(self, xs: torch.Tensor, ys: torch.Tensor) -> torch.Tensor:
        """Prediction for the last x of ``xs`` (B, N+1, d) from the N labelled ones ``ys`` (B, N)."""
        return self.states(prompts(xs, ys))[-1][:, -1, -1] * math.sqrt(self.cfg.d)


def prompts(xs: torch.Tensor, ys: torch.Tensor) -> torch.Tensor:
    """``H`` (B, D, N+1): columns ``[x_i, y_i]``, the query's label slot 0."""
    labels = torch.cat([ys, torch.zeros_like(ys[:, :1])], dim=1)
    return torch.cat([xs, labels[..., None]], dim=-1).transpose(1, 2) / math.sqrt(xs.shape[-1])


def to_stack(model: ToyTransformer) -> LinearAttentionStack:
    """The exact Eq. (3) stack the linear model computes (float64); with an MLP, ``W_V`` absorbs ``W_MLP``."""
    if model.cfg.attention != "linear":
        raise ValueError("only the linear-attention model is an Eq. (3) stack; this one uses softmax attention")
    values = []
    for t in range(model.cfg.layers):
        W_V = model.W_V[t].detach().to(DTYPE)
        mlp = model.mlp_map(t)
        values.append(W_V if mlp is None else mlp.detach().to(DTYPE) @ W_V)
    return LinearAttentionStack(
        W_V=tuple(values),
        W_K=tuple(w.detach().to(DTYPE) for w in model.W_K),
        W_Q=tuple(w.detach().to(DTYPE) for w in model.W_Q),
    )


def train_toy(
    cfg: ToyConfig, cache_dir: str | Path | None = None, progress: bool = True
) -> tuple[ToyTransformer, dict]:
    """Train ``cfg`` (or load it from ``cache_dir/toy_<tag>.safetensors``); returns the model and its history.

    Each step draws N uniformly from 1..max_demos and a fresh batch from ``generator(seed, step)``; Adam with a
    cosine schedule and gradient-norm clipping at 1.  A batch whose loss exceeds ``MAX_LOSS`` (the polynomial map
    blew up on some prompt) is skipped and counted in ``history["skipped"]``.
    """
    model = ToyTransformer(cfg)
    path = Path(cache_dir) / f"toy_{cfg.tag()}.safetensors" if cache_dir is not None else None
    if path is not None and path.exists():
        model.load_state_dict(load_file(str(path)))
        return model.eval(), json.loads(path.with_suffix(".json").read_text())["history"]
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, cfg.steps)
    losses, skipped = [], 0
    bar = tqdm(range(cfg.steps), disable=not progress, desc=f"train {cfg.attention} toy", mininterval=5)
    for step in bar:
        gen = generator(cfg.seed, step)
        n = int(torch.randint(1, cfg.max_demos + 1, (1,), generator=gen))
        xs, ys, _ = sample(cfg.batch, n + 1, cfg.d, gen, on_sphere=True)
        loss = ((model(xs, ys[:, :-1]) - ys[:, -1]) ** 2).mean() / cfg.d
        opt.zero_grad()
        loss.backward()
        grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        if math.isfinite(float(grad_norm)) and float(loss.detach()) <= MAX_LOSS:
            opt.step()
        else:
            skipped += 1
        sched.step()
        losses.append(round(min(float(loss.detach()), 1e6), 5))
    history = {"losses": losses, "skipped": skipped}
    if skipped > cfg.steps // 4:
        raise RuntimeError(f"training diverged: {skipped} of {cfg.steps} steps blew up; lower lr or init_scale")
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        save_file({k: v.detach().contiguous() for k, v in model.state_dict().items()}, str(path))
        path.with_suffix(".json").write_text(json.dumps({"config": asdict(cfg), "history": history}))
    return model.eval(), history


def held_out_prompts(d: int, num_demos: int, n_prompts: int, seed: int = 10_000) -> tuple[torch.Tensor, torch.Tensor]:
    """Held-out prompts ``xs`` (P, N+1, d), ``ys`` (P, N+1), the same for every model and baseline."""
    xs, ys, _ = sample(n_prompts, num_demos + 1, d, generator(seed, num_demos), on_sphere=True)
    return xs, ys


@torch.no_grad()
def icl_errors(predict: Callable, d: int, num_demos: int, n_prompts: int = 1000, seed: int = 10_000) -> torch.Tensor:
    """Per-prompt normalised squared error ``(prediction - y)^2 / d`` with ``num_demos`` demonstrations.

    ``predict(xs (P, N+1, d), ys (P, N))``; the zero estimator scores 1 on average.
    """
    xs, ys = held_out_prompts(d, num_demos, n_prompts, seed)
    return ((predict(xs, ys[:, :-1]) - ys[:, -1]) ** 2 / d).double()


def query_prediction(fn: Callable) -> Callable:
    """Adapt a sequence estimator of :mod:`svd_icl.linreg.baselines` (predicts every y_i from the examples before
    it) to this module's convention: prompts (P, N+1, d) with N labels (P, N) -> the query's prediction (P,)."""

    def predict(xs: torch.Tensor, ys: torch.Tensor) -> torch.Tensor:
        return fn(xs, torch.cat([ys, torch.zeros_like(ys[:, :1])], dim=1))[:, -1]

    return predict


def one_gd_step(xs: torch.Tensor, ys: torch.Tensor) -> torch.Tensor:
    """Lemma 1's estimator: one gradient step from w = 0 with step 1/(N + d + 1), the best fixed step for
    isotropic x (it is the Bayes-optimal shrinkage of sum_i y_i x_i); (P, N+1, d), (P, N) -> (P,)."""
    n, d = ys.shape[1], xs.shape[-1]
    w = torch.einsum("pn,pnd->pd", ys, xs[:, :-1]) / (n + d + 1)
    return (w * xs[:, -1]).sum(-1)


# Query-level estimators beside the trained toy: least squares is linreg's (one definition, adapted), one GD step is
# Lemma 1's estimator. Named apart from linreg.baselines.BASELINES, whose estimators predict whole sequences.
QUERY_BASELINES = {"least squares": query_prediction(least_squares), "one GD step": one_gd_step}


def summarize(errors: torch.Tensor) -> dict[str, float]:
    """Mean, its standard error and the median, plus how many prompts blew up (non-finite or > 1e6)."""
    finite = errors[torch.isfinite(errors) & (errors < 1e6)]
    return {
        "error": float(errors.mean()),
        "error_sem": float(errors.std() / len(errors) ** 0.5),
        "median_error": float(errors.median()),
        "blown_up": int(len(errors) - len(finite)),
    }


def error_vs_demos(models: dict[str, Callable], d: int, demos: list[int], n_prompts: int = 1000) -> pd.DataFrame:
    """ICL error per number of demonstrations for each model and baseline (long format)."""
    rows = []
    for name, predict in {**models, **QUERY_BASELINES}.items():
        for n in demos:
            rows.append({"estimator": name, "demos": n, **summarize(icl_errors(predict, d, n, n_prompts))})
    return pd.DataFrame(rows)


def truncated(model: ToyTransformer, layer: int, which: str, clip_rate: float) -> ToyTransformer:
    """A copy of ``model`` with ``W_{which}`` of ``layer`` (1..L) truncated by SVD; ``which`` in V, K, Q, MLP.

    "MLP" truncates B.3's product ``W_out W_in`` (Example 4) by replacing ``W_out`` with ``W_MLP_r W_in^+``.
    """
    cfg = model.cfg
    check_theory_layer(layer, cfg.layers)
    allowed = ("V", "K", "Q", "MLP") if cfg.mlp_width else ("V", "K", "Q")
    if which not in allowed:
        raise ValueError(f"matrix {which!r} is not in this model; choose one of {allowed}")
    copy = ToyTransformer(cfg)
    copy.load_state_dict(model.state_dict())
    with torch.no_grad():
        if which == "MLP":
            target = truncate_matrix(model.mlp_map(layer - 1), clip_rate, dtype=DTYPE).to(DTYPE)
            copy.W_out[layer - 1] = (target @ torch.linalg.pinv(model.W_in[layer - 1].to(DTYPE))).float()
        else:
            weight = getattr(copy, f"W_{which}")
            weight[layer - 1] = truncate_matrix(weight[layer - 1], clip_rate, dtype=DTYPE).float()
    return copy.eval()
