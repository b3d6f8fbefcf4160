"""The Theorem 1 chapter's verdicts: Lemma 1 / Theorem 1 as an identity, Remarks 1 and 5."""

from __future__ import annotations

import pandas as pd

from svd_icl.claims.core import FAILS, HOLDS
from svd_icl.claims.fig2 import shots_help


def theorem1_verdicts(checks: pd.DataFrame, num_demos: int, changed: pd.Series, num_layers: int) -> dict:
    """Lemma 1 / Theorem 1 and Remarks 1 and 5 on random float64 stacks, from ``theorem1_errors`` rows (all seeds)
    and, per pruned layer k, the layers whose G_t changed. Identities hold to rounding (relative error < 1e-10);
    Remark 1: rank(Delta W_t) <= N; Remark 5: pruning layer k changes exactly G_k..G_L (L - k + 1 terms)."""
    return {
        "theorem1": HOLDS if float(checks.rel_error_query.max()) < 1e-10 else FAILS,
        "max_rel_error": float(checks.rel_error_query.max()),
        "remark1": HOLDS if bool((checks.rank_delta_W <= num_demos).all()) else FAILS,
        "max_rank": int(checks.rank_delta_W.max()),
        "remark5": HOLDS if all(len(v) == num_layers - k + 1 for k, v in changed.items()) else FAILS,
    }


def rank_story_verdict(story: dict, points: pd.DataFrame) -> pd.Series:
    """Remark 1's reading of Figure 2 ("fewer shots, lower-rank implicit update") decided with paired tests.

    ``story``: :func:`svd_icl.theory.softmax.rank_story` (the measured effective rank, exact: no sampling);
    ``points``: the unpruned stored points whose accuracy it is set beside, one per shot number. If the rank does
    not grow with shots, the bound cannot order the shot numbers: ``DOES NOT HOLD``. If it grows, the story needs
    accuracy to grow with shots too, and the outcome is :func:`svd_icl.claims.shots_help`'s on the same queries
    (most vs fewest shots, paired, a significant drop between consecutive shot numbers refuting it): a
    non-monotone point estimate alone is not a refutation. Returns that row with the outcome replaced."""
    row = shots_help(points).iloc[0].copy()
    if not story["rank_grows"]:
        row["outcome"] = FAILS
    return row
