"""The Figure 4 chapter's claims: Algorithm 1 improves the test metric (over fresh prompts, and for its tuned
prompt), and the condition-number rationale of its layer choice with its controls."""

from __future__ import annotations

import pandas as pd

from svd_icl.chapters.common import cases, confirmation_claims
from svd_icl.claims.core import Quantifier
from svd_icl.claims.fig4 import condition_gain_evidence
from svd_icl.claims.points import case_evidence
from svd_icl.claims.records import Case, Claim
from svd_icl.confirm import Design
from svd_icl.sweep import SweepConfig
from svd_icl.work import Algorithm1Run, Confirmation, Facts, Sweep, Unit

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
        extra = tuple(
            Case(
                _case(r),
                r.outcome,
                f"{_case(r)}: not informative (the validation search kept the "
                "unpruned model, xi* = 0: there is no change to confirm)",
            )
            for r in kept.itertuples()
        )
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


def work(p: dict, facts: Facts) -> list[Unit]:
    """Per model: Algorithm 1 per (task, module) and seed; the confirmation of the first seed's picks; on
    ``depth_rule_tasks`` the same search at the deepest layer and its confirmation on the same queries; and the
    every-layer sweeps of ``cond_gain_runs`` (the condition-number rationale)."""
    out: list[Unit] = []
    for name in p["model_names"]:
        for task in p["tasks"]:
            for module in p["modules"]:
                run = algorithm1_run(p, name, task, module)
                out.append(run)
                out.append(Confirmation(chapter="fig4", label=f"{name}/{task} {module} confirmation", model=name,
                                        task=task, shots=p["shots"].get(task), seed=p["seeds"][0],
                                        design=design(p, task), layers=(-1,), module=module, run=run))  # fmt: skip
        for task in p.get("depth_rule_tasks", []):  # Algorithm 1 against the deepest-layer rule, on the same queries
            for module in p["modules"]:
                rule = algorithm1_run(p, name, task, module, depth_rule=True)
                out.append(rule)
                out.append(Confirmation(chapter="fig4", label=f"{name}/{task} {module} deepest-layer rule "
                                        "confirmation", model=name, task=task, shots=p["shots"].get(task),
                                        seed=p["seeds"][0], design=design(p, task), layers=(-1,), module=module,
                                        run=rule))  # fmt: skip
    for name, task in p["cond_gain_runs"]:
        out.append(
            Sweep(
                chapter="fig4",
                label=f"{name}/{task} every layer",
                config=every_layer_config(p, name, task, facts.depth(name)),
            )
        )
    return out


def algorithm1_run(p: dict, model: str, task: str, module: str, depth_rule: bool = False) -> Algorithm1Run:
    """Algorithm 1 on (``model``, ``task``, ``module``) for every seed, or the deepest-layer rule's single run."""
    label = f"{model}/{task} {module} " + ("deepest-layer rule" if depth_rule else "Algorithm 1")
    return Algorithm1Run(chapter="fig4", label=label, model=model, task=task, module=module,
                         seeds=tuple(p["seeds"][:1] if depth_rule else p["seeds"]), k=p["k"],
                         aggregate=p["aggregate"], grid=tuple(p["clip_rates"]), shots=p["shots"].get(task),
                         n_validation=p["n_validation"].get(task), n_test=p["n_test"].get(task), dtype=p["dtype"],
                         device=p["device"], depth_rule=depth_rule)  # fmt: skip


def every_layer_config(p: dict, model: str, task: str, depth: int) -> SweepConfig:
    """The rationale's sweep: every layer of ``model`` (``depth`` of them), both modules, on validation queries."""
    return SweepConfig(model=model, task=task, layers=list(range(depth)), modules=["attn", "mlp"],
                       clip_rates=p["cond_gain_clip_rates"], shots=p["shots"].get(task), seed=0, split="validation",
                       n=p["cond_gain_n"].get(task))  # fmt: skip


def design(p: dict, task: str) -> Design:
    """The confirmation design of ``task``'s picks (its looks, queries per set and tuned-prompt rows)."""
    return Design.for_task(p["confirm_sets"][task], p["confirm_queries"], p["tuned_queries"], task)


def run_specs(unit: Algorithm1Run, depth: int) -> list[dict]:
    """The runs of ``unit`` as :func:`svd_icl.distributed.run_grid` takes them, one per seed (``depth``: the model's,
    the deepest-layer rule's k); the caller adds its batch size and condition numbers."""
    return [dict(task=unit.task, module=unit.module, seed=seed, k=unit.run_k(depth), aggregate=unit.aggregate,
                 grid=unit.grid, shots=unit.shots, n_validation=unit.n_validation, n_test=unit.n_test)
            for seed in unit.seeds]  # fmt: skip
