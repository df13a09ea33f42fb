"""The whole pipeline in Python: no leakage from the future, repeatability, honest naive baseline."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from forecaster.config import config_from_dict
from forecaster.data.features import DataConfig
from forecaster.data.windows import SplitBounds, WindowConfig, split_bounds
from forecaster.models import TransformerConfig, TransformerForecaster
from forecaster.runs.experiment import run_experiment, save_run
from forecaster.runs.fitting import predict
from forecaster.runs.prepare import prepare_data
from forecaster.training.loop import TrainConfig, seed_everything, train_model


def with_future_rows(prices: pd.DataFrame, rows: int, seed: int = 1) -> pd.DataFrame:
    """``prices`` followed by ``rows`` new business days of made-up positive prices."""
    rng = np.random.default_rng(seed)
    dates = pd.bdate_range(prices.index[-1] + pd.Timedelta(days=1), periods=rows)
    extra = pd.DataFrame(
        {column: prices[column].iloc[-1] * np.exp(rng.normal(0, 0.05, rows).cumsum()) for column in prices.columns},
        index=dates,
    )
    return pd.concat([prices, extra])


def test_appending_data_after_the_test_span_changes_no_test_prediction(small_prices):
    data_config, window_config = DataConfig(features=("Volume",)), WindowConfig(context=10, horizon=2)
    original = prepare_data(small_prices, data_config, window_config)
    longer = with_future_rows(small_prices, 150)
    # The same train and validation spans; the test span grows by the 150 appended rows.
    bounds = SplitBounds(original.bounds.train_end, original.bounds.val_end, original.bounds.length + 150)
    extended = prepare_data(longer, data_config, window_config, bounds=bounds)
    assert original.pipeline == extended.pipeline
    forecasts = []
    for data in (original, extended):
        seed_everything(0)
        model = TransformerForecaster(TransformerConfig(d_model=8, n_heads=2, n_layers=1), context=10, horizon=2, channels=2)
        train_model(model, data.windows["train"], data.windows["val"], TrainConfig(epochs=2, device="cpu"), device=torch.device("cpu"))
        forecasts.append(predict(model, data.windows["test"], device=torch.device("cpu")))
    count = len(original.windows["test"])
    assert len(extended.windows["test"]) > count  # the future rows did add test windows ...
    np.testing.assert_array_equal(forecasts[0], forecasts[1][:count])  # ... and changed none of the old ones


def test_same_seed_gives_identical_metrics_and_another_seed_does_not(small_prices, tiny_config):
    runs = [run_experiment(config_from_dict(tiny_config), frame=small_prices) for _ in range(2)]
    tiny_config["train"]["seed"] = 1
    reseeded = run_experiment(config_from_dict(tiny_config), frame=small_prices)
    columns = ["mae", "rmse", "mape", "rel_mae", "mase", "directional_accuracy", "parameters"]
    pd.testing.assert_frame_equal(runs[0].metrics[columns], runs[1].metrics[columns])
    neural = runs[0].metrics["kind"].isin(["mlp", "rnn", "transformer"])
    assert not np.allclose(runs[0].metrics.loc[neural, "mae"], reseeded.metrics.loc[neural, "mae"])


@pytest.mark.parametrize("transform", ["log_return", "diff"])
def test_naive_rel_mae_is_exactly_one_for_differenced_targets(small_prices, tiny_config, transform):
    tiny_config["data"]["transform"] = transform
    tiny_config["models"] = [{"kind": "naive"}]
    result = run_experiment(config_from_dict(tiny_config), frame=small_prices)
    row = result.metrics.iloc[0]
    assert row["rel_mae"] == 1.0
    assert np.isnan(row["directional_accuracy"])
    actual, anchors = result.data.actual_and_anchors("test")
    np.testing.assert_array_equal(result.runs["naive"].forecast[:, 0], anchors)  # yesterday's price, exactly


def test_naive_on_levels_repeats_the_last_value(small_prices, tiny_config):
    tiny_config["data"]["transform"] = "level"
    tiny_config["models"] = [{"kind": "naive"}]
    result = run_experiment(config_from_dict(tiny_config), frame=small_prices)
    _, anchors = result.data.actual_and_anchors("test")
    # float32 windows: the last level comes back to within float32's relative precision.
    np.testing.assert_allclose(result.runs["naive"].forecast[:, 0], anchors, rtol=1e-6)
    assert result.metrics.iloc[0]["rel_mae"] == pytest.approx(1.0, abs=1e-5)
    assert np.isnan(result.metrics.iloc[0]["directional_accuracy"])  # float32 rounding is not a "direction"


def test_metrics_are_in_price_units_and_match_the_predictions(small_prices, tiny_config):
    result = run_experiment(config_from_dict(tiny_config), frame=small_prices)
    predictions = result.predictions
    assert len(predictions) == len(result.data.windows["test"])  # horizon 1: one row per test window
    for name in result.runs:
        mae = np.mean(np.abs(predictions[name] - predictions["actual"]))
        assert result.metrics.set_index("model").loc[name, "mae"] == pytest.approx(mae)
    # Prices of the S&P 500 in 2000 were around 1,300-1,500: errors in points, not in scaled units.
    assert predictions["actual"].between(1000, 2000).all()
    assert result.metrics["mae"].between(1, 100).all()


def test_saved_checkpoint_reproduces_the_test_forecasts(small_prices, tiny_config, tmp_path):
    from forecaster.checkpoint import load_model

    result = run_experiment(config_from_dict(tiny_config), frame=small_prices)
    folder = save_run(result, tmp_path / "run")
    for name in ("linear", "mlp", "rnn", "transformer"):
        model, checkpoint = load_model(folder / "checkpoints" / f"{name}.pt")
        assert checkpoint.pipeline.columns == ("Adj Close",) and checkpoint.pipeline.transform == "log_return"
        assert checkpoint.pipeline.scale == tuple(result.data.pipeline.scale)  # exactly: no rounding on the way
        scaled = predict(model, result.data.windows["test"], device=torch.device("cpu"))
        original = predict(result.runs[name].model, result.data.windows["test"], device=torch.device("cpu"))
        np.testing.assert_array_equal(scaled, original)


def test_multi_step_horizon_writes_per_step_metrics(small_prices, tiny_config, tmp_path):
    tiny_config["windows"]["horizon"] = 3
    tiny_config["models"] = [{"kind": "naive"}, {"kind": "linear"}]
    result = run_experiment(config_from_dict(tiny_config), frame=small_prices)
    steps = result.step_metrics
    assert sorted(steps["step"].unique()) == [1, 2, 3]
    assert (steps[steps["model"] == "naive"]["rel_mae"] == 1.0).all()
    folder = save_run(result, tmp_path / "run")
    assert (folder / "metrics_by_step.csv").is_file()
    assert len(result.predictions) == 3 * len(result.data.windows["test"])


def test_save_run_refuses_a_non_empty_folder_and_leaves_nothing_half_written(small_prices, tiny_config, tmp_path):
    from forecaster.errors import ForecasterError

    tiny_config["models"] = [{"kind": "naive"}]
    result = run_experiment(config_from_dict(tiny_config), frame=small_prices)
    occupied = tmp_path / "occupied"
    occupied.mkdir()
    (occupied / "keep.txt").write_text("mine")
    with pytest.raises(ForecasterError, match="already exists"):
        save_run(result, occupied)
    assert [p.name for p in occupied.iterdir()] == ["keep.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["occupied"]  # no stray staging folder


def test_split_bounds_of_the_default_protocol(small_prices):
    # 5031 prices -> 5030 log-returns -> 3521 / 755 / 754 steps (70/15/15).
    bounds = split_bounds(5030, WindowConfig())
    assert (bounds.train_end, bounds.val_end - bounds.train_end, bounds.length - bounds.val_end) == (3521, 754, 755)
