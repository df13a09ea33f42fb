"""Questions 1 and 4: how much each model uses the order of its frames, by reordering them (Zeng et al. 2023).

1 measures how far each trained model's forecasts move when the test frames are shuffled; 4 measures
what that does to accuracy, for shuffled and half-swapped frames, at test time only and at training and
test time, on a near random walk (S&P 500), a cyclic series (sunspots) and a synthetic seasonal one.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from forecaster.lesson.figures import bar_figure
from forecaster.lesson.runs import (
    SERIES,
    ReorderedInput,
    describe_series,
    fit,
    forecasts_on_test,
    prepared,
    score_reordered,
    train_config,
    unwrap,
)
from forecaster.lesson.section import (
    MIN_SEEDS,
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

ORDER_SERIES = ("sp500", "sunspots", "seasonal")
# Display name -> (kind, transformer switches).
MODELS = {
    "naive": ("naive", ()),
    "linear": ("linear", ()),
    "mlp": ("mlp", ()),
    "rnn": ("rnn", ()),
    "transformer": ("transformer", ()),
    "transformer (sinusoidal)": ("transformer", (("positional", "sinusoidal"),)),
    "transformer (rotary)": ("transformer", (("positional", "rotary"),)),
    "transformer (no position)": ("transformer", (("positional", "none"),)),
}
SENSITIVITY_MODELS = ("naive", "linear", "mlp", "rnn", "transformer")
# Condition -> (order the model was trained with, order of the test frames).
CONDITIONS = {
    "kept": ("kept", "kept"),
    "test shuffled": ("kept", "shuffled"),
    "test half-swapped": ("kept", "half_swapped"),
    "trained+tested shuffled": ("shuffled", "shuffled"),
    "trained+tested half-swapped": ("half_swapped", "half_swapped"),
}


def models_text(settings: LessonSettings) -> str:
    """The lesson's model sizes and training rule, for 'what was run'."""
    training = train_config(settings, 0)
    return (f"transformer d_model {settings.d_model}, {settings.n_heads} heads, {settings.n_layers} "
            f"layer{'s' if settings.n_layers != 1 else ''}, d_ff "
            f"{settings.d_ff}, dropout {settings.dropout}, last-frame readout; GRU hidden {settings.rnn_hidden}; MLP "
            f"hidden {list(settings.mlp_hidden)}; windows of {settings.context} frames, 1 step ahead, split 70/15/15 "
            f"with the scaler fit on the training span; AdamW lr {training.learning_rate}, batch {training.batch_size}, "
            f"at most {training.epochs} epochs, early stopping after {training.patience} without a better validation loss")


def order_sensitivity(settings: LessonSettings, *, seeds: tuple[int, ...], progress: bool = False) -> Section:
    """How far each trained model's test forecasts move when each window's frames are shuffled."""
    rows = []
    bar = tqdm(total=len(ORDER_SERIES) * len(SENSITIVITY_MODELS) * len(seeds), desc="order_sensitivity",
               disable=not progress, leave=False)
    for series in ORDER_SERIES:
        target_sd = float(prepared(series, settings).windows["test"].targets.std())
        for name in SENSITIVITY_MODELS:
            kind, switches = MODELS[name]
            for seed in seeds:
                model = unwrap(fit(series, kind, seed, settings, switches=switches))
                kept = forecasts_on_test(series, model, settings)  # (N, H, K), scaled
                shuffled = forecasts_on_test(series, ReorderedInput(model, order="shuffled", seed=seed), settings)
                change = float(np.sqrt(np.mean((shuffled - kept) ** 2)))
                own = float(kept.std())
                rows.append({"series": series, "model": name, "seed": seed, "change": change / target_sd,
                             "change_vs_own_spread": change / own if own > 1e-12 else math.nan})
                bar.update()
    bar.close()
    records = pd.DataFrame(rows)
    figure = bar_figure(summarise(records, ["series", "model"], "change"), category="model", panels="series",
                        title="How far forecasts move when the test frames are shuffled (RMS change / sd of the target)",
                        ylabel="RMS forecast change / target sd")
    sentences = []
    for series in ORDER_SERIES:
        parts = [f"{name} {spread(values(records, 'change', series=series, model=name))}" for name in SENSITIVITY_MODELS]
        trained = [name for name in SENSITIVITY_MODELS if name != "naive"]
        means = {name: float(np.mean(values(records, "change", series=series, model=name))) for name in trained}
        most, least = max(means, key=means.get), min(means, key=means.get)
        sentences.append(f"On {SERIES[series][1]}, shuffling the frames moved the forecasts by (in target sds) "
                         f"{'; '.join(parts)}: among trained models {most} moved most and {least} least.")
    means = records.groupby(["series", "model"], sort=False)["change"].mean()
    unmoved = [f"{model} on {series}" for (series, model), value in means.items() if value < 1e-6]
    sentences.append(f"Forecasts that did not move at all (a model that ignores order, or reads no frame): "
                     f"{', '.join(unmoved) if unmoved else 'none'}.")
    worst = records.groupby(["series", "model"])["change"].mean().drop("naive", level="model", errors="ignore")
    (series_max, model_max), (series_min, model_min) = worst.idxmax(), worst.idxmin()
    answer = (f"shuffling the frames moves trained models' forecasts by {number(worst.min())} to "
              f"{number(worst.max())} target sds (most: {model_max} on {series_max}; least: {model_min} on {series_min})")
    return Section(
        number=1, name="order_sensitivity",
        what_was_run=(f"Each model trained once per seed on each series ({describe_series(ORDER_SERIES, settings)}); "
                      f"{models_text(settings)}; {seeds_text(seeds)}. On the test windows, the forecasts with the "
                      "frames in order are compared with the forecasts for the same windows with their frames shuffled "
                      "(a new random order per window): RMS change divided by the sd of the scaled test targets, and "
                      "divided by the sd of the model's own forecasts."),
        tables={"RMS forecast change when the frames are shuffled, in target sds": display(records, "model", "series", "change"),
                "the same change relative to the spread of the model's own forecasts":
                    display(records, "model", "series", "change_vs_own_spread")},
        figures={"order_sensitivity.png": figure}, interpretation=sentences, answer=answer,
        records={"order_sensitivity": records},
    )


def permutation(settings: LessonSettings, *, seeds: tuple[int, ...], progress: bool = False) -> Section:
    """Test rel_mae of every model with its frames kept, shuffled or half-swapped, at test time or throughout."""
    rows = []
    bar = tqdm(total=len(ORDER_SERIES) * len(MODELS) * len(seeds), desc="permutation", disable=not progress, leave=False)
    for series in ORDER_SERIES:
        for name, (kind, switches) in MODELS.items():
            for seed in seeds:
                for condition, (trained, tested) in CONDITIONS.items():
                    run = fit(series, kind, seed, settings, order=trained, switches=switches)
                    if tested != trained:
                        run = score_reordered(series, run, tested, seed, settings)
                    rows.append({"series": series, "model": name, "condition": condition, "seed": seed,
                                 "rel_mae": run.metrics["rel_mae"]})
                bar.update()
    bar.close()
    records = pd.DataFrame(rows)
    figure = bar_figure(summarise(records, ["series", "model", "condition"], "rel_mae"), category="model",
                        group="condition", panels="series", reference=1.0, reference_label="naive, frames in order",
                        title="Test rel_mae with the frames kept, shuffled or half-swapped (below 1 beats the random walk)",
                        ylabel="rel_mae")
    sentences = [sentence for series in ORDER_SERIES for sentence in _permutation_sentences(records, series)]
    parts = []
    for series in ORDER_SERIES:
        results = {name: compare(values(records, "rel_mae", series=series, model=name, condition="kept"),
                                 values(records, "rel_mae", series=series, model=name, condition="test shuffled"))
                   for name in MODELS if name != "naive"}
        worst = max(results, key=lambda name: results[name].relative)
        clear = sum(r.clear and r.difference > 0 for r in results.values())
        verdict = f"{clear} of {len(results)} clearly worse" if len(seeds) >= MIN_SEEDS else "too few seeds for a verdict"
        parts.append(f"{series} up to {results[worst].relative * 100:+.1f} % ({worst}; {verdict})")
    answer = "test rel_mae with shuffled frames: " + "; ".join(parts)
    return Section(
        number=4, name="permutation",
        what_was_run=(f"Every model on {describe_series(ORDER_SERIES, settings)}; {models_text(settings)}; the "
                      f"transformer with a learned, a sinusoidal, a rotary or no positional encoding; {seeds_text(seeds)}. "
                      "Conditions (Zeng et al. 2023): frames kept; shuffled (a new random order per window) or "
                      "half-swapped (newer half first) at test time only, for the models trained on ordered frames; and "
                      "trained and tested with the frames shuffled or half-swapped. rel_mae = test MAE / naive MAE on "
                      "the same points, with the naive forecast on frames in order."),
        tables={"test rel_mae by condition (mean ± sd over seeds)": display(records, ["series", "model"], "condition", "rel_mae", 4)},
        figures={"permutation.png": figure}, interpretation=sentences, answer=answer, records={"permutation": records},
    )


def _mean(records: pd.DataFrame, series: str, model: str, condition: str) -> float:
    return float(np.mean(values(records, "rel_mae", series=series, model=model, condition=condition)))


def _change(records: pd.DataFrame, series: str, model: str, condition: str) -> float:
    """Relative change of the mean rel_mae from frames kept to ``condition``."""
    return _mean(records, series, model, condition) / _mean(records, series, model, "kept") - 1


def _permutation_sentences(records: pd.DataFrame, series: str) -> list[str]:
    """Per series: who lost accuracy to reordered test frames, and who did as well without order in training."""
    trained = [name for name in MODELS if name != "naive"]

    def verdicts(condition: str) -> tuple[list[str], list[str], list[str]]:
        worse, better, same = [], [], []
        for name in trained:
            result = compare(values(records, "rel_mae", series=series, model=name, condition="kept"),
                             values(records, "rel_mae", series=series, model=name, condition=condition))
            label = f"{name} ({result.relative * 100:+.1f} %)"
            (worse if result.clear and result.difference > 0 else better if result.clear else same).append(label)
        return worse, better, same

    best = min(trained, key=lambda name: _mean(records, series, name, "kept"))
    sentences = [(f"On {series}, with the frames in order, the best model is {best} (rel_mae "
                 f"{spread(values(records, 'rel_mae', series=series, model=best, condition='kept'), 4)}; "
                 f"the naive forecast is 1).")]
    conditions = {"test shuffled": "Shuffling the test frames",
                  "trained+tested shuffled": "Training and testing on shuffled frames",
                  "test half-swapped": "Half-swapping the test frames",
                  "trained+tested half-swapped": "Training and testing on half-swapped frames (one fixed reordering)"}
    for condition, what in conditions.items():
        if len(set(records.seed)) < MIN_SEEDS:
            changes = [f"{name} {_change(records, series, name, condition) * 100:+.1f} %" for name in trained]
            sentences.append(f"{what} changed rel_mae by {', '.join(changes)} (fewer than {MIN_SEEDS} seeds: no verdict).")
            continue
        worse, better, same = verdicts(condition)
        text = f"{what} made {', '.join(worse) if worse else 'no model'} clearly worse"
        if better:
            text += f", {', '.join(better)} clearly better"
        text += f"; within the seed spread: {', '.join(same) if same else 'none'}."
        sentences.append(text)
    return sentences
