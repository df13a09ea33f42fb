"""Transfer: the five rows on the target's windows, a frozen encoder that stays frozen, the command end to end."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
import torch
import yaml

from forecaster.checkpoint import load_checkpoint, load_model
from forecaster.cli import main
from forecaster.config import config_from_dict
from forecaster.data.sources import load_prices
from forecaster.errors import ForecasterError
from forecaster.models import MLPConfig
from forecaster.reuse.transfer import run_transfer, transfer_config
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
