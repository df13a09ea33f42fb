"""The training loop: it learns, it stops early and keeps the best weights, it repeats with a seed."""

from __future__ import annotations

import math

import pytest
import torch

from forecaster.data.windows import WindowConfig, split_bounds, split_windows
from forecaster.errors import ForecasterError
from forecaster.models import LinearConfig, LinearForecaster
from forecaster.training.loop import (
    TrainConfig,
    evaluate_loss,
    make_scheduler,
    resolve_device,
    seed_everything,
    steps_per_epoch,
    train_model,
    warmup_cosine,
)

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


@pytest.mark.slow
def test_compiled_training_gives_the_same_model():
    windows = sine_windows()
    histories = []
    for compile_model in (False, True):
        model = linear_model()
        config = TrainConfig(epochs=2, compile=compile_model, device="cpu")
        histories.append(train_model(model, windows["train"], windows["val"], config, device=CPU).history)
    for plain, compiled in zip(*histories, strict=True):
        assert compiled["val_loss"] == pytest.approx(plain["val_loss"], rel=1e-5)


# --- learning-rate schedules ---------------------------------------------------------------------


def test_cosine_factor_rises_linearly_through_the_warmup_then_falls_to_zero():
    factor = warmup_cosine(100, 0.1)  # 10 warm-up steps
    warm = [factor(step) for step in range(10)]
    assert warm[0] == pytest.approx(1 / 11)  # near 0, not 0: no step is wasted
    assert all(b - a == pytest.approx(1 / 11) for a, b in zip(warm, warm[1:]))
    assert factor(10) == 1.0
    decay = [factor(step) for step in range(10, 101)]
    assert all(b < a for a, b in zip(decay, decay[1:]))
    assert factor(99) < 1e-3 and factor(100) == 0.0  # the last planned step runs at ~0, the end of the plan at 0
    assert factor(50) == pytest.approx(0.5 * (1 + math.cos(math.pi * 40 / 90)))
    assert warmup_cosine(100, 0.0)(0) == 1.0  # no warm-up: the decay starts at the full rate


def test_steps_per_epoch_skips_a_last_batch_too_small_for_every_rank():
    assert steps_per_epoch(10, 4) == 3 and steps_per_epoch(8, 4) == 2
    assert steps_per_epoch(9, 4, ranks=2) == 2 and steps_per_epoch(10, 4, ranks=2) == 3


def test_cosine_training_follows_the_schedule_over_the_planned_steps():
    windows = sine_windows()
    config = TrainConfig(epochs=5, learning_rate=1e-2, patience=10, schedule="cosine", warmup=0.2, device="cpu")
    result = train_model(linear_model(), windows["train"], windows["val"], config, device=CPU)
    per_epoch = steps_per_epoch(len(windows["train"]), config.batch_size)
    factor = warmup_cosine(5 * per_epoch, 0.2)
    assert len(result.history) == 5
    # Each row's lr is the rate of the epoch's last step.
    assert [row["lr"] for row in result.history] == pytest.approx([1e-2 * factor(epoch * per_epoch - 1) for epoch in range(1, 6)])
    assert result.history[-1]["lr"] < 0.02 * config.learning_rate  # 20 steps: the last one at ~1% of the rate


def test_one_cycle_training_warms_up_peaks_and_anneals():
    windows = sine_windows()
    config = TrainConfig(epochs=4, learning_rate=1e-2, patience=10, schedule="one_cycle", warmup=0.5, device="cpu")
    result = train_model(linear_model(), windows["train"], windows["val"], config, device=CPU)
    rates = [row["lr"] for row in result.history]  # 4 steps an epoch: the peak at step 8 of 16, late in epoch 2
    assert len(rates) == 4  # every planned step taken: OneCycleLR refuses a step past its plan
    assert rates[0] < rates[1] > rates[2] > rates[3] and rates[1] == pytest.approx(config.learning_rate, rel=0.05)
    assert rates[3] < 1e-4 * config.learning_rate
    assert math.isfinite(result.best_val_loss)


def test_constant_schedule_leaves_the_learning_rate_alone():
    windows = sine_windows()
    model = linear_model()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    assert make_scheduler(optimizer, TrainConfig(), 100) is None
    result = train_model(model, windows["train"], windows["val"], TrainConfig(epochs=3, learning_rate=1e-2), device=CPU)
    assert [row["lr"] for row in result.history] == [1e-2] * 3


def test_a_schedule_survives_early_stopping_and_restores_the_best_weights():
    windows = sine_windows()
    model = linear_model()
    config = TrainConfig(epochs=50, learning_rate=3.0, patience=3, grad_clip=100.0, schedule="cosine", warmup=0.1)
    result = train_model(model, windows["train"], windows["val"], config, device=CPU)
    assert len(result.history) < 50  # stopped partway through the planned schedule
    assert evaluate_loss(model, windows["val"], batch_size=128) == pytest.approx(result.best_val_loss, rel=1e-5)


@pytest.mark.parametrize(("changes", "message"), [
    ({"schedule": "linear"}, "train.schedule='linear' is not valid; choose one of: constant, cosine, one_cycle"),
    ({"warmup": 1.0}, "train.warmup=1.0 must be a fraction of the training steps in [0, 1), e.g. 0.1"),
    ({"warmup": -0.1}, "train.warmup=-0.1 must be a fraction"),
    ({"warmup": float("nan")}, "train.warmup=nan must be a fraction"),
])
def test_bad_schedule_settings_are_one_line_errors(changes, message):
    with pytest.raises(ForecasterError) as caught:
        TrainConfig(**changes)
    assert message in str(caught.value) and "\n" not in str(caught.value)


def test_train_loss_mae_trains_and_stops_on_the_mean_absolute_error():
    from forecaster.models import ModelDims, QuantileHead, build_model
    from forecaster.runs.fitting import training_loss
    from forecaster.training.losses import mae, mse

    windows = sine_windows()
    model = linear_model()
    result = train_model(model, windows["train"], windows["val"], TrainConfig(epochs=5, learning_rate=1e-2), device=CPU,
                         loss=mae)
    batch = windows["val"].batch(slice(None))
    with torch.no_grad():
        absolute = (model(batch.past) - batch.targets).abs().mean().item()
    assert result.best_val_loss == pytest.approx(absolute, rel=1e-5)  # the validation loss is the MAE itself
    dims = ModelDims(context=12, horizon=2, channels=1, differenced=False, no_change=0.0)
    assert training_loss(model, dims, "mae") is mae and training_loss(model, dims, "mse") is not mae
    quantile = build_model("linear", LinearConfig(), ModelDims(context=12, horizon=2, channels=1, differenced=False, no_change=0.0,
                                                                head=QuantileHead.for_levels([80.0])))
    assert training_loss(quantile, dims, "mae") not in (mae, mse)  # a distributional head keeps its own loss
    with pytest.raises(ForecasterError, match="train.loss='huber' is not valid; choose one of: mse, mae"):
        TrainConfig(loss="huber")
