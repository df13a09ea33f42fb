"""Forecasts back in the series' units and the metrics that compare them with the random walk.

Pure functions on arrays. Every metric is computed on prices (or whatever the series' units are) after
the inverse transform, and ``rel_mae`` divides by the naive forecast's MAE on the very same points.
"""

from __future__ import annotations

import numpy as np

from forecaster.data.transforms import Transform

# A forecast that moves less than this fraction of the series' typical level counts as "no change" for
# directional accuracy: float32 windows (about 7 significant digits) cannot represent a smaller move, so
# the naive forecast on levels would otherwise "predict" rounding noise. Use ``no_move_tolerance``.
NO_MOVE_FRACTION = 1e-5


def no_move_tolerance(train_levels: np.ndarray) -> float:
    """The smallest forecast move, in the series' units, that counts as predicting a direction."""
    return NO_MOVE_FRACTION * float(np.mean(np.abs(train_levels)))


def to_series_units(
    scaled: np.ndarray, *, mean: float, scale: float, anchors: np.ndarray, transform: Transform
) -> np.ndarray:
    """Undo the target's scaling, then its transform, from each window's last level: (N, H)."""
    return transform.invert(scaled * scale + mean, anchors)


def insample_naive_mae(train_levels: np.ndarray) -> float:
    """Mean absolute one-step change over the training span: MASE's denominator (Hyndman & Koehler 2006); NaN for a
    span of one step (a padded short series', ``data/padding.py``), which has no change."""
    if len(train_levels) < 2:
        return float("nan")
    return float(np.mean(np.abs(np.diff(train_levels))))


def directional_accuracy(actual: np.ndarray, forecast: np.ndarray, anchors: np.ndarray, *, no_move: float = 0.0) -> float:
    """Share of forecasts that move from the last level in the direction the series moved.

    Counted over the forecasts that move by more than ``no_move`` (series units); NaN when none does
    (the random walk never predicts a direction).
    """
    anchors = np.broadcast_to(anchors[:, None], actual.shape)
    predicted_move = forecast - anchors
    moved = np.abs(predicted_move) > no_move
    if not moved.any():
        return float("nan")
    return float(np.mean(np.sign(predicted_move[moved]) == np.sign((actual - anchors)[moved])))


def training_std(train_levels: np.ndarray) -> float:
    """The training span's standard deviation of the target's levels (ddof 0, as a standard scaler's).

    The unit of ``mse_scaled`` and ``mae_scaled``: an error divided by it is an error of the standardised
    series, the unit the long-horizon benchmark papers report (ETT, Weather, ...).
    """
    return float(np.std(train_levels))


def forecast_metrics(
    actual: np.ndarray, forecast: np.ndarray, *, anchors: np.ndarray, scale_mae: float, no_move: float = 0.0,
    scale_std: float | None = None,
) -> dict[str, float]:
    """MAE, RMSE, MAPE (%), rel_mae, MASE and directional accuracy of ``forecast`` against ``actual``.

    Arrays are (N, H) in the series' units; ``anchors`` (N,) are the last observed levels, so the naive
    forecast on the same points is ``anchors`` repeated. MAPE skips points whose actual value is 0.
    With ``scale_std`` (``training_std``) also ``mse_scaled`` and ``mae_scaled``: the errors divided by it.
    """
    errors = forecast - actual
    mae = float(np.mean(np.abs(errors)))
    naive_mae = float(np.mean(np.abs(anchors[:, None] - actual)))
    nonzero = actual != 0
    metrics = {
        "mae": mae,
        "rmse": float(np.sqrt(np.mean(errors**2))),
        "mape": float(np.mean(np.abs(errors[nonzero] / actual[nonzero])) * 100) if nonzero.any() else float("nan"),
        "rel_mae": mae / naive_mae if naive_mae > 0 else float("nan"),
        "mase": mae / scale_mae if scale_mae > 0 else float("nan"),
        "directional_accuracy": directional_accuracy(actual, forecast, anchors, no_move=no_move),
    }
    if scale_std is not None:
        scaled = errors / scale_std if scale_std > 0 else np.full_like(errors, np.nan)
        metrics.update(mse_scaled=float(np.mean(scaled**2)), mae_scaled=float(np.mean(np.abs(scaled))))
    return metrics


def _one_window_by_step(actual: np.ndarray, forecast: np.ndarray, anchor: float, *, scale_mae: float, no_move: float,
                        scale_std: float | None) -> list[dict[str, float]]:
    """``metrics_by_step`` of one window (H,): the operations ``forecast_metrics`` does on each step's one point, done on
    every step at once (the mean of one number is that number), so a run of many series scores them fast."""
    errors = forecast - actual
    absolute, naive, squared = np.abs(errors), np.abs(anchor - actual), np.sqrt(errors**2)
    with np.errstate(divide="ignore", invalid="ignore"):
        percent = np.abs(errors / actual) * 100
        scaled = errors / scale_std if scale_std is not None and scale_std > 0 else np.full_like(errors, np.nan)
    scaled_squared, scaled_absolute = scaled**2, np.abs(scaled)  # on arrays, as forecast_metrics does (a scalar ** 2 may differ)
    move = forecast - anchor
    moved, agreed = np.abs(move) > no_move, np.sign(move) == np.sign(actual - anchor)
    rows = []
    for step in range(len(actual)):
        mae, naive_mae = float(absolute[step]), float(naive[step])
        row = {"step": step + 1, "mae": mae, "rmse": float(squared[step]),
               "mape": float(percent[step]) if actual[step] != 0 else float("nan"),
               "rel_mae": mae / naive_mae if naive_mae > 0 else float("nan"),
               "mase": mae / scale_mae if scale_mae > 0 else float("nan"),
               "directional_accuracy": float(agreed[step]) if moved[step] else float("nan")}
        if scale_std is not None:
            row.update(mse_scaled=float(scaled_squared[step]), mae_scaled=float(scaled_absolute[step]))
        rows.append(row)
    return rows


def metrics_by_step(
    actual: np.ndarray, forecast: np.ndarray, *, anchors: np.ndarray, scale_mae: float, no_move: float = 0.0,
    scale_std: float | None = None,
) -> list[dict[str, float]]:
    """``forecast_metrics`` for each horizon step k = 1..H separately."""
    if actual.shape[0] == 1:  # one window (a holdout split): each step's metrics of its one point, the same numbers
        return _one_window_by_step(actual[0], forecast[0], anchors[0], scale_mae=scale_mae, no_move=no_move, scale_std=scale_std)
    return [
        {"step": step + 1, **forecast_metrics(actual[:, step : step + 1], forecast[:, step : step + 1],
                                               anchors=anchors, scale_mae=scale_mae, no_move=no_move, scale_std=scale_std)}
        for step in range(actual.shape[1])
    ]


# Scores that mean the same whatever a series' units: the ones ``pool_channels`` averages over target channels.
# The others (mae, rmse, crps, pinball) add up values of different units, so a pooled row leaves them empty.
SCALE_FREE = ("mape", "rel_mae", "mase", "directional_accuracy", "mse_scaled", "mae_scaled", "rel_crps", "crossing")


def pool_channels(per_channel: list[dict]) -> dict:
    """One row of scores for K target channels: the mean of each scale-free score, NaN for the others.

    Every channel is scored on the same windows and steps, so the mean of the channels' ``mse_scaled`` is
    the benchmark papers' MSE over all channels and points. Each level's ``coverage_*`` is scale-free
    too; text (``interval_method``) and the ``step`` number are kept when the channels agree.
    """
    pooled = {}
    for key, value in per_channel[0].items():
        values = [row[key] for row in per_channel]
        if isinstance(value, str) or key == "step":
            pooled[key] = value if all(other == value for other in values) else "mixed"
        elif key in SCALE_FREE or key.startswith("coverage_"):
            pooled[key] = float(np.mean(values))
        else:
            pooled[key] = float("nan")
    return pooled


def seasonal_naive_mae(levels: np.ndarray, season: int) -> float:
    """Mean absolute change over ``season`` steps of ``levels``: the in-sample seasonal naive's MAE, the scale of
    ``mase_seasonal`` (MASE as the M4 and GIFT-Eval define it); NaN where ``levels`` is not longer than ``season``."""
    levels = np.asarray(levels, dtype=np.float64)
    if len(levels) <= season:
        return float("nan")
    return float(np.mean(np.abs(levels[season:] - levels[:-season])))


def seasonal_naive_forecast(levels: np.ndarray, origins: np.ndarray, horizon: int, season: int) -> np.ndarray:
    """The seasonal naive forecast (N, H) from each origin t: step k repeats ``levels[t + k - season * ceil(k / season)]``."""
    steps = np.arange(1, horizon + 1)
    back = steps - season * ((steps + season - 1) // season)  # k - m * ceil(k / m), at most 0
    return np.asarray(levels)[np.asarray(origins)[:, None] + back]


def smape(actual: np.ndarray, forecast: np.ndarray) -> float:
    """Symmetric MAPE in percent (0 to 200): the mean of 200 |F - A| / (|A| + |F|), skipping points where both are 0."""
    actual, forecast = np.asarray(actual, dtype=np.float64), np.asarray(forecast, dtype=np.float64)
    denominator = np.abs(actual) + np.abs(forecast)
    kept = denominator > 0
    if not kept.any():
        return float("nan")
    return float(np.mean(200 * np.abs(forecast - actual)[kept] / denominator[kept]))


def geometric_mean(values) -> float:
    """The geometric mean of the finite positive ``values`` (NaN where there are none)."""
    values = np.asarray(values, dtype=np.float64)
    values = values[np.isfinite(values) & (values > 0)]
    return float(np.exp(np.mean(np.log(values)))) if len(values) else float("nan")
