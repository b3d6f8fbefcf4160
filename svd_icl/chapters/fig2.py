"""The Figure 2 chapter's claims: accuracy grows with shots (over prompts), truncation can raise accuracy at every
shot number (over prompts, and for the tuned prompt), deep layers are the stable ones at every shot number, and
with fewer shots the shallow collapse loses less of the headroom."""

from __future__ import annotations

import pandas as pd

from svd_icl.chapters.common import cases, confirmation_claims
from svd_icl.claims.core import Quantifier, fmt_p
from svd_icl.claims.fig2 import describe_fig2
from svd_icl.claims.points import case_evidence
from svd_icl.claims.records import Claim
from svd_icl.confirm import Design
from svd_icl.sweep import SweepConfig
from svd_icl.work import Confirmation, Facts, PromptChoice, Sweep, Unit

SHOTS_HELP, GAIN, GAIN_TUNED = "fig2-shots-help", "fig2-gain-every-shots", "fig2-gain-every-shots-tuned"
DEPTH, COLLAPSE_SLOWER = "fig2-deep-stable-every-shots", "fig2-fewer-shots-slower-collapse"


def shots_evidence(r, name: str) -> str:
    """A demonstrations-help case over sets (:func:`svd_icl.claims.shots_help_sets` row) as the record states it."""
    return (
        f"{name}: {r.outcome}, {r.accuracy_few:.1%} at {r.few} shots -> {r.accuracy_many:.1%} at {r.many}, "
        f"{r.difference:+.1%} [{r.low:+.1%}, {r.high:+.1%}] ({r.sets} sets x {r.n} queries ({r.design}), "
        f"tau {r.tau:.1%}, m = {r.m}, adjusted {fmt_p(r.p_adj)}, margin {r.margin:+.1%}, detects {r.mde:+.1%})"
    )


def claims(
    helps: pd.DataFrame, over: pd.DataFrame, tuned: pd.DataFrame, depth: pd.DataFrame, slower: pd.DataFrame
) -> list[Claim]:
    """The chapter's claim records: :func:`shots_help_sets` rows (one per model and consecutive pair of shot
    numbers), the confirmation's rows (with ``shot_count``), :func:`depth_stability` and
    :func:`collapse_grows_with_shots` rows."""
    out = [
        Claim(
            SHOTS_HELP,
            "Unpruned accuracy grows with the number of shots (each step, over fresh demonstration sets)",
            "Fig. 2",
            Quantifier.EVERY,
            cases(
                helps.itertuples(),
                lambda r: f"{r.model} {r.few}->{r.many} shots",
                lambda r: shots_evidence(r, f"{r.model} {r.few}->{r.many} shots"),
            ),
            family=len(helps),
        )
    ]
    out += confirmation_claims(over, tuned, lambda r: f"{r.model} {int(r.shot_count)} shots", (GAIN, GAIN_TUNED),
                               "At every shot number truncating one layer can raise accuracy", "Fig. 2",
                               Quantifier.EVERY, "Truncation helps at every shot number")  # fmt: skip
    out.append(Claim(DEPTH, "At every shot number deep layers are more stable than shallow ones", "Fig. 2",
                     Quantifier.EVERY, cases(depth.itertuples(), lambda r: f"{r.model} {int(r.shots)} shots",
                                             lambda r: case_evidence(r, f"{r.model} {int(r.shots)} shots",
                                                                     f"deep {r.deep_mean:.1%} vs shallow "
                                                                     f"{r.shallow_mean:.1%}, ")),
                     family=len(depth)))  # fmt: skip

    def lost(r) -> str:
        shares = ", ".join(f"{k} shots {x:.0%}" for k, x in r.loss_by_shots.items())
        return case_evidence(r, r.model, f"share of headroom lost to shallow truncation {shares}; "
                             f"{max(r.loss_by_shots)} vs {min(r.loss_by_shots)} shots ")  # fmt: skip

    out.append(Claim(COLLAPSE_SLOWER, "With fewer shots, shallow-layer truncation loses a smaller share of the "
                     "headroom (slower collapse)", "Sec. 2.2", Quantifier.EVERY,
                     cases(slower.itertuples(), lambda r: r.model, lost), family=len(slower)))  # fmt: skip
    return out


def by_model(model: str, *frames: pd.DataFrame) -> list[pd.DataFrame]:
    """Each frame's rows of ``model`` (a chapter's tables are per (model, ...); its sentences are per model)."""
    return [f[f.model == model] for f in frames]


def describe_models(models: list[str], helps: pd.DataFrame, improve: pd.DataFrame, depth: pd.DataFrame,
                    grows: pd.DataFrame, confirmed: pd.DataFrame, tuned: pd.DataFrame) -> str:  # fmt: skip
    """One bullet per model: :func:`svd_icl.claims.describe_fig2` of its rows of each table."""
    lines = []
    for m in models:
        rows = (*by_model(m, helps, improve, depth), grows.set_index("model").loc[m], *by_model(m, confirmed, tuned))
        lines.append(f"- {describe_fig2(m, *rows)}")
    return "\n".join(lines)


def work(p: dict, facts: Facts) -> list[Unit]:
    """Per model and shot number: the sweep on ``split``, then its best point confirmed on test queries (per
    demonstration set the unpruned model and the pick, and the unpruned model at 0 shots; at 0 shots there are no
    demonstrations, so one pick and the unpruned model)."""
    out: list[Unit] = []
    for m in p["models"]:
        for k in p["shot_counts"]:
            out.append(Sweep(chapter="fig2", label=f"{m}/{p['task']} {k} shots", config=search_config(p, m, k)))
            out.append(Confirmation(chapter="fig2", label=f"{m}/{p['task']} {k} shots confirmation", model=m,
                                    task=p["task"], shots=k, seed=p["seed"], design=design(p),
                                    layers=tuple(p["layers"])))  # fmt: skip
    if (choice := prompt_choice(p)) is not None:
        out.append(choice)
    return out


# The prompt choices where the authors' code and ours differ (demonstration order, label words), and ours: which of
# them decides whether demonstrations help these models (Figure 2's check, on the model of ``variant_model``).
PROMPT_VARIANTS = {
    "ours": {"order": "shuffled", "label_words": ("negative", "positive")},
    "authors' order": {"order": "interleaved", "label_words": ("negative", "positive")},
    "authors' words": {"order": "shuffled", "label_words": ("neg", "pos")},
    "authors' order and words": {"order": "interleaved", "label_words": ("neg", "pos")},
}


def prompt_choice(p: dict) -> PromptChoice | None:
    """The prompt-format check on ``variant_model`` at the largest shot number (None when no model is named)."""
    if not p["variant_model"]:
        return None
    return PromptChoice(chapter="fig2", label=f"{p['variant_model']}/{p['task']} prompt choice",
                        model=p["variant_model"], task=p["task"], shots=max(p["shot_counts"]), seed=p["seed"],
                        variants=len(PROMPT_VARIANTS), n_validation=p["n_validation"], n_test=p["n_test"],
                        pattern=f"fig2_prompt_variants_{p['variant_model']}.json")  # fmt: skip


def search_config(p: dict, model: str, shots: int) -> SweepConfig:
    """The search of ``model`` at ``shots``: every layer, module and clip rate on ``n_queries`` rows of ``split``."""
    return SweepConfig(model=model, task=p["task"], layers=p["layers"], modules=p["modules"],
                       clip_rates=p["clip_rates"], shots=shots, seed=p["seed"], split=p["split"],
                       n=p["n_queries"])  # fmt: skip


def design(p: dict) -> Design:
    """The confirmation design of every pick of the chapter (one task)."""
    return Design(tuple(p["confirm_sets"]), p["confirm_queries"], p["tuned_queries"])
