"""The paired interval of 0/1 answers, by exact enumeration: its one-sided miss rate stays within 1.5x nominal at the
book's family sizes and query counts, with balanced and with sparse one-way discordance; and the p every record
line states is the dual of the interval beside it."""

import numpy as np
import pytest
from scipy.special import gammaln

from svd_icl.claims.core import _mover_cp, interval_p, paired_interval


def _cells(n: int, p_gain: float, p_loss: float):
    """Every (gain, loss) count with its multinomial probability (the rest of the mass is negligible)."""

    def span(p):
        sd = np.sqrt(n * p * (1 - p))
        return np.arange(max(0, int(n * p - 12 * sd - 5)), min(n, int(n * p + 12 * sd + 6)) + 1)

    g, loss = (x.ravel().astype(float) for x in np.meshgrid(span(p_gain), span(p_loss), indexing="ij"))
    keep = g + loss <= n
    g, loss = g[keep], loss[keep]
    logp = gammaln(n + 1) - gammaln(g + 1) - gammaln(loss + 1) - gammaln(n - g - loss + 1)
    logp += (n - g - loss) * np.log(1 - p_gain - p_loss)
    logp += g * np.log(p_gain) if p_gain > 0 else np.where(g > 0, -np.inf, 0.0)
    logp += loss * np.log(p_loss) if p_loss > 0 else np.where(loss > 0, -np.inf, 0.0)
    return g, loss, np.exp(logp)


@pytest.mark.parametrize("p_gain,p_loss", [(0.02, 0.0), (0.02, 0.02), (0.1, 0.1), (0.05, 0.01)])
@pytest.mark.parametrize("n", [56, 277, 2000])
@pytest.mark.parametrize("m", [1, 4, 12, 56])
def test_the_one_sided_miss_rate_stays_within_one_and_a_half_times_nominal(p_gain, p_loss, n, m):
    g, loss, prob = _cells(n, p_gain, p_loss)
    assert prob.sum() == pytest.approx(1.0, abs=1e-6)
    low, high = _mover_cp(g, loss, float(n), 1 - 0.05 / m)
    truth, nominal = p_gain - p_loss, 0.05 / (2 * m)
    assert prob[high < truth].sum() <= 1.5 * nominal
    assert prob[low > truth].sum() <= 1.5 * nominal


def test_the_interval_is_not_uselessly_wide_where_discordance_is_balanced():
    """At 2,000 queries with 10% discordance each way the interval is within 15% of the normal-theory width."""
    g, loss = 200, 200
    low, high = _mover_cp(g, loss, 2000.0, 0.95)
    normal = 2 * 1.96 * np.sqrt(0.2 / 2000)
    assert 0.98 * normal < high - low < 1.15 * normal


@pytest.mark.parametrize("m", [1, 4, 56])
def test_the_stated_p_and_the_interval_are_dual_for_both_methods(m):
    """p < alpha exactly when the interval at 1 - alpha/m excludes the null: the MOVER p is found by inverting the
    method (bisection on its level), the Wald one from its statistic; neither is rebuilt from the printed ends."""
    rng = np.random.default_rng(m)
    checked = 0
    for n in (10, 60, 300):
        for shift in (0.0, 0.05, 0.1, 0.2, 0.4):
            a = rng.integers(0, 2, n).astype(float)
            b = np.where(rng.random(n) < shift, 1.0, a)
            averaged = rng.random(n) * 0.5 + shift * (rng.random(n) < 0.6)
            for x, y in ((a, b), (np.zeros(n), averaged), (averaged, np.zeros(n))):
                i = paired_interval(x, y, m)
                for null in (0.0, 0.02, 0.1):
                    assert (interval_p(i, m, null) < 0.05) == (not i.low <= null <= i.high), (n, shift, null)
                    checked += 1
    assert checked == 135
    assert paired_interval(np.zeros(5), np.ones(5)).method == "mover-cp"
    assert paired_interval(np.zeros(5), np.full(5, 0.5)).method == "wald"
