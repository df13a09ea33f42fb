"""The core contract: batches and outputs (B, H, K), a loss and hooks passed to the loop, scoring on a named split,
and no step before final scoring reads a test target."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import torch

from forecaster import config_from_dict
from forecaster.config import ModelSpec
from forecaster.data.sources import load_prices
from forecaster.data.windows import Batch, WindowConfig, make_windows, split_bounds, split_windows
from forecaster.errors import ForecasterError
from forecaster.models import MODEL_KINDS, FutureForecaster, ModelDims, build_model, model_kind
from forecaster.runs import prepare
from forecaster.runs.experiment import run_experiment
from forecaster.runs.fitting import build, fit, score_model
from forecaster.runs.prepare import prepare_data
from forecaster.training.loop import TrainConfig, train_model

CPU = torch.device("cpu")
# The kinds that forecast from windows; the statistical ones forecast from whole histories (tests/test_statistical.py).
# Kinds a window builds alone: not the statistical ones (fitted per series) nor the pretrained one (its weights:
# tests/test_pretrained.py).
WINDOW_KINDS = [kind for kind, entry in MODEL_KINDS.items() if not entry.needs_setup]


def sine_windows(context: int = 12):
    steps = torch.arange(400, dtype=torch.float32)
    series = torch.stack([torch.sin(2 * math.pi * steps / 25), torch.cos(2 * math.pi * steps / 7)], dim=1)  # (L, 2)
    config = WindowConfig(context=context, horizon=3)
    return split_windows(series, split_bounds(400, config), config)


def test_a_batch_holds_past_future_and_targets_of_the_first_channels():
    series = torch.arange(40.0).reshape(20, 2)  # row t = [2t, 2t + 1]
    future = torch.arange(20.0)[:, None] * 10  # one input known ahead per step
    windows = make_windows(series, context=4, horizon=3, target_start=4, target_end=20, future=future)
    batch = windows.batch(torch.tensor([0, 2]))
    assert isinstance(batch, Batch) and len(batch) == 2
    assert batch.past.shape == (2, 4, 2) and batch.future.shape == (2, 3, 1) and batch.targets.shape == (2, 3, 1)
    origins = windows.origins[[0, 2]]
    for row, origin in enumerate(origins):
        steps = np.arange(origin + 1, origin + 4)
        np.testing.assert_array_equal(batch.targets[row, :, 0].numpy(), 2.0 * steps)  # channel 0 at t+1..t+H
        np.testing.assert_array_equal(batch.future[row, :, 0].numpy(), 10.0 * steps)  # known inputs at t+1..t+H
        np.testing.assert_array_equal(batch.past[row, -1].numpy(), [2.0 * origin, 2.0 * origin + 1])
    two = make_windows(series, context=4, horizon=3, target_start=4, target_end=20, target_channels=2)
    assert two.batch(slice(0, 5)).targets.shape == (5, 3, 2)
    assert two.targets.untyped_storage().data_ptr() == series.untyped_storage().data_ptr()  # still a view
    empty = windows.batch(slice(0, 5))
    assert make_windows(series, context=4, horizon=3, target_start=4, target_end=20).batch(slice(0, 5)).future.shape == (5, 3, 0)
    assert empty.future.shape == (5, 3, 1)


@pytest.mark.parametrize("kind", sorted(WINDOW_KINDS))
@pytest.mark.parametrize("targets", [1, 2])
def test_every_model_maps_past_to_horizon_by_targets(kind, targets):
    dims = ModelDims(context=10, horizon=3, channels=3, differenced=kind == "naive", no_change=0.0, targets=targets)
    config = model_kind(kind).config_class()
    if kind == "seasonal_naive":
        config = dataclasses.replace(config, period=5)
    model = build_model(kind, config, dims).eval()
    past = torch.randn(4, 10, 3)
    with torch.no_grad():
        assert model(past).shape == (4, 3, targets)
        assert model(past, torch.zeros(4, 3, 0)).shape == (4, 3, targets)


@pytest.mark.parametrize("kind", sorted(WINDOW_KINDS))
def test_trainable_kinds_read_future_inputs_and_naive_ones_ignore_them(kind):
    dims = ModelDims(context=10, horizon=3, channels=1, differenced=True, no_change=0.0, future_channels=2)
    config = model_kind(kind).config_class()
    if kind == "seasonal_naive":
        config = dataclasses.replace(config, period=5)
    model = build_model(kind, config, dims).eval()
    assert isinstance(model, FutureForecaster) == model_kind(kind).trainable
    past, future = torch.randn(4, 10, 1), torch.randn(4, 3, 2)
    with torch.no_grad():
        assert model(past, future).shape == (4, 3, 1)


def test_the_loss_is_a_parameter_of_the_loop():
    windows = sine_windows()
    calls = []

    def mean_absolute(outputs, targets):
        calls.append((outputs.shape, targets.shape))
        return (outputs - targets).abs().mean()

    model = build(ModelSpec("linear", "linear", model_kind("linear").config_class()),
                  ModelDims(12, 3, 2, differenced=False, no_change=0.0), seed=0)
    result = train_model(model, windows["train"], windows["val"], TrainConfig(epochs=2), device=CPU, loss=mean_absolute)
    assert calls and all(shape == (shape[0], 3, 1) for pair in calls for shape in pair)
    with torch.no_grad():  # the validation loss is that loss too
        batch = windows["val"].batch(slice(None))
        assert result.history[-1]["val_loss"] == pytest.approx(
            mean_absolute(model(batch.past), batch.targets).item(), rel=1e-5) or result.best_epoch < 2


def test_epoch_hook_sees_every_epoch_and_can_stop_training():
    windows = sine_windows()
    seen = []

    def hook(end):
        seen.append((end.epoch, end.train_loss, end.val_loss, end.best_epoch, end.model.training))
        return end.epoch == 3  # "prune" after the third epoch

    steps = []
    model = build(ModelSpec("linear", "linear", model_kind("linear").config_class()),
                  ModelDims(12, 3, 2, differenced=False, no_change=0.0), seed=0)
    config = TrainConfig(epochs=10, batch_size=64, patience=10)
    result = train_model(model, windows["train"], windows["val"], config, device=CPU, on_epoch_end=hook,
                         on_step_end=lambda module: steps.append(module.linear.weight.grad is not None))
    assert [epoch for epoch, *_ in seen] == [1, 2, 3]
    assert result.stopped_by_hook and len(result.history) == 3
    assert [(row["train_loss"], row["val_loss"]) for row in result.history] == [(t, v) for _, t, v, _, _ in seen]
    assert not any(training for *_, training in seen)  # the hook reads the model in eval mode
    assert len(steps) == 3 * math.ceil(len(windows["train"]) / 64) and all(steps)


def test_hooks_change_nothing_when_they_only_read(small_prices, tiny_config):
    config = config_from_dict(tiny_config)
    data = prepare_data(small_prices, config.data, config.windows)
    spec = config.models[-1]
    states = []
    for hook in (None, lambda end: None):
        model = build(spec, data.dims, seed=0)
        fit(model, data.windows["train"], data.windows["val"], config.train, device=CPU, on_epoch_end=hook)
        states.append(model.state_dict())
    for key, value in states[0].items():
        assert torch.equal(value, states[1][key]), key


def test_scoring_on_the_validation_split(small_prices, tiny_config):
    config = config_from_dict(tiny_config)
    data = prepare_data(small_prices, config.data, config.windows)
    naive = next(spec for spec in config.models if spec.kind == "naive")
    model = build(naive, data.dims, seed=0)
    run = score_model(data, naive, model, None, device=CPU, split="val")
    assert run.split == "val" and run.forecast.shape == (len(data.windows["val"]), 1)
    assert run.metrics["rel_mae"] == pytest.approx(1.0)
    with pytest.raises(ForecasterError, match="split='future' is not one of train, val, test"):
        score_model(data, naive, model, None, device=CPU, split="future")


def test_preparing_training_and_validating_never_read_a_test_target(tiny_config, monkeypatch):
    """The same run with every value of the test span replaced by NaN trains and validates identically."""
    tiny_config["data"] = {"source": "synthetic", "transform": "level", "calendar": ["hour"]}
    tiny_config["windows"]["context"] = 30
    tiny_config["models"].append({"kind": "seasonal_naive", "name": "seasonal_naive_auto", "period": "auto"})
    config = config_from_dict(tiny_config)
    frame = load_prices("synthetic").iloc[:1200]  # hourly, with a daily season the training span shows
    real_prepare_series = prepare.prepare_series

    def test_span_unknown(frame, data):
        series = real_prepare_series(frame, data)
        bounds = split_bounds(len(series.frames), config.windows, lost_rows=series.lost_rows)
        frames, levels = series.frames.copy(), series.levels.copy()
        frames[bounds.val_end :], levels[bounds.val_end :] = np.nan, np.nan  # the test span's targets and inputs
        return dataclasses.replace(series, frames=frames, levels=levels)

    honest = run_experiment(config, frame=frame)
    monkeypatch.setattr(prepare, "prepare_series", test_span_unknown)
    blind = run_experiment(config, frame=frame)
    assert blind.config == honest.config and honest.notes  # period auto found from the training span alone
    assert blind.history.equals(honest.history)  # every epoch's training and validation loss
    for name, run in honest.runs.items():
        for key, value in run.model.state_dict().items():
            assert torch.equal(value, blind.runs[name].model.state_dict()[key]), (name, key)
        val_honest = score_model(honest.data, run.spec, run.model, run.training, device=CPU, split="val")
        val_blind = score_model(blind.data, run.spec, blind.runs[name].model, run.training, device=CPU, split="val")
        np.testing.assert_equal(val_honest.metrics, val_blind.metrics, err_msg=name)  # NaN == NaN here
        # Conformal intervals are calibrated on validation errors alone: the same radii without the test span.
        assert run.intervals.calibration == blind.runs[name].intervals.calibration, name
        assert np.isnan(blind.runs[name].metrics["mae"])  # only final scoring reads the test span


def test_a_result_scored_on_validation_predicts_the_validation_span(small_prices, tiny_config):
    config = config_from_dict(tiny_config)
    result = run_experiment(config, frame=small_prices)
    validated = dataclasses.replace(result, runs={
        name: score_model(result.data, run.spec, run.model, run.training, device=CPU, split="val")
        for name, run in result.runs.items()})
    assert validated.split == "val" and result.split == "test"
    val_dates = result.data.series.dates[result.data.windows["val"].origins + 1]
    assert list(validated.predictions["date"]) == list(val_dates)  # horizon 1: one row per origin
