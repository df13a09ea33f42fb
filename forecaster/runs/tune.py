"""``forecaster tune``: one model's settings searched with Optuna on folds of the training and validation spans.

The search never reads the test span (a test replaces it by NaN and gets the same trials):

- **Folds.** The steps before the config's test span are cut into ``tune.folds`` walk-forward folds exactly
  as a backtest cuts a whole series (``fold_bounds``): each fold trains on its training span (the scaler
  refit there), stops early on its validation span, and is scored on the span after that, which still lies
  before the config's test span. A trial's value is the mean of its folds' losses, in the loss the model
  trains on (MSE of scaled targets; pinball for a quantile head), lower is better.
- **Pruning.** Each epoch reports the fold's best validation loss so far and each finished fold the mean of
  the folds' losses so far; ``FoldMedianPruner`` stops a trial that is worse than the median of the earlier
  trials at the same epoch of the same fold (folds are never compared with each other: their scales differ).
- **The study** (Optuna's TPE sampler, seeded with ``train.seed``, which is never tuned) lives in a SQLite
  file. While the search runs it is ``<out>.incomplete/study.db``, beside the config it searches, so that
  ``resume`` continues an interrupted study; the results folder is written at the end, all at once, with
  a copy of it.
- **The close.** The best trial's settings make ``best.yaml``: the config with the naive forecast and the
  tuned model alone. It and the hand-set config (the config searched, with the same two models and none of
  the best trial's settings) are each trained on the config's own split once per seed of ``tune.close_seeds``
  (``run_seeds``) and scored on its test span: ``closing.csv``, one row per arm, model and seed, and
  ``closing_summary.csv``, their means and spreads over seeds. ``best/`` is the complete run folder of
  ``best.yaml`` with its own ``train.seed`` (the same run as that seed's, when it is a close seed). Without
  close seeds, ``best.yaml`` alone is trained and scored once.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from tqdm.auto import tqdm

from forecaster.config import ExperimentConfig, read_config, write_config
from forecaster.errors import ForecasterError
from forecaster.models import MODEL_KINDS
from forecaster.output.folders import check_out_dir, write_folder
from forecaster.runs.experiment import ExperimentResult, run_experiment, save_run
from forecaster.runs.multiseries import GlobalResult
from forecaster.runs.progress import MARKER, progress_dir
from forecaster.runs.seeds import run_seeds, seed_metrics, seed_summary
from forecaster.runs.series import Frames, load_data
from forecaster.runs.trials import (
    FoldMedianPruner,
    Objective,
    search_space,
    searched,
    trial_config,
)
from forecaster.tracking.tracker import TrackedRun, Tracker, log_results
from forecaster.tuning.space import SearchSpace

STUDY = "study.db"
def optuna_module():
    """Optuna, or a one-line error naming the extra that installs it."""
    if importlib.util.find_spec("optuna") is None:
        raise ForecasterError("forecaster tune needs optuna, which is not installed; install the tune extra: pip install -e '.[tune]'")
    import optuna

    optuna.logging.set_verbosity(optuna.logging.ERROR)  # the progress bar and trials.csv say what happened
    return optuna


ARMS = ("hand-set", "tuned")  # the closing table's arms, in its order


@dataclass
class TuneResult:
    """The search and its close: the tuning config (its ``search`` holds the space searched), the study,
    ``best.yaml``'s config and its run with ``train.seed`` on the config's split (the test span read only in
    the close), and ``closing``: per arm (``ARMS``) its run per close seed; empty without close seeds, and
    without the hand-set arm when the best trial's settings are the config's own (``notes`` says so)."""

    config: ExperimentConfig
    study: Any
    best: ExperimentConfig
    final: ExperimentResult | GlobalResult
    closing: dict[str, dict[int, ExperimentResult | GlobalResult]] = dataclasses.field(default_factory=dict)
    notes: list[str] = dataclasses.field(default_factory=list)

    @property
    def trials(self) -> pd.DataFrame:
        return trials_table(self.study, searched(self.config))

    @property
    def closing_metrics(self) -> pd.DataFrame:
        """closing.csv: one row per arm, model and seed, every metrics column of a run."""
        table = pd.concat([seed_metrics(results).assign(arm=arm) for arm, results in self.closing.items()], ignore_index=True)
        return table[["arm", "model", "seed", *(c for c in table.columns if c not in ("arm", "model", "seed"))]]

    @property
    def closing_summary(self) -> pd.DataFrame:
        """closing_summary.csv: per (series,) model and arm (the models in their order, the arms in ``ARMS``'),
        ``seed_summary``; a search over several series has each series' rows, then the pooled ones."""
        table = pd.concat([seed_summary(results).assign(arm=arm) for arm, results in self.closing.items()], ignore_index=True)
        keys = [key for key in ("series", "model") if key in table.columns]
        for key in reversed(keys):  # the order each first appears in; the arms are in order already: a stable sort keeps it
            order = list(dict.fromkeys(table[key]))
            table = table.sort_values(key, key=lambda values, order=order: values.map(order.index), kind="stable")
        return table[[*keys, "arm", *(c for c in table.columns if c not in (*keys, "arm"))]].reset_index(drop=True)


def trials_table(study, space: SearchSpace) -> pd.DataFrame:
    """trials.csv: per trial its state, value (mean fold loss), val_rel_mae, folds scored, seconds, settings, note."""
    rows = []
    for trial in study.get_trials(deepcopy=False):
        seconds = (trial.datetime_complete - trial.datetime_start).total_seconds() if trial.datetime_complete else float("nan")
        state = {"COMPLETE": "complete", "PRUNED": "pruned", "FAIL": "failed"}.get(trial.state.name, "interrupted")
        rows.append({"trial": trial.number, "state": state, "value": trial.value,
                     "val_rel_mae": trial.user_attrs.get("val_rel_mae"), "folds": trial.user_attrs.get("folds", 0),
                     "seconds": seconds, **{item.key: trial.params.get(item.key) for item in space.dimensions},
                     "note": trial.user_attrs.get("note", "")})
    return pd.DataFrame(rows)


def open_study(optuna, folder: Path, seed: int, pruner=None):
    """The study kept in ``folder/study.db``, created or continued; trials a killed process left running count as failed."""
    storage = optuna.storages.RDBStorage(f"sqlite:///{(folder / STUDY).resolve()}")
    study = optuna.create_study(study_name="forecaster", storage=storage, direction="minimize", load_if_exists=True,
                                sampler=optuna.samplers.TPESampler(seed=seed), pruner=pruner or FoldMedianPruner(optuna))
    study_id = storage.get_study_id_from_name("forecaster")
    for trial in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
        storage.set_trial_state_values(storage.get_trial_id_from_study_id_trial_number(study_id, trial.number),
                                       optuna.trial.TrialState.FAIL)
    return study


def start_study(config: ExperimentConfig, out: Path) -> Path:
    """The progress folder of ``out`` with the tuning config and a marker; the study joins it with its first trial."""
    folder = progress_dir(out)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / MARKER).write_text(f"This search has not finished: {out} does not exist yet.\n"
                                 f"Continue it with: forecaster tune --resume {out}\n")
    write_config(config, folder / ".config.yaml.tmp")
    os.replace(folder / ".config.yaml.tmp", folder / "config.yaml")
    return folder


def interrupted_config(out: Path) -> ExperimentConfig:
    """The tuning config of the interrupted search that was creating ``out``; an error when there is none."""
    folder = progress_dir(out)
    if not (folder / "config.yaml").is_file():
        state = "it is already complete" if out.is_dir() else f"{folder} holds no search"
        raise ForecasterError(f"nothing to resume for out={str(out)!r}: {state}")
    return read_config(folder / "config.yaml")


def run_search(
    config: ExperimentConfig, out: str | Path, *, frame: Frames | None = None, progress: bool = False,
    tracker: Tracker | None = None, pruner=None,
) -> tuple[ExperimentConfig, Any]:
    """Search ``config.tune.model``'s settings (``config.tune``: trials, timeout, folds; ``config.search``).

    The study lives in ``<out>.incomplete/``; an earlier study there is continued up to ``tune.trials``
    completed or pruned trials in all. Returns the config with the space searched, and the study.
    ``tracker`` gets every trial as a run; ``pruner`` replaces ``FoldMedianPruner``.
    """
    optuna = optuna_module()
    if config.tune is None or config.tune.model is None:
        raise ForecasterError("tune.model is not set; name the model to tune, one of: "
                              + ", ".join(s.name for s in config.models if MODEL_KINDS[s.kind].trainable))
    out = check_out_dir(out)
    frame = load_data(config, frame)
    config, folds = search_space(config, frame)
    study = open_study(optuna, start_study(config, out), config.train.seed, pruner)
    done = sum(trial.state.name in ("COMPLETE", "PRUNED") for trial in study.get_trials(deepcopy=False))
    objective = Objective(config, searched(config), frame, folds, tracker or Tracker(), out.name, optuna)
    bar = tqdm(total=config.tune.trials, initial=min(done, config.tune.trials), desc=f"tune {config.tune.model}",
               unit="trial", disable=not progress)

    def update(study, trial) -> None:
        completed = [t.value for t in study.get_trials(deepcopy=False) if t.state.name == "COMPLETE"]
        bar.update()
        if completed:
            bar.set_postfix(best=f"{min(completed):.4f}")

    started = time.perf_counter()
    try:
        study.optimize(objective, n_trials=max(0, config.tune.trials - done), timeout=config.tune.timeout, callbacks=[update])
    finally:
        bar.close()
        study.set_user_attr("seconds", study.user_attrs.get("seconds", 0.0) + time.perf_counter() - started)
    return config, study


def run_tune(
    config: ExperimentConfig, out: str | Path, *, frame: Frames | None = None, progress: bool = False,
    tracker: Tracker | None = None, pruner=None,
) -> TuneResult:
    """``run_search``, then the close (``close``): the tuned and the hand-set config on the config's split, scored on its
    test span, and the results folder ``out`` written (``save_tune``). ``tracker`` gets the close as a run too."""
    frame = load_data(config, frame)
    config, study = run_search(config, out, frame=frame, progress=progress, tracker=tracker, pruner=pruner)
    if not any(trial.state.name == "COMPLETE" for trial in study.get_trials(deepcopy=False)):
        notes = [t.user_attrs["note"] for t in study.get_trials(deepcopy=False) if t.user_attrs.get("note")]
        raise ForecasterError(f"no trial of the search completed ({len(study.trials)} tried)"
                              + (f"; the last failure: {notes[-1]}" if notes else "; widen the search or raise tune.trials"))
    with (tracker or Tracker()).run(Path(out).name) as tracked:
        result = close(config, study, frame, progress=progress, tracked=tracked)
        save_tune(result, Path(out), tracked=tracked)
    return result


def close(config: ExperimentConfig, study, frame: Frames, *, progress: bool = False,
          tracked: TrackedRun | None = None) -> TuneResult:
    """The close of a finished search: ``best.yaml`` (the best trial's settings) and the hand-set config (none of
    them), each run once per seed of ``tune.close_seeds`` (``run_seeds``), and ``best.yaml`` with its own seed.

    The hand-set arm is left out, with a note, when the best trial's settings are the config's own (the two
    arms would be the same runs). ``tracked`` gets every epoch, as ``<arm>.<model>.seed-<N>``.
    """
    best = trial_config(config, study.best_trial.params, with_naive=True)
    seeds, notes, closing = config.tune.close_seeds, [], {}
    arms = {"hand-set": trial_config(config, {}, with_naive=True), "tuned": best} if seeds else {}
    if arms and arms["hand-set"] == best:
        del arms["hand-set"]
        notes.append("the best trial's settings are the config's own: the hand-set arm would repeat the tuned one, left out")
    for arm, arm_config in arms.items():
        hook = None if tracked is None else (lambda name, end, arm=arm: tracked.log_epoch(f"{arm}.{name}", end))
        closing[arm] = run_seeds(arm_config, seeds, frame=frame, progress=progress, on_epoch_end=hook)
    final = closing.get("tuned", {}).get(best.train.seed)
    if final is None:
        final = run_experiment(best, frame=frame, progress=progress, on_epoch_end=None if tracked is None else tracked.log_epoch)
    return TuneResult(config=config, study=study, best=final.config, final=final, closing=closing, notes=notes)


def save_tune(result: TuneResult, out: Path, *, tracked: TrackedRun | None = None) -> Path:
    """Write ``out`` at once (config, trials.csv, best.yaml, study.db, figures, best/, with close seeds closing.csv and
    closing_summary.csv), then drop the progress folder."""
    from forecaster.runs.tune_figures import history_figure, importance_figure

    folder = progress_dir(out)

    def write_files(staging: Path) -> None:
        write_config(result.config, staging / "config.yaml")
        result.trials.to_csv(staging / "trials.csv", index=False)
        write_config(result.best, staging / "best.yaml")
        shutil.copy2(folder / STUDY, staging / STUDY)
        history_figure(result.study, staging / "optimization_history.png")
        importance_figure(result.study, staging / "param_importances.png", seed=result.config.train.seed)
        save_run(result.final, staging / "best")
        if result.closing:
            result.closing_metrics.to_csv(staging / "closing.csv", index=False)
            result.closing_summary.to_csv(staging / "closing_summary.csv", index=False)

    written = write_folder(out, write_files)
    if tracked is not None:
        log_results(tracked, result.best.to_dict(), result.final.metrics, written)
    shutil.rmtree(folder, ignore_errors=True)
    return written
