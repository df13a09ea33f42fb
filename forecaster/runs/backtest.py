"""Walk-forward backtests: K folds x several seeds, metrics with their spread, and significance tests.

The folds are ``runs/folds.py``'s; in each the scaler and the models are refit on its training span alone (or
every ``refit_every`` folds), as ``run_experiment`` does for one split. The ``backtest`` config section says how
(config.yaml records it: ``forecaster backtest DIR/config.yaml`` repeats the backtest). With several series each
fold trains one global model and cuts every series over its own length; tables and tests go by unit (``runs/units.py``).

With intervals, each fold's are calibrated on that fold's validation span; the summary adds coverage and
rel_crps over folds and seeds, and ``interval_tests`` the standard tests of interval forecasts per model
and level: Kupiec's unconditional coverage and Christoffersen's independence of misses.
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from forecaster.config import BacktestConfig, ExperimentConfig
from forecaster.data.panel import shown_dates
from forecaster.data.windows import SplitBounds
from forecaster.evaluation.conformal import alpha_of
from forecaster.evaluation.metrics import no_move_tolerance
from forecaster.evaluation.stats import christoffersen_test, diebold_mariano_differential, direction_tests, kupiec_test, summarise
from forecaster.output.tables import seasonal_beside_naive
from forecaster.runs.experiment import METRIC_COLUMNS, ExperimentResult, run_experiment
from forecaster.runs.folds import series_folds
from forecaster.runs.intervals import summarised_scores
from forecaster.runs.multiseries import GlobalResult
from forecaster.runs.series import POOLED, Frames, load_data, series_configs
from forecaster.runs.units import Unit, unit_results, units_first

LOSSES = ("squared", "absolute")


@dataclass
class BacktestResult:
    """Every (fold, seed) run, and the tables and tests computed from them.

    ``config.backtest`` is the backtest that ran (never None here): what the results folder records. With several
    series or targets, a run is a global run or one of several targets, and every table has a row per (series,
    target) unit (``series`` and ``channel`` columns, for what varies) and pooled rows (``all``); the tests, which
    read one series' errors in time order, are made per unit (the pooled rows leave them empty).
    """

    config: ExperimentConfig
    folds: list[SplitBounds | dict[str, SplitBounds]]  # each fold's split (per series label, for several series)
    runs: dict[tuple[int, int], ExperimentResult | GlobalResult] = field(default_factory=dict)  # (fold, seed) -> run

    @property
    def seeds(self) -> tuple[int, ...]:
        return self.config.backtest.seeds

    @functools.cached_property
    def _units(self) -> dict[tuple[int, int], dict[Unit, ExperimentResult]]:
        return {key: unit_results(run) for key, run in self.runs.items()}

    @property
    def units(self) -> list[Unit]:
        """The (series, target) units every fold scores, in order."""
        return list(next(iter(self._units.values())))

    def _columns(self, unit: Unit) -> dict[str, str]:
        """The unit's ``series`` and ``channel`` columns, for those of them that vary (none for one unit)."""
        keys = self.units
        return {name: value for name, value, varies in (("series", unit[0], len({k[0] for k in keys}) > 1),
                                                        ("channel", unit[1], len({k[1] for k in keys}) > 1)) if varies}

    @property
    def _pooled_columns(self) -> dict[str, str]:
        """The pooled rows' ``series`` and ``channel``: ``all`` in each column that varies."""
        return {column: POOLED for column in self._columns(self.units[0])}

    @staticmethod
    def _test_dates(result: ExperimentResult) -> dict:
        dates, span = shown_dates(result.data.series.dates), result.data.bounds
        return {"test_start": dates[span.val_end], "test_end": dates[span.length - 1]}

    @functools.cached_property
    def fold_metrics(self) -> pd.DataFrame:
        """One row per (fold, seed, unit, model): the run's metrics table with the fold's test dates; then, with several
        units, the pooled rows (the global run's pooled scores, or a run's pooled over its targets)."""
        rows = []
        for (fold, seed), units in self._units.items():
            for unit, result in units.items():
                rows.append(result.metrics.assign(**self._columns(unit), fold=fold + 1, seed=seed, **self._test_dates(result)))
            if len(units) > 1:
                run = self.runs[(fold, seed)]
                pooled = run.metrics[run.metrics["series"] == POOLED].drop(columns="series") if isinstance(run, GlobalResult) \
                    else run.metrics
                dates = [self._test_dates(result) for result in units.values()]
                rows.append(pooled.assign(**self._pooled_columns, fold=fold + 1, seed=seed,
                                          test_start=min(d["test_start"] for d in dates), test_end=max(d["test_end"] for d in dates)))
        return units_first(pd.concat(rows, ignore_index=True))

    @property
    def predictions(self) -> pd.DataFrame:
        """Test forecasts of every fold and seed (long format: one row per origin, step, fold, seed; and unit)."""
        return units_first(pd.concat(
            [result.predictions.assign(**self._columns(unit), fold=fold + 1, seed=seed)
             for (fold, seed), units in self._units.items() for unit, result in units.items()],
            ignore_index=True,
        ))

    def losses(self, loss: str, unit: Unit | None = None) -> pd.DataFrame:
        """Each model's loss at every test point of the last horizon step of ``unit`` (default: the first), averaged over seeds.

        Averaging over seeds asks whether the model, trained with a random seed, has a lower expected
        loss; the seeds share the same test days, so they are not extra observations.
        """
        unit = self.units[0] if unit is None else unit
        frame = pd.concat([units[unit].predictions.assign(fold=fold + 1) for (fold, _seed), units in self._units.items()],
                          ignore_index=True)
        frame = frame[frame["step"] == frame["step"].max()]
        models = [name for name in self.config_model_names if name in frame.columns]
        errors = frame[models].sub(frame["actual"], axis=0)
        values = errors.pow(2) if loss == "squared" else errors.abs()
        values[["date", "fold"]] = frame[["date", "fold"]]
        return values.groupby(["fold", "date"], sort=True)[models].mean().reset_index(level="fold")

    @property
    def config_model_names(self) -> list[str]:
        return [spec.name for spec in self.config.models]

    def summary(self) -> pd.DataFrame:
        """Per unit and model: every metric's mean, std and 95 % interval over folds and seeds, and the tests; then, with
        several units, the pooled rows' spread (no tests: the pooled errors are not one sequence in time order)."""
        tables = [self._summary_rows(self._columns(unit), unit) for unit in self.units]
        if len(self.units) > 1:
            tables.append(self._summary_rows(self._pooled_columns, None))
        return pd.concat(tables, ignore_index=True)

    def _summary_rows(self, columns: dict[str, str], unit: Unit | None) -> pd.DataFrame:
        """The summary's rows of the fold_metrics rows with ``columns``; the tests read ``unit``'s errors (None: none)."""
        folds = self.fold_metrics
        for column, value in columns.items():
            folds = folds[folds[column] == value]
        horizon = self.config.windows.horizon
        tested = unit is not None
        squared, absolute = (self.losses("squared", unit), self.losses("absolute", unit)) if tested else (None, None)
        metrics = METRIC_COLUMNS + summarised_scores(folds.columns) + ["train_seconds"]
        rows = []
        for name in self.config_model_names:
            own = folds[folds["model"] == name]
            row: dict = {**columns, "model": name, "kind": own["kind"].iloc[0], "runs": len(own)}
            for metric in metrics:
                stats = summarise(own[metric].to_numpy(dtype=float))
                row.update({f"{metric}_{key}": stats[key] for key in ("mean", "std", "ci_low", "ci_high")})
            for loss, table in (("squared", squared), ("absolute", absolute)):
                if table is not None and "naive" in table.columns and name != "naive":
                    test = _dm(table[name] - table["naive"], horizon)
                    row[f"dm_{loss}_vs_naive"], row[f"dm_{loss}_vs_naive_p"] = test
            if tested:
                row.update(self._direction(name, unit))
            row["failed_runs"] = int((own["status"] != "ok").sum())
            rows.append(row)
        return seasonal_beside_naive(pd.DataFrame(rows))

    def interval_tests(self) -> pd.DataFrame:
        """Per unit, model and level: coverage of one-step intervals over every fold (first seed), with Kupiec and Christoffersen.

        The folds' test spans are consecutive, so their one-step misses form one series in time order; one
        seed is used because the seeds share the same test days (their misses are not independent trials).
        Step 1 only: an h-step interval's misses overlap by construction and are dependent for h > 1.
        """
        misses: dict[tuple[Unit, str, float], list[np.ndarray]] = {}
        methods: dict[str, str] = {}
        for (_fold, seed), units in sorted(self._units.items()):
            if seed != self.seeds[0]:
                continue
            for unit, result in units.items():
                actual, _ = result.data.actual_and_anchors("test")
                for name, run in result.runs.items():
                    if run.intervals is None:
                        continue
                    methods[name] = run.intervals.method
                    for index, level in enumerate(run.intervals.levels):
                        lower, upper = run.intervals.lower[:, 0, index], run.intervals.upper[:, 0, index]
                        misses.setdefault((unit, name, level), []).append((actual[:, 0] < lower) | (actual[:, 0] > upper))
        rows = []
        for (unit, name, level), parts in misses.items():
            missed = np.concatenate(parts)
            kupiec, christoffersen = kupiec_test(missed, alpha_of(level)), christoffersen_test(missed)
            rows.append({**self._columns(unit), "model": name, "method": methods[name], "level": level, "points": len(missed),
                         "coverage": 1 - float(missed.mean()), "kupiec_p": kupiec["p_value"],
                         "christoffersen_p": christoffersen["p_value"]})
        columns = [*self._columns(self.units[0]), "model", "method", "level", "points", "coverage", "kupiec_p", "christoffersen_p"]
        return pd.DataFrame(rows, columns=columns)

    def _direction(self, name: str, unit: Unit) -> dict[str, float]:
        """Binomial tests of one-step directional accuracy (first seed) against 50 % and "always up".

        The seeds share the same test days, so their hits are not independent trials: one seed is used.
        """
        hits = trials = ups = points = 0
        for (_fold, seed), units in self._units.items():
            if seed != self.seeds[0]:
                continue
            result = units[unit]
            actual, anchors = result.data.actual_and_anchors("test")
            span = result.data.bounds
            no_move = no_move_tolerance(result.data.series.levels[span.train_start : span.train_end])
            predicted = result.runs[name].forecast[:, 0] - anchors
            moved = np.abs(predicted) > no_move
            hits += int((np.sign(predicted) == np.sign(actual[:, 0] - anchors))[moved].sum())
            trials += int(moved.sum())
            ups += int((actual[:, 0] > anchors).sum())
            points += len(anchors)
        tests = direction_tests(hits, trials, up_share=ups / points)
        return {"direction_p_vs_half": tests["p_vs_half"], "direction_p_vs_always_up": tests["p_vs_always_up"]}

    def pairwise(self, loss: str = "squared", unit: Unit | None = None) -> pd.DataFrame:
        """Diebold-Mariano p-values between every pair of models (row vs column; seed-averaged losses) on ``unit``."""
        table = self.losses(loss, unit)
        names = [name for name in self.config_model_names if name in table.columns]
        p_values = pd.DataFrame(np.nan, index=names, columns=names)
        for first in names:
            for second in names:
                if first != second:
                    _, p_values.loc[first, second] = _dm(table[first] - table[second], self.config.windows.horizon)
        return p_values

    def pairwise_table(self, loss: str = "squared") -> pd.DataFrame:
        """dm_pvalues_<loss>.csv: ``pairwise`` of each unit, one block of rows per unit (a ``model`` column, then the models)."""
        blocks = [self.pairwise(loss, unit).rename_axis("model").reset_index() for unit in self.units]
        if len(blocks) == 1:
            return blocks[0]
        return units_first(pd.concat([block.assign(**self._columns(unit)) for block, unit in zip(blocks, self.units)],
                                     ignore_index=True))


def _dm(differential: pd.Series, horizon: int) -> tuple[float, float]:
    """DM statistic and p-value of a loss differential; NaNs when a model failed (NaN losses)."""
    values = differential.to_numpy(dtype=float)
    if np.isnan(values).any():
        return float("nan"), float("nan")
    test = diebold_mariano_differential(values, horizon=horizon)
    return test.statistic, test.p_value


def run_backtest(
    config: ExperimentConfig,
    *,
    folds: int | None = None,
    seeds: tuple[int, ...] | None = None,
    scheme: str | None = None,
    refit_every: int | None = None,
    frame: Frames | None = None,
    progress: bool = False,
) -> BacktestResult:
    """Run ``config`` on every fold and seed; the test span of each fold is used once, after training.

    The backtest is ``config.backtest`` (``BacktestConfig()`` when the config has none) with the given
    ``folds``, ``seeds``, ``scheme`` and ``refit_every`` in place of its own; None keeps its value. ``frame``
    replaces loading the series: one frame, or several series' frames by label.
    """
    given = {"folds": folds, "seeds": None if seeds is None else tuple(seeds), "scheme": scheme, "refit_every": refit_every}
    backtest = dataclasses.replace(config.backtest or BacktestConfig(),
                                   **{key: value for key, value in given.items() if value is not None})
    config = dataclasses.replace(config, backtest=backtest)
    data = load_data(config, frame)
    if isinstance(data, dict):  # several series: each cut into folds over its own length
        per_series = {label: series_folds(data[label], own, label=label) for label, own in series_configs(config, data).items()}
        bounds: list = [{label: folds[fold] for label, folds in per_series.items()} for fold in range(backtest.folds)]
    else:
        bounds = series_folds(data, config)
    result = BacktestResult(config=config, folds=bounds)
    bar = tqdm(total=len(bounds) * len(backtest.seeds), desc="backtest", unit="fit", disable=not progress)
    for seed in backtest.seeds:
        seeded = dataclasses.replace(config, train=dataclasses.replace(config.train, seed=seed))
        last_fit = None
        for fold, fold_span in enumerate(bounds):
            if last_fit is None or fold % backtest.refit_every == 0:
                run = run_experiment(seeded, frame=data, bounds=fold_span)
                last_fit = (fold_span, run)
            else:
                # Models and scaler of the last refit, scored on this fold's test span.
                fitted_span, fitted = last_fit
                run = run_experiment(seeded, frame=data, bounds=_scored_span(fitted_span, fold_span), pretrained=fitted.runs)
            result.runs[(fold, seed)] = run
            bar.update()
    bar.close()
    return result


def _scored_span(fitted, fold):
    """The last refit's training span with this fold's validation and test spans (per series for several)."""
    if isinstance(fold, dict):
        return {label: dataclasses.replace(fitted[label], val_end=span.val_end, length=span.length) for label, span in fold.items()}
    return dataclasses.replace(fitted, val_end=fold.val_end, length=fold.length)


def step_metrics(result: BacktestResult) -> pd.DataFrame:
    """Per model and horizon step: each metric averaged over folds and seeds."""
    rows = [
        unit_result.step_metrics.assign(**result._columns(unit), fold=fold + 1, seed=seed)
        for (fold, seed), units in result._units.items() for unit, unit_result in units.items()
    ]
    table = pd.concat(rows, ignore_index=True)
    keys = [*result._columns(result.units[0]), "model", "step"]
    return table.groupby(keys, sort=False)[METRIC_COLUMNS].mean().reset_index()


def save_backtest(result: BacktestResult, out: str | Path) -> Path:
    """Write the backtest's results folder atomically: config (with its ``backtest`` section), tables, predictions, figures."""
    from forecaster.config import write_config
    from forecaster.output import plots  # matplotlib only when figures are written
    from forecaster.output.folders import write_folder

    fold_metrics = result.fold_metrics  # built once: it gathers every run's table

    def write_files(folder) -> None:
        write_config(result.config, folder / "config.yaml")
        fold_metrics.to_csv(folder / "fold_metrics.csv", index=False)
        result.summary().to_csv(folder / "summary.csv", index=False)
        for loss in LOSSES:
            result.pairwise_table(loss).to_csv(folder / f"dm_pvalues_{loss}.csv", index=False)
        result.predictions.to_csv(folder / "predictions.csv", index=False)
        tests = result.interval_tests()
        if len(tests):
            tests.to_csv(folder / "interval_tests.csv", index=False)
        pooled = fold_metrics
        for column in ("series", "channel"):  # several units: the figure shows the pooled rows
            if column in pooled.columns:
                pooled = pooled[pooled[column] == POOLED]
        figures = {
            "fold_rel_mae.png": plots.backtest_rel_mae_figure(pooled),
            "cumulative_error.png": plots.cumulative_error_figure(result.losses("squared")),
        }
        if result.config.windows.horizon > 1:
            steps = step_metrics(result)
            steps.to_csv(folder / "metrics_by_step.csv", index=False)
            mean_steps = steps.groupby(["model", "step"], sort=False)["rel_mae"].mean().reset_index()  # over the units
            figures["rel_mae_by_step.png"] = plots.rel_mae_by_step_figure(mean_steps)
        for filename, figure in figures.items():
            figure.savefig(folder / filename, dpi=120, bbox_inches="tight")

    return write_folder(out, write_files)
