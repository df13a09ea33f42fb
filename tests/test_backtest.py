"""Walk-forward backtests: folds never look ahead, each fold refits on its own span, the CLI writes it all."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
import yaml

from forecaster.cli import main
from forecaster.config import BacktestConfig, config_from_dict, read_config
from forecaster.data.windows import WindowConfig
from forecaster.errors import ForecasterError
from forecaster.runs.backtest import run_backtest
from forecaster.runs.folds import fold_bounds


@pytest.mark.parametrize("scheme", ["expanding", "sliding"])
def test_folds_are_chronological_disjoint_and_cover_the_end(scheme):
    config = WindowConfig(context=10, horizon=2)
    folds = fold_bounds(1000, config, BacktestConfig(folds=4, scheme=scheme))
    assert folds[-1].length == 1000  # the last test span ends with the series
    for fold in folds:
        # train targets [train_start, train_end) < validation [train_end, val_end) < test [val_end, length)
        assert fold.train_start < fold.train_end <= fold.val_end < fold.length
    for earlier, later in zip(folds, folds[1:]):
        assert earlier.length == later.val_end  # consecutive test spans, no overlap, no gap
    if scheme == "expanding":
        assert {fold.train_start for fold in folds} == {0}
    else:
        sizes = {fold.train_end - fold.train_start for fold in folds}
        assert len(sizes) == 1 and folds[-1].train_start > 0  # a fixed-length training span that slides


def test_too_many_folds_is_a_clear_error():
    with pytest.raises(ForecasterError, match="fewer than horizon=5; use fewer folds"):
        fold_bounds(100, WindowConfig(context=4, horizon=5), BacktestConfig(folds=10))


@pytest.mark.parametrize(("changes", "message"), [
    ({"folds": 0}, "backtest.folds=0 must be at least 1"),
    ({"refit_every": 0}, "backtest.refit_every=0 must be at least 1"),
    ({"scheme": "rolling"}, "backtest.scheme='rolling' is not valid; choose one of: expanding, sliding"),
    ({"seeds": ()}, "backtest.seeds=[] names no seed"),
    ({"seeds": (1, 1)}, "backtest.seeds=[1, 1] repeats a seed"),
])
def test_backtest_settings_are_checked_once_and_named_as_parameters(small_prices, tiny_config, changes, message):
    with pytest.raises(ForecasterError, match=re.escape(message)) as error:
        BacktestConfig(**changes)
    assert "--" not in str(error.value)
    with pytest.raises(ForecasterError, match=re.escape(message)):  # run_backtest's keywords go through the same check
        run_backtest(config_from_dict(tiny_config), frame=small_prices, **changes)


@pytest.fixture
def tiny_backtest_config(tiny_config):
    tiny_config["models"] = [{"kind": "naive"}, {"kind": "linear"}, {"kind": "mlp", "hidden": [8]}]
    return config_from_dict(tiny_config)


def test_each_fold_is_scaled_and_scored_on_its_own_spans(small_prices, tiny_backtest_config):
    result = run_backtest(tiny_backtest_config, folds=3, seeds=(0, 1), frame=small_prices)
    assert sorted(result.runs) == [(fold, seed) for fold in range(3) for seed in (0, 1)]
    for (fold, _), run in result.runs.items():
        span = result.folds[fold]
        assert run.data.bounds == span
        frames = run.data.series.frames[span.train_start : span.train_end]
        np.testing.assert_allclose(run.data.pipeline.scale, frames.std(axis=0))  # this fold's training span alone
        test = run.data.windows["test"]
        # The first test target is the first step of the fold's test span; the last is the span's last step.
        assert test.origins[0] + 1 == span.val_end and test.origins[-1] + test.horizon == span.length - 1
        assert run.data.windows["train"].origins[-1] + test.horizon < span.train_end  # every train target first
    metrics = result.fold_metrics
    assert (metrics.loc[metrics["model"] == "naive", "rel_mae"] == 1.0).all()
    seeds = metrics[metrics["model"] == "mlp"].groupby("seed")["mae"].apply(list)
    assert seeds[0] != seeds[1]  # seeds really differ for neural models


def test_summary_has_spread_intervals_and_tests(small_prices, tiny_backtest_config):
    result = run_backtest(tiny_backtest_config, folds=3, seeds=(0, 1), frame=small_prices)
    summary = result.summary().set_index("model")
    assert summary.loc["mlp", "runs"] == 6
    assert summary.loc["mlp", "rel_mae_ci_low"] <= summary.loc["mlp", "rel_mae_mean"] <= summary.loc["mlp", "rel_mae_ci_high"]
    assert 0 <= summary.loc["linear", "dm_squared_vs_naive_p"] <= 1
    assert np.isnan(summary.loc["naive", "direction_p_vs_half"])  # the random walk predicts no direction
    pairwise = result.pairwise("absolute")
    assert list(pairwise.index) == ["naive", "linear", "mlp"] and np.isnan(pairwise.loc["mlp", "mlp"])
    assert pairwise.loc["linear", "mlp"] == pytest.approx(pairwise.loc["mlp", "linear"])


def test_refit_every_reuses_the_models_of_the_last_refit(small_prices, tiny_backtest_config):
    result = run_backtest(tiny_backtest_config, folds=3, seeds=(0,), frame=small_prices, refit_every=2)
    first, second, third = (result.runs[(fold, 0)] for fold in range(3))
    assert second.runs["mlp"].model is first.runs["mlp"].model  # fold 2 scores fold 1's model
    assert third.runs["mlp"].model is not first.runs["mlp"].model  # fold 3 refits
    assert second.data.bounds.train_end == first.data.bounds.train_end  # and fold 1's scaler span
    assert second.data.bounds.val_end == result.folds[1].val_end  # on fold 2's own test span


def test_backtest_and_compare_commands(tiny_config_file, tmp_path, capsys):
    out = tmp_path / "bt"
    assert main(["backtest", str(tiny_config_file), "--folds", "2", "--seeds", "0,1", "--out", str(out), "--quiet",
                 "--set", "models=naive,linear"]) == 0
    printed = capsys.readouterr().out
    assert "p_sq" in printed and "linear" in printed
    expected = {"config.yaml", "fold_metrics.csv", "summary.csv", "dm_pvalues_squared.csv", "dm_pvalues_absolute.csv",
                "predictions.csv", "fold_rel_mae.png", "cumulative_error.png"}
    assert expected <= {path.name for path in out.iterdir()}
    run = tmp_path / "run"
    assert main(["run", str(tiny_config_file), "--out", str(run), "--quiet", "--set", "models=naive,linear"]) == 0
    capsys.readouterr()
    assert main(["compare", str(run), str(out), "--out", str(tmp_path / "cmp")]) == 0
    table = pd.read_csv(tmp_path / "cmp" / "compare.csv", index_col="model")
    assert list(table.columns) == [str(run), str(out)]
    assert (table.loc["naive"] == 1.0).all()
    assert (tmp_path / "cmp" / "compare.png").is_file()
    assert main(["compare", str(tmp_path)]) == 1
    assert "is not a results folder" in capsys.readouterr().err


def test_backtest_folder_records_its_backtest_and_reruns_from_its_config(tiny_config_file, tmp_path, capsys):
    sliding = tmp_path / "sliding"
    arguments = ["--folds", "2", "--seeds", "0,1", "--quiet", "--set", "models=naive,linear,mlp"]
    assert main(["backtest", str(tiny_config_file), "--scheme", "sliding", "--refit-every", "2", "--out", str(sliding),
                 *arguments]) == 0
    recorded = yaml.safe_load((sliding / "config.yaml").read_text())["backtest"]
    assert recorded == {"folds": 2, "seeds": [0, 1], "scheme": "sliding", "refit_every": 2}
    expanding = tmp_path / "expanding"
    assert main(["backtest", str(tiny_config_file), "--out", str(expanding), *arguments]) == 0
    assert yaml.safe_load((expanding / "config.yaml").read_text())["backtest"]["scheme"] == "expanding"
    # The folder's config.yaml alone repeats the same backtest: same folds, seeds and metrics.
    again = tmp_path / "again"
    assert main(["backtest", str(sliding / "config.yaml"), "--out", str(again), "--quiet"]) == 0
    columns = ["model", "fold", "seed", "test_start", "test_end", "mae", "rmse", "rel_mae", "mase", "directional_accuracy"]
    first, second = (pd.read_csv(folder / "fold_metrics.csv")[columns] for folder in (sliding, again))
    pd.testing.assert_frame_equal(first, second)
    assert (sliding / "config.yaml").read_text() == (again / "config.yaml").read_text()
    # A flag given explicitly still wins over the file.
    fewer = tmp_path / "fewer"
    assert main(["backtest", str(sliding / "config.yaml"), "--seeds", "1", "--out", str(fewer), "--quiet"]) == 0
    assert read_config(fewer / "config.yaml").backtest == BacktestConfig(folds=2, seeds=(1,), scheme="sliding", refit_every=2)
    assert set(pd.read_csv(fewer / "fold_metrics.csv")["seed"]) == {1}


def test_a_run_config_has_no_backtest_section_and_bad_flags_are_one_line(tiny_config_file, tmp_path, capsys):
    assert "backtest" not in read_config(tiny_config_file).to_dict()
    out = tmp_path / "bt"
    assert main(["backtest", str(tiny_config_file), "--folds", "0", "--out", str(out), "--quiet"]) == 1
    assert capsys.readouterr().err.strip().splitlines() == ["error: backtest.folds=0 must be at least 1"]
    assert main(["backtest", str(tiny_config_file), "--scheme", "rolling", "--out", str(out), "--quiet"]) == 1
    assert "backtest.scheme='rolling' is not valid" in capsys.readouterr().err
    assert not out.exists()
