"""Figure 3's claims: condition numbers grow with depth (Holm within a model, mixed directions undetermined), and
the same trend on uniformly quantized matrices only (the control for GGUF's mixed recipes)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from svd_icl.claims.core import (
    ALPHA,
    FAILS,
    HOLDS,
    MARGINS,
    UNDETERMINED,
    decide,
    detectable_correlation,
    detectable_share,
    family_level,
    fmt_p,
    rho_interval,
    rho_p,
)
from svd_icl.conditioning import DEFAULT_AGGREGATE, depth_and_module_trends


def fig3_verdicts(trends: pd.DataFrame, alpha: float = ALPHA) -> pd.DataFrame:
    """Fig. 3's observations per model, from :func:`svd_icl.conditioning.depth_and_module_trends` rows (index:
    model; ``layers`` needed), each decided by the shared rule (:func:`svd_icl.claims.core.decide`).

    (a) MLP better conditioned than ATTN, read as "in most layers": an exact sign test on the layers whose MLP
    number is below the ATTN one, its Clopper-Pearson interval of the share simultaneous over the models (``m_models``)
    and the p dual to it (twice the smaller binomial tail, times ``m_models``: below ``alpha`` exactly when the
    interval excludes one half). ``HOLDS`` when the interval lies above one half, ``DOES NOT HOLD`` when it lies
    below one half plus ``MARGINS["share"]`` (the data exclude "most layers" by that much), ``UNDETERMINED``
    otherwise: 8 of 18 layers does not refute the claim. ``share_mde``: the share the test detects at 80% power.
    (b) condition numbers grow with depth: each module's Spearman rho with its interval simultaneous over every
    (model, module) test (``m`` = 2 x models: the family of the claim's status; :func:`svd_icl.claims.core.
    rho_interval`) and the adjusted p dual to it, each decided against ``MARGINS["rho"]`` (``trend_attn``,
    ``trend_mlp``: the claim's cases). ``grows_with_depth`` summarises a model for its sentence only: some module
    rises and none is refuted, or the reverse, else undetermined. ``mde_rho``: the smallest |rho| that test detects
    over the model's layers (:func:`svd_icl.claims.core.detectable_correlation`)."""
    from scipy.stats import binom, binomtest

    if "layers" not in trends:
        raise ValueError("fig3_verdicts needs each model's number of layers (column 'layers'), for the sign test")
    m_models = len(trends)
    modules = ("attn", "mlp")
    m_trend = m_models * len(modules)
    rows = []
    for model, r in trends.iterrows():
        layers = int(r["layers"])
        below = int(round(float(r.mlp_below_attn) * layers))
        ci = binomtest(below, layers, 0.5).proportion_ci(family_level(m_models, alpha), method="exact")
        low, high = ci.low, ci.high
        tail = min(binom.cdf(below, layers, 0.5), binom.sf(below - 1, layers, 0.5))  # the central test's p / 2
        row = {"model": model, "mlp_below_attn": float(r.mlp_below_attn), "layers_below": below,
               "share_low": float(low), "share_high": float(high), "p_adj_share": min(1.0, 2 * tail * m_models),
               "m_models": m_models, "share_margin": MARGINS["share"],
               "share_mde": detectable_share(layers, m_models, alpha),
               "mlp_better": decide(low - 0.5, high - 0.5, MARGINS["share"]),
               "m": m_trend, "layers": layers, "margin_rho": MARGINS["rho"],
               "mde_rho": detectable_correlation(layers, m_trend, alpha)}  # fmt: skip
        for mod in modules:
            rho = float(r[f"spearman_{mod}"])
            lo, hi = rho_interval(rho, layers, m_trend, alpha)
            row.update({f"spearman_{mod}": rho, f"rho_low_{mod}": lo, f"rho_high_{mod}": hi,
                        f"p_adj_{mod}": rho_p(rho, layers, m_trend),
                        f"trend_{mod}": decide(lo, hi, MARGINS["rho"])})  # fmt: skip
        outcomes = [row[f"trend_{mod}"] for mod in modules]
        row["grows_with_depth"] = _direction(HOLDS in outcomes, FAILS in outcomes)
        rows.append(row)
    return pd.DataFrame(rows)


def share_evidence(row, what: str = "MLP below ATTN") -> str:
    """One :func:`fig3_verdicts` row's observation (a) as the record states it::

    gemma3-270m: undetermined, MLP below ATTN in 8 of 18 layers (44%) [18%, 74%] (sign test, m = 3,
    adjusted p = 1.000, margin 60% of layers, detects 88%)
    """
    return (
        f"{row.model}: {row.mlp_better}, {what} in {row.layers_below} of {row.layers} layers "
        f"({row.mlp_below_attn:.0%}) [{row.share_low:.0%}, {row.share_high:.0%}] (sign test, m = {row.m_models}, "
        f"adjusted {fmt_p(row.p_adj_share)}, margin {0.5 + row.share_margin:.0%} of layers, "
        f"detects {row.share_mde:.0%})"
    )


def trend_evidence(row) -> str:
    """One :func:`fig3_verdicts` row's depth trend as the reproduction record states it: the outcome, each module's
    Spearman rho with its simultaneous interval and the adjusted p dual to it, the layers, the family, the margin and
    the smallest |rho| the test detects::

        gemma3-270m: holds, rho ATTN -0.01 [-0.57, +0.55] (adjusted p = 1.000), MLP +0.83 [+0.52, +0.95]
        (adjusted p < 0.001) (n = 18 layers, m = 2, margin +0.10, detects |rho| >= 0.66)
    """
    rhos = ", ".join(
        f"{m.upper()} {getattr(row, f'spearman_{m}'):+.2f} [{getattr(row, f'rho_low_{m}'):+.2f}, "
        f"{getattr(row, f'rho_high_{m}'):+.2f}] (adjusted {fmt_p(getattr(row, f'p_adj_{m}'))})"
        for m in ("attn", "mlp")
    )
    return (
        f"{row.model}: {row.grows_with_depth}, rho {rhos} (n = {row.layers} layers, m = {int(row.m)}, "
        f"margin {row.margin_rho:+.2f}, detects |rho| >= {row.mde_rho:.2f})"
    )


def module_trend_evidence(row, module: str, what: str = "") -> str:
    """One (model, module) depth trend as a case of the claim states it::

    gemma3-270m MLP: holds, rho +0.83 [+0.39, +0.96] (n = 18 layers, m = 6, adjusted p < 0.001, margin +0.10,
    detects |rho| >= 0.71)
    """
    return (
        f"{row.model} {module.upper()}{what}: {getattr(row, f'trend_{module}')}, rho "
        f"{getattr(row, f'spearman_{module}'):+.2f} [{getattr(row, f'rho_low_{module}'):+.2f}, "
        f"{getattr(row, f'rho_high_{module}'):+.2f}] (n = {row.layers} layers, m = {int(row.m)}, adjusted "
        f"{fmt_p(getattr(row, f'p_adj_{module}'))}, margin {row.margin_rho:+.2f}, detects |rho| >= {row.mde_rho:.2f})"
    )


def _direction(rising: bool, falling: bool) -> str:
    """A trend claimed upward: up only -> holds; down only -> does not hold; neither or both -> undetermined."""
    if rising and not falling:
        return HOLDS
    if falling and not rising:
        return FAILS
    return UNDETERMINED


def uniform_quant_trends(
    cond: pd.DataFrame, qtypes: pd.DataFrame, min_layers: int = 5, m: int | None = None
) -> pd.DataFrame:
    """Fig. 3's depth trend, matrix by matrix, on matrices quantized with one GGUF type in every layer.

    ``cond``: :func:`svd_icl.conditioning.condition_numbers` rows (layer, module, matrix, cond); ``qtypes``: per
    (layer, matrix as ``"attn.q"``) the ``qtype``. A trend found where every layer has the same quantization cannot
    come from llama.cpp giving some layers more bits. One row per matrix: its type(s), whether uniform, Spearman's
    rho of condition number against layer index, its interval simultaneous over the uniform matrices (``m``), the
    adjusted p dual to it, and the outcome of the shared rule against ``MARGINS["rho"]``: ``HOLDS`` for a rise with
    depth, ``FAILS`` when the interval lies below the margin (flat or falling), else ``UNDETERMINED``. ``m``: the
    family when the control's status covers several models' matrices (:func:`uniform_family`); default this
    model's uniform matrices.
    """
    from scipy.stats import spearmanr

    table = cond.assign(name=cond.module + "." + cond.matrix).merge(
        qtypes.rename(columns={"matrix": "name"})[["layer", "name", "qtype"]], on=["layer", "name"], how="left"
    )
    rows = []
    for name, g in table.groupby("name", sort=False):
        types = sorted(set(g.qtype.dropna()))
        uniform = len(types) == 1 and len(g) >= min_layers
        rho = spearmanr(g.layer, g.cond)[0] if uniform else np.nan
        rows.append({"matrix": name, "qtypes": "/".join(types), "uniform": uniform, "rho": float(rho),
                     "layers": g.layer.nunique()})  # fmt: skip
    out = pd.DataFrame(rows)
    m = m or max(int(out.uniform.sum()), 1)
    tested = [rho_interval(r, n, m) if u else (np.nan, np.nan) for u, r, n in zip(out.uniform, out.rho, out.layers)]
    out["low"], out["high"] = [t[0] for t in tested], [t[1] for t in tested]
    out["p_adj"] = [rho_p(r, n, m) if u else np.nan for u, r, n in zip(out.uniform, out.rho, out.layers)]
    out["m"], out["margin"] = m, MARGINS["rho"]
    out["outcome"] = [
        decide(lo, hi, MARGINS["rho"]) if u else "(mixed types: not tested)"
        for u, lo, hi in zip(out.uniform, out.low, out.high)
    ]
    return out


def uniform_family(tables: dict[str, pd.DataFrame], quant: dict[str, pd.DataFrame], min_layers: int = 5) -> int:
    """The number of uniformly quantized matrices over every model: the family of the control's status."""
    return max(1, sum(int(uniform_quant_trends(tables[n], q, min_layers).uniform.sum()) for n, q in quant.items()))


def describe_uniform_trends(model: str, trends: pd.DataFrame) -> str:
    """One sentence from :func:`uniform_quant_trends` rows of one model: each tested matrix's rho with its
    simultaneous interval, what rises and what is refuted, the family, the margin and what the layers detect."""
    uniform = trends[trends.uniform]
    mixed = trends[~trends.uniform]
    rising = uniform[uniform.outcome == HOLDS]
    refuted = uniform[uniform.outcome == FAILS]
    parts = [f"{model}: {len(uniform)} of {len(trends)} matrices have one quantization type in every layer"]
    if len(uniform):
        n = int(uniform.layers.min())
        parts[0] += (
            f" (intervals simultaneous over m = {int(uniform.m.iloc[0])} such matrices of every model, margin "
            f"{MARGINS['rho']:+.2f}; over {n} layers a trend is detected from |rho| >= "
            f"{detectable_correlation(n, int(uniform.m.iloc[0])):.2f})"
        )
        each = ", ".join(f"{r.matrix} {r.rho:+.2f} [{r.low:+.2f}, {r.high:+.2f}]" for r in uniform.itertuples())
        parts.append(
            f"rho by matrix: {each}; their condition numbers rise with depth in {len(rising)}"
            + (f" ({', '.join(rising.matrix)})" if len(rising) else "")
            + f" and are shown flat or falling (below the margin) in {len(refuted)}"
            + (f" ({', '.join(refuted.matrix)})" if len(refuted) else "")
        )
    if len(mixed):
        parts.append(f"{', '.join(f'{m} ({q})' for m, q in zip(mixed.matrix, mixed.qtypes))} mix types by layer")
    return "; ".join(parts) + "."


def uniform_trend_outcome(trends: pd.DataFrame) -> str:
    """One model's verdict from :func:`uniform_quant_trends` (intervals simultaneous over its uniformly quantized
    matrices): ``HOLDS`` when some matrix rises with depth and none is refuted, ``FAILS`` when some is refuted (flat
    or falling) and none rises, ``UNDETERMINED`` when neither or both (mixed directions)."""
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
        rho, p = trends[f"spearman_{module}"], getattr(verdict, f"p_adj_{module}")
        low, high = getattr(verdict, f"rho_low_{module}"), getattr(verdict, f"rho_high_{module}")
        if p < alpha:
            trend = "rises with depth" if rho > 0 else "falls with depth"
        elif high < verdict.margin_rho:
            trend = f"shows no depth trend of {verdict.margin_rho:+.2f} or more"
        else:
            trend = "shows no significant depth trend"
        parts.append(
            f"{module.upper()} {trend} (Spearman rho = {rho:+.2f} [{low:+.2f}, {high:+.2f}], adjusted {fmt_p(p)})"
        )
    return (
        parts[0]
        + f"; (b) grows with depth: **{verdict.grows_with_depth}**: "
        + ", ".join(parts[1:])
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
