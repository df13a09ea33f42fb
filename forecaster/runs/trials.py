"""One trial of ``forecaster tune``: the folds it is scored on, the settings it tries, the pruner and the objective.

The steps before the config's test span are cut into ``tune.folds`` walk-forward folds exactly as a backtest cuts
a whole series (``fold_bounds``); a trial trains on each fold's training span (the scaler refit there), stops
early on its validation span, and is scored on the span after that, which still lies before the config's test
span. Its value is the mean of its folds' losses in the loss the model trains on. ``FoldMedianPruner`` stops a
trial worse than the median of the earlier trials at the same epoch of the same fold. ``runs/tune.py`` runs the
study and the close.
"""

from __future__ import annotations

import dataclasses
import math
import statistics
from dataclasses import dataclass
from typing import Any

import pandas as pd

from forecaster.config import BacktestConfig, ExperimentConfig, config_from_dict
from forecaster.data.features import prepare_series
from forecaster.data.windows import SplitBounds, pool_windows, split_bounds
from forecaster.errors import ForecasterError
from forecaster.runs.fitting import build, fit, model_dims, score_model, training_loss
from forecaster.runs.folds import fold_bounds
from forecaster.runs.multiseries import prepare_all
from forecaster.runs.prepare import PreparedData, prepare_data
from forecaster.runs.series import Frames, series_configs
from forecaster.tracking.tracker import TrackedRun, Tracker
from forecaster.training.loop import evaluate_loss, resolve_device
from forecaster.tuning.space import SearchSpace, default_space

FOLD_STEPS = 100_000  # intermediate values: fold k's epoch e at k * FOLD_STEPS + e, its end at (k + 1) * FOLD_STEPS - 1
PRUNE_AFTER = 5  # earlier trials that reached a step before a trial may be pruned there (Optuna's default start-up)
# A trial may be pruned at every PRUNE_EVERY-th epoch of a fold (none before: early epochs favour high learning
# rates) and between folds. Checked at every epoch, a trial meets so many medians that almost none survives.
PRUNE_EVERY = 5


def first_test_step(frame: pd.DataFrame, config: ExperimentConfig) -> int:
    """The first step of the config's test span in one series' transformed steps: a search never reaches it."""
    series = prepare_series(frame, config.data)
    return split_bounds(len(series.frames), config.windows, lost_rows=series.lost_rows).val_end


def search_folds(data: Frames, config: ExperimentConfig, contexts: tuple[int, ...]) -> list[SplitBounds | dict[str, SplitBounds]]:
    """The folds every trial is scored on, inside the steps before the config's test span (``fold_bounds``); with
    several series, each fold holds every series' own (label -> bounds), each series cut over its own length.

    Checked with the longest context a trial may use, so that a search that cannot fit fails before its first trial.
    """
    if isinstance(data, dict):
        per_series = {label: _named(label, search_folds, data[label], own, contexts)
                      for label, own in series_configs(config, data).items()}
        return [{label: folds[fold] for label, folds in per_series.items()} for fold in range(config.tune.folds)]
    longest = dataclasses.replace(config.windows, context=max(contexts))
    try:
        return fold_bounds(first_test_step(data, config), longest, BacktestConfig(folds=config.tune.folds))
    except ForecasterError as error:
        raise ForecasterError(f"tune.folds={config.tune.folds} with windows.context up to {max(contexts)}: {error}") from None


def _named(label: str, function, *args):
    """``function(*args)``, its error naming series ``label``."""
    try:
        return function(*args)
    except ForecasterError as error:
        raise ForecasterError(f"series {label!r}: {error}") from None


def shortest_training(data: Frames, config: ExperimentConfig) -> int:
    """The training steps of the oldest fold (of the series with the fewest, for several): what bounds a context."""
    if isinstance(data, dict):
        return min(_named(label, shortest_training, data[label], own) for label, own in series_configs(config, data).items())
    oldest = fold_bounds(first_test_step(data, config), config.windows, BacktestConfig(folds=config.tune.folds))[0]
    return oldest.train_end - oldest.train_start


def search_space(config: ExperimentConfig, data: Frames) -> tuple[ExperimentConfig, list[SplitBounds | dict[str, SplitBounds]]]:
    """``config`` with the space searched in its ``search`` section (the kind's default when it has none), and the folds."""
    name = config.tune.model
    spec = next(spec for spec in config.models if spec.name == name)
    given = next((space for space in config.search or () if space.model == name), None)
    if given is None:
        given = default_space(name, spec.kind, spec.config, config.windows, max_context=shortest_training(data, config) // 2)
        config = dataclasses.replace(config, search=(*(config.search or ()), given))
    return config, search_folds(data, config, given.contexts(config.windows))


def fold_data(data: Frames, config: ExperimentConfig, bounds: SplitBounds | dict[str, SplitBounds]) -> tuple[dict, list[PreparedData]]:
    """One fold's windows (pooled over the series, for several) and each series' prepared data, to score on."""
    if isinstance(data, dict):
        prepared = list(prepare_all(config, data, bounds=bounds).values())
        return pool_windows([part.windows for part in prepared]), prepared
    prepared = prepare_data(data, config.data, config.windows, bounds=bounds)
    return prepared.windows, [prepared]


def searched(config: ExperimentConfig) -> SearchSpace:
    """The space searched for the tuned model (``search_space`` puts it in the config)."""
    return next(space for space in config.search or () if space.model == config.tune.model)


def trial_config(config: ExperimentConfig, params: dict[str, Any], *, with_naive: bool = False) -> ExperimentConfig:
    """The tuned model's experiment with ``params`` (model settings, ``section.key`` experiment settings) applied.

    ``with_naive``: the naive forecast first (the config's own entry, if any), as ``best.yaml`` has it. The
    tuning sections go: the result is a config that ``forecaster run`` takes as it is.
    """
    raw = config.to_dict()
    for key in ("tune", "search", "seeds", "backtest"):
        raw.pop(key, None)
    tuned = next(entry for entry in raw["models"] if entry["name"] == config.tune.model)
    naive = next((entry for entry in raw["models"] if entry["kind"] == "naive"), {"kind": "naive"})
    raw["models"] = [naive, tuned] if with_naive else [tuned]
    for key, value in params.items():
        section, _, field = key.rpartition(".")
        (raw[section] if section else tuned)[field] = value
    return config_from_dict(raw)


class FoldMedianPruner:
    """Prune a trial worse than the median of ``PRUNE_AFTER`` or more earlier trials at its newest step.

    Optuna's MedianPruner compares a trial's best value over *all* its steps; here the steps of different
    folds hold losses of different scales, so only the same fold is compared: at an epoch, every earlier
    trial (completed or pruned) that trained in that fold, by its best loss up to that epoch (a trial that
    stopped earlier, early or pruned, keeps its last); between folds, the trials that finished the fold.
    Against the trials that reached the same epoch alone (the survivors of every check before), a trial
    meets ever better medians: on sunspots, 35 of 40 trials were pruned.
    """

    def __init__(self, optuna) -> None:
        self.states = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)

    def prune(self, study, trial) -> bool:
        step = trial.last_step
        if step is None:
            return False
        others = [value for other in study.get_trials(deepcopy=False, states=self.states)
                  if (value := value_by(other.intermediate_values, step)) is not None]
        return len(others) >= PRUNE_AFTER and trial.intermediate_values[step] > statistics.median(others)


def value_by(values: dict[int, float], step: int) -> float | None:
    """A trial's reported value at ``step``; for an epoch step, its last epoch value before it in the same fold."""
    if step in values or step % FOLD_STEPS == FOLD_STEPS - 1:  # a fold's end is compared with fold ends only
        return values.get(step)
    fold = step - step % FOLD_STEPS
    epochs = [earlier for earlier in values if fold <= earlier < step and earlier % FOLD_STEPS != FOLD_STEPS - 1]
    return values[max(epochs)] if epochs else None


@dataclass
class Objective:
    """One trial: the settings the sampler suggests, trained and scored on every fold; NaN marks a failed trial."""

    config: ExperimentConfig
    space: SearchSpace
    frame: Frames  # one series, or several by label
    folds: list[SplitBounds | dict[str, SplitBounds]]
    tracker: Tracker
    name: str
    optuna: Any

    def __call__(self, trial) -> float:
        params = {item.key: item.suggest(trial) for item in self.space.dimensions}
        trial.set_user_attr("folds", 0)
        pruned = False
        with self.tracker.run(f"{self.name}/trial-{trial.number}", {"model": self.space.model, **params}) as tracked:
            try:
                value = self._folds(trial, trial_config(self.config, params), tracked)
            except ForecasterError as error:  # settings that build no model (patch longer than the window, ...)
                trial.set_user_attr("note", str(error))
                value = float("nan")
            except self.optuna.TrialPruned:
                pruned, value = True, float("nan")
            tracked.set_tags({"state": "pruned" if pruned else "failed" if math.isnan(value) else "complete"})
            tracked.log_metrics({"val_loss": value, "val_rel_mae": trial.user_attrs.get("val_rel_mae", float("nan"))})
        if pruned:
            raise self.optuna.TrialPruned()
        return value

    def _folds(self, trial, config: ExperimentConfig, tracked: TrackedRun) -> float:
        spec, device = config.models[0], resolve_device(config.train.device)
        losses, rel_maes = [], []
        for fold, bounds in enumerate(self.folds):
            windows, parts = fold_data(self.frame, config, bounds)
            dims = parts[0].dims
            model = build(spec, model_dims(spec, dims, config.intervals), seed=config.train.seed)
            loss = training_loss(model, dims, config.train.loss)

            def report(end, fold=fold):
                trial.report(end.best_val_loss, fold * FOLD_STEPS + end.epoch)
                tracked.log_epoch(f"fold{fold + 1}", end)
                return end.epoch % PRUNE_EVERY == 0 and trial.should_prune()

            training = fit(model, windows["train"], windows["val"], config.train, device=device, loss=loss,
                           on_epoch_end=report, description=f"trial {trial.number} fold {fold + 1}")
            if training.stopped_by_hook:
                raise self.optuna.TrialPruned()
            if training.failure and not training.best_epoch:
                trial.set_user_attr("note", training.failure)
                return float("nan")
            losses.append(evaluate_loss(model.to(device), windows["test"].to(device), config.train.batch_size, loss=loss))
            rel_maes.append(statistics.fmean(score_model(data, spec, model, training, device=device, split="test").metrics["rel_mae"]
                                             for data in parts))  # the mean of the series' own
            trial.set_user_attr("folds", len(losses))
            trial.set_user_attr("val_rel_mae", statistics.fmean(rel_maes))
            trial.report(statistics.fmean(losses), (fold + 1) * FOLD_STEPS - 1)
            if fold + 1 < len(self.folds) and trial.should_prune():
                raise self.optuna.TrialPruned()
        return statistics.fmean(losses)
