"""Per-frame embeddings of a whole series from a trained encoder: what a well-trained embedding captures.

Each date gets the contextual embedding of its frame as the newest frame of the window that ends there.
With the checkpoint's own transform the inputs are scaled with the checkpoint's statistics (from its
training span), so an embedding depends on its window alone, never on later data. With another
transform (sunspot counts have zeros: no log-returns) those statistics do not apply, and the series is
standardised with its own mean and deviation over its whole length: fine for describing a series,
but then every embedding depends slightly on the whole series' scale.

Many series (a long table's, by id) get one embedding each (``embed_panel``): the mean of the series' per-frame
embeddings, a description of the whole series to compare series by.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn

from forecaster.data.pipeline import Pipeline
from forecaster.errors import ForecasterError
from forecaster.output.folders import write_folder

VOLATILITY_WINDOW = 21  # about one trading month of changes


def embed_series(
    encoder: nn.Module, pipeline: Pipeline, frame: pd.DataFrame, *, context: int, column: str | None = None,
    transform: str | None = None, batch_size: int = 512, source: str | None = None,
) -> pd.DataFrame:
    """A DataFrame indexed by date: the embedding (columns e0..e{D-1}), the next change and the volatility.

    ``frame`` is read through the encoder's ``pipeline`` (a checkpoint's), in windows of ``context`` frames.
    """
    inputs = pipeline.read(frame, context=context, column=column, transform=transform, source=source)
    series = inputs.series
    if len(inputs.frames) != len(series.frames):  # a padded run's pipeline pads a short series: no date per window
        raise ForecasterError(f"the data has {len(series.frames)} usable steps; embeddings are one per window of {context} "
                              f"steps, so it needs at least {context}")
    values = torch.tensor(inputs.frames, dtype=torch.float32)  # (L, C)
    windows = values.unfold(0, context, 1).transpose(1, 2)  # (L-T+1, T, C), a view
    newest = [encoder.encode(windows[start : start + batch_size])[:, -1] for start in range(0, len(windows), batch_size)]
    embeddings = torch.cat(newest).numpy()  # (L-T+1, D)
    change = pd.Series(series.frames[:, 0], index=series.dates)
    table = pd.DataFrame(embeddings, index=series.dates[context - 1 :], columns=[f"e{i}" for i in range(embeddings.shape[1])])
    table["next_change"] = change.shift(-1).reindex(table.index)  # what came right after each frame
    table["volatility"] = change.rolling(VOLATILITY_WINDOW).std().reindex(table.index)
    table.index.name = "date"
    return table


def embed_panel(
    encoder: nn.Module, pipeline: Pipeline, frames: dict[str, pd.DataFrame], *, context: int, column: str | None = None,
    transform: str | None = None, batch_size: int = 512,
) -> pd.DataFrame:
    """One row per series of ``frames`` (a long table's, by id), indexed by ``unique_id``: the mean of the series'
    per-frame embeddings (``embed_series``, the series read as its own source: a global model's own series with its
    own scaling), the mean change (``mean_change``), the mean rolling volatility and the number of ``frames``."""
    rows = {}
    for label, frame in frames.items():
        try:
            table = embed_series(encoder, pipeline, frame, context=context, column=column, transform=transform,
                                 batch_size=batch_size, source=label)
        except ForecasterError as error:
            raise ForecasterError(f"series {label!r}: {error}") from None
        means = table[embedding_columns(table)].mean()
        rows[label] = {**means.to_dict(), "mean_change": table["next_change"].mean(), "volatility": table["volatility"].mean(),
                       "frames": len(table)}
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("unique_id")


def embedding_columns(table: pd.DataFrame) -> list[str]:
    """The embedding columns of an ``embed_series`` or ``embed_panel`` table: e0..e{D-1}."""
    return [c for c in table.columns if c.startswith("e") and c[1:].isdigit()]


def project(table: pd.DataFrame) -> np.ndarray:
    """The embeddings' first two principal components (scikit-learn PCA), (N, 2)."""
    from sklearn.decomposition import PCA

    embeddings = table[embedding_columns(table)].to_numpy()
    return PCA(n_components=2).fit_transform(embeddings)


def save_embeddings(table: pd.DataFrame, out: str | Path, *, title: str) -> Path:
    """Write the folder ``out``: ``embeddings.csv`` (``embed_series``' or ``embed_panel``'s table) and
    ``embedding_pca.png``, atomically.

    The figure is the embeddings' first two principal components, coloured by the next change and by
    the volatility (a panel's: by each series' mean change and mean volatility; no figure for one series);
    ``title`` heads it. Returns the folder.
    """
    from forecaster.output import plots  # matplotlib is imported only when figures are written

    panel = "mean_change" in table.columns
    figure = None
    if len(table) >= 2:
        colours = (table["mean_change"], table["volatility"]) if panel else (table["next_change"], table["volatility"])
        labels = ("mean change", "mean rolling volatility") if panel else ("next change", "rolling volatility")
        figure = plots.embedding_figure(project(table), *colours, title=title, labels=labels)

    def write_files(folder: Path) -> None:
        table.to_csv(folder / "embeddings.csv")
        if figure is not None:
            figure.savefig(folder / "embedding_pca.png", dpi=120, bbox_inches="tight")

    return write_folder(out, write_files)
