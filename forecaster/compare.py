"""Several results folders side by side: each model's rel_mae in each run or backtest."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from forecaster.errors import ForecasterError


def read_rel_mae(folder: str | Path) -> pd.Series:
    """rel_mae by model from a run's ``metrics.csv`` or a backtest's ``summary.csv`` (its mean)."""
    folder = Path(folder)
    if (folder / "summary.csv").is_file():
        table = pd.read_csv(folder / "summary.csv")
        return table.set_index("model")["rel_mae_mean"]
    if (folder / "metrics.csv").is_file():
        return pd.read_csv(folder / "metrics.csv").set_index("model")["rel_mae"]
    raise ForecasterError(
        f"{str(folder)!r} is not a results folder: it has no metrics.csv (forecaster run) or summary.csv (forecaster backtest)"
    )


def compare_table(folders: list[str | Path]) -> pd.DataFrame:
    """One row per model (in order of first appearance), one column per folder (named by its path)."""
    if not folders:
        raise ForecasterError("compare needs at least one results folder")
    columns = {}
    for folder in folders:
        label = str(folder).rstrip("/")
        if label in columns:
            raise ForecasterError(f"results folder {label!r} is named twice")
        columns[label] = read_rel_mae(folder)
    return pd.DataFrame(columns)
