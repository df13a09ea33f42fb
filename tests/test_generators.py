"""Generated series do what the pretraining pool needs: the same config the same values, lengths and frequencies as
asked, seasons where the priors put them, convex mixes, one-line errors, and tables that read_long reads."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from forecaster.data.generators import (
    SEASONS,
    GeneratorConfig,
    compose,
    constant,
    generate,
    gp_sample,
    mix,
    periodic,
    season_factor,
    trend_season,
)
from forecaster.data.panel import read_long
from forecaster.data.seasonality import autocorrelation
from forecaster.errors import ForecasterError

KINDS = ("kernel_synth", "trend_season")
FREQUENCIES = tuple(SEASONS)


@pytest.mark.parametrize("kind", KINDS)
def test_the_same_config_gives_bit_identical_series_and_another_seed_others(kind):
    config = GeneratorConfig(kind, 12, max_length=200, seed=7)
    first, again = generate(config), generate(config)
    pd.testing.assert_frame_equal(first, again, check_exact=True)
    assert np.array_equal(first["y"].to_numpy(), again["y"].to_numpy())
    other = generate(dataclasses.replace(config, seed=8))
    assert len(other) != len(first) or not np.array_equal(other["y"].to_numpy(), first["y"].to_numpy())


@pytest.mark.parametrize("kind", KINDS)
def test_series_k_is_the_same_whatever_the_number_of_series(kind):
    few = generate(GeneratorConfig(kind, 4, max_length=200, seed=3))
    many = generate(GeneratorConfig(kind, 15, max_length=200, seed=3))
    pd.testing.assert_frame_equal(many[many["unique_id"].isin(few["unique_id"])].reset_index(drop=True), few,
                                  check_exact=True)


@pytest.mark.parametrize("kind", KINDS)
def test_lengths_frequencies_ids_and_values_are_as_asked(kind):
    table = generate(GeneratorConfig(kind, 60, min_length=20, max_length=90))
    assert list(table.columns) == ["unique_id", "ds", "y"] and table["y"].dtype == np.float64
    assert table["unique_id"].iloc[0] == f"{kind}-000000" and table["unique_id"].nunique() == 60
    assert np.isfinite(table["y"]).all()
    if kind == "trend_season":
        assert (table["y"] > 0).all()  # every factor of the prior is positive
    lengths = table.groupby("unique_id").size()
    assert lengths.between(20, 90).all() and lengths.nunique() > 10  # drawn, not fixed
    used = set()
    for _, series in table.groupby("unique_id"):
        dates = pd.DatetimeIndex(series["ds"])
        frequency = next(frequency for frequency in FREQUENCIES  # dates from 2000-01-01 at the series' frequency
                         if dates.equals(pd.date_range("2000-01-01", periods=len(dates), freq=frequency, unit="us")))
        used.add(frequency)
    assert used == set(FREQUENCIES)


@pytest.mark.parametrize(("period", "smoothness"), [(24, 0.5), (7, 1.0), (12, 2.0)])
def test_a_periodic_kernel_gives_a_sample_whose_autocorrelation_peaks_at_its_period(period, smoothness):
    for seed in range(3):
        values = gp_sample(periodic(period, smoothness), period * 12, np.random.default_rng(seed))
        correlation = autocorrelation(values, period + period // 2)
        assert int(np.argmax(correlation[2:])) + 2 == period
        np.testing.assert_allclose(values[period:], values[:-period], atol=1e-2 * np.abs(values).max())


def test_compose_sums_or_multiplies_the_kernels():
    steps = np.arange(5.0)
    assert compose([constant(2.0)], np.random.default_rng(0))(steps) == pytest.approx(np.full((5, 5), 4.0))
    combined = {float(compose([constant(2.0), constant(3.0)], np.random.default_rng(seed))(steps)[0, 0]) for seed in range(20)}
    assert combined == {13.0, 36.0}  # 4 + 9 or 4 * 9


def test_the_trend_season_prior_shows_its_season_at_its_period():
    steps = np.arange(120.0)
    season = season_factor(steps, 12.0, np.random.default_rng(0))
    np.testing.assert_allclose(season[12:], season[:-12], atol=1e-12)  # a season repeats exactly
    assert season.min() >= 0.5 and season.max() <= 1.5 and np.ptp(season) > 0
    # The whole prior, one season each (nothing else to mask it), its log (trend x season: the season adds to a trend).
    # A season of amplitude 0.05 under noise of 0.25 is meant to be hard to see: most series, not all, show it.
    for frequency, period in (("MS", 12), ("QS", 4)):
        lifts = []  # how much more alike values a season apart are than values half a season apart
        for seed in range(20):
            correlation = autocorrelation(np.log(trend_season(period * 30, frequency, np.random.default_rng(seed))), period)
            lifts.append(correlation[period] - correlation[period // 2])
        assert np.mean(np.array(lifts) > 0) >= 0.9 and np.median(lifts) > 0.5, (frequency, lifts)

def test_a_mix_of_one_series_is_that_series_scaled():
    series = np.sin(np.arange(100) / 5.0) + 3.0
    for mixed in mix([series, series.copy(), series.copy()], 10, seed=2):
        assert 50 <= len(mixed) <= 100  # from half the shortest series to all of it
        windows = [series[start:start + len(mixed)] for start in range(101 - len(mixed))]
        assert any(np.allclose(mixed, window / np.abs(window).mean(), rtol=0, atol=1e-12) for window in windows)

def test_mix_weights_are_convex():
    # Constants scale to 1 (or -1): a mix of positive constants is 1 wherever its weights sum to 1.
    for mixed in mix([np.full(40, 3.0), np.full(60, 0.5), np.full(50, 200.0)], 20, seed=1):
        np.testing.assert_allclose(mixed, 1.0)
    # +1 and -1 mixed: 2 w - 1 for the weight w of the first, within [-1, 1] since weights are not negative.
    levels = [float(mixed[0]) for mixed in mix([np.full(30, 4.0), np.full(30, -2.0)], 50, seed=0)]
    assert all(-1.0 <= level <= 1.0 for level in levels) and any(-0.99 < level < 0.99 for level in levels)
    assert all(15 <= len(mixed) <= 30 for mixed in mix([np.full(30, 4.0)], 20))


def test_mix_is_seeded():
    pool = [np.random.default_rng(index).normal(size=80) for index in range(6)]
    for first, again in zip(mix(pool, 8, seed=5), mix(pool, 8, seed=5)):
        assert np.array_equal(first, again)


@pytest.mark.parametrize("values", [[], [np.zeros((3, 2))], [np.array([])]])
def test_mix_refuses_what_is_not_a_list_of_series(values):
    with pytest.raises(ForecasterError, match="mix needs"):
        mix(values, 1)


@pytest.mark.parametrize(("changes", "named"), [
    ({"kind": "gaussian"}, "'gaussian'"),
    ({"series": 0}, "series=0"),
    ({"min_length": 2}, "min_length=2"),
    ({"min_length": 50, "max_length": 40}, "max_length=40"),
    ({"max_length": 5000}, "max_length=5000"),
    ({"frequencies": ()}, "frequencies=()"),
    ({"frequencies": "MS"}, "frequencies='MS'"),
    ({"frequencies": ("D", "B")}, "'B'"),
    ({"max_kernels": 0}, "max_kernels=0"),
    ({"seed": -1}, "seed=-1"),
    ({"series": 2.5}, "series=2.5"),
])
def test_a_bad_config_is_one_line_naming_the_value(changes, named):
    with pytest.raises(ForecasterError) as error:
        GeneratorConfig(**{"kind": "kernel_synth", "series": 3, **changes})
    assert named in str(error.value) and "\n" not in str(error.value)


@pytest.mark.parametrize("frequency", FREQUENCIES)
@pytest.mark.parametrize("kind", KINDS)
def test_read_long_reads_the_table(kind, frequency):
    # One frequency per table, as read_long takes them; max_length 512 puts yearly dates past 2262 (microseconds).
    table = generate(GeneratorConfig(kind, 4, min_length=500, max_length=512, frequencies=(frequency,)))
    frames = read_long(table)
    assert list(frames) == list(table["unique_id"].unique())
    for label, frame in frames.items():
        rows = table[table["unique_id"] == label]
        np.testing.assert_array_equal(frame["y"].to_numpy(), rows["y"].to_numpy())
        assert frame.index.equals(pd.DatetimeIndex(rows["ds"], name="date"))
