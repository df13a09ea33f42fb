"""Transfer: the five rows on the target's windows, a frozen encoder that stays frozen, the command end to end,
a checkpoint of two targets onto a series with its two columns."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
import torch
import yaml

from forecaster.checkpoint import load_checkpoint, load_model, save_checkpoint
from forecaster.cli import main
from forecaster.config import config_from_dict
from forecaster.data.sources import load_prices
from forecaster.errors import ForecasterError
from forecaster.models import MLPConfig
from forecaster.reuse.study import run_study
from forecaster.reuse.transfer import run_transfer, save_transfer, transfer_config
from forecaster.runs.experiment import run_experiment, save_run
from forecaster.training.loop import TrainConfig

ROWS = ["zero_shot", "linear_probe", "fine_tune", "scratch", "naive"]


@pytest.fixture(scope="module")
def source_checkpoint(tmp_path_factory, small_prices):
    config = {"windows": {"context": 8, "horizon": 2}, "train": {"epochs": 1, "batch_size": 32, "device": "cpu"},
              "models": [{"kind": "transformer", "d_model": 8, "n_heads": 2, "n_layers": 1, "d_ff": 16}]}
    folder = save_run(run_experiment(config_from_dict(config), frame=small_prices), tmp_path_factory.mktemp("src") / "run")
    return folder / "checkpoints" / "transformer.pt"


def synthetic_prices(length: int = 400) -> pd.DataFrame:
    steps = np.arange(length)
    close = 50 * np.exp(0.1 * np.sin(2 * np.pi * steps / 20) + 0.001 * steps)
    return pd.DataFrame({"Close": close}, index=pd.bdate_range("2010-01-01", periods=length, name="date"))


@pytest.mark.parametrize("target", ["synthetic", "sunspots"])
def test_transfer_scores_five_rows_on_the_same_windows(source_checkpoint, target, monkeypatch):
    import forecaster.runs.fitting

    trained_on = {}  # row -> number of training windows it saw
    real_train_model = forecaster.runs.fitting.train_model

    def spy(model, train, val, config, **kwargs):
        trained_on[kwargs["description"]] = len(train)
        return real_train_model(model, train, val, config, **kwargs)

    monkeypatch.setattr(forecaster.runs.fitting, "train_model", spy)
    frame = synthetic_prices() if target == "synthetic" else load_prices("sunspots").iloc[-600:]
    column, transform = ("Close", None) if target == "synthetic" else ("sunspots", "diff")
    checkpoint = load_checkpoint(source_checkpoint)
    config = transfer_config(checkpoint, source=target, column=column, transform=transform,
                             train=TrainConfig(epochs=2, batch_size=32, device="cpu"))
    result = run_transfer(checkpoint, frame, config, last_samples=100)
    last_rows = ["linear_probe_last100", "fine_tune_last100", "scratch_last100"]
    assert list(result.metrics["model"]) == ROWS[:-1] + last_rows + ["naive"]
    full = len(result.data.windows["train"])
    assert trained_on == {"linear_probe": full, "fine_tune": full, "scratch": full, **dict.fromkeys(last_rows, 100)}
    assert result.metrics.set_index("model").loc["naive", "rel_mae"] == pytest.approx(1.0, abs=1e-6)
    assert (result.metrics["status"] == "ok").all()
    # Every row forecasts the same test points.
    assert {run.forecast.shape for run in result.runs.values()} == {(len(result.data.windows["test"]), 2)}
    source, _ = load_model(source_checkpoint)
    probe = result.runs["linear_probe"].model.encoder
    for key, value in source.encoder.state_dict().items():
        assert torch.equal(probe.state_dict()[key], value), key  # frozen means bit-identical after training
    assert not torch.equal(result.runs["fine_tune"].model.encoder.embedding.projection.weight,
                           source.encoder.embedding.projection.weight)  # fine-tuning moves the encoder
    assert torch.equal(result.runs["zero_shot"].model.head.weight, source.head.weight)


def test_another_horizon_means_a_new_head_and_fine_tuning_from_the_probe(source_checkpoint):
    checkpoint = load_checkpoint(source_checkpoint)  # its head forecasts 2 steps
    config = transfer_config(checkpoint, source="synthetic", column="Close", transform=None, horizon=3,
                             train=TrainConfig(epochs=1, batch_size=32, device="cpu"))
    result = run_transfer(checkpoint, synthetic_prices(), config)
    assert list(result.runs) == ["linear_probe", "fine_tune", "scratch", "naive"]  # no zero-shot: the head does not fit
    assert result.runs["fine_tune"].forecast.shape[1] == 3
    # The second stage starts from the trained probe; its time counts both stages.
    assert result.runs["fine_tune"].training.seconds > result.runs["linear_probe"].training.seconds
    assert all(parameter.requires_grad for parameter in result.runs["fine_tune"].model.parameters())


def test_bad_transfers_are_clear(source_checkpoint, tmp_path):
    checkpoint = load_checkpoint(source_checkpoint)
    config = transfer_config(checkpoint, source="synthetic", column="Close", transform=None, train=TrainConfig(epochs=1, device="cpu"))
    with pytest.raises(ForecasterError, match="last_samples=100000 must be between 1 and"):
        run_transfer(checkpoint, synthetic_prices(), config, last_samples=100_000)
    mlp = dataclasses.replace(checkpoint, kind="mlp", config=MLPConfig())
    with pytest.raises(ForecasterError, match="needs a transformer checkpoint"):
        transfer_config(mlp, source="x", column=None, transform=None, train=TrainConfig())


def test_transfer_command_writes_the_run_folder(source_checkpoint, tmp_path, capsys, file_reads):
    csv = tmp_path / "other.csv"
    synthetic_prices().rename_axis("Date").to_csv(csv)
    out = tmp_path / "transfer"
    code = main(["transfer", str(source_checkpoint), "--data", str(csv), "--column", "Close", "--out", str(out),
                 "--quiet", "--set", "train.epochs=1", "--set", "train.device=cpu"])
    assert code == 0
    assert file_reads == [source_checkpoint]  # read once, for the config and the source model
    assert list(pd.read_csv(out / "metrics.csv")["model"]) == ROWS
    assert {"rel_mae.png", "forecasts.png", "training_curves.png", "attention_zero_shot.png"} <= {p.name for p in out.iterdir()}
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == ["fine_tune.pt", "linear_probe.pt", "scratch.pt"]
    record = yaml.safe_load((out / "transfer.yaml").read_text())
    assert record == {"checkpoint": str(source_checkpoint.resolve()), "last_samples": None, "source": str(csv),
                      "column": "Close", "transform": None, "train": {"epochs": 1, "device": "cpu"}}
    capsys.readouterr()
    assert main(["transfer", str(source_checkpoint), "--data", "sunspots", "--column", "sunspots", "--out", str(tmp_path / "x")]) == 1
    assert "choose the diff or level transform" in capsys.readouterr().err


def two_columns(length: int = 300, phase: float = 0.0) -> pd.DataFrame:
    """Two positive hourly columns with a daily cycle (``load`` and ``temperature``): a series of two targets."""
    hours = np.arange(length) + phase
    noise = np.random.default_rng(int(phase)).normal(0, 0.5, (length, 2))
    return pd.DataFrame({"load": 50 + 10 * np.sin(2 * np.pi * hours / 24) + noise[:, 0],
                         "temperature": 20 + 5 * np.cos(2 * np.pi * hours / 24) + noise[:, 1]},
                        index=pd.date_range("2024-01-01", periods=length, freq="h", name="date"))


@pytest.fixture(scope="module")
def two_target_checkpoint(tmp_path_factory):
    config = {"data": {"source": "unused", "targets": ["load", "temperature"], "transform": "level"},
              "windows": {"context": 16, "horizon": 2}, "train": {"epochs": 1, "batch_size": 32, "device": "cpu"},
              "models": ["naive", {"kind": "transformer", "d_model": 8, "n_heads": 2, "n_layers": 1, "d_ff": 16}]}
    result = run_experiment(config_from_dict(config), frame=two_columns())
    return save_checkpoint(result.checkpoint("transformer"), tmp_path_factory.mktemp("two") / "transformer.pt")


def test_a_checkpoint_of_two_targets_transfers_onto_a_series_of_the_same_columns(two_target_checkpoint, tmp_path):
    """Every new head forecasts both targets; ``column`` renames the first, as forecaster forecast reads it."""
    checkpoint = load_checkpoint(two_target_checkpoint)
    frame = two_columns(phase=7.0).rename(columns={"load": "demand"})
    config = transfer_config(checkpoint, source="other", column="demand", transform=None,
                             train=TrainConfig(epochs=1, batch_size=32, device="cpu"))
    assert config.data.targets == ("demand", "temperature") and config.data.column is None
    result = run_transfer(checkpoint, frame, config)
    assert list(result.metrics["model"]) == ROWS and (result.metrics["status"] == "ok").all()
    assert {run.forecast.shape for run in result.runs.values()} == {(len(result.data.windows["test"]), 2, 2)}
    by_channel = result.metrics_by_channel
    assert set(zip(by_channel["model"], by_channel["channel"])) == {(row, name) for row in ROWS for name in ("demand", "temperature")}
    naive = by_channel[by_channel["model"] == "naive"]
    assert np.allclose(naive["rel_mae"], 1.0)
    assert torch.equal(result.runs["zero_shot"].model.head.weight, load_model(two_target_checkpoint)[0].head.weight)
    assert set(result.predictions["channel"]) == {"demand", "temperature"}
    folder = save_transfer(result, tmp_path / "transfer", checkpoint=two_target_checkpoint, last_samples=None, transform=None)
    record = yaml.safe_load((folder / "transfer.yaml").read_text())
    assert record["targets"] == ["demand", "temperature"] and record["column"] == "demand"
    rebuilt = transfer_config(checkpoint, source=record["source"], column=record["column"], transform=record["transform"],
                              train=TrainConfig(**record["train"]))
    assert rebuilt == config
    assert set(pd.read_csv(folder / "metrics_by_channel.csv")["channel"]) == {"demand", "temperature"}


def test_a_series_without_one_of_the_targets_says_which(two_target_checkpoint):
    checkpoint = load_checkpoint(two_target_checkpoint)
    config = transfer_config(checkpoint, source="other", column=None, transform=None, train=TrainConfig(epochs=1, device="cpu"))
    with pytest.raises(ForecasterError, match="'temperature', not a column of the series") as error:
        run_transfer(checkpoint, two_columns().drop(columns="temperature"), config)
    assert len(str(error.value).splitlines()) == 1


def test_transfer_command_of_two_targets_writes_its_folder(two_target_checkpoint, tmp_path, capsys):
    csv = tmp_path / "other.csv"
    two_columns(phase=3.0).to_csv(csv)
    out = tmp_path / "transfer"
    assert main(["transfer", str(two_target_checkpoint), "--data", str(csv), "--out", str(out), "--quiet",
                 "--set", "train.epochs=1", "--set", "train.device=cpu"]) == 0
    assert "2 targets: load, temperature" in capsys.readouterr().out
    assert list(pd.read_csv(out / "metrics.csv")["model"]) == ROWS
    assert set(pd.read_csv(out / "metrics_by_channel.csv")["channel"]) == {"load", "temperature"}
    assert yaml.safe_load((out / "transfer.yaml").read_text())["targets"] == ["load", "temperature"]
    capsys.readouterr()
    two_columns().drop(columns="load").to_csv(csv)
    assert main(["transfer", str(two_target_checkpoint), "--data", str(csv), "--out", str(tmp_path / "x")]) == 1
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1 and "'load', not a column of the series" in error


def test_a_study_of_two_targets_tests_the_pooled_loss(two_target_checkpoint):
    """The Diebold-Mariano loss of K targets: each target's absolute error over the naive's MAE, mean over targets."""
    checkpoint = load_checkpoint(two_target_checkpoint)
    config = transfer_config(checkpoint, source="other", column=None, transform=None,
                             train=TrainConfig(epochs=1, batch_size=32, device="cpu"))
    result = run_study(checkpoint, two_columns(phase=5.0), config, sizes=(60,), seeds=(0, 1))
    summary = result.summary().set_index("row")
    assert list(summary.index) == ROWS and summary.loc["naive", "rel_mae_mean"] == pytest.approx(1.0)
    assert np.isfinite(summary.loc[["zero_shot", "linear_probe", "fine_tune", "naive"], "p_vs_scratch"]).all()
    actual = result.data.actual_and_anchors("test")[0][:, -1]  # (N, K)
    naive = np.abs(result.runs[60, 0, "naive"].forecast[:, -1] - actual).mean(axis=0)
    probe = np.mean([np.abs(result.runs[60, seed, "linear_probe"].forecast[:, -1] - actual) for seed in (0, 1)], axis=0)
    np.testing.assert_allclose(result._losses(60)["linear_probe"], (probe / naive).mean(axis=1))


@pytest.mark.slow
def test_transfer_folder_names_its_checkpoint_last_and_transform(source_checkpoint, tmp_path):
    csv = tmp_path / "other.csv"
    synthetic_prices().rename_axis("Date").to_csv(csv)
    out = tmp_path / "transfer"
    assert main(["transfer", str(source_checkpoint), "--data", str(csv), "--column", "Close", "--transform", "diff",
                 "--last", "50", "--out", str(out), "--quiet", "--set", "train.epochs=1", "--set", "train.device=cpu"]) == 0
    record = yaml.safe_load((out / "transfer.yaml").read_text())
    assert record["last_samples"] == 50 and record["transform"] == "diff"
    assert yaml.safe_load((out / "config.yaml").read_text())["data"]["transform"] == "diff"
    assert "scratch_last50" in set(pd.read_csv(out / "metrics.csv")["model"])
    assert not [path for path in tmp_path.iterdir() if path.name.startswith(".")]  # no staging folder left


@pytest.mark.slow
def test_the_example_script_runs_with_the_public_api():
    import subprocess
    import sys
    from pathlib import Path

    repo = Path(__file__).resolve().parent.parent
    process = subprocess.run([sys.executable, "experiments/transfer_example.py", "1"], cwd=repo,
                             capture_output=True, text=True, timeout=600)
    assert process.returncode == 0, process.stderr[-2000:]
    for row in ROWS:
        assert row in process.stdout
    assert "embeddings of the last 3 test windows: (3, 32, 32)" in process.stdout
