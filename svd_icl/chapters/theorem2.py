"""The Theorem 2 chapter's claims: Examples 1-4, Remark 5 and "some truncation lowers the error" on the trained
toy, the bound's surrogates against the error and against the measured gap, and Assumption 1."""

from __future__ import annotations

import pandas as pd

from svd_icl.claims.core import HOLDS, Quantifier, check_outcome, fmt_p
from svd_icl.claims.records import Case, Claim


def claims(ex: dict, r5: dict, trends: pd.DataFrame, improvement: pd.DataFrame, bt: dict, approximations: list[str],
           gap_verdicts: pd.DataFrame, a1_out: list, a1: pd.DataFrame, random_seeds: int,
           clip_rates: list[float], layers: int, shots: list[int]) -> list[Claim]:  # fmt: skip
    """The records from :func:`svd_icl.claims.examples_findings` (``ex``), :func:`remark5_findings` (``r5``) with
    its ``trends`` rows, :func:`toy_improvement`, :func:`bound_tracking` (``bt``), :func:`theorem2_gap_verdicts`
    and :func:`assumption1_verdicts` (``a1_out``, per row of the table ``a1``)."""
    every, some = Quantifier.EVERY, Quantifier.SOME
    positive = bt["positive"]
    out = [
        Claim("thm2-ub-falls", "Examples 1-3: SVD truncation of W_Q, W_K or W_V lowers UB(||Delta W||_F^2)", "Ex. 1-3",
              every, (Case("random and trained layers", check_outcome(ex["ub_falls"]), f"{random_seeds} random layers "
                           f"and the trained toy, clip rates {clip_rates[1]}-{clip_rates[-1]}"),)),
        Claim("thm2-norm-falls", "Truncating the outermost factor lowers ||Delta W||_F^2 itself (Examples 2 and 4: "
              "W_Q, W_MLP, and W_V without an MLP)", "Ex. 2, 4; Remark 4", every,
              (Case("outermost factors", check_outcome(ex["outer_falls"]), "random layers"),),
              note=f"W_K, which the examples do not claim, raises it on {ex['k_rate']:.0%} of random layers"),
        Claim("thm2-ub-bounds", "Example 1's UB is an upper bound on ||Delta W||_F^2", "Ex. 1", every,
              (Case("random layers", check_outcome(ex["ub_bounds_random"])),
               Case("trained layers", check_outcome(ex["ub_bounds_trained"]))),
              note=f"N aligned demonstrations exceed it {ex['aligned_factor']:.1f}x (only N·UB is guaranteed)"),
        Claim("thm2-remark5-toy", "Remark 5: truncating deep layers degrades ICL less than shallow ones (trained toy)",
              "Remark 5, Fig. 1", every,
              tuple(Case(f"{r.get('matrix', '')} {r.get('shots', '')} shots".strip(), check_outcome(flag))
                    for r, flag in zip(trends.reset_index().to_dict("records"), r5["status_flags"])),
              note=f"trained {layers}-layer Eq. (3) toy, shots {shots}: Spearman(layer, damage) "
                   f"{trends['spearman(layer, damage)'].max():.2f} at most"),
        Claim("thm2-toy-gain", "Some SVD truncation lowers the ICL error (on the trained toy)", "Sec. 2, Remark 4",
              some,
              tuple(Case(f"{s} shots", r.outcome, f"{s} shots: {r.outcome}, {r.decrease:+.2%} [{r.low:+.2%}, "
                         f"{r.high:+.2%}] (m = {r.m}, adjusted {fmt_p(r.p_adj)}, margin {r.margin:.0%}, detects "
                         f"{r.mde:+.2%}; the widest truncation reaches {r.widest_high:+.2%})")
                    for s, r in zip(improvement.index, improvement.itertuples())),
              family=int(improvement.m.iloc[0]),
              note="relative decrease of the error, the best of the m truncations at each shot number"),
        Claim("thm2-bound-tracks", "Theorem 2's bound (its surrogates) moves with the ICL error under truncation",
              "Theorem 2, Remark 4", every,
              tuple(Case(a, bt["outcomes"][a], f"{a}: rises with the error in {positive[a]:.0%} of cells")
                    for a in approximations),
              note=f"infinite as stated (rank C_t < d); the surrogates agree in sign on {bt['same_sign']:.0%}"),
        Claim("thm2-gap", "The surrogates of Theorem 2's bound (R = R_hat) lie above the measured generalization gap "
              "(not a test of the theorem, whose bound is infinite as stated)", "Theorem 2", every,
              tuple(Case(r.approx, r.outcome, f"{r.approx}: {r.outcome} in {r.cells - r.fails}/{r.cells} cells, "
                         f"{r.median_looseness:.3g}x the gap" + ("" if r.outcome == HOLDS else f" ({r.note})"))
                    for r in gap_verdicts.itertuples()),
              note="a surrogate below the gap cannot refute the theorem (R_hat <= R)"),
        Claim("thm2-assumption1", "Assumption 1: the implicit-gradient noise is Gaussian (moderate departures at most) "
              "with covariance C_t", "Assumption 1", every,
              tuple(Case(f"layer {r.t}", o, f"layer {r.t}: {o}, max |skewness| {r.max_abs_skew:.2f}, max |excess "
                         f"kurtosis| {r.max_abs_kurtosis:.2f} over {r.directions} directions (margin 0.5)")
                    for r, o in zip(a1.itertuples(), a1_out)), family=2 * int(a1.directions.sum()),
              note=f"covariance = C_t to {a1.cov_rel_error.max():.1%}; Mardia and Shapiro-Wilk reject at "
                   f"{int((~a1.gaussian.astype(bool)).sum())} of {len(a1)} layers (significance alone)"),
    ]  # fmt: skip
    return out
