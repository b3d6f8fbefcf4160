"""Stacked linear attention and its implicit gradient-descent trajectory (paper Eq. 3, Lemma 1, Theorem 1).

Notation follows Sec. 3 of the paper.  A prompt is a matrix ``H`` of shape (D, N+1), D = d_in + d_out,
whose columns are tokens ``h_i = [x_i, y_i]``; the last column is the query ``[x_{N+1}, 0]``.  One layer is

    H <- H + W_V H M (W_K H)^T W_Q H,        M = diag(1, ..., 1, 0)          (Eq. 3 with residual)

so every token (demonstrations and query) is updated, while the mask ``M`` keeps the query out of the keys
and values.  Layers are numbered t = 1..L as in the paper; index 0 is the input.

Theorem 1 says the query after t layers is ``h^t_{N+1} = (I + W_t) h^0_{N+1}`` with
``Delta W_t = (sum_i W_V^t h_i^{t-1} (W_K^t h_i^{t-1})^T) W_Q^t``, ``G_t = Delta W_t (I + W_{t-1})`` and
``W_t = W_{t-1} + G_t``.  (The paper writes ``1 + W``; with matrices the 1 is the identity.)

Everything here is float64 torch so that the identities can be checked at rounding level.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import pandas as pd
import torch

from svd_icl.svd import truncate_matrix

DTYPE = torch.float64
_MATRICES = ("V", "K", "Q")


@dataclass(frozen=True)
class LinearAttentionStack:
    """Weights of L linear-attention layers; each list holds L matrices of shape (D, D)."""

    W_V: tuple[torch.Tensor, ...]
    W_K: tuple[torch.Tensor, ...]
    W_Q: tuple[torch.Tensor, ...]

    def __post_init__(self) -> None:
        if not (len(self.W_V) == len(self.W_K) == len(self.W_Q)) or not self.W_V:
            raise ValueError("W_V, W_K and W_Q must hold the same, non-zero number of layers")

    @property
    def num_layers(self) -> int:
        return len(self.W_V)

    @property
    def dim(self) -> int:
        return self.W_V[0].shape[0]

    def matrix(self, which: str, layer: int) -> torch.Tensor:
        """``which`` in {"V", "K", "Q"}, ``layer`` in 1..L (paper numbering)."""
        return getattr(self, f"W_{_check_matrix(which)}")[check_theory_layer(layer, self.num_layers) - 1]


def _check_matrix(which: str) -> str:
    if which not in _MATRICES:
        raise ValueError(f"unknown matrix {which!r}; choose one of {_MATRICES}")
    return which


def check_theory_layer(layer: int, num_layers: int) -> int:
    """``layer`` as given when it lies in 1..num_layers (the paper numbers theory layers from 1); else an error."""
    if not 1 <= layer <= num_layers:
        raise ValueError(f"layer {layer} is out of range: layers are numbered 1..{num_layers} as in the paper")
    return layer


def random_stack(num_layers: int, dim: int, scale: float = 0.15, seed: int = 0) -> LinearAttentionStack:
    """Gaussian weights with entries N(0, scale^2 / dim).

    The layer update is cubic in the tokens (Eq. 3), so the trajectory explodes to inf within a few layers
    unless ``8 scale^3 N`` (roughly ``||Delta W_1||``) stays well below 1/L; 0.15 suits L ~ 8, N ~ 6.
    """
    gen = torch.Generator().manual_seed(seed)

    def draw() -> tuple[torch.Tensor, ...]:
        return tuple(torch.randn(dim, dim, generator=gen, dtype=DTYPE) * scale / dim**0.5 for _ in range(num_layers))

    return LinearAttentionStack(W_V=draw(), W_K=draw(), W_Q=draw())


def make_prompt(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Stack demonstrations and query into ``H`` (D, N+1).

    ``x``: (N+1, d_in), the last row is the query input; ``y``: (N, d_out), the demonstration labels.
    The query's label slot is 0, the paper's "mask" initialisation.
    """
    n_plus_1, d_out = x.shape[0], y.shape[1]
    if y.shape[0] != n_plus_1 - 1:
        raise ValueError(f"x has {n_plus_1} rows (N demonstrations + 1 query), so y needs {n_plus_1 - 1} rows")
    labels = torch.cat([y.to(DTYPE), torch.zeros(1, d_out, dtype=DTYPE)])
    return torch.cat([x.to(DTYPE), labels], dim=1).T.contiguous()


def random_prompt(num_demos: int, d_in: int, d_out: int = 1, seed: int = 0) -> torch.Tensor:
    """A linear-regression prompt: x ~ N(0, I), y = w^T x with one w per prompt; shape (d_in+d_out, N+1)."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(num_demos + 1, d_in, generator=gen, dtype=DTYPE)
    w = torch.randn(d_in, d_out, generator=gen, dtype=DTYPE)
    return make_prompt(x, x[:-1] @ w)


def layer_update(
    W_V: torch.Tensor,
    W_K: torch.Tensor,
    W_Q: torch.Tensor,
    H: torch.Tensor,
    softmax_scale: float | None = None,
    W_MLP: torch.Tensor | None = None,
) -> torch.Tensor:
    """Eq. (3)'s update of the tokens ``H`` (..., D, N+1), whose last column is the query: the one home of the
    layer step, used by :func:`forward` and by the trained toy (:class:`svd_icl.theory.toy.ToyTransformer`).

    Values and keys come from the N demonstrations only (the mask ``M`` of Eq. 3: the query is neither a key nor a
    value); every token, the query included, attends to them. ``softmax_scale`` switches to App. B.2's softmax
    attention (scores divided by it, normalised over the demonstrations); ``W_MLP`` applies App. B.3's linear map.
    """
    demos = H[..., :-1]
    scores = (W_K @ demos).transpose(-1, -2) @ (W_Q @ H)  # (..., N, N+1)
    if softmax_scale is not None:
        scores = torch.softmax(scores / softmax_scale, dim=-2)
    update = (W_V @ demos) @ scores
    return update if W_MLP is None else W_MLP @ update


def forward(stack: LinearAttentionStack, H: torch.Tensor) -> list[torch.Tensor]:
    """Direct evaluation of Eq. 3 layer by layer; returns ``[H^0, H^1, ..., H^L]``, each (D, N+1)."""
    states = [H]
    for W_V, W_K, W_Q in zip(stack.W_V, stack.W_K, stack.W_Q):
        H = H + layer_update(W_V, W_K, W_Q, H)
        states.append(H)
    return states


@dataclass(frozen=True)
class Trajectory:
    """Theorem 1's implicit-gradient trajectory; each tuple holds L matrices, index t-1 for layer t.

    ``delta_W``, ``G`` and ``W`` are (D, D); ``demos`` are the demonstrations entering layer t, ``h_i^{t-1}`` (D, N).
    """

    delta_W: tuple[torch.Tensor, ...]
    G: tuple[torch.Tensor, ...]
    W: tuple[torch.Tensor, ...]
    demos: tuple[torch.Tensor, ...]

    def W_before(self, layer: int) -> torch.Tensor:
        """``W_{t-1}`` for ``layer`` t in 1..L (``W_0 = 0``)."""
        return self.W[layer - 2] if layer > 1 else torch.zeros_like(self.W[0])

    def query_state(self, h0: torch.Tensor, layer: int) -> torch.Tensor:
        """``h^t_{N+1} = h^0_{N+1} + W_t h^0_{N+1}`` (Theorem 1); ``layer`` 0 returns ``h0``."""
        return h0 if layer == 0 else h0 + self.W[layer - 1] @ h0


def implicit_delta_w(
    W_V: torch.Tensor, W_K: torch.Tensor, W_Q: torch.Tensor, demos: torch.Tensor, W_MLP: torch.Tensor | None = None
) -> torch.Tensor:
    """Lemma 1: ``Delta W = (sum_i W_V h_i (W_K h_i)^T) W_Q`` for demonstrations ``demos`` (D, N), with App. B.3's
    ``W_MLP`` in front when given (Example 4). The one home of the formula."""
    out = (W_V @ demos) @ (W_K @ demos).T @ W_Q
    return out if W_MLP is None else W_MLP @ out


def trajectory(stack: LinearAttentionStack, H: torch.Tensor) -> Trajectory:
    """Theorem 1's ``Delta W_t``, ``G_t`` and ``W_t`` for t = 1..L.

    Built from the recursion alone, without calling :func:`forward`: the demonstrations move by
    ``h_i^t = (I + Delta W_t) h_i^{t-1}`` (they attend to each other exactly as the query attends to them),
    which is all ``Delta W_{t+1}`` needs.
    """
    eye = torch.eye(H.shape[0], dtype=DTYPE)
    demos = H[:, :-1]
    W_prev = torch.zeros_like(eye)
    deltas, gs, ws, inputs = [], [], [], []
    for W_V, W_K, W_Q in zip(stack.W_V, stack.W_K, stack.W_Q):
        inputs.append(demos)
        delta = implicit_delta_w(W_V, W_K, W_Q, demos)
        G = delta @ (eye + W_prev)
        W_prev = W_prev + G
        demos = demos + delta @ demos
        deltas.append(delta)
        gs.append(G)
        ws.append(W_prev)
    return Trajectory(delta_W=tuple(deltas), G=tuple(gs), W=tuple(ws), demos=tuple(inputs))


def relative_error(a: torch.Tensor, b: torch.Tensor) -> float:
    """``||a - b|| / ||b||`` (Frobenius); the yardstick for "equal up to rounding"."""
    return float(torch.linalg.norm(a - b) / torch.linalg.norm(b))


def theorem1_errors(stack: LinearAttentionStack, H: torch.Tensor) -> pd.DataFrame:
    """Per layer t: relative error between the forward pass and ``(I + W_t) h^0`` for the query.

    Also reports ``rank(Delta W_t)`` against N (Remark 1) and the numerical-rank tolerance used.
    """
    states = forward(stack, H)
    traj = trajectory(stack, H)
    h0 = H[:, -1]
    n_demos = H.shape[1] - 1
    rows = []
    for t in range(1, stack.num_layers + 1):
        delta = traj.delta_W[t - 1]
        rows.append(
            {
                "layer": t,
                "rel_error_query": relative_error(traj.query_state(h0, t), states[t][:, -1]),
                "rank_delta_W": int(torch.linalg.matrix_rank(delta)),
                "N": n_demos,
                "D": H.shape[0],
            }
        )
    return pd.DataFrame(rows)


def lemma1_error(W_V: torch.Tensor, W_K: torch.Tensor, W_Q: torch.Tensor, H: torch.Tensor) -> float:
    """Relative error of Lemma 1 for one layer: forward output vs ``h + Delta W h`` for the query."""
    single = LinearAttentionStack(W_V=(W_V,), W_K=(W_K,), W_Q=(W_Q,))
    out = forward(single, H)[1][:, -1]
    h = H[:, -1]
    return relative_error(h + implicit_delta_w(W_V, W_K, W_Q, H[:, :-1]) @ h, out)


def truncate_layer(stack: LinearAttentionStack, layer: int, which: str, clip_rate: float) -> LinearAttentionStack:
    """A copy of ``stack`` with one matrix of one layer (1..L) truncated by SVD at ``clip_rate``."""
    check_theory_layer(layer, stack.num_layers)
    name = f"W_{_check_matrix(which)}"
    mats = list(getattr(stack, name))
    mats[layer - 1] = truncate_matrix(mats[layer - 1], clip_rate, dtype=DTYPE)
    return replace(stack, **{name: tuple(mats)})


def trajectory_norms(traj: Trajectory) -> pd.DataFrame:
    """Frobenius norms of ``Delta W_t``, ``G_t`` and ``W_t`` per layer t = 1..L."""
    return pd.DataFrame(
        {
            "layer": range(1, len(traj.G) + 1),
            "delta_W": [float(torch.linalg.norm(m)) for m in traj.delta_W],
            "G": [float(torch.linalg.norm(m)) for m in traj.G],
            "W": [float(torch.linalg.norm(m)) for m in traj.W],
        }
    )


def truncation_sweep(
    stack: LinearAttentionStack,
    H: torch.Tensor,
    layer: int,
    which: str,
    clip_rates: list[float],
) -> pd.DataFrame:
    """Norms of every ``Delta W_t`` and ``G_t`` when one matrix of ``layer`` is truncated (Remark 5).

    Long format: one row per (clip_rate, t), plus ``changed``: whether ``G_t`` moved from its unpruned
    value by more than rounding.  Remark 5 predicts exactly the layers t >= ``layer`` change.
    """
    base = trajectory(stack, H)
    rows = []
    for xi in clip_rates:
        traj = trajectory(truncate_layer(stack, layer, which, xi), H)
        norms = trajectory_norms(traj)
        for t, (g_new, g_old) in enumerate(zip(traj.G, base.G), start=1):
            rows.append(
                {
                    "clip_rate": xi,
                    "layer": t,
                    "delta_W": norms.delta_W[t - 1],
                    "G": norms.G[t - 1],
                    "changed": bool(torch.linalg.norm(g_new - g_old) > 1e-12 * torch.linalg.norm(g_old)),
                }
            )
    return pd.DataFrame(rows)
