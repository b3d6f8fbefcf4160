"""Pieces every chapter's claim records share: a confirmation's two claims and cases from decided rows."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import numpy as np
import pandas as pd

from svd_icl.claims.confirmation import confirmation_evidence
from svd_icl.claims.core import Quantifier
from svd_icl.claims.records import Case, Claim, Effect


def _num(x) -> float | None:
    return float(x) if x is not None and np.isfinite(x) else None


def gain_effect(row, shots: int | None = None) -> Effect | None:
    """The forest plot's effect of a confirmed case (None where it was not informative: nothing was estimated)."""
    if not np.isfinite(row.difference):
        return None
    shots = int(row.shots) if shots is None and hasattr(row, "shots") else shots
    return Effect(float(row.difference), float(row.low), float(row.high), _num(row.margin), _num(row.reported), shots,
                  _num(getattr(row, "tau", None)), _num(getattr(row, "mde", None)))  # fmt: skip


def confirmation_claims(
    over: pd.DataFrame, tuned: pd.DataFrame, name: Callable, ids: tuple[str, str], text: str, paper: str,
    quantifier: Quantifier, short: str,
) -> list[Claim]:  # fmt: skip
    """The two claims of a confirmation: over fresh prompts (the claim about the method) and for the prompt the
    search was tuned on (the paper's procedure), each with its cases, evidence and effects, their family the cases."""
    prompts = [Case(name(r), r.outcome, confirmation_evidence(r, name(r)), gain_effect(r)) for r in over.itertuples()]
    own = [Case(name(r), r.outcome, confirmation_evidence(r, name(r)), gain_effect(r)) for r in tuned.itertuples()]
    return [
        Claim(ids[0], f"{text} (chosen on validation, over fresh demonstration sets and held-out queries)", paper,
              quantifier, tuple(prompts), family=len(prompts), short=f"{short}, over prompts"),
        Claim(ids[1], f"{text}, for the prompt the search was tuned on (held-out queries, as Tables 2-8)", paper,
              quantifier, tuple(own), family=len(own), short=f"{short}, tuned prompt"),
    ]  # fmt: skip


def cases(rows: Iterable, name: Callable, evidence: Callable, outcome: str = "outcome") -> tuple[Case, ...]:
    """One :class:`Case` per decided row: its name, its outcome column and its record line."""
    return tuple(Case(name(r), getattr(r, outcome), evidence(r)) for r in rows)


def describe_confirmations(over: pd.DataFrame, tuned: pd.DataFrame, label: Callable, kept: pd.DataFrame | None = None,
                           ) -> str:  # fmt: skip
    """A confirmation's generated sentences, one per case and claim (over fresh prompts, then the tuned prompt),
    and one per case with nothing to confirm (``kept``: Algorithm 1 runs that kept the unpruned model)."""
    from svd_icl.claims.confirmation import describe_over_sets, describe_tuned

    lines = [f"- {describe_over_sets(r, label(r))}" for r in over.itertuples()]
    lines += [f"- {describe_tuned(r, label(r))}" for r in tuned.itertuples()]
    lines += [f"- **{label(r)}**: the validation search kept the unpruned model (ξ* = 0): there is no change to "
              "confirm." for r in (kept.itertuples() if kept is not None else [])]  # fmt: skip
    return "\n".join(lines)


def describe_looks(over: pd.DataFrame, label: Callable) -> str:
    """Where each case's sequential confirmation stopped, what it spent and why."""
    if over.empty:
        return "No case was confirmed."
    return "\n".join(f"- {label(r)}: {r.outcome} after {int(r.sets_spent)} of {int(r.fixed_sets)} sets ({r.stopped}); "
                     f"{r.seconds / 60:.1f} min of compute for its points" for r in over.itertuples())  # fmt: skip
