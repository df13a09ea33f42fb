"""Question 11: attention against a recurrent network, in wall time per epoch and in recalling a value k steps back.

Speed: ``forecaster bench``'s timed training steps for the GRU and the transformer at growing window
lengths, on the CPU and on a GPU when one is present (the transformer computes every position at once,
the GRU steps through them; which wins depends on the device, the sizes and the window). Memory: the
long-lag recall task (``tasks.long_lag_recall``), where the target is the value ``lag`` steps before
the newest frame.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from forecaster.bench.measure import BenchConfig, run_bench
from forecaster.lesson.figures import line_figure
from forecaster.lesson.mlp import task_model
from forecaster.lesson.runs import sample_mse, train_on_samples
from forecaster.lesson.section import (
    Section,
    display,
    number,
    seeds_text,
    spread,
    summarise,
    values,
)
from forecaster.lesson.settings import LessonSettings
from forecaster.lesson.tasks import long_lag_recall
from forecaster.training.loop import TrainConfig, seed_everything

EPOCH_WINDOWS = 10_000  # time per epoch is reported for an epoch of this many windows
RECALL_MODELS = ("rnn", "transformer (learned)")
NAMES = {"rnn": "GRU", "transformer": "transformer"}


def speed(settings: LessonSettings, seeds: tuple[int, ...], progress: bool) -> pd.DataFrame:
    """Seconds per epoch of EPOCH_WINDOWS windows for the GRU and the transformer, per device, context and seed."""
    frames = []
    for seed in tqdm(seeds, desc="rnn_speed timing", disable=not progress, leave=False):
        config = BenchConfig(
            contexts=settings.speed_contexts, kinds=("rnn", "transformer"), reference=False,
            batch_size=settings.batch_size, d_model=settings.d_model, n_heads=settings.n_heads,
            n_layers=settings.n_layers, d_ff=settings.d_ff, hidden_size=settings.rnn_hidden,
            train_steps=settings.speed_steps, warmup_steps=1, series_length=8 * max(settings.speed_contexts), seed=seed)
        frames.append(run_bench(config).assign(seed=seed))  # cpu, and cuda when available
    timings = pd.concat(frames, ignore_index=True)
    timings["model"] = timings["model"].map(NAMES)
    timings["seconds_per_epoch"] = EPOCH_WINDOWS / timings["train_samples_per_s"]
    return timings[["device", "precision", "context", "model", "seed", "parameters", "seconds_per_epoch"]]


def recall(settings: LessonSettings, seeds: tuple[int, ...], progress: bool) -> pd.DataFrame:
    """Test MSE of recalling the value ``lag`` steps back, per model, lag and seed (1 = predicting the mean)."""
    context = settings.task_context
    rows = []
    runs = [(lag, seed) for lag in settings.recall_lags for seed in seeds]
    for lag, seed in tqdm(runs, desc="rnn_speed recall", disable=not progress, leave=False):
        train = long_lag_recall(settings.recall_samples, context=context, lag=lag, seed=1000 * seed + 1)
        val = long_lag_recall(max(256, settings.recall_samples // 4), context=context, lag=lag, seed=1000 * seed + 2)
        test = long_lag_recall(settings.task_test, context=context, lag=lag, seed=7)
        config = TrainConfig(epochs=settings.recall_epochs, batch_size=settings.batch_size, patience=5, seed=seed,
                             device="cpu")
        for name in RECALL_MODELS:
            seed_everything(seed)
            model = task_model(name, settings, context)
            train_on_samples(model, train, val, config)
            rows.append({"model": name, "lag": lag, "seed": seed, "mse": sample_mse(model, test)})
        rows.append({"model": "naive (last value)", "lag": lag, "seed": seed,
                     "mse": float(((test.inputs[:, -1:] - test.targets) ** 2).mean())})  # the newest frame
    return pd.DataFrame(rows)


def rnn_speed(settings: LessonSettings, *, seeds: tuple[int, ...], progress: bool = False) -> Section:
    """Wall time per epoch against window length (CPU, and GPU if present), and long-lag recall against the lag."""
    timings = speed(settings, seeds, progress)
    memory = recall(settings, seeds, progress)
    timings["panel"] = timings["device"] + ", " + timings["precision"]
    figures = {
        "rnn_speed.png": line_figure(
            summarise(timings, ["panel", "model", "context"], "seconds_per_epoch"), x="context", line="model",
            panels="panel", log_x=True, log_y=True, xlabel="window length T (frames)",
            ylabel=f"seconds per epoch of {EPOCH_WINDOWS} windows",
            title=f"Training time per epoch (batch {settings.batch_size}; band: sd over {len(seeds)} seed(s))"),
        "rnn_recall.png": line_figure(
            summarise(memory, ["model", "lag"], "mse"), x="lag", line="model", log_y=True, reference=1.0,
            reference_label="predicting the mean", xlabel="lag k (frames before the newest)", ylabel="test MSE",
            title=f"Recalling the value k steps back in a window of {settings.task_context}"),
    }
    sentences = [_speed_sentence(timings, panel) for panel in dict.fromkeys(timings["panel"])]
    if not torch.cuda.is_available():
        sentences.append("No GPU was present on this machine, so the GPU side was not measured here.")
    low, high = min(settings.recall_lags), max(settings.recall_lags)
    sentences.append("Recall, test MSE from lag " + f"{low} to lag {high}: " + "; ".join(
        f"{name} {spread(values(memory, 'mse', model=name, lag=low))} -> {spread(values(memory, 'mse', model=name, lag=high))}"
        for name in (*RECALL_MODELS, "naive (last value)")) + " (1 = predicting the mean).")
    cpu = timings[timings.device == "cpu"]
    ratio = _ratios(cpu)
    answer = (f"CPU: transformer/GRU time per epoch {number(ratio.iloc[0])} at T={ratio.index[0]} and "
              f"{number(ratio.iloc[-1])} at T={ratio.index[-1]}; recall at lag {high}: GRU "
              f"{number(float(np.mean(values(memory, 'mse', model='rnn', lag=high))))}, transformer "
              f"{number(float(np.mean(values(memory, 'mse', model='transformer (learned)', lag=high))))} (test MSE)")
    return Section(
        number=11, name="rnn_speed",
        what_was_run=(f"Timing: `forecaster bench`'s training step for the GRU (hidden {settings.rnn_hidden}) and the "
                      f"transformer (d_model {settings.d_model}, {settings.n_heads} heads, {settings.n_layers} layers, d_ff "
                      f"{settings.d_ff}, learned positions), batch {settings.batch_size}, {settings.speed_steps} timed steps "
                      f"after 1 warm-up, windows of {', '.join(map(str, settings.speed_contexts))} frames, on the CPU"
                      f"{' and the GPU' if torch.cuda.is_available() else ''} ({torch.get_num_threads()} torch CPU thread(s)); "
                      f"time per epoch = {EPOCH_WINDOWS} windows / measured samples per second. Recall: white-noise "
                      f"windows of {settings.task_context} frames, target = the value k = "
                      f"{', '.join(map(str, settings.recall_lags))} steps before the newest frame; {settings.recall_samples} "
                      f"training samples, at most {settings.recall_epochs} epochs (AdamW lr 1e-3, early stopping), test set "
                      f"of {settings.task_test}; the GRU and the transformer (d_model "
                      f"{settings.task_d_model}, learned positions, no dropout); {seeds_text(seeds)}."),
        tables={f"seconds per epoch of {EPOCH_WINDOWS} windows": display(timings, ["device", "context"], "model",
                                                                        "seconds_per_epoch"),
                "recall: test MSE by lag (1 = predicting the mean)": display(memory, "model", "lag", "mse")},
        figures=figures, interpretation=sentences, answer=answer,
        records={"rnn_speed": timings.drop(columns="panel"), "rnn_recall": memory},
    )


def _ratios(timings: pd.DataFrame) -> pd.Series:
    """Mean over seeds of transformer time / GRU time, by context."""
    wide = timings.pivot_table(index=["context", "seed"], columns="model", values="seconds_per_epoch")
    return (wide["transformer"] / wide["GRU"]).groupby("context").mean()


def _speed_sentence(timings: pd.DataFrame, panel: str) -> str:
    rows = timings[timings.panel == panel]
    ratio = _ratios(rows)
    faster = [str(context) for context, value in ratio.items() if value < 1]
    slower = [str(context) for context, value in ratio.items() if value >= 1]
    means = rows.groupby(["model", "context"])["seconds_per_epoch"].mean()
    first, last = ratio.index[0], ratio.index[-1]
    if not faster or not slower:
        where = f"the transformer is {'slower' if not faster else 'faster'} at every window length measured"
    else:
        where = f"the transformer is faster at T = {', '.join(faster)} and slower at T = {', '.join(slower)}"
    return (f"On {panel}, an epoch of {EPOCH_WINDOWS} windows takes the GRU {number(means['GRU', first])} s at T={first} "
            f"and {number(means['GRU', last])} s at T={last}, the transformer {number(means['transformer', first])} s and "
            f"{number(means['transformer', last])} s; {where} (time ratio transformer/GRU "
            f"{number(ratio.iloc[0])} at T={first}, {number(ratio.iloc[-1])} at T={last}).")
