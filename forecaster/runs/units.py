"""A run's units: each (series, target) it forecasts, seen as a run of one series and one target.

A global run holds several series and a run may forecast several targets; the tables of a backtest, and every
test that reads one sequence of errors in time order, go unit by unit. A run of one series and one target is its
own only unit, ``(None, None)``.
"""

from __future__ import annotations

import dataclasses

import pandas as pd

from forecaster.runs.experiment import ExperimentResult
from forecaster.runs.multiseries import GlobalResult

Unit = tuple[str | None, str | None]  # (series label, target name): None where the run has one series, or one target


def unit_results(run: ExperimentResult | GlobalResult) -> dict[Unit, ExperimentResult]:
    """Each (series, target) of one fold's run as a result of one series and one target: what the fold tests read.

    A run of one series and one target is its own only unit, ``(None, None)``.
    """
    parts = run.parts if isinstance(run, GlobalResult) else {None: run}
    return {(label, channel): part if channel is None else dataclasses.replace(part, data=data, runs=runs)
            for label, part in parts.items() for channel, data, runs in part.per_target()}


def units_first(table: pd.DataFrame) -> pd.DataFrame:
    """``table`` with its ``series`` and ``channel`` columns (where it has them) first."""
    leading = [column for column in ("series", "channel") if column in table.columns]
    return table[[*leading, *[column for column in table.columns if column not in leading]]]
