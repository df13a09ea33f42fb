"""Seasons of a series, suggested from a training span's autocorrelation.

Pure functions on arrays. Only the values passed in are read: the experiment passes the training
span's target, so a suggestion never depends on validation or test data.
"""

from __future__ import annotations

import numpy as np
from scipy.signal import find_peaks
from scipy.stats import norm

from forecaster.data.calendar import inferred_frequency
from forecaster.errors import ForecasterError


def autocorrelation(values: np.ndarray, max_lag: int) -> np.ndarray:
    """The sample autocorrelation at lags 0..max_lag of ``values`` (L,) after removing a straight-line trend.

    The usual biased estimator (sums over L - k pairs divided by the variance times L, Box & Jenkins), computed
    with one FFT. Removing the trend first keeps a drifting level from making every lag look correlated.
    """
    values = _detrended(values)
    size = 1 << int(np.ceil(np.log2(2 * len(values))))  # zero padding: a linear, not circular, correlation
    spectrum = np.fft.rfft(values, size)
    covariance = np.fft.irfft(spectrum * np.conj(spectrum), size)[: max_lag + 1]
    return covariance / covariance[0]


def suggest_periods(values: np.ndarray, max_lag: int, *, top: int = 1) -> list[int]:
    """Up to ``top`` season lengths (2..max_lag steps) of ``values``, the strongest autocorrelation first.

    1. Candidates are the peaks of the autocorrelation that stand out of their surroundings
       (``scipy.signal.find_peaks`` prominence) by more than the white-noise band z / sqrt(L), z the two-sided
       5 % normal quantile with a Bonferroni correction for the ``max_lag`` lags looked at (z = 3.5 for
       200 lags): with the plain 2 / sqrt(L) band one lag in twenty of pure noise would look seasonal.
    2. Each candidate moves, within a 24th of its lag, to where the autocorrelation curves down most
       (2 r(m) - r(m - h) - r(m + h), h a quarter of the peak's lag): another season can tilt the autocorrelation and push a
       peak off by a step (a weekly pattern moves the daily peak from 24 to 23, which would put a seasonal
       naive forecast out of phase), and a tilt cancels in that difference. A candidate whose curvature is
       not a local maximum there is the flank of a stronger season and is dropped.
    3. A multiple of an already accepted shorter period p counts only if its autocorrelation is clearly
       higher (by the band) than at the multiples of p on either side: 48 on a daily cycle is the same
       season, 168 on an hourly series with a weekly pattern is another (it stands above 144 and 192).
    An empty list means no season was found.
    """
    values = np.asarray(values, dtype=np.float64)
    if max_lag < 2:
        raise ForecasterError(f"a season needs at least 2 steps; max_lag={max_lag} leaves none to look for")
    if len(values) < 2 * max_lag:
        raise ForecasterError(
            f"{len(values)} values are too few to look for seasons up to {max_lag} steps: at least "
            f"{2 * max_lag} are needed (two whole seasons); shorten the window or lengthen the training span"
        )
    if np.ptp(values) == 0:
        return []
    # Lags beyond max_lag are computed too, so that a peak at max_lag is seen to come down again.
    correlation = autocorrelation(values, min(len(values) - 1, max_lag + max_lag // 2 + 1))
    band = norm.ppf(1 - 0.025 / max_lag) / np.sqrt(len(values))
    peaks, _ = find_peaks(correlation, prominence=band)
    # (refined lag, peak it came from): a multiple of a season is recognised by either.
    refined = {(_steepest_peak(correlation, peak, max_lag), peak) for peak in peaks if 2 <= peak <= max_lag + _radius(peak)}
    accepted: list[int] = []
    for lag, peak in sorted(pair for pair in refined if pair[0] is not None):
        if correlation[lag] <= band or lag in accepted:
            continue
        harmonics = [period for period in accepted if _near_multiple(lag, period) or _near_multiple(peak, period)]
        if any(correlation[lag] <= max(correlation[lag - period], correlation[lag + period]) + band for period in harmonics):
            continue  # the same season seen again one or more periods later
        accepted.append(lag)
    return sorted(accepted, key=lambda lag: -correlation[lag])[:top]


def _detrended(values: np.ndarray) -> np.ndarray:
    steps = np.arange(len(values))
    return values - np.polyval(np.polyfit(steps, values, 1), steps)


def _radius(lag: int) -> int:
    # Wide enough to undo a one-step tilt of a daily peak, narrow enough not to reach its next multiple.
    return max(1, lag // 24)


def _steepest_peak(correlation: np.ndarray, lag: int, max_lag: int) -> int | None:
    """The lag within a 24th of ``lag`` where the autocorrelation curves down most; None off a local maximum."""
    h = max(1, round(lag / 4))  # a quarter season, the same for every lag compared: a cosine curves most there

    def curvature(m: int) -> float:
        if m + h >= len(correlation):
            return -np.inf
        return 2 * correlation[m] - correlation[m - h] - correlation[m + h]

    radius = _radius(lag)
    lags = range(max(2, lag - radius), min(max_lag, lag + radius) + 1)
    if not lags:
        return None
    best = max(lags, key=lambda m: (curvature(m), -m))
    return best if curvature(best) > max(curvature(best - 1), curvature(best + 1)) else None


def _near_multiple(lag: int, period: int) -> bool:
    """Whether ``lag`` is a whole number (2 or more) of ``period``s, give or take the refinement's reach."""
    whole = round(lag / period)
    return whole >= 2 and abs(lag - whole * period) <= _radius(lag)


# The season of a frequency, by the start of its pandas alias: month (start or end) 12, quarter 4, week 52, day 7,
# hour 24; years and any other frequency 1 (the seasonal naive is then the naive forecast).
_SEASONS = (("MS", 12), ("ME", 12), ("M", 12), ("QS", 4), ("QE", 4), ("Q", 4), ("BQ", 4), ("W", 52), ("D", 7), ("h", 24),
            ("H", 24))


def season_of_dates(dates) -> int:
    """The seasonal period of a series' dates (a ``DatetimeIndex``) by their frequency: monthly 12, quarterly 4, weekly
    52, daily 7, hourly 24, yearly (and any other, or none pandas can infer) 1."""
    try:
        frequency = inferred_frequency(dates)
    except (TypeError, ValueError):  # dates pandas cannot read a frequency from
        frequency = None
    if not frequency:
        return 1
    for prefix, season in _SEASONS:
        if frequency == prefix or frequency.startswith(prefix + "-"):
            return season
    return 1
