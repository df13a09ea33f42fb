"""Walk-forward backtests: K folds x several seeds, metrics with their spread, and significance tests.

Each fold is a chronological split that ends further into the series: a training span (expanding from
the start, or sliding with a fixed length), a validation span, then a test span. The folds' test
spans do not overlap and together cover the end of the series. In every fold the scaler and the
models are refit on that fold's training span alone (or every ``refit_every`` folds, for cheaper runs),
exactly as ``run_experiment`` does for one split. How many folds and seeds, which scheme and how often to
refit is a ``BacktestConfig``: the experiment config's ``backtest`` section, which the results folder's
config.yaml records, so that ``forecaster backtest DIR/config.yaml`` repeats the same backtest.

With intervals, each fold's are calibrated on that fold's validation span; the summary adds coverage and
rel_crps over folds and seeds, and ``interval_tests`` the standard tests of interval forecasts per model
and level: Kupiec's unconditional coverage and Christoffersen's independence of misses.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from forecaster.config import BacktestConfig, ExperimentConfig
from forecaster.data.features import prepare_series
from forecaster.data.sources import load_prices
from forecaster.data.windows import SplitBounds
from forecaster.errors import ForecasterError
from forecaster.evaluation.conformal import alpha_of
from forecaster.evaluation.metrics import no_move_tolerance
from forecaster.evaluation.stats import christoffersen_test, diebold_mariano_differential, direction_tests, kupiec_test, summarise
from forecaster.output.tables import seasonal_beside_naive
from forecaster.runs.experiment import METRIC_COLUMNS, ExperimentResult, run_experiment
from forecaster.runs.folds import fold_bounds
from forecaster.runs.intervals import summarised_scores

LOSSES = ("squared", "absolute")


@dataclass
class BacktestResult:
    """Every (fold, seed) run, and the tables and tests computed from them.

    ``config.backtest`` is the backtest that ran (never None here): what the results folder records.
    """

    config: ExperimentConfig
    folds: list[SplitBounds]
    runs: dict[tuple[int, int], ExperimentResult] = field(default_factory=dict)  # (fold, seed) -> run

    @property
    def seeds(self) -> tuple[int, ...]:
        return self.config.backtest.seeds

    @property
    def fold_metrics(self) -> pd.DataFrame:
        """One row per (fold, seed, model): the run's metrics table with the fold's test dates."""
        rows = []
        for (fold, seed), result in self.runs.items():
            dates = result.data.series.dates
            table = result.metrics.assign(
                fold=fold + 1, seed=seed,
                test_start=dates[self.folds[fold].val_end], test_end=dates[self.folds[fold].length - 1],
            )
            rows.append(table)
        return pd.concat(rows, ignore_index=True)

    @property
    def predictions(self) -> pd.DataFrame:
        """Test forecasts of every fold and seed (long format: one row per origin, step, fold, seed)."""
        return pd.concat(
            [result.predictions.assign(fold=fold + 1, seed=seed) for (fold, seed), result in self.runs.items()],
            ignore_index=True,
        )

    def losses(self, loss: str) -> pd.DataFrame:
        """Each model's loss at every test point of the last horizon step, averaged over seeds.

        Averaging over seeds asks whether the model, trained with a random seed, has a lower expected
        loss; the seeds share the same test days, so they are not extra observations.
        """
        frame = self.predictions
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
        """Per model: every metric's mean, std and 95 % interval over folds and seeds, and the tests."""
        folds = self.fold_metrics
        horizon = self.config.windows.horizon
        squared = self.losses("squared")
        absolute = self.losses("absolute")
        metrics = METRIC_COLUMNS + summarised_scores(folds.columns) + ["train_seconds"]
        rows = []
        for name in self.config_model_names:
            own = folds[folds["model"] == name]
            row: dict = {"model": name, "kind": own["kind"].iloc[0], "runs": len(own)}
            for metric in metrics:
                stats = summarise(own[metric].to_numpy(dtype=float))
                row.update({f"{metric}_{key}": stats[key] for key in ("mean", "std", "ci_low", "ci_high")})
            for loss, table in (("squared", squared), ("absolute", absolute)):
                if "naive" in table.columns and name != "naive":
                    test = _dm(table[name] - table["naive"], horizon)
                    row[f"dm_{loss}_vs_naive"], row[f"dm_{loss}_vs_naive_p"] = test
            row.update(self._direction(name))
            row["failed_runs"] = int((own["status"] != "ok").sum())
            rows.append(row)
        return seasonal_beside_naive(pd.DataFrame(rows))

    def interval_tests(self) -> pd.DataFrame:
        """Per model and level: coverage of one-step intervals over every fold (first seed), with Kupiec and Christoffersen.

        The folds' test spans are consecutive, so their one-step misses form one series in time order; one
        seed is used because the seeds share the same test days (their misses are not independent trials).
        Step 1 only: an h-step interval's misses overlap by construction and are dependent for h > 1.
        """
        misses: dict[tuple[str, float], list[np.ndarray]] = {}
        methods: dict[str, str] = {}
        for (_fold, seed), result in sorted(self.runs.items()):
            if seed != self.seeds[0]:
                continue
            actual, _ = result.data.actual_and_anchors("test")
            for name, run in result.runs.items():
                if run.intervals is None:
                    continue
                methods[name] = run.intervals.method
                for index, level in enumerate(run.intervals.levels):
                    lower, upper = run.intervals.lower[:, 0, index], run.intervals.upper[:, 0, index]
                    misses.setdefault((name, level), []).append((actual[:, 0] < lower) | (actual[:, 0] > upper))
        rows = []
        for (name, level), parts in misses.items():
            missed = np.concatenate(parts)
            kupiec, christoffersen = kupiec_test(missed, alpha_of(level)), christoffersen_test(missed)
            rows.append({"model": name, "method": methods[name], "level": level, "points": len(missed),
                         "coverage": 1 - float(missed.mean()), "kupiec_p": kupiec["p_value"],
                         "christoffersen_p": christoffersen["p_value"]})
        return pd.DataFrame(rows, columns=["model", "method", "level", "points", "coverage", "kupiec_p", "christoffersen_p"])

    def _direction(self, name: str) -> dict[str, float]:
        """Binomial tests of one-step directional accuracy (first seed) against 50 % and "always up".

        The seeds share the same test days, so their hits are not independent trials: one seed is used.
        """
        hits = trials = ups = points = 0
        for (_fold, seed), result in self.runs.items():
            if seed != self.seeds[0]:
                continue
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

    def pairwise(self, loss: str = "squared") -> pd.DataFrame:
        """Diebold-Mariano p-values between every pair of models (row vs column; seed-averaged losses)."""
        table = self.losses(loss)
        names = [name for name in self.config_model_names if name in table.columns]
        p_values = pd.DataFrame(np.nan, index=names, columns=names)
        for first in names:
            for second in names:
                if first != second:
                    _, p_values.loc[first, second] = _dm(table[first] - table[second], self.config.windows.horizon)
        return p_values


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
    frame: pd.DataFrame | None = None,
    progress: bool = False,
) -> BacktestResult:
    """Run ``config`` on every fold and seed; the test span of each fold is used once, after training.

    The backtest is ``config.backtest`` (``BacktestConfig()`` when the config has none) with the given
    ``folds``, ``seeds``, ``scheme`` and ``refit_every`` in place of its own; None keeps its value.
    """
    given = {"folds": folds, "seeds": None if seeds is None else tuple(seeds), "scheme": scheme, "refit_every": refit_every}
    backtest = dataclasses.replace(config.backtest or BacktestConfig(),
                                   **{key: value for key, value in given.items() if value is not None})
    config = dataclasses.replace(config, backtest=backtest)
    if frame is None:
        frame = load_prices(config.data.single_source("backtest"), start=config.data.start, end=config.data.end)
    series = prepare_series(frame, config.data)
    if series.targets > 1:
        # The fold tests (Diebold-Mariano, direction, Kupiec) are written for one target's errors.
        raise ForecasterError(f"backtest scores one target (its Diebold-Mariano, direction and coverage tests read one "
                              f"target's errors), and data.targets names {series.targets}: "
                              "backtest each with data.column, or compare seeds with forecaster run --seeds")
    length = len(series.frames)  # usable steps after the target transform
    bounds = fold_bounds(length, config.windows, backtest)
    result = BacktestResult(config=config, folds=bounds)
    bar = tqdm(total=len(bounds) * len(backtest.seeds), desc="backtest", unit="fit", disable=not progress)
    for seed in backtest.seeds:
        seeded = dataclasses.replace(config, train=dataclasses.replace(config.train, seed=seed))
        last_fit: tuple[SplitBounds, ExperimentResult] | None = None
        for fold, fold_span in enumerate(bounds):
            if last_fit is None or fold % backtest.refit_every == 0:
                run = run_experiment(seeded, frame=frame, bounds=fold_span, progress=False)
                last_fit = (fold_span, run)
            else:
                # Models and scaler of the last refit, scored on this fold's test span.
                fitted_span, fitted = last_fit
                span = dataclasses.replace(fitted_span, val_end=fold_span.val_end, length=fold_span.length)
                run = run_experiment(seeded, frame=frame, bounds=span, pretrained=fitted.runs)
            result.runs[(fold, seed)] = run
            bar.update()
    bar.close()
    return result


def step_metrics(result: BacktestResult) -> pd.DataFrame:
    """Per model and horizon step: each metric averaged over folds and seeds."""
    rows = [
        result_run.step_metrics.assign(fold=fold + 1, seed=seed)
        for (fold, seed), result_run in result.runs.items()
    ]
    table = pd.concat(rows, ignore_index=True)
    return table.groupby(["model", "step"], sort=False)[METRIC_COLUMNS].mean().reset_index()


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
            result.pairwise(loss).to_csv(folder / f"dm_pvalues_{loss}.csv", index_label="model")
        result.predictions.to_csv(folder / "predictions.csv", index=False)
        tests = result.interval_tests()
        if len(tests):
            tests.to_csv(folder / "interval_tests.csv", index=False)
        figures = {
            "fold_rel_mae.png": plots.backtest_rel_mae_figure(fold_metrics),
            "cumulative_error.png": plots.cumulative_error_figure(result.losses("squared")),
        }
        if result.config.windows.horizon > 1:
            steps = step_metrics(result)
            steps.to_csv(folder / "metrics_by_step.csv", index=False)
            figures["rel_mae_by_step.png"] = plots.rel_mae_by_step_figure(steps)
        for filename, figure in figures.items():
            figure.savefig(folder / filename, dpi=120, bbox_inches="tight")

    return write_folder(out, write_files)
