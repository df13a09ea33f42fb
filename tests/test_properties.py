"""Property tests (hypothesis) for the split, the windows and the target transforms.

Lengths, contexts, horizons and split fractions are drawn freely: ``split_bounds`` either succeeds or
raises a ForecasterError whose message names how many rows would do, and that many rows must then work.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from forecaster.data.features import DataConfig, prepare_series
from forecaster.data.transforms import TRANSFORM_NAMES, Diff, Level
from forecaster.data.windows import SplitBounds, WindowConfig, split_bounds, split_windows
from forecaster.errors import ForecasterError

# About 5 s in all on two shared cores; deadline off because the machine is shared.
FAST = settings(max_examples=150, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])

NEEDED = re.compile(r"(\d+) rows are too few .* at least (\d+) rows are needed")


@st.composite
def window_configs(draw) -> WindowConfig:
    """Any valid WindowConfig: fractions strictly inside (0, 1) with room left for a test span."""
    train_fraction = draw(st.floats(min_value=0.1, max_value=0.85))
    val_fraction = draw(st.floats(min_value=0.05, max_value=0.95 - train_fraction))
    return WindowConfig(
        context=draw(st.integers(1, 32)),
        horizon=draw(st.integers(1, 8)),
        train_fraction=train_fraction,
        val_fraction=val_fraction,
    )


def bounds_that_fit(length: int, config: WindowConfig, lost_rows: int) -> SplitBounds:
    """``split_bounds(length)``; when it refuses, check its message and return the bounds it promises."""
    try:
        return split_bounds(length, config, lost_rows=lost_rows)
    except ForecasterError as error:
        found = NEEDED.search(str(error))
        assert found, f"the message does not say how many rows are needed: {error}"
        assert int(found.group(1)) == length + lost_rows, str(error)
        needed = int(found.group(2))
        assert needed > length + lost_rows, str(error)
        if needed - lost_rows - 1 > length:
            # One row fewer than promised (but more than given) is still refused ...
            with pytest.raises(ForecasterError):
                split_bounds(needed - lost_rows - 1, config, lost_rows=lost_rows)
        # ... and exactly the promised number of rows works.
        return split_bounds(needed - lost_rows, config, lost_rows=lost_rows)


def index_series(length: int) -> torch.Tensor:
    """Channel 0 holds each step's own index (exact in float64), channel 1 its negative."""
    steps = torch.arange(length, dtype=torch.float64)[:, None]
    return torch.cat([steps, -steps], dim=1)  # (L, 2)


def spans_of(bounds: SplitBounds) -> dict[str, tuple[int, int]]:
    return {
        "train": (0, bounds.train_end),
        "val": (bounds.train_end, bounds.val_end),
        "test": (bounds.val_end, bounds.length),
    }


split_cases = given(length=st.integers(1, 400), config=window_configs(), lost_rows=st.sampled_from([0, 1]))


# --- split and windows ------------------------------------------------------------------------


@FAST
@split_cases
def test_window_counts_follow_the_formula(length, config, lost_rows):
    bounds = bounds_that_fit(length, config, lost_rows)
    assert 0 < bounds.train_end < bounds.val_end < bounds.length
    windows = split_windows(index_series(bounds.length), bounds, config)
    context, horizon = config.context, config.horizon
    expected = {
        "train": bounds.train_end - context - horizon + 1,
        "val": (bounds.val_end - bounds.train_end) - horizon + 1,
        "test": (bounds.length - bounds.val_end) - horizon + 1,
    }
    for name, count in expected.items():
        assert count >= 1, name
        assert len(windows[name]) == count, name
        # The views must really hold that many windows (a slice past the end would silently shorten).
        assert windows[name].inputs.shape == (count, context, 2), name
        assert windows[name].targets.shape == (count, horizon, 1), name
        assert windows[name].origins.shape == (count,), name


@FAST
@split_cases
def test_every_target_follows_its_inputs_without_look_ahead(length, config, lost_rows):
    bounds = bounds_that_fit(length, config, lost_rows)
    windows = split_windows(index_series(bounds.length), bounds, config)
    context, horizon = config.context, config.horizon
    for name, (start, end) in spans_of(bounds).items():
        split = windows[name]
        assert len(split) >= 1, name
        inputs, targets = split.inputs[..., 0], split.targets[..., 0]  # (N, T), (N, H) of the one target
        origins = torch.as_tensor(split.origins, dtype=torch.float64)  # (N,)
        # Inputs are the consecutive steps origin-T+1..origin; targets are origin+1..origin+H.
        assert torch.equal(inputs, origins[:, None] + torch.arange(1 - context, 1, dtype=torch.float64)), name
        assert torch.equal(targets, origins[:, None] + torch.arange(1, horizon + 1, dtype=torch.float64)), name
        assert torch.equal(split.inputs[..., 1], -inputs), name  # every channel from the same steps
        assert targets.min() >= start and targets.max() < end, name
        assert inputs.min() >= 0, name
        assert inputs.max() < end, name  # inputs never reach forward past the split's own span
    train = windows["train"]
    assert train.inputs[..., 0].max() < bounds.train_end
    assert train.targets.max() < bounds.train_end < bounds.val_end


@FAST
@split_cases
def test_validation_and_test_windows_cover_every_target_step(length, config, lost_rows):
    bounds = bounds_that_fit(length, config, lost_rows)
    windows = split_windows(index_series(bounds.length), bounds, config)
    for name in ("val", "test"):
        start, end = spans_of(bounds)[name]
        covered = set(windows[name].targets.flatten().long().tolist())
        assert covered == set(range(start, end)), name
        # The last step of the span is the final target of the last window: nothing is dropped.
        assert windows[name].targets[-1, -1] == end - 1, name


@settings(max_examples=200, deadline=None, database=None)
@given(length=st.integers(1, 200), config=window_configs())
def test_the_rows_needed_are_a_true_threshold(length, config):
    """'at least N rows are needed': N - 1 rows are refused and every length from N up fits.

    (Rounding the split fractions lets a few shorter lengths fit too, e.g. 22 of 0.7/0.2 with
    context 2 and horizon 3 while 23 does not; N is the length from which every series fits.)
    """
    try:
        split_bounds(length, config)
    except ForecasterError as error:
        needed = int(NEEDED.search(str(error)).group(2))
        with pytest.raises(ForecasterError):
            split_bounds(needed - 1, config)
        for more in range(needed, needed + 4 * (config.context + config.horizon) + 50):
            split_bounds(more, config)


# --- target transforms --------------------------------------------------------------------------


positive_series = arrays(
    np.float64,
    st.integers(2, 200),
    elements=st.floats(min_value=1e-3, max_value=1e6, allow_nan=False, allow_infinity=False),
)


@FAST
@given(values=positive_series, horizon=st.integers(1, 12), transform=st.sampled_from(TRANSFORM_NAMES))
def test_the_inverse_from_each_anchor_gives_back_the_levels(values, horizon, transform):
    dates = pd.date_range("2020-01-01", periods=len(values), freq="D", name="date")
    frame = pd.DataFrame({"Volume": values[::-1].copy(), "Close": values}, index=dates)
    config = DataConfig(column="Close", features=("Volume",), transform=transform)
    if np.all(values == values[0]):
        # A constant target has nothing to forecast: refused by name rather than transformed.
        with pytest.raises(ForecasterError, match="'Close' is constant"):
            prepare_series(frame, config)
        return
    prepared = prepare_series(frame, config)
    lost = prepared.lost_rows
    assert lost == (0 if transform == "level" else 1) == prepared.transform.rows_lost
    assert prepared.columns == ("Close", "Volume")
    assert prepared.frames.shape == (len(values) - lost, 2)
    assert prepared.dates.equals(dates[lost:])
    np.testing.assert_array_equal(prepared.levels, values[lost:])

    steps = len(prepared.frames)
    origins = np.arange(steps - horizon)  # every anchor with H later steps to forecast
    if len(origins) == 0:
        return
    offsets = origins[:, None] + np.arange(1, horizon + 1)  # (N, H) step indices of the targets
    forecast = prepared.frames[offsets, 0]  # (N, H) the true transformed values as the "forecast"
    restored = prepared.transform.invert(forecast, prepared.levels[origins])
    expected = prepared.levels[offsets]
    assert restored.shape == expected.shape
    if transform == "log_return":
        np.testing.assert_allclose(restored, expected, rtol=1e-8, atol=0)
    else:
        np.testing.assert_allclose(restored, expected, rtol=1e-9, atol=1e-12 * np.abs(values).max())


any_series = arrays(
    np.float64,
    st.tuples(st.integers(2, 200), st.integers(1, 3)),
    elements=st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, allow_infinity=False),
)


@FAST
@given(values=any_series)
def test_diff_then_cumulative_sum_gives_back_any_series(values):
    changes = Diff().apply(values)
    assert changes.shape == (len(values) - 1, values.shape[1])
    tolerance = dict(rtol=1e-9, atol=1e-12 * len(values) * max(np.abs(values).max(), 1.0))
    rebuilt = values[0] + np.concatenate([np.zeros((1, values.shape[1])), np.cumsum(changes, axis=0)])
    np.testing.assert_allclose(rebuilt, values, **tolerance)
    # The library's own inverse, one row per column, anchored at the first value.
    restored = Diff().invert(changes.T, values[0])  # (C, N-1)
    np.testing.assert_allclose(restored.T, values[1:], **tolerance)


@FAST
@given(values=any_series)
def test_level_is_an_exact_copy_of_any_series(values):
    levels = Level().apply(values)
    np.testing.assert_array_equal(levels, values)
    assert not np.shares_memory(levels, values)
    restored = Level().invert(levels.T, values[0])
    np.testing.assert_array_equal(restored.T, values)
