"""Figures of a run as matplotlib Figures (no pyplot state, no plt.show(), no torch)."""

from __future__ import annotations

import re

import pandas as pd
from matplotlib.figure import Figure

NAIVE_COLOUR = "0.35"


def rel_mae_figure(metrics: pd.DataFrame, *, title: str = "Models against the random walk, test span") -> Figure:
    """Bar chart of each model's rel_mae, with the random walk's level (1.0) marked."""
    figure = Figure(figsize=(7, 3.8))
    axes = figure.subplots()
    ordered = metrics.dropna(subset=["rel_mae"]).sort_values("rel_mae")  # failed models have no bar
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
    axes.set_title(title)
    return figure


# Bound columns of predictions.csv: <model>_lo_<level> and <model>_hi_<level>.
BOUND_COLUMN = re.compile(r"^(?P<model>.+)_(?P<side>lo|hi)_(?P<level>\d+(\.\d+)?)$")
NOT_MODELS = ("date", "origin", "step", "actual", "series", "channel")


def forecast_figure(predictions: pd.DataFrame, *, last: int = 120, step: int = 1, band: str | None = None) -> Figure:
    """The last ``last`` test points of horizon step ``step``: actual values, every model's forecast, ``band``'s intervals."""
    figure = Figure(figsize=(10, 4.5))
    axes = figure.subplots()
    rows = predictions[predictions["step"] == step].tail(last)
    axes.plot(rows["date"], rows["actual"], color="black", linewidth=1.8, label="actual")
    models = [c for c in predictions.columns if c not in NOT_MODELS and not BOUND_COLUMN.match(c)]
    for name in models:
        style = {"color": NAIVE_COLOUR, "linestyle": ":"} if name == "naive" else {}
        axes.plot(rows["date"], rows[name], linewidth=1.0, label=name, **style)
    levels = sorted({float(m["level"]) for c in predictions.columns if (m := BOUND_COLUMN.match(c)) and m["model"] == band},
                    reverse=True)
    for shade, level in zip((0.15, 0.3, 0.45), levels):
        text = f"{level:g}"
        axes.fill_between(rows["date"], rows[f"{band}_lo_{text}"], rows[f"{band}_hi_{text}"], color="tab:blue",
                          alpha=shade, linewidth=0, label=f"{band} {text} % interval")
    axes.set_title(f"Test forecasts, step {step} (the naive line is the actual series shifted by {step})")
    axes.legend(fontsize=8, ncol=3)
    figure.autofmt_xdate()
    return figure


def sharpest_model(metrics: pd.DataFrame) -> str | None:
    """The model with the lowest CRPS (whose bands the forecast figure shades), or None without intervals."""
    if "crps" not in metrics.columns or metrics["crps"].isna().all():
        return None
    return str(metrics.loc[metrics["crps"].idxmin(), "model"])


def interval_figures(intervals: pd.DataFrame, *, horizon: int) -> dict[str, Figure]:
    """The intervals' figures by file name: calibration.png, and coverage_by_step.png when ``horizon`` > 1."""
    if not len(intervals):
        return {}
    figures = {"calibration.png": calibration_figure(intervals)}
    if horizon > 1:
        figures["coverage_by_step.png"] = coverage_by_step_figure(intervals)
    return figures


def calibration_figure(intervals: pd.DataFrame) -> Figure:
    """Observed coverage (all steps) against the nominal level, one marker per model: on the diagonal is calibrated."""
    figure = Figure(figsize=(5.5, 5))
    axes = figure.subplots()
    overall = intervals[intervals["step"].astype(str) == "all"]
    for index, (name, rows) in enumerate(overall.groupby("model", sort=False)):
        axes.plot(rows["level"], 100 * rows["coverage"], marker="o", color=f"C{index}",
                  label=f"{name} ({rows['method'].iloc[0]})")
    low = min(overall["level"].min(), 100 * overall["coverage"].min()) - 5
    axes.plot([low, 100], [low, 100], color="black", linestyle="--", linewidth=0.8, label="nominal")
    axes.set(xlabel="nominal coverage (%)", ylabel="observed coverage on the test span (%)",
             title="Calibration: observed against nominal coverage")
    axes.legend(fontsize=7)
    return figure


def coverage_by_step_figure(intervals: pd.DataFrame) -> Figure:
    """Observed coverage at each horizon step, one line per model and level, the nominal levels dashed."""
    figure = Figure(figsize=(8, 4))
    axes = figure.subplots()
    steps = intervals[intervals["step"].astype(str) != "all"]
    for index, (name, rows) in enumerate(steps.groupby("model", sort=False)):
        for style, (level, by_level) in zip(("-", "--", ":", "-."), rows.groupby("level")):
            axes.plot(by_level["step"].astype(int), 100 * by_level["coverage"], color=f"C{index}", linestyle=style,
                      label=f"{name} {level:g} %")
    for level in sorted(steps["level"].unique()):
        axes.axhline(level, color="black", linewidth=0.6, linestyle="--")
    axes.set(xlabel="horizon step", ylabel="observed coverage (%)", title="Coverage by horizon step (nominal levels dashed)")
    axes.legend(fontsize=7, ncol=2, loc="center left", bbox_to_anchor=(1.01, 0.5))  # beside the lines, not over them
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
    axes.set_ylabel("loss of scaled targets (MSE; the output head's, e.g. pinball)")
    axes.set_title("Training curves")
    if len(history):
        axes.legend(fontsize=7, ncol=2)
    return figure


def _per_device_figure(frame: pd.DataFrame, column: str, label: str, *, log_y: bool) -> Figure:
    """``column`` against context length, one line per model, one panel per device."""
    devices = list(dict.fromkeys(frame["device"])) or ["no rows"]
    figure = Figure(figsize=(6 * len(devices), 4.2), layout="constrained")
    for axes, device in zip(figure.subplots(1, len(devices), squeeze=False)[0], devices):
        rows = frame[frame["device"] == device].dropna(subset=[column])
        for model, points in rows.groupby("model", sort=False):
            style = {"color": "black", "linestyle": "--"} if model == "reference" else {}
            axes.plot(points["context"], points[column], marker="o", label=model, **style)
        axes.set_xscale("log", base=2)
        axes.set_xticks(sorted(frame["context"].unique()), [str(c) for c in sorted(frame["context"].unique())])
        if log_y:
            axes.set_yscale("log")
        # Batch size and precision change these numbers several-fold: say which ones were measured.
        settings = "".join(f", {key.replace('_', ' ')} {'/'.join(map(str, rows[key].unique()))}" for key in ("batch_size", "precision"))
        axes.set(xlabel="context length T (frames)", ylabel=label, title=f"{label} ({device}{settings})")
        if len(rows):
            axes.legend(fontsize=8)
    return figure


def bench_throughput_figure(frame: pd.DataFrame) -> Figure:
    """Training samples/s vs context: attention processes the frames in parallel, the RNN one after another."""
    return _per_device_figure(frame, "train_samples_per_s", "training samples/s", log_y=True)


def bench_memory_figure(frame: pd.DataFrame) -> Figure:
    """Peak memory (MiB) vs context length."""
    return _per_device_figure(frame, "peak_memory_mib", "peak memory (MiB)", log_y=False)


def bench_latency_figure(frame: pd.DataFrame) -> Figure:
    """Inference microseconds per window vs context length."""
    return _per_device_figure(frame, "infer_us_per_window", "inference µs per window", log_y=True)


def backtest_rel_mae_figure(fold_metrics: pd.DataFrame) -> Figure:
    """Every (fold, seed) rel_mae of each model as a point, the model's mean as a bar, the naive line at 1."""
    figure = Figure(figsize=(8, 4))
    axes = figure.subplots()
    models = list(dict.fromkeys(fold_metrics["model"]))
    for index, name in enumerate(models):
        values = fold_metrics.loc[fold_metrics["model"] == name, "rel_mae"].dropna()
        jitter = (pd.Series(range(len(values))) % 7 - 3) * 0.04  # spread the points, deterministically
        axes.scatter(index + jitter, values, s=14, alpha=0.7, color=NAIVE_COLOUR if name == "naive" else "tab:blue")
        axes.hlines(values.mean(), index - 0.3, index + 0.3, color="black")
    axes.axhline(1.0, color="tab:red", linestyle="--", label="naive (random walk) = 1")
    axes.set_xticks(range(len(models)), models, rotation=20)
    axes.set_ylabel("rel_mae per fold and seed (below 1 beats the random walk)")
    axes.set_title("Walk-forward backtest: test rel_mae of every fold and seed (line: mean)")
    axes.legend(fontsize=8)
    return figure


def cumulative_error_figure(losses: pd.DataFrame) -> Figure:
    """Cumulative squared-error difference of each model against the naive forecast over the test dates.

    A falling line is a model gaining on the random walk there; a rising one, losing to it.
    """
    figure = Figure(figsize=(10, 4.5))
    axes = figure.subplots()
    models = [column for column in losses.columns if column not in ("fold", "naive")]
    for name in models:
        axes.plot(losses.index, (losses[name] - losses["naive"]).cumsum(), linewidth=1.0, label=name)
    axes.axhline(0.0, color=NAIVE_COLOUR, linestyle=":")
    axes.set_ylabel("cumulative (squared error - naive squared error)")
    axes.set_title("Where each model wins (line falls) or loses (line rises) against the random walk")
    axes.legend(fontsize=8, ncol=3)
    figure.autofmt_xdate()
    return figure


def rel_mae_by_step_figure(step_metrics: pd.DataFrame) -> Figure:
    """rel_mae at each horizon step, one line per model, the naive level marked."""
    figure = Figure(figsize=(7, 4))
    axes = figure.subplots()
    for name, rows in step_metrics.groupby("model", sort=False):
        axes.plot(rows["step"], rows["rel_mae"], marker="o" if len(rows) <= 24 else None, label=name)
    axes.axhline(1.0, color="tab:red", linestyle="--")
    axes.set(xlabel="horizon step", ylabel="rel_mae", title="rel_mae by horizon step (below 1 beats the random walk)")
    axes.legend(fontsize=8)
    return figure


def compare_figure(table: pd.DataFrame) -> Figure:
    """Grouped bars: one group per model, one bar per results folder (rel_mae), the naive line at 1."""
    figure = Figure(figsize=(9, 4))
    axes = figure.subplots()
    runs = list(table.columns)
    width = 0.8 / max(len(runs), 1)
    for index, run in enumerate(runs):
        axes.bar([i + index * width for i in range(len(table))], table[run], width=width, label=run)
    axes.axhline(1.0, color="tab:red", linestyle="--", label="naive = 1")
    axes.set_xticks([i + 0.4 - width / 2 for i in range(len(table))], list(table.index), rotation=20)
    axes.set_ylabel("rel_mae")
    axes.set_title("rel_mae by model and results folder")
    axes.legend(fontsize=8)
    return figure


def attention_figure(maps: list, frame_dates: pd.DatetimeIndex, *, title: str, spans: list | None = None) -> Figure:
    """One window's attention weights: per layer, the heads' mean as a P x P map, and each head's last row.

    ``maps`` holds one (N, P, P) array per layer (query rows, key columns) over P tokens. A token is a
    frame unless ``spans`` gives the frames [start, end) of the window that each token covers (patches):
    then the axes name each token's first and last date, or the channel when every token covers the whole
    window (a transformer with ``channels: variates``). The last row is where the newest token, the one
    the forecast is read from, looks.
    """
    layers = len(maps)
    figure = Figure(figsize=(11, 3.6 * layers), layout="constrained")
    grid = figure.subplots(layers, 2, squeeze=False)
    labels = _token_labels(frame_dates, spans)
    unit = "frame" if spans is None else "token"
    ticks = list(range(0, len(labels), max(1, len(labels) // 6)))
    for layer, weights in enumerate(maps):
        mean_axes, row_axes = grid[layer]
        image = mean_axes.imshow(weights.mean(axis=0), cmap="viridis", aspect="auto")
        figure.colorbar(image, ax=mean_axes, fraction=0.046)
        mean_axes.set(title=f"layer {layer + 1}: weights averaged over heads", xlabel=f"key {unit}", ylabel=f"query {unit}")
        mean_axes.set_xticks(ticks, [labels[i] for i in ticks], rotation=30, fontsize=7)
        mean_axes.set_yticks(ticks, [labels[i] for i in ticks], fontsize=7)
        for head, head_weights in enumerate(weights):
            row_axes.plot(head_weights[-1], label=f"head {head + 1}", linewidth=1.0)
        row_axes.set(title=f"layer {layer + 1}: where the newest {unit} looks, per head", xlabel=f"key {unit}", ylabel="weight")
        row_axes.set_xticks(ticks, [labels[i] for i in ticks], rotation=30, fontsize=7)
        row_axes.legend(fontsize=7)
    figure.suptitle(title)
    return figure


def _token_labels(frame_dates: pd.DatetimeIndex, spans: list | None) -> list[str]:
    """One tick label per token: its date, or its first and last date for a patch (with hours if intraday); a frame of
    padding (NaT: before a short series' first value) is labelled ``pad``."""
    real = frame_dates.dropna()
    layout = "%Y-%m-%d" if (real == real.normalize()).all() else "%Y-%m-%d %H:%M"
    frame_dates = [f"{date:{layout}}" if date is not pd.NaT else "pad" for date in frame_dates]
    if spans is None:
        return frame_dates
    if len(spans) > 1 and len(set(spans)) == 1:  # every token is the whole window: tokens are channels (variates)
        return [f"channel {index}" for index in range(len(spans))]
    return [f"{frame_dates[start]} to {frame_dates[end - 1]}" for start, end in spans]


def embedding_figure(points, next_change, volatility, *, title: str,
                     labels: tuple[str, str] = ("next change", "rolling volatility")) -> Figure:
    """Two views of the same 2-D projection of the embeddings: coloured by the next change and by volatility
    (``labels`` name the two colourings: a panel's series are coloured by their mean change and volatility)."""
    figure = Figure(figsize=(12, 5), layout="constrained")
    for axes, colour, label, cmap in zip(figure.subplots(1, 2), (next_change, volatility), labels, ("coolwarm", "viridis")):
        limit = float(pd.Series(colour).abs().quantile(0.98)) if cmap == "coolwarm" else None
        image = axes.scatter(points[:, 0], points[:, 1], c=colour, s=4 if len(points) > 100 else 30, cmap=cmap,
                             vmin=-limit if limit else None, vmax=limit)
        figure.colorbar(image, ax=axes, label=label)
        axes.set(xlabel="principal component 1", ylabel="principal component 2", title=f"coloured by {label}")
    figure.suptitle(title)
    return figure


def reconstruction_figure(truth, predicted, hidden, *, labels: list[str], title: str) -> Figure:
    """One panel per window: the truth (n, L), the hidden frames (n, L) bool shaded, the model's values on them.

    ``predicted`` (n, L) is NaN where the model says nothing (the visible frames of a masked window, a
    forecast's inputs); the values are in the units the model was trained in (normalised per window).
    """
    figure = Figure(figsize=(10, 1.9 * len(truth)))
    panels = figure.subplots(len(truth), 1, squeeze=False)[:, 0]
    for axes, row, guess, mask, label in zip(panels, truth, predicted, hidden, labels):
        steps = range(len(row))
        axes.fill_between(steps, min(row.min(), guess[mask].min(initial=row.min())), max(row.max(), guess[mask].max(initial=row.max())),
                          where=mask, color="0.85", step="mid", linewidth=0, label="hidden (to predict)")
        axes.plot(steps, row, color="black", linewidth=1.2, label="truth")
        axes.plot(steps, guess, color="tab:red", linewidth=1.2, marker=".", markersize=3, label="model")
        axes.set_ylabel(label, fontsize=7)
    panels[0].legend(fontsize=7, ncol=3, loc="upper left")
    panels[0].set_title(title)
    panels[-1].set_xlabel("frame of the window")
    return figure


def learning_curve_figure(summary: pd.DataFrame, *, title: str) -> Figure:
    """Test rel_mae (mean, with +-1 sd over seeds shaded) against training windows, one line per row of a transfer study."""
    figure = Figure(figsize=(7.5, 4.5))
    axes = figure.subplots()
    for index, (name, rows) in enumerate(summary.groupby("row", sort=False)):
        rows = rows.sort_values("windows")
        style = {"color": NAIVE_COLOUR, "linestyle": ":"} if name == "naive" else {"color": f"C{index}", "marker": "o"}
        axes.plot(rows["windows"], rows["rel_mae_mean"], label=name, **style)
        spread = rows["rel_mae_sd"].fillna(0)
        axes.fill_between(rows["windows"], rows["rel_mae_mean"] - spread, rows["rel_mae_mean"] + spread,
                          color=style["color"], alpha=0.15, linewidth=0)
    axes.set_xscale("log")
    axes.set(xlabel="training windows of the target series (the newest N)", ylabel="test rel_mae (MAE / naive MAE)",
             title=title)
    axes.legend(fontsize=8)
    return figure
