"""Tests of forecaster.evaluation.probabilistic: hand-computed interval and quantile scores, edge cases, errors,
and cross-checks against scikit-learn and scoringrules."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as scipy_stats
from sklearn.metrics import mean_pinball_loss

from forecaster.errors import ForecasterError
from forecaster.evaluation.metrics import insample_naive_mae
from forecaster.evaluation.probabilistic import (
    coverage,
    crossing_rate,
    crps_from_quantiles,
    interval_score,
    mean_width,
    msis,
    pinball,
    pinball_by_tau,
    seasonal_naive_mae,
    winkler,
)

# Four points of a central 80% interval (alpha = 0.2, so 2/alpha = 10):
#   y = 1 in [0, 2]:   inside,       S = 2
#   y = 5 in [6, 8]:   1 below,      S = 2 + 10 * 1 = 12
#   y = 10 in [4, 8]:  2 above,      S = 4 + 10 * 2 = 24
#   y = 3 in [3, 3]:   on both ends, S = 0 (bounds are inclusive)
ACTUAL = np.array([1.0, 5.0, 10.0, 3.0])
LOWER = np.array([0.0, 6.0, 4.0, 3.0])
UPPER = np.array([2.0, 8.0, 8.0, 3.0])


def test_interval_scores_by_hand():
    assert interval_score(ACTUAL, LOWER, UPPER, 0.2).tolist() == pytest.approx([2.0, 12.0, 24.0, 0.0])
    assert coverage(ACTUAL, LOWER, UPPER) == 0.5  # points 1 and 4
    assert mean_width(LOWER, UPPER) == 2.0  # (2 + 2 + 4 + 0) / 4
    assert winkler(ACTUAL, LOWER, UPPER, 0.2) == pytest.approx(9.5)  # (2 + 12 + 24 + 0) / 4
    assert msis(ACTUAL, LOWER, UPPER, 0.2, scale=2.0) == pytest.approx(4.75)  # 9.5 / 2
    # alpha = 0.5 (2/alpha = 4): [2, 2 + 4, 4 + 8, 0] = [2, 6, 12, 0], mean 20 / 4 = 5
    assert winkler(ACTUAL, LOWER, UPPER, 0.5) == pytest.approx(5.0)


def test_interval_scores_keep_the_shape():
    actual, lower, upper = (array.reshape(2, 2) for array in (ACTUAL, LOWER, UPPER))
    scores = interval_score(actual, lower, upper, 0.2)
    assert scores.shape == (2, 2)
    assert scores.ravel().tolist() == pytest.approx([2.0, 12.0, 24.0, 0.0])
    assert coverage(actual, lower, upper) == 0.5
    assert coverage(3.0, 3.0, 3.0) == 1.0  # scalars are one point


def test_msis_scale():
    assert math.isnan(msis(ACTUAL, LOWER, UPPER, 0.2, scale=0.0))
    assert math.isnan(msis(ACTUAL, LOWER, UPPER, 0.2, scale=-1.0))
    # y = [1, 3, 2, 6, 4]: one-step changes 2, -1, 4, -2 -> 9 / 4; two-step 1, 3, 2 -> 6 / 3; four-step 3 -> 3
    levels = np.array([1.0, 3.0, 2.0, 6.0, 4.0])
    assert seasonal_naive_mae(levels) == 2.25
    assert seasonal_naive_mae(levels) == insample_naive_mae(levels)
    assert seasonal_naive_mae(levels, season=2) == 2.0
    assert seasonal_naive_mae(levels, season=4) == 3.0


def test_interval_score_is_scaled_pinball_at_the_two_bounds():
    # S_alpha(l, u; y) = (2/alpha) [rho_{alpha/2}(y - l) + rho_{1 - alpha/2}(y - u)] (Gneiting & Raftery 2007, section 6.2).
    rng = np.random.default_rng(0)
    actual = rng.normal(size=200)
    centre = rng.normal(size=200)
    lower, upper = centre - 1.0, centre + 1.0
    quantiles = np.stack([lower, upper], axis=-1)
    for alpha in (0.05, 0.2, 0.5):
        two_taus = pinball_by_tau(actual, quantiles, [alpha / 2, 1 - alpha / 2]).sum()
        assert winkler(actual, lower, upper, alpha) == pytest.approx(2 / alpha * two_taus, rel=1e-12)


# Two points, taus 0.1, 0.5, 0.9; rho_tau(e) = tau * e for e = y - q >= 0, (1 - tau) * (-e) for e < 0.
#   y = 2, q = [1, 2, 4]:  e = [1, 0, -2]  -> [0.1 * 1, 0, 0.1 * 2]   = [0.1, 0.0, 0.2]
#   y = 0, q = [-1, 1, 2]: e = [1, -1, -2] -> [0.1 * 1, 0.5 * 1, 0.1 * 2] = [0.1, 0.5, 0.2]
# by tau: [0.1, 0.25, 0.2]; mean 0.55 / 3; CRPS approximation 2 * 0.55 / 3 = 1.1 / 3
TAUS = np.array([0.1, 0.5, 0.9])
POINTS = np.array([2.0, 0.0])
QUANTILES = np.array([[1.0, 2.0, 4.0], [-1.0, 1.0, 2.0]])


def test_pinball_and_crps_by_hand():
    assert pinball_by_tau(POINTS, QUANTILES, TAUS).tolist() == pytest.approx([0.1, 0.25, 0.2])
    assert pinball(POINTS, QUANTILES, TAUS) == pytest.approx(0.55 / 3)
    assert crps_from_quantiles(POINTS, QUANTILES, TAUS) == pytest.approx(1.1 / 3)
    # Leading axes are all points: the same numbers as a (2, 1) grid.
    assert pinball(POINTS[:, None], QUANTILES[:, None, :], TAUS) == pytest.approx(0.55 / 3)


def test_crps_with_the_median_alone_is_the_mae():
    # 2 * rho_0.5(e) = |e|.
    rng = np.random.default_rng(1)
    actual, median = rng.normal(size=50), rng.normal(size=50)
    assert crps_from_quantiles(actual, median[:, None], [0.5]) == pytest.approx(np.mean(np.abs(actual - median)), rel=1e-12)


def test_crps_from_many_quantiles_approaches_the_normal_closed_form():
    # CRPS(N(0, 1), y) = y (2 Phi(y) - 1) + 2 phi(y) - 1 / sqrt(pi) (Gneiting & Raftery 2007, eq. 5).
    actual = np.array([-1.5, 0.0, 0.3, 2.0])
    taus = (np.arange(1, 1000) - 0.5) / 999  # midpoints of 999 equal bins
    quantiles = np.broadcast_to(scipy_stats.norm.ppf(taus), (4, 999))
    closed = actual * (2 * scipy_stats.norm.cdf(actual) - 1) + 2 * scipy_stats.norm.pdf(actual) - 1 / math.sqrt(math.pi)
    assert crps_from_quantiles(actual, quantiles, taus) == pytest.approx(closed.mean(), rel=1e-3)


def test_crossing_rate():
    # Points: [1, 2, 3] no; [1, 1, 1] no (ties are fine); [3, 2, 4] yes; [0, 5, 4.9] yes.
    quantiles = np.array([[[1.0, 2.0, 3.0], [1.0, 1.0, 1.0]], [[3.0, 2.0, 4.0], [0.0, 5.0, 4.9]]])
    assert crossing_rate(quantiles) == 0.5
    assert crossing_rate([1.0, 2.0, 3.0]) == 0.0  # one point
    assert crossing_rate([[5.0], [4.0]]) == 0.0  # one quantile per point cannot cross


def test_nan_makes_the_result_nan():
    with_nan = ACTUAL.copy()
    with_nan[1] = np.nan
    assert math.isnan(coverage(with_nan, LOWER, UPPER))
    assert math.isnan(winkler(with_nan, LOWER, UPPER, 0.2))
    assert math.isnan(pinball(np.array([np.nan, 0.0]), QUANTILES, TAUS))
    assert math.isnan(crossing_rate([[1.0, np.nan, 3.0]]))


def test_pinball_matches_scikit_learn():
    rng = np.random.default_rng(2)
    actual = rng.normal(size=(30, 4))
    taus = np.array([0.05, 0.25, 0.5, 0.75, 0.95])
    quantiles = np.sort(rng.normal(size=(30, 4, 5)), axis=-1)
    expected = [mean_pinball_loss(actual.ravel(), quantiles[..., i].ravel(), alpha=tau) for i, tau in enumerate(taus)]
    assert pinball_by_tau(actual, quantiles, taus) == pytest.approx(expected, rel=1e-12)


def test_crps_and_interval_score_match_scoringrules():
    scoringrules = pytest.importorskip("scoringrules")
    rng = np.random.default_rng(3)
    actual = rng.normal(size=40)
    taus = np.array([0.1, 0.3, 0.5, 0.7, 0.9])
    quantiles = np.sort(rng.normal(size=(40, 5)), axis=-1)
    # scoringrules.crps_quantile(obs, fct, alpha) = (2/Q) sum_i rho_{alpha_i}(y - q_i) per point: the same
    # convention as ours (factor 2, equal weight per tau), so its mean over points equals ours exactly.
    theirs = scoringrules.crps_quantile(actual, quantiles, taus)
    assert crps_from_quantiles(actual, quantiles, taus) == pytest.approx(float(np.mean(theirs)), rel=1e-12)
    lower, upper = quantiles[:, 0], quantiles[:, -1]
    # scoringrules.interval_score(obs, lower, upper, alpha): the same Gneiting & Raftery score per point.
    theirs = scoringrules.interval_score(actual, lower, upper, 0.2)
    assert interval_score(actual, lower, upper, 0.2) == pytest.approx(np.asarray(theirs), rel=1e-12)


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: coverage(ACTUAL, LOWER[:3], UPPER), r"lower has shape \(3,\) and actual \(4,\)"),
        (lambda: winkler(ACTUAL, LOWER, UPPER[:, None], 0.2), r"upper has shape \(4, 1\)"),
        (lambda: mean_width(LOWER, UPPER[:2]), "upper has shape"),
        (lambda: coverage([], [], []), "actual is empty"),
        (lambda: winkler(ACTUAL, LOWER, UPPER, 0.0), "alpha=0.0.*strictly between 0 and 1"),
        (lambda: winkler(ACTUAL, LOWER, UPPER, 1.0), "alpha=1.0"),
        (lambda: interval_score(ACTUAL, LOWER, UPPER, True), "alpha=True"),
        (lambda: msis(ACTUAL, LOWER, UPPER, 95, scale=1.0), "alpha=95"),
        (lambda: seasonal_naive_mae([1.0, 2.0], season=2), "holds 2 point.*season of 2"),
        (lambda: seasonal_naive_mae([1.0, 2.0, 3.0], season=0), "season=0"),
        (lambda: seasonal_naive_mae(np.ones((3, 2))), r"shape \(3, 2\).*1-D"),
        (lambda: pinball(POINTS, QUANTILES, [0.1, 0.5]), r"quantiles has shape \(2, 3\); expected \(2, 2\)"),
        (lambda: pinball(POINTS, QUANTILES, [0.1, 0.9, 0.5]), "strictly increasing"),
        (lambda: pinball(POINTS, QUANTILES, [0.0, 0.5, 0.9]), "strictly between 0 and 1"),
        (lambda: pinball(POINTS, QUANTILES, [0.1, 0.5, 1.0]), "strictly between 0 and 1"),
        (lambda: pinball_by_tau(POINTS, QUANTILES, [[0.1, 0.5, 0.9]]), "1-D array of quantile levels"),
        (lambda: crps_from_quantiles(POINTS, QUANTILES, []), "non-empty"),
        (lambda: crossing_rate(1.0), r"quantiles has shape \(\)"),
    ],
)
def test_errors_are_one_line(call, match):
    with pytest.raises(ForecasterError, match=match) as caught:
        call()
    assert "\n" not in str(caught.value)
