"""The statistical kinds (ets, theta, arima: StatsForecast's AutoETS, AutoTheta, AutoARIMA) fitted per series and scored
on the same test points as ours.

The tests that fit need statsforecast, which pins pandas<3: in the project's pandas-3 environment they skip, and CI runs
them in a second environment with the stats extra (.venv-stats, see .ci/run). The registry, the refusals and the
missing-extra error are tested everywhere.
"""

from __future__ import annotations

import sys
import warnings

import numpy as np
import pandas as pd
import pytest
import torch

from forecaster.config import config_from_dict, read_config
from forecaster.errors import ForecasterError
from forecaster.models import MODEL_KINDS, ETSConfig, ModelDims, build_model, count_parameters
from forecaster.runs.experiment import run_experiment, save_run

H = 6
REASON = "statsforecast pins pandas<3 (the stats extra); CI runs these in .venv-stats"


def statsforecast_models():
    """statsforecast's models, or the test skips (the extra is not installed)."""
    pytest.importorskip("statsforecast", reason=REASON)
    return pytest.importorskip("statsforecast.models", reason=REASON)


def monthly(n: int, seed: int, columns: tuple[str, ...] = ("y",)) -> pd.DataFrame:
    """A positive monthly series with a season of 12, a trend and noise."""
    rng = np.random.default_rng(seed)
    steps = np.arange(n)
    values = {column: 50 + 5 * np.sin(2 * np.pi * steps / 12 + k) + 0.1 * steps + 0.3 * rng.normal(0, 1, n).cumsum()
              for k, column in enumerate(columns)}
    return pd.DataFrame(values, index=pd.date_range("2000-01-01", periods=n, freq="MS"))


def panel(n: int = 60, count: int = 3) -> dict[str, pd.DataFrame]:
    return {f"s{i}": monthly(n + 7 * i, seed=i) for i in range(count)}


def config(models, *, split: str = "holdout", levels=(80, 95), **data):
    return config_from_dict({"data": {"transform": "level", "column": "y", **data},
                             "windows": {"context": 12, "horizon": H, "split": split},
                             "models": models, "intervals": {"levels": list(levels)}})


# --- everywhere: the registry, refusals, the missing extra ---------------------------------------------------------


def test_the_registry_has_the_statistical_kinds_untrained_and_out_of_the_defaults():
    for kind in ("ets", "theta", "arima"):
        entry = MODEL_KINDS[kind]
        assert entry.statistical is not None and not entry.trainable and entry.search is None
    assert not {"ets", "theta", "arima"} & {spec.kind for spec in read_config(None).models}  # they need the extra


def test_the_placeholder_has_no_parameters_and_refuses_windows():
    model = build_model("ets", ETSConfig(), ModelDims(context=12, horizon=H, channels=1, differenced=False, no_change=0.0))
    assert count_parameters(model) == 0
    with pytest.raises(ForecasterError, match="whole history"):
        model(torch.zeros(2, 12, 1))


def test_a_bad_ets_model_or_n_jobs_is_one_line():
    with pytest.raises(ForecasterError, match="three letters"):
        config(["naive", {"kind": "ets", "model": "XYZ"}])
    with pytest.raises(ForecasterError, match="n_jobs=0"):
        config(["naive", {"kind": "theta", "n_jobs": 0}])


def test_without_statsforecast_a_run_stops_with_one_line_naming_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "statsforecast", None)  # import statsforecast raises ImportError
    with pytest.raises(ForecasterError) as caught:
        run_experiment(config(["naive", "ets"], levels=()), frame=panel())
    message = str(caught.value)
    assert "pip install 'forecaster[stats]'" in message and "\n" not in message


# --- with statsforecast --------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_a_global_run_scores_every_statistical_kind_beside_the_naive_row(tmp_path):
    statsforecast_models()
    models = ["naive", {"kind": "seasonal_naive", "period": 12}, {"kind": "ets", "n_jobs": 1}, {"kind": "theta", "n_jobs": 1},
              {"kind": "arima", "n_jobs": 1}]
    folder = save_run(run_experiment(config(models, levels=()), frame=panel()), tmp_path / "run")
    metrics = pd.read_csv(folder / "metrics.csv")
    pooled = metrics[metrics["series"] == "all"].set_index("model")
    assert list(pooled.index) == ["naive", "seasonal_naive", "ets", "theta", "arima"]
    assert pooled.loc["naive", "rel_mae"] == pytest.approx(1.0)
    for kind in ("ets", "theta", "arima"):
        assert np.isfinite(pooled.loc[kind, ["mase", "rel_mae", "mase_seasonal", "smape", "gmean_rel_mase"]].astype(float)).all()
        assert pooled.loc[kind, "parameters"] == 0
    assert not (folder / "checkpoints").exists() or not any((folder / "checkpoints").iterdir())
    assert {"ets", "theta", "arima"} <= set(pd.read_csv(folder / "predictions.csv").columns)


def test_ets_forecasts_and_intervals_are_autoets_fitted_on_everything_before_the_test_span():
    models = statsforecast_models()
    frames = panel()
    result = run_experiment(config([{"kind": "ets", "n_jobs": 1}]), frame=frames)
    for label, frame in frames.items():
        run = result.parts[label].runs["ets"]
        direct = models.AutoETS(season_length=12).fit(frame["y"].to_numpy()[:-H]).predict(h=H, level=[80, 95])
        np.testing.assert_allclose(run.forecast[0], direct["mean"], rtol=0, atol=1e-9)
        for index, level in enumerate((80, 95)):
            np.testing.assert_allclose(run.intervals.lower[0, :, index], direct[f"lo-{level}"], rtol=0, atol=1e-9)
            np.testing.assert_allclose(run.intervals.upper[0, :, index], direct[f"hi-{level}"], rtol=0, atol=1e-9)


def test_its_own_intervals_are_scored_like_ours_against_the_random_walk():
    statsforecast_models()
    result = run_experiment(config(["naive", {"kind": "ets", "n_jobs": 1}], split="fraction"), frame=monthly(300, seed=1))
    metrics = result.metrics.set_index("model")
    assert metrics.loc["ets", "interval_method"] == "ets"
    assert 0 < metrics.loc["ets", "coverage_95"] <= 1 and 0 < metrics.loc["ets", "coverage_80"] <= metrics.loc["ets", "coverage_95"]
    assert np.isfinite(metrics.loc["ets", "rel_crps"]) and metrics.loc["ets", "rel_crps"] > 0
    intervals = result.intervals
    assert {"random_walk", "naive", "ets"} <= set(intervals["model"])
    assert set(intervals[intervals["model"] == "ets"]["method"]) == {"ets"}


def test_no_test_value_is_read_before_its_origin():
    """Changing the test span from some step on leaves every forecast made before that step as it was (many origins)."""
    statsforecast_models()
    frame = monthly(160, seed=2)
    run = config([{"kind": "ets", "n_jobs": 1}, {"kind": "theta", "n_jobs": 1}], split="fraction", levels=(80,))
    before = run_experiment(run, frame=frame)
    origins = before.data.windows["test"].origins
    cut = int(origins[len(origins) // 2])  # values after this step change
    changed = frame.copy()
    changed.iloc[cut + 1 :, 0] *= 1.5
    after = run_experiment(run, frame=changed)
    kept = origins <= cut
    for name in ("ets", "theta"):
        old, new = before.runs[name], after.runs[name]
        np.testing.assert_array_equal(old.forecast[kept], new.forecast[kept])
        np.testing.assert_array_equal(old.intervals.upper[kept], new.intervals.upper[kept])
        assert not np.allclose(old.forecast[~kept], new.forecast[~kept])  # the later origins do see them


@pytest.mark.slow
def test_n_jobs_2_gives_the_numbers_of_n_jobs_1():
    statsforecast_models()
    frames = panel(count=4)
    one = run_experiment(config([{"kind": "theta", "n_jobs": 1}, {"kind": "ets", "n_jobs": 1}]), frame=frames)
    two = run_experiment(config([{"kind": "theta", "n_jobs": 2}, {"kind": "ets", "n_jobs": 2}]), frame=frames)
    for label in frames:
        for name in ("theta", "ets"):
            np.testing.assert_array_equal(one.parts[label].runs[name].forecast, two.parts[label].runs[name].forecast)
            np.testing.assert_array_equal(one.parts[label].runs[name].intervals.lower, two.parts[label].runs[name].intervals.lower)
    pd.testing.assert_frame_equal(one.metrics, two.metrics)


def test_ets_above_24_steps_warns_once_naming_the_fallback():
    models = statsforecast_models()
    frames = panel(n=80)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = run_experiment(config([{"kind": "ets", "season": 52, "n_jobs": 1}], levels=()), frame=frames)
    lines = [str(w.message) for w in caught if "season" in str(w.message)]
    assert len(lines) == 1 and "52" in lines[0] and "without a season" in lines[0] and "\n" not in lines[0]
    label, frame = next(iter(frames.items()))
    direct = models.AutoETS(season_length=52).fit(frame["y"].to_numpy()[:-H]).predict(h=H)
    np.testing.assert_allclose(result.parts[label].runs["ets"].forecast[0], direct["mean"], rtol=0, atol=1e-9)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        run_experiment(config([{"kind": "theta", "season": 52, "n_jobs": 1}], levels=()), frame=frames)
    assert not [w for w in caught if "season" in str(w.message)]  # theta fits any season


def test_each_target_of_several_is_fitted_on_its_own():
    models = statsforecast_models()
    frame = monthly(80, seed=3, columns=("a", "b"))
    run = config_from_dict({"data": {"transform": "level", "targets": ["a", "b"]},
                            "windows": {"context": 12, "horizon": H, "split": "holdout"},
                            "models": [{"kind": "ets", "n_jobs": 1}], "intervals": {"levels": []}})
    result = run_experiment(run, frame=frame).runs["ets"]
    assert result.forecast.shape == (1, H, 2) and set(result.channels) == {"a", "b"}
    for index, column in enumerate(("a", "b")):
        direct = models.AutoETS(season_length=12).fit(frame[column].to_numpy()[:-H]).predict(h=H)
        np.testing.assert_allclose(result.forecast[0, :, index], direct["mean"], rtol=0, atol=1e-9)
