"""The Figure 3 chapter's claims: MLP matrices better conditioned than ATTN, condition numbers growing with depth,
and the controls of both (a shape-matched null; matrices with one quantization type in every layer)."""

from __future__ import annotations

import pandas as pd

from svd_icl.claims.core import Quantifier, margins_set_after_data
from svd_icl.claims.fig3 import module_trend_evidence, share_evidence
from svd_icl.claims.records import Case, Claim
from svd_icl.conditioning import condition_table_path
from svd_icl.work import ConditionSVDs, Facts, QuantizationTable, Unit

MLP_BETTER, GROWS = "fig3-mlp-better", "fig3-grows-with-depth"
NULL_MLP, NULL_GROWS, UNIFORM = "fig3-mlp-better-null", "fig3-grows-null", "fig3-grows-uniform-quant"
NULL = "shape-matched null (Gaussian of the same shape and norm; entries permuted)"


def _share_cases(v: pd.DataFrame, what: str = "MLP below ATTN") -> tuple[Case, ...]:
    return tuple(Case(r.model, r.mlp_better, share_evidence(r, what)) for r in v.itertuples())


def _trend_cases(v: pd.DataFrame, what: str = "") -> tuple[Case, ...]:
    return tuple(Case(f"{r.model} {mod.upper()}", getattr(r, f"trend_{mod}"), module_trend_evidence(r, mod, what))
                 for r in v.itertuples() for mod in ("attn", "mlp"))  # fmt: skip


def _after(name: str) -> str:
    """The record's note when a margin was set after the data it decides were seen (the margins file says which)."""
    return f"the {name} margin was set after these data were seen" if name in margins_set_after_data() else ""


def claims(raw: pd.DataFrame, null: pd.DataFrame, uniform: dict[str, pd.DataFrame], aggregate: str) -> list[Claim]:
    """The records from :func:`svd_icl.claims.fig3_verdicts` (raw), :func:`fig3_null_verdicts` (null) and, per
    quantized model, :func:`uniform_quant_trends` (intervals over every model's uniform matrices)."""
    out = [
        Claim(MLP_BETTER, "MLP matrices have lower condition numbers than ATTN (in most layers)", "Fig. 3",
              Quantifier.EVERY, _share_cases(raw), family=len(raw), note=_after("share")),
        Claim(NULL_MLP, "MLP matrices are better conditioned than ATTN beyond what their shapes give (shape-matched "
              "null)", "Fig. 3 (ours: control)", Quantifier.EVERY, _share_cases(null, "MLP excess below ATTN"),
              family=len(null), control=NULL, control_of=(MLP_BETTER,)),
        Claim(GROWS, "Condition numbers grow with depth (ATTN and MLP, every model)", "Fig. 3", Quantifier.EVERY,
              _trend_cases(raw), family=2 * len(raw),
              note="; ".join(filter(None, [f"the {aggregate} over a module's matrices per layer", _after("rho")]))),
        Claim(NULL_GROWS, "Condition numbers grow with depth beyond the shape-matched null", "Fig. 3 (ours: control)",
              Quantifier.EVERY, _trend_cases(null, " excess"), family=2 * len(null), control=NULL,
              control_of=(GROWS,), note="; ".join(filter(None, ["rho of each layer's excess over the null",
                                                                _after("rho")]))),
    ]  # fmt: skip
    tested = [(n, r) for n, u in uniform.items() for r in u[u.uniform].itertuples()]
    if tested:
        m = int(tested[0][1].m)
        uniform_cases = tuple(Case(f"{n} {r.matrix}", r.outcome, f"{n} {r.matrix} ({r.qtypes}): {r.outcome}, rho "
                                   f"{r.rho:+.2f} [{r.low:+.2f}, {r.high:+.2f}] (n = {r.layers} layers, m = {m}, "
                                   f"margin {r.margin:+.2f})") for n, r in tested)  # fmt: skip
        mixed = "; ".join(f"{n}: {', '.join(u[~u.uniform].matrix)} mix types by layer" for n, u in uniform.items()
                          if (~u.uniform).any())  # fmt: skip
        out.append(
            Claim(
                UNIFORM,
                "Condition numbers grow with depth in every matrix quantized with one GGUF type in "
                "every layer (the trend is not an artefact of mixed quantization)",
                "(ours: quantization)",
                Quantifier.EVERY,
                uniform_cases,
                family=m,
                note=mixed,
                control="only matrices with one GGUF type in every layer",
                control_of=(GROWS,),
            )
        )
    return out


def work(p: dict, facts: Facts) -> list[Unit]:
    """Per model: its condition-number table, the permuted-entries control (as many SVDs again) and the Gaussian
    null (``null_draws`` SVDs per distinct shape); per bundled (GGUF) model its quantization table."""
    from svd_icl.models import BUNDLED
    from svd_icl.quantization import quantization_path

    out: list[Unit] = []
    for m in p["models"]:
        if m in BUNDLED:
            out.append(QuantizationTable(chapter="fig3", label=f"{m} quantization table", model=m,
                                         pattern=quantization_path(".", m).name))  # fmt: skip
        tag = m.replace("/", "_")
        table = condition_table_path(".", m, p.get("svd_dtype", "float32")).name
        for label, what, pattern in (("condition numbers", "table", table),
                                     ("permuted-entries control", "permuted", f"fig3_permuted_{tag}.csv"),
                                     ("Gaussian null", "null", f"fig3_null_{tag}.csv")):  # fmt: skip
            out.append(
                ConditionSVDs(
                    chapter="fig3",
                    label=f"{m} {label}",
                    model=m,
                    what=what,
                    pattern=pattern,
                    draws=p.get("null_draws", 10),
                )
            )
    return out
