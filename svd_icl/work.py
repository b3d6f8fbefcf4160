"""The work a chapter declares: typed units that its notebook runs and the build plan prices.

Each chapter module (``svd_icl.chapters.<name>``) turns the notebook's parameters into a list of these units with
``work(params, facts)``: the notebook takes its sweep configurations and confirmation designs from that list, and
:mod:`svd_icl.plan` counts what is stored of each unit and prices the rest. One declaration, read by both, so the
plan cannot describe work the notebook does not do (``python -m svd_icl.plan --check`` compares the two on a finished
build, for every kind of unit).

The units hold only what identifies the work (its results key, in effect); what it costs is the planner's business.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Protocol

from svd_icl.confirm import Design
from svd_icl.sweep import SweepConfig


class Facts(Protocol):
    """What a chapter's work depends on beyond its parameters: a model's depth (the deepest-layer rule, a sweep of
    every layer) and how much faster one number format's matmuls run than another's on this machine (the precision
    chapter sweeps the cheaper format only where it is cheaper)."""

    def depth(self, model: str) -> int: ...

    def speedup(self, other: str, reference: str) -> float: ...


@dataclass(frozen=True, kw_only=True)
class Unit:
    """A piece of one chapter's work: ``label`` names it in the plan's tables and in ``--check`` messages."""

    chapter: str
    label: str
    kind: ClassVar[str] = "unit"


@dataclass(frozen=True, kw_only=True)
class Sweep(Unit):
    """A sweep of (layer, module, clip rate) points (:func:`svd_icl.sweep.run_sweep`), stored in ``store``."""

    config: SweepConfig
    dtype: str = "float32"
    store: str = "sweeps.jsonl"
    kind: ClassVar[str] = "sweep"


@dataclass(frozen=True, kw_only=True)
class Algorithm1Run(Unit):
    """Algorithm 1 (:func:`svd_icl.algorithm1.run`) for each of ``seeds``. ``depth_rule``: the same search at the
    deepest layer (``k`` = the model's depth), compared with Algorithm 1's own ``k``; where Algorithm 1 already picks
    the deepest layer the comparison is empty and the chapter skips it."""

    model: str
    task: str
    module: str
    seeds: tuple[int, ...]
    k: int
    aggregate: str
    grid: tuple[float, ...]
    shots: int | None
    n_validation: int | None
    n_test: int | None
    dtype: str = "float32"
    device: str = "cpu"
    depth_rule: bool = False
    data_root: str | None = None
    store: ClassVar[str] = "algorithm1.jsonl"
    kind: ClassVar[str] = "algorithm1"

    def run_k(self, depth: int) -> int:
        """The k the stored run is keyed by: Algorithm 1's own, or the model's depth for the deepest-layer rule."""
        return depth if self.depth_rule else self.k


@dataclass(frozen=True, kw_only=True)
class Confirmation(Unit):
    """A sequential confirmation on held-out queries (:func:`svd_icl.chapters.confirmation.confirm_cases`): priced
    at its last look (every set: an upper bound on what it spends); a finished build holds at least its first look.
    ``module``: only that module's picks count (Algorithm 1 confirms a run per module); ``run``: the Algorithm 1 run
    whose pick it confirms (None: a sweep's pick, at one of ``layers``)."""

    model: str
    task: str
    shots: int | None
    seed: int
    design: Design
    layers: tuple[int, ...]
    module: str | None = None
    run: Algorithm1Run | None = None
    data_root: str | None = None
    store: ClassVar[str] = "sweeps.jsonl"
    kind: ClassVar[str] = "confirmation"


@dataclass(frozen=True, kw_only=True)
class FormatControl(Unit):
    """The prompt-format control (:mod:`svd_icl.formats`): per format variant the unpruned model, the search's worst
    shallow point and its best point, on ``n`` validation queries."""

    model: str
    task: str
    shots: int | None
    seed: int
    n: int | None
    layers: tuple[int, ...]
    data_root: str | None = None
    store: ClassVar[str] = "formats.jsonl"
    kind: ClassVar[str] = "formats"

    def config(self) -> SweepConfig:
        """The control's queries and demonstrations (the search's validation rows); the control itself sets the
        layer, module and clip rate of each point it scores (:func:`svd_icl.formats.format_control`)."""
        return SweepConfig(model=self.model, task=self.task, layers=[0], shots=self.shots, seed=self.seed,
                           split="validation", n=self.n, data_root=self.data_root)  # fmt: skip


@dataclass(frozen=True, kw_only=True)
class NoiseControl(Unit):
    """The quantization-noise control (:mod:`svd_icl.noise`): the unpruned model and the pick at each noise level."""

    model: str
    task: str
    shots: int | None
    seed: int
    n: int | None
    levels: tuple[float, ...]
    noise_seed: int
    layers: tuple[int, ...]
    data_root: str | None = None
    store: ClassVar[str] = "noise.jsonl"
    kind: ClassVar[str] = "noise"

    def config(self, layer: int) -> SweepConfig:
        """The control's held-out rows at the pick's ``layer`` (its module and clip rate are set by
        :func:`svd_icl.noise.noise_control`)."""
        return SweepConfig(model=self.model, task=self.task, layers=[layer], shots=self.shots, seed=self.seed,
                           split="test", n=self.n, data_root=self.data_root)  # fmt: skip


@dataclass(frozen=True, kw_only=True)
class ConditionSVDs(Unit):
    """Singular values of every decoder matrix of ``model`` (Figure 3): its condition-number table (``table``), the
    permuted-entries control (as many SVDs again), or the Gaussian null (``draws`` SVDs per distinct shape); stored
    as the file ``pattern``."""

    model: str
    what: str  # "table" | "permuted" | "null"
    pattern: str
    draws: int = 10
    kind: ClassVar[str] = "fixed"


@dataclass(frozen=True, kw_only=True)
class PromptChoice(Unit):
    """Figure 2's prompt-format check (:func:`svd_icl.sweep.prompt_variants`): the unpruned model under each of
    ``variants`` prompt formats, on ``n_validation`` validation rows (where the format is chosen) and ``n_test`` test
    rows (where it is reported); stored as the cached table ``pattern``."""

    model: str
    task: str
    shots: int | None
    seed: int
    variants: int
    n_validation: int | None
    n_test: int | None
    pattern: str
    data_root: str | None = None
    kind: ClassVar[str] = "fixed"


@dataclass(frozen=True, kw_only=True)
class QuantizationTable(Unit):
    """A bundled model's GGUF quantization table (:func:`svd_icl.quantization.bundled_quantization`: every tensor's
    type and predicted error, read from its file), stored as ``pattern``; the noise controls and the scale chapter
    reuse it."""

    model: str
    pattern: str
    kind: ClassVar[str] = "fixed"


@dataclass(frozen=True, kw_only=True)
class TrainedToys(Unit):
    """Small models a chapter trains (Theorem 2's, Figure 5's): ``seconds`` of a cold run on the 2-core CPU the
    constant was measured on (:data:`svd_icl.plan.cost.CALIBRATION_GFLOPS`); stored when a file matches
    ``pattern``."""

    seconds: float
    pattern: str
    kind: ClassVar[str] = "fixed"
