"""Split, scaler and windows: no look-ahead, every target after its window, views not copies."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from forecaster.data.windows import WindowConfig, fit_scaler, scaler_statistics, split_bounds, split_windows
from forecaster.errors import ForecasterError


def index_series(length: int, channels: int = 2) -> torch.Tensor:
    """A series whose channel 0 holds each step's own index, so values reveal positions."""
    steps = torch.arange(length, dtype=torch.float32)[:, None]
    return torch.cat([steps, -steps.repeat(1, channels - 1)], dim=1)


@pytest.mark.parametrize("context,horizon", [(5, 1), (8, 3), (1, 1)])
def test_every_target_lies_after_its_window_and_inside_its_split(context, horizon):
    config = WindowConfig(context=context, horizon=horizon)
    bounds = split_bounds(200, config)
    windows = split_windows(index_series(200), bounds, config)
    spans = {"train": (0, bounds.train_end), "val": (bounds.train_end, bounds.val_end), "test": (bounds.val_end, 200)}
    for name, split in windows.items():
        inputs, targets = split.inputs[..., 0], split.targets[..., 0]  # (N, T), (N, H) of the one target
        # Inputs are consecutive steps ending at the origin; targets are the next H steps.
        assert torch.equal(inputs[:, -1], torch.tensor(split.origins, dtype=torch.float32))
        assert torch.equal(inputs[:, 1:] - inputs[:, :-1], torch.ones(len(split), context - 1))
        assert torch.equal(targets, inputs[:, -1:] + torch.arange(1, horizon + 1))
        start, end = spans[name]
        assert targets.min() >= start and targets.max() < end, name
        assert inputs.min() >= 0


@pytest.mark.parametrize("horizon", [1, 4])
def test_validation_and_test_targets_are_all_covered_so_no_sample_is_dropped(horizon):
    config = WindowConfig(context=10, horizon=horizon)
    bounds = split_bounds(157, config)
    windows = split_windows(index_series(157), bounds, config)
    assert set(windows["test"].targets.flatten().int().tolist()) == set(range(bounds.val_end, 157))
    assert set(windows["val"].targets.flatten().int().tolist()) == set(range(bounds.train_end, bounds.val_end))
    assert len(windows["test"]) == 157 - bounds.val_end - horizon + 1
    assert len(windows["train"]) == bounds.train_end - 10 - horizon + 1


def test_validation_and_test_inputs_reach_back_into_the_previous_span():
    config = WindowConfig(context=12, horizon=1)
    bounds = split_bounds(300, config)
    windows = split_windows(index_series(300), bounds, config)
    assert windows["test"].inputs[0, 0, 0] == bounds.val_end - 12
    assert windows["val"].inputs[0, 0, 0] == bounds.train_end - 12


def test_windows_are_views_of_the_series_not_copies():
    series = index_series(120)
    config = WindowConfig(context=16, horizon=2)
    windows = split_windows(series, split_bounds(120, config), config)
    for split in windows.values():
        assert split.inputs.untyped_storage().data_ptr() == series.untyped_storage().data_ptr()
        assert split.targets.untyped_storage().data_ptr() == series.untyped_storage().data_ptr()


def test_scaler_statistics_come_from_the_training_span_alone():
    rng = np.random.default_rng(0)
    frames = rng.normal(size=(500, 3)) * [1.0, 5.0, 0.1]
    frames[400:] += 100.0  # a test span far from the training span: must not move the statistics
    bounds = split_bounds(500, WindowConfig(context=8))
    scaler = fit_scaler(frames, bounds)
    np.testing.assert_allclose(scaler.mean_, frames[: bounds.train_end].mean(axis=0))
    np.testing.assert_allclose(scaler.scale_, frames[: bounds.train_end].std(axis=0))
    offset, scale = scaler_statistics(fit_scaler(frames, bounds, center=False))
    np.testing.assert_array_equal(offset, 0.0)  # a zero change stays zero after scaling
    np.testing.assert_allclose(scale, frames[: bounds.train_end].std(axis=0))


def test_split_is_chronological_with_the_configured_fractions():
    bounds = split_bounds(1000, WindowConfig(context=8, train_fraction=0.6, val_fraction=0.2))
    assert (bounds.train_end, bounds.val_end, bounds.length) == (600, 800, 1000)


def test_too_few_rows_names_how_many_are_needed():
    config = WindowConfig(context=64, horizon=1)
    with pytest.raises(ForecasterError, match=r"50 rows are too few .* at least (\d+) rows are needed") as caught:
        split_bounds(50, config)
    needed = int(caught.value.args[0].split("at least ")[1].split()[0])
    split_bounds(needed, config)  # exactly enough
    with pytest.raises(ForecasterError):
        split_bounds(needed - 1, config)


def test_moving_windows_to_a_device_keeps_them_equal():
    config = WindowConfig(context=4, horizon=2)
    windows = split_windows(index_series(60), split_bounds(60, config), config)["test"]
    moved = windows.to("cpu")
    assert torch.equal(moved.inputs, windows.inputs) and torch.equal(moved.targets, windows.targets)


def test_on_the_fly_windows_equal_materialised_ones():
    rng = np.random.default_rng(3)
    series = torch.tensor(rng.normal(size=(90, 3)), dtype=torch.float32)
    config = WindowConfig(context=7, horizon=3)
    for split in split_windows(series, split_bounds(90, config), config).values():
        # The way most code builds windows: one copied slice per sample.
        inputs = torch.stack([series[t - 6 : t + 1] for t in split.origins])  # (N, T, C)
        targets = torch.stack([series[t + 1 : t + 4, 0] for t in split.origins])  # (N, H)
        assert torch.equal(split.inputs, inputs) and torch.equal(split.targets, targets[..., None])  # (N, H, K=1)
        batch = torch.tensor([len(split) - 1, 0, len(split) // 2])
        assert torch.equal(split.inputs[batch], inputs[batch])  # gathering a batch from the views
