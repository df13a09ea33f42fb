"""Prediction intervals: conformal ranks, the adaptive update's causality, quantile heads, the random walk's own,
and what a run writes and refuses."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
import torch

from forecaster.config import config_from_dict
from forecaster.data.transforms import Diff, LogReturn
from forecaster.errors import ForecasterError
from forecaster.evaluation.conformal import (
    Calibration,
    IntervalConfig,
    adaptive_radii,
    calibration_rank,
    conformal_radius,
    empirical_change_quantiles,
    quantile_levels,
    windows_needed,
)
from forecaster.models import ModelDims, PointHead, QuantileHead, build_model, output_head
from forecaster.models.linear import LinearConfig
from forecaster.models.naive import NaiveConfig
from forecaster.runs.experiment import run_experiment
from forecaster.training.losses import head_loss

CPU = torch.device("cpu")


# --- conformal: the finite-sample rank ---------------------------------------------------------------------------

def test_the_calibration_rank_is_ceil_n_plus_one_times_level():
    assert calibration_rank(9, 0.2) == 8  # ceil(10 * 0.8) = 8
    assert calibration_rank(19, 0.05) == 19  # ceil(20 * 0.95) = 19, not 20 from 19.000000000000004
    assert calibration_rank(100, 0.1) == 91  # ceil(101 * 0.9) = ceil(90.9)
    assert windows_needed(95) == 19 and windows_needed(80) == 4


def test_the_conformal_radius_is_the_ranked_score_per_step_not_an_interpolated_quantile():
    scores = np.column_stack([np.arange(1.0, 10.0), 10 * np.arange(1.0, 10.0)])  # n = 9, two steps
    np.testing.assert_array_equal(conformal_radius(scores, 80), [8.0, 80.0])  # the 8th smallest of each step
    assert np.quantile(scores[:, 0], 0.8) < 8.0  # linear interpolation (7.4) would under-cover


def test_too_few_calibration_errors_for_a_level_are_refused_with_the_number_needed():
    with pytest.raises(ForecasterError, match="5 validation windows are too few to calibrate a 95 % interval; it needs at least 19"):
        conformal_radius(np.ones((5, 1)), 95)


# --- the change space ---------------------------------------------------------------------------------------------

def test_a_log_change_interval_scales_with_the_price_level():
    """The same log-change radius is a 1 % band at 1000 points and at 3000: calibration carries across price levels."""
    calibration = Calibration("conformal", (80.0,), ((0.01,),))
    lower, upper = calibration.bounds(np.array([[1000.0], [3000.0]]), np.array([1000.0, 3000.0]), LogReturn())
    np.testing.assert_allclose((upper - lower)[:, 0, 0] / [1000.0, 3000.0], 2 * np.sinh(0.01))


def test_quantile_levels_are_each_interval_bounds_and_the_median():
    assert quantile_levels([80, 95]) == (0.025, 0.1, 0.5, 0.9, 0.975)
    assert quantile_levels([50]) == (0.25, 0.5, 0.75)


# --- adaptive conformal: only known errors, and the update ------------------------------------------------------

def test_adaptive_intervals_use_only_errors_known_at_each_origin():
    rng = np.random.default_rng(0)
    calibration, test = np.abs(rng.normal(size=(40, 3))), np.abs(rng.normal(size=(60, 3)))
    origins = np.arange(100, 160)
    radii, _ = adaptive_radii(calibration, test, origins, 80, step_size=0.05)
    for cut in (0, 10, 37):
        # Change every error whose target lies after origin `cut`: the intervals up to `cut` must not move.
        changed = test.copy()
        later = origins[:, None] + np.arange(1, 4) > origins[cut]
        changed[later] = 1e6
        again, _ = adaptive_radii(calibration, changed, origins, 80, step_size=0.05)
        np.testing.assert_array_equal(again[: cut + 1], radii[: cut + 1])


def test_adaptive_conformal_widens_after_misses_and_narrows_after_hits():
    calibration = np.arange(1.0, 21.0)[:, None]  # n = 20 errors 1..20
    origins = np.arange(5)
    _, after_misses = adaptive_radii(calibration, np.full((5, 1), 100.0), origins, 80, step_size=0.05)
    _, after_hits = adaptive_radii(calibration, np.zeros((5, 1)), origins, 80, step_size=0.05)
    start = conformal_radius(calibration, 80)
    assert after_misses[0] > start[0] and after_hits[0] < start[0]


def test_adaptive_coverage_tracks_the_level_when_the_errors_grow():
    """Errors twice as large in the test span as in calibration: split conformal under-covers, adaptive recovers."""
    rng = np.random.default_rng(1)
    calibration = np.abs(rng.normal(size=(250, 1)))
    test = 2 * np.abs(rng.normal(size=(2000, 1)))
    radii, _ = adaptive_radii(calibration, test, np.arange(2000), 80, step_size=0.05)
    split = conformal_radius(calibration, 80)
    assert np.mean(test <= split) < 0.6
    assert abs(np.mean(test <= radii) - 0.8) < 0.03


# --- the random walk's own intervals ------------------------------------------------------------------------------

def test_the_random_walk_quantiles_are_the_training_spans_own_h_step_changes():
    levels = np.array([10.0, 11.0, 13.0, 12.0, 16.0])  # 1-step changes 1, 2, -1, 4; 2-step changes 3, 1, 3
    quantiles = empirical_change_quantiles(levels, 2, np.array([0.0, 0.5, 1.0]), Diff())
    np.testing.assert_allclose(quantiles, [[-1.0, 1.5, 4.0], [1.0, 3.0, 3.0]])


# --- quantile heads and the pinball loss --------------------------------------------------------------------------

def test_a_quantile_head_forecasts_every_tau_and_naive_kinds_have_none():
    dims = ModelDims(context=8, horizon=3, channels=1, differenced=True, no_change=0.0, head=QuantileHead((0.1, 0.5, 0.9)))
    model = build_model("linear", LinearConfig(), dims)
    assert model(torch.randn(4, 8, 1)).shape == (4, 3, 1, 3) and output_head(model).taus == (0.1, 0.5, 0.9)
    assert output_head(build_model("linear", LinearConfig(), dataclasses.replace(dims, head=PointHead()))) == PointHead()
    with pytest.raises(ValueError, match="model kind 'naive' has no quantile head"):
        build_model("naive", NaiveConfig(), dims)


def test_the_pinball_loss_of_cumulative_targets_sums_the_steps_first():
    targets = torch.tensor([[[1.0], [2.0]]])  # (B=1, H=2, K=1): cumulative 1, 3
    outputs = torch.tensor([[[[1.0]], [[3.0]]]])  # (1, 2, 1, Q=1): the cumulative values exactly
    assert head_loss(QuantileHead((0.5,)), differenced=True)(outputs, targets).item() == 0.0
    # Per step instead: errors 0 and -1 at tau 0.5 -> mean(0, 0.5) = 0.25.
    assert head_loss(QuantileHead((0.5,)), differenced=False)(outputs, targets).item() == pytest.approx(0.25)
    # A point head trains on each step's own target, differenced or not.
    assert head_loss(PointHead(), differenced=True)(outputs[..., 0], targets).item() == pytest.approx(0.5)


def test_the_pinball_loss_is_minimised_by_the_quantile():
    values = torch.arange(1.0, 11.0)[None, :, None]  # ten targets in one window of H = 10
    loss = QuantileHead((0.8,)).loss
    scores = {q: loss(torch.full((1, 10, 1, 1), float(q)), values).item() for q in range(1, 11)}
    assert min(scores, key=scores.get) in (8, 9)  # the 0.8-quantile of 1..10


# --- a run with intervals -----------------------------------------------------------------------------------------

@pytest.fixture
def interval_run(small_prices, tiny_config):
    return run_experiment(config_from_dict(tiny_config), frame=small_prices)


def test_a_default_run_gives_every_model_conformal_intervals_and_scores(interval_run):
    metrics = interval_run.metrics.set_index("model")
    for column in ("crps", "rel_crps", "pinball", "coverage_80", "coverage_95", "interval_method"):
        assert column in metrics.columns, column
    assert set(metrics["interval_method"]) == {"conformal"}
    predictions = interval_run.predictions
    for name in interval_run.runs:
        lower, upper = predictions[f"{name}_lo_80"], predictions[f"{name}_hi_80"]
        assert (lower <= predictions[name]).all() and (predictions[name] <= upper).all(), name
        assert (predictions[f"{name}_lo_95"] <= lower).all() and (upper <= predictions[f"{name}_hi_95"]).all(), name
        inside = ((predictions["actual"] >= lower) & (predictions["actual"] <= upper)).mean()
        assert inside == pytest.approx(metrics.loc[name, "coverage_80"]), name


def test_intervals_csv_holds_the_random_walk_first_then_every_model_by_level_and_step(interval_run):
    table = interval_run.intervals
    assert table["model"].iloc[0] == "random_walk" and table["method"].iloc[0] == "empirical"
    assert set(table["model"]) == {"random_walk", *interval_run.runs}
    assert list(table.columns) == ["model", "method", "level", "step", "coverage", "width", "winkler", "msis"]
    assert set(table["level"]) == {80.0, 95.0} and set(table["step"].astype(str)) == {"all", "1"}
    assert (table["width"] > 0).all() and (table["winkler"] >= table["width"]).all()


def test_no_levels_turn_intervals_off_and_leave_the_point_forecasts_unchanged(small_prices, tiny_config, interval_run):
    tiny_config["intervals"] = {"levels": []}
    plain = run_experiment(config_from_dict(tiny_config), frame=small_prices)
    assert "crps" not in plain.metrics.columns and not len(plain.intervals)
    pd.testing.assert_frame_equal(plain.predictions, interval_run.predictions[plain.predictions.columns])


def test_adaptive_intervals_are_named_and_the_quantile_method_trains_heads(small_prices, tiny_config):
    tiny_config["intervals"] = {"method": "adaptive"}
    adaptive = run_experiment(config_from_dict(tiny_config), frame=small_prices).metrics
    assert set(adaptive["interval_method"]) == {"adaptive"}
    tiny_config["intervals"] = {"method": "quantile", "levels": [50, 90]}
    result = run_experiment(config_from_dict(tiny_config), frame=small_prices)
    methods = result.metrics.set_index("model")["interval_method"]
    assert methods["naive"] == "conformal" and methods["transformer"] == "quantile"  # naive kinds have no head to train
    assert 0 <= result.metrics.set_index("model").loc["linear", "crossing"] <= 1
    predictions = result.predictions
    assert (predictions["linear_lo_90"] <= predictions["linear_lo_50"]).all()  # sorted quantiles
    assert (predictions["linear_lo_50"] <= predictions["linear"]).all() and (predictions["linear"] <= predictions["linear_hi_50"]).all()
    assert result.checkpoint("linear").dims.head == QuantileHead((0.05, 0.25, 0.5, 0.75, 0.95))


@pytest.mark.parametrize(("section", "message"), [
    ({"levels": [80, 100]}, r"intervals.levels: 100 is outside \(0, 100\)"),
    ({"levels": [0]}, r"intervals.levels: 0 is outside \(0, 100\)"),
    ({"levels": [80, 80]}, r"intervals.levels=\[80.0, 80.0\] names a level twice"),
    ({"method": "bootstrap"}, "intervals.method='bootstrap' is not valid; choose one of: conformal, adaptive, quantile"),
    ({"step_size": 2}, r"intervals.step_size=2.0 must be in \(0, 1\)"),
])
def test_bad_interval_settings_are_one_line_errors(tiny_config, section, message):
    tiny_config["intervals"] = section
    with pytest.raises(ForecasterError, match=message):
        config_from_dict(tiny_config)


def test_too_few_validation_windows_for_a_level_fail_before_training(small_prices, tiny_config):
    tiny_config["intervals"] = {"levels": [99.5]}  # needs 199 validation windows; 400 rows give about 60
    with pytest.raises(ForecasterError, match=r"intervals.levels: \d+ validation windows are too few to calibrate a 99.5 % interval; "
                                              "it needs at least 199"):
        run_experiment(config_from_dict(tiny_config), frame=small_prices)


def test_the_calibration_is_kept_in_the_checkpoint(interval_run):
    checkpoint = interval_run.checkpoint("transformer")
    assert checkpoint.intervals.method == "conformal" and checkpoint.intervals.levels == (80.0, 95.0)
    assert len(checkpoint.intervals.radii) == 2 and len(checkpoint.intervals.radii[0]) == 1
    assert dataclasses.replace(IntervalConfig(), levels=()).levels == ()


# --- reuse: forecast, the estimator, checkpoints --------------------------------------------------------------------

def test_forecast_gives_the_calibrated_bounds_of_the_next_values(small_prices, tiny_config):
    from forecaster.reuse.forecast import Forecaster

    tiny_config["windows"]["horizon"] = 3
    tiny_config["models"] = [{"kind": "naive"}, {"kind": "linear"}]
    result = run_experiment(config_from_dict(tiny_config), frame=small_prices)
    checkpoint = result.checkpoint("linear")
    table = Forecaster.from_checkpoint(checkpoint).forecast(small_prices)
    assert list(table.columns) == ["date", "forecast", "lo_80", "hi_80", "lo_95", "hi_95"] and table.attrs["intervals"] == "conformal"
    assert (table["lo_95"] < table["lo_80"]).all() and (table["lo_80"] < table["forecast"]).all()
    assert (table["forecast"] < table["hi_80"]).all() and (table["hi_80"] < table["hi_95"]).all()
    # The bounds are the forecast's log change +- the checkpoint's radius, per step.
    last = small_prices["Adj Close"].iloc[-1]
    radii = np.array(checkpoint.intervals.radii[0])
    np.testing.assert_allclose(table["hi_80"], last * np.exp(np.log(table["forecast"] / last) + radii))
    assert list(Forecaster.from_checkpoint(checkpoint).forecast(small_prices, levels=()).columns) == ["date", "forecast"]
    with pytest.raises(ForecasterError, match=r"levels=\[50.0\] were not calibrated for this model; it has levels \[80.0, 95.0\]"):
        Forecaster.from_checkpoint(checkpoint).forecast(small_prices, levels=(50,))


def test_a_quantile_heads_forecast_is_its_sorted_quantiles(small_prices, tiny_config):
    from forecaster.reuse.forecast import Forecaster

    tiny_config["windows"]["horizon"] = 2
    tiny_config["models"] = [{"kind": "naive"}, {"kind": "linear"}]
    tiny_config["intervals"] = {"method": "quantile", "levels": [80]}
    checkpoint = run_experiment(config_from_dict(tiny_config), frame=small_prices).checkpoint("linear")
    table = Forecaster.from_checkpoint(checkpoint).forecast(small_prices)
    assert table.attrs["intervals"] == "quantile" and (table["lo_80"] <= table["forecast"]).all()
    assert (table["forecast"] <= table["hi_80"]).all()


def test_the_estimator_predicts_lower_and_upper_columns(small_prices):
    from forecaster.reuse.estimator import ForecastEstimator

    estimator = ForecastEstimator("linear", context=8, horizon=2, epochs=2, device="cpu").fit(small_prices)
    assert list(estimator.predict().columns) == ["forecast"]
    future = estimator.predict(levels=[80, 95])
    assert list(future.columns) == ["forecast", "lo_80", "hi_80", "lo_95", "hi_95"]
    assert (future["lo_95"] <= future["lo_80"]).all() and (future["hi_80"] <= future["hi_95"]).all()
    assert {"coverage_80", "rel_crps"} <= set(estimator.score().columns)


def test_a_checkpoint_keeps_its_calibration_and_one_written_before_intervals_loads(interval_run, tmp_path, as_version_3):
    from forecaster.checkpoint import from_payload, load_checkpoint, save_checkpoint, to_payload

    checkpoint = interval_run.checkpoint("linear")
    assert load_checkpoint(save_checkpoint(checkpoint, tmp_path / "linear.pt")) == checkpoint
    older = as_version_3(to_payload(checkpoint))
    older["format_version"] = 2
    del older["intervals"], older["dims"]["head"]  # what format version 2 wrote before intervals (and heads)
    assert from_payload(older, "older.pt").intervals is None


def test_a_bad_interval_setting_on_the_command_line_writes_nothing(tiny_config_file, tmp_path, capsys):
    from forecaster.cli import main

    out = tmp_path / "never"
    assert main(["run", str(tiny_config_file), "--out", str(out), "--quiet", "--set", "intervals.levels=[80, 180]"]) == 1
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "intervals.levels: 180 is outside (0, 100)" in error
    assert not out.exists() and not list(tmp_path.glob("never*"))


# --- backtest: coverage over folds and the interval-forecast tests ------------------------------------------------

def test_a_backtest_tests_each_models_one_step_coverage(small_prices, tiny_config):
    from forecaster.runs.backtest import run_backtest

    tiny_config["models"] = [{"kind": "naive"}, {"kind": "linear"}]
    result = run_backtest(config_from_dict(tiny_config), folds=2, seeds=(0, 1), frame=small_prices)
    tests = result.interval_tests()
    assert list(tests.columns) == ["model", "method", "level", "points", "coverage", "kupiec_p", "christoffersen_p"]
    assert set(zip(tests["model"], tests["level"])) == {(m, level) for m in ("naive", "linear") for level in (80.0, 95.0)}
    test_points = sum(len(run.data.windows["test"]) for (fold, seed), run in result.runs.items() if seed == 0)
    assert (tests["points"] == test_points).all()  # every fold, the first seed
    assert tests["kupiec_p"].between(0, 1).all()
    summary = result.summary().set_index("model")
    assert 0 <= summary.loc["linear", "coverage_80_mean"] <= 1 and summary.loc["linear", "rel_crps_mean"] > 0


def test_a_quantile_run_writes_its_folder_and_its_transformer_keeps_an_encoder(tiny_config_file, tmp_path):
    from forecaster.checkpoint import load_checkpoint
    from forecaster.cli import main

    out = tmp_path / "quantile"
    assert main(["run", str(tiny_config_file), "--out", str(out), "--quiet", "--set", "intervals.method=quantile"]) == 0
    assert (out / "attention_transformer.png").is_file() and (out / "intervals.csv").is_file()
    checkpoint = load_checkpoint(out / "checkpoints" / "transformer.pt")
    assert checkpoint.dims.head == QuantileHead((0.025, 0.1, 0.5, 0.9, 0.975))
    assert checkpoint.encoder() is not None  # embed and transfer read it through the quantile head


def test_a_training_span_too_short_for_a_step_s_change_gives_that_step_no_random_walk_quantiles():
    levels = np.array([10.0, 11.0, 13.0])  # changes of 1 step: 1, 2; of 2 steps: 3; of 3 steps: none
    quantiles = empirical_change_quantiles(levels, 3, np.array([0.5]), Diff())
    np.testing.assert_allclose(quantiles[:2, 0], [1.5, 3.0])
    assert np.isnan(quantiles[2]).all()  # a competition's short series: NaN relative scores, not a failed run
