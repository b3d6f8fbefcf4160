"""The Figure 1 chapter's claims: truncation raises accuracy (over fresh prompts, and for the tuned prompt), deep
layers tolerate truncation, shallow layers collapse; and the controls of the gain (quantization noise) and of the
verdicts (prompt format)."""

from __future__ import annotations

import pandas as pd

from svd_icl.chapters.common import cases, confirmation_claims
from svd_icl.claims.core import Quantifier
from svd_icl.claims.fig1 import collapse_evidence, describe_fig1
from svd_icl.claims.formats import format_claim
from svd_icl.claims.noise import describe_noise
from svd_icl.claims.points import case_evidence
from svd_icl.claims.records import Claim
from svd_icl.confirm import Design
from svd_icl.models import BUNDLED
from svd_icl.sweep import SweepConfig
from svd_icl.work import Confirmation, Facts, FormatControl, NoiseControl, Sweep, Unit

GAIN, GAIN_TUNED = "fig1-gain", "fig1-gain-tuned"
DEPTH, COLLAPSE = "fig1-deep-tolerate", "fig1-shallow-collapse"
NOISE, FORMAT = "fig1-noise-control", "fig1-format-control"


def _case(r) -> str:
    return f"{r.model}/{r.task}"


def claims(
    over: pd.DataFrame, tuned: pd.DataFrame, depth: pd.DataFrame, collapse: pd.DataFrame,
    noise: pd.DataFrame | None = None, formats: pd.DataFrame | None = None,
) -> list[Claim]:  # fmt: skip
    """The chapter's claim records from its tables: :func:`svd_icl.claims.over_sets` / :func:`tuned_prompt` rows
    (the confirmation), :func:`depth_stability`, :func:`shallow_collapse`, :func:`noise_effects` and
    :func:`format_robustness` rows."""
    out = confirmation_claims(over, tuned, _case, (GAIN, GAIN_TUNED), "Truncating one layer can raise few-shot "
                              "accuracy", "Fig. 1", Quantifier.SOME, "Truncation raises accuracy")  # fmt: skip
    out.append(Claim(DEPTH, "Deep layers tolerate truncation better than shallow ones", "Fig. 1", Quantifier.EVERY,
                     cases(depth.itertuples(), _case, lambda r: case_evidence(
                         r, _case(r), f"deep {r.deep_mean:.1%} vs shallow {r.shallow_mean:.1%}, ")),
                     family=len(depth)))  # fmt: skip
    out.append(Claim(COLLAPSE, "Heavy truncation of a shallow layer collapses accuracy to chance (no better than "
                     "max(1/K, majority rate) + 10 points, and a drop)", "Fig. 1", Quantifier.EVERY,
                     cases(collapse.itertuples(), _case, lambda r: collapse_evidence(r, _case(r))),
                     family=int(collapse.m.max()) if len(collapse) else None))  # fmt: skip
    if noise is not None and len(noise):
        levels = ", ".join(f"{v:g}x" for v in sorted(set(noise.noise)))
        out.append(Claim(NOISE, "A truncation's gain is not quantization noise removed (more injected noise does not "
                         "raise it)", "(ours: quantization)", Quantifier.EVERY,
                         cases(noise.itertuples(), lambda r: f"{_case(r)} {r.noise:g}x", lambda r: case_evidence(
                             r, f"{_case(r)}", f"gain {r.gain0:+.1%} -> {r.gain:+.1%} with {r.noise:g}x the error "
                             f"variance added (noise cost {r.cost:+.1%}), change ", field="growth")),
                         family=int(noise.m.max()), control=f"quantization-shaped noise added ({levels} the error "
                         "variance)", control_of=(GAIN_TUNED,)))  # fmt: skip
    if formats is not None and len(formats):
        out.append(format_claim(formats, control_of=(COLLAPSE, GAIN_TUNED), claim_id=FORMAT))
    return out


def describe_runs(improve: pd.DataFrame, depth: pd.DataFrame, collapse: pd.DataFrame) -> str:
    """One bullet per (model, task): its improvement, depth and collapse rows (:func:`svd_icl.claims.describe_fig1`)."""
    rows = zip(improve.iterrows(), depth.iterrows(), collapse.iterrows())
    return "\n".join(f"- {describe_fig1(i, d, c)}" for (_, i), (_, d), (_, c) in rows)


def describe_noise_control(noise: pd.DataFrame) -> str:
    """One bullet per pick of the noise control (:func:`svd_icl.claims.noise_effects` rows), or why there is none."""
    if not len(noise):
        return "None of these models is a quantized checkpoint."
    return "\n".join(f"- {describe_noise(r)}" for r in noise.itertuples())


def describe_norms(confound: pd.DataFrame, norms: list[pd.DataFrame]) -> str:
    """The descriptive norm table's sentence: each case's gains against the quantization error, and the median
    removed norm per clip rate."""
    from svd_icl.claims.quantization import describe_confound

    if not norms:
        return "None of these models is a quantized checkpoint."
    every = pd.concat(norms)
    ratio = (every.removed_norm / every.error_norm).groupby(every.clip_rate).median()
    rates = ", ".join(f"{v:.1f}x the quantization error at ξ = {xi:g}" for xi, v in ratio[ratio.index > 0].items())
    return ("\n".join(f"- {describe_confound(r)}" for r in confound.itertuples())
            + f"\n\nMedian over the truncated modules, the removed norm is {rates}.")  # fmt: skip


def describe_error_model(error_model: pd.DataFrame, quant_tables: dict) -> str:
    """How well the s^2/12 error model matches the measured error, and whether the files' steps are read right."""
    ratios = error_model.ratio
    over = 1 / ratios**2 - 1  # how much the estimated variance (and the injected noise's) exceeds the measured error's
    text = (f"Measured error over the $s^2/12$ estimate: {ratios.min():.2f} to {ratios.max():.2f} over these types and "
            f"quantizers, so the model's variance, and the injected noise's, is {over.min():+.0%} to {over.max():+.0%} "
            "off the true error's (positive: larger).")  # fmt: skip
    if quant_tables:
        worst = max(float(q.off_grid.max()) for q in quant_tables.values())
        types = sorted({t for q in quant_tables.values() for t in q.qtype})
        text += (
            f" In the bundled files ({', '.join(types)}), the largest share of weights off their steps' grid is "
            f"{worst:.1%}" + (": the steps are read right." if worst == 0 else ": some steps are misread.")
        )
    return text


def work(p: dict, facts: Facts) -> list[Unit]:
    """Per (model, task) of ``runs``: the search on validation queries, the confirmation of its pick, the prompt-format
    control and, on a quantized checkpoint with noise levels, the quantization-noise control."""
    out: list[Unit] = []
    for model, task in p["runs"]:
        layers = searched_layers(p, task)
        shots = p["shots"].get(task)
        out.append(Sweep(chapter="fig1", label=f"{model}/{task} search", config=search_config(p, model, task)))
        out.append(
            Confirmation(
                chapter="fig1",
                label=f"{model}/{task} confirmation",
                model=model,
                task=task,
                shots=shots,
                seed=p["seed"],
                design=design(p, task),
                layers=layers,
            )
        )
        out.append(format_unit(p, model, task))
        noise = noise_unit(p, model, task)
        if noise is not None:
            out.append(noise)
    return out


def searched_layers(p: dict, task: str) -> tuple[int, ...]:
    """The layers searched for ``task``: its own list in ``layers_by_task``, else ``layers``."""
    return tuple(p.get("layers_by_task", {}).get(task, p["layers"]))


def format_unit(p: dict, model: str, task: str) -> FormatControl:
    """The prompt-format control of (``model``, ``task``): the search's validation rows under each format variant."""
    return FormatControl(chapter="fig1", label=f"{model}/{task} format control", model=model, task=task,
                         shots=p["shots"].get(task), seed=p["seed"], n=p["n_search"].get(task),
                         layers=searched_layers(p, task))  # fmt: skip


def noise_unit(p: dict, model: str, task: str) -> NoiseControl | None:
    """The quantization-noise control of (``model``, ``task``)'s pick, or None where it does not apply (no positive
    noise level, or a model that is not a quantized checkpoint: no rounding error to mimic)."""
    levels = tuple(v for v in p.get("noise_levels", []) if v > 0)
    if not levels or model not in BUNDLED:
        return None
    return NoiseControl(chapter="fig1", label=f"{model}/{task} noise control", model=model, task=task,
                        shots=p["shots"].get(task), seed=p["seed"], n=noise_queries(p, task), levels=levels,
                        noise_seed=p.get("noise_seed", 0),
                        layers=searched_layers(p, task))  # fmt: skip


def search_config(p: dict, model: str, task: str) -> SweepConfig:
    """The exploratory search of (``model``, ``task``): every layer, module and clip rate on validation queries."""
    return SweepConfig(model=model, task=task, layers=list(searched_layers(p, task)),
                       modules=p["modules"], clip_rates=p["clip_rates"], shots=p["shots"].get(task), seed=p["seed"],
                       split="validation", n=p["n_search"].get(task))  # fmt: skip


def design(p: dict, task: str) -> Design:
    """The confirmation design of ``task``'s pick (its looks, queries per set and tuned-prompt rows)."""
    return Design.for_task(p["confirm_sets"][task], p["confirm_queries"], p["tuned_queries"], task)


def noise_queries(p: dict, task: str) -> int | None:
    """The test rows of the noise control: the tuned prompt's rows (a crossed design: its rows)."""
    d = design(p, task)
    return d.tuned or d.cap
