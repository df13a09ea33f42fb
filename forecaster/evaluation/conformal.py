"""Prediction intervals from errors: split conformal, its adaptive (online) version, and the random walk's own.

Pure functions on arrays, in the space where errors of one series are comparable over time: the
*change from the window's last level* (the target transform's ``to_change``, ``data/transforms.py``): the
cumulative h-step log change for log-return targets, the change in the series' units for the others
(differenced or level). A 1 % move is the same log change at 1000 points and at 3000, so errors calibrated
on a validation span at one price level still mean something at another; raw price-point errors would
not. Bounds are mapped back with the transform's ``from_change``, which is monotone, so a quantile of the
change is a quantile of the price.

- ``conformal_radius``: split conformal (Vovk et al. 2005; Lei et al. 2018), one radius per horizon step
  from the absolute validation errors, at the finite-sample rank ceil((n + 1)(1 - alpha)). That rank
  guarantees coverage >= 1 - alpha for exchangeable errors; a linearly interpolated ``np.quantile``
  sits slightly below it and under-covers at small n.
- ``adaptive_radii``: adaptive conformal inference (Gibbs & Candes 2021) over the test span as it would
  run in use: at each origin only errors whose targets are already known enter, and the working miss
  rate alpha_t moves by ``step_size * (alpha - miss)`` after each newly known error.
- ``empirical_change_quantiles``: the random walk's intervals, the probabilistic yardstick: quantiles of
  the training span's own h-step changes, around the last value.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from forecaster.data.transforms import Transform
from forecaster.errors import ForecasterError

# The interval methods that calibrate a point forecast's errors; ``intervals.method`` may also name a
# distributional output head (``models.HEADS``, e.g. ``quantile``), checked where the config is read.
CALIBRATED_METHODS = ("conformal", "adaptive")

# Adaptive conformal inference's step size, fixed before any test result was looked at. Gibbs & Candes use
# 0.005 over thousands of points; a test span here holds a few hundred, over which the long-run miss rate's
# guaranteed distance from alpha, (max(alpha, 1 - alpha) + gamma) / (gamma * T), is below 0.1 only from
# gamma = 0.05 at T = 250. A larger step tracks volatility faster but makes widths jumpier.
DEFAULT_STEP_SIZE = 0.05


@dataclass(frozen=True)
class IntervalConfig:
    """The ``intervals:`` section: which central prediction intervals every model gets, and how they are made."""

    levels: tuple[float, ...] = (80.0, 95.0)
    """Nominal coverages of the central intervals, in percent, each in (0, 100) and named once; `[]` turns intervals off."""
    method: str = "conformal"
    """How intervals are made: `conformal` (split conformal from the validation errors), `adaptive` (the same, updated
    over the test span with the errors known at each origin), or the name of a distributional output head, which
    neural models then train and whose quantiles give the intervals (naive kinds get conformal ones): `quantile`
    (a quantile head, trained with the pinball loss) or `normal` (a Gaussian head's location and scale, trained by
    negative log-likelihood)."""
    step_size: float = DEFAULT_STEP_SIZE
    """Adaptive conformal's step size gamma, in (0, 1); read by `method: adaptive` only."""
    season: int = 1
    """The season m of MSIS's scale, the training span's in-sample m-step naive MAE, at least 1 (M4: 1 daily and yearly,
    12 monthly, 24 hourly)."""

    def __post_init__(self) -> None:
        check_levels(self.levels, "intervals.levels")
        if not 0 < self.step_size < 1:
            raise ForecasterError(f"intervals.step_size={self.step_size} must be in (0, 1); the default is {DEFAULT_STEP_SIZE}")
        if self.season < 1:
            raise ForecasterError(f"intervals.season={self.season} must be at least 1 (1: no season)")


@dataclass(frozen=True)
class Calibration:
    """What a fitted model's intervals for new windows are made from: the method and, per level, the radii.

    ``radii`` (L, H): for ``conformal`` the validation radius of each level and horizon step, for
    ``adaptive`` the radius reached after the test span; the interval is the point forecast's change
    +- radius in the change space. A distributional head (``quantile``) needs no radii: the model
    forecasts the bounds. A model of K targets has each target's own radii in ``targets`` (K, L, H), each
    calibrated on that target's validation forecasts alone (``of_target``); ``radii`` is then empty.
    """

    method: str
    levels: tuple[float, ...]
    radii: tuple[tuple[float, ...], ...] = ()
    targets: tuple[tuple[tuple[float, ...], ...], ...] = ()

    def of_target(self, target: int) -> Calibration:
        """Target ``target``'s calibration (itself for a model of one target)."""
        if not self.targets:
            return self
        return Calibration(self.method, self.levels, self.targets[target])

    @classmethod
    def per_target(cls, calibrations: list[Calibration]) -> Calibration:
        """One calibration holding each target's (all of one method and levels), for a model of several targets."""
        first = calibrations[0]
        return cls(first.method, first.levels, targets=tuple(calibration.radii for calibration in calibrations))

    def bounds(self, forecast: np.ndarray, anchors: np.ndarray, transform: Transform) -> tuple[np.ndarray, np.ndarray]:
        """Lower and upper bounds (N, H, L) in the series' units around point forecasts (N, H) from ``anchors`` (N,)."""
        return bounds_around(forecast, np.asarray(self.radii, dtype=float).T, anchors, transform)  # radii (H, L)


def bounds_around(forecast: np.ndarray, radius: np.ndarray, anchors: np.ndarray, transform: Transform) -> tuple[np.ndarray, np.ndarray]:
    """Bounds (N, H, L) in the series' units: the forecasts' (N, H) change +- ``radius`` (broadcast to (N, H, L)).

    The radius is added in the change space (a log change for log-return targets), then mapped back.
    """
    centre = transform.to_change(forecast, anchors)[..., None]  # (N, H, 1)
    return transform.from_change(centre - radius, anchors), transform.from_change(centre + radius, anchors)


def check_levels(levels: Sequence[float], where: str) -> None:
    """Refuse coverage levels outside (0, 100) or named twice."""
    for level in levels:
        if not 0 < level < 100:
            raise ForecasterError(f"{where}: {level:g} is outside (0, 100); levels are percentages, e.g. [80, 95]")
    if len(set(levels)) != len(levels):
        raise ForecasterError(f"{where}={[float(level) for level in levels]} names a level twice; give each once")


def alpha_of(level: float) -> float:
    """The miss rate of a central interval of ``level`` percent: 80 -> 0.2."""
    return 1.0 - level / 100.0


def quantile_levels(levels: Sequence[float]) -> tuple[float, ...]:
    """The quantile levels (taus, ascending) of central intervals at ``levels`` percent, and the median.

    [80, 95] -> (0.025, 0.1, 0.5, 0.9, 0.975): each interval's bounds are the quantiles at alpha / 2 and
    1 - alpha / 2.
    """
    lower = [alpha_of(level) / 2 for level in levels]
    return tuple(sorted({round(tau, 10) for tau in [*lower, 0.5, *(1 - tau for tau in lower)]}))


def levels_of_taus(taus: Sequence[float]) -> tuple[float, ...]:
    """The inverse of ``quantile_levels``: the levels (percent, ascending) of ``taus``; (0.05, 0.1, 0.5, 0.9, 0.95) -> (80, 90)."""
    return tuple(round(100 * (1 - 2 * tau), 8) for tau in taus if tau < 0.5)[::-1]


def quantile_bounds(values: np.ndarray, taus: Sequence[float], levels: Sequence[float]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each level's lower and upper bounds (..., L) and the median (...) from quantiles (..., Q) at ``taus``.

    ``taus`` must hold every level's alpha / 2 and 1 - alpha / 2, and 0.5 (as ``quantile_levels`` makes them).
    """
    index = {round(tau, 10): position for position, tau in enumerate(taus)}

    def at(tau: float) -> np.ndarray:
        return values[..., index[round(tau, 10)]]

    empty = np.empty((*values.shape[:-1], 0))  # no levels asked for: no bounds
    lower = np.stack([at(alpha_of(level) / 2) for level in levels], axis=-1) if levels else empty
    upper = np.stack([at(1 - alpha_of(level) / 2) for level in levels], axis=-1) if levels else empty
    return lower, upper, at(0.5)


def calibration_rank(n: int, alpha: float) -> int:
    """The 1-based rank ceil((n + 1)(1 - alpha)) of split conformal's quantile among n sorted scores."""
    # The small epsilon keeps e.g. (19 + 1) * 0.95 = 19.000000000000004 at rank 19.
    return math.ceil((n + 1) * (1 - alpha) - 1e-9)


def windows_needed(level: float) -> int:
    """The fewest calibration errors for which a ``level`` % conformal interval is finite: (1 - alpha) / alpha."""
    alpha = alpha_of(level)
    return math.ceil((1 - alpha) / alpha - 1e-9)


def check_calibration_size(n: int, levels: Sequence[float], where: str) -> None:
    """Refuse to calibrate a level for which ``n`` errors are too few (the rank would exceed n)."""
    for level in sorted(levels, reverse=True):
        needed = windows_needed(level)
        if n < needed:
            raise ForecasterError(
                f"{where}: {n} validation windows are too few to calibrate a {level:g} % interval; it needs at least "
                f"{needed} (raise windows.val_fraction or lower intervals.levels)"
            )


def conformal_radius(scores: np.ndarray, level: float) -> np.ndarray:
    """Split conformal's radius per horizon step: the ceil((n+1)(1-alpha))-th smallest of ``scores`` (n, H).

    ``scores`` are absolute errors in the change space; the interval is forecast +- radius there.
    """
    n = scores.shape[0]
    check_calibration_size(n, [level], "conformal")
    rank = calibration_rank(n, alpha_of(level))
    return np.sort(scores, axis=0)[rank - 1]


def _radius_at(sorted_scores: np.ndarray, alpha: float) -> float:
    # Adaptive conformal can push alpha_t to or below 0 (the interval would be infinite) or to 1 or above
    # (empty). Both are clipped to the known scores: the largest one, or a zero radius.
    n = len(sorted_scores)
    if alpha >= 1:
        return 0.0
    rank = min(calibration_rank(n, alpha) if alpha > 0 else n, n)
    return float(sorted_scores[max(rank, 1) - 1])


def adaptive_radii(
    calibration: np.ndarray, test: np.ndarray, origins: np.ndarray, level: float, *, step_size: float = DEFAULT_STEP_SIZE
) -> tuple[np.ndarray, np.ndarray]:
    """Adaptive conformal radii (N, H) over the test windows, and the radius after the last one is known (H,).

    ``calibration`` (n, H) are the validation errors; ``test`` (N, H) the test errors in the order of
    ``origins`` (N,), their time indices. The error of origin j at step h is known from time
    origins[j] + h on; at origin i the scores are the newest n errors known by then (validation errors
    first, then test errors as they arrive: a window of fixed length that slides into the test span),
    and alpha_t has been updated once per known test error: alpha_t += step_size * (alpha - miss). The
    final radius is the one for a forecast made after the span, when every test error is known.
    """
    check_calibration_size(calibration.shape[0], [level], "adaptive")
    alpha = alpha_of(level)
    n, horizon = calibration.shape
    radii = np.empty(test.shape, dtype=float)
    final = np.empty(horizon)
    for step in range(horizon):
        scores = list(calibration[:, step])
        alpha_t, known = alpha, 0  # test errors of this step used so far
        for i, origin in enumerate(origins):
            # Every earlier origin whose step-h target has been observed by now reveals its error and whether
            # the interval made for it missed.
            while known < i and origins[known] + step + 1 <= origin:
                error = test[known, step]
                alpha_t += step_size * (alpha - float(error > radii[known, step]))
                scores.append(error)
                known += 1
            radii[i, step] = _radius_at(np.sort(scores[-n:]), alpha_t)
        for error, radius in zip(test[known:, step], radii[known:, step]):  # the errors still unknown at the last origin
            alpha_t += step_size * (alpha - float(error > radius))
            scores.append(error)
        final[step] = _radius_at(np.sort(scores[-n:]), alpha_t)
    return radii, final


def empirical_change_quantiles(train_levels: np.ndarray, horizon: int, taus: np.ndarray, transform: Transform) -> np.ndarray:
    """Quantiles (H, Q) at ``taus`` of the training span's own h-step changes, h = 1..H: the random walk's intervals.

    Every pair (t, t + h) inside the training span counts once; the quantiles are the empirical ones
    (``np.quantile``'s default interpolation: the training span holds hundreds of changes or more). A step the
    training span is too short to hold a change of (a competition's short series) has no quantiles: NaN, so that the
    scores relative to the random walk's are NaN for that series alone.
    """
    quantiles = np.full((horizon, len(taus)), np.nan)
    for step in range(1, horizon + 1):
        if len(train_levels) <= step:
            continue
        changes = transform.to_change(train_levels[step:], train_levels[:-step])
        quantiles[step - 1] = np.quantile(changes, taus)
    return quantiles
