"""The synthetic two-season series does what it claims: seasons in its autocorrelation, trend, shifts, seeds."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from forecaster.cli import main
from forecaster.config import config_from_dict
from forecaster.data.seasonality import autocorrelation, suggest_periods
from forecaster.data.sources import load_prices
from forecaster.data.synthetic import BASE_LEVEL, two_period_series
from forecaster.errors import ForecasterError
from forecaster.runs.experiment import run_experiment, save_run

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


# --- the configs and windows built on it, end to end -------------------------------------------------

REPO = Path(__file__).resolve().parent.parent
SMALL = ["--set", "data.end=2024-03-01", "--set", "train.epochs=1", "--set", "train.batch_size=256",
         "--set", "models.transformer.d_model=8", "--set", "models.transformer.n_heads=2",
         "--set", "models.transformer.d_ff=16", "--set", "models.mlp.hidden=[8]"]


@pytest.mark.slow
def test_the_seasonal_config_runs_with_a_long_and_a_short_window(tmp_path, capsys):
    out = tmp_path / "long"
    assert main(["run", str(REPO / "experiments" / "seasonal.yaml"), *SMALL, "--out", str(out), "--quiet"]) == 0
    metrics = pd.read_csv(out / "metrics.csv")
    assert list(metrics["model"]) == ["naive", "seasonal_naive_24", "seasonal_naive_168", "linear", "mlp", "transformer"]
    assert (metrics["status"] == "ok").all() and metrics["rel_mae"].notna().all()
    assert pd.read_csv(out / "metrics_by_step.csv")["step"].max() == 24
    assert {"attention_transformer.png", "rel_mae_by_step.png"} <= {path.name for path in out.iterdir()}
    short = tmp_path / "short"
    code = main(["run", str(REPO / "experiments" / "seasonal.yaml"), *SMALL, "--set", "windows.context=48",
                 "--set", "models=naive,seasonal_naive_24,linear,mlp,transformer", "--out", str(short), "--quiet"])
    assert code == 0
    long_test = pd.read_csv(out / "predictions.csv")[["date", "step"]]
    assert long_test.equals(pd.read_csv(short / "predictions.csv")[["date", "step"]])  # the same test points
    assert main(["run", str(REPO / "experiments" / "seasonal.yaml"), *SMALL, "--set", "windows.context=48",
                 "--out", str(tmp_path / "bad"), "--quiet"]) == 1
    assert "period=168 must be between 1 and context=48" in capsys.readouterr().err


def test_a_96_step_forecast_runs_end_to_end_with_metrics_for_every_step(tmp_path):
    raw = {
        "data": {"source": "synthetic", "transform": "level", "end": "2024-03-01"},
        "windows": {"context": 192, "horizon": 96},
        "train": {"epochs": 1, "batch_size": 256, "device": "cpu"},
        "models": [{"kind": "naive"}, {"kind": "linear"}, {"kind": "seasonal_naive", "period": 168},
                   {"kind": "transformer", "d_model": 8, "n_heads": 2, "d_ff": 16, "n_layers": 1, "patch": 24}],
    }
    result = run_experiment(config_from_dict(raw))
    folder = save_run(result, tmp_path / "h96")
    steps = pd.read_csv(folder / "metrics_by_step.csv")
    assert sorted(steps.groupby("model")["step"].max().unique()) == [96]
    assert len(steps) == 4 * 96
    naive_steps = steps[steps["model"] == "naive"]["rel_mae"]
    assert np.allclose(naive_steps, 1.0)  # every step is scored against the naive forecast of that step
    predictions = pd.read_csv(folder / "predictions.csv")
    assert len(predictions) == len(result.data.windows["test"]) * 96
    assert (folder / "rel_mae_by_step.png").is_file()


@pytest.mark.parametrize("context", [512, 1024])
def test_every_model_kind_trains_on_long_windows(context):
    raw = {
        "data": {"transform": "level"},
        "windows": {"context": context, "horizon": 4, "train_fraction": 0.8, "val_fraction": 0.1},
        "train": {"epochs": 1, "batch_size": 64, "device": "cpu"},
        "models": [{"kind": "naive"}, {"kind": "seasonal_naive", "period": 168}, {"kind": "linear"},
                   {"kind": "mlp", "hidden": [8]}, {"kind": "rnn", "hidden_size": 8},
                   {"kind": "transformer", "d_model": 8, "n_heads": 2, "d_ff": 16, "patch": 16}],
    }
    frame = two_period_series(int(context * 1.25) + 200)
    result = run_experiment(config_from_dict(raw), frame=frame)
    assert (result.metrics["status"] == "ok").all() and result.metrics["rel_mae"].notna().all()
    assert result.runs["seasonal_naive"].model.period == 168
    assert result.runs["transformer"].model.encoder.positional.table.shape[0] == context // 16
