"""Question 6: where the newest frame looks when the trained transformer forecasts.

The forecast is read from the newest frame, so its row of each attention map says which past frames
feed the forecast. Averaged over test windows, the weight by lag (0 = the newest frame itself) is
checked against what the data make useful: on the synthetic seasonal series, the frame one period
before the forecast step (lag period - 1 from the newest frame).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from forecaster.lesson.figures import line_figure
from forecaster.lesson.order import models_text
from forecaster.lesson.runs import PERIOD, describe_series, fit, prepared, unwrap
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
from forecaster.output import plots

MAP_SERIES = ("seasonal", "sunspots")
PROBE_WINDOWS = 512


@torch.no_grad()
def newest_frame_profile(model: torch.nn.Module, inputs: torch.Tensor) -> list[np.ndarray]:
    """Per layer, each head's mean weight of the newest frame by lag: (N heads, T lags), lag 0 = itself."""
    model.eval()
    _, maps = model.encoder.forward_with_attention(inputs)  # layers x (B, N, T, T)
    return [weights[:, :, -1, :].mean(dim=0).flip(-1).numpy() for weights in maps]  # key j -> lag T-1-j


def attention_maps(settings: LessonSettings, *, seeds: tuple[int, ...], progress: bool = False) -> Section:
    """Mean attention of the newest frame by lag, per layer and head, on the seasonal series and sunspots."""
    rows, figures = [], {}
    for series in MAP_SERIES:
        data = prepared(series, settings)
        inputs = data.windows["test"].inputs[-PROBE_WINDOWS:]  # (B, T, C)
        for seed in tqdm(seeds, desc=f"attention_maps {series}", disable=not progress, leave=False):
            model = unwrap(fit(series, "transformer", seed, settings))
            for layer, profile in enumerate(newest_frame_profile(model, inputs), start=1):
                for head, weights in enumerate(profile, start=1):
                    rows.extend({"series": series, "seed": seed, "layer": layer, "head": f"head {head}", "lag": lag,
                                 "weight": float(weight)} for lag, weight in enumerate(weights))
            if seed == seeds[0] and series == "sunspots":  # one real forecast's maps, on dated monthly frames
                window = data.windows["test"]
                origin = int(window.origins[-1])
                dates = data.series.dates[origin - settings.context + 1 : origin + 1]
                with torch.no_grad():
                    _, maps = model.encoder.forward_with_attention(window.inputs[-1:])
                figures[f"attention_window_{series}.png"] = plots.attention_figure(
                    [weights[0].numpy() for weights in maps], dates,
                    title=f"Attention on the newest {series} test window (seed {seed})")
    records = pd.DataFrame(rows)
    last = records[records.layer == records.layer.max()]
    figures["attention_by_lag.png"] = line_figure(
        summarise(last, ["series", "head", "lag"], "weight"), x="lag", line="head", panels="series",
        reference=1 / settings.context, reference_label="uniform 1/T",
        title="Last layer: the newest frame's attention by lag (mean over test windows; band: sd over seeds)",
        xlabel="lag (frames before the newest; 0 = itself)", ylabel="attention weight")
    peaks = (records.loc[records.groupby(["series", "seed", "layer", "head"])["weight"].idxmax()]
             .rename(columns={"lag": "peak_lag", "weight": "peak_weight"}))
    peak_table = (peaks.groupby(["series", "layer", "head"], sort=False)
                  .agg(peak_lag_by_seed=("peak_lag", lambda lags: " / ".join(map(str, lags))),
                       peak_weight=("peak_weight", lambda w: spread(w))).reset_index())
    seasonal = _near_period(records)
    uniform = len(range(PERIOD - 2, min(PERIOD, settings.context - 1) + 1)) / settings.context  # those lags' share
    sentences = [
        f"On the seasonal series (period {PERIOD}) the newest frame puts {spread(values(seasonal, 'share', layer=layer))} "
        f"of its layer-{layer} attention (mean over heads) within one step of lag {PERIOD - 1}, the frame one period "
        f"before the forecast step, against {number(uniform)} for uniform attention."
        for layer in sorted(seasonal.layer.unique())]
    for series in MAP_SERIES:
        top = peaks[(peaks.series == series) & (peaks.layer == peaks.layer.max())]
        lags = top.groupby("head", sort=False)["peak_lag"].agg(lambda peaks: "/".join(map(str, peaks)))
        sentences.append(f"On {series}, the last layer's heads peak at lags " + ", ".join(
            f"{head}: {value}" for head, value in lags.items()) + " (one value per seed).")
    last_share = values(seasonal, "share", layer=seasonal.layer.max())
    answer = (f"seasonal series: {number(float(np.mean(last_share)))} of the newest frame's last-layer attention "
              f"within one step of one period back (uniform {number(uniform)})")
    return Section(
        number=6, name="attention_maps",
        what_was_run=(f"The transformer (learned positions) trained on {describe_series(MAP_SERIES, settings)}; "
                      f"{models_text(settings)}; {seeds_text(seeds)}. The newest frame's attention weights on the "
                      f"newest {PROBE_WINDOWS} test windows, averaged over windows, per layer and head, by lag."),
        tables={"where each head of the newest frame looks most (peak lag per seed, its weight)": peak_table,
                f"seasonal series: share of attention within one step of lag {PERIOD - 1}":
                    display(seasonal, "layer", None, "share")},
        figures=figures, interpretation=sentences, answer=answer, records={"attention_maps": records},
    )


def _near_period(records: pd.DataFrame) -> pd.DataFrame:
    """Per seed and layer on the seasonal series: heads' mean weight summed over lags period-2..period."""
    rows = records[(records.series == "seasonal") & records.lag.between(PERIOD - 2, PERIOD)]
    per_head = rows.groupby(["seed", "layer", "head"])["weight"].sum().reset_index()
    return per_head.groupby(["layer", "seed"])["weight"].mean().rename("share").reset_index()
