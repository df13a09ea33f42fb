"""Figures of a run as matplotlib Figures (no pyplot state, no plt.show(), no torch)."""

from __future__ import annotations

import pandas as pd
from matplotlib.figure import Figure

NAIVE_COLOUR = "0.35"


def rel_mae_figure(metrics: pd.DataFrame) -> Figure:
    """Bar chart of each model's rel_mae, with the random walk's level (1.0) marked."""
    figure = Figure(figsize=(7, 3.8))
    axes = figure.subplots()
    ordered = metrics.sort_values("rel_mae")
    colours = [NAIVE_COLOUR if kind == "naive" else "tab:blue" for kind in ordered["kind"]]
    axes.barh(ordered["model"], ordered["rel_mae"], color=colours)
    axes.axvline(1.0, color="tab:red", linestyle="--", label="naive (random walk) = 1")
    low = min(0.9, ordered["rel_mae"].min() * 0.98)
    high = max(1.1, ordered["rel_mae"].max() * 1.02)
    axes.set_xlim(low, high)
    for y, value in enumerate(ordered["rel_mae"]):
        axes.text(value, y, f" {value:.3f}", va="center", fontsize=8)
    axes.set_xlabel("rel_mae: test MAE / naive MAE on the same points (below 1 beats the random walk)")
    axes.legend(loc="lower right", fontsize=8)
    axes.set_title("Models against the random walk, test span")
    return figure


def forecast_figure(predictions: pd.DataFrame, *, last: int = 120, step: int = 1) -> Figure:
    """The last ``last`` test points of horizon step ``step``: actual values and every model's forecast."""
    figure = Figure(figsize=(10, 4.5))
    axes = figure.subplots()
    rows = predictions[predictions["step"] == step].tail(last)
    axes.plot(rows["date"], rows["actual"], color="black", linewidth=1.8, label="actual")
    models = [c for c in predictions.columns if c not in ("date", "origin", "step", "actual")]
    for name in models:
        style = {"color": NAIVE_COLOUR, "linestyle": ":"} if name == "naive" else {}
        axes.plot(rows["date"], rows[name], linewidth=1.0, label=name, **style)
    axes.set_title(f"Test forecasts, step {step} (the naive line is the actual series shifted by {step})")
    axes.legend(fontsize=8, ncol=3)
    figure.autofmt_xdate()
    return figure


def training_curves_figure(history: pd.DataFrame) -> Figure:
    """Train (solid) and validation (dashed) loss per epoch, one colour per model."""
    figure = Figure(figsize=(8, 4))
    axes = figure.subplots()
    for index, (name, rows) in enumerate(history.groupby("model", sort=False)):
        colour = f"C{index}"
        axes.plot(rows["epoch"], rows["train_loss"], color=colour, label=f"{name} train")
        axes.plot(rows["epoch"], rows["val_loss"], color=colour, linestyle="--", label=f"{name} validation")
    axes.set_xlabel("epoch")
    axes.set_ylabel("MSE of scaled targets")
    axes.set_title("Training curves")
    if len(history):
        axes.legend(fontsize=7, ncol=2)
    return figure
