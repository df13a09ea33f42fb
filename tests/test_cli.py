"""`forecaster run` end to end on tiny configs, and bad input: one line, non-zero exit, nothing written."""

from __future__ import annotations

import subprocess
import sys

import pandas as pd
import pytest
import yaml

from forecaster.cli import main

EXPECTED_FILES = {
    "config.yaml", "metrics.csv", "predictions.csv", "history.csv", "rel_mae.png", "forecasts.png", "training_curves.png",
    "attention_transformer.png", "intervals.csv", "calibration.png",
}
METRIC_COLUMNS = ["model", "kind", "mae", "rmse", "mape", "rel_mae", "mase", "directional_accuracy", "mse_scaled", "mae_scaled",
                  "train_seconds", "parameters"]


def test_run_writes_every_file_and_prints_the_table(tiny_config_file, tmp_path, capsys):
    out = tmp_path / "results" / "tiny"
    assert main(["run", str(tiny_config_file), "--out", str(out), "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert EXPECTED_FILES <= {p.name for p in out.iterdir()}
    trained = ["linear", "mlp", "rnn", "transformer"]
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == [f"{name}.pt" for name in trained]
    metrics = pd.read_csv(out / "metrics.csv")
    assert list(metrics.columns[: len(METRIC_COLUMNS)]) == METRIC_COLUMNS
    assert {"crps", "rel_crps", "coverage_80", "coverage_95", "interval_method"} <= set(metrics.columns)
    assert list(metrics["model"]) == ["naive", "seasonal_naive", *trained]
    assert metrics.set_index("model").loc["naive", "rel_mae"] == 1.0
    predictions = pd.read_csv(out / "predictions.csv", parse_dates=["date", "origin"])
    models = ["naive", "seasonal_naive", *trained]
    bounds = [f"{name}_{side}_{level}" for name in models for level in (80, 95) for side in ("lo", "hi")]
    assert list(predictions.columns) == ["date", "origin", "step", "actual", *models, *bounds]
    assert (predictions["date"] > predictions["origin"]).all()
    history = pd.read_csv(out / "history.csv")
    assert set(history["model"]) == set(trained)
    resolved = yaml.safe_load((out / "config.yaml").read_text())
    assert resolved["windows"]["context"] == 8 and resolved["models"][-1]["d_model"] == 8
    for name in ["naive", "transformer", "rel_mae", "cov80", "cov95", "rel_crps", "conformal"]:
        assert name in printed
    assert f"results: {out}" in printed


def test_data_column_and_set_flags_override_the_config(tiny_config_file, small_csv, tmp_path):
    out = tmp_path / "run"
    code = main([
        "run", str(tiny_config_file), "--data", str(small_csv), "--column", "Open",
        "--set", "windows.context=6", "--set", "models=naive,linear", "--out", str(out), "--quiet",
    ])
    assert code == 0
    resolved = yaml.safe_load((out / "config.yaml").read_text())
    assert resolved["data"]["column"] == "Open" and resolved["windows"]["context"] == 6
    assert [m["name"] for m in resolved["models"]] == ["naive", "linear"]


@pytest.mark.slow
def test_the_installed_command_prints_no_traceback(tmp_path):
    out = tmp_path / "out"
    process = subprocess.run(
        [sys.executable, "-m", "forecaster", "run", "--data", str(tmp_path / "missing.csv"), "--out", str(out)],
        capture_output=True, text=True, timeout=120,
    )
    assert process.returncode == 1
    assert "Traceback" not in process.stderr
    assert process.stderr.strip().startswith("error: no such file")
    assert not out.exists()


def test_an_existing_results_folder_is_refused_before_training(tiny_config_file, tmp_path, capsys):
    out = tmp_path / "taken"
    out.mkdir()
    (out / "metrics.csv").write_text("someone else's results")
    assert main(["run", str(tiny_config_file), "--out", str(out), "--quiet"]) == 1
    assert "already exists" in capsys.readouterr().err
    assert (out / "metrics.csv").read_text() == "someone else's results"


def test_unknown_ticker_is_one_line_even_when_yfinance_logs(monkeypatch, tmp_path, capsys, caplog):
    import logging

    def offline_download(ticker, **kwargs):
        # What yfinance 1.x does offline: log its own errors, return an empty multi-level frame.
        logging.getLogger("yfinance").error("Failed to get ticker %r reason: could not resolve host", ticker)
        columns = pd.MultiIndex.from_product([["Adj Close", "Close"], [ticker]], names=["Price", "Ticker"])
        return pd.DataFrame(columns=columns, index=pd.DatetimeIndex([], name="Date"))

    monkeypatch.setattr("yfinance.download", offline_download)
    monkeypatch.setenv("FORECASTER_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "out"
    assert main(["run", "--data", "^NOPE", "--out", str(out), "--quiet"]) == 1
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines == [
        "error: no data for ticker '^NOPE' from Yahoo Finance (unknown ticker or no network); "
        "use an offline source instead: a bundled name (sp500, sunspots, etth2) or a CSV path"
    ]
    assert not out.exists() and not any((tmp_path / "cache").rglob("*.csv"))
    assert not [record for record in caplog.records if record.name == "yfinance"]  # its noise never reached stderr
