"""Question 10: what residual connections do for training, at growing depth.

The same transformer with and without the identity paths (``residual``) is trained for a fixed number
of epochs (no early stopping) at depths 2, 4 and 8 on the seasonal series; the training curves, the
final losses and, at initialisation, how much gradient reaches the first block compared with the last.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from forecaster.config import ModelSpec
from forecaster.data.windows import Batch
from forecaster.lesson.figures import line_figure
from forecaster.lesson.order import models_text
from forecaster.lesson.runs import (
    CPU,
    describe_series,
    model_config,
    prepared,
    train_config,
)
from forecaster.lesson.section import (
    Section,
    compare,
    display,
    number,
    seeds_text,
    spread,
    summarise,
    values,
)
from forecaster.lesson.settings import LessonSettings
from forecaster.runs.fitting import build, fit_and_score
from forecaster.training.losses import mse

SERIES = "seasonal"
RESIDUAL = {"with residuals": True, "without": False}


def block_gradients(model: torch.nn.Module, batch: Batch) -> tuple[float, float]:
    """Gradient norms of the first and the last encoder block's parameters for one batch's loss."""
    model.train()
    model.zero_grad()
    mse(model(batch.past, batch.future), batch.targets).backward()
    blocks = model.encoder.blocks
    first, last = (float(torch.stack([p.grad.norm() for p in block.parameters()]).norm()) for block in (blocks[0], blocks[-1]))
    model.zero_grad()
    return first, last


def _one_run(depth: int, residual: bool, seed: int, settings: LessonSettings) -> tuple[dict, list[dict]]:
    data = prepared(SERIES, settings)
    train = data.windows["train"]
    config = dataclasses.replace(model_config("transformer", settings, residual=residual), n_layers=depth)
    spec = ModelSpec("transformer", "transformer", config)
    model = build(spec, data.dims, seed=seed)
    first, last = block_gradients(model, train.batch(torch.arange(min(len(train), 256))))
    run = fit_and_score(data, spec, model,
                        train_config(settings, seed, epochs=settings.residual_epochs, patience=settings.residual_epochs),
                        device=CPU)
    training = run.training
    label = next(name for name, on in RESIDUAL.items() if on == residual)
    summary = {"depth": depth, "residual": label, "seed": seed, "final_train_loss": training.history[-1]["train_loss"],
               "best_val_loss": training.best_val_loss, "rel_mae": run.metrics["rel_mae"], "grad_first_block": first,
               "grad_last_block": last, "grad_first_over_last": first / last if last > 0 else np.nan}
    curve = [{"depth": depth, "residual": label, "seed": seed, **epoch} for epoch in training.history]
    return summary, curve


def residuals(settings: LessonSettings, *, seeds: tuple[int, ...], progress: bool = False) -> Section:
    """Training curves, final losses and gradient at the first block, with and without residuals, by depth."""
    summaries, curves = [], []
    runs = [(d, r, s) for d in settings.residual_depths for r in RESIDUAL.values() for s in seeds]
    for depth, residual, seed in tqdm(runs, desc="residuals", disable=not progress, leave=False):
        summary, curve = _one_run(depth, residual, seed, settings)
        summaries.append(summary)
        curves.extend(curve)
    finals, history = pd.DataFrame(summaries), pd.DataFrame(curves)
    curve_table = summarise(history, ["depth", "residual", "epoch"], "train_loss")
    curve_table["panel"] = [f"depth {depth}" for depth in curve_table.depth]
    figure = line_figure(curve_table, x="epoch", line="residual", panels="panel", log_y=True,
                         title=f"Training loss per epoch on the seasonal series (band: sd over {len(seeds)} seed(s))",
                         xlabel="epoch", ylabel="training loss (scaled MSE)")
    sentences = []
    for depth in settings.residual_depths:
        result = compare(values(finals, "final_train_loss", depth=depth, residual="with residuals"),
                         values(finals, "final_train_loss", depth=depth, residual="without"))
        sentences.append(
            f"Depth {depth}: final training loss {spread(values(finals, 'final_train_loss', depth=depth, residual='with residuals'), 4)} "
            f"with residuals, {spread(values(finals, 'final_train_loss', depth=depth, residual='without'), 4)} without "
            f"(without against with: {result.words()}); test rel_mae "
            f"{spread(values(finals, 'rel_mae', depth=depth, residual='with residuals'), 4)} and "
            f"{spread(values(finals, 'rel_mae', depth=depth, residual='without'), 4)} (naive = 1).")
    deepest = max(settings.residual_depths)
    ratio = {name: values(finals, "grad_first_over_last", depth=deepest, residual=name) for name in RESIDUAL}
    sentences.append(f"At initialisation with {deepest} blocks, the first block receives {spread(ratio['with residuals'])} "
                     f"times the last block's gradient norm with residuals and {spread(ratio['without'])} times without.")
    loss = {name: float(np.mean(values(finals, "final_train_loss", depth=deepest, residual=name))) for name in RESIDUAL}
    answer = (f"depth {deepest}: final training loss {number(loss['with residuals'])} with residuals vs "
              f"{number(loss['without'])} without; first/last block gradient at init "
              f"{number(float(np.mean(ratio['with residuals'])))} vs {number(float(np.mean(ratio['without'])))}")
    return Section(
        number=10, name="residuals",
        what_was_run=(f"The transformer with and without residual connections at depths "
                      f"{', '.join(map(str, settings.residual_depths))}, trained on {describe_series([SERIES], settings)} "
                      f"for {settings.residual_epochs} epochs without early stopping (the weights of the best validation "
                      f"epoch are scored); {models_text(settings)} (but the depth); {seeds_text(seeds)}. Gradient norms "
                      "per block from one batch of 256 training windows at the initial weights."),
        tables={"final training loss (scaled MSE)": display(finals, "depth", "residual", "final_train_loss", 4),
                "best validation loss": display(finals, "depth", "residual", "best_val_loss", 4),
                "test rel_mae (naive = 1)": display(finals, "depth", "residual", "rel_mae", 4),
                "at initialisation: first block's gradient norm / last block's":
                    display(finals, "depth", "residual", "grad_first_over_last")},
        figures={"residuals_training.png": figure}, interpretation=sentences, answer=answer,
        records={"residuals": finals, "residuals_history": history},
    )
