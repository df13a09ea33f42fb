"""forecaster tune: the folder it writes, a search that never reads the test span, pruning, resuming, bad input."""

from __future__ import annotations

import dataclasses
import importlib.util

import numpy as np
import pandas as pd
import pytest
import yaml

from forecaster.cli import main
from forecaster.config import config_from_dict, read_config
from forecaster.data.sources import load_prices
from forecaster.data.windows import WindowConfig, split_bounds
from forecaster.errors import ForecasterError
from forecaster.models import MODEL_KINDS
from forecaster.runs import prepare, tune
from forecaster.runs import trials as tune_trials
from forecaster.runs.progress import progress_dir
from forecaster.runs.series import POOLED, load_frames
from forecaster.tuning.space import default_space

optuna = pytest.importorskip("optuna")

# Two trials, two folds, the linear model (the fastest to train): what every test here searches.
SEARCH = {"linear": {"train.learning_rate": {"log": [1.0e-3, 1.0e-1]}, "windows.context": {"choices": [4, 8]}}}


@pytest.fixture
def tune_config(tiny_config: dict) -> dict:
    tiny_config["models"] = [{"kind": "naive"}, {"kind": "linear"}, tiny_config["models"][-1]]
    return {**tiny_config, "search": SEARCH, "tune": {"model": "linear", "trials": 2, "folds": 2, "close_seeds": [0, 1]}}


@pytest.fixture
def tune_file(tmp_path, tune_config, small_csv):
    tune_config["data"]["source"] = str(small_csv)
    path = tmp_path / "tune.yaml"
    path.write_text(yaml.safe_dump(tune_config))
    return path


def test_tune_writes_trials_best_yaml_the_study_figures_and_the_test_metrics_once(tune_file, tmp_path, capsys):
    """Without close seeds, the folder and the close of before the closing table: best.yaml scored once."""
    out = tmp_path / "results" / "tune"
    assert main(["tune", str(tune_file), "--out", str(out), "--quiet", "--close-seeds", "none"]) == 0
    assert {p.name for p in out.iterdir()} == {"config.yaml", "trials.csv", "best.yaml", "study.db", "optimization_history.png",
                                              "param_importances.png", "best"}
    assert not progress_dir(out).exists()
    trials = pd.read_csv(out / "trials.csv")
    assert list(trials.columns) == ["trial", "state", "value", "val_rel_mae", "folds", "seconds", "train.learning_rate",
                                    "windows.context", "note"]
    assert trials["trial"].tolist() == [0, 1] and (trials["state"] == "complete").all() and (trials["folds"] == 2).all()
    best = read_config(out / "best.yaml")  # a config that forecaster run takes as it is
    assert [spec.name for spec in best.models] == ["naive", "linear"] and best.search is None and best.tune is None
    winner = trials.loc[trials["value"].idxmin()]
    assert best.train.learning_rate == pytest.approx(winner["train.learning_rate"]) and best.windows.context == winner["windows.context"]
    metrics = pd.read_csv(out / "best" / "metrics.csv")
    assert metrics["model"].tolist() == ["naive", "linear"]
    assert (out / "best" / "config.yaml").read_text() == (out / "best.yaml").read_text()
    recorded = read_config(out / "config.yaml")  # what rebuilds the search: its tune and search sections
    assert recorded.tune.model == "linear" and recorded.search[0].to_yaml() == SEARCH["linear"]
    assert recorded.tune.close_seeds == ()
    study = optuna.load_study(study_name="forecaster", storage=f"sqlite:///{out / 'study.db'}")
    assert [t.value for t in study.trials] == pytest.approx(trials["value"].tolist())
    printed = capsys.readouterr().out
    assert "2 trials (2 complete)" in printed and "best.yaml on the test span, scored once" in printed


METRICS = ["mae", "rmse", "mape", "rel_mae", "mase", "directional_accuracy", "mse_scaled", "mae_scaled"]


@pytest.mark.slow
def test_the_close_runs_the_tuned_and_the_hand_set_config_on_every_close_seed(tune_file, tmp_path, capsys, monkeypatch):
    import torch

    threads = []
    monkeypatch.setattr(torch, "set_num_threads", threads.append)  # the test process keeps its own thread count
    out = tmp_path / "results" / "tune"
    assert main(["tune", str(tune_file), "--out", str(out), "--quiet", "--threads", "1"]) == 0
    assert threads == [1]
    assert {"closing.csv", "closing_summary.csv", "best"} <= {p.name for p in out.iterdir()}
    closing = pd.read_csv(out / "closing.csv")
    assert list(closing.columns[:3]) == ["arm", "model", "seed"] and {"mse_scaled", "mae_scaled", "train_seconds"} <= set(closing)
    assert len(closing) == 2 * 2 * 2  # arms x models x seeds
    assert closing[["arm", "model", "seed"]].values.tolist() == [
        [arm, model, seed] for arm in ("hand-set", "tuned") for seed in (0, 1) for model in ("naive", "linear")]
    summary = pd.read_csv(out / "closing_summary.csv")
    assert summary[["model", "arm"]].values.tolist() == [["naive", "hand-set"], ["naive", "tuned"],
                                                         ["linear", "hand-set"], ["linear", "tuned"]]
    linear = closing[closing["model"] == "linear"].groupby("arm")["rel_mae"]
    assert summary.set_index(["model", "arm"]).loc["linear", "rel_mae_mean"].tolist() == pytest.approx(linear.mean().tolist())
    assert summary["runs"].tolist() == [2] * 4 and np.isfinite(summary["rel_mae_std"]).all()

    def run_metrics(*arguments) -> pd.DataFrame:  # forecaster run's test metrics, same seed and machine
        folder = tmp_path / f"run{len(list(tmp_path.glob('run*')))}"
        assert main(["run", *arguments, "--out", str(folder), "--quiet"]) == 0
        return pd.read_csv(folder / "metrics.csv")[["model", *METRICS]]

    def arm(name: str, seed: int) -> pd.DataFrame:
        return closing[(closing["arm"] == name) & (closing["seed"] == seed)][["model", *METRICS]].reset_index(drop=True)

    pd.testing.assert_frame_equal(arm("tuned", 0), run_metrics(str(out / "best.yaml")), check_exact=True)  # bit-identical
    pd.testing.assert_frame_equal(arm("tuned", 0), pd.read_csv(out / "best" / "metrics.csv")[["model", *METRICS]], check_exact=True)
    hand_set = run_metrics(str(tune_file), "--set", "models=naive,linear", "--set", "train.seed=1")  # the config as given
    pd.testing.assert_frame_equal(arm("hand-set", 1), hand_set, check_exact=True)
    printed = capsys.readouterr().out
    assert "mse_sc±std" in printed and "means over seeds 0,1 (±std)" in printed and "scored once" not in printed


def test_the_hand_set_arm_is_left_out_when_the_best_settings_are_the_configs_own(tune_config, small_prices, tmp_path):
    config = config_from_dict({**tune_config, "search": {"linear": {"windows.context": {"choices": [8]}}},
                               "tune": {**tune_config["tune"], "close_seeds": [3]}})
    result = tune.run_tune(config, tmp_path / "out", frame=small_prices)
    assert list(result.closing) == ["tuned"] and "the hand-set arm would repeat the tuned one" in result.notes[0]
    assert pd.read_csv(tmp_path / "out" / "closing.csv")[["arm", "seed"]].drop_duplicates().values.tolist() == [["tuned", 3]]
    assert result.final.config.train.seed == 0  # best/ keeps best.yaml's own seed, run once more beside the close seeds


@pytest.fixture
def two_series(tune_config, small_csv, tmp_path) -> dict:
    """``tune_config`` over two series: ``small_csv`` (400 prices) and 300 later S&P 500 prices."""
    other = tmp_path / "later.csv"
    load_prices("sp500").iloc[1000:1300].rename_axis("Date").to_csv(other)
    tune_config["data"]["source"] = [str(small_csv), str(other)]
    return tune_config


@pytest.mark.parametrize("several", [False, True], ids=["one series", "two series"])
def test_the_search_never_reads_the_test_span(tune_config, two_series, small_prices, tmp_path, monkeypatch, several):
    """The same search with every value of the test span replaced by NaN tries the same settings and scores them alike
    (with two series, each series' own test span)."""
    config = config_from_dict(two_series if several else {**tune_config, "data": {**tune_config["data"], "source": "sp500"}})
    frame = load_frames(config) if several else small_prices
    real_prepare_series = prepare.prepare_series

    def test_span_unknown(frame, data):
        series = real_prepare_series(frame, data)
        bounds = split_bounds(len(series.frames), config.windows, lost_rows=series.lost_rows)
        frames, levels = series.frames.copy(), series.levels.copy()
        frames[bounds.val_end :], levels[bounds.val_end :] = np.nan, np.nan
        return dataclasses.replace(series, frames=frames, levels=levels)

    searched, honest = tune.run_search(config, tmp_path / "honest", frame=frame)
    monkeypatch.setattr(prepare, "prepare_series", test_span_unknown)
    _, blind = tune.run_search(config, tmp_path / "blind", frame=frame)
    space = tune_trials.searched(searched)
    honest_trials, blind_trials = (tune.trials_table(study, space).drop(columns="seconds") for study in (honest, blind))
    pd.testing.assert_frame_equal(honest_trials, blind_trials)  # the same settings, values, val_rel_mae, folds
    assert np.isfinite(blind_trials["value"]).all()


def test_a_search_over_two_series_folds_each_before_its_own_test_span_and_closes_per_series(two_series, tmp_path):
    config = config_from_dict(two_series)
    _, folds = tune_trials.search_space(config, load_frames(config))
    for label, prices in (("prices", 400), ("later", 300)):
        test_start = split_bounds(prices - 1, config.windows).val_end  # log returns: one row fewer
        assert folds[-1][label].length == test_start and folds[0][label].val_end < folds[1][label].val_end
    path, out = tmp_path / "two.yaml", tmp_path / "tune"
    path.write_text(yaml.safe_dump(two_series))
    assert main(["tune", str(path), "--out", str(out), "--quiet"]) == 0
    assert (pd.read_csv(out / "trials.csv")["folds"] == 2).all()
    assert set(pd.read_csv(out / "best" / "metrics.csv")["series"]) == {"prices", "later", POOLED}
    summary = pd.read_csv(out / "closing_summary.csv")
    assert list(summary["series"].unique()) == ["prices", "later", POOLED] and set(summary["arm"]) == {"hand-set", "tuned"}


def test_folds_lie_before_the_test_span_and_the_default_space_fits_them(tune_config, small_prices):
    config, folds = tune_trials.search_space(config_from_dict({**tune_config, "search": None}), small_prices)
    test_start = split_bounds(399, WindowConfig(context=8)).val_end  # 400 prices, 399 log returns
    assert len(folds) == 2 and folds[-1].length == test_start and folds[0].val_end < folds[1].val_end
    space = tune_trials.searched(config)
    assert [item.key for item in space.dimensions] == ["train.learning_rate", "train.weight_decay", "windows.context"]
    assert max(space.contexts(config.windows)) <= (folds[0].train_end - folds[0].train_start) // 2


@pytest.mark.parametrize("kind", [kind for kind, entry in MODEL_KINDS.items() if entry.trainable])
def test_every_trainable_kind_has_a_default_space_its_config_takes(kind):
    raw = {"models": [{"kind": kind}], "windows": {"context": 64}}
    spec = config_from_dict(raw).models[0]
    space = default_space(kind, kind, spec.config, WindowConfig(context=64), max_context=100)
    assert space.contexts(WindowConfig(context=64)) == (32, 64)  # 128 does not fit the oldest fold
    assert "train.seed" not in [item.key for item in space.dimensions]
    config_from_dict({**raw, "search": {kind: space.to_yaml()}})  # every bound and choice is a valid setting


def test_a_kind_registered_without_a_default_space_is_refused_in_one_line(monkeypatch):
    """A new kind gets its default space from its registry entry, never another kind's."""
    monkeypatch.setitem(MODEL_KINDS, "toy", dataclasses.replace(MODEL_KINDS["linear"], search=None))
    with pytest.raises(ForecasterError, match=r"kind 'toy' has no default search space; say what to search in search.toy"):
        default_space("toy", "toy", MODEL_KINDS["linear"].config_class(), WindowConfig(context=64), max_context=100)


def test_the_pruner_compares_the_same_fold_and_epoch_only():
    study = optuna.create_study(pruner=tune_trials.FoldMedianPruner(optuna))
    for value in (1.0, 2.0, 3.0, 4.0):
        study.add_trial(optuna.trial.create_trial(value=value, intermediate_values={5: value, tune_trials.FOLD_STEPS + 5: 10 * value}))
    pruned = optuna.trial.TrialState.PRUNED  # a pruned trial's values count where it got to
    study.add_trial(optuna.trial.create_trial(state=pruned, intermediate_values={5: 5.0, tune_trials.FOLD_STEPS + 5: 50.0}))
    study.add_trial(optuna.trial.create_trial(state=optuna.trial.TrialState.FAIL, intermediate_values={5: 0.0}))

    def prunes(*reports) -> bool:  # a new trial's reports, (value, step) in order
        trial = study.ask()
        for value, step in reports:
            trial.report(value, step)
        return trial.should_prune()

    assert prunes((3.1, 5))  # worse than the median (3.0) at fold 1, epoch 5; the failed trial is not counted
    assert not prunes((9.9, 5), (29.0, tune_trials.FOLD_STEPS + 5))  # better than fold 2's median (30): fold 1 is not looked at
    assert prunes((3.1, 7))  # at epoch 7 the others keep their epoch-5 losses (they stopped there)
    assert not prunes((0.1, 2 * tune_trials.FOLD_STEPS + 1))  # no earlier trial trained in fold 3
    assert tune_trials.value_by({5: 1.0, tune_trials.FOLD_STEPS - 1: 0.5}, tune_trials.FOLD_STEPS + 3) is None  # nor in fold 2 here
    assert tune_trials.value_by({5: 1.0}, tune_trials.FOLD_STEPS - 1) is None  # a fold's end is not an epoch


class AlwaysPrune:
    def prune(self, study, trial) -> bool:
        return True


def test_pruned_trials_stop_between_folds_and_a_search_with_none_completed_says_so(tune_config, small_prices, tmp_path):
    config = config_from_dict(tune_config)
    with pytest.raises(tune.ForecasterError, match=r"no trial of the search completed \(2 tried\)"):
        tune.run_tune(config, tmp_path / "out", frame=small_prices, pruner=AlwaysPrune())
    study = optuna.load_study(study_name="forecaster", storage=f"sqlite:///{progress_dir(tmp_path / 'out') / 'study.db'}")
    trials = tune.trials_table(study, tune_trials.searched(tune_trials.search_space(config, small_prices)[0]))
    assert (trials["state"] == "pruned").all() and (trials["folds"] == 1).all()  # 2 epochs: pruned after fold 1


def test_an_interrupted_search_resumes_where_it_stopped(tune_file, tmp_path, capsys, monkeypatch):
    out = tmp_path / "results" / "tune"
    real_fit, calls = tune_trials.fit, []

    def interrupted_fit(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:  # trial 1, fold 1
            raise KeyboardInterrupt
        return real_fit(*args, **kwargs)

    monkeypatch.setattr(tune_trials, "fit", interrupted_fit)
    assert main(["tune", str(tune_file), "--out", str(out), "--quiet"]) == 130
    assert "forecaster tune --resume" in capsys.readouterr().err and not out.exists()
    assert main(["tune", str(tune_file), "--out", str(out), "--quiet"]) == 1
    assert "an interrupted search is waiting in" in capsys.readouterr().err
    monkeypatch.setattr(tune_trials, "fit", real_fit)
    assert main(["tune", "--resume", str(out), "--trials", "3", "--close-seeds", "1", "--quiet"]) == 0
    trials = pd.read_csv(out / "trials.csv")
    assert trials["state"].tolist() == ["complete", "failed", "complete", "complete"]  # the interrupted trial failed
    assert read_config(out / "config.yaml").tune.trials == 3 and not progress_dir(out).exists()
    closing = pd.read_csv(out / "closing.csv")  # the close of a resumed search is a fresh one's
    assert closing[["arm", "model", "seed"]].values.tolist() == [["hand-set", "naive", 1], ["hand-set", "linear", 1],
                                                                 ["tuned", "naive", 1], ["tuned", "linear", 1]]


@pytest.mark.parametrize(("arguments", "search", "message"), [
    (["--model", "lstm"], None, "error: tune.model='lstm' is not a model of this config; tune one of: linear, transformer"),
    (["--model", "naive"], None, "error: tune.model='naive' is a naive forecast, with nothing to train; tune one of: linear, transformer"),
    (["--trials", "0"], None, "error: tune.trials=0 must be at least 1"),
    ([], {"linear": {"learning_rate": [0.1, 0.2]}}, "error: unknown key search.linear.learning_rate; valid: instance_norm, "
                                                      "channels, windows.context, train.learning_rate"),
    ([], {"linear": {"train.learning_rate": [0.1, 0.01]}}, "error: search.linear.train.learning_rate: low=0.1 must be below high=0.01"),
    ([], {"linear": {"train.seed": [0, 3]}}, "error: search.linear.train.seed: the seed is not tuned"),
    (["--close-seeds", "0,1,0"], None, "error: tune.close_seeds=[0, 1, 0] repeats a seed; each run must be another seed"),
    (["--close-seeds", "0,one"], None, "error: --close-seeds='0,one' should be comma-separated integers, e.g. 0,1,2"),
    (["--threads", "0"], None, "error: --threads=0 must be at least 1"),
    ([], {"linear": {"windows.context": 8}}, "error: search.linear.windows.context=8 should be [low, high], {log: [low, high]} "
                                             "or {choices: [a, b, ...]}"),
])
def test_bad_input_is_one_line_and_writes_nothing(tune_config, small_csv, tmp_path, capsys, arguments, search, message):
    tune_config["data"]["source"] = str(small_csv)
    if search is not None:
        tune_config["search"] = search
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(tune_config))
    out = tmp_path / "results" / "tune"
    assert main(["tune", str(path), "--out", str(out), "--quiet", *arguments]) == 1
    error = capsys.readouterr().err.strip()
    assert error.startswith(message) and "\n" not in error
    assert not (tmp_path / "results").exists()


def test_a_missing_optuna_is_one_line_naming_the_extra(tune_file, tmp_path, capsys, monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(tune.importlib.util, "find_spec", lambda name: None if name == "optuna" else real(name))
    assert main(["tune", str(tune_file), "--out", str(tmp_path / "out"), "--quiet"]) == 1
    assert capsys.readouterr().err.strip() == ("error: forecaster tune needs optuna, which is not installed; install the tune "
                                               "extra: pip install -e '.[tune]'")


@pytest.mark.slow
def test_with_tracking_each_trial_is_a_run(tune_file, tmp_path, monkeypatch):
    pytest.importorskip("mlflow")
    from mlflow.tracking import MlflowClient

    monkeypatch.chdir(tmp_path)
    results = tmp_path / "results"
    assert main(["tune", str(tune_file), "--out", str(results / "tune"), "--set", "tracking.backend=mlflow", "--quiet"]) == 0
    client = MlflowClient(f"sqlite:///{results / 'mlflow.db'}")
    runs = {run.info.run_name: run for run in client.search_runs([client.get_experiment_by_name("forecaster").experiment_id])}
    assert set(runs) == {"tune/trial-0", "tune/trial-1", "tune"}
    trials = pd.read_csv(results / "tune" / "trials.csv").set_index("trial")
    for number in (0, 1):
        run = runs[f"tune/trial-{number}"]
        assert run.data.metrics["val_loss"] == pytest.approx(trials.loc[number, "value"])
        assert run.data.params["windows.context"] == str(trials.loc[number, "windows.context"]) and run.data.tags["state"] == "complete"
        assert [m.step for m in client.get_metric_history(run.info.run_id, "fold2.val_loss")] == [1, 2]
    final = runs["tune"]
    assert "linear.rel_mae" in final.data.metrics and final.data.params["models.linear.kind"] == "linear"
    assert {a.path for a in client.list_artifacts(final.info.run_id)} >= {"optimization_history.png", "best"}
