"""Tests for forecaster.data.features: target choice, column checks, the transformed series (the transforms
themselves: tests/test_transforms.py)."""

import numpy as np
import pandas as pd
import pytest

from forecaster.data.features import DataConfig, choose_target, prepare_series
from forecaster.data.transforms import TRANSFORM_NAMES
from forecaster.errors import ForecasterError


def dated(columns: dict, start: str = "2024-01-01") -> pd.DataFrame:
    """A DataFrame with a daily DatetimeIndex, like load_prices returns."""
    length = len(next(iter(columns.values())))
    return pd.DataFrame(columns, index=pd.date_range(start, periods=length, freq="D", name="date"))


def prices(length: int = 40, seed: int = 0) -> pd.DataFrame:
    """A positive random walk in Close (target) and two positive extra columns."""
    rng = np.random.default_rng(seed)
    close = 100.0 * np.exp(np.cumsum(rng.normal(0.0, 0.02, length)))
    return dated(
        {
            "Open": close * rng.uniform(0.98, 1.02, length),
            "Close": close,
            "Volume": rng.uniform(1e5, 1e6, length),
        }
    )


def raised(call, *args) -> str:
    """The one-line message of the ForecasterError that ``call(*args)`` raises."""
    with pytest.raises(ForecasterError) as caught:
        call(*args)
    message = str(caught.value)
    assert "\n" not in message
    return message


# --- the transformed series and its inverse -----------------------------------------------------------


@pytest.mark.parametrize("transform", TRANSFORM_NAMES)
@pytest.mark.parametrize("horizon", [1, 3, 7])
def test_the_inverse_recovers_the_next_levels_from_each_origin(transform, horizon):
    frame = prices(length=40)
    series = prepare_series(frame, DataConfig(column="Close", features=("Volume",), transform=transform))
    length = len(series.levels)
    origins = [0, 1, 5, length // 2, length - horizon - 1]
    for t in origins:
        # A forecast made at step t: anchor levels[t], transformed target values at t+1..t+H.
        forecast = series.frames[t + 1 : t + 1 + horizon, 0][None, :]  # (1, H)
        recovered = series.transform.invert(forecast, np.array([series.levels[t]]))
        assert recovered.shape == (1, horizon)
        np.testing.assert_allclose(recovered[0], series.levels[t + 1 : t + 1 + horizon], rtol=1e-9, atol=0)


@pytest.mark.parametrize("transform", TRANSFORM_NAMES)
def test_the_inverse_handles_a_batch_of_origins(transform):
    series = prepare_series(prices(length=30), DataConfig(transform=transform))
    horizon, origins = 4, np.array([0, 9, 17, 24])
    forecast = np.stack([series.frames[t + 1 : t + 1 + horizon, 0] for t in origins])  # (N, H)
    recovered = series.transform.invert(forecast, series.levels[origins])
    expected = np.stack([series.levels[t + 1 : t + 1 + horizon] for t in origins])
    np.testing.assert_allclose(recovered, expected, rtol=1e-9, atol=0)


@pytest.mark.parametrize("transform", TRANSFORM_NAMES)
def test_levels_and_dates_line_up_with_the_raw_target(transform):
    frame = prices(length=20)
    series = prepare_series(frame, DataConfig(transform=transform))
    lost = series.lost_rows
    assert len(series.dates) == len(series.frames) == len(series.levels) == len(frame) - lost
    pd.testing.assert_index_equal(series.dates, pd.DatetimeIndex(frame.index[lost:]))
    np.testing.assert_array_equal(series.levels, frame["Close"].to_numpy()[lost:])
    assert series.transform.name == transform


# --- prepare_series: channels, dates, lost rows ------------------------------------------------------


def test_target_is_channel_0_and_features_follow_in_the_given_order():
    frame = prices(length=10)
    series = prepare_series(frame, DataConfig(column="Close", features=("Volume", "Open"), transform="level"))
    assert series.columns == ("Close", "Volume", "Open")
    assert series.frames.shape == (10, 3)
    np.testing.assert_array_equal(series.frames[:, 0], frame["Close"].to_numpy())
    np.testing.assert_array_equal(series.frames[:, 1], frame["Volume"].to_numpy())
    np.testing.assert_array_equal(series.frames[:, 2], frame["Open"].to_numpy())


def test_features_are_transformed_like_the_target():
    frame = prices(length=10)
    series = prepare_series(frame, DataConfig(features=("Volume",), transform="log_return"))
    np.testing.assert_allclose(series.frames[:, 1], np.diff(np.log(frame["Volume"].to_numpy())), rtol=1e-12)


def test_target_listed_in_features_is_not_duplicated():
    frame = prices(length=10)
    series = prepare_series(frame, DataConfig(column="Close", features=("Open", "Close", "Volume")))
    assert series.columns == ("Close", "Open", "Volume")
    assert series.frames.shape == (9, 3)


def test_target_only_gives_one_channel():
    series = prepare_series(prices(length=10), DataConfig())
    assert series.columns == ("Close",)
    assert series.frames.shape == (9, 1)


@pytest.mark.parametrize("transform, lost", [("log_return", 1), ("diff", 1), ("level", 0)])
def test_differenced_transforms_drop_the_first_date(transform, lost):
    frame = prices(length=6)
    series = prepare_series(frame, DataConfig(transform=transform))
    assert series.lost_rows == lost
    assert len(frame) - len(series.frames) == lost
    assert series.dates[0] == frame.index[lost]
    assert series.dates[-1] == frame.index[-1]
    assert isinstance(series.dates, pd.DatetimeIndex)


def test_prepare_series_does_not_modify_the_frame():
    frame = prices(length=8)
    before = frame.copy()
    prepare_series(frame, DataConfig(features=("Volume",)))
    pd.testing.assert_frame_equal(frame, before)


# --- choose_target -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "columns, column, expected",
    [
        (["Open", "Close", "Adj Close"], "Open", "Open"),
        (["Open", "Close", "Adj Close", "Volume"], None, "Adj Close"),
        (["Adj Close", "Close"], None, "Adj Close"),
        (["Open", "Close", "Volume"], None, "Close"),
        (["value"], None, "value"),
        (["value"], "value", "value"),
    ],
)
def test_choose_target(columns, column, expected):
    frame = dated({name: [1.0, 2.0] for name in columns})
    assert choose_target(frame, column) == expected


def test_choose_target_without_a_default_lists_the_columns():
    frame = dated({"Open": [1.0], "High": [2.0], "Low": [0.5]})
    message = raised(choose_target, frame, None)
    assert "Close" in message
    assert "--column" in message
    assert "Open, High, Low" in message


def test_choose_target_with_a_missing_column_lists_the_available_ones():
    frame = dated({"Open": [1.0], "Close": [2.0]})
    message = raised(choose_target, frame, "Adj Close")
    assert "'Adj Close' not found" in message
    assert "available columns: Open, Close" in message


def test_missing_feature_column_lists_the_available_ones():
    message = raised(prepare_series, prices(length=5), DataConfig(features=("Vol",)))
    assert "'Vol' not found" in message
    assert "available columns: Open, Close, Volume" in message


# --- bad values -------------------------------------------------------------------------------------


def test_non_numeric_value_names_column_value_and_date():
    frame = dated({"Close": [1.0, 2.0, "n/a", 4.0]})
    message = raised(prepare_series, frame, DataConfig())
    assert "'Close'" in message
    assert "1 non-numeric" in message
    assert "'n/a'" in message
    assert "2024-01-03" in message


def test_bad_values_in_an_unused_column_are_fine():
    frame = dated({"Close": [1.0, 2.0, 3.0, 4.0], "Notes": [1.0, "n/a", np.nan, np.inf]})
    series = prepare_series(frame, DataConfig())
    assert series.columns == ("Close",)
    np.testing.assert_allclose(series.levels, [2.0, 3.0, 4.0])


def test_bad_value_in_a_used_feature_names_that_column():
    frame = dated({"Close": [1.0, 2.0, 3.0, 4.0], "Volume": [5.0, 6.0, "n/a", 8.0]})
    message = raised(prepare_series, frame, DataConfig(features=("Volume",)))
    assert "'Volume'" in message
    assert "'n/a'" in message
    assert "2024-01-03" in message


def test_numeric_text_is_accepted():
    frame = dated({"Close": ["1.5", "2", "3e0"]})
    series = prepare_series(frame, DataConfig(transform="level"))
    np.testing.assert_allclose(series.levels, [1.5, 2.0, 3.0])


def test_missing_values_name_the_count_and_first_date():
    frame = dated({"Close": [1.0, np.nan, 3.0, np.nan, 5.0]})
    message = raised(prepare_series, frame, DataConfig())
    assert "'Close'" in message
    assert "2 missing value(s)" in message
    assert "first on 2024-01-02" in message
    assert "set data.missing to drop or ffill" in message


def test_none_counts_as_missing():
    frame = dated({"Close": [1.0, 2.0, 3.0], "Volume": [1.0, None, 3.0]})
    message = raised(prepare_series, frame, DataConfig(features=("Volume",)))
    assert "'Volume' has 1 missing value(s), first on 2024-01-02" in message


@pytest.mark.parametrize("bad", [np.inf, -np.inf, "inf"])
def test_infinite_value_names_column_and_date(bad):
    frame = dated({"Close": [1.0, 2.0, bad, 4.0]})
    message = raised(prepare_series, frame, DataConfig(transform="level"))
    assert "'Close' has 1 infinite value(s)" in message
    assert "2024-01-03" in message


@pytest.mark.parametrize("bad", [0.0, -3.0])
def test_log_return_of_non_positive_values_suggests_diff_or_level(bad):
    frame = dated({"Close": [1.0, 2.0, 3.0, bad, 5.0]})
    message = raised(prepare_series, frame, DataConfig(transform="log_return"))
    assert "log_return needs positive values" in message
    assert "'Close'" in message
    assert "2024-01-04" in message
    assert "diff" in message and "level" in message


def test_log_return_checks_the_feature_columns_too():
    frame = dated({"Close": [1.0, 2.0, 3.0], "Volume": [10.0, 0.0, 30.0]})
    message = raised(prepare_series, frame, DataConfig(features=("Volume",), transform="log_return"))
    assert "'Volume'" in message
    assert "'Close'" not in message
    assert "2024-01-02" in message


@pytest.mark.parametrize("transform", ["level", "diff"])
def test_zeros_and_negatives_are_fine_without_log_return(transform):
    frame = dated({"Close": [0.0, 2.0, 0.0, -1.0]})
    series = prepare_series(frame, DataConfig(transform=transform))
    expected = [0.0, 2.0, 0.0, -1.0] if transform == "level" else [2.0, -2.0, -1.0]
    np.testing.assert_allclose(series.frames[:, 0], expected)


@pytest.mark.parametrize(
    "policy, expected_levels, expected_days",
    [
        # drop: the rows of days 1, 3 and 5 go.
        ("drop", [1.0, 3.0, 5.0], [2, 4, 6]),
        # ffill: each gap takes the last known value; the leading gap (row 0) has none and goes.
        ("ffill", [1.0, 1.0, 3.0, 3.0, 5.0], [2, 3, 4, 5, 6]),
    ],
)
def test_missing_value_policies(policy, expected_levels, expected_days):
    frame = dated({"Close": [np.nan, 1.0, np.nan, 3.0, np.nan, 5.0]})
    series = prepare_series(frame, DataConfig(transform="level", missing=policy))
    assert list(series.levels) == expected_levels
    assert [date.day for date in series.dates] == expected_days


def test_a_constant_target_is_an_error():
    frame = dated({"Close": [7.0] * 5, "Volume": [1.0, 2.0, 3.0, 4.0, 5.0]})
    message = raised(prepare_series, frame, DataConfig(transform="level"))
    assert "'Close' is constant (7 on every date)" in message and "nothing to forecast" in message
