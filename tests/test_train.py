"""The training loop: it learns, it stops early and keeps the best weights, it repeats with a seed."""

from __future__ import annotations

import math

import pytest
import torch

from forecaster.data.windows import WindowConfig, split_bounds, split_windows
from forecaster.models import LinearConfig, LinearForecaster
from forecaster.training.loop import TrainConfig, evaluate_loss, resolve_device, seed_everything, train_model

CPU = torch.device("cpu")


def sine_windows(context: int = 12):
    """Windows over a noiseless sine: a linear model can fit it almost exactly."""
    steps = torch.arange(600, dtype=torch.float32)
    series = torch.sin(2 * math.pi * steps / 25)[:, None]
    config = WindowConfig(context=context, horizon=1)
    return split_windows(series, split_bounds(600, config), config)


def linear_model(context: int = 12) -> LinearForecaster:
    seed_everything(0)
    return LinearForecaster(LinearConfig(), context=context, horizon=1, channels=1)


def test_training_lowers_the_validation_loss():
    windows = sine_windows()
    model = linear_model()
    before = evaluate_loss(model, windows["val"], batch_size=64)
    result = train_model(model, windows["train"], windows["val"], TrainConfig(epochs=40, learning_rate=1e-2), device=CPU)
    assert result.best_val_loss < before / 20
    assert evaluate_loss(model, windows["val"], batch_size=64) == pytest.approx(result.best_val_loss)
    assert [row["epoch"] for row in result.history] == list(range(1, len(result.history) + 1))


def test_early_stopping_restores_the_best_weights():
    windows = sine_windows()
    model = linear_model()
    # A learning rate this large diverges after the first epochs: the best epoch comes early.
    config = TrainConfig(epochs=50, learning_rate=3.0, patience=3, grad_clip=100.0)
    result = train_model(model, windows["train"], windows["val"], config, device=CPU)
    val_losses = [row["val_loss"] for row in result.history]
    assert len(val_losses) == result.best_epoch + 3  # stopped `patience` epochs after the best one
    assert result.best_val_loss == min(val_losses)
    assert evaluate_loss(model, windows["val"], batch_size=128) == pytest.approx(result.best_val_loss, rel=1e-5)


def test_same_seed_same_weights():
    windows = sine_windows()
    states = []
    for _ in range(2):
        model = linear_model()
        train_model(model, windows["train"], windows["val"], TrainConfig(epochs=3, seed=7), device=CPU)
        states.append(model.state_dict())
    assert all(torch.equal(states[0][key], states[1][key]) for key in states[0])


def test_device_resolution():
    assert resolve_device("cpu") == CPU
    assert resolve_device("auto").type in {"cpu", "cuda", "mps"}
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            resolve_device("cuda")


def test_precision_choice():
    from forecaster.training.loop import autocast_dtype

    assert autocast_dtype("fp32", CPU) is None
    assert autocast_dtype("auto", CPU) is None  # bf16 autocast is slower than fp32 on most CPUs
    assert autocast_dtype("bf16", CPU) == torch.bfloat16
    if torch.cuda.is_available() and torch.cuda.is_bf16_supported():
        assert autocast_dtype("auto", torch.device("cuda")) == torch.bfloat16


def test_bf16_training_tracks_fp32_within_tolerance():
    windows = sine_windows()
    losses = {}
    for precision in ("fp32", "bf16"):
        model = linear_model()
        config = TrainConfig(epochs=10, learning_rate=1e-2, precision=precision, device="cpu")
        losses[precision] = train_model(model, windows["train"], windows["val"], config, device=CPU).best_val_loss
    # bf16 keeps 8 bits of mantissa: the same fit, to within a few percent of the tiny fp32 loss.
    assert losses["bf16"] == pytest.approx(losses["fp32"], rel=0.1, abs=1e-3)


def test_compiled_training_gives_the_same_model():
    windows = sine_windows()
    histories = []
    for compile_model in (False, True):
        model = linear_model()
        config = TrainConfig(epochs=2, compile=compile_model, device="cpu")
        histories.append(train_model(model, windows["train"], windows["val"], config, device=CPU).history)
    for plain, compiled in zip(*histories, strict=True):
        assert compiled["val_loss"] == pytest.approx(plain["val_loss"], rel=1e-5)
