"""Figure 5: a transformer trained on in-context regression against least squares, and its truncations."""

from __future__ import annotations

import pandas as pd

from svd_icl.claims.core import (
    FAILS,
    HOLDS,
    UNDETERMINED,
)

TRACKS_BELOW = 0.1  # "tracks least squares": an error below a tenth of the zero estimator's (which scores 1)


def fig5_verdicts(
    ls_error: pd.Series,
    tf_error: pd.Series,
    d: int,
    gap_by_step: pd.Series,
    trunc: pd.DataFrame | None = None,
    tf_band: tuple[pd.Series, pd.Series] | None = None,
) -> dict:
    """Fig. 5 / App. C.4 from the error curves (index: number of in-context examples k) and a truncation table
    (columns layer, module, clip_rate, error_all):

    - ``ls_exact``: least squares reaches rounding-level error (< 1e-6) from k = d on;
    - ``tracks``: the transformer's error at k = 2d is below ``TRACKS_BELOW`` (the zero estimator scores 1). With
      ``tf_band`` (the curve's bootstrap band over prompts, low and high), decided on it: holds when the band's
      upper end is below the threshold, does not hold when its lower end is above, otherwise undetermined (the
      error is estimated on sampled prompts); without it, on the point estimate (a test's synthetic curves);
    - ``gap_shrinks``: holds when the mean gap to least squares decreases with every recorded training step, does
      not hold when the last step's gap is at least the first's (it did not shrink), else undetermined (it shrank
      with a step back);
    - ``deep_better`` and ``improves``: *descriptive* point estimates (the truncation table has no per-prompt
      spread): whether truncating the last layer raises the error less than the first (mean over clip rates), and
      whether some truncation lowers the error by more than 2%.

    Without ``trunc`` only the first three are returned.
    """
    k2 = min(2 * d, len(tf_error) - 1)
    at_2d = float(tf_error.iloc[k2])
    low, high = (float(b.iloc[k2]) for b in tf_band) if tf_band is not None else (at_2d, at_2d)
    tracks = HOLDS if high < TRACKS_BELOW else FAILS if low >= TRACKS_BELOW else UNDETERMINED
    curves = {
        "ls_exact": HOLDS if float(ls_error.iloc[d:].max()) < 1e-6 else FAILS,
        "ls_max_error": float(ls_error.iloc[d:].max()),
        "tracks": tracks,
        "error_at_2d": at_2d,
        "error_at_2d_low": low,
        "error_at_2d_high": high,
        "gap_shrinks": (
            HOLDS
            if gap_by_step.is_monotonic_decreasing and len(gap_by_step) > 1
            else FAILS
            if float(gap_by_step.iloc[-1]) >= float(gap_by_step.iloc[0])
            else UNDETERMINED
        ),
    }
    if trunc is None:
        return curves
    base = float(trunc[trunc.clip_rate == 0.0].error_all.iloc[0])
    per = trunc[trunc.clip_rate > 0].groupby(["layer", "module"]).error_all.agg(["mean", "min"])
    first, last = per.index.get_level_values(0).min(), per.index.get_level_values(0).max()
    first_mean, last_mean = per.xs(first, level=0)["mean"].mean(), per.xs(last, level=0)["mean"].mean()
    return {
        **curves,
        "deep_better": bool(last_mean < first_mean),
        "first_mean": float(first_mean),
        "last_mean": float(last_mean),
        "improves": bool((per["min"] < base * 0.98).any()),
        "unpruned": base,
        "best": float(per["min"].min()),
    }
