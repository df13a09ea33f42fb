"""Tracking: what a run writes to TensorBoard and MLflow, read back with their own readers; nothing when off."""

from __future__ import annotations

import importlib.util
import re

import pandas as pd
import pytest
import yaml

from forecaster.cli import main
from forecaster.config import config_from_dict, read_config
from forecaster.errors import ForecasterError
from forecaster.tracking import tracker
from forecaster.tracking.tracker import TrackingConfig, flat_params, open_tracker
from forecaster.training import distributed

MODELS = "models=naive,linear,transformer"


def run_tracked(tiny_config_file, results, backend, *extra):
    out = results / "run1"
    arguments = ["run", str(tiny_config_file), "--set", MODELS, "--out", str(out), "--quiet", *extra]
    if backend is not None:
        arguments += ["--set", f"tracking.backend={backend}"]
    assert main(arguments) == 0
    return out


def test_tensorboard_holds_each_models_losses_per_epoch_the_metrics_config_and_figures(tiny_config_file, tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    out = run_tracked(tiny_config_file, tmp_path / "results", "tensorboard")
    logs = tmp_path / "results" / "tensorboard" / "run1"
    history = pd.read_csv(out / "history.csv")
    for model in ("linear", "transformer"):
        events = EventAccumulator(str(logs / model)).Reload()
        own = history[history["model"] == model]
        for tag in ("train_loss", "val_loss"):
            scalars = events.Scalars(tag)
            assert [s.step for s in scalars] == own["epoch"].tolist()
            assert [s.value for s in scalars] == pytest.approx(own[tag].tolist(), rel=1e-6)
    assert not (logs / "naive").exists()  # nothing trained, nothing per epoch
    run = EventAccumulator(str(logs), size_guidance={"images": 0, "tensors": 0}).Reload()
    metrics = pd.read_csv(out / "metrics.csv").set_index("model")
    assert run.Scalars("transformer/rel_mae")[0].value == pytest.approx(metrics.loc["transformer", "rel_mae"], rel=1e-6)
    figures = set(run.Tags()["images"])
    assert {"rel_mae.png", "forecasts.png", "training_curves.png", "attention_transformer.png"} <= figures
    assert "windows.context: 8" in run.Tensors("config/text_summary")[0].tensor_proto.string_val[0].decode()
    assert yaml.safe_load((out / "config.yaml").read_text())["tracking"]["backend"] == "tensorboard"


@pytest.mark.slow
def test_mlflow_runs_live_in_a_sqlite_store_beside_the_results_folder(tiny_config_file, tmp_path, monkeypatch):
    pytest.importorskip("mlflow")
    from mlflow.tracking import MlflowClient

    monkeypatch.chdir(tmp_path)  # nothing may land in the working directory (MLflow's default ./mlruns)
    results = tmp_path / "results"
    out = run_tracked(tiny_config_file, results, "mlflow")
    assert {path.name for path in results.iterdir()} == {"run1", "mlflow.db", "mlartifacts"}
    assert {path.name for path in tmp_path.iterdir()} == {"results", tiny_config_file.name, "prices.csv"}
    client = MlflowClient(f"sqlite:///{results / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("forecaster")
    (run,) = client.search_runs([experiment.experiment_id])
    assert run.info.run_name == "run1" and run.info.status == "FINISHED"
    assert run.data.params["windows.context"] == "8" and run.data.params["models.transformer.d_model"] == "8"
    history = pd.read_csv(out / "history.csv")
    own = history[history["model"] == "transformer"]
    logged = client.get_metric_history(run.info.run_id, "transformer.val_loss")
    assert [m.step for m in logged] == own["epoch"].tolist()
    assert [m.value for m in logged] == pytest.approx(own["val_loss"].tolist())
    metrics = pd.read_csv(out / "metrics.csv").set_index("model")
    assert run.data.metrics["transformer.rel_mae"] == pytest.approx(metrics.loc["transformer", "rel_mae"])
    assert "naive.directional_accuracy" not in run.data.metrics  # NaN: left out
    assert {a.path for a in client.list_artifacts(run.info.run_id)} >= {"rel_mae.png", "forecasts.png", "training_curves.png"}


def test_nothing_is_written_anywhere_when_tracking_is_off(tiny_config_file, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    results = tmp_path / "results"
    out = run_tracked(tiny_config_file, results, None)
    assert [path.name for path in results.iterdir()] == ["run1"]
    assert {path.name for path in tmp_path.iterdir()} == {"results", tiny_config_file.name, "prices.csv"}
    assert "tracking" not in yaml.safe_load((out / "config.yaml").read_text())


def test_only_rank_0_tracks(tmp_path, monkeypatch):
    monkeypatch.setattr(distributed, "rank", lambda: 1)
    for backend in ("tensorboard", "mlflow"):
        assert not open_tracker(TrackingConfig(backend=backend), tmp_path / "results" / "out").enabled
    assert not (tmp_path / "results").exists()


def test_a_missing_backend_is_one_line_naming_the_extra(tiny_config_file, tmp_path, capsys, monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(tracker.importlib.util, "find_spec", lambda name: None if name == "mlflow" else real(name))
    out = tmp_path / "results" / "run1"
    assert main(["run", str(tiny_config_file), "--set", "tracking.backend=mlflow", "--out", str(out), "--quiet"]) == 1
    error = capsys.readouterr().err.strip()
    assert error == ("error: tracking.backend='mlflow' needs mlflow, which is not installed; install the track extra: "
                     "pip install -e '.[track]'")
    assert not (tmp_path / "results").exists()


@pytest.mark.parametrize(("tracking", "message"), [
    ({"backend": "wandb"}, "tracking.backend='wandb' is not valid; choose one of: none, tensorboard, mlflow"),
    ({"backend": "mlflow", "uri": "results/mlflow.db"}, "tracking.uri='results/mlflow.db' is not an MLflow tracking URI"),
    ({"experiment": " "}, "tracking.experiment=' ' is empty"),
    ({"backend": "tensorboard", "url": "x"}, "unknown key tracking.url; valid keys in tracking: backend, uri, experiment"),
])
def test_bad_tracking_settings_are_named(tracking, message):
    with pytest.raises(ForecasterError, match=re.escape(message)):
        config_from_dict({"models": ["naive"], "tracking": tracking})


def test_tracking_round_trips_and_flattens_to_parameters(tmp_path):
    config = read_config(None, ["tracking.backend=mlflow", "tracking.uri=http://localhost:5000", "models=naive,mlp"])
    assert config.tracking == TrackingConfig(backend="mlflow", uri="http://localhost:5000")
    assert config_from_dict(config.to_dict()) == config
    params = flat_params(config.to_dict())
    assert params["tracking.backend"] == "mlflow" and params["models.mlp.hidden"] == [64, 64] and params["data.calendar"] == []
    assert "models.mlp.name" not in params and "models.naive.kind" in params


def test_a_seeds_run_is_one_tracked_run_with_each_seeds_losses(tiny_config_file, tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    out = tmp_path / "results" / "seeds"
    assert main(["run", str(tiny_config_file), "--set", "models=naive,linear", "--seeds", "0,1", "--out", str(out), "--quiet",
                 "--set", "tracking.backend=tensorboard"]) == 0
    logs = tmp_path / "results" / "tensorboard" / "seeds"
    assert sorted(path.name for path in logs.iterdir() if path.is_dir()) == ["linear.seed-0", "linear.seed-1"]
    run = EventAccumulator(str(logs), size_guidance={"images": 0}).Reload()
    summary = pd.read_csv(out / "summary.csv").set_index("model")
    assert run.Scalars("linear/rel_mae_mean")[0].value == pytest.approx(summary.loc["linear", "rel_mae_mean"], rel=1e-6)
    assert "seed-1/rel_mae.png" in run.Tags()["images"]
