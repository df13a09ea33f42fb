"""The synthetic two-season series does what it claims: seasons in its autocorrelation, trend, shifts, seeds."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from forecaster.data import load_prices
from forecaster.errors import ForecasterError
from forecaster.seasonality import autocorrelation, suggest_periods
from forecaster.synthetic import BASE_LEVEL, two_period_series

WEEKS = 24 * 7 * 12  # twelve weeks of hours: enough for the tests, quick to generate


def test_the_default_series_is_a_year_of_hours_from_a_monday():
    frame = two_period_series()
    assert list(frame.columns) == ["value"] and frame.index.name == "date"
    assert len(frame) == 52 * 168 and frame.index.freqstr == "h"
    assert frame.index[0] == pd.Timestamp("2024-01-01") and frame.index[0].day_name() == "Monday"
    assert (frame["value"] > 0).all()  # positive, so that log_return works too


def test_the_same_seed_gives_the_same_series_and_another_seed_another():
    pd.testing.assert_frame_equal(two_period_series(WEEKS, seed=3), two_period_series(WEEKS, seed=3))
    assert not np.allclose(two_period_series(WEEKS, seed=3)["value"], two_period_series(WEEKS, seed=4)["value"])


def test_load_prices_serves_the_default_series_as_a_bundled_source():
    pd.testing.assert_frame_equal(load_prices("synthetic"), two_period_series())
    june = load_prices("Synthetic", start="2024-06-01", end="2024-06-08")
    assert len(june) == 168 and june.index[0] == pd.Timestamp("2024-06-01")


def test_both_seasons_show_in_the_autocorrelation():
    values = two_period_series(WEEKS)["value"].to_numpy()
    correlation = autocorrelation(values, 200)
    assert correlation[24] > 0.5 and correlation[168] > correlation[24]
    assert correlation[12] < correlation[24] - 0.2  # half a day apart: the daily sine is opposite
    assert sorted(suggest_periods(values, 336, top=2)) == [24, 168]
    other = two_period_series(24 * 60 * 8, periods=(12, 60))["value"].to_numpy()
    assert sorted(suggest_periods(other, 150, top=2)) == [12, 60]


def test_without_seasons_noise_or_shifts_the_series_is_the_trend_line():
    frame = two_period_series(1000, amplitudes=(0.0, 0.0), noise=0.0, level_shifts=(), trend=0.002)
    np.testing.assert_allclose(frame["value"], BASE_LEVEL + 0.002 * np.arange(1000))
    seasonal = two_period_series(level_shifts=(), trend=0.002)["value"].to_numpy()  # 52 weeks
    slope = np.polyfit(np.arange(len(seasonal)), seasonal, 1)[0]
    assert slope == pytest.approx(0.002, abs=2e-5)  # the seasons average out over whole weeks


def test_the_seasons_have_the_stated_shapes():
    frame = two_period_series(WEEKS, noise=0.0, level_shifts=(), trend=0.0, amplitudes=(1.0, 2.0))
    values = frame["value"].to_numpy() - BASE_LEVEL
    daily = np.sin(2 * np.pi * np.arange(WEEKS) / 24)
    weekend = frame.index.day_of_week >= 5  # the last two sevenths of each week, from a Monday start
    np.testing.assert_allclose(values - daily, np.where(weekend, 2 * (2 / 7 - 1), 2 * 2 / 7), atol=1e-12)
    assert np.mean(values - daily) == pytest.approx(0.0, abs=1e-12)


def test_level_shifts_happen_at_the_stated_steps():
    shifts = ((100, 3.0), (250, -1.5))
    with_shifts = two_period_series(400, level_shifts=shifts, seed=1)["value"].to_numpy()
    without = two_period_series(400, level_shifts=(), seed=1)["value"].to_numpy()
    expected = np.zeros(400)
    expected[100:] += 3.0
    expected[250:] -= 1.5
    np.testing.assert_allclose(with_shifts - without, expected, atol=1e-12)
    default = two_period_series(1000, seed=1)["value"].to_numpy() - two_period_series(1000, level_shifts=(), seed=1)["value"].to_numpy()
    assert np.flatnonzero(np.abs(np.diff(default)) > 1e-9).tolist() == [299, 899]  # +2 at 30 %, -2 at 90 % of the length


@pytest.mark.parametrize(("arguments", "message"), [
    ({"level_shifts": ((500, 1.0),)}, "level shift at step 500 is outside the series' 400 steps"),
    ({"noise": -1.0}, "noise=-1.0 must be 0 or more"),
    ({"periods": (1, 168)}, "periods >= 2"),
])
def test_bad_arguments_are_clear_errors(arguments, message):
    with pytest.raises(ForecasterError, match=message):
        two_period_series(400, **arguments)
