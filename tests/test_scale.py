"""Many series: the pieces that keep a global run's cost growing with its rows give the numbers they replaced.

Frequencies found once per constant gap (``data/panel_series.py``) equal pandas' own per series; one window's per-step
metrics equal ``forecast_metrics`` step by step; a global run's tables are built once and rebuilt when a run changes;
predictions of more than ``PARQUET_SERIES`` series are written as Parquet.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from forecaster.data.calendar import inferred_frequency
from forecaster.data.panel import read_long
from forecaster.errors import ForecasterError
from forecaster.evaluation.metrics import forecast_metrics, metrics_by_step
from forecaster.runs.global_tables import PARQUET_SERIES, TableCache, write_predictions


def panel(frequencies: list[str], lengths=(30, 12, 45, 7)) -> pd.DataFrame:
    """Series s0, s1, ... of the given frequencies, starting on different days and times, their rows shuffled."""
    rows = []
    for index, frequency in enumerate(frequencies):
        dates = pd.date_range(pd.Timestamp("2021-01-04 06:00") + pd.Timedelta(days=3 * index), periods=lengths[index % 4],
                              freq=frequency)
        rows.append(pd.DataFrame({"unique_id": f"s{index}", "ds": dates, "y": np.arange(len(dates), dtype=float)}))
    return pd.concat(rows, ignore_index=True).sample(frac=1, random_state=0).reset_index(drop=True)


@pytest.mark.parametrize("frequencies", [["D"] * 4, ["h"] * 3, ["2D", "2D"], ["W-MON", "W-MON"], ["MS", "MS"], ["B", "B"]])
def test_series_of_one_gap_read_as_each_alone(frequencies):
    table = panel(frequencies)
    frames = read_long(table)
    assert list(frames) == list(dict.fromkeys(table["unique_id"]))  # in the order of their first rows
    for label, frame in frames.items():
        alone = read_long(table[table["unique_id"] == label])[label]
        pd.testing.assert_frame_equal(frame, alone, check_exact=True)
        assert frame.index.is_monotonic_increasing and frame.index.name == "date"
        assert frame["y"].tolist() == list(range(len(frame)))


def test_weekly_series_of_other_weekdays_are_other_frequencies_as_pandas_says():
    table = panel(["7D", "7D"])  # starts three days apart: W-MON and W-THU
    first, second = (pd.DatetimeIndex(table[table["unique_id"] == label]["ds"]).sort_values() for label in ("s0", "s1"))
    assert inferred_frequency(first) != inferred_frequency(second)
    with pytest.raises(ForecasterError, match=r"series 's[01]' has frequency W-(MON|THU) and series 's[01]' W-(THU|MON)"):
        read_long(table)


def test_a_repeated_time_is_named_with_its_rows():
    table = panel(["D", "D"])
    table = pd.concat([table, table[table["unique_id"] == "s1"].iloc[[0]]], ignore_index=True)
    with pytest.raises(ForecasterError, match=r"series 's1' has 2 rows for .* each \(unique_id, ds\) must appear once"):
        read_long(table)


def test_one_windows_metrics_by_step_equal_forecast_metrics_step_by_step():
    rng = np.random.default_rng(0)
    actual = rng.normal(100, 5, size=(1, 9))
    actual[0, 3] = 0.0  # MAPE skips it
    forecast = actual + rng.normal(0, 2, size=(1, 9))
    forecast[0, 5] = actual[0, 0]  # no move from the anchor: no direction
    scoring = {"anchors": actual[:, 0], "scale_mae": 1.7, "no_move": 1e-9, "scale_std": 4.2}
    fast = metrics_by_step(actual, forecast, **scoring)
    slow = [{"step": step + 1, **forecast_metrics(actual[:, step : step + 1], forecast[:, step : step + 1], **scoring)}
            for step in range(9)]
    assert [list(row) for row in fast] == [list(row) for row in slow]
    np.testing.assert_array_equal(pd.DataFrame(fast).to_numpy(), pd.DataFrame(slow).to_numpy())


def test_table_cache_builds_once_and_again_when_a_run_changes():
    built = []
    parts = {"a": SimpleNamespace(runs={"naive": object()})}
    cache = TableCache()

    def build():
        built.append(1)
        return pd.DataFrame({"x": [1.0]})

    first = cache.get("t", parts, build)
    first.loc[0, "x"] = 5.0  # a copy: the kept table does not change
    assert cache.get("t", parts, build)["x"].tolist() == [1.0] and len(built) == 1
    parts["a"].runs["naive"] = object()  # scored again
    cache.get("t", parts, build)
    parts["b"] = SimpleNamespace(runs={})  # one more series
    cache.get("t", parts, build)
    assert len(built) == 3


def test_predictions_of_many_series_are_parquet(tmp_path):
    pytest.importorskip("pyarrow")
    table = pd.DataFrame({"step": [1, 2], "linear": [0.5, 0.25], "series": ["a", "b"]})
    assert write_predictions(table, tmp_path, series=PARQUET_SERIES).name == "predictions.csv"
    written = write_predictions(table, tmp_path, series=PARQUET_SERIES + 1)
    assert written.name == "predictions.parquet"
    pd.testing.assert_frame_equal(pd.read_parquet(written), table)
