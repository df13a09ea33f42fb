"""Bad input, divergence, interruption and resumption: one clear line, nothing lost, nothing half-written."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

import forecaster.runs.fitting
from forecaster.cli import main
from forecaster.config import config_from_dict
from forecaster.errors import ForecasterError
from forecaster.models.mlp import MLPForecaster
from forecaster.runs.experiment import run_experiment

# ---------------------------------------------------------------------------------------------------------
# The one table of bad inputs, each run through the CLI: (file contents or None, extra arguments, message fragment).
# A case in CONFIG_FILES also runs a config file with that text.

PRICES = "Date,Close\n" + "".join(f"2020-01-{day:02d},{100 + day}\n" for day in range(1, 13))


def many_rows(values) -> str:
    dates = pd.bdate_range("2020-01-01", periods=len(values))
    return "Date,Close\n" + "".join(f"{d.date()},{v}\n" for d, v in zip(dates, values))


GOOD = many_rows(100 + np.sin(np.arange(300) / 5) * 10)


def with_value(text: str, date: str, value: str) -> str:
    """``text`` with the value on ``date`` replaced by ``value`` (as written in the file)."""
    return "\n".join(f"{date},{value}" if line.startswith(date) else line for line in text.splitlines()) + "\n"


BAD_INPUTS = {
    "empty file": ("", [], "is empty"),
    "header only": ("Date,Close\n", [], "no data rows"),
    "wrong delimiter": (GOOD.replace(",", ";"), [], "separated by commas"),
    "no date column": ("Close,Open\n1,2\n3,4\n", [], "no date column"),
    "unparseable date": (GOOD.replace("2020-01-03", "2020-13-45"), [], "'2020-13-45'"),
    "duplicate dates": (GOOD.replace("2020-01-03", "2020-01-02"), [], "duplicate dates"),
    "missing value": (with_value(GOOD, "2020-01-06", ""), [], "1 missing value(s), first on 2020-01-06"),
    "infinite value": (with_value(GOOD, "2020-01-06", "inf"), [], "1 infinite value(s), first on 2020-01-06"),
    "non-numeric value": (with_value(GOOD, "2020-01-06", "12x"), [], "non-numeric value(s), first '12x' on 2020-01-06"),
    "thousands separator": (with_value(GOOD, "2020-01-06", '"1,234.5"'), [], "non-numeric value(s), first '1,234.5' on 2020-01-06"),
    "too few rows": (PRICES, [], "rows are needed"),
    "non-positive with log_return": (many_rows([100.0] * 10 + [0.0] + [101.0] * 289), [], "positive values"),
    "constant series": (many_rows([100.0] * 300), ["--set", "data.transform=level"], "nothing to forecast"),
    "missing column": (GOOD, ["--column", "Volume"], "column 'Volume' not found"),
    "unknown model kind": (GOOD, ["--set", "models=naive,prophet"], "valid kinds"),
    "wrong type in config": (GOOD, ["--set", "windows.context=sixty"], "should be of type int"),
    "context out of range": (GOOD, ["--set", "windows.context=0"], "windows.context=0"),
    "fractions without a test span": (GOOD, ["--set", "windows.train_fraction=0.8", "--set", "windows.val_fraction=0.2"], "no test span"),
    "unknown config key": (GOOD, ["--set", "train.epoch=3"], "unknown key train.epoch"),
    "unknown key in a config file": (GOOD, [], "unknown key windows.contxt"),
    "model name escaping --out": (GOOD, ["--set", "models=naive,../../evil"], "valid kinds"),
    "directory as data": (None, ["--data", "{tmp}"], "is a directory"),
    "missing file": (None, ["--data", "{tmp}/absent.csv"], "no such file"),
    "bad ticker characters": (None, ["--data", "no such ticker!"], "not a bundled name, a CSV path or a Yahoo ticker"),
}
CONFIG_FILES = {"unknown key in a config file": "windows:\n  contxt: 8\n"}


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input_gives_one_line_exit_1_and_writes_nothing(case, tmp_path, capsys):
    text, arguments, fragment = BAD_INPUTS[case]
    arguments = [argument.replace("{tmp}", str(tmp_path)) for argument in arguments]
    if text is not None:
        (tmp_path / "data.csv").write_text(text)
        arguments = ["--data", str(tmp_path / "data.csv"), *arguments]
    if case in CONFIG_FILES:  # the config file is the positional argument, before --data takes the rest
        (tmp_path / "config.yaml").write_text(CONFIG_FILES[case])
        arguments = [str(tmp_path / "config.yaml"), *arguments]
    out = tmp_path / "out"
    code = main(["run", *arguments, "--out", str(out), "--quiet", "--set", "train.epochs=1", "--set", "windows.context=8"]
                if "windows.context=" not in " ".join(arguments) else ["run", *arguments, "--out", str(out), "--quiet"])
    error = capsys.readouterr().err.strip().splitlines()
    assert code == 1
    assert len(error) == 1 and error[0].startswith("error: ") and fragment in error[0], error
    assert not {p.name for p in tmp_path.iterdir()} - {"data.csv", "config.yaml"}  # no results, no .incomplete


def test_model_names_cannot_leave_the_results_folder():
    for name in ("../../evil", "/abs", ".hidden", "a/b"):
        with pytest.raises(ForecasterError, match="not a valid model name"):
            config_from_dict({"models": [{"kind": "naive", "name": name}]})


def test_unsorted_dates_are_sorted_with_a_one_line_warning(tmp_path, capsys, tiny_config):
    rows = GOOD.splitlines()
    (tmp_path / "shuffled.csv").write_text("\n".join([rows[0], *reversed(rows[1:])]) + "\n")
    code = main(["run", "--data", str(tmp_path / "shuffled.csv"), "--set", "models=naive", "--set", "windows.context=8",
                 "--out", str(tmp_path / "out"), "--quiet"])
    assert code == 0
    warnings = [line for line in capsys.readouterr().err.splitlines() if line.startswith("warning: ")]
    assert len(warnings) == 1 and "sorted" in warnings[0]


# ---------------------------------------------------------------------------------------------------------
# Divergence: a non-finite loss stops that model only.

def test_a_diverging_model_is_marked_failed_and_the_others_still_run(small_prices, tiny_config, monkeypatch, tmp_path):
    real_forward = MLPForecaster.forward

    def exploding_forward(self, past, future=None):
        return real_forward(self, past, future) * float("nan")  # what a diverged network produces

    monkeypatch.setattr(MLPForecaster, "forward", exploding_forward)
    result = run_experiment(config_from_dict(tiny_config), frame=small_prices)
    metrics = result.metrics.set_index("model")
    assert metrics.loc["mlp", "status"].startswith("diverged: training loss nan in epoch 1")
    assert "no epoch had a finite loss" in metrics.loc["mlp", "status"]
    assert np.isnan(metrics.loc["mlp", "mae"])
    others = metrics.drop(index="mlp")
    assert (others["status"] == "ok").all() and others["mae"].notna().all()
    folder = forecaster.runs.experiment.save_run(result, tmp_path / "run")
    saved = pd.read_csv(folder / "metrics.csv").set_index("model")
    assert saved.loc["mlp", "status"].startswith("diverged")


def test_divergence_after_a_good_epoch_restores_that_epochs_weights():
    import math

    import torch

    from forecaster.data.windows import WindowConfig, split_bounds, split_windows
    from forecaster.models import LinearConfig, LinearForecaster
    from forecaster.training.loop import TrainConfig, evaluate_loss, seed_everything, train_model

    series = torch.sin(torch.arange(400, dtype=torch.float32) / 4)[:, None]
    config = WindowConfig(context=8)
    windows = split_windows(series, split_bounds(400, config), config)
    seed_everything(0)
    model = LinearForecaster(LinearConfig(), context=8, horizon=1, channels=1)
    steps_per_epoch = math.ceil(len(windows["train"]) / TrainConfig().batch_size)
    calls = {"count": 0}
    real_forward = model.forward

    def forward_that_breaks_in_epoch_3(past, future=None):
        if not model.training:
            return real_forward(past, future)
        calls["count"] += 1
        out = real_forward(past, future)
        return out * float("inf") if calls["count"] > 2 * steps_per_epoch + 1 else out

    model.forward = forward_that_breaks_in_epoch_3
    result = train_model(model, windows["train"], windows["val"], TrainConfig(epochs=10, device="cpu"), device=torch.device("cpu"))
    assert result.failure is not None and re.search(r"training loss (inf|nan) in epoch 3", result.failure)
    assert "weights of epoch 2 were restored" in result.failure
    model.forward = real_forward
    assert math.isfinite(evaluate_loss(model, windows["val"], 64))
    assert evaluate_loss(model, windows["val"], 64) == pytest.approx(result.best_val_loss, rel=1e-6)


# ---------------------------------------------------------------------------------------------------------
# Interruption and --resume.

def test_interrupted_run_leaves_only_a_marked_incomplete_folder_and_resume_finishes_it(
    tiny_config_file, tmp_path, monkeypatch, capsys
):
    reference = tmp_path / "reference"
    assert main(["run", str(tiny_config_file), "--out", str(reference), "--quiet"]) == 0
    real_train = forecaster.runs.fitting.train_model
    calls = {"count": 0}

    def train_then_interrupt(*args, **kwargs):
        calls["count"] += 1
        if calls["count"] == 3:  # linear and mlp finish; Ctrl-C arrives while the rnn trains
            raise KeyboardInterrupt
        return real_train(*args, **kwargs)

    monkeypatch.setattr(forecaster.runs.fitting, "train_model", train_then_interrupt)
    out = tmp_path / "run"
    assert main(["run", str(tiny_config_file), "--out", str(out), "--quiet"]) == 130
    assert "interrupted: 4 of 6 models finished" in capsys.readouterr().err
    assert not out.exists()  # nothing that looks finished
    incomplete = tmp_path / "run.incomplete"
    assert (incomplete / "INCOMPLETE.txt").is_file()
    assert sorted(p.stem for p in (incomplete / "models").iterdir()) == ["linear", "mlp", "naive", "seasonal_naive"]
    assert main(["run", "--out", str(out), "--quiet", str(tiny_config_file)]) == 1  # must resume, not start over
    assert "--resume" in capsys.readouterr().err

    monkeypatch.setattr(forecaster.runs.fitting, "train_model", real_train)
    trained = []
    monkeypatch.setattr(forecaster.runs.fitting, "train_model", lambda *a, **k: trained.append(k["description"]) or real_train(*a, **k))
    assert main(["run", "--resume", str(out), "--quiet"]) == 0
    assert trained == ["rnn", "transformer"]  # the finished models were kept, not retrained
    assert not incomplete.exists()
    columns = ["model", "mae", "rmse", "rel_mae", "mase", "directional_accuracy", "parameters", "best_epoch"]
    pd.testing.assert_frame_equal(pd.read_csv(out / "metrics.csv")[columns], pd.read_csv(reference / "metrics.csv")[columns])
    pd.testing.assert_frame_equal(pd.read_csv(out / "predictions.csv"), pd.read_csv(reference / "predictions.csv"))
    pd.testing.assert_frame_equal(pd.read_csv(out / "intervals.csv"), pd.read_csv(reference / "intervals.csv"))  # kept too
    assert main(["run", "--resume", str(out)]) == 1
    assert "already complete" in capsys.readouterr().err


def test_a_run_interrupted_before_typed_checkpoints_still_resumes(small_prices, tiny_config, tmp_path, as_version_3):
    """Records written with a format-version-1 checkpoint inside (scaler ``mean``, no ``series``) load as before."""
    import torch

    from forecaster.runs import progress

    tiny_config["models"] = [{"kind": "naive"}, {"kind": "linear"}]
    config = config_from_dict(tiny_config)
    out = tmp_path / "run"
    result = run_experiment(config, frame=small_prices, on_model_done=lambda result, name: progress.record(out, result, name))
    for path in (progress.progress_dir(out) / "models").iterdir():
        record = torch.load(path, weights_only=True)
        nested = as_version_3(record["checkpoint"])
        nested.update(format_version=1, scaler={"mean": nested["scaler"]["offset"], "scale": nested["scaler"]["scale"]})
        del nested["series"]
        torch.save(record, path)  # as the code before the typed checkpoint wrote it
    finished = progress.load_finished(progress.progress_dir(out), config)
    assert set(finished) == {"naive", "linear"}
    inputs = result.data.windows["test"].inputs
    with torch.no_grad():
        assert torch.equal(finished["linear"].model(inputs), result.runs["linear"].model.eval()(inputs))


@pytest.mark.slow
def test_sigterm_stops_a_run_like_ctrl_c(tiny_config_file, tmp_path):
    config = yaml.safe_load(tiny_config_file.read_text())
    config["train"].update(epochs=400, patience=400)  # long enough to be stopped by the signal
    config["models"] = [{"kind": "naive"}, {"kind": "linear"}, {"kind": "transformer", "d_model": 8, "n_heads": 2}]
    path = tmp_path / "long.yaml"
    path.write_text(yaml.safe_dump(config))
    out = tmp_path / "run"
    process = subprocess.Popen([sys.executable, "-m", "forecaster", "run", str(path), "--out", str(out), "--quiet"],
                               stderr=subprocess.PIPE, text=True)
    finished_model = tmp_path / "run.incomplete" / "models" / "linear.pt"
    deadline = time.monotonic() + 120
    while not finished_model.exists() and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.2)
    process.send_signal(signal.SIGTERM)
    _, error = process.communicate(timeout=60)
    assert process.returncode == 130, error
    assert "finish with: forecaster run --resume" in error
    assert not out.exists() and (tmp_path / "run.incomplete" / "INCOMPLETE.txt").is_file()


def run_cli_expecting_error(arguments: list[str], tmp_path: Path, capsys) -> str:
    out = tmp_path / "out"
    assert main(["run", *arguments, "--out", str(out), "--quiet"]) == 1
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1 and error[0].startswith("error: "), error
    assert not out.exists() and not (tmp_path / "out.incomplete").exists()
    return error[0]


def test_an_unreadable_binary_file_is_one_line(tmp_path, capsys):
    (tmp_path / "image.csv").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xfe\x00" * 50)
    message = run_cli_expecting_error(["--data", str(tmp_path / "image.csv")], tmp_path, capsys)
    assert "image.csv" in message


def test_no_network_is_one_line_that_suggests_offline_sources(tmp_path, capsys, monkeypatch):
    def no_network(*args, **kwargs):
        raise ConnectionError("Failed to resolve query2.finance.yahoo.com")

    monkeypatch.setattr("yfinance.download", no_network)
    monkeypatch.setenv("FORECASTER_CACHE", str(tmp_path / "cache"))
    message = run_cli_expecting_error(["--data", "^GSPC"], tmp_path, capsys)
    assert "'^GSPC'" in message and "Failed to resolve" in message and "offline source" in message
    assert not [path for path in (tmp_path / "cache").rglob("*") if path.is_file()]  # nothing cached
