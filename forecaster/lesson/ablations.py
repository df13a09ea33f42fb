"""Questions 5, 7 and 9: one switch of the attention layer at a time, same width, same data, same seeds.

5 adds the position or concatenates it, 7 uses separate or shared Q, K, V projections, 9 lets a frame
attend to itself or masks the diagonal. Each variant is trained on the three lesson series and scored
by test rel_mae (the naive forecast is 1); 7 and 9 also measure how much attention each frame puts on
itself.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import torch
from tqdm.auto import tqdm

from forecaster.lesson.figures import bar_figure
from forecaster.lesson.order import models_text
from forecaster.lesson.runs import describe_series, fit, prepared, unwrap
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
from forecaster.models import count_parameters

ABLATION_SERIES = ("sp500", "sunspots", "seasonal")
PROBE_WINDOWS = 512  # test windows whose attention maps are averaged


@torch.no_grad()
def self_weight(model: torch.nn.Module, series: str, settings: LessonSettings) -> float:
    """Mean attention weight of a frame on itself (the diagonal), over layers, heads, frames and test windows."""
    inputs = prepared(series, settings).windows["test"].inputs[-PROBE_WINDOWS:]  # (B, T, C)
    model.eval()
    _, maps = model.encoder.forward_with_attention(inputs)  # layers x (B, N, T, T)
    return float(torch.stack([torch.diagonal(weights, dim1=-2, dim2=-1).mean() for weights in maps]).mean())


def _train_variants(settings: LessonSettings, seeds: tuple[int, ...], variants: dict[str, tuple], *, name: str,
                    progress: bool, measure_self: bool = False) -> pd.DataFrame:
    """One row per (series, variant, seed): test rel_mae, parameters and, if asked, the mean self-attention weight."""
    rows = []
    bar = tqdm(total=len(ABLATION_SERIES) * len(variants) * len(seeds), desc=name, disable=not progress, leave=False)
    for series in ABLATION_SERIES:
        for variant, switches in variants.items():
            for seed in seeds:
                run = fit(series, "transformer", seed, settings, switches=switches)
                row: dict[str, Any] = {"series": series, "variant": variant, "seed": seed,
                                       "rel_mae": run.metrics["rel_mae"], "parameters": count_parameters(unwrap(run))}
                if measure_self:
                    row["self_weight"] = self_weight(unwrap(run), series, settings)
                rows.append(row)
                bar.update()
    bar.close()
    return pd.DataFrame(rows)


def _comparisons(records: pd.DataFrame, base: str, other: str) -> list[str]:
    """'sp500 +0.002 (within ...)' for each series: ``other``'s rel_mae against ``base``'s."""
    parts = []
    for series in ABLATION_SERIES:
        result = compare(values(records, "rel_mae", series=series, variant=base),
                         values(records, "rel_mae", series=series, variant=other))
        parts.append(f"on {series} {result.words(lower='better (lower rel_mae)', higher='worse (higher rel_mae)')}")
    return parts


def _rel_mae_section(number_: int, name: str, records: pd.DataFrame, variants: dict[str, tuple], what: str,
                     sentences: list[str], answer: str, settings: LessonSettings, seeds: tuple[int, ...],
                     extra_tables: dict[str, pd.DataFrame] | None = None) -> Section:
    figure = bar_figure(summarise(records, ["series", "variant"], "rel_mae"), category="variant", panels="series",
                        reference=1.0, reference_label="naive", title=f"Test rel_mae by variant ({name})", ylabel="rel_mae")
    parameters = records.groupby("variant", sort=False)["parameters"].first().rename("parameters").reset_index()
    tables = {"test rel_mae (naive = 1; mean ± sd over seeds)": display(records, "variant", "series", "rel_mae", 4),
              **(extra_tables or {}), "trainable parameters": parameters}
    return Section(
        number=number_, name=name,
        what_was_run=(f"The transformer with {what}, trained on {describe_series(ABLATION_SERIES, settings)}; "
                      f"{models_text(settings)}; {seeds_text(seeds)}. Everything else is the same in every variant."),
        tables=tables, figures={f"{name}.png": figure}, interpretation=sentences, answer=answer,
        records={name: records},
    )


def positional_concat(settings: LessonSettings, *, seeds: tuple[int, ...], progress: bool = False) -> Section:
    """Position added to the frame embedding, or concatenated beside it (d_model // 4 columns), at the same width."""
    variants = {
        "add, learned": (),
        "concat, learned": (("positional_combine", "concat"),),
        "add, sinusoidal": (("positional", "sinusoidal"),),
        "concat, sinusoidal": (("positional", "sinusoidal"), ("positional_combine", "concat")),
        "rotary (in the scores)": (("positional", "rotary"),),  # nothing added to the frame, nothing to concatenate
    }
    records = _train_variants(settings, seeds, variants, name="positional_concat", progress=progress)
    sentences = [f"Concatenating a {kind} position instead of adding it: " + "; ".join(
        _comparisons(records, f"add, {kind}", f"concat, {kind}")) + "." for kind in ("learned", "sinusoidal")]
    sentences.append("Rotating queries and keys by their positions (rotary) instead of adding a learned position: " + "; ".join(
        _comparisons(records, "add, learned", "rotary (in the scores)")) + ". Rotary leaves the frame all "
        f"{settings.d_model} columns and puts the position in the attention scores alone, as an offset.")
    width = max(1, settings.d_model // 4)
    sentences.append(f"At the same width ({settings.d_model}), concatenation leaves the frame {settings.d_model - width} "
                     f"columns instead of {settings.d_model} and gives the position {width} of its own; adding shares all "
                     f"{settings.d_model} between both.")
    means = records.groupby("variant", sort=False)["rel_mae"].mean()
    answer = "mean rel_mae over the three series: " + ", ".join(f"{v} {number(m, 4)}" for v, m in means.items())
    return _rel_mae_section(5, "positional_concat", records, variants,
                            "the position added to or concatenated with the frame embedding (learned or sinusoidal), or rotary "
                            "(queries and keys rotated by their position)",
                            sentences, answer, settings, seeds)


def shared_qkv(settings: LessonSettings, *, seeds: tuple[int, ...], progress: bool = False) -> Section:
    """Separate W_Q, W_K, W_V against one shared projection W."""
    variants = {"separate Q, K, V": (), "shared W": (("shared_qkv", True),)}
    records = _train_variants(settings, seeds, variants, name="shared_qkv", progress=progress, measure_self=True)
    uniform = 1 / settings.context
    sentences = ["Sharing one projection for Q, K and V: " + "; ".join(
        _comparisons(records, "separate Q, K, V", "shared W")) + "."]
    for series in ABLATION_SERIES:
        own = {v: values(records, "self_weight", series=series, variant=v) for v in variants}
        sentences.append(f"On {series} a frame's attention on itself is {spread(own['shared W'])} with shared projections "
                         f"and {spread(own['separate Q, K, V'])} with separate ones (uniform attention: {number(uniform)}).")
    shared_self = float(records.loc[records.variant == "shared W", "self_weight"].mean())
    separate_self = float(records.loc[records.variant == "separate Q, K, V", "self_weight"].mean())
    answer = (f"self-attention weight {number(shared_self)} shared vs {number(separate_self)} separate (uniform "
              f"{number(uniform)}); rel_mae " + ", ".join(
                  f"{v} {number(m, 4)}" for v, m in records.groupby('variant', sort=False)['rel_mae'].mean().items()))
    extra = {"mean attention weight of a frame on itself (uniform = 1/T)": display(records, "variant", "series", "self_weight")}
    return _rel_mae_section(7, "shared_qkv", records, variants, "separate or shared Q, K, V projections",
                            sentences, answer, settings, seeds, extra)


def diagonal(settings: LessonSettings, *, seeds: tuple[int, ...], progress: bool = False) -> Section:
    """Frames that may attend to themselves against frames whose own key is masked."""
    variants = {"attends to itself": (), "diagonal masked": (("mask_diagonal", True),)}
    records = _train_variants(settings, seeds, variants, name="diagonal", progress=progress, measure_self=True)
    sentences = ["Masking the diagonal (no frame attends to itself): " + "; ".join(
        _comparisons(records, "attends to itself", "diagonal masked")) + "."]
    own = records[records.variant == "attends to itself"]
    sentences.append("Left free, the trained models put " + ", ".join(
        f"{spread(values(own, 'self_weight', series=series))} on {series}" for series in ABLATION_SERIES)
        + f" of each frame's attention on itself (uniform: {number(1 / settings.context)}); the residual path "
        "still carries every frame's own value past the attention in both variants.")
    differences = [compare(values(records, "rel_mae", series=s, variant="attends to itself"),
                           values(records, "rel_mae", series=s, variant="diagonal masked")) for s in ABLATION_SERIES]
    answer = "masked minus free rel_mae: " + ", ".join(
        f"{s} {'+' if d.difference >= 0 else ''}{number(d.difference)}{' (clear)' if d.clear else ''}"
        for s, d in zip(ABLATION_SERIES, differences))
    extra = {"mean attention weight of a frame on itself": display(records, "variant", "series", "self_weight")}
    return _rel_mae_section(9, "diagonal", records, variants, "the diagonal of the attention masked or not",
                            sentences, answer, settings, seeds, extra)
