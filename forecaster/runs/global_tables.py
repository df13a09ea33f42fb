"""A global run's tables built in one pass over its series, and kept until its runs change.

A global run of N series holds one ``ExperimentResult`` per series (``runs/multiseries.GlobalResult``). Building each
table as one small DataFrame per series and concatenating them costs about a millisecond per series and table, and the
command line reads ``metrics`` several times: with thousands of series that was most of a run's time. Here every table
gathers its rows (or columns) over all series first and makes one DataFrame, with the same columns, order and values as
the per-series tables concatenated; ``TableCache`` keeps each table until a model's run of some series is replaced.
A run of more than ``PARQUET_SERIES`` series writes its predictions as Parquet (``write_predictions``).
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from forecaster.data.panel import shown_dates
from forecaster.runs.fitting import ModelRun
from forecaster.runs.intervals import level_name
from forecaster.runs.prepare import PreparedData

PARQUET_SERIES = 1000  # a run of more series writes predictions.parquet (where pyarrow is installed), not predictions.csv


def write_predictions(table: pd.DataFrame, folder: Path, *, series: int) -> Path:
    """Write a global run's predictions to ``folder``: ``predictions.csv``, or ``predictions.parquet`` for a run of more
    than ``PARQUET_SERIES`` series where pyarrow is installed (smaller, and written and read many times faster); the
    file written."""
    if series > PARQUET_SERIES:
        try:
            import pyarrow  # noqa: F401  (pandas writes Parquet through it)
        except ImportError:
            pass
        else:
            table.to_parquet(folder / "predictions.parquet", index=False)
            return folder / "predictions.parquet"
    table.to_csv(folder / "predictions.csv", index=False)
    return folder / "predictions.csv"


class TableCache:
    """Tables by name, each kept while the runs it was built from (every series' and model's ``ModelRun``) are the same
    objects: a model added or scored again builds it anew."""

    def __init__(self) -> None:
        self._tables: dict[str, tuple[tuple, pd.DataFrame]] = {}

    def get(self, name: str, parts: dict, build: Callable[[], pd.DataFrame]) -> pd.DataFrame:
        """Table ``name`` of ``parts`` (label -> ``ExperimentResult``), built by ``build`` unless kept; a copy, so that a
        caller changing it changes no later answer."""
        runs = (*parts, *(run for part in parts.values() for run in part.runs.values()))
        kept = self._tables.get(name)
        if kept is None or len(kept[0]) != len(runs) or not all(map(operator.is_, kept[0], runs)):
            kept = self._tables[name] = (runs, build())
        return kept[1].copy()


def prediction_columns(split: str, channel: str | None, data: PreparedData, runs: dict[str, ModelRun]) -> dict:
    """One target's forecasts of ``split`` as columns: per (origin, step) the date, origin, step, actual value, each
    model's forecast and each model's interval bounds by level (``ExperimentResult.predictions``). A series of integer
    time steps (a long table's integer ``ds``, ``data/panel.py``) has its steps, integers, as dates and origins."""
    actual, _ = data.actual_and_anchors(split)
    origins = data.windows[split].origins
    horizon = actual.shape[1]
    dates = shown_dates(data.series.dates)
    columns = {
        "date": dates[(origins[:, None] + np.arange(1, horizon + 1)).ravel()],
        "origin": dates[np.repeat(origins, horizon)],
        "step": np.tile(np.arange(1, horizon + 1), len(origins)),
        **({} if channel is None else {"channel": channel}),
        "actual": actual.ravel(),
    }
    columns.update({name: run.forecast.ravel() for name, run in runs.items()})
    for name, run in runs.items():
        if run.intervals is None:
            continue
        for index, level in enumerate(run.intervals.levels):
            columns[f"{name}_lo_{level_name(level)}"] = run.intervals.lower[..., index].ravel()
            columns[f"{name}_hi_{level_name(level)}"] = run.intervals.upper[..., index].ravel()
    return columns


def predictions(parts: dict) -> pd.DataFrame:
    """Every series' predictions, one after the other, with a last ``series`` column: ``ExperimentResult.predictions``
    of each, concatenated, built as one table."""
    pieces = []  # (label, columns) per series and target
    for label, part in parts.items():
        split = part.split
        pieces += [(label, prediction_columns(split, channel, data, runs)) for channel, data, runs in part.per_target()]
    keys = list(pieces[0][1])
    if any(list(columns) != keys for _label, columns in pieces):  # not one layout: table by table, as pandas joins them
        return pd.concat([pd.DataFrame(columns).assign(series=label) for label, columns in pieces], ignore_index=True)
    lengths = [len(columns["step"]) for _label, columns in pieces]
    table = {key: _joined([columns[key] for _label, columns in pieces], lengths) for key in keys}
    table["series"] = np.repeat(np.array([label for label, _columns in pieces], dtype=object), lengths)
    return pd.DataFrame(table)


def _joined(values: list, lengths: list[int]):
    """One column from each piece's: arrays (or date indexes) joined, a scalar (a target's name) repeated."""
    if isinstance(values[0], str):
        return np.repeat(np.array(values, dtype=object), lengths)
    if isinstance(values[0], pd.Index):
        return values[0].append(values[1:]) if len(values) > 1 else values[0]
    return np.concatenate(values)


def metrics_rows(parts: dict, order: list[str]) -> pd.DataFrame:
    """Every series' metrics rows (``ExperimentResult.metrics``: the models in ``order``), with a last ``series``
    column, as one table."""
    rows = [{**part._metrics_row(name, part.runs[name], part.runs[name].metrics), "series": label}
            for label, part in parts.items() for name in order]
    return pd.DataFrame(rows)


def step_metrics(parts: dict) -> pd.DataFrame:
    """Every series' metrics per model and step (``ExperimentResult.step_metrics``), with a last ``series`` column."""
    return pd.DataFrame([{"model": name, **row, "series": label} for label, part in parts.items()
                         for name, run in part.runs.items() for row in run.step_metrics])
