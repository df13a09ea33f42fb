"""Calendar channels: computed from the dates alone, equal to hand-computed sine/cosine, refused where meaningless."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch

from forecaster.checkpoint import Checkpoint, from_payload, to_payload
from forecaster.config import config_from_dict
from forecaster.data.calendar import calendar_features
from forecaster.data.features import DataConfig, prepare_series
from forecaster.data.synthetic import two_period_series
from forecaster.errors import ForecasterError
from forecaster.models import LinearConfig, ModelDims, build_model
from forecaster.reuse.forecast import Forecaster
from forecaster.runs.experiment import run_experiment

ALL = ("hour", "day_of_week", "day_of_year")


def hourly(values: np.ndarray, start: str = "2024-03-01 00:00") -> pd.DataFrame:
    return pd.DataFrame({"value": values}, index=pd.date_range(start, periods=len(values), freq="h", name="date"))


def test_calendar_channels_equal_hand_computed_sine_and_cosine():
    dates = pd.DatetimeIndex(["2024-01-01 00:00", "2024-01-01 06:00", "2024-03-03 18:30", "2023-12-31 23:00"])
    channels = calendar_features(dates, ALL)
    assert channels.shape == (4, 6)
    # 2024-01-01 is a Monday (day 0 of the week), day 1 of a leap year; 2024-03-03 a Sunday, day 63.
    hours = [0, 6, 18.5, 23]
    weekdays = [0, 0, 6, 6]
    year_fraction = [0 / 366, 0 / 366, 62 / 366, 364 / 365]
    expected = []
    for hour, weekday, day in zip(hours, weekdays, year_fraction):
        angles = [2 * math.pi * hour / 24, 2 * math.pi * weekday / 7, 2 * math.pi * day]
        expected.append([f(angle) for angle in angles for f in (math.sin, math.cos)])
    np.testing.assert_allclose(channels, np.array(expected), atol=1e-12)
    np.testing.assert_allclose(channels[1, :2], [1.0, 0.0], atol=1e-12)  # 06:00 is a quarter of the day


def test_calendar_channels_come_after_the_columns_and_are_not_transformed():
    frame = two_period_series(24 * 21, seed=0)
    for transform in ("level", "diff", "log_return"):
        series = prepare_series(frame, DataConfig(transform=transform, calendar=("hour", "day_of_week")))
        assert series.frames.shape[1] == 1 + 4
        assert series.calendar == ("hour", "day_of_week") and series.columns == ("value",)
        np.testing.assert_allclose(series.frames[:, 1:], calendar_features(series.dates, ("hour", "day_of_week")))
        np.testing.assert_allclose(np.hypot(series.frames[:, 1], series.frames[:, 2]), 1.0)  # a point on the circle


def test_changing_the_target_never_changes_the_calendar_channels():
    """No leakage: the calendar channels depend on the dates alone, whatever the values are."""
    rng = np.random.default_rng(0)
    first = hourly(10 + rng.normal(size=500))
    second = hourly(50 + 5 * rng.normal(size=500))
    config = DataConfig(column="value", transform="diff", calendar=ALL[:2])
    one, two = prepare_series(first, config), prepare_series(second, config)
    assert not np.allclose(one.frames[:, 0], two.frames[:, 0])
    np.testing.assert_array_equal(one.frames[:, 1:], two.frames[:, 1:])


@pytest.mark.parametrize(("source", "feature", "message"), [
    ("sp500", "hour", "dates 1 day apart carry no hour; valid for this series: day_of_week, day_of_year"),
    ("sunspots", "day_of_week", "carry no day of week; valid for this series: day_of_year"),
    ("sunspots", "hour", "valid for this series: day_of_year"),
])
def test_a_calendar_feature_the_spacing_cannot_have_is_a_clear_error(source, feature, message):
    from forecaster.data.sources import load_prices

    with pytest.raises(ForecasterError, match=message):
        prepare_series(load_prices(source), DataConfig(transform="level", calendar=(feature,)))


def test_unknown_calendar_features_are_config_errors_naming_the_valid_ones():
    with pytest.raises(ForecasterError, match="data.calendar\\[0\\]='month' is not valid; choose one of: hour, day_of_week, day_of_year"):
        config_from_dict({"data": {"calendar": ["month"]}})
    assert config_from_dict({"data": {"calendar": ["hour"]}}).data.calendar == ("hour",)


def test_a_run_with_calendar_channels_saves_them_in_the_checkpoint_and_forecasts_the_future():
    raw = {
        "data": {"source": "synthetic", "transform": "level", "calendar": ["hour", "day_of_week"]},
        "windows": {"context": 24, "horizon": 4},
        "train": {"epochs": 1, "batch_size": 256, "device": "cpu"},
        "models": [{"kind": "naive"}, {"kind": "linear"}],
    }
    frame = two_period_series(24 * 7 * 6)
    result = run_experiment(config_from_dict(raw), frame=frame)
    assert result.data.dims.channels == 5
    checkpoint = result.checkpoint("linear")
    assert checkpoint.pipeline.calendar == ("hour", "day_of_week")
    assert checkpoint.pipeline.data_config().calendar == ("hour", "day_of_week")
    model = checkpoint.model()
    future = Forecaster.from_checkpoint(checkpoint).forecast(frame)
    assert len(future) == 4 and future["date"].iloc[0] == frame.index[-1] + pd.Timedelta(hours=1)
    # The forecast reads the calendar of the input window (known), never of the future dates.
    offset, scale = np.asarray(checkpoint.pipeline.offset), np.asarray(checkpoint.pipeline.scale)
    series = prepare_series(frame, checkpoint.pipeline.data_config())
    window = torch.tensor((series.frames[-24:] - offset) / scale, dtype=torch.float32)[None]
    with torch.no_grad():
        expected = model(window).double().numpy()[0, :, 0] * scale[0] + offset[0]  # (H,) of the one target
    np.testing.assert_allclose(future["forecast"], expected, rtol=1e-6)


def test_checkpoints_without_a_calendar_read_no_calendar(as_version_3):
    dims = ModelDims(context=4, horizon=1, channels=1, differenced=True, no_change=0.0)
    model = build_model("linear", LinearConfig(), dims)
    payload = as_version_3(to_payload(Checkpoint.from_model(model, name="linear", kind="linear", config=LinearConfig(), dims=dims,
                                                            columns=("Close",), transform="log_return", offset=[0.0], scale=[1.0])))
    payload.update(format_version=1, scaler={"mean": [0.0], "scale": [1.0]})
    del payload["calendar"], payload["series"]  # as version 1 wrote it before calendar channels existed
    assert from_payload(payload, "old.pt").pipeline.data_config().calendar == ()
