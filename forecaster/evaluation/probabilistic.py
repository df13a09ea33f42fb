"""Scores of prediction intervals and quantile forecasts: coverage, width, interval score, MSIS, pinball, CRPS.

Pure functions on numpy arrays, in the series' units. An interval is two arrays ``lower`` and ``upper`` of the
shape of ``actual``; a quantile forecast is an array ``quantiles`` of shape ``actual.shape + (Q,)`` with one
column per level in ``taus`` (ascending). Bounds and quantiles are scored as given: a crossed interval
(lower > upper) keeps its negative width, and ``crossing_rate`` counts crossed quantiles rather than sorting
them. A NaN anywhere in the inputs makes the result NaN (it is never counted as a miss or a hit).

References:
- Winkler, R. L. (1972), "A decision-theoretic approach to interval estimation", JASA 67(337): the
  interval score.
- Gneiting, T. & Raftery, A. E. (2007), "Strictly proper scoring rules, prediction, and estimation",
  JASA 102(477): the interval score as a proper score of central intervals (their eq. 43), the quantile
  (pinball) score and the CRPS.
- Makridakis, S., Spiliotis, E. & Assimakopoulos, V. (2020), "The M4 Competition: 100,000 time series and
  61 forecasting methods", IJF 36(1): MSIS, the interval score scaled by the seasonal naive in-sample MAE.
- Koenker, R. & Bassett, G. (1978), "Regression quantiles", Econometrica 46(1): the pinball (check) loss.
- Laio, F. & Tamea, S. (2007), "Verification tools for probabilistic forecasts of continuous hydrological
  variables", HESS 11(4): CRPS = 2 * integral over tau of the pinball loss (the quantile decomposition).
"""

from __future__ import annotations

import numpy as np

from forecaster.errors import ForecasterError


def _as_array(values, name: str) -> np.ndarray:
    """A non-empty float array, or a ForecasterError naming ``name``."""
    array = np.asarray(values, dtype=float)
    if array.size == 0:
        raise ForecasterError(f"{name} is empty; expected at least one point")
    return array


def _interval(actual, lower, upper) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``actual``, ``lower`` and ``upper`` as float arrays of one shape, or a ForecasterError."""
    actual = _as_array(actual, "actual")
    lower, upper = _as_array(lower, "lower"), _as_array(upper, "upper")
    for name, array in (("lower", lower), ("upper", upper)):
        if array.shape != actual.shape:
            raise ForecasterError(f"{name} has shape {array.shape} and actual {actual.shape}; expected equal shapes")
    return actual, lower, upper


def _check_alpha(alpha: float) -> float:
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float, np.integer, np.floating)) or not 0.0 < alpha < 1.0:
        raise ForecasterError(f"alpha={alpha!r} is invalid; expected the nominal miss rate strictly between 0 and 1 (0.05 for 95%)")
    return float(alpha)


def coverage(actual, lower, upper) -> float:
    """Share of points with lower <= actual <= upper (both bounds inclusive), over every axis."""
    actual, lower, upper = _interval(actual, lower, upper)
    if np.isnan(actual).any() or np.isnan(lower).any() or np.isnan(upper).any():
        return float("nan")
    return float(np.mean((lower <= actual) & (actual <= upper)))


def mean_width(lower, upper) -> float:
    """Mean of upper - lower over every axis (negative where an interval is crossed)."""
    lower, upper = _as_array(lower, "lower"), _as_array(upper, "upper")
    if lower.shape != upper.shape:
        raise ForecasterError(f"upper has shape {upper.shape} and lower {lower.shape}; expected equal shapes")
    return float(np.mean(upper - lower))


def interval_score(actual, lower, upper, alpha: float) -> np.ndarray:
    """The interval score of a central (1 - alpha) interval at each point, shape of ``actual``.

    S = (u - l) + (2/alpha) (l - y) 1{y < l} + (2/alpha) (y - u) 1{y > u}   (Gneiting & Raftery 2007, eq. 43)

    The width plus 2/alpha times the distance by which y falls outside; lower is better; in series units.
    """
    actual, lower, upper = _interval(actual, lower, upper)
    alpha = _check_alpha(alpha)
    below = np.maximum(lower - actual, 0.0)  # (l - y) 1{y < l}
    above = np.maximum(actual - upper, 0.0)  # (y - u) 1{y > u}
    return (upper - lower) + (2.0 / alpha) * (below + above)


def winkler(actual, lower, upper, alpha: float) -> float:
    """The mean interval score (the Winkler score) over every point."""
    return float(np.mean(interval_score(actual, lower, upper, alpha)))


def seasonal_naive_mae(train_levels, season: int = 1) -> float:
    """Mean absolute m-step change of the training span: MSIS's denominator (M4, m = ``season``).

    (1 / (n - m)) * sum_{t=m+1}^{n} |y_t - y_{t-m}|; with m = 1 it equals MASE's ``insample_naive_mae``.
    """
    if isinstance(season, bool) or not isinstance(season, (int, np.integer)) or season < 1:
        raise ForecasterError(f"season={season!r} is invalid; expected an integer >= 1")
    levels = np.asarray(train_levels, dtype=float)
    if levels.ndim != 1:
        raise ForecasterError(f"train_levels has shape {levels.shape}; expected a 1-D series")
    if len(levels) <= season:
        raise ForecasterError(f"train_levels holds {len(levels)} point(s); a season of {season} needs more than {season}")
    return float(np.mean(np.abs(levels[season:] - levels[:-season])))


def msis(actual, lower, upper, alpha: float, *, scale: float) -> float:
    """Mean scaled interval score (M4): ``winkler`` divided by ``scale``, NaN when scale <= 0.

    ``scale`` is normally ``seasonal_naive_mae(train_levels, season)`` of the series the points belong to.
    """
    score = winkler(actual, lower, upper, alpha)
    return score / scale if scale > 0 else float("nan")


def _quantile_forecast(actual, quantiles, taus) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``actual`` (...), ``quantiles`` (..., Q) and ``taus`` (Q,) checked, or a ForecasterError."""
    actual = _as_array(actual, "actual")
    quantiles = np.asarray(quantiles, dtype=float)
    taus = _check_taus(taus)
    expected = actual.shape + (len(taus),)
    if quantiles.shape != expected:
        raise ForecasterError(f"quantiles has shape {quantiles.shape}; expected {expected} (actual's shape, then one column per tau)")
    return actual, quantiles, taus


def _check_taus(taus) -> np.ndarray:
    taus = np.asarray(taus, dtype=float)
    if taus.ndim != 1 or taus.size == 0:
        raise ForecasterError(f"taus has shape {taus.shape}; expected a non-empty 1-D array of quantile levels")
    if not ((taus > 0.0) & (taus < 1.0)).all():
        raise ForecasterError(f"taus={taus.tolist()} is invalid; expected levels strictly between 0 and 1")
    if (np.diff(taus) <= 0).any():
        raise ForecasterError(f"taus={taus.tolist()} is invalid; expected strictly increasing levels")
    return taus


def pinball_by_tau(actual, quantiles, taus) -> np.ndarray:
    """Mean pinball loss of each quantile level over every point: shape (Q,).

    rho_tau(y - q) = max(tau (y - q), (tau - 1)(y - q)): tau * (y - q) when y >= q, (1 - tau) * (q - y) when
    y < q. No factor 2 and no normalisation; it equals scikit-learn's ``mean_pinball_loss`` with alpha = tau.
    """
    actual, quantiles, taus = _quantile_forecast(actual, quantiles, taus)
    residual = actual[..., None] - quantiles
    loss = np.maximum(taus * residual, (taus - 1.0) * residual)
    return loss.reshape(-1, len(taus)).mean(axis=0)


def pinball(actual, quantiles, taus) -> float:
    """Mean pinball loss over every point and every quantile level (equal weight per tau)."""
    return float(np.mean(pinball_by_tau(actual, quantiles, taus)))


def crps_from_quantiles(actual, quantiles, taus) -> float:
    """The CRPS approximated from Q quantiles: 2 * ``pinball``, i.e. (2/Q) sum_i mean_points rho_{tau_i}(y - q_i).

    The CRPS is 2 * integral_0^1 rho_tau(y - F^{-1}(tau)) dtau (Laio & Tamea 2007); this replaces the integral
    by the plain mean over the given taus, whatever their spacing: the midpoint rule when
    tau_i = (i - 1/2) / Q, and an underestimate of the tails' share when the taus stop short of 0 and 1
    (e.g. 0.1 .. 0.9). It is scoringrules' ``crps_quantile`` averaged over points, and GluonTS's
    ``mean_wQuantileLoss`` without its division by mean |y| (here the score stays in series units).
    """
    return 2.0 * pinball(actual, quantiles, taus)


def crossing_rate(quantiles) -> float:
    """Share of points (every leading axis) whose quantiles along the last axis decrease somewhere.

    The columns are taken to be in ascending tau order; equal neighbours do not count as a crossing.
    One quantile per point can never cross (0.0).
    """
    quantiles = np.asarray(quantiles, dtype=float)
    if quantiles.ndim == 0 or quantiles.size == 0:
        raise ForecasterError(f"quantiles has shape {quantiles.shape}; expected (..., Q) with at least one point and one column")
    if np.isnan(quantiles).any():
        return float("nan")
    crossed = (np.diff(quantiles, axis=-1) < 0).any(axis=-1)
    return float(np.mean(crossed))
