"""Several results folders side by side: each model's rel_mae in each run, seeds run or backtest."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from forecaster.errors import ForecasterError
from forecaster.output.folders import write_folder
from forecaster.output.tables import seasonal_beside_naive


def _read_table(folder: str | Path) -> pd.DataFrame:
    """Columns model, kind (when the file has it) and rel_mae of a results folder."""
    folder = Path(folder)
    if (folder / "summary.csv").is_file():  # a backtest or seeds run: the mean over its runs
        table = pd.read_csv(folder / "summary.csv").rename(columns={"rel_mae_mean": "rel_mae"})
    elif (folder / "metrics.csv").is_file():
        table = pd.read_csv(folder / "metrics.csv")
    else:
        raise ForecasterError(
            f"{str(folder)!r} is not a results folder: it has no metrics.csv (forecaster run) or summary.csv (forecaster backtest)"
        )
    return table[[column for column in ("model", "kind", "rel_mae") if column in table.columns]]


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


def save_compare(table: pd.DataFrame, out: str | Path) -> Path:
    """Write ``compare_table``'s ``table`` as compare.csv and compare.png to the new folder ``out``, atomically."""
    from forecaster.output import plots  # matplotlib only when the figure is drawn

    def write_files(folder: Path) -> None:
        table.to_csv(folder / "compare.csv", index_label="model")
        plots.compare_figure(table).savefig(folder / "compare.png", dpi=120, bbox_inches="tight")

    return write_folder(out, write_files)
