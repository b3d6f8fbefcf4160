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
    detectable_correlation,
    family_level,
    fmt_p,
)
from svd_icl.conditioning import DEFAULT_AGGREGATE, depth_and_module_trends
from svd_icl.stats import holm


def fig3_verdicts(trends: pd.DataFrame, alpha: float = ALPHA) -> pd.DataFrame:
    """Fig. 3's observations per model, from :func:`svd_icl.conditioning.depth_and_module_trends` rows (index:
    model; ``layers`` needed).

    (a) MLP better conditioned than ATTN, read as "in most layers": an exact sign test on the layers whose MLP
    number is below the ATTN one, its Clopper-Pearson interval of the share simultaneous over the models (``m_models``)
    and its p Holm-adjusted over them. ``HOLDS`` when the interval lies above one half, ``DOES NOT HOLD`` when it lies
    below (MLP is *worse* in most layers), ``UNDETERMINED`` otherwise: 8 of 18 layers does not refute the claim.
    (b) condition numbers grow with depth: the two modules' Spearman p-values are Holm-adjusted within the model;
    ``HOLDS`` when some module rises significantly and none falls, ``FAILS`` when some falls and none rises,
    ``UNDETERMINED`` when neither or both directions are found (mixed). ``mde_rho``: the smallest |rho| that test
    detects over the model's layers (:func:`svd_icl.claims.core.detectable_correlation`)."""
    from scipy.stats import binomtest

    if "layers" not in trends:
        raise ValueError("fig3_verdicts needs each model's number of layers (column 'layers'), for the sign test")
    m_models = len(trends)
    shares = []
    for _, r in trends.iterrows():
        layers = int(r["layers"])
        below = int(round(float(r.mlp_below_attn) * layers))
        test = binomtest(below, layers, 0.5)
        ci = test.proportion_ci(family_level(m_models, alpha), method="exact")
        shares.append((below, layers, test.pvalue, ci.low, ci.high))
    share_p = holm([p for _, _, p, _, _ in shares])
    rows = []
    for (model, r), (below, layers, _, low, high), p_share in zip(trends.iterrows(), shares, share_p):
        a = HOLDS if low > 0.5 else (FAILS if high < 0.5 else UNDETERMINED)
        modules = ("attn", "mlp")
        p_adj = dict(zip(modules, holm([r[f"p_{m}"] for m in modules])))
        rising = any(r[f"spearman_{m}"] > 0 and p_adj[m] < alpha for m in modules)
        falling = any(r[f"spearman_{m}"] < 0 and p_adj[m] < alpha for m in modules)
        rows.append(
            {"model": model, "mlp_better": a, "grows_with_depth": _direction(rising, falling),
             "mlp_below_attn": float(r.mlp_below_attn), "layers_below": below, "share_low": float(low),
             "share_high": float(high), "p_holm_share": float(p_share), "m_models": m_models,
             "spearman_attn": float(r.spearman_attn), "spearman_mlp": float(r.spearman_mlp),
             "p_holm_attn": float(p_adj["attn"]), "p_holm_mlp": float(p_adj["mlp"]), "m": len(modules),
             "layers": layers, "mde_rho": detectable_correlation(layers, len(modules))}
        )  # fmt: skip
    return pd.DataFrame(rows)


def share_evidence(row, what: str = "MLP below ATTN") -> str:
    """One :func:`fig3_verdicts` row's observation (a) as the record states it::

        gemma3-270m: undetermined, MLP below ATTN in 8 of 18 layers (44%) [18%, 74%] (sign test, m = 3,
        Holm p = 0.815)
    """
    return (
        f"{row.model}: {row.mlp_better}, {what} in {row.layers_below} of {row.layers} layers "
        f"({row.mlp_below_attn:.0%}) [{row.share_low:.0%}, {row.share_high:.0%}] (sign test, m = {row.m_models}, "
        f"Holm {fmt_p(row.p_holm_share)})"
    )


def trend_evidence(row) -> str:
    """One :func:`fig3_verdicts` row's depth trend as the reproduction record states it: the outcome, each module's
    Spearman rho with its Holm-adjusted p, the layers, the family and the smallest |rho| the test detects::

        gemma3-270m: holds, rho ATTN -0.01 (Holm p = 0.970), MLP +0.83 (Holm p < 0.001) (n = 18 layers, m = 2,
        detects |rho| >= 0.66)
    """
    rhos = ", ".join(
        f"{m.upper()} {getattr(row, f'spearman_{m}'):+.2f} (Holm {fmt_p(getattr(row, f'p_holm_{m}'))})"
        for m in ("attn", "mlp")
    )
    return (
        f"{row.model}: {row.grows_with_depth}, rho {rhos} (n = {row.layers} layers, m = {int(row.m)}, "
        f"detects |rho| >= {row.mde_rho:.2f})"
    )


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
                     "p": float(p), "layers": g.layer.nunique()})  # fmt: skip
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
    if len(uniform) and "layers" in trends:
        n = int(trends[trends.uniform].layers.min())
        parts[0] += (
            f" (Holm over those m = {len(uniform)}; over {n} layers a trend is detected from |rho| >= "
            f"{detectable_correlation(n, len(uniform)):.2f})"
        )
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


def describe_trends(model_name: str, trends: pd.Series, verdict, alpha: float = ALPHA) -> str:
    """One plain sentence per observation of Fig. 3, from a row of :func:`depth_and_module_trends` and that model's
    :func:`fig3_verdicts` row (decided with every model of the chapter, so the sign test's family is theirs)."""
    share = trends["mlp_below_attn"]
    how = f"per layer, the {trends['aggregate']} over a module's matrices"
    parts = [
        f"**{model_name}**: (a) MLP better conditioned than ATTN: **{verdict.mlp_better}** (MLP below ATTN in "
        f"{verdict.layers_below} of {verdict.layers} layers, {share:.0%}; simultaneous interval of the share "
        f"[{verdict.share_low:.0%}, {verdict.share_high:.0%}])"
    ]
    for module in ("attn", "mlp"):
        rho, p = trends[f"spearman_{module}"], getattr(verdict, f"p_holm_{module}")
        if p < alpha:
            trend = "rises with depth" if rho > 0 else "falls with depth"
        else:
            trend = "shows no significant depth trend"
        parts.append(f"{module.upper()} {trend} (Spearman rho = {rho:+.2f}, Holm {fmt_p(p)})")
    return (
        parts[0] + f"; (b) grows with depth: **{verdict.grows_with_depth}**: " + ", ".join(parts[1:])
        + f" ({how}; over {verdict.layers} layers the test detects |rho| >= {verdict.mde_rho:.2f})."
    )


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
        f"(MLP's excess below ATTN's in {null.layers_below} of {null.layers} layers, interval "
        f"[{null.share_low:.0%}, {null.share_high:.0%}]; raw: {raw.mlp_better}); (b) grows with "
        f"depth: **{null.grows_with_depth}** (Spearman of the excess: ATTN {null.spearman_attn:+.2f}, MLP "
        f"{null.spearman_mlp:+.2f}; raw: {raw.grows_with_depth}); "
        + (f"the null changes {' and '.join(changed)}" if changed else "the null changes neither verdict")
        + (
            f"; {null.structured_share:.0%} of matrices are worse conditioned than their permuted entries."
            if null.structured_share == null.structured_share
            else "."
        )  # fmt: skip
    )
