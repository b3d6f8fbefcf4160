"""The Figure 4 chapter's claims: Algorithm 1 improves the test metric (over fresh prompts, and for its tuned
prompt), and the condition-number rationale of its layer choice with its controls."""

from __future__ import annotations

import pandas as pd

from svd_icl.chapters.common import cases, confirmation_claims
from svd_icl.claims.core import Quantifier
from svd_icl.claims.fig4 import condition_gain_evidence
from svd_icl.claims.points import case_evidence
from svd_icl.claims.records import Case, Claim

IMPROVES, IMPROVES_TUNED = "alg1-improves", "alg1-improves-tuned"
RATIONALE, DEPTH_FIXED, DEEPEST = "alg1-rationale", "alg1-rationale-depth-fixed", "alg1-vs-deepest-layer"


def _case(r) -> str:
    return f"{r.model} {r.task}/{str(r.module).upper()}"


def claims(over: pd.DataFrame, tuned: pd.DataFrame, kept: pd.DataFrame, cond_gain: pd.DataFrame,
           depth_rule: pd.DataFrame) -> list[Claim]:  # fmt: skip
    """The records: the confirmations of Algorithm 1's choices (over prompts, tuned), the runs whose search kept the
    unpruned model (:func:`svd_icl.claims.kept_rows`: not informative), :func:`condition_gain` cells and
    :func:`depth_rule_comparison` rows."""
    out = confirmation_claims(over, tuned, _case, (IMPROVES, IMPROVES_TUNED), "Algorithm 1 improves the test metric "
                              "(in some task and module)", "Tables 2-8, Fig. 4", Quantifier.SOME,
                              "Algorithm 1 improves the test metric")  # fmt: skip
    if len(kept):
        extra = tuple(Case(_case(r), r.outcome, f"{_case(r)}: not informative (the validation search kept the "
                           "unpruned model, xi* = 0: there is no change to confirm)") for r in kept.itertuples())
        out = [Claim(c.id, c.text, c.paper, c.quantifier, c.cases + extra, (c.family or 0) + len(extra),
                     short=c.short) for c in out]  # fmt: skip
    if len(cond_gain):
        out += [
            Claim(RATIONALE, "Worse-conditioned layers gain more from truncation (the rationale of Algorithm 1's "
                  "layer choice)", "Sec. 3.4, Alg. 1", Quantifier.EVERY,
                  cases(cond_gain.itertuples(), lambda r: f"{r.model} {r.task} {r.module}", condition_gain_evidence),
                  family=int(cond_gain.m.max())),
            Claim(DEPTH_FIXED, "Worse-conditioned layers gain more, with depth held fixed (partial Spearman given the "
                  "layer)", "Sec. 3.4 (ours: control)", Quantifier.EVERY,
                  cases(cond_gain.itertuples(), lambda r: f"{r.model} {r.task} {r.module}",
                        lambda r: condition_gain_evidence(r, given_depth=True), outcome="outcome_given_depth"),
                  family=int(cond_gain.m.max()), control="depth held fixed (partial Spearman given the layer)",
                  control_of=(RATIONALE,)),
        ]  # fmt: skip
    if len(depth_rule):
        out.append(Claim(DEEPEST, "Algorithm 1's layer does better than the deepest layer alone (over fresh "
                         "demonstration sets)", "Sec. 3.4 (ours: control)", Quantifier.EVERY,
                         cases(depth_rule.itertuples(), _case, lambda r: case_evidence(
                             r, _case(r), f"layer {r.layer} xi = {r.clip_rate:g} vs deepest layer {r.deep_layer} "
                             f"xi = {r.deep_clip_rate:g} over {r.sets} sets, ")), family=len(depth_rule),
                         control="the deepest-layer rule, on the same demonstration sets and queries",
                         control_of=(RATIONALE,)))  # fmt: skip
    return out
