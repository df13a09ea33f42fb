"""Prediction intervals of a scored split: each model's by the run's method, the random walk's own, and their scores.

The glue between a model's forecasts (``runs/fitting.py``) and the pure functions that make intervals
(``evaluation/conformal.py``) and score them (``evaluation/probabilistic.py``). Every interval is a
central one at each level of ``intervals.levels``, in the series' units, with its method named:

- ``conformal``: the model's validation forecasts give absolute errors in the change space (the
  cumulative log change for log-return targets); one radius per level and horizon step;
- ``adaptive``: the same errors, then the test span's as each becomes known (adaptive conformal);
- a distributional head's name (``quantile``): the head's quantiles at each level's bounds and the median
  (of the scaled cumulative change, or of the level), with the share of crossed quantiles reported by it;
- ``empirical``: the random walk's own intervals, the yardstick of ``rel_crps``: quantiles of the training
  span's h-step changes around the last value.

Conformal and adaptive intervals are made for the test span only (calibrating on validation and scoring
validation would be circular); a distributional head's come with its forecasts on any split.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from forecaster.evaluation.conformal import (
    Calibration,
    IntervalConfig,
    adaptive_radii,
    alpha_of,
    bounds_around,
    conformal_radius,
    empirical_change_quantiles,
    levels_of_taus,
    quantile_bounds,
    quantile_levels,
)
from forecaster.evaluation.probabilistic import (
    coverage,
    crps_from_quantiles,
    mean_width,
    msis,
    pinball,
    seasonal_naive_mae,
    winkler,
)
from forecaster.models import Head
from forecaster.runs.prepare import PreparedData

RANDOM_WALK = "random_walk"  # the yardstick's model name in intervals.csv


def summarised_scores(columns) -> list[str]:
    """The probabilistic columns of a metrics table that summaries over seeds or folds average: coverage per level, CRPS."""
    return [column for column in columns if column.startswith("coverage_")] + [c for c in ("crps", "rel_crps") if c in columns]


def level_name(level: float) -> str:
    """80.0 -> '80', 97.5 -> '97.5': the level as it appears in column names."""
    return f"{level:g}"


@dataclass(frozen=True, eq=False)
class Intervals:
    """One model's central intervals on a split: bounds (N, H, L) in the series' units, one per level."""

    method: str
    levels: tuple[float, ...]
    lower: np.ndarray  # (N, H, L)
    upper: np.ndarray  # (N, H, L)
    median: np.ndarray  # (N, H): the point forecast (a distributional head's median)
    crossing: float = float("nan")  # share of a head's (window, step) whose quantiles crossed (a quantile head's)
    calibration: Calibration | None = None  # what intervals for new windows are made from

    @property
    def taus(self) -> tuple[float, ...]:
        return quantile_levels(self.levels)

    def quantiles(self) -> np.ndarray:
        """The quantiles (N, H, Q) at ``taus``: each level's bounds at alpha / 2 and 1 - alpha / 2, the median at 0.5."""
        columns = []
        for tau in self.taus:
            if tau == 0.5:
                columns.append(self.median)
                continue
            level = 100 * (1 - 2 * min(tau, 1 - tau))
            index = int(np.argmin([abs(level - known) for known in self.levels]))
            columns.append((self.lower if tau < 0.5 else self.upper)[..., index])
        return np.stack(columns, axis=-1)


def _from_quantiles(method: str, levels: tuple[float, ...], values: np.ndarray, **extra) -> Intervals:
    """Intervals from quantiles (N, H, Q) at ``quantile_levels(levels)`` (ascending)."""
    lower, upper, median = quantile_bounds(values, quantile_levels(levels), levels)
    return Intervals(method, levels, lower, upper, median, **extra)


def _change_errors(data: PreparedData, split: str, forecast: np.ndarray) -> np.ndarray:
    """Absolute errors (N, H) of a split's forecasts in the change space, where errors of one series compare over time."""
    actual, anchors = data.actual_and_anchors(split)
    transform = data.series.transform
    return np.abs(transform.to_change(actual, anchors) - transform.to_change(forecast, anchors))


def conformal_intervals(data: PreparedData, forecast: np.ndarray, val_forecast: np.ndarray, levels: tuple[float, ...]) -> Intervals:
    """Split conformal intervals around the test forecasts (N, H), calibrated on the validation forecasts' errors."""
    scores = _change_errors(data, "val", val_forecast)
    calibration = Calibration("conformal", levels, tuple(tuple(map(float, conformal_radius(scores, level))) for level in levels))
    _, anchors = data.actual_and_anchors("test")
    lower, upper = calibration.bounds(forecast, anchors, data.series.transform)
    return Intervals("conformal", levels, lower, upper, forecast, calibration=calibration)


def adaptive_intervals(
    data: PreparedData, forecast: np.ndarray, val_forecast: np.ndarray, levels: tuple[float, ...], *, step_size: float
) -> Intervals:
    """Adaptive conformal intervals over the test span: at each origin only the errors already known enter."""
    scores = _change_errors(data, "val", val_forecast)
    # The test errors are handed over whole; adaptive_radii reads each only from the origin its target is
    # known at (tested: the intervals up to an origin do not change when later actual values do).
    test_errors = _change_errors(data, "test", forecast)
    origins = data.windows["test"].origins
    radii, finals = zip(*(adaptive_radii(scores, test_errors, origins, level, step_size=step_size) for level in levels))
    _, anchors = data.actual_and_anchors("test")
    lower, upper = bounds_around(forecast, np.stack(radii, axis=-1), anchors, data.series.transform)  # radii (N, H, L)
    calibration = Calibration("adaptive", levels, tuple(tuple(map(float, final)) for final in finals))
    return Intervals("adaptive", levels, lower, upper, forecast, calibration=calibration)


def head_intervals(data: PreparedData, split: str, scaled: np.ndarray, head: Head, levels: tuple[float, ...]) -> Intervals | None:
    """A distributional head's intervals from its outputs (N, H, *head.shape) in the scaled target space, or None.

    The head's quantiles at each level's bounds and the median (ascending levels), of the cumulative change
    to each step (or of the level), in the series' units; None when the head forecasts no distribution.
    """
    levels = levels_of_taus(quantile_levels(levels))  # ascending, as the quantiles are
    quantiles = head.quantiles(scaled, quantile_levels(levels))
    if quantiles is None:
        return None
    (offset,), (scale,) = data.target_offset, data.target_scale
    _, anchors = data.actual_and_anchors(split)
    values = data.series.transform.cumulative_to_series(quantiles * scale + offset, anchors)
    return _from_quantiles(head.name, levels, values, crossing=head.crossing(scaled), calibration=Calibration(head.name, levels))


def random_walk_intervals(data: PreparedData, split: str, levels: tuple[float, ...]) -> Intervals:
    """The random walk's own intervals: the training span's empirical h-step change quantiles around the last value."""
    _, anchors = data.actual_and_anchors(split)
    taus = np.array(quantile_levels(levels))
    changes = empirical_change_quantiles(data.training_levels, data.dims.horizon, taus, data.series.transform)  # (H, Q)
    values = data.series.transform.from_change(np.broadcast_to(changes, (len(anchors), *changes.shape)), anchors)
    return _from_quantiles("empirical", levels, values)


def interval_metrics(actual: np.ndarray, intervals: Intervals, *, random_walk_crps: float) -> dict[str, float]:
    """A model's probabilistic scores over every point: CRPS, rel_crps, pinball, each level's coverage, crossing."""
    quantiles, taus = intervals.quantiles(), np.array(intervals.taus)
    crps = crps_from_quantiles(actual, quantiles, taus)
    metrics = {
        "crps": crps,
        "rel_crps": crps / random_walk_crps if random_walk_crps > 0 else float("nan"),
        "pinball": pinball(actual, quantiles, taus),
    }
    for index, level in enumerate(intervals.levels):
        metrics[f"coverage_{level_name(level)}"] = coverage(actual, intervals.lower[..., index], intervals.upper[..., index])
    metrics["crossing"] = intervals.crossing
    return metrics


def interval_rows(model: str, actual: np.ndarray, intervals: Intervals, *, msis_scale: float) -> list[dict]:
    """Rows of intervals.csv for one model: per level, all steps together ('all') and then each step."""
    rows = []
    for index, level in enumerate(intervals.levels):
        alpha = alpha_of(level)
        lower, upper = intervals.lower[..., index], intervals.upper[..., index]
        steps = [("all", slice(None))] + [(step + 1, slice(step, step + 1)) for step in range(actual.shape[1])]
        for step, columns in steps:
            scored = (actual[:, columns], lower[:, columns], upper[:, columns])
            rows.append({
                "model": model, "method": intervals.method, "level": level, "step": step,
                "coverage": coverage(*scored), "width": mean_width(*scored[1:]),
                "winkler": winkler(*scored, alpha), "msis": msis(*scored, alpha, scale=msis_scale),
            })
    return rows


def msis_scale(data: PreparedData, config: IntervalConfig) -> float:
    """MSIS's denominator: the training span's in-sample seasonal-naive MAE (M4), season ``intervals.season``."""
    return seasonal_naive_mae(data.training_levels, config.season)
