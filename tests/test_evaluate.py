"""Tests for forecaster.evaluation.metrics (hand-computed metrics, inverse transforms) and batched prediction (runs.fitting)."""

import math

import numpy as np
import pytest
import torch

from forecaster.data.transforms import Diff, Level, LogReturn
from forecaster.data.windows import make_windows
from forecaster.evaluation.metrics import (
    forecast_metrics,
    insample_naive_mae,
    metrics_by_step,
    no_move_tolerance,
    to_series_units,
)
from forecaster.models import LinearConfig, ModelDims, NaiveConfig, build_model
from forecaster.runs.fitting import predict


def column(*values: float) -> np.ndarray:
    """An (N, 1) array: N points of a one-step horizon."""
    return np.array(values, dtype=np.float64)[:, None]


# --- forecast_metrics ----------------------------------------------------------------------------


def test_forecast_metrics_match_hand_computation():
    """MAE, RMSE, MAPE, rel_mae, MASE and directional accuracy on four points, worked out by hand."""
    anchors = np.array([101.0, 52.0, 195.0, 42.0])
    actual = column(100, 50, 200, 40)
    forecast = column(102, 49, 198, 42)
    metrics = forecast_metrics(actual, forecast, anchors=anchors, scale_mae=3.5)

    # errors: 102-100=2, 49-50=-1, 198-200=-2, 42-40=2 -> |.| = 2+1+2+2 = 7 -> mean 1.75
    assert metrics["mae"] == pytest.approx(1.75)
    # squares: 4+1+4+4 = 13 -> mean 3.25 -> sqrt(3.25)
    assert metrics["rmse"] == pytest.approx(math.sqrt(3.25))
    # |e|/actual: 2/100=0.02, 1/50=0.02, 2/200=0.01, 2/40=0.05 -> sum 0.10 -> mean 0.025 -> 2.5 %
    assert metrics["mape"] == pytest.approx(2.5)
    # naive (anchor) errors: |101-100|=1, |52-50|=2, |195-200|=5, |42-40|=2 -> 10/4 = 2.5; 1.75/2.5 = 0.7
    assert metrics["rel_mae"] == pytest.approx(0.7)
    # MASE: 1.75 / 3.5 = 0.5
    assert metrics["mase"] == pytest.approx(0.5)
    # predicted moves from anchor: +1, -3, +3, 0 (no move: not counted)
    # actual moves from anchor:    -1, -2, +5, -2
    # signs match on points 2 and 3, not on 1 -> 2/3
    assert metrics["directional_accuracy"] == pytest.approx(2 / 3)


def test_mape_skips_zero_actuals_but_other_metrics_keep_them():
    """MAPE ignores points whose actual is 0 (undefined ratio); MAE still counts them."""
    anchors = np.array([1.0, 100.0, 50.0])
    actual = column(0, 100, 50)
    forecast = column(5, 110, 45)
    metrics = forecast_metrics(actual, forecast, anchors=anchors, scale_mae=1.0)
    # MAPE over the two non-zero points: |110-100|/100 = 0.1, |45-50|/50 = 0.1 -> mean 0.1 -> 10 %
    assert metrics["mape"] == pytest.approx(10.0)
    # MAE over all three: (5 + 10 + 5) / 3 = 20/3
    assert metrics["mae"] == pytest.approx(20 / 3)
    assert math.isfinite(metrics["mape"])


def test_naive_forecast_has_rel_mae_one_and_no_direction():
    """The random walk (anchors repeated) scores rel_mae exactly 1.0 and has no directional accuracy."""
    anchors = np.array([100.0, 50.0, 200.0])
    actual = np.array([[101.0, 99.0], [48.0, 53.0], [200.0, 210.0]])
    forecast = np.repeat(anchors[:, None], 2, axis=1)
    metrics = forecast_metrics(actual, forecast, anchors=anchors, scale_mae=2.0)
    assert metrics["rel_mae"] == 1.0
    assert math.isnan(metrics["directional_accuracy"])
    # |101-100|+|99-100|+|48-50|+|53-50|+|200-200|+|210-200| = 1+1+2+3+0+10 = 17 -> 17/6
    assert metrics["mae"] == pytest.approx(17 / 6)


def test_float_noise_below_tolerance_is_not_a_move():
    """A forecast within ``no_move`` of the anchor level (float32 noise) predicts no direction: NaN."""
    anchors = np.array([100.0, 0.0])
    actual = column(101, 3)
    forecast = anchors[:, None] + np.array([[1e-7], [-2e-7]])  # moves of 1e-7 and 2e-7
    # no_move_tolerance([100, 0, 50]) = 1e-5 * mean(|levels|) = 1e-5 * 50 = 5e-4: both moves are noise.
    no_move = no_move_tolerance(np.array([100.0, 0.0, 50.0]))
    assert no_move == pytest.approx(5e-4)
    assert math.isnan(forecast_metrics(actual, forecast, anchors=anchors, scale_mae=1.0, no_move=no_move)["directional_accuracy"])
    # Without a tolerance the same noise would count as two wrong-or-right "predictions".
    assert forecast_metrics(actual, forecast, anchors=anchors, scale_mae=1.0)["directional_accuracy"] == 0.5


def test_insample_naive_mae_is_mean_absolute_one_step_change():
    """MASE's scale: mean |diff| of the training levels."""
    # diffs 102-100=2, 101-102=-1, 105-101=4 -> (2+1+4)/3 = 7/3
    assert insample_naive_mae(np.array([100.0, 102.0, 101.0, 105.0])) == pytest.approx(7 / 3, rel=1e-12)


def test_metrics_by_step_are_per_step_against_the_anchor():
    """Each horizon step gets its own row; the naive forecast at every step is the anchor (last level)."""
    anchors = np.array([100.0, 200.0])
    actual = np.array([[102.0, 104.0], [198.0, 195.0]])
    forecast = np.array([[101.0, 106.0], [199.0, 201.0]])
    rows = metrics_by_step(actual, forecast, anchors=anchors, scale_mae=2.0)
    assert [row["step"] for row in rows] == [1, 2]

    step1, step2 = rows
    # step 1: |101-102| = 1, |199-198| = 1 -> MAE 1; naive |100-102| = 2, |200-198| = 2 -> 2; rel 0.5
    assert step1["mae"] == pytest.approx(1.0)
    assert step1["rel_mae"] == pytest.approx(0.5)
    assert step1["mase"] == pytest.approx(0.5)  # 1 / 2
    # moves: +1 vs +2 (match), -1 vs -2 (match) -> 1.0
    assert step1["directional_accuracy"] == pytest.approx(1.0)
    # step 2: |106-104| = 2, |201-195| = 6 -> MAE 4
    # naive is still the anchor: |100-104| = 4, |200-195| = 5 -> 4.5; rel 4/4.5 = 8/9
    assert step2["mae"] == pytest.approx(4.0)
    assert step2["rel_mae"] == pytest.approx(8 / 9)
    assert step2["mase"] == pytest.approx(2.0)  # 4 / 2
    # moves: +6 vs +4 (match), +1 vs -5 (miss) -> 1/2
    assert step2["directional_accuracy"] == pytest.approx(0.5)


# --- to_series_units -----------------------------------------------------------------------------


def test_to_series_units_log_return():
    """log_return: anchors * exp(cumsum(scaled * scale + mean))."""
    mean, scale = 0.5, 2.0
    returns = np.array([[math.log(1.1), math.log(1.0)], [math.log(0.5), math.log(2.0)]])
    scaled = (returns - mean) / scale
    prices = to_series_units(scaled, mean=mean, scale=scale, anchors=np.array([100.0, 50.0]), transform=LogReturn())
    # row 1: 100 * 1.1 = 110, then 110 * 1.0 = 110; row 2: 50 * 0.5 = 25, then 25 * 2 = 50
    np.testing.assert_allclose(prices, [[110.0, 110.0], [25.0, 50.0]], rtol=1e-12)


def test_to_series_units_diff():
    """diff: anchors + cumsum(scaled * scale + mean)."""
    mean, scale = 1.0, 2.0
    # scaled 1 -> 1*2+1 = 3; scaled -3 -> -3*2+1 = -5
    prices = to_series_units(np.array([[1.0, -3.0]]), mean=mean, scale=scale, anchors=np.array([100.0]), transform=Diff())
    # 100 + 3 = 103, 103 - 5 = 98
    np.testing.assert_allclose(prices, [[103.0, 98.0]], rtol=1e-12)


def test_to_series_units_level_ignores_anchors():
    """level: just scaled * scale + mean, whatever the anchors."""
    # 0.5*4+100 = 102, -1*4+100 = 96
    prices = to_series_units(np.array([[0.5, -1.0]]), mean=100.0, scale=4.0, anchors=np.array([7.0]), transform=Level())
    np.testing.assert_allclose(prices, [[102.0, 96.0]], rtol=1e-12)


# --- predict -------------------------------------------------------------------------------------


def small_windows():
    """16 steps x 2 channels; context 4, horizon 2, targets in [4, 15) -> origins 3..12, N = 10 windows."""
    series = torch.stack([torch.arange(16.0) * 1.5 - 3.0, torch.arange(16.0).flip(0)], dim=1)  # (16, 2)
    windows = make_windows(series, context=4, horizon=2, target_start=4, target_end=15)
    assert len(windows) == 10
    return series, windows


@pytest.mark.parametrize("batch_size", [3, 1024])
def test_predict_naive_level_returns_last_input_for_every_window(batch_size):
    """The level naive forecast of each window is series[origin, 0]; no window dropped for any batch size."""
    series, windows = small_windows()
    model = build_model("naive", NaiveConfig(), ModelDims(context=4, horizon=2, channels=2, differenced=False, no_change=0.0))
    predictions = predict(model, windows, device=torch.device("cpu"), batch_size=batch_size)
    assert predictions.shape == (10, 2, 1)  # 10 = 3+3+3+1 with batch_size 3; H = 2 steps of K = 1 target
    assert predictions.dtype == np.float64
    expected = series[windows.origins, 0].double().numpy()
    np.testing.assert_array_equal(predictions[..., 0], np.repeat(expected[:, None], 2, axis=1))


def test_predict_batches_in_order_and_matches_one_full_pass():
    """Batched prediction (batch_size 3, N=10) equals one eval-mode pass over all windows, rows in order."""
    torch.manual_seed(0)
    _, windows = small_windows()
    model = build_model("linear", LinearConfig(), ModelDims(context=4, horizon=2, channels=2, differenced=False, no_change=0.0))
    predictions = predict(model, windows, device=torch.device("cpu"), batch_size=3)
    with torch.no_grad():
        expected = model(windows.inputs).double().numpy()
    assert predictions.shape == (len(windows), 2, 1)
    np.testing.assert_allclose(predictions, expected, rtol=1e-6, atol=1e-6)
