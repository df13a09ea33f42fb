"""Question 2: why an MLP fails when the same relation can sit anywhere in the window.

The delayed-response task (``tasks.delayed_response``) puts a trigger spike at a random position and
asks for the value found a fixed delay after it. The MLP gives every position its own weights, so it
must learn the relation once per position; the GRU and attention apply the same weights at every
position. Test error is measured against the number of training samples, and parameter counts
against the window length.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from forecaster.lesson.figures import line_figure
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
from forecaster.lesson.tasks import SampleSet, delayed_response
from forecaster.models import (
    MLPConfig,
    ModelDims,
    RNNConfig,
    TransformerConfig,
    build_model,
    count_parameters,
)
from forecaster.training.loop import TrainConfig, seed_everything

GOOD = 0.1  # a test MSE below this (a tenth of the target's variance) counts as "learnt"
# Display name -> (kind, transformer positional encoding).
TASK_MODELS = {
    "mlp": ("mlp", None),
    "rnn": ("rnn", None),
    "transformer (sinusoidal)": ("transformer", "sinusoidal"),
    "transformer (learned)": ("transformer", "learned"),
    "transformer (rotary)": ("transformer", "rotary"),
}
TEST_SEED = 7  # one test set for every seed and size


def task_model(name: str, settings: LessonSettings, context: int, **changes):
    """The model ``name`` for the synthetic tasks (one channel in, one value out), built with the current seed.

    ``changes``: fields of its config set otherwise (e.g. ``n_layers=4`` for a transformer), for studies of one change.
    """
    kind, positional = TASK_MODELS[name]
    width = settings.task_d_model
    config = {
        "mlp": MLPConfig(hidden=settings.mlp_hidden),
        "rnn": RNNConfig(hidden_size=settings.rnn_hidden),
        "transformer": TransformerConfig(d_model=width, n_heads=max(1, width // 8), n_layers=2, d_ff=2 * width,
                                         dropout=0.0, positional=positional or "learned"),
    }[kind]
    config = dataclasses.replace(config, **changes)
    return build_model(kind, config, ModelDims(context=context, horizon=1, channels=1, differenced=False, no_change=0.0))


def task_training(settings: LessonSettings, samples: int, seed: int) -> TrainConfig:
    """The same number of gradient steps for every sample count: small sets get more epochs."""
    epochs = max(5, math.ceil(settings.task_steps * settings.batch_size / samples))
    return TrainConfig(epochs=epochs, batch_size=settings.batch_size, patience=max(5, epochs // 4), seed=seed,
                       device="cpu")


def mlp_fails(settings: LessonSettings, *, seeds: tuple[int, ...], progress: bool = False) -> Section:
    """Test MSE against training samples on the delayed-response task, and parameters against window length."""
    context, delay = settings.task_context, settings.task_delay
    test, _ = delayed_response(settings.task_test, context=context, delay=delay, seed=TEST_SEED)
    rows = []
    bar = tqdm(total=len(seeds) * len(settings.task_sizes) * len(TASK_MODELS), desc="mlp_fails",
               disable=not progress, leave=False)
    for seed in seeds:
        pool, _ = delayed_response(max(settings.task_sizes), context=context, delay=delay, seed=1000 * seed + 1)
        val, _ = delayed_response(max(256, settings.task_test // 4), context=context, delay=delay, seed=1000 * seed + 2)
        for samples in settings.task_sizes:
            train = SampleSet(pool.inputs[:samples], pool.targets[:samples])  # nested: more data adds samples
            for name in TASK_MODELS:
                seed_everything(seed)  # the initial weights depend on the seed alone
                model = task_model(name, settings, context)
                train_on_samples(model, train, val, task_training(settings, samples, seed))
                rows.append({"model": name, "samples": samples, "seed": seed, "mse": sample_mse(model, test)})
                bar.update()
        for samples in settings.task_sizes:  # the baselines need no training: the same number at every size
            rows.append({"model": "naive (last value)", "samples": samples, "seed": seed,
                         "mse": float(((test.inputs[:, -1:] - test.targets) ** 2).mean())})  # the newest frame
            rows.append({"model": "mean (predict 0)", "samples": samples, "seed": seed,
                         "mse": float((test.targets**2).mean())})
    bar.close()
    records = pd.DataFrame(rows)
    parameters = _parameter_table(settings)
    figures = {
        "mlp_fails_samples.png": line_figure(
            summarise(records, ["model", "samples"], "mse"), x="samples", line="model", log_x=True, log_y=True,
            title=f"Delayed response (window {context}, delay {delay}): test MSE vs training samples",
            xlabel="training samples", ylabel="test MSE (1 = predicting the mean)"),
        "mlp_fails_parameters.png": line_figure(
            parameters.melt(id_vars="context", var_name="model", value_name="mean").assign(sd=0.0), x="context",
            line="model", log_x=True, log_y=True, title="Trainable parameters vs window length",
            xlabel="window length T (frames)", ylabel="parameters"),
    }
    largest = max(settings.task_sizes)
    trained = list(TASK_MODELS)
    at_largest = {name: values(records, "mse", model=name, samples=largest) for name in trained}
    sentences = [f"With {largest} training samples the test MSE is " + "; ".join(
        f"{name} {spread(at_largest[name])}" for name in trained)
        + f" (predicting the mean scores {number(float(np.mean(values(records, 'mse', model='mean (predict 0)', samples=largest))))}, "
        f"the last value {number(float(np.mean(values(records, 'mse', model='naive (last value)', samples=largest))))})."]
    learnt = {name: next((n for n in settings.task_sizes
                          if np.mean(values(records, "mse", model=name, samples=n)) < GOOD), None) for name in trained}
    sentences.append("Smallest training set with a mean test MSE below " + f"{GOOD}: " + "; ".join(
        f"{name} {n if n is not None else 'none of the sizes tried'}" for name, n in learnt.items()) + ".")
    mlp_first = float(np.mean(values(records, "mse", model="mlp", samples=min(settings.task_sizes))))
    absolute = min(at_largest["transformer (sinusoidal)"].mean(), at_largest["transformer (learned)"].mean())
    sentences.append(
        f"Rotary positions, at the same budget, take the transformer from {number(float(absolute))} (the better of the "
        f"absolute encodings) to {spread(at_largest['transformer (rotary)'])} at {largest} samples. With a position "
        "added to each frame, reading the frame 5 after the spike has to be learned as a separate query-key match "
        "for every position of the spike; rotated queries and keys give scores that depend on the offset alone, "
        "so one match serves every position. The other candidate causes (steps, learning rate, warm-up, dropout, "
        "width, depth, readout) are measured in experiments/lesson/causes.md.")
    sentences.append(f"The MLP's error goes from {number(mlp_first)} to {number(float(np.mean(at_largest['mlp'])))} "
                     f"as the samples grow {largest // min(settings.task_sizes)}-fold.")
    first, last = parameters.iloc[0], parameters.iloc[-1]
    sentences.append(f"From a window of {int(first.context)} to {int(last.context)} frames the parameters go: " + "; ".join(
        f"{name} {int(first[name])} -> {int(last[name])} (x{last[name] / first[name]:.2f})" for name in TASK_MODELS) + ".")
    answer = (f"with {largest} samples: MLP test MSE {spread(at_largest['mlp'])}, GRU {spread(at_largest['rnn'])}, "
              f"transformer (sinusoidal) {spread(at_largest['transformer (sinusoidal)'])}, (rotary) "
              f"{spread(at_largest['transformer (rotary)'])} (1 = predicting the mean); "
              f"MLP parameters x{last.mlp / first.mlp:.1f} from T={int(first.context)} to {int(last.context)}")
    return Section(
        number=2, name="mlp_fails",
        what_was_run=(f"Delayed-response task: windows of {context} frames of noise (sd 0.3), a spike of value 3 at a "
                      f"uniformly random position p, and the target value r ~ U(-sqrt 3, sqrt 3) at p + {delay}; the target "
                      f"is r. Training sets of {', '.join(map(str, settings.task_sizes))} samples (nested), a validation "
                      f"set for early stopping, one test set of {settings.task_test}. Models: MLP hidden "
                      f"{list(settings.mlp_hidden)}; GRU hidden {settings.rnn_hidden}; transformer d_model "
                      f"{settings.task_d_model}, 2 layers, no dropout, with sinusoidal, learned or rotary positions. "
                      f"{settings.task_steps} gradient steps of {settings.batch_size} per training (AdamW lr 1e-3) at "
                      f"most, early stopping on validation; {seeds_text(seeds)}."),
        tables={"test MSE by training samples (mean ± sd over seeds)": display(records, "model", "samples", "mse"),
                "trainable parameters by window length": parameters},
        figures=figures, interpretation=sentences, answer=answer, records={"mlp_fails": records},
    )


def _parameter_table(settings: LessonSettings) -> pd.DataFrame:
    rows = []
    for context in settings.parameter_contexts:
        row = {"context": context}
        for name in TASK_MODELS:
            row[name] = count_parameters(task_model(name, settings, context))
        rows.append(row)
    return pd.DataFrame(rows)
