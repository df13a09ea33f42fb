"""Per-frame embeddings of a whole series from a trained encoder: what a well-trained embedding captures.

Each date gets the contextual embedding of its frame as the newest frame of the window that ends there.
With the checkpoint's own transform the inputs are scaled with the checkpoint's statistics (from its
training span), so an embedding depends on its window alone, never on later data. With another
transform (sunspot counts have zeros: no log-returns) those statistics do not apply, and the series is
standardised with its own mean and deviation over its whole length: fine for describing a series,
but then every embedding depends slightly on the whole series' scale.
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


def project(table: pd.DataFrame) -> np.ndarray:
    """The embeddings' first two principal components (scikit-learn PCA), (N, 2)."""
    from sklearn.decomposition import PCA

    embeddings = table[[c for c in table.columns if c.startswith("e") and c[1:].isdigit()]].to_numpy()
    return PCA(n_components=2).fit_transform(embeddings)


def save_embeddings(table: pd.DataFrame, out: str | Path, *, title: str) -> Path:
    """Write the folder ``out``: ``embeddings.csv`` (``embed_series``' table) and ``embedding_pca.png``, atomically.

    The figure is the embeddings' first two principal components, coloured by the next change and by
    the volatility; ``title`` heads it. Returns the folder.
    """
    from forecaster.output import plots  # matplotlib is imported only when figures are written

    figure = plots.embedding_figure(project(table), table["next_change"], table["volatility"], title=title)

    def write_files(folder: Path) -> None:
        table.to_csv(folder / "embeddings.csv")
        figure.savefig(folder / "embedding_pca.png", dpi=120, bbox_inches="tight")

    return write_folder(out, write_files)
