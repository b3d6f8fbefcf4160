"""Apply the paper's rank-r truncation to one layer of a real model, and undo it exactly.

:class:`Pruner` decomposes each matrix once and keeps the factors of one layer at a time, so a sweep over clip
rates costs one decomposition per matrix plus one cheap product per rate, and never a second copy of the model.
:meth:`Pruner.truncated` is a context manager: the original weights are written back bit for bit when the block
ends, also when it ends with an exception.  :func:`factorize` goes further and replaces ``nn.Linear`` layers by
two rank-r maps, the parameter and FLOP saving that truncation promises but that multiplying the factors back
(as the authors' code and LASER do) never delivers.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from torch import nn

from svd_icl.architectures import (
    Architecture,
    architecture_for,
    check_layer,
    decoder_layers,
    select_matrices,
    weight_view,
)
from svd_icl.svd import SVDFactors, check_clip_rate, decompose, factorized_params


@dataclass(frozen=True)
class TruncationInfo:
    """What one truncation did to one matrix."""

    layer: int
    matrix: str  # e.g. "attn.q"
    shape: tuple[int, int]
    rank: int
    full_rank: int
    frobenius_error: float

    @property
    def params_if_factorized(self) -> int:
        return factorized_params(self.shape, self.rank)


class Pruner:
    """Truncate matrices of one layer of ``model`` at given clip rates, with cached SVD factors.

    ``svd_dtype`` is the precision of the decomposition (float32 default, float64 for checks); the truncated
    matrix is cast back to the weight's dtype.  Factors of only the most recently used layer are kept.
    """

    def __init__(self, model: nn.Module, arch: Architecture | None = None, svd_dtype: torch.dtype = torch.float32):
        self.model = model
        self.arch = arch or architecture_for(model)
        self.svd_dtype = svd_dtype
        self._layers = decoder_layers(model, self.arch)
        self._cache_layer: int | None = None
        self._cache: dict[str, SVDFactors] = {}

    @property
    def num_layers(self) -> int:
        return len(self._layers)

    def factors(self, layer: int, matrix: str) -> SVDFactors:
        """SVD factors of ``matrix`` (e.g. ``"attn.q"``) in ``layer``, decomposed on first use."""
        layer = check_layer(self.model, layer, self.arch)
        if self._cache_layer != layer:
            self._cache, self._cache_layer = {}, layer
        if matrix not in self._cache:
            _, spec = select_matrices(self.arch, matrix)[matrix]
            self._cache[matrix] = decompose(weight_view(self._layers[layer], spec), dtype=self.svd_dtype)
        return self._cache[matrix]

    def _write(
        self, layer: int, module: str, clip_rate: float, originals: list[tuple[torch.Tensor, torch.Tensor]]
    ) -> list[TruncationInfo]:
        """Write the rank-r truncations of ``module``'s matrices of ``layer`` into the model, appending each
        overwritten (view, original) pair to ``originals`` as it goes (so a failure midway can be undone)."""
        xi = check_clip_rate(clip_rate)
        layer = check_layer(self.model, layer, self.arch)
        infos: list[TruncationInfo] = []
        for name, (_, spec) in select_matrices(self.arch, module).items():
            view = weight_view(self._layers[layer], spec)
            f = self.factors(layer, name)
            rank = f.rank_for(xi)
            full = f.S.numel()
            infos.append(TruncationInfo(layer, name, tuple(view.shape), rank, full, f.dropped_energy(rank)))
            if rank < full:
                originals.append((view, view.clone()))
                view.copy_(f.reconstruct(rank).to(view.dtype))
        return infos

    @contextmanager
    def truncated(self, layer: int, module: str, clip_rate: float) -> Iterator[list[TruncationInfo]]:
        """Within the block, the selected matrices of ``layer`` are their rank-r truncations.

        ``module`` selects matrices as in :func:`svd_icl.architectures.select_matrices` ("attn", "mlp", "v", ...).
        A clip rate whose rank is the full rank leaves the matrix untouched (bit-exact), unlike rebuilding it
        from its factors, which would add rounding noise.
        """
        originals: list[tuple[torch.Tensor, torch.Tensor]] = []
        try:
            yield self._write(layer, module, clip_rate, originals)
        finally:
            for view, saved in reversed(originals):
                view.copy_(saved)

    def apply(self, layer: int, module: str, clip_rate: float) -> list[TruncationInfo]:
        """Truncate for good (no restore): what an export writes to disk. Prefer :meth:`truncated` in-process."""
        return self._write(layer, module, clip_rate, [])


@contextmanager
def truncated(model: nn.Module, layer: int, module: str, clip_rate: float) -> Iterator[list[TruncationInfo]]:
    """One-off form of :meth:`Pruner.truncated` (decomposes afresh; use a :class:`Pruner` for sweeps)."""
    with Pruner(model).truncated(layer, module, clip_rate) as infos:
        yield infos


class LowRankLinear(nn.Module):
    """``x -> B (A x) + bias`` with ``A`` (r, in) and ``B`` (out, r): a rank-r linear map stored as factors."""

    def __init__(self, factors: SVDFactors, rank: int, bias: torch.Tensor | None, dtype: torch.dtype):
        super().__init__()
        out_features, in_features = factors.shape
        root = factors.S[:rank].sqrt()  # split sigma evenly between the two factors
        self.down = nn.Linear(in_features, rank, bias=False, dtype=dtype, device=factors.S.device)
        self.up = nn.Linear(rank, out_features, bias=bias is not None, dtype=dtype, device=factors.S.device)
        with torch.no_grad():
            self.down.weight.copy_((root[:, None] * factors.Vh[:rank]).to(dtype))
            self.up.weight.copy_((factors.U[:, :rank] * root).to(dtype))
            if bias is not None:
                self.up.bias.copy_(bias)

    @classmethod
    def empty(cls, in_features: int, out_features: int, rank: int, bias: bool, dtype: torch.dtype) -> LowRankLinear:
        """A rank-``rank`` map of the given shape with uninitialised factors, for loading saved ones into."""
        self = cls.__new__(cls)
        nn.Module.__init__(self)
        self.down = nn.Linear(in_features, rank, bias=False, dtype=dtype)
        self.up = nn.Linear(rank, out_features, bias=bias, dtype=dtype)
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.up(self.down(x))


@dataclass(frozen=True)
class FactorizationReport:
    infos: list[TruncationInfo]
    params_before: int
    params_after: int

    @property
    def params_saved(self) -> int:
        return self.params_before - self.params_after


def factorize(
    model: nn.Module, layer: int, module: str, clip_rate: float, only_if_smaller: bool = True
) -> FactorizationReport:
    """Replace the selected ``nn.Linear`` matrices of ``layer`` by :class:`LowRankLinear` (in place, permanent).

    The outputs equal those of :meth:`Pruner.truncated` up to rounding, with ``r (m + n)`` parameters instead of
    ``m n``.  With ``only_if_smaller`` a matrix whose factors would be larger (``r (m + n) >= m n``) is kept dense.
    Fused slices (GPT-2's q/k/v) and non-``nn.Linear`` modules cannot be factorized and raise.
    """
    xi = check_clip_rate(clip_rate)
    pruner = Pruner(model)
    layer = check_layer(model, layer, pruner.arch)
    layer_module = decoder_layers(model, pruner.arch)[layer]
    infos, before, after = [], 0, 0
    for name, (_, spec) in select_matrices(pruner.arch, module).items():
        target = layer_module.get_submodule(spec.path)
        if spec.part is not None or type(target) is not nn.Linear:
            raise ValueError(
                f"{name} ({spec.path}, {type(target).__name__}) is not a whole nn.Linear; cannot factorize it"
            )
        f = pruner.factors(layer, name)
        rank = f.rank_for(xi)
        m, n = f.shape
        infos.append(TruncationInfo(layer, name, (m, n), rank, f.S.numel(), f.dropped_energy(rank)))
        before += m * n
        if only_if_smaller and rank * (m + n) >= m * n:
            after += m * n
            continue
        layer_module.set_submodule(spec.path, LowRankLinear(f, rank, target.bias, target.weight.dtype))
        after += rank * (m + n)
    return FactorizationReport(infos, before, after)
