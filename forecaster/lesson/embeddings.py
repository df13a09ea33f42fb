"""Question 3: what the frame embeddings of a trained encoder capture, measured with linear probes.

The newest frame's contextual embedding of every S&P 500 window is projected (PCA) and coloured by the
next change and the window's volatility. A ridge regression, cross-validated over all windows of the
series (5 shuffled folds; R² on the held-out fold), says how much of each property a linear read-out
finds there, against the same encoder at its initial weights and against the raw frames. Pooling the
windows keeps the question about what the embedding holds, not about the shift of volatility between
the training years and the test years.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch
from sklearn.decomposition import PCA
from sklearn.linear_model import Ridge
from sklearn.model_selection import KFold, cross_val_score
from torch import nn
from tqdm.auto import tqdm

from forecaster.lesson.order import models_text
from forecaster.lesson.runs import describe_series, fit, model_config, prepared, unwrap
from forecaster.lesson.section import (
    Section,
    compare,
    display,
    number,
    seeds_text,
    spread,
    values,
)
from forecaster.lesson.settings import LessonSettings
from forecaster.models import build_model
from forecaster.output import plots
from forecaster.training.loop import seed_everything

SERIES = "sp500"
FEATURES = ("trained encoder", "initial encoder", "raw frames")
READABLE = 0.05  # a test R² above this counts as linearly readable


def newest_embeddings(encoder: nn.Module, inputs: torch.Tensor, batch_size: int = 1024) -> np.ndarray:
    """The newest frame's contextual embedding of every window (N, T, C): (N, D)."""
    chunks = [encoder.encode(inputs[start : start + batch_size])[:, -1] for start in range(0, len(inputs), batch_size)]
    return torch.cat(chunks).numpy()


def window_properties(inputs: torch.Tensor, targets: torch.Tensor) -> dict[str, np.ndarray]:
    """What a probe tries to read, per window (scaled units): log volatility, trend, the newest and the next change.

    ``inputs`` (N, T, C) and ``targets`` (N, H, K): the target is the first channel, the next change its first step.
    """
    changes = inputs[..., 0].numpy()  # (N, T)
    return {"window log-volatility": np.log(changes.std(axis=1)), "window trend": changes.mean(axis=1),
            "newest change": changes[:, -1], "next change": targets[:, 0, 0].numpy()}


def probe_r2(features: np.ndarray, target: np.ndarray, seed: int) -> float:
    """Mean held-out R² of a ridge regression over 5 shuffled folds."""
    folds = KFold(n_splits=5, shuffle=True, random_state=seed)
    return float(cross_val_score(Ridge(alpha=1.0), features, target, cv=folds, scoring="r2").mean())


def embeddings(settings: LessonSettings, *, seeds: tuple[int, ...], progress: bool = False) -> Section:
    """Linear-probe R² of window properties from trained, initial and no encoder; a PCA figure of the first seed."""
    data = prepared(SERIES, settings)
    windows = [data.windows[split] for split in ("train", "val", "test")]
    inputs = torch.cat([w.inputs for w in windows])  # (N, T, C): every window of the series
    properties = window_properties(inputs, torch.cat([w.targets for w in windows]))
    rows, figure = [], None
    for seed in tqdm(seeds, desc="embeddings", disable=not progress, leave=False):
        trained = unwrap(fit(SERIES, "transformer", seed, settings)).encoder
        seed_everything(seed)
        initial = build_model("transformer", model_config("transformer", settings), data.dims).encoder
        features = {"trained encoder": newest_embeddings(trained, inputs),
                    "initial encoder": newest_embeddings(initial, inputs), "raw frames": inputs[..., 0].numpy()}
        for name, x in features.items():
            for target, y in properties.items():
                rows.append({"property": target, "features": name, "seed": seed, "r2": probe_r2(x, y, seed)})
        if figure is None:
            points = PCA(n_components=2).fit_transform(features["trained encoder"])
            figure = plots.embedding_figure(points, properties["next change"], properties["window log-volatility"],
                                            title=f"Newest-frame embeddings of every S&P 500 window (PCA, seed {seed})")
    records = pd.DataFrame(rows)
    sentences = []
    for target in properties:
        r2 = {name: values(records, "r2", property=target, features=name) for name in FEATURES}
        versus = compare(r2["initial encoder"], r2["trained encoder"])
        readable = np.mean(r2["trained encoder"]) > READABLE
        sentences.append(
            f"{target.capitalize()}: held-out R² {spread(r2['trained encoder'])} from the trained embedding, "
            f"{spread(r2['initial encoder'])} from the initial one, {spread(r2['raw frames'])} from the raw frames; "
            f"trained against initial: {versus.words()}"
            + ("." if readable else f"; at most {READABLE} is no linearly readable information."))
    mean = {target: float(np.mean(values(records, "r2", property=target, features="trained encoder")))
            for target in properties}
    answer = "linear-probe R² from trained embeddings: " + ", ".join(f"{t} {number(v)}" for t, v in mean.items())
    return Section(
        number=3, name="embeddings",
        what_was_run=(f"The transformer trained on {describe_series([SERIES], settings)} ({models_text(settings)}; "
                      f"{seeds_text(seeds)}). For each window, the newest frame's contextual embedding (width "
                      f"{settings.d_model}), for all {len(inputs)} windows. Ridge regression (alpha 1), R² on held-out "
                      "windows averaged over 5 shuffled folds, for four properties of a window in scaled units: the log "
                      "of the sd of its changes (volatility), their mean (trend), the newest change and the next change "
                      "(the forecast target); features: the trained encoder, the same architecture at its initial "
                      "weights, and the raw frames."),
        tables={"held-out R² of a linear probe (mean ± sd over seeds)": display(records, "property", "features", "r2")},
        figures={"embeddings_pca.png": figure}, interpretation=sentences, answer=answer, records={"embeddings": records},
    )
