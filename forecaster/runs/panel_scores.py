"""The panel scores of a global run, as the forecasting competitions and GIFT-Eval report them.

Per series and model (``metrics_by_series.csv``): ``mase_seasonal``, the test span's MAE over the in-sample MAE of the
seasonal naive with the series' season (``data.season``, else from its frequency: ``data/seasonality.season_of_dates``),
the in-sample span being everything before the test span (training and validation); ``smape`` (percent, 0 to 200);
and ``rel_mase``, the model's MAE over the seasonal naive forecast's on the same test points (its MASE over the
seasonal naive's: the scale cancels). The seasonal naive here is the ``seasonal_naive`` model on levels, computed from
the series' levels (``evaluation/metrics.seasonal_naive_forecast``), so every run has it whatever its models. Where a
model made intervals, its interval scores follow: ``coverage_<level>``, ``crps`` and ``rel_crps`` (``runs/intervals.py``).

Pooled (the ``all`` rows of ``metrics.csv``): ``mase_seasonal`` and ``smape`` are means over series, as the published
competition tables are (a series whose scale is 0 or undefined is left out of the mean), and ``gmean_rel_mase`` is the
geometric mean over series of ``rel_mase`` (GIFT-Eval's aggregate; series where it is not finite and positive left out).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from forecaster.data.seasonality import season_of_dates
from forecaster.evaluation.metrics import geometric_mean, seasonal_naive_forecast, seasonal_naive_mae, smape
from forecaster.runs.fitting import ModelRun
from forecaster.runs.prepare import PreparedData

SERIES_COLUMNS = ("mase_seasonal", "smape", "rel_mase")
INTERVAL_COLUMNS = ("crps", "rel_crps")  # with coverage_<level>: a model's interval scores, where it made intervals
POOLED_COLUMNS = ("mase_seasonal", "smape", "gmean_rel_mase")


def unit_scores(data: PreparedData, run: ModelRun, season: int | None) -> dict[str, float]:
    """One target's ``mase_seasonal``, ``smape`` and ``rel_mase`` on its test span (``season`` None: by the dates)."""
    return scores_against(yardsticks(data, season), run)


def yardsticks(data: PreparedData, season: int | None) -> tuple[np.ndarray, float, float]:
    """What every model of one target is scored against: the test span's actual values (N, H), the in-sample seasonal
    naive MAE (the scale) and the seasonal naive forecast's MAE on the test points (NaN without a whole season)."""
    season = season or season_of_dates(data.series.dates)
    actual, _anchors = data.actual_and_anchors("test")
    levels = np.asarray(data.series.levels, dtype=np.float64)
    scale = seasonal_naive_mae(levels[data.bounds.train_start : data.bounds.val_end], season)
    origins = data.windows["test"].origins
    if origins.min() + 1 - season >= 0:  # a whole season before every test origin
        baseline = float(np.mean(np.abs(seasonal_naive_forecast(levels, origins, actual.shape[1], season) - actual)))
    else:
        baseline = float("nan")
    return actual, scale, baseline


def scores_against(yardstick: tuple[np.ndarray, float, float], run: ModelRun) -> dict[str, float]:
    """``unit_scores`` of ``run`` from its target's ``yardsticks``."""
    actual, scale, baseline = yardstick
    mae = float(np.mean(np.abs(run.forecast - actual)))
    # The interval scores the run made for this target (coverage per level, CRPS and rel_crps), where it made intervals.
    intervals = {key: value for key, value in run.metrics.items() if key.startswith("coverage_") or key in INTERVAL_COLUMNS}
    return {"mase_seasonal": mae / scale if scale > 0 else float("nan"), "smape": smape(actual, run.forecast),
            "rel_mase": mae / baseline if baseline > 0 else float("nan"), **intervals}


def series_scores(parts: dict, models, season: int | None) -> pd.DataFrame:
    """One row per (series, model) of a global run's ``parts`` (label -> ``ExperimentResult``): the scores averaged
    over the series' targets where it has several (each target's yardsticks found once for all its models)."""
    rows, columns = [], dict.fromkeys(SERIES_COLUMNS)
    for label, part in parts.items():
        targets = [(yardsticks(data, season), runs) for _channel, data, runs in part.per_target()]
        for name in models:
            scores = [scores_against(yardstick, runs[name]) for yardstick, runs in targets]
            keys = list(dict.fromkeys(key for score in scores for key in score))
            columns.update(dict.fromkeys(keys))
            rows.append({"series": label, "model": name,
                         **{key: float(np.mean([score.get(key, np.nan) for score in scores])) for key in keys}})
    return pd.DataFrame(rows, columns=["series", "model", *columns])


def pooled_scores(table: pd.DataFrame, name: str) -> dict[str, float]:
    """Model ``name``'s pooled panel scores from ``series_scores``'s table: means over series, and the geometric mean."""
    rows = table[table["model"] == name]
    mean = {key: float(np.nanmean(rows[key])) if rows[key].notna().any() else float("nan") for key in ("mase_seasonal", "smape")}
    return {**mean, "gmean_rel_mase": geometric_mean(rows["rel_mase"])}
