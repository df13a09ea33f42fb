"""Global training on several series: windows never cross series, each series split and scaled on its own,
metrics per series and pooled, and the CLI end to end."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml

from forecaster.checkpoint import load_checkpoint, load_model, save_checkpoint
from forecaster.cli import main
from forecaster.config import config_from_dict, read_config
from forecaster.data.features import DataConfig
from forecaster.data.windows import WindowConfig, pool_windows
from forecaster.errors import ForecasterError
from forecaster.reuse.forecast import Forecaster
from forecaster.runs import multiseries, progress
from forecaster.runs.experiment import run_experiment, save_run
from forecaster.runs.fitting import score_model
from forecaster.runs.multiseries import prepare_all, run_global, save_global
from forecaster.runs.prepare import prepare_data
from forecaster.runs.series import POOLED, figure_series, series_labels


def random_walk(length: int, *, level: float, seed: int, start: str = "2001-01-01") -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    close = level * np.exp(np.cumsum(rng.normal(0, 0.01, length)))
    return pd.DataFrame({"Close": close}, index=pd.bdate_range(start, periods=length, name="date"))


@pytest.fixture
def two_csvs(tmp_path: Path) -> list[Path]:
    """Two price series of different lengths, levels and dates, as Yahoo-layout CSVs."""
    paths = []
    for name, length, level, seed in [("alpha", 300, 100.0, 1), ("beta", 220, 5000.0, 2)]:
        path = tmp_path / f"{name}.csv"
        random_walk(length, level=level, seed=seed).rename_axis("Date").to_csv(path)
        paths.append(path)
    return paths


def global_config(sources: list[Path], **models) -> dict:
    return {
        "data": {"source": [str(path) for path in sources], "transform": "log_return"},
        "windows": {"context": 8, "horizon": 2},
        "train": {"epochs": 2, "batch_size": 32, "patience": 2, "device": "cpu", "seed": 0},
        "models": [{"kind": "naive"}, {"kind": "linear"},
                   {"kind": "transformer", "d_model": 8, "n_heads": 2, "n_layers": 1, "d_ff": 16}],
    }


def test_pooled_windows_never_cross_series_and_equal_each_series_windows():
    # Series k's values are k * 1000 + step, so every value names its series and its step.
    config = WindowConfig(context=5, horizon=3)
    per_series = []
    for k, length in enumerate([40, 31, 55]):
        values = torch.arange(length, dtype=torch.float32)[:, None] + 1000 * k  # (L, 1)
        prepared = prepare_data(
            pd.DataFrame({"x": values[:, 0].numpy() + 1}, index=pd.date_range("2000", periods=length, name="date")),
            DataConfig(column="x", transform="level"), config,
        )
        per_series.append({split: dataclasses.replace(windows, series=values) for split, windows in prepared.windows.items()})
    pooled = pool_windows(per_series)
    for split in ("train", "val", "test"):
        assert len(pooled[split]) == sum(len(splits[split]) for splits in per_series)
        batch = pooled[split].batch(torch.arange(len(pooled[split])))
        inputs, targets = batch.past, batch.targets[..., 0]  # (N, T, 1), (N, H)
        whole = torch.cat([inputs[..., 0], targets], dim=1)  # (N, T + H): inputs then targets of each window
        series_of = torch.div(whole, 1000, rounding_mode="floor")
        assert (series_of == series_of[:, :1]).all(), split  # one series per window, inputs and targets
        assert (whole.diff(dim=1) == 1).all(), split  # consecutive steps of that series: nothing skipped
        expected = torch.cat([torch.cat([s[split].inputs[..., 0], s[split].targets[..., 0]], dim=1) for s in per_series])
        assert torch.equal(whole, expected)


def test_each_series_is_split_and_scaled_on_its_own_training_span(two_csvs):
    config = config_from_dict(global_config(two_csvs))
    prepared = prepare_all(config)
    assert list(prepared) == ["alpha", "beta"]
    for path, data in zip(two_csvs, prepared.values()):
        alone = prepare_data(pd.read_csv(path, index_col=0, parse_dates=True).rename_axis("date"),
                             dataclasses.replace(config.data, source=str(path)), config.windows)
        assert data.bounds == alone.bounds
        assert data.pipeline.scale == alone.pipeline.scale


def test_global_run_scores_each_series_as_that_series_alone_and_pools_scale_free(two_csvs):
    config = config_from_dict(global_config(two_csvs))
    result = run_global(config)
    metrics = result.metrics
    assert list(metrics.columns[:3]) == ["series", "model", "kind"]
    assert list(metrics["series"].unique()) == ["alpha", "beta", POOLED]
    naive = metrics[metrics["model"] == "naive"].set_index("series")
    assert (naive["rel_mae"] == 1.0).all()  # per series and pooled
    # The per-series scores are what the same trained model scores on that series alone.
    model = result.runs["transformer"].model
    for part in result.parts.values():
        alone = score_model(part.data, part.runs["transformer"].spec, model, None, device=torch.device("cpu"),
                            intervals=config.intervals)
        assert alone.metrics == pytest.approx(part.runs["transformer"].metrics, nan_ok=True)
    # Pooled MASE: the mean scaled error over every test point, i.e. series weighted by their points.
    by_series = metrics[metrics["model"] == "linear"].set_index("series")
    points = {label: part.data.windows["test"].count for label, part in result.parts.items()}
    expected = sum(by_series.loc[label, "mase"] * n for label, n in points.items()) / sum(points.values())
    assert by_series.loc[POOLED, "mase"] == pytest.approx(expected)
    assert np.isnan(by_series.loc[POOLED, "mae"])  # an MAE over two series' units means nothing


def test_global_training_sees_the_windows_of_every_series(two_csvs):
    # Trained on the pool, the model differs from one trained on the first series alone with the same seed.
    config = config_from_dict(global_config(two_csvs))
    alone = run_global(dataclasses.replace(config, data=dataclasses.replace(config.data, source=(str(two_csvs[0]),))))
    pooled = run_global(config)
    pooled_history = pooled.history[pooled.history["model"] == "linear"]
    alone_history = alone.history[alone.history["model"] == "linear"]
    assert not np.allclose(pooled_history["train_loss"], alone_history["train_loss"])


def test_source_lists_in_yaml_and_overrides(two_csvs):
    config = read_config(None, [f"data.source=[{two_csvs[0]}, {two_csvs[1]}]"])
    assert config.data.sources == tuple(str(path) for path in two_csvs)
    assert read_config(None, ["data.source=sp500"]).data.source == "sp500"  # one source stays a string
    with pytest.raises(ForecasterError, match="lists no series"):
        _ = read_config(None, ["data.source=[]"]).data.sources
    assert series_labels(("sp500", "a/x.csv", "b/x.csv", "^GSPC")) == ["sp500", "x", "x_2", "^GSPC"]


def test_series_with_different_channels_cannot_share_a_model(two_csvs, tmp_path):
    other = tmp_path / "gamma.csv"
    random_walk(200, level=10.0, seed=3).assign(Volume=1.0).rename_axis("Date").to_csv(other)
    raw = global_config([two_csvs[0], other])
    raw["data"]["features"] = ["Volume"]
    with pytest.raises(ForecasterError, match="series 'alpha'.*Volume"):
        run_global(config_from_dict(raw))


def test_cli_global_run_writes_per_series_and_pooled_results(two_csvs, tmp_path, capsys):
    out = tmp_path / "global"
    config_path = tmp_path / "global.yaml"
    config_path.write_text(yaml.safe_dump(global_config(two_csvs)))
    assert main(["run", str(config_path), "--out", str(out), "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert "series alpha" in printed and "series beta" in printed and f"series {POOLED}" in printed
    files = {path.name for path in out.iterdir()}
    assert {"metrics.csv", "predictions.csv", "metrics_by_step.csv", "rel_mae.png", "forecasts_alpha.png",
            "forecasts_beta.png", "attention_transformer_alpha.png"} <= files
    predictions = pd.read_csv(out / "predictions.csv")
    assert set(predictions["series"]) == {"alpha", "beta"}
    checkpoint = load_checkpoint(out / "checkpoints" / "transformer.pt")
    assert [record.label for record in checkpoint.pipeline.series] == ["alpha", "beta"]
    load_model(out / "checkpoints" / "transformer.pt")  # rebuilds as any checkpoint does


def test_figures_series_draws_the_first_n_or_the_named_series_and_refuses_an_unknown_label(two_csvs, tmp_path, capsys,
                                                                                          monkeypatch):
    gamma = tmp_path / "gamma.csv"
    random_walk(240, level=30.0, seed=3).rename_axis("Date").to_csv(gamma)
    config_path = tmp_path / "three.yaml"
    raw = global_config([*two_csvs, gamma])
    raw["models"] = raw["models"][::2]  # naive and the transformer: attention figures too
    config_path.write_text(yaml.safe_dump(raw))

    def per_series_figures(out: Path) -> set[str]:
        return {path.name for path in out.glob("*.png")} - {"rel_mae.png", "training_curves.png"}

    assert main(["run", str(config_path), "--set", "figures.series=2", "--out", str(tmp_path / "two"), "--quiet"]) == 0
    assert per_series_figures(tmp_path / "two") == {"forecasts_alpha.png", "forecasts_beta.png",
                                                    "attention_transformer_alpha.png", "attention_transformer_beta.png"}
    assert "figures of 2 of 3 series: alpha, beta (figures.series" in capsys.readouterr().out
    assert yaml.safe_load((tmp_path / "two" / "config.yaml").read_text())["figures"] == {"series": 2}
    assert main(["run", str(config_path), "--set", "figures.series=[beta]", "--out", str(tmp_path / "b"), "--quiet"]) == 0
    assert per_series_figures(tmp_path / "b") == {"forecasts_beta.png", "attention_transformer_beta.png"}
    assert {"rel_mae.png", "training_curves.png", "metrics.csv"} <= {path.name for path in (tmp_path / "b").iterdir()}
    assert "figures of 1 of 3 series: beta" in capsys.readouterr().out
    assert set(pd.read_csv(tmp_path / "b" / "metrics.csv")["series"]) == {"alpha", "beta", "gamma", POOLED}  # scored all
    # An unknown label: one line naming the valid ones, before any data is read or model trained, and no folder.
    monkeypatch.setattr(multiseries, "prepare_all", lambda *args: pytest.fail("prepared the data"))
    assert main(["run", str(config_path), "--set", "figures.series=[beta, delta]", "--out", str(tmp_path / "bad")]) == 1
    captured = capsys.readouterr()
    assert captured.err.strip() == ("error: figures.series names 'delta', which is not a series of this run; its series: "
                                    "alpha, beta, gamma")
    assert not (tmp_path / "bad").exists()


def test_figures_section_defaults_to_six_series_and_is_written_only_when_set(two_csvs):
    config = config_from_dict(global_config(two_csvs))
    assert config.figures.series == 6 and figure_series(config) == ["alpha", "beta"]  # 2 <= 6: every series, as before
    assert "figures" not in config.to_dict()  # every config.yaml written before stays as it was
    many = dataclasses.replace(config, data=dataclasses.replace(config.data, source=tuple(f"s{i}.csv" for i in range(9))))
    assert figure_series(many) == [f"s{i}" for i in range(6)]
    named = read_config(None, [f"data.source=[{two_csvs[0]}, {two_csvs[1]}]", "figures.series=[beta]"])
    assert figure_series(named) == ["beta"] and config_from_dict(named.to_dict()) == named  # config.yaml rebuilds it
    assert figure_series(read_config(None, ["figures.series=0"])) == []
    for value, message in [("-1", "is negative"), ("[]", "each series once"), ("[a, a]", "each series once"),
                           ("b", "should be int or a list of str")]:
        with pytest.raises(ForecasterError, match=message):
            read_config(None, [f"figures.series={value}"])


def test_cli_data_takes_several_sources(two_csvs, tmp_path, capsys):
    out = tmp_path / "by_flag"
    assert main(["run", "--data", str(two_csvs[0]), str(two_csvs[1]), "--set", "models=naive,linear",
                 "--set", "windows.context=8", "--set", "train.epochs=1", "--out", str(out), "--quiet"]) == 0
    assert set(pd.read_csv(out / "metrics.csv")["series"]) == {"alpha", "beta", POOLED}


def test_a_backtest_of_several_series_folds_each_series_over_its_own_end_and_tests_each(two_csvs, tmp_path, capsys):
    out = tmp_path / "bt"
    assert main(["backtest", "--data", str(two_csvs[0]), str(two_csvs[1]), "--set", "models=naive,linear",
                 "--set", "windows.context=8", "--set", "train.epochs=1", "--set", "data.transform=log_return",
                 "--folds", "2", "--out", str(out), "--quiet"]) == 0
    folds = pd.read_csv(out / "fold_metrics.csv", parse_dates=["test_start", "test_end"])
    for path, label in zip(two_csvs, ("alpha", "beta")):
        own = folds[folds["series"] == label]
        last = pd.read_csv(path, index_col="Date", parse_dates=True).index[-1]
        assert own[own["fold"] == 2]["test_end"].eq(last).all()  # each series' last fold ends at its own last date
        assert own[own["fold"] == 1]["test_end"].max() < own[own["fold"] == 2]["test_start"].min()
    summary = pd.read_csv(out / "summary.csv")
    assert list(summary["series"].unique()) == ["alpha", "beta", POOLED]
    linear = summary[summary["model"] == "linear"].set_index("series")
    assert linear.loc[["alpha", "beta"], "dm_squared_vs_naive_p"].notna().all()
    assert linear.loc[[POOLED], "dm_squared_vs_naive_p"].isna().all()  # the pooled errors are not one time series
    assert set(pd.read_csv(out / "dm_pvalues_squared.csv")["series"]) == {"alpha", "beta"}


def test_interrupted_global_run_resumes_to_the_same_result(two_csvs, tmp_path):
    config = config_from_dict(global_config(two_csvs))
    complete = run_global(config)
    out = tmp_path / "resumed"
    # Keep only the first trained model, as if the run had been interrupted after it.
    partial = run_global(dataclasses.replace(config, models=config.models[:2]),
                         on_model_done=lambda result, name: progress.record(out, result, name))
    assert partial.runs
    finished = progress.load_finished(progress.progress_dir(out), config)
    assert set(finished) == {"naive", "linear"}
    resumed = run_global(config, finished=finished)
    pd.testing.assert_frame_equal(resumed.metrics.drop(columns="train_seconds"), complete.metrics.drop(columns="train_seconds"))


def test_a_global_checkpoint_scales_each_series_by_its_own_statistics(two_csvs, tmp_path):
    out = tmp_path / "global"
    raw = global_config(two_csvs)
    raw["data"]["transform"] = "level"  # centred and scaled: the scaler matters for every value
    config = config_from_dict(raw)
    result = run_global(config)
    save_global(result, out)
    checkpoint = load_checkpoint(out / "checkpoints" / "linear.pt")
    assert checkpoint == result.checkpoint("linear")  # the file holds what the run built in memory
    for label, path in zip(["alpha", "beta"], two_csvs):
        expected = result.parts[label].data.pipeline
        for source in (str(path), label):  # found by its source or its label
            offset, scale = checkpoint.pipeline.scaling(np.zeros((5, 1)), source=source)
            np.testing.assert_allclose(offset, expected.offset)
            np.testing.assert_allclose(scale, expected.scale)
    # A series the model never saw is scaled by its own statistics, centred as levels are in training.
    frames = np.array([[1.0], [3.0], [5.0]])
    offset, scale = checkpoint.pipeline.scaling(frames, source="data/unseen.csv")
    np.testing.assert_allclose(offset, [3.0])
    np.testing.assert_allclose(scale, [np.std([1.0, 3.0, 5.0])])


@pytest.mark.slow
def test_the_global_vs_alone_example_runs_and_prints_both_columns():
    import subprocess
    import sys

    repo = Path(__file__).resolve().parent.parent
    process = subprocess.run(
        [sys.executable, "experiments/global_vs_alone.py", "experiments/global.yaml", "windows.context=8",
         "train.epochs=1", "train.device=cpu", "models=naive,linear"],
        cwd=repo, capture_output=True, text=True, timeout=600, check=False,
    )
    assert process.returncode == 0, process.stderr[-2000:]
    lines = process.stdout.splitlines()
    assert lines[0].split() == ["series", "model", "rel_mae_alone", "rel_mae_global", "global_minus_alone"]
    naive = [line.split() for line in lines[1:5] if line.split()[1] == "naive"]
    assert [row[0] for row in naive] == ["sunspots", "sp500"] and all(row[2:4] == ["1.0000", "1.0000"] for row in naive)


def test_run_experiment_and_save_run_take_several_series_as_a_global_run(two_csvs, tmp_path):
    """One entry point for every number of series: run_experiment is run_global on several, save_run save_global."""
    config = config_from_dict(global_config(two_csvs))
    result = run_experiment(config)
    assert isinstance(result, multiseries.GlobalResult) and list(result.parts) == ["alpha", "beta"]
    pd.testing.assert_frame_equal(result.metrics, run_global(config).metrics.assign(train_seconds=result.metrics["train_seconds"]))
    save_run(result, tmp_path / "run")
    assert set(pd.read_csv(tmp_path / "run" / "metrics.csv")["series"]) == {"alpha", "beta", POOLED}


def test_a_global_checkpoint_bounds_each_series_by_its_own_calibration_and_an_unseen_one_by_none(two_csvs, tmp_path):
    """Conformal radii are in a series' own units: each series' forecast takes its own run's, and a series the model
    never saw gets no intervals (none of the radii is in its units)."""
    raw = global_config(two_csvs)
    raw["data"]["transform"] = "diff"  # radii in each series' price units (alpha near 100, beta near 5000)
    raw["models"] = [{"kind": "naive"}, {"kind": "linear"}]
    result = run_global(config_from_dict(raw))
    forecaster_ = Forecaster.from_checkpoint(load_checkpoint(save_checkpoint(result.checkpoint("linear"), tmp_path / "l.pt")))
    for path, label in zip(two_csvs, ("alpha", "beta")):
        own = result.parts[label].runs["linear"].intervals.calibration
        frame = pd.read_csv(path, index_col="Date", parse_dates=True)
        table = forecaster_.forecast(frame, source=label, exchange="none")
        np.testing.assert_allclose((table["hi_80"] - table["forecast"]).to_numpy(), np.asarray(own.radii[0]), rtol=1e-9)
    unseen = random_walk(120, level=7.0, seed=9)
    table = forecaster_.forecast(unseen, source="gamma.csv", exchange="none")
    assert list(table.columns) == ["date", "forecast"]
    with pytest.raises(ForecasterError, match="none for a series it never saw"):
        forecaster_.forecast(unseen, source="gamma.csv", levels=(80,))


def test_a_global_checkpoint_forecasts_each_of_its_series_by_its_own_column(two_csvs, tmp_path, capsys):
    counts = tmp_path / "counts.csv"
    frame = random_walk(260, level=30.0, seed=4).rename(columns={"Close": "value"})
    frame.rename_axis("Date").to_csv(counts)
    raw = global_config([two_csvs[0], counts])
    raw["models"] = [{"kind": "naive"}, {"kind": "linear"}]
    config_path = tmp_path / "mixed.yaml"
    config_path.write_text(yaml.safe_dump(raw))
    out = tmp_path / "mixed"
    assert main(["run", str(config_path), "--out", str(out), "--quiet"]) == 0
    checkpoint = str(out / "checkpoints" / "linear.pt")
    for source, target in [(str(two_csvs[0]), "Close"), (str(counts), "value")]:  # no --column needed
        capsys.readouterr()
        assert main(["forecast", checkpoint, "--data", source]) == 0
        assert f"linear (linear) forecast of {target}:" in capsys.readouterr().out


def test_global_runs_refuse_what_needs_one_series(two_csvs):
    raw = global_config(two_csvs)
    raw["models"] = [{"kind": "naive"}, {"kind": "seasonal_naive", "period": "auto"}]
    with pytest.raises(ForecasterError, match="period auto finds one season per series"):
        run_global(config_from_dict(raw))


def test_pooled_coverage_weighs_every_series_point_and_rel_crps_is_scale_free(two_csvs):
    result = run_global(config_from_dict(global_config(two_csvs)))
    metrics = result.metrics
    linear = metrics[metrics["model"] == "linear"].set_index("series")
    points = {label: part.runs["linear"].forecast.size for label, part in result.parts.items()}
    expected = sum(linear.loc[label, "coverage_80"] * n for label, n in points.items()) / sum(points.values())
    assert linear.loc[POOLED, "coverage_80"] == pytest.approx(expected)
    assert np.isnan(linear.loc[POOLED, "crps"])  # CRPS in index points and in another series' units do not add up
    assert 0 < linear.loc[POOLED, "rel_crps"] < 10
    assert set(result.intervals["series"]) == {"alpha", "beta"}


def test_a_seeds_run_of_several_series_trains_one_global_model_per_seed(two_csvs, tmp_path, capsys):
    """--seeds on several series: a global run per seed (its own folder), and the spread per series and pooled."""
    config = tmp_path / "global.yaml"
    config.write_text(yaml.safe_dump({**global_config(two_csvs), "models": [{"kind": "naive"}, {"kind": "linear"}]}))
    out = tmp_path / "seeds"
    assert main(["run", str(config), "--seeds", "0,1", "--out", str(out), "--quiet"]) == 0
    printed = capsys.readouterr().out
    summary = pd.read_csv(out / "summary.csv")
    assert list(summary.columns[:3]) == ["series", "model", "kind"] and set(summary["runs"]) == {2}
    assert list(summary["series"].unique()) == ["alpha", "beta", POOLED]
    assert summary.loc[summary["model"] == "naive", "rel_mae_mean"].tolist() == [1.0, 1.0, 1.0]
    for seed in (0, 1):
        per_seed = pd.read_csv(out / f"seed-{seed}" / "metrics.csv")
        assert set(per_seed["series"]) == {"alpha", "beta", POOLED}
        assert read_config(out / f"seed-{seed}" / "config.yaml").train.seed == seed
    assert read_config(out / "config.yaml").seeds == (0, 1) and "series" in printed.splitlines()[0]



def test_metrics_by_series_holds_each_series_interval_scores_as_the_series_rows_of_metrics_do():
    from forecaster.config import read_config
    from forecaster.runs.experiment import run_experiment

    rng = np.random.default_rng(1)
    frames = {label: pd.DataFrame({"y": 50 + np.cumsum(rng.normal(size=length))},
                                  index=pd.date_range("2000-01-01", periods=length, freq="D"))
              for label, length in (("a", 300), ("b", 260))}
    config = read_config(None, ["data.transform=diff", "windows.context=8", "train.epochs=1", "train.device=cpu",
                                "models=naive,linear", "intervals.levels=[80]"])
    result = run_experiment(config, frame=frames)
    by_series = result.metrics_by_series.set_index(["series", "model"])
    metrics = result.metrics.set_index(["series", "model"])
    for key in ("coverage_80", "crps", "rel_crps"):
        for label in ("a", "b"):
            assert by_series.loc[(label, "linear"), key] == pytest.approx(metrics.loc[(label, "linear"), key])
