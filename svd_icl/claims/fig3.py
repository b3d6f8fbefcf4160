"""Figure 3's claims: condition numbers grow with depth (Holm within a model, mixed directions undetermined), and
the same trend on uniformly quantized matrices only (the control for GGUF's mixed recipes)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from svd_icl.claims.core import (
    ALPHA,
    FAILS,
    HOLDS,
    UNDETERMINED,
)
from svd_icl.conditioning import DEFAULT_AGGREGATE, depth_and_module_trends
from svd_icl.stats import holm


def fig3_verdicts(trends: pd.DataFrame, alpha: float = ALPHA) -> pd.DataFrame:
    """Fig. 3's observations per model, from :func:`svd_icl.conditioning.depth_and_module_trends` rows (index:
    model). (a) MLP better conditioned than ATTN: ``HOLDS`` in at least 90% of layers, ``FAILS`` in at most half,
    ``UNDETERMINED`` between. (b) condition numbers grow with depth: the two modules' Spearman p-values are
    Holm-adjusted within the model; ``HOLDS`` when some module rises significantly and none falls, ``FAILS`` when
    some falls and none rises, ``UNDETERMINED`` when neither or both directions are found (mixed)."""
    rows = []
    for model, r in trends.iterrows():
        share = float(r.mlp_below_attn)
        a = HOLDS if share >= 0.9 else (FAILS if share <= 0.5 else UNDETERMINED)
        modules = ("attn", "mlp")
        p_adj = dict(zip(modules, holm([r[f"p_{m}"] for m in modules])))
        rising = any(r[f"spearman_{m}"] > 0 and p_adj[m] < alpha for m in modules)
        falling = any(r[f"spearman_{m}"] < 0 and p_adj[m] < alpha for m in modules)
        b = _direction(rising, falling)
        rows.append(
            {"model": model, "mlp_better": a, "grows_with_depth": b, "mlp_below_attn": share,
             "p_holm_attn": float(p_adj["attn"]), "p_holm_mlp": float(p_adj["mlp"]), "m": len(modules)}
        )  # fmt: skip
    return pd.DataFrame(rows)


def _direction(rising: bool, falling: bool) -> str:
    """A trend claimed upward: up only -> holds; down only -> does not hold; neither or both -> undetermined."""
    if rising and not falling:
        return HOLDS
    if falling and not rising:
        return FAILS
    return UNDETERMINED


def uniform_quant_trends(cond: pd.DataFrame, qtypes: pd.DataFrame, min_layers: int = 5) -> pd.DataFrame:
    """Fig. 3's depth trend, matrix by matrix, on matrices quantized with one GGUF type in every layer.

    ``cond``: :func:`svd_icl.conditioning.condition_numbers` rows (layer, module, matrix, cond); ``qtypes``: per
    (layer, matrix as ``"attn.q"``) the ``qtype``. A trend found where every layer has the same quantization cannot
    come from llama.cpp giving some layers more bits. One row per matrix: its type(s), whether uniform, Spearman's
    rho of condition number against layer index and its p-value (uniform matrices only; ``p_holm`` adjusted over
    them), and the outcome: ``HOLDS`` for a significant rise with depth, ``FAILS`` for a significant fall, else
    ``UNDETERMINED``.
    """
    from scipy.stats import spearmanr

    table = cond.assign(name=cond.module + "." + cond.matrix).merge(
        qtypes.rename(columns={"matrix": "name"})[["layer", "name", "qtype"]], on=["layer", "name"], how="left"
    )
    rows = []
    for name, g in table.groupby("name", sort=False):
        types = sorted(set(g.qtype.dropna()))
        uniform = len(types) == 1 and len(g) >= min_layers
        rho, p = spearmanr(g.layer, g.cond) if uniform else (np.nan, np.nan)
        rows.append({"matrix": name, "qtypes": "/".join(types), "uniform": uniform, "rho": float(rho),
                     "p": float(p)})  # fmt: skip
    out = pd.DataFrame(rows)
    tested = out.uniform.to_numpy(bool)
    out["p_holm"] = np.nan
    if tested.any():
        out.loc[tested, "p_holm"] = holm(out.p[tested].to_numpy())
    out["outcome"] = [
        (HOLDS if rho > 0 else FAILS) if u and p < ALPHA else (UNDETERMINED if u else "(mixed types: not tested)")
        for u, rho, p in zip(out.uniform, out.rho, out.p_holm)
    ]
    return out


def describe_uniform_trends(model: str, trends: pd.DataFrame) -> str:
    """One sentence from :func:`uniform_quant_trends` rows of one model."""
    uniform = trends[trends.uniform]
    mixed = trends[~trends.uniform]
    rising = uniform[uniform.outcome == HOLDS]
    falling = uniform[uniform.outcome == FAILS]
    parts = [f"{model}: {len(uniform)} of {len(trends)} matrices have one quantization type in every layer"]
    if len(uniform):
        named = ", ".join(f"{m} rho = {r:+.2f}" for m, r in zip(rising.matrix, rising.rho))
        parts.append(
            f"their condition numbers rise significantly with depth in {len(rising)}"
            + (f" ({named})" if len(rising) else "")
            + f" and fall in {len(falling)}"
            + (f" ({', '.join(falling.matrix)})" if len(falling) else "")
        )
    if len(mixed):
        parts.append(f"{', '.join(f'{m} ({q})' for m, q in zip(mixed.matrix, mixed.qtypes))} mix types by layer")
    return "; ".join(parts) + "."


def uniform_trend_outcome(trends: pd.DataFrame) -> str:
    """One model's verdict from :func:`uniform_quant_trends` (Holm over its uniformly quantized matrices):
    ``HOLDS`` when some matrix rises significantly with depth and none falls, ``FAILS`` when some falls and none
    rises, ``UNDETERMINED`` when neither or both (mixed directions)."""
    outcomes = set(trends[trends.uniform].outcome)
    return _direction(HOLDS in outcomes, FAILS in outcomes)


def describe_trends(model_name: str, trends: pd.Series, alpha: float = 0.05) -> str:
    """One plain sentence per observation of Fig. 3, from a row of :func:`depth_and_module_trends`; the verdict
    words are :func:`fig3_verdicts`'."""
    verdict = fig3_verdicts(pd.DataFrame([trends], index=[model_name]), alpha).iloc[0]
    share = trends["mlp_below_attn"]
    how = f"per layer, the {trends['aggregate']} over a module's matrices"
    parts = [
        f"**{model_name}**: (a) MLP better conditioned than ATTN: **{verdict.mlp_better}** (MLP below ATTN in "
        f"{share:.0%} of layers)"
    ]
    for module in ("attn", "mlp"):
        rho, p = trends[f"spearman_{module}"], trends[f"p_{module}"]
        if p < alpha:
            trend = "rises with depth" if rho > 0 else "falls with depth"
        else:
            trend = "shows no significant depth trend"
        parts.append(f"{module.upper()} {trend} (Spearman rho = {rho:+.2f}, p = {p:.2g})")
    return parts[0] + f"; (b) grows with depth: **{verdict.grows_with_depth}**: " + ", ".join(parts[1:]) + f" ({how})."


def fig3_null_verdicts(nulled: dict[str, pd.DataFrame], aggregate: str = DEFAULT_AGGREGATE) -> pd.DataFrame:
    """Fig. 3's two observations decided again after the shape-matched null, per model, from
    :func:`svd_icl.conditioning.against_null` tables: the per-layer number is now a module's largest *excess*
    (condition number over the median of Gaussian matrices of the same shape), so a square matrix no longer looks
    ill-conditioned for its shape alone; the same rule as :func:`fig3_verdicts` (Holm within the model, mixed
    directions undetermined). ``structured_share``: the share of matrices whose condition number exceeds that of
    the same entries permuted (structure, not the value distribution, sets it)."""

    trends = pd.concat(
        [depth_and_module_trends(t.assign(cond=t.excess), aggregate).assign(model=m) for m, t in nulled.items()]
    ).set_index("model")
    out = fig3_verdicts(trends)
    out["spearman_attn"] = trends.spearman_attn.to_numpy()
    out["spearman_mlp"] = trends.spearman_mlp.to_numpy()
    out["structured_share"] = [
        float((t.cond > t.permuted_cond).mean()) if "permuted_cond" in t else float("nan") for t in nulled.values()
    ]
    return out


def describe_null(raw, null) -> str:
    """One sentence per model: Fig. 3's verdicts on raw condition numbers (a :func:`fig3_verdicts` row) beside those
    after the shape null (a :func:`fig3_null_verdicts` row); rows as Series or named tuples."""
    changed = [name for name, key in (("(a) MLP better conditioned", "mlp_better"), ("(b) grows with depth",
               "grows_with_depth")) if getattr(raw, key) != getattr(null, key)]  # fmt: skip
    return (
        f"**{null.model}**: after the shape-matched null, (a) MLP better conditioned than ATTN: **{null.mlp_better}** "
        f"(MLP's excess below ATTN's in {null.mlp_below_attn:.0%} of layers; raw: {raw.mlp_better}); (b) grows with "
        f"depth: **{null.grows_with_depth}** (Spearman of the excess: ATTN {null.spearman_attn:+.2f}, MLP "
        f"{null.spearman_mlp:+.2f}; raw: {raw.grows_with_depth}); "
        + (f"the null changes {' and '.join(changed)}" if changed else "the null changes neither verdict")
        + (
            f"; {null.structured_share:.0%} of matrices are worse conditioned than their permuted entries."
            if null.structured_share == null.structured_share
            else "."
        )  # fmt: skip
    )
