"""Typed claim records: what a chapter states, with a stable id, a declared quantifier and its decided cases.

A chapter's claims are :class:`Claim` objects built by tested functions in :mod:`svd_icl.chapters` from the
chapter's tables; :func:`svd_icl.summary.record` writes them to the chapter's verdict file and the summary, the
findings and the README record read them back by id. The status is never stored by hand: it follows from the
quantifier and the cases' outcomes (:func:`svd_icl.claims.core.claim_status`).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from svd_icl.claims.core import HOLDS, NOT_INFORMATIVE, Outcome, Quantifier, Status, claim_status, tally


@dataclass(frozen=True)
class Effect:
    """A case's quantitative effect for the forest plot: the difference with its simultaneous interval, the margin
    it was decided against, the paper's value for the same setting (None where the paper reports none) and the
    number of demonstrations in the prompt."""

    difference: float
    low: float
    high: float
    margin: float | None = None
    reported: float | None = None
    shots: int | None = None
    tau: float | None = None  # over demonstration sets: the between-set standard deviation of the effect
    mde: float | None = None  # the smallest effect the test detects at 80% power


@dataclass(frozen=True)
class Case:
    """One decided case of a claim (a model, a task, a shot number, a layer ...)."""

    name: str
    outcome: Outcome
    evidence: str = ""
    effect: Effect | None = None

    def __post_init__(self):
        object.__setattr__(self, "outcome", Outcome(self.outcome))

    def effect_text(self) -> str:
        """'gemma3-270m/sst2 at 10 shots -1.2% [-1.8%, -0.6%]; the paper reports +0.3%' (or the name and outcome)."""
        e = self.effect
        if e is None or not all(map(math.isfinite, (e.difference, e.low, e.high))):
            return f"{self.name}: {self.outcome}"
        paper = f"; the paper reports {e.reported:+.1%}" if e.reported is not None else ""
        shots = f" at {e.shots} shots" if e.shots is not None and f"{e.shots} shots" not in self.name else ""
        return f"{self.name}{shots} {e.difference:+.1%} [{e.low:+.1%}, {e.high:+.1%}]{paper}"


@dataclass(frozen=True)
class Claim:
    """One claim a chapter states.

    ``id``: stable across builds (the summary and the findings read claims by it). ``quantifier``: whether the
    claim is about every case or some case. ``family``: the number of tests the status rests on (its intervals are
    simultaneous over them; None for deterministic checks). ``control_of``: for a control, the ids of the claims
    whose mechanism it tests, phrased so that *reproduced* means the mechanism survives it. ``note``: evidence about
    the claim as a whole, after the cases'.
    """

    id: str
    text: str
    paper: str
    quantifier: Quantifier
    cases: tuple[Case, ...]
    family: int | None = None
    note: str = ""
    control: str | None = None
    control_of: tuple[str, ...] = ()
    short: str | None = None

    def __post_init__(self):
        object.__setattr__(self, "quantifier", Quantifier(self.quantifier))
        object.__setattr__(self, "cases", tuple(self.cases))
        object.__setattr__(self, "control_of", tuple(self.control_of))
        if not self.id or not self.id.replace("-", "").replace("_", "").isalnum():
            raise ValueError(f"claim id {self.id!r}: use letters, digits, '-' and '_'")
        if (self.control is None) != (not self.control_of):
            raise ValueError(f"claim {self.id!r}: a control needs both 'control' and 'control_of'")
        if self.family is not None and self.family < len(self.cases):
            raise ValueError(
                f"claim {self.id!r}: its family ({self.family} tests) is smaller than its "
                f"{len(self.cases)} cases: every test that feeds the status must be in the family"
            )

    @property
    def status(self) -> Status:
        return claim_status(self.quantifier, [c.outcome for c in self.cases])

    @property
    def counts(self) -> str:
        return tally(c.outcome for c in self.cases)

    def deciding_case(self) -> Case | None:
        """The case a reader should see first: a holding one with an effect (the surest), else the informative one
        whose interval reaches highest, else the first with evidence."""
        with_effect = [c for c in self.cases if c.effect is not None and c.outcome != NOT_INFORMATIVE]
        holding = [c for c in with_effect if c.outcome == HOLDS]
        if holding:
            return max(holding, key=lambda c: c.effect.low)
        if with_effect:
            return max(with_effect, key=lambda c: c.effect.high)
        return next((c for c in self.cases if c.evidence), None)

    @property
    def evidence(self) -> str:
        parts = [c.evidence for c in self.cases if c.evidence]
        return "; ".join(parts) + (f" ({self.note})" if self.note and parts else self.note)

    def to_dict(self) -> dict:
        """The verdict file's form (JSON-ready): the declaration, the derived status and counts, and the cases."""
        cases = []
        for c in self.cases:
            effect = None if c.effect is None else {k: _finite(v) for k, v in asdict(c.effect).items()}
            cases.append({"name": c.name, "outcome": str(c.outcome), "evidence": c.evidence, "effect": effect})
        return {"id": self.id, "claim": self.text, "paper": self.paper, "quantifier": str(self.quantifier),
                "status": str(self.status), "counts": self.counts, "family": self.family,
                "evidence": self.evidence, "control": self.control, "control_of": list(self.control_of),
                "short": self.short, "cases": cases}  # fmt: skip

    @classmethod
    def from_dict(cls, d: dict) -> Claim:
        cases = tuple(Case(c["name"], c["outcome"], c.get("evidence", ""),
                           Effect(**c["effect"]) if c.get("effect") else None) for c in d["cases"])  # fmt: skip
        return cls(d["id"], d["claim"], d["paper"], d["quantifier"], cases, d.get("family"), d.get("note", ""),
                   d.get("control"), tuple(d.get("control_of") or ()), d.get("short"))  # fmt: skip


def _finite(v):
    return None if isinstance(v, float) and not math.isfinite(v) else v
