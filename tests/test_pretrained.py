"""The pretrained forecaster: its windows from a pool, its network read per series, its weights file, its training
(resumable, bit-identical after an interruption) and its use in a run, zero-shot and fine-tuned."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from forecaster.checkpoint import load_checkpoint
from forecaster.cli import main
from forecaster.config import read_config
from forecaster.data.pool import PoolSeries
from forecaster.data.pool_windows import MIN_HISTORY, cut_windows, window_counts
from forecaster.data.sources import load_prices
from forecaster.errors import ForecasterError
from forecaster.models.heads import QuantileHead
from forecaster.models.pretrained import Architecture, PretrainedForecaster, WeightsFile, build_network
from forecaster.reuse.estimator import ForecastEstimator
from forecaster.reuse.forecast import Forecaster
from forecaster.reuse.pretrained_training import PretrainingSettings, masked_pinball, pretrain_forecaster
from forecaster.runs.experiment import run_experiment

TINY = Architecture(context=16, horizon=4, patch=4, d_model=16, n_heads=2, n_layers=1, d_ff=32)


def series(label: str, values) -> PoolSeries:
    return PoolSeries(label=label, source="test", frequency="MS", season=12, values=np.asarray(values, dtype=np.float64))


def tiny_pool(count: int = 12, seed: int = 0) -> list[PoolSeries]:
    rng = np.random.default_rng(seed)
    return [series(f"s{k}", 10 + k + np.sin(np.arange(n) * 2 * np.pi / 12) + 0.1 * rng.normal(size=n))
            for k, n in enumerate(rng.integers(8, 60, size=count))]


@pytest.fixture
def weights_path(tmp_path):
    torch.manual_seed(0)
    network = build_network(TINY)
    return WeightsFile(TINY, network.state_dict(), {"note": "random weights"}).save(tmp_path / "pretrained.pt")


def test_a_window_is_the_history_before_its_origin_padded_and_the_next_values_masked_past_the_end():
    pool = [series("a", np.arange(1.0, 7.0))]  # 1..6
    windows = cut_windows(pool, context=5, horizon=4, stride=1, per_series=3, seed=0)
    assert len(windows) == len(pool[0].values) - MIN_HISTORY == 3 and windows.past.shape == (3, 5, 2)
    for past, target, observed in zip(windows.past, windows.target, windows.target_observed):
        real = past[:, 1] == 1
        history = np.arange(1.0, 1.0 + real.sum())  # the values before the origin, oldest first
        center, scale = history.mean(), history.std()
        np.testing.assert_allclose(past[real, 0], (history - center) / scale, rtol=1e-6)
        assert not real[: len(real) - real.sum()].any() and (past[~real, 0] == 0).all()  # padding first, zero
        after = np.arange(1.0 + real.sum(), 7.0)[:4]
        assert observed.sum() == len(after) and (observed[: len(after)] == 1).all()
        np.testing.assert_allclose(target[: len(after)], (after - center) / scale, rtol=1e-6)
    again = cut_windows(pool, context=5, horizon=4, stride=1, per_series=3, seed=0)
    np.testing.assert_array_equal(windows.past, again.past)
    assert list(window_counts(np.array([2, 4, 13, 10_000]), stride=4, per_series=256)) == [0, 1, 3, 256]


def test_the_masked_pinball_loss_by_hand():
    outputs = torch.tensor([[[1.0, 2.0], [0.0, 0.0]]])  # (B=1, H=2, Q=2) at taus 0.1 and 0.9
    target, observed = torch.tensor([[3.0, 100.0]]), torch.tensor([[1.0, 0.0]])  # the second step is not observed
    # step 1: tau 0.1, y - q = 2 -> 0.2; tau 0.9, y - q = 1 -> 0.9; mean 0.55
    assert float(masked_pinball(outputs, target, observed, torch.tensor([0.1, 0.9]))) == pytest.approx(0.55)


def test_the_forecaster_reads_each_target_alone_is_scale_free_and_ignores_padding(weights_path):
    weights = WeightsFile.load(weights_path)
    model = PretrainedForecaster(weights.network().eval(), weights.architecture, horizon=4, targets=2, observed=True)
    torch.manual_seed(1)
    past = torch.randn(3, 10, 4) + 5  # two targets, one input, the mask
    past[..., -1] = 1.0
    past[0, :4, -1] = 0.0  # window 0: its first 4 frames are padding
    with torch.no_grad():
        forecast = model(past)
        assert forecast.shape == (3, 4, 2)
        swapped = past.clone()
        swapped[..., [0, 1]] = past[..., [1, 0]]
        torch.testing.assert_close(model(swapped), forecast[..., [1, 0]])  # channel k's forecast reads channel k alone
        scaled = past.clone()
        scaled[..., :2] = 3.0 * past[..., :2] - 7.0
        torch.testing.assert_close(model(scaled), 3.0 * forecast - 7.0, rtol=1e-4, atol=1e-3)  # RevIN: scale-free
        noisy = past.clone()
        noisy[0, :4, :3] = 1e3  # under the padding
        torch.testing.assert_close(model(noisy), forecast)
        other = past.clone()
        other[..., 2] = -50.0  # a non-target input: not read
        torch.testing.assert_close(model(other), forecast)


def test_beyond_its_horizon_it_steps_on_its_median_path_and_quantiles_come_from_its_head(weights_path):
    weights = WeightsFile.load(weights_path)
    network = weights.network().eval()
    past = torch.randn(2, 20, 1) + 3
    with torch.no_grad():
        direct = PretrainedForecaster(network, TINY, horizon=4, targets=1, observed=False)(past)
        long = PretrainedForecaster(network, TINY, horizon=10, targets=1, observed=False)(past)
        assert long.shape == (2, 10, 1)
        torch.testing.assert_close(long[:, :4], direct)
        head = QuantileHead((0.1, 0.5, 0.9))
        bounds = PretrainedForecaster(network, TINY, horizon=4, targets=1, observed=False, head=head)(past)
        assert bounds.shape == (2, 4, 1, 3) and (bounds[..., 0] <= bounds[..., 1]).all() and (bounds[..., 1] <= bounds[..., 2]).all()
        torch.testing.assert_close(bounds[..., 1], direct)
    with pytest.raises(ValueError, match="not \\[0.33\\]"):
        PretrainedForecaster(network, TINY, horizon=4, targets=1, observed=False, head=QuantileHead((0.33, 0.5)))


def test_a_weights_file_round_trips_and_a_missing_or_foreign_file_is_one_line(weights_path, tmp_path):
    weights = WeightsFile.load(weights_path)
    assert weights.architecture == TINY and weights.card == {"note": "random weights"}
    with pytest.raises(ForecasterError, match=r"^pretrained weights .*no such file; write some with forecaster pretrain"):
        WeightsFile.load(tmp_path / "none.pt")
    torch.save({"something": 1}, tmp_path / "foreign.pt")
    with pytest.raises(ForecasterError, match="is not a pretrained forecaster's weights file"):
        WeightsFile.load(tmp_path / "foreign.pt")


def test_pretraining_learns_resumes_bit_identically_and_refuses_a_used_folder(tmp_path):
    pool = tiny_pool()
    settings = PretrainingSettings(epochs=2, batch_size=32, validation_share=0.2, stride=2)
    whole = pretrain_forecaster(pool, TINY, settings, tmp_path / "whole", progress=False)
    assert whole.card["epochs_done"] == 2 and whole.card["train_series"] + whole.card["validation_series"] == len(pool)
    stopped = pretrain_forecaster(pool, TINY, PretrainingSettings(**{**settings.__dict__, "time_limit": 0.0}),
                                  tmp_path / "parts", progress=False)
    assert stopped.card["epochs_done"] == 1
    resumed = pretrain_forecaster(pool, TINY, settings, tmp_path / "parts", resume=True, progress=False)
    assert resumed.card["epochs_done"] == 2
    for key, value in whole.state.items():
        torch.testing.assert_close(resumed.state[key], value, rtol=0, atol=0)
    with pytest.raises(ForecasterError, match="exists and is not empty"):
        pretrain_forecaster(pool, TINY, settings, tmp_path / "whole", progress=False)


RUN = ["data.source=synthetic", "data.rows=600", "data.transform=level", "windows.context=12", "windows.horizon=3",
       "train.epochs=1", "intervals.levels=[]"]


def test_a_run_scores_it_zero_shot_without_training_and_fine_tunes_it_when_asked(weights_path):
    config = read_config(None, [*RUN, "models=naive,pretrained", f"models.pretrained.weights={weights_path}"])
    run = run_experiment(config, progress=False).runs["pretrained"]
    assert run.training is None and np.isfinite(run.forecast).all()
    tuned = run_experiment(read_config(None, [*RUN, "models=pretrained", f"models.pretrained.weights={weights_path}",
                                              "models.pretrained.fine_tune=true"]), progress=False).runs["pretrained"]
    assert tuned.training is not None and len(tuned.training.history) == 1
    assert not np.allclose(tuned.forecast, run.forecast)  # trained further: other weights, other forecasts


def test_the_cli_runs_it_and_its_checkpoint_forecasts_and_a_change_transform_is_one_line(weights_path, tmp_path, capsys):
    sets = [item for value in [*RUN, "models=naive,pretrained", f"models.pretrained.weights={weights_path}"]
            for item in ("--set", value)]
    assert main(["run", *sets, "--threads", "1", "--quiet", "--out", str(tmp_path / "run")]) == 0
    assert not (tmp_path / "run" / "checkpoints" / "pretrained.pt").exists()  # zero-shot: its weights file is its own
    assert "windows of 12 frames, of the 16 it can read (windows.context=16" in capsys.readouterr().err
    tuned = ["--set", "models.pretrained.fine_tune=true"]
    assert main(["run", *sets, *tuned, "--threads", "1", "--quiet", "--out", str(tmp_path / "tuned")]) == 0
    checkpoint = tmp_path / "tuned" / "checkpoints" / "pretrained.pt"
    assert load_checkpoint(checkpoint).kind == "pretrained"
    assert main(["forecast", str(checkpoint), "--data", "synthetic", "--out", str(tmp_path / "next")]) == 0
    capsys.readouterr()
    bad = [item for value in [*RUN[:2], "windows.context=12", "windows.horizon=3", "models=pretrained",
                              f"models.pretrained.weights={weights_path}"] for item in ("--set", value)]
    assert main(["run", *bad, "--threads", "1", "--quiet", "--out", str(tmp_path / "bad")]) == 1
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1 and "set data.transform=level" in error[0] and not (tmp_path / "bad").exists()


def test_forecast_model_pretrained_forecasts_any_series_and_a_long_table_without_a_checkpoint(weights_path, tmp_path, capsys):
    out = tmp_path / "next"
    assert main(["forecast", "--model", "pretrained", "--weights", str(weights_path), "--data", "sunspots", "--horizon", "6",
                 "--out", str(out)]) == 0
    table = pd.read_csv(out / "forecast.csv")
    assert list(table.columns) == ["date", "forecast", "lo_80", "hi_80", "lo_95", "hi_95"] and len(table) == 6
    assert (table["lo_95"] <= table["lo_80"]).all() and (table["lo_80"] <= table["forecast"]).all()
    assert (table["forecast"] <= table["hi_80"]).all() and (table["hi_80"] <= table["hi_95"]).all()
    short = load_prices("sunspots").iloc[:10]  # shorter than the network's context: padded, as in its pretraining
    assert len(Forecaster.pretrained(weights_path, horizon=3).forecast(short)) == 3
    panel = tmp_path / "panel.csv"
    pd.DataFrame({"unique_id": ["a"] * 30 + ["b"] * 12, "ds": [*range(30), *range(12)],
                  "y": np.r_[np.arange(30.0), np.arange(12.0) % 3]}).to_csv(panel, index=False)
    assert main(["forecast", "--model", "pretrained", "--weights", str(weights_path), "--data", str(panel), "--horizon", "2",
                 "--out", str(tmp_path / "panel")]) == 0
    forecast = pd.read_csv(tmp_path / "panel" / "forecast.csv")
    assert list(forecast["unique_id"]) == ["a", "a", "b", "b"] and list(forecast["ds"]) == [30, 31, 12, 13]
    capsys.readouterr()
    assert main(["forecast", "--data", "sunspots"]) == 1
    assert "needs a checkpoint" in capsys.readouterr().err


def test_the_estimator_takes_the_pretrained_kind_zero_shot_on_level_values(weights_path):
    estimator = ForecastEstimator("pretrained", model={"weights": str(weights_path)}, horizon=3, levels=(80.0,))
    assert estimator.config.data.transform == "level" and estimator.config.windows.context == 16  # its whole reach
    assert ForecastEstimator("linear").config.windows.context == 64
    estimator.fit(load_prices("sunspots"))
    assert estimator.result_.runs["pretrained"].training is None  # zero-shot: scored, not trained
    table = estimator.predict(levels=[80])
    assert list(table.columns) == ["forecast", "lo_80", "hi_80"] and len(table) == 3


def test_the_shipped_weights_load_safely_forecast_offline_and_say_what_made_them():
    from forecaster.models.pretrained import SHIPPED

    assert SHIPPED.exists() and SHIPPED.stat().st_size < 10 * 2**20  # installed with the package, at most 10 MB
    weights = WeightsFile.load()  # torch.load(weights_only=True): a weights file cannot run code
    card = weights.card
    assert card["command"].startswith("forecaster pretrain experiments/pretrained/pretrained.yaml")  # its model card's
    assert not any("tourism" in row["source"] for row in card["pool"])  # the evaluation competition is held out
    table = Forecaster.pretrained(horizon=30).forecast(load_prices("sunspots"))  # beyond 24 steps: its median path
    assert len(table) == 30 and np.isfinite(table[["forecast", "lo_80", "hi_95"]].to_numpy()).all()


def test_a_panel_forecast_takes_constant_and_short_series_and_an_error_names_its_series(weights_path):
    dates = pd.date_range("2020-01-01", periods=30, freq="MS")
    frames = {"flat": pd.DataFrame({"y": np.full(30, 5.0)}, index=dates),
              "short": pd.DataFrame({"y": [1.0, 2.0, 3.0]}, index=dates[:3])}
    table = Forecaster.pretrained(weights_path, horizon=4).forecast_panel(frames)
    flat = table[table["unique_id"] == "flat"]
    np.testing.assert_allclose(flat[["forecast", "lo_80", "hi_95"]].to_numpy(), 5.0, atol=0.05)  # the constant, as it is
    assert np.isfinite(table[table["unique_id"] == "short"]["forecast"]).all()
    with pytest.raises(ForecasterError, match="the series has 1 date.s.; .* at least 2"):
        Forecaster.pretrained(weights_path, horizon=4).forecast(frames["short"].iloc[:1])
    frames["bad"] = pd.DataFrame({"y": [1.0, np.inf, 3.0]}, index=dates[:3])
    with pytest.raises(ForecasterError, match="^series 'bad': column 'y' has 1 infinite value"):
        Forecaster.pretrained(weights_path, horizon=4).forecast_panel(frames)
