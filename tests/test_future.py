"""Inputs known ahead (data.future, data.future_calendar, data.holidays): read at the forecast steps, never later;
scaled on the training span; read by every trainable kind through one wrapper; carried by checkpoints to
`forecaster forecast`."""

from __future__ import annotations

import sys

import numpy as np
import pandas as pd
import pytest
import torch
import yaml

from forecaster.checkpoint import Checkpoint, from_payload, load_checkpoint, to_payload
from forecaster.cli import main
from forecaster.config import config_from_dict, read_config, write_config
from forecaster.data.calendar import FutureSpec, calendar_features, holiday_flags
from forecaster.data.features import DataConfig, prepare_series
from forecaster.data.windows import SplitBounds, WindowConfig
from forecaster.errors import ForecasterError
from forecaster.models import (
    FutureForecaster,
    HeadForecaster,
    LinearConfig,
    MLPConfig,
    ModelDims,
    PointHead,
    QuantileHead,
    build_model,
    output_head,
)
from forecaster.runs.fitting import predict
from forecaster.runs.prepare import prepare_data
from forecaster.training.loop import TrainConfig, seed_everything, train_model

CPU = torch.device("cpu")


def hourly_load(rows: int = 600, seed: int = 0) -> pd.DataFrame:
    """An hourly load driven by the hour of day and a planned event known ahead (``event``, 0 or 1)."""
    rng = np.random.default_rng(seed)
    dates = pd.date_range("2024-07-01", periods=rows, freq="h", name="date")
    event = (rng.random(rows) < 0.1).astype(float)
    load = 10 + np.sin(2 * np.pi * dates.hour / 24) + 3 * event + 0.1 * rng.standard_normal(rows)
    return pd.DataFrame({"load": load, "event": event, "temperature": 20 + rng.standard_normal(rows)}, index=dates)


def test_future_inputs_are_the_known_values_untransformed_then_the_dates_channels():
    frame = hourly_load(200)
    config = DataConfig(column="load", transform="log_return", future=("event",), future_calendar=("hour",), holidays="US")
    series = prepare_series(frame, config)
    assert series.future_spec == FutureSpec(("event",), ("hour",), "US") and series.future.shape == (199, 4)
    np.testing.assert_array_equal(series.future[:, 0], frame["event"].to_numpy()[1:])  # as given: not log-differenced
    np.testing.assert_array_equal(series.future[:, 1:3], calendar_features(series.dates, ("hour",)))
    july_4th = series.dates.normalize() == pd.Timestamp("2024-07-04")
    assert july_4th.sum() == 24 and (series.future[:, 3] == july_4th).all()  # every hour of the holiday, nothing else
    assert series.frames.shape == (199, 1)  # the past channels are unchanged
    assert prepare_series(frame, DataConfig(column="load")).future is None


def test_a_window_reads_the_future_inputs_of_its_own_target_steps_scaled_on_the_training_span():
    config = DataConfig(column="load", transform="level", future=("event", "temperature"), future_calendar=("hour",))
    data = prepare_data(hourly_load(), config, WindowConfig(context=12, horizon=4))
    assert data.dims.future_channels == 4
    train_rows = data.series.future[: data.bounds.train_end]
    offset, scale = data.future_scaling["future_offset"], data.future_scaling["future_scale"]
    np.testing.assert_allclose(offset, train_rows.mean(axis=0))
    np.testing.assert_allclose(scale, train_rows.std(axis=0))
    scaled = (data.series.future - offset) / scale
    for windows in data.windows.values():
        future = windows.future_inputs.numpy()
        for row, origin in enumerate(windows.origins):  # steps origin+1 .. origin+H: the targets' rows, never later
            np.testing.assert_allclose(future[row], scaled[origin + 1 : origin + 5], rtol=1e-6, atol=1e-6)
        batch = windows.batch(slice(0, 3))
        assert batch.future.shape == (3, 4, 4)
        np.testing.assert_array_equal(batch.future.numpy(), future[:3])


def test_changing_the_future_columns_after_the_test_span_changes_no_test_prediction():
    frame = hourly_load(700)
    changed = frame.copy()
    changed.iloc[600:, changed.columns.get_loc("event")] = 50.0  # rows after the test span: unknown at any of its origins
    config = DataConfig(column="load", transform="level", future=("event",), future_calendar=("hour",))
    windows = WindowConfig(context=12, horizon=3)
    forecasts = []
    for data_frame in (frame, changed):
        data = prepare_data(data_frame, config, windows, bounds=SplitBounds(train_end=400, val_end=500, length=600))
        seed_everything(0)
        model = build_model("linear", LinearConfig(), data.dims)
        train_model(model, data.windows["train"], data.windows["val"], TrainConfig(epochs=3, device="cpu"), device=CPU)
        forecasts.append(predict(model, data.windows["test"], device=CPU))
    assert isinstance(model, FutureForecaster)
    np.testing.assert_array_equal(forecasts[0], forecasts[1])
    # ... while a change inside the test span's target steps does change them (the model reads the column).
    inside = frame.copy()
    inside.iloc[550:600, inside.columns.get_loc("event")] = 50.0
    data = prepare_data(inside, config, windows, bounds=SplitBounds(train_end=400, val_end=500, length=600))
    assert not np.allclose(predict(model, data.windows["test"], device=CPU), forecasts[0])


@pytest.mark.parametrize("quantiles", [(), (0.1, 0.5, 0.9)])
@pytest.mark.parametrize("targets", [1, 2])
def test_the_wrapper_adds_a_per_step_term_for_every_target_and_quantile(targets, quantiles):
    dims = ModelDims(context=8, horizon=3, channels=2, differenced=False, no_change=0.0, targets=targets,
                     future_channels=5, head=QuantileHead(quantiles) if quantiles else PointHead())
    torch.manual_seed(0)
    model = build_model("mlp", MLPConfig(hidden=(8,)), dims).eval()  # no dropout
    assert isinstance(model, FutureForecaster) and output_head(model) == dims.head
    assert isinstance(model.base, HeadForecaster) == bool(quantiles)
    past, future = torch.randn(4, 8, 2), torch.randn(4, 3, 5)
    shape = (4, 3, targets, *((len(quantiles),) if quantiles else ()))
    with torch.no_grad():
        # Built, the head is zero: the wrapper forecasts exactly as its base model does.
        torch.testing.assert_close(model(past, future), model.base(past), rtol=0, atol=0)
        model.head[-1].bias.fill_(1.0)
        assert model(past, future).shape == shape
        torch.testing.assert_close(model(past, future), model.base(past) + 1.0)
    with pytest.raises(ValueError, match="reads 5 future input channel"):
        model(past)


def test_without_future_inputs_nothing_is_wrapped():
    dims = ModelDims(context=8, horizon=3, channels=1, differenced=True, no_change=0.0)
    assert type(build_model("linear", LinearConfig(), dims)).__name__ == "LinearForecaster"


def test_bad_future_settings_are_one_line_errors(monkeypatch):
    frame = hourly_load(100)
    with pytest.raises(ForecasterError, match=r"^data.future has 'events', not a column of the series; columns: load, event, temperature$"):
        prepare_series(frame, DataConfig(column="load", future=("events",)))
    with pytest.raises(ForecasterError, match="data.future has 'load', a target"):
        prepare_series(frame, DataConfig(column="load", future=("load",)))
    daily = frame.resample("D").mean()
    with pytest.raises(ForecasterError, match="data.future_calendar has 'hour', but dates 1 day apart carry no hour"):
        prepare_series(daily, DataConfig(column="load", transform="level", future_calendar=("hour",)))
    with pytest.raises(ForecasterError, match=r"data.holidays='XX' is not a country code the holidays package knows .*list_supported"):
        holiday_flags(frame.index, "XX")
    monkeypatch.setitem(sys.modules, "holidays", None)  # as if the package were not installed
    with pytest.raises(ForecasterError, match=r"^data.holidays='US' needs the holidays package: pip install 'forecaster\[calendars\]'$"):
        prepare_series(frame, DataConfig(column="load", holidays="US"))
    with pytest.raises(ForecasterError, match=r"data.future_calendar\[0\]=.minute. is not valid; choose one of: hour"):
        config_from_dict({"data": {"future_calendar": ["minute"]}})


def test_the_future_settings_round_trip_through_the_config_and_the_checkpoint(tmp_path, as_version_3):
    raw = {"data": {"column": "load", "future": ["event"], "future_calendar": ["hour", "day_of_week"], "holidays": "DE"},
           "models": ["linear"]}
    config = config_from_dict(raw)
    assert config.data.future_spec == FutureSpec(("event",), ("hour", "day_of_week"), "DE")
    write_config(config, tmp_path / "c.yaml")
    written = yaml.safe_load((tmp_path / "c.yaml").read_text())["data"]
    assert written["future"] == ["event"] and written["future_calendar"] == ["hour", "day_of_week"] and written["holidays"] == "DE"
    assert read_config(tmp_path / "c.yaml") == config
    dims = ModelDims(context=4, horizon=2, channels=1, differenced=False, no_change=0.0, future_channels=6)
    checkpoint = Checkpoint.from_model(build_model("linear", LinearConfig(), dims), name="linear", kind="linear",
                                       config=LinearConfig(), dims=dims, columns=("load",), transform="level",
                                       offset=np.zeros(1), scale=np.ones(1), future=config.data.future_spec,
                                       future_offset=np.arange(6.0), future_scale=np.ones(6))
    assert from_payload(to_payload(checkpoint), "file") == checkpoint
    with pytest.raises(ValueError, match="give 6 channel"):
        Checkpoint.from_model(build_model("linear", LinearConfig(), dims), name="linear", kind="linear", config=LinearConfig(),
                              dims=dims, columns=("load",), transform="level", offset=np.zeros(1), scale=np.ones(1),
                              future=config.data.future_spec, future_offset=np.zeros(5), future_scale=np.ones(5))
    plain = ModelDims(context=4, horizon=2, channels=1, differenced=False, no_change=0.0)
    older = as_version_3(to_payload(Checkpoint.from_model(build_model("linear", LinearConfig(), plain), name="linear",
                                                          kind="linear", config=LinearConfig(), dims=plain, columns=("load",),
                                                          transform="level", offset=np.zeros(1), scale=np.ones(1))))
    older["format_version"] = 2
    del older["future"], older["dims"]["future_channels"]  # as written before inputs known ahead
    assert from_payload(older, "old file").pipeline.future == FutureSpec()


@pytest.fixture
def future_run(tmp_path):
    """A tiny run on an hourly CSV whose model reads `event` and the hour of each forecast step."""
    frame = hourly_load(400)
    data = tmp_path / "load.csv"
    frame.to_csv(data)
    config = {"data": {"source": str(data), "column": "load", "transform": "level", "future": ["event"],
                       "future_calendar": ["hour"]},
              "windows": {"context": 12, "horizon": 3}, "train": {"epochs": 2, "device": "cpu", "seed": 0},
              "models": [{"kind": "naive"}, {"kind": "linear"}]}
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    assert main(["run", str(path), "--out", str(tmp_path / "run"), "--quiet"]) == 0
    return frame, data, tmp_path / "run" / "checkpoints" / "linear.pt"


def test_forecast_reads_the_future_columns_of_the_forecast_dates_from_a_file(future_run, tmp_path, capsys):
    frame, data, checkpoint_path = future_run
    checkpoint = load_checkpoint(checkpoint_path)
    assert checkpoint.pipeline.future == FutureSpec(("event",), ("hour",)) and checkpoint.dims.future_channels == 3
    dates = pd.date_range(frame.index[-1], periods=4, freq="h")[1:]
    known = pd.DataFrame({"event": [0.0, 1.0, 0.0]}, index=pd.Index(dates, name="date"))
    known.to_csv(tmp_path / "known.csv")
    out = tmp_path / "forecast"
    capsys.readouterr()
    assert main(["forecast", str(checkpoint_path), "--data", str(data), "--future", str(tmp_path / "known.csv"),
                 "--out", str(out)]) == 0
    written = pd.read_csv(out / "forecast.csv", parse_dates=["date"])
    assert list(written["date"]) == list(dates)
    # By hand: the last window, and the event and hour of the three forecast dates, each scaled as in training.
    model = checkpoint.model()
    window = (frame["load"].to_numpy()[-12:] - checkpoint.pipeline.offset[0]) / checkpoint.pipeline.scale[0]
    future = np.column_stack([known["event"], calendar_features(dates, ("hour",))])
    future = (future - np.array(checkpoint.pipeline.future_offset)) / np.array(checkpoint.pipeline.future_scale)
    with torch.no_grad():
        scaled = model(torch.tensor(window, dtype=torch.float32)[None, :, None], torch.tensor(future, dtype=torch.float32)[None])
    pipeline = checkpoint.pipeline
    np.testing.assert_allclose(written["forecast"], scaled.double().numpy()[0, :, 0] * pipeline.scale[0] + pipeline.offset[0], rtol=1e-5)
    # A missing date or column, or no file at all: one line naming the columns and the dates.
    known.iloc[:2].assign(event=[0.0, np.nan]).to_csv(tmp_path / "short.csv")
    assert main(["forecast", str(checkpoint_path), "--data", str(data), "--future", str(tmp_path / "short.csv")]) == 1
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1
    assert "the future inputs lack event on " + f"{dates[1]:%Y-%m-%d %H:%M}, {dates[2]:%Y-%m-%d %H:%M}" in error
    assert main(["forecast", str(checkpoint_path), "--data", str(data)]) == 1
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1 and "future input column(s) event" in error and "--future FILE.csv" in error


def test_a_global_model_reads_each_series_inputs_known_ahead_scaled_by_its_own_training_span(tmp_path):
    from forecaster.runs.multiseries import run_global

    config = config_from_dict({
        "data": {"source": ["a", "b"], "column": "load", "transform": "level", "future": ["event"], "future_calendar": ["hour"]},
        "windows": {"context": 12, "horizon": 2}, "train": {"epochs": 1, "device": "cpu"}, "models": ["naive", "linear"]})
    frames = {"a": hourly_load(300, seed=1), "b": hourly_load(300, seed=2).assign(event=lambda f: 5 * f["event"])}
    result = run_global(config, frames=frames)
    checkpoint = result.checkpoint("linear")
    assert isinstance(result.runs["linear"].model, FutureForecaster) and checkpoint.dims.future_channels == 3
    for record, part in zip(checkpoint.pipeline.series, result.parts.values()):
        offset, scale = part.data.future_scaling.values()
        assert record.future_offset == tuple(offset) and record.future_scale == tuple(scale)
    assert checkpoint.pipeline.series[0].future_scale != checkpoint.pipeline.series[1].future_scale  # b's events are 5 times a's
    dates = pd.date_range(frames["b"].index[-1], periods=3, freq="h")[1:]
    known = pd.DataFrame({"event": [5.0, 0.0]}, index=dates)
    scaled = checkpoint.pipeline.future_inputs(frames["b"].index, dates, known, source="b")
    second = checkpoint.pipeline.series[1]
    assert scaled[0, 0] == pytest.approx((5.0 - second.future_offset[0]) / second.future_scale[0])


def test_a_series_embedding_gives_each_series_of_a_global_run_its_own_learned_identity(tmp_path):
    from forecaster.reuse.forecast import Forecaster
    from forecaster.runs.experiment import run_experiment
    from forecaster.runs.multiseries import run_global

    raw = {"data": {"source": ["a", "b"], "column": "load", "transform": "level", "series_embedding": True},
           "windows": {"context": 12, "horizon": 2}, "train": {"epochs": 2, "device": "cpu"}, "models": ["naive", "linear"]}
    config = config_from_dict(raw)
    write_config(config, tmp_path / "c.yaml")
    assert read_config(tmp_path / "c.yaml") == config and config.data.series_embedding
    frames = {"a": hourly_load(300, seed=1), "b": hourly_load(300, seed=2).assign(load=lambda f: 30 - f["load"])}
    result = run_global(config, frames=frames)
    for index, part in enumerate(result.parts.values()):  # one column: the series' index, the same at every step, not scaled
        future = part.data.windows["test"].future_inputs.numpy()
        assert future.shape[2] == 1 and (future == index).all() and part.data.dims.series == 2
        assert (part.data.series.future == index).all()  # the unscaled inputs known ahead, too
    checkpoint = result.checkpoint("linear")
    assert checkpoint.pipeline.future == FutureSpec(series=("a", "b")) and checkpoint.pipeline.future_scale == (1.0,)
    assert checkpoint.dims.series == 2 and checkpoint.dims.future_channels == 1
    assert from_payload(to_payload(checkpoint), "file") == checkpoint and to_payload(checkpoint)["dims"]["series"] == 2
    dates = pd.date_range(frames["a"].index[-1], periods=3, freq="h")[1:]
    np.testing.assert_array_equal(checkpoint.pipeline.future_inputs(frames["a"].index, dates, source="b"), [[1], [1]])
    np.testing.assert_array_equal(checkpoint.pipeline.future_inputs(frames["a"].index, dates, source="c"), [[2], [2]])
    # The model learnt something per series: the same window forecast as a's and as b's differs; an unseen series
    # (index 2) reads the embedding's padding row, zero and untrained, so its identity term is zero.
    model = result.runs["linear"].model
    assert isinstance(model, FutureForecaster) and model.identity.weight.shape == (3, 32)
    assert not model.identity.weight[2].any() and model.identity.weight[:2].abs().sum() > 0
    past = torch.zeros(1, 12, 1)
    with torch.no_grad():
        as_a, as_b, unseen = (model(past, torch.full((1, 2, 1), float(index))) for index in range(3))
        no_identity = model.head[2](model.head[1](model.head[0](torch.zeros(1, 2, 0))))  # the first layer's bias alone
        assert torch.equal(model.correction(torch.full((1, 2, 1), 2.0)), no_identity)
    assert not torch.allclose(as_a, as_b) and not torch.allclose(as_a, unseen)
    forecaster = Forecaster.from_checkpoint(checkpoint)
    b, c = (forecaster.forecast(frames["b"], source=source, column="load")["forecast"] for source in ("b", "c"))
    assert len(b) == len(c) == 2 and np.isfinite(c).all()  # an unknown source (index 2) forecasts, by its own scaling
    with pytest.raises(ValueError, match="the series' index, a whole number from 0 to 2 .*; got 0.5, 3"):
        model(torch.zeros(2, 12, 1), torch.tensor([[[0.5], [1.0]], [[3.0], [0.0]]]))
    single = config_from_dict({**raw, "data": {**raw["data"], "source": "a"}})
    with pytest.raises(ForecasterError, match="data.series_embedding learns an identity per series of a global run"):
        run_experiment(single, frame=frames["a"])


def test_a_thousand_series_identity_is_an_embedding_of_1001_rows_not_an_input_a_thousand_wide():
    labels = tuple(f"s{index}" for index in range(1000))
    spec = FutureSpec(calendar=("hour",), series=labels)
    assert spec.channels == 3 and spec.identity("s7", 2).tolist() == [[7.0], [7.0]] and (spec.identity("new", 1) == 1000).all()
    dims = ModelDims(context=8, horizon=3, channels=1, differenced=False, no_change=0.0, future_channels=3, series=1000)
    model = build_model("linear", LinearConfig(), dims)
    assert isinstance(model, FutureForecaster) and model.identity.weight.shape == (1001, 32)
    assert model.head[0].weight.shape == (32, 2) and not model.identity.weight[1000].any()  # the unknown series' row: zero
    index = torch.tensor([0.0, 999.0, 1000.0, 5.0])[:, None, None].expand(4, 3, 1)
    with torch.no_grad():
        model.head[-1].weight.fill_(1.0)  # past the zero start, so that gradients reach the embedding
    model(torch.randn(4, 8, 1), torch.cat([torch.randn(4, 3, 2), index], dim=-1)).sum().backward()
    grad = model.identity.weight.grad
    assert grad[[0, 999, 5]].abs().sum(dim=1).gt(0).all() and not grad[1000].any() and not grad[1:5].any()  # padding: untrained
    with pytest.raises(ValueError, match="reads 3 future input channel"):
        model(torch.randn(1, 8, 1), torch.zeros(1, 3, 1000))


def test_transfer_refuses_a_model_with_inputs_known_ahead_and_says_why(future_run):
    from forecaster.reuse.transfer import transfer_data

    frame, _, path = future_run
    with pytest.raises(ForecasterError, match="inputs-known-ahead head was fit to the source's own inputs"):
        transfer_data(load_checkpoint(path), frame, config_from_dict({}))
