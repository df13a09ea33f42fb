"""The estimator: fit a DataFrame, predict the future by date, score against the naive forecast."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from forecaster.checkpoint import Checkpoint, save_checkpoint
from forecaster.data.panel import read_long
from forecaster.errors import ForecasterError
from forecaster.reuse.estimator import ForecastEstimator
from forecaster.reuse.forecast import Forecaster


def test_fit_predict_score(small_prices, monkeypatch):
    import forecaster.checkpoint

    estimator = ForecastEstimator("mlp", context=8, horizon=2, model={"hidden": [8]}, epochs=2, device="cpu")
    with pytest.raises(ForecasterError, match="call fit"):
        estimator.predict()
    for name in ("to_payload", "from_payload", "write_payload", "read_payload"):  # the file format is never involved
        monkeypatch.setattr(forecaster.checkpoint, name, lambda *args, **kwargs: pytest.fail("the estimator used the file format"))
    future = estimator.fit(small_prices).predict()
    assert isinstance(estimator.checkpoint_, Checkpoint) and estimator.checkpoint_.kind == "mlp"
    assert list(future.index) == list(pd.bdate_range(small_prices.index[-1], periods=3)[1:])
    assert future["forecast"].between(1000, 2000).all()
    scores = estimator.score()
    assert list(scores.index) == ["naive", "mlp"] and scores.loc["naive", "rel_mae"] == 1.0


def test_bad_estimator_arguments():
    with pytest.raises(ForecasterError, match="not a trainable model kind"):
        ForecastEstimator("naive")
    with pytest.raises(ForecasterError, match="unknown key mlp.width"):
        ForecastEstimator("mlp", model={"width": 3})


# Three daily series of their own dates (starts a day apart), the long layout NeuralForecast takes.
IDS = ("store_a", "store_b", "007")


def long_frame(length: int = 200, *, integer: bool = False, ids=IDS) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    parts = []
    for k, uid in enumerate(ids):
        ds = np.arange(3, 3 + length) if integer else pd.date_range("2020-01-01", periods=length, freq="D") + pd.Timedelta(days=k)
        y = 10 + k + np.sin(np.arange(length) / 5) + rng.normal(0, 0.1, length)
        parts.append(pd.DataFrame({"unique_id": uid, "ds": ds, "y": y}))
    return pd.concat(parts, ignore_index=True)


def small_estimator(**settings) -> ForecastEstimator:
    return ForecastEstimator("mlp", context=8, horizon=3, model={"hidden": [8]}, epochs=2, device="cpu", transform="diff",
                             **settings)


@pytest.fixture(scope="module")
def fitted_long() -> ForecastEstimator:
    return small_estimator().fit(long_frame())


def test_a_long_frame_trains_one_global_model_and_predicts_in_neuralforecasts_layout(fitted_long):
    frame = long_frame()
    future = fitted_long.predict()
    assert list(future.columns) == ["unique_id", "ds", "mlp"]
    assert list(future["unique_id"]) == [uid for uid in IDS for _ in range(3)]  # ids as given ("007" stays text)
    for uid in IDS:
        last = frame.loc[frame["unique_id"] == uid, "ds"].max()
        assert list(future.loc[future["unique_id"] == uid, "ds"]) == list(pd.date_range(last, periods=4, freq="D")[1:])
    assert future["mlp"].between(8, 14).all()
    bounded = fitted_long.predict(levels=[80, 95])
    assert list(bounded.columns) == ["unique_id", "ds", "mlp", "mlp-lo-80", "mlp-hi-80", "mlp-lo-95", "mlp-hi-95"]
    assert (bounded["mlp-lo-95"] <= bounded["mlp-lo-80"]).all() and (bounded["mlp-lo-80"] <= bounded["mlp"]).all()
    assert (bounded["mlp"] <= bounded["mlp-hi-80"]).all() and (bounded["mlp-hi-80"] <= bounded["mlp-hi-95"]).all()
    np.testing.assert_array_equal(bounded["mlp"], future["mlp"])
    scores = fitted_long.score()
    assert set(scores.index.get_level_values("series")) == {*IDS, "all"}


def test_a_long_frame_predicts_as_the_saved_checkpoint_forecasts(fitted_long, tmp_path):
    save_checkpoint(fitted_long.checkpoint_, tmp_path / "mlp.pt")
    table = Forecaster.load(tmp_path / "mlp.pt").forecast_panel(read_long(long_frame()), column="y", exchange="none",
                                                                 levels=(80,))
    future = fitted_long.predict(levels=[80])
    np.testing.assert_allclose(future["mlp"], table["forecast"], rtol=1e-6)
    np.testing.assert_allclose(future["mlp-hi-80"], table["hi_80"], rtol=1e-6)


def test_predict_of_a_new_long_frame_forecasts_each_of_its_series(fitted_long):
    new = long_frame(ids=("x", "store_a")).assign(ds=lambda table: table["ds"] + pd.Timedelta(days=30))
    future = fitted_long.predict(new)
    assert list(future["unique_id"]) == ["x"] * 3 + ["store_a"] * 3
    assert future["ds"].iloc[0] == new.loc[new["unique_id"] == "x", "ds"].max() + pd.Timedelta(days=1)
    with pytest.raises(ForecasterError, match="not calibrated"):  # a series it never saw has no conformal radii
        fitted_long.predict(new, levels=[80])


def test_custom_long_column_names_name_the_output_columns_too():
    frame = long_frame(ids=("a", "b")).rename(columns={"unique_id": "store", "ds": "day", "y": "sales"})
    future = small_estimator(id_column="store", time_column="day", value_column="sales", levels=()).fit(frame).predict()
    assert list(future.columns) == ["store", "day", "mlp"] and len(future) == 6


def test_integer_ds_are_time_steps_and_the_forecast_continues_them():
    frame = long_frame(integer=True)
    estimator = small_estimator().fit(frame)
    future = estimator.predict(levels=[80])
    assert pd.api.types.is_integer_dtype(future["ds"])
    assert list(future["ds"]) == [203, 204, 205] * 3 and list(future.columns)[-2:] == ["mlp-lo-80", "mlp-hi-80"]
    gap = frame.drop(index=10)
    with pytest.raises(ForecasterError, match="misses ds 13 .it jumps from 12 to 14."):
        estimator.predict(gap)


def test_bad_long_frames_are_one_line_naming_the_problem(fitted_long):
    with pytest.raises(ForecasterError, match="has no column 'unique_id'.*found columns: ds, y"):
        small_estimator().fit(long_frame().drop(columns="unique_id"))
    with pytest.raises(ForecasterError, match="has 2 rows for"):
        small_estimator().fit(pd.concat([long_frame(), long_frame().iloc[:1]], ignore_index=True))
    with pytest.raises(ForecasterError, match="not list"):
        fitted_long.predict([1, 2, 3])


def test_a_wide_frame_gives_what_it_gave_before(small_prices):
    """The single-series path is the one the estimator always took: run_experiment on the frame, Forecaster.forecast by
    date (main's code, inlined), the same numbers for the same seed."""
    from forecaster.runs.experiment import run_experiment

    estimator = ForecastEstimator("mlp", context=8, horizon=2, model={"hidden": [8]}, epochs=2, device="cpu", seed=3)
    future = estimator.fit(small_prices).predict(levels=[80])
    result = run_experiment(estimator.config, frame=small_prices)
    checkpoint = result.checkpoint("mlp")
    expected = Forecaster(model=result.runs["mlp"].model, pipeline=checkpoint.pipeline, dims=checkpoint.dims,
                          intervals=checkpoint.intervals, name="mlp").forecast(small_prices, levels=(80,)).set_index("date")
    pd.testing.assert_frame_equal(future, expected)
    assert list(future.columns) == ["forecast", "lo_80", "hi_80"] and future.index.name == "date"
