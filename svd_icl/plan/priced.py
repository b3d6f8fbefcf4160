"""A unit of work priced against a results directory (:class:`Priced`): what the planner returns and the reports,
the budget and ``--check`` read."""

from __future__ import annotations

from dataclasses import dataclass

from svd_icl.work import Unit


@dataclass
class Priced:
    """One unit of work against a results directory: points (or runs, files) it needs, how many are stored, the
    seconds the rest will take; ``shared``: points planned by an earlier unit of the build (computed there);
    ``first_missing``: for a sequential confirmation, the points of its first look not stored (a finished build
    holds at least those; the later looks run only while a case is undetermined)."""

    unit: Unit
    total: int = 0
    stored: int = 0
    seconds: float = 0.0
    shared: int = 0
    first_missing: int | None = None
    first_seconds: float | None = None  # the part of ``seconds`` a finished build spends in any case (first look)

    @property
    def chapter(self) -> str:
        return self.unit.chapter

    @property
    def label(self) -> str:
        return self.unit.label

    @property
    def kind(self) -> str:
        return self.unit.kind

    @property
    def required_seconds(self) -> float:
        """Seconds of the work every build does (all of it but a sequential confirmation's later looks)."""
        return self.seconds if self.first_seconds is None else self.first_seconds

    @property
    def missing(self) -> int:
        """Points a finished build should hold and does not."""
        return self.total - self.stored if self.first_missing is None else self.first_missing
