"""Several results folders side by side: each model's rel_mae in each run or backtest."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from forecaster.data.seasonality import seasonal_beside_naive
from forecaster.errors import ForecasterError


def read_rel_mae(folder: str | Path) -> pd.Series:
    """rel_mae by model from a run's ``metrics.csv`` or a backtest's ``summary.csv`` (its mean)."""
    return _read_table(folder).set_index("model")["rel_mae"]


def _read_table(folder: str | Path) -> pd.DataFrame:
    """Columns model, kind (when the file has it) and rel_mae of a results folder."""
    folder = Path(folder)
    if (folder / "summary.csv").is_file():
        table = pd.read_csv(folder / "summary.csv").rename(columns={"rel_mae_mean": "rel_mae"})
        return table[[column for column in ("model", "kind", "rel_mae") if column in table.columns]]
    if (folder / "metrics.csv").is_file():
        table = pd.read_csv(folder / "metrics.csv")
        return table[[column for column in ("model", "kind", "rel_mae") if column in table.columns]]
    raise ForecasterError(
        f"{str(folder)!r} is not a results folder: it has no metrics.csv (forecaster run) or summary.csv (forecaster backtest)"
    )


def compare_table(folders: list[str | Path]) -> pd.DataFrame:
    """One row per model (in order of first appearance, seasonal naive ones right after naive), one column per folder."""
    if not folders:
        raise ForecasterError("compare needs at least one results folder")
    columns, kinds = {}, {}
    for folder in folders:
        label = str(folder).rstrip("/")
        if label in columns:
            raise ForecasterError(f"results folder {label!r} is named twice")
        table = _read_table(folder)
        columns[label] = table.set_index("model")["rel_mae"]
        if "kind" in table.columns:
            kinds.update({model: kind for model, kind in zip(table["model"], table["kind"]) if model not in kinds})
    frame = pd.DataFrame(columns)
    order = pd.DataFrame({"model": frame.index, "kind": [kinds.get(model, "") for model in frame.index]})
    return frame.loc[seasonal_beside_naive(order)["model"]]
