"""Several targets (``data.targets``), the benchmark protocol (``data.rows``, a split by row counts), and
the scores every run reports in standardised units (``mse_scaled``, ``mae_scaled``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml

from forecaster.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from forecaster.cli import main
from forecaster.config import config_from_dict
from forecaster.data.features import DataConfig, prepare_series
from forecaster.data.windows import WindowConfig, split_bounds
from forecaster.errors import ForecasterError
from forecaster.evaluation.metrics import pool_channels
from forecaster.reuse.embed import embed_series
from forecaster.reuse.forecast import Forecaster
from forecaster.runs.experiment import run_experiment, save_run

COLUMNS = ["load", "temperature", "price"]


@pytest.fixture(scope="module")
def hourly() -> pd.DataFrame:
    """Three positive hourly columns with a daily cycle, 300 rows, and a text column."""
    rng = np.random.default_rng(0)
    dates = pd.date_range("2024-01-01", periods=300, freq="h")
    hours = np.arange(300)
    frame = pd.DataFrame({
        "load": 50 + 10 * np.sin(2 * np.pi * hours / 24) + rng.normal(0, 1, 300),
        "temperature": 20 + 5 * np.cos(2 * np.pi * hours / 24) + rng.normal(0, 0.5, 300),
        "price": 100 + np.cumsum(rng.normal(0, 1, 300)),
        "note": ["x"] * 300,
    }, index=dates)
    return frame


def config(targets, **windows) -> dict:
    return {
        "data": {"source": "unused", "targets": targets, "transform": "level"},
        "windows": {"context": 24, "horizon": 6, **windows},
        "train": {"epochs": 1, "batch_size": 32, "device": "cpu"},
        "models": ["naive", "linear"],
    }


def test_targets_all_takes_every_numeric_column_in_order(hourly):
    series = prepare_series(hourly, DataConfig(targets="all", transform="level"))
    assert series.targets == 3 and series.target_names == tuple(COLUMNS)
    assert series.levels.shape == (300, 3)
    np.testing.assert_array_equal(series.channel(1).levels, hourly["temperature"].to_numpy())


def test_one_named_target_is_the_column_shortcut(hourly):
    named = prepare_series(hourly, DataConfig(targets="price", transform="level"))
    shortcut = prepare_series(hourly, DataConfig(column="price", transform="level"))
    assert named.targets == 1 and named.levels.shape == (300,)
    np.testing.assert_array_equal(named.frames, shortcut.frames)


@pytest.mark.parametrize(("targets", "message"), [
    (["load", "wind"], "data.targets has 'wind', not a column of the series; columns: load, temperature, price, note"),
    (["load", "load"], "names 'load' twice"),
    ([], "names no column"),
])
def test_bad_targets_are_one_line_errors(hourly, targets, message):
    with pytest.raises(ForecasterError, match=message):
        prepare_series(hourly, DataConfig(targets=tuple(targets), transform="level"))


def test_all_on_a_file_without_numbers_is_an_error(hourly):
    with pytest.raises(ForecasterError, match="data.targets=all, but no column holds numbers; columns: note"):
        prepare_series(hourly[["note"]], DataConfig(targets="all", transform="level"))


def test_column_and_targets_together_are_refused():
    with pytest.raises(ForecasterError, match="both name targets; set one of them"):
        config_from_dict({"data": {"column": "a", "targets": ["a", "b"]}})


def test_rows_reads_the_first_rows_and_refuses_more_than_there_are(hourly):
    assert len(prepare_series(hourly, DataConfig(column="load", transform="level", rows=100)).frames) == 100
    with pytest.raises(ForecasterError, match="data.rows=400, but the series has 300 rows"):
        prepare_series(hourly, DataConfig(column="load", transform="level", rows=400))


def test_row_counts_split_as_the_benchmark_does():
    # ETT's protocol in small: test windows are every window whose targets lie after train + val rows.
    config = WindowConfig(context=24, horizon=6, train_rows=180, val_rows=60)
    bounds = split_bounds(300, config)
    assert (bounds.train_end, bounds.val_end, bounds.length) == (180, 240, 300)
    # A differenced series lost its first row: the counts stay counts of the user's rows.
    assert split_bounds(299, config, lost_rows=1).train_end == 179


def test_row_counts_that_leave_no_test_span_are_an_error():
    with pytest.raises(ForecasterError, match="at least 246 rows are needed"):
        split_bounds(245, WindowConfig(context=24, horizon=6, train_rows=180, val_rows=60))
    with pytest.raises(ForecasterError, match="set both"):
        WindowConfig(train_rows=10)


def test_test_windows_under_row_counts_are_the_benchmark_count(hourly):
    result = run_experiment(config_from_dict(config("all", train_rows=180, val_rows=60)), frame=hourly)
    # The benchmark loaders score test_rows - horizon + 1 windows (2881 - H for ETT's 2880 test rows + 1).
    assert len(result.data.windows["test"]) == 60 - 6 + 1


def test_each_target_is_scored_as_if_it_were_the_only_one(hourly):
    result = run_experiment(config_from_dict(config("all")), frame=hourly)
    alone = run_experiment(config_from_dict(config("temperature")), frame=hourly)
    ours = result.metrics_by_channel.query("channel == 'temperature' and model == 'naive'").iloc[0]
    theirs = alone.metrics.query("model == 'naive'").iloc[0]
    for key in ("mae", "rmse", "mse_scaled", "mae_scaled", "rel_mae", "mase"):
        assert ours[key] == pytest.approx(theirs[key], rel=1e-12)


def test_pooled_metrics_average_scale_free_scores_and_leave_units_empty(hourly):
    result = run_experiment(config_from_dict(config("all")), frame=hourly)
    pooled = result.metrics.set_index("model")
    channels = result.metrics_by_channel
    for model in ("naive", "linear"):
        own = channels[channels["model"] == model]
        assert pooled.loc[model, "mse_scaled"] == pytest.approx(own["mse_scaled"].mean())
        assert pooled.loc[model, "rel_mae"] == pytest.approx(own["rel_mae"].mean())
        assert np.isnan(pooled.loc[model, "mae"])  # load and price errors do not add up
    assert list(channels["channel"].unique()) == COLUMNS


def test_pool_channels_by_hand():
    rows = [{"step": 1, "mae": 2.0, "mse_scaled": 0.5, "coverage_80": 0.8, "interval_method": "conformal"},
            {"step": 1, "mae": 4.0, "mse_scaled": 0.25, "coverage_80": 0.7, "interval_method": "conformal"}]
    pooled = pool_channels(rows)
    assert pooled["step"] == 1 and pooled["interval_method"] == "conformal"
    assert pooled["mse_scaled"] == 0.375 and pooled["coverage_80"] == pytest.approx(0.75)
    assert np.isnan(pooled["mae"])


def test_predictions_name_the_channel_and_match_the_actual_values(hourly):
    result = run_experiment(config_from_dict(config("all")), frame=hourly)
    predictions = result.predictions
    windows = len(result.data.windows["test"])
    assert list(predictions.columns[:5]) == ["date", "origin", "step", "channel", "actual"]
    assert len(predictions) == windows * 6 * 3
    price = predictions[predictions["channel"] == "price"]
    np.testing.assert_array_equal(price["actual"].to_numpy(), hourly.loc[price["date"], "price"].to_numpy())


def test_a_run_with_several_targets_writes_metrics_by_channel(hourly, tmp_path):
    result = run_experiment(config_from_dict(config("all")), frame=hourly)
    folder = save_run(result, tmp_path / "run")
    by_channel = pd.read_csv(folder / "metrics_by_channel.csv")
    assert len(by_channel) == 2 * 3
    assert "channel" in pd.read_csv(folder / "predictions.csv").columns


def test_mse_scaled_is_the_error_in_training_standard_deviations(hourly):
    result = run_experiment(config_from_dict(config("load")), frame=hourly)
    predictions = result.predictions
    train = result.data.series.levels[: result.data.bounds.train_end]
    errors = (predictions["naive"] - predictions["actual"]) / train.std()
    naive = result.metrics.set_index("model").loc["naive"]
    assert naive["mse_scaled"] == pytest.approx(float(np.mean(errors**2)), rel=1e-12)
    assert naive["mae_scaled"] == pytest.approx(float(np.mean(np.abs(errors))), rel=1e-12)


def test_forecast_and_embed_read_a_checkpoint_of_several_targets(hourly, tmp_path):
    """A model of K targets reads its K target columns first, as trained. forecast gives each target's next values
    (a row per date and target; no intervals, which runs calibrate per target alone); embed needs nothing more
    (transfer: tests/test_transfer.py)."""
    raw = config("all")
    raw["models"] = ["naive", {"kind": "transformer", "d_model": 8, "n_heads": 2, "n_layers": 1, "d_ff": 16}]
    result = run_experiment(config_from_dict(raw), frame=hourly)
    checkpoint: Checkpoint = result.checkpoint("transformer")
    pipeline = checkpoint.pipeline
    assert pipeline.data_config().targets == tuple(COLUMNS) and pipeline.data_config(column="demand").targets[0] == "demand"
    table = Forecaster.from_checkpoint(checkpoint).forecast(hourly)
    assert list(table.columns) == ["date", "target", "forecast", "lo_80", "hi_80", "lo_95", "hi_95"]
    assert list(table["target"].unique()) == COLUMNS
    for k, name in enumerate(COLUMNS):  # each target's bounds from its own run's calibration, around its own forecast
        own = result.runs["transformer"].channels[name].intervals.calibration
        assert checkpoint.intervals.of_target(k) == own
        rows = table[table["target"] == name]
        change = rows["forecast"].to_numpy() - hourly[name].iloc[-1]  # level targets: the change is a difference
        np.testing.assert_allclose(rows["hi_80"] - hourly[name].iloc[-1], change + np.asarray(own.radii[0]), rtol=1e-9)
    assert load_checkpoint(save_checkpoint(checkpoint, tmp_path / "calibrated.pt")).intervals == checkpoint.intervals
    model = checkpoint.model()  # by hand: the last window scaled as in training, each target unscaled by its own statistics
    window = (hourly[COLUMNS].to_numpy()[-24:] - np.array(checkpoint.pipeline.offset)) / np.array(checkpoint.pipeline.scale)
    with torch.no_grad():
        scaled = model(torch.tensor(window, dtype=torch.float32)[None]).double().numpy()[0]  # (H, K)
    for k, name in enumerate(COLUMNS):
        expected = scaled[:, k] * checkpoint.pipeline.scale[k] + checkpoint.pipeline.offset[k]
        np.testing.assert_allclose(table.loc[table["target"] == name, "forecast"], expected, rtol=1e-6)
    embeddings = embed_series(checkpoint.encoder(), checkpoint.pipeline, hourly, context=checkpoint.dims.context)
    assert len(embeddings) == len(hourly) - 24 + 1
    np.testing.assert_allclose(embeddings["next_change"].iloc[:-1], hourly["load"].shift(-1).iloc[23:-1])  # the first target's
    path = save_checkpoint(checkpoint, tmp_path / "transformer.pt")
    data = tmp_path / "hourly.csv"
    hourly.drop(columns="note").rename_axis("date").to_csv(data)
    assert main(["embed", str(path), "--data", str(data), "--out", str(tmp_path / "emb")]) == 0
    assert main(["forecast", str(path), "--data", str(data), "--out", str(tmp_path / "next")]) == 0
    assert len(pd.read_csv(tmp_path / "next" / "forecast.csv")) == 6 * 3


@pytest.fixture
def hourly_config_file(tmp_path, hourly) -> Path:
    path = tmp_path / "hourly.csv"
    hourly.drop(columns="note").rename_axis("date").to_csv(path)
    raw = config("all")
    raw["data"]["source"] = str(path)
    file = tmp_path / "hourly.yaml"
    file.write_text(yaml.safe_dump(raw))
    return file


def test_seeds_of_several_targets_print_the_standardised_scores(hourly_config_file, tmp_path, capsys):
    assert main(["run", str(hourly_config_file), "--seeds", "0,1", "--out", str(tmp_path / "seeds"), "--quiet"]) == 0
    assert "mse_sc" in capsys.readouterr().out
    assert (tmp_path / "seeds" / "seed-1" / "metrics_by_channel.csv").is_file()


def test_a_backtest_of_several_targets_scores_and_tests_each_target_and_pools_them(hourly_config_file, tmp_path, capsys):
    out = tmp_path / "bt"
    assert main(["backtest", str(hourly_config_file), "--folds", "2", "--set", "models=naive,linear", "--out", str(out),
                 "--quiet"]) == 0
    folds = pd.read_csv(out / "fold_metrics.csv")
    assert list(folds["channel"].unique()) == ["load", "temperature", "price", "all"]
    summary = pd.read_csv(out / "summary.csv").set_index(["channel", "model"])
    assert summary["runs"].eq(2).all()
    for channel in ("load", "temperature", "price"):  # each target's mean over folds of its own scores
        own = folds[(folds["channel"] == channel) & (folds["model"] == "linear")]
        assert summary.loc[(channel, "linear"), "rel_mae_mean"] == pytest.approx(own["rel_mae"].mean())
        assert np.isfinite(summary.loc[(channel, "linear"), "dm_squared_vs_naive_p"])
    assert np.isnan(summary.loc[("all", "linear"), "dm_squared_vs_naive_p"])
    predictions = pd.read_csv(out / "predictions.csv")
    assert set(predictions["channel"]) == {"load", "temperature", "price"}


def test_a_global_run_of_several_targets_pools_every_series_and_target_and_forecasts_each(hourly_config_file, tmp_path, capsys):
    source = yaml.safe_load(hourly_config_file.read_text())["data"]["source"]
    other = tmp_path / "other.csv"
    frame = pd.read_csv(source, index_col="date")
    (frame.iloc[40:] * 1.5).to_csv(other)  # another series: shorter, other units, the same columns
    out = tmp_path / "global"
    assert main(["run", str(hourly_config_file), "--set", f"data.source=[{source},{other}]", "--set", "models=naive,linear",
                 "--out", str(out), "--quiet"]) == 0
    metrics, by_channel = pd.read_csv(out / "metrics.csv"), pd.read_csv(out / "metrics_by_channel.csv")
    assert set(by_channel["series"]) == {"hourly", "other"} and set(by_channel["channel"]) == {"load", "temperature", "price"}
    predictions = pd.read_csv(out / "predictions.csv")
    points = predictions.groupby(["series", "channel"]).size()  # every unit's test points (windows x steps)
    for model in ("naive", "linear"):
        units = by_channel[by_channel["model"] == model].set_index(["series", "channel"])["mase"]
        pooled = metrics[(metrics["series"] == "all") & (metrics["model"] == model)]["mase"].item()
        # The pooled MASE is the mean scaled error over every point of every (series, target): a point-weighted mean.
        assert pooled == pytest.approx(float(np.average(units, weights=points.loc[units.index])))
    capsys.readouterr()
    checkpoint = out / "checkpoints" / "linear.pt"
    assert main(["forecast", str(checkpoint), "--data", str(other), "--out", str(tmp_path / "next")]) == 0
    table = pd.read_csv(tmp_path / "next" / "forecast.csv")
    assert list(table["target"].unique()) == ["load", "temperature", "price"]
