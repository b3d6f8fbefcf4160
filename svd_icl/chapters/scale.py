"""The scale chapter's claims: Figure 1's and 2's on the largest bundled model."""

from __future__ import annotations

import pandas as pd

from svd_icl.chapters.common import confirmation_claims
from svd_icl.chapters.fig2 import shots_evidence
from svd_icl.claims.core import Quantifier
from svd_icl.claims.fig1 import collapse_evidence
from svd_icl.claims.points import case_evidence
from svd_icl.claims.records import Case, Claim
from svd_icl.confirm import Design
from svd_icl.sweep import SweepConfig
from svd_icl.work import Confirmation, Facts, Sweep, Unit

SHOTS_HELP, GAIN, GAIN_TUNED, DEPTH = "scale-shots-help", "scale-gain", "scale-gain-tuned", "scale-depth"


def claims(big: str, helps: pd.Series, over: pd.DataFrame, tuned: pd.DataFrame, depth: pd.Series,
           collapse: pd.Series) -> list[Claim]:  # fmt: skip
    """The records for model ``big``: its :func:`shots_help_sets` row, its confirmation rows (over prompts and
    tuned), and its :func:`depth_stability` and :func:`shallow_collapse` rows."""
    name = f"{big} {helps.few}->{helps.many} shots"
    out = [Claim(SHOTS_HELP, f"Few-shot demonstrations help at larger scale ({big}, over fresh demonstration sets)",
                 "Fig. 2 / Sec. 2.2", Quantifier.EVERY, (Case(name, helps.outcome, shots_evidence(helps, name)),),
                 family=1)]  # fmt: skip
    out += confirmation_claims(over, tuned, lambda r: f"{r.model}/{r.task}", (GAIN, GAIN_TUNED),
                               f"Truncating one layer can raise few-shot accuracy at larger scale ({big})", "Fig. 1",
                               Quantifier.SOME, "Truncation raises accuracy at 1.5B")  # fmt: skip
    out.append(Claim(DEPTH, f"Deep layers tolerate truncation better and shallow layers collapse, at larger scale "
                     f"({big})", "Fig. 1", Quantifier.EVERY,
                     (Case(f"{big} deep more stable", depth.outcome, case_evidence(
                         depth, f"{big} deep more stable", f"deep {depth.deep_mean:.1%} vs shallow "
                         f"{depth.shallow_mean:.1%}, ")),
                      Case(f"{big} shallow collapse", collapse.outcome, collapse_evidence(collapse,
                                                                                          f"{big} shallow collapse"))),
                     family=2))  # fmt: skip
    return out


def work(p: dict, facts: Facts) -> list[Unit]:
    """Per model: the search at the largest shot number on validation queries, and the confirmation of its pick on
    test queries (the unpruned model and the pick with each demonstration set, the unpruned model at 0 shots)."""
    out: list[Unit] = []
    for m in p["models"]:
        out.append(Sweep(chapter="scale", label=f"{m} search", config=search_config(p, m)))
        out.append(
            Confirmation(
                chapter="scale",
                label=f"{m} confirmation",
                model=m,
                task=p["task"],
                shots=max(p["shots"]),
                seed=p["seed"],
                design=design(p),
                layers=tuple(p["layers"]),
            )
        )
    return out


def search_config(p: dict, model: str) -> SweepConfig:
    """The search of ``model`` at the largest shot number of ``shots``, on ``n_search`` validation queries."""
    return SweepConfig(model=model, task=p["task"], layers=p["layers"], modules=p["modules"],
                       clip_rates=p["clip_rates"], shots=max(p["shots"]), seed=p["seed"], split="validation",
                       n=p["n_search"])  # fmt: skip


def design(p: dict) -> Design:
    """The confirmation design of every pick of the chapter (one task)."""
    return Design(tuple(p["confirm_sets"]), p["confirm_queries"], p["tuned_queries"])
