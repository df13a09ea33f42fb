"""Seasons suggested from the training span's autocorrelation, and the seasonal naive rows beside naive in every table."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from forecaster.cli import main
from forecaster.config import config_from_dict
from forecaster.data.seasonality import autocorrelation, suggest_periods
from forecaster.data.synthetic import two_period_series
from forecaster.errors import ForecasterError
from forecaster.models import ModelDims, SeasonalNaiveConfig, build_model
from forecaster.output.compare import compare_table
from forecaster.output.tables import seasonal_beside_naive
from forecaster.runs.backtest import run_backtest
from forecaster.runs.experiment import run_experiment, save_run


def test_autocorrelation_is_one_at_lag_zero_and_follows_a_cosine():
    values = np.sin(2 * np.pi * np.arange(2000) / 20)
    correlation = autocorrelation(values, 40)
    assert correlation[0] == pytest.approx(1.0)
    assert correlation[20] > 0.95 and correlation[10] < -0.95  # the biased estimator shrinks by (L - k) / L
    trend = autocorrelation(np.arange(500.0) + np.sin(np.arange(500)), 10)  # the straight line is removed first
    assert abs(trend[3] - np.cos(3) * 0.99) < 0.05


@pytest.mark.parametrize("period", [5, 7, 12, 50])
def test_a_single_sine_gives_its_period(period):
    values = np.sin(2 * np.pi * np.arange(1000) / period)
    assert suggest_periods(values, 60, top=3) == [period]
    assert suggest_periods(values, period) == [period]  # a season as long as the window is found too


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_both_seasons_of_the_synthetic_training_span_are_found_strongest_first(seed):
    training = two_period_series(seed=seed)["value"].to_numpy()[: int(0.7 * 52 * 168)]
    assert suggest_periods(training, 336, top=2) == [168, 24]
    assert suggest_periods(training, 336, top=1) == [168]
    assert suggest_periods(training, 100, top=2) == [24]  # the week does not fit in 100 steps


def test_noise_and_constants_have_no_season():
    for seed in range(3):
        assert suggest_periods(np.random.default_rng(seed).normal(size=5000), 200, top=3) == []
    assert suggest_periods(np.full(100, 3.0), 20) == []


@pytest.mark.parametrize(("length", "max_lag", "message"), [
    (100, 1, "max_lag=1 leaves none"),
    (100, 60, "100 values are too few to look for seasons up to 60 steps: at least 120"),
])
def test_impossible_searches_are_clear_errors(length, max_lag, message):
    with pytest.raises(ForecasterError, match=message):
        suggest_periods(np.sin(np.arange(length)), max_lag)


# --- period: auto in an experiment -------------------------------------------------------------------


def seasons_then_other(length: int = 3000, train_end: int = 2100) -> pd.DataFrame:
    """A series with a 24-step season in its first 2100 steps (the 70 % training span) and a 10-step one after."""
    steps = np.arange(length)
    values = np.where(steps < train_end, np.sin(2 * np.pi * steps / 24), 3 * np.sin(2 * np.pi * steps / 10))
    values = 10 + values + np.random.default_rng(0).normal(0, 0.1, length)
    return pd.DataFrame({"value": values}, index=pd.date_range("2024-01-01", periods=length, freq="h", name="date"))


def auto_config(**seasonal) -> dict:
    return {
        "data": {"transform": "level"},
        "windows": {"context": 48, "horizon": 4},
        "models": [{"kind": "linear"}, {"kind": "naive"}, {"kind": "seasonal_naive", "period": "auto", **seasonal}],
        "train": {"epochs": 1, "device": "cpu"},
    }


def test_auto_reads_the_training_span_only():
    frame = seasons_then_other()
    result = run_experiment(config_from_dict(auto_config()), frame=frame)
    assert result.runs["seasonal_naive"].model.period == 24
    assert result.config.models[2].config.period == 24  # the resolved config is what the folder records
    changed = frame.copy()
    changed.iloc[2100:, 0] = 10 + 5 * np.sin(2 * np.pi * np.arange(900) / 7)  # another season after training
    again = run_experiment(config_from_dict(auto_config()), frame=changed)
    assert again.runs["seasonal_naive"].model.period == 24


def test_auto_rank_two_and_an_absent_second_season():
    frame = two_period_series(24 * 7 * 20)
    config = auto_config(rank=2)
    config["windows"]["context"] = 200
    config["models"][2]["name"] = "second"
    result = run_experiment(config_from_dict(config), frame=frame)
    assert result.runs["second"].model.period == 24  # 168 first, 24 second
    with pytest.raises(ForecasterError, match=r"models.seasonal_naive.period=auto with rank 2: .* 1 season\(s\) up to 48 steps \(24\)"):
        run_experiment(config_from_dict(auto_config(rank=2)), frame=seasons_then_other())


def test_bad_periods_are_clear_errors():
    with pytest.raises(ForecasterError, match="period='weekly' should be int or one of: auto"):
        config_from_dict({"models": [{"kind": "seasonal_naive", "period": "weekly"}]})
    dims = ModelDims(context=48, horizon=1, channels=1, differenced=False, no_change=0.0)
    with pytest.raises(ValueError, match="period=168 must be between 1 and context=48: the window must hold one whole season"):
        build_model("seasonal_naive", SeasonalNaiveConfig(period=168), dims)
    with pytest.raises(ValueError, match="period='auto' must be replaced"):
        build_model("seasonal_naive", SeasonalNaiveConfig(period="auto"), dims)
    with pytest.raises(ForecasterError, match="rank=0 must be 1"):
        run_experiment(config_from_dict(auto_config(rank=0)), frame=seasons_then_other())


# --- seasonal naive rows beside the naive row ---------------------------------------------------------


def test_seasonal_rows_move_right_after_naive_wherever_naive_is():
    table = pd.DataFrame({"model": ["a", "s1", "naive", "b", "s2"],
                          "kind": ["linear", "seasonal_naive", "naive", "mlp", "seasonal_naive"]})
    assert list(seasonal_beside_naive(table)["model"]) == ["a", "naive", "s1", "s2", "b"]
    no_naive = table[table["kind"] != "naive"]
    assert list(seasonal_beside_naive(no_naive)["model"]) == list(no_naive["model"])


def test_run_backtest_and_compare_tables_show_seasonal_naive_after_naive(tmp_path):
    frame = two_period_series(24 * 7 * 12)
    raw = auto_config()
    raw["models"].append({"kind": "seasonal_naive", "name": "seasonal_naive_24", "period": 24})
    config = config_from_dict(raw)
    result = run_experiment(config, frame=frame)
    assert list(result.metrics["model"]) == ["linear", "naive", "seasonal_naive", "seasonal_naive_24"]
    summary = run_backtest(config, folds=2, frame=frame).summary()
    assert list(summary["model"]) == ["linear", "naive", "seasonal_naive", "seasonal_naive_24"]
    save_run(result, tmp_path / "run")
    table = compare_table([tmp_path / "run"])
    assert list(table.index) == ["linear", "naive", "seasonal_naive", "seasonal_naive_24"]


def test_the_cli_says_which_season_auto_chose(tmp_path, capsys):
    path = tmp_path / "series.csv"
    seasons_then_other().to_csv(path)
    code = main(["run", "--data", str(path), "--set", "data.transform=level", "--set", "windows.context=48",
                 "--set", "models=naive,seasonal_naive", "--set", "models.seasonal_naive.period=auto",
                 "--out", str(tmp_path / "out"), "--quiet"])
    assert code == 0
    assert "seasonal_naive: period auto -> 24 steps, from the training span's autocorrelation" in capsys.readouterr().out
    assert "period: 24" in (tmp_path / "out" / "config.yaml").read_text()
