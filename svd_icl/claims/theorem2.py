"""The Theorem 2 chapter's verdicts and findings: Examples 1-4 on random and trained layers, Remark 5 and "some
truncation lowers the error" on the trained toy, the bound against the error and against the measured
generalization gap, Assumption 1. The notebook's hidden cells only format what these return."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import norm

from svd_icl.claims.core import (
    ALPHA,
    FAILS,
    HOLDS,
    MARGINS,
    POWER,
    UNDETERMINED,
    check_outcome,
    fmt_p,
)


def theorem2_gap_verdicts(table: pd.DataFrame) -> pd.DataFrame:
    """Theorem 2 as an inequality, per surrogate, from :func:`svd_icl.theory.generalization.gap_vs_bound` rows:
    ``HOLDS`` when the bound (R = R_hat) is at least the measured gap's upper 95% end in every (case, shots) cell;
    otherwise ``UNDETERMINED`` ("cannot be refuted with R_hat"): R_hat is a lower bound on the theorem's R, so a
    surrogate below the gap does not show the theorem false. With the median looseness (bound / gap, over cells
    with a positive gap) and the share of cells where the bound exceeds 1, the zero estimator's loss (there it
    says less than predicting 0 would)."""
    rows = []
    for approx, g in table.groupby("approx", sort=False):
        positive = g[g.gap > 0]
        holds = bool(g.holds.all())
        rows.append(
            {
                "approx": approx,
                "outcome": HOLDS if holds else UNDETERMINED,
                "note": "" if holds else "cannot be refuted with R_hat (a lower bound on R)",
                "cells": len(g),
                "fails": int((~g.holds).sum()),
                "median_looseness": float(positive.looseness.median()) if len(positive) else float("nan"),
                "vacuous_share": float((g.bound > 1.0).mean()),
            }
        )
    return pd.DataFrame(rows)


def assumption1_verdicts(table: pd.DataFrame, margin: float = MARGINS["gaussian"], alpha: float = ALPHA) -> list:
    """Assumption 1 per layer from :func:`svd_icl.theory.generalization.assumption1_table`, decided on effect size
    (a normality test rejects any departure at 2,000 draws): the largest |skewness| and |excess kurtosis| over the
    leading directions, each with a normal interval simultaneous over every (layer, direction, moment). ``HOLDS``
    (Gaussian enough) when both upper ends lie below ``margin``; ``DOES NOT HOLD`` when either lower end lies above
    it; else ``UNDETERMINED``."""
    m = max(1, 2 * int(table.directions.sum()))
    z = float(norm.ppf(1 - alpha / (2 * m)))
    out = []
    for r in table.itertuples():
        highs = (r.max_abs_skew + z * r.skew_se, r.max_abs_kurtosis + z * r.kurtosis_se)
        lows = (r.max_abs_skew - z * r.skew_se, r.max_abs_kurtosis - z * r.kurtosis_se)
        out.append(HOLDS if max(highs) < margin else FAILS if max(lows) > margin else UNDETERMINED)
    return out


def toy_improvement(best: pd.DataFrame, alpha: float = ALPHA, margin: float = MARGINS["toy_gain"]) -> pd.DataFrame:
    """ "Some truncation lowers the trained toy's ICL error", per shot number, from
    :func:`svd_icl.theory.remark5.best_truncation_test` rows (the best of ``m`` truncations searched at every shot
    number): the relative decrease of the error, ``-change / unpruned error``, with an interval simultaneous over
    the ``m`` truncations (normal, from the per-prompt standard error), decided as an existential claim with a
    margin of ``margin`` (1% lower error): holds when the best truncation's interval lies above 0, does not hold
    only when *every* truncation's interval lies below the margin (not only the best's: one with a smaller estimate
    and a wider interval can still reach it), otherwise undetermined; ``widest_high`` is the largest upper end.
    ``p_adj``: the p-value of the same normal statistic, Bonferroni over the ``m`` (below ``alpha`` exactly when the
    interval excludes 0); ``mde``: the smallest relative decrease that test detects with 80% power at this
    standard error."""
    m = int(best.m.iloc[0])
    z = float(norm.ppf(1 - alpha / (2 * m)))
    base = best["unpruned error"]
    out = best.assign(
        decrease=-best.change / base,
        low=(-best.change - z * best.change_sem) / base,
        high=(-best.change + z * best.change_sem) / base,
        margin=margin,
        m=m,
        mde=(z + norm.ppf(POWER)) * best.change_sem / base,
    )
    if "changes" in best:
        out["widest_high"] = [max((-c + z * s) / b for c, s in zip(cs, ss))
                              for cs, ss, b in zip(best.changes, best.change_sems, base)]  # fmt: skip
    else:
        out["widest_high"] = out.high
    z0 = out.decrease / ((out.high - out.low) / (2 * z))
    out["p_adj"] = [float(min(1.0, m * 2 * norm.sf(abs(v)))) for v in z0]  # dual to the interval: normal statistic
    out["outcome"] = [HOLDS if lo > 0 else FAILS if wide < margin else UNDETERMINED
                      for lo, wide in zip(out.low, out.widest_high)]  # fmt: skip
    return out


def toy_improvement_evidence(out: pd.DataFrame) -> str:
    """:func:`toy_improvement`'s record line: per shot number the outcome, the relative decrease with its
    simultaneous interval, and m, the adjusted p, the margin and the detectable decrease."""
    return (
        "; ".join(
            f"{s} shots: {r.outcome}, {r.decrease:+.2%} [{r.low:+.2%}, {r.high:+.2%}] (m = {r.m}, adjusted "
            f"{fmt_p(r.p_adj)}, margin {r.margin:.0%}, detects {r.mde:+.2%})"
            for s, r in zip(out.index, out.itertuples())
        )
        + " (relative decrease of the error, the best of the m truncations at each shot number)"
    )


def remark5_findings(trends: pd.DataFrame, first_layer_factor: float, layers: int) -> dict:
    """Remark 5 on the trained toy, from :func:`svd_icl.theory.remark5.depth_trend` rows (every matrix and shot
    number): does the damage fall with depth everywhere, is the last layer the least damaged everywhere, and the
    first layer's damage factor; ``sentence`` is the first-layer note in words."""
    deep_steadier = bool((trends["spearman(layer, damage)"] < 0).all())
    deepest_least = bool(all(
        min(range(1, layers + 1), key=lambda k: r[f"layer {k}"]) == layers for r in trends.to_dict("records")
    ))  # fmt: skip
    if first_layer_factor > 10:
        note = (
            f"Truncating layer 1 is catastrophic: its mean damage reaches {first_layer_factor:.3g} times the "
            "unpruned error, because every later $\\Delta W_t$ is computed from tokens it has distorted."
        )
    else:
        note = f"Truncating layer 1 does at most {first_layer_factor:.3g} times the unpruned error in damage."
    first_last = trends[["layer 1", f"layer {layers}"]].to_numpy()
    return {
        "deep_steadier": deep_steadier,
        "deepest_least": deepest_least,
        "first_note": note,
        "first_range": (float(np.nanmin(first_last[:, 0])), float(np.nanmax(first_last[:, 0]))),
        "last_range": (float(np.nanmin(first_last[:, 1])), float(np.nanmax(first_last[:, 1]))),
        "status_flags": list(trends["spearman(layer, damage)"] < 0),
    }


def learning_curve_findings(table: pd.DataFrame, demos_grid: list[int], d: int) -> dict:
    """The learning curve's reading, from the (demos x estimator) error table: the errors at the most
    demonstrations, whether the linear-attention toy beats one gradient step there, and how close it stays to
    least squares below N = d (where least squares is optimal)."""
    at_max = table.loc[max(demos_grid)]
    below = [n for n in demos_grid if n < d]
    close = (float((table.loc[below, "linear attention"] - table.loc[below, "least squares"]).abs().max())
             if below else float("nan"))  # fmt: skip
    return {"at_max": at_max, "learns": bool(at_max["linear attention"] < at_max["one GD step"]), "close_below": close}


def bound_tracking(wide: pd.DataFrame, totals: pd.DataFrame, errors: pd.DataFrame, approximations: list[str]) -> dict:
    """Does Theorem 2's bound move with the ICL error under truncation? From the per-(matrix, layer) Spearman
    correlations ``wide`` (one column per surrogate and one for the implicit-gradient energy), the bound totals
    and the truncation errors at the bound's shot number: the share of cells where each rises with the error, the
    share where the surrogates agree in sign, the span (max / min) of each bound against the error's span, and the
    claim's summary ``status`` (reproduced when every surrogate rises with the error in most cells)."""
    positive = (wide > 0).mean()
    rises = positive[approximations] > 0.5
    signs = np.sign(wide[approximations])
    spans = {a: float(totals[totals.approx == a].bound.max() / totals[totals.approx == a].bound.min())
             for a in approximations}  # fmt: skip
    return {
        "positive": positive,
        "same_sign": float((signs.nunique(axis=1) == 1).mean()),
        "bound_tracks": bool(rises.all()),
        # the claim's cases: a surrogate that rises with the error in most cells supports it (deterministic
        # computations on the trained toy, so a surrogate that does not is a counterexample)
        "outcomes": {a: check_outcome(bool(rises[a])) for a in approximations},
        "g_better": bool(positive["sum ||G_t||^2"] > positive[approximations].max()),
        "spans": spans,
        "error_span": float(errors.median_error.max() / errors.median_error.min()),
    }


def examples_findings(random_rates: pd.DataFrame, trained_checks: pd.DataFrame, aligned: pd.DataFrame) -> dict:
    """Examples 1-4 from the failure rates on random layers (indexed by layer kind and matrix), the checks on the
    trained toy and the aligned-demonstrations construction: does UB fall under every truncation, does the norm
    itself fall for the outermost factors, how often W_K raises it, and whether UB bounds the norm."""
    outer = random_rates.loc[[("attention only", "Q"), ("attention only", "V"), ("with MLP (B.3)", "Q"),
                              ("with MLP (B.3)", "MLP")]]  # fmt: skip
    return {
        "ub_falls": bool(
            (random_rates["fails: UB_decreases"] == 0).all() and (trained_checks["fails: UB_decreases"] == 0).all()
        ),  # fmt: skip
        "outer_falls": bool((outer["fails: norm_decreases"] == 0).all()),
        "k_rate": float(random_rates.loc[("attention only", "K"), "fails: norm_decreases"]),
        "ub_bounds_random": bool(aligned.UB_bounds_norm.all()),
        "ub_bounds_trained": bool((trained_checks["fails: UB_bounds_norm"] == 0).all()),
        "aligned_factor": float(aligned.max_norm_over_UB.iloc[0]),
    }
