"""Question 6: where the newest frame looks when the trained transformer forecasts.

The forecast is read from the newest frame, so its row of each attention map says which past frames
feed the forecast. Averaged over test windows, the weight by lag (0 = the newest frame itself) is
checked against what the data make useful: the frame one period before the forecast step (lag
period - 1 from the newest frame). Two synthetic series with the same 24-step period: a smooth cycle
(two harmonics), which the newest frames already extrapolate, and a cycle of 24 arbitrary values,
which only the frames a whole number of periods back can tell.
"""

from __future__ import annotations

import dataclasses

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

MAP_SERIES = ("seasonal", "profile")
MAP_POSITIONS = ("learned", "rotary")  # a table added to the frames; queries and keys rotated by their position
PROBE_WINDOWS = 512
GOAL = 3  # "looks one period back": at least three times the share uniform attention puts there


def map_settings(settings: LessonSettings) -> LessonSettings:
    """The lesson's sizes with question 6's window, depth and epochs (``map_*``: see ``LessonSettings``)."""
    return dataclasses.replace(settings, context=settings.map_context, n_layers=settings.map_layers,
                               epochs=settings.map_epochs, patience=settings.map_patience)


@torch.no_grad()
def newest_frame_profile(model: torch.nn.Module, inputs: torch.Tensor) -> list[np.ndarray]:
    """Per layer, each head's mean weight of the newest frame by lag: (N heads, T lags), lag 0 = itself."""
    model.eval()
    _, maps = model.encoder.forward_with_attention(inputs)  # layers x (B, N, T, T)
    return [weights[:, :, -1, :].mean(dim=0).flip(-1).numpy() for weights in maps]  # key j -> lag T-1-j


def attention_maps(settings: LessonSettings, *, seeds: tuple[int, ...], progress: bool = False) -> Section:
    """Mean attention of the newest frame by lag, per layer and head, on the smooth and the arbitrary cycle."""
    maps = map_settings(settings)
    rows, figures = [], {}
    bar = tqdm(total=len(MAP_SERIES) * len(MAP_POSITIONS) * len(seeds), desc="attention_maps", disable=not progress,
               leave=False)
    for series in MAP_SERIES:
        data = prepared(series, maps)
        inputs = data.windows["test"].inputs[-PROBE_WINDOWS:]  # (B, T, C)
        for positional in MAP_POSITIONS:
            for seed in seeds:
                model = unwrap(fit(series, "transformer", seed, maps, switches=(("positional", positional),)))
                for layer, profile in enumerate(newest_frame_profile(model, inputs), start=1):
                    for head, weights in enumerate(profile, start=1):
                        rows.extend({"series": series, "positions": positional, "seed": seed, "layer": layer,
                                     "head": f"head {head}", "lag": lag, "weight": float(weight)}
                                    for lag, weight in enumerate(weights))
                if seed == seeds[0] and series == "profile":  # one forecast's maps, on dated hourly frames
                    window = data.windows["test"]
                    origin = int(window.origins[-1])
                    dates = data.series.dates[origin - maps.context + 1 : origin + 1]
                    with torch.no_grad():
                        _, weights = model.encoder.forward_with_attention(window.inputs[-1:])
                    figures[f"attention_window_{positional}.png"] = plots.attention_figure(
                        [layer[0].numpy() for layer in weights], dates,
                        title=f"Attention on the newest {series} test window ({positional} positions, seed {seed})")
                bar.update()
    bar.close()
    records = pd.DataFrame(rows)
    last = records[records.layer == records.layer.max()]
    by_lag = last.groupby(["series", "positions", "seed", "lag"], sort=False)["weight"].mean().reset_index()
    figures["attention_by_lag.png"] = line_figure(
        summarise(by_lag, ["series", "positions", "lag"], "weight"), x="lag", line="positions", panels="series",
        reference=1 / maps.context, reference_label="uniform 1/T",
        title="Last layer: the newest frame's attention by lag (mean over heads and test windows; band: sd over seeds)",
        xlabel="lag (frames before the newest; 0 = itself)", ylabel="attention weight")
    peaks = (records.loc[records.groupby(["series", "positions", "seed", "layer", "head"])["weight"].idxmax()]
             .rename(columns={"lag": "peak_lag", "weight": "peak_weight"}))
    peak_table = (peaks[peaks.layer == peaks.layer.max()].groupby(["series", "positions", "head"], sort=False)
                  .agg(peak_lag_by_seed=("peak_lag", lambda lags: " / ".join(map(str, lags))),
                       peak_weight=("peak_weight", lambda w: spread(w))).reset_index())
    shares = pd.concat([_near_lag(last, periods * PERIOD - 1).assign(lag=f"{periods * PERIOD - 1} ± 1")
                        for periods in range(1, (maps.context - 2) // PERIOD + 1)])
    uniform = 3 / maps.context  # three lags' share
    one_back = shares[shares.lag == f"{PERIOD - 1} ± 1"]
    ratios = {(series, positional): float(np.mean(values(one_back, "share", series=series, positions=positional))) / uniform
              for series in MAP_SERIES for positional in MAP_POSITIONS}
    sentences = [
        f"On the {SERIES_TEXT[series]}, the newest frame puts "
        + "; ".join(f"{spread(values(one_back, 'share', series=series, positions=positional))} ({positional} positions, "
                    f"{ratios[series, positional]:.1f} times uniform)" for positional in MAP_POSITIONS)
        + f" of its last-layer attention within one step of lag {PERIOD - 1}, the frame one period before the forecast "
        f"step; uniform attention puts {number(uniform)} there." for series in MAP_SERIES]
    reached = [f"{series} with {positional} positions" for (series, positional), ratio in ratios.items() if ratio >= GOAL]
    sentences.append(f"At least {GOAL} times the uniform share: {', '.join(reached) if reached else 'none'}.")
    smooth, arbitrary = (max(ratios[series, positional] for positional in MAP_POSITIONS) for series in MAP_SERIES)
    sentences.append(
        "Why the smooth cycle need not draw attention one period back: two harmonics obey an exact linear recurrence "
        "of order 4, so the next step of the cycle follows from the newest few frames, and the frame a period back "
        "adds mostly its noise. An arbitrary cycle cannot be extrapolated; only the frames one, two, ... periods back "
        f"tell the next step's value. Measured: at most {arbitrary:.1f} times uniform on the arbitrary cycle against "
        f"{smooth:.1f} on the smooth one. experiments/lesson/causes.md measures the other settings (depth, epochs, "
        "dropout, width, readout, positions).")
    for series in MAP_SERIES:
        top = peaks[(peaks.series == series) & (peaks.layer == peaks.layer.max())]
        lags = top.groupby(["positions", "head"], sort=False)["peak_lag"].agg(lambda peaks: "/".join(map(str, peaks)))
        sentences.append(f"On {series}, the last layer's heads peak at lags " + ", ".join(
            f"{positional} {head}: {value}" for (positional, head), value in lags.items()) + " (one value per seed).")
    best = max(ratios, key=ratios.get)
    answer = (f"{best[0]} series, {best[1]} positions: {number(ratios[best] * uniform)} of the newest frame's last-layer "
              f"attention within one step of one period back ({ratios[best]:.1f} times uniform); smooth cycle at most "
              f"{max(ratios['seasonal', positional] for positional in MAP_POSITIONS):.1f} times uniform")
    return Section(
        number=6, name="attention_maps",
        what_was_run=(f"The transformer with learned or rotary positions trained on {describe_series(MAP_SERIES, maps)}; "
                      f"{models_text(maps)}; {seeds_text(seeds)}. A window of {maps.context} frames holds "
                      f"{maps.context / PERIOD:.2f} periods; one layer, so that the newest frame's map is the only route "
                      f"from the past to the forecast (with two, the first layer can gather the period-back frame into "
                      f"other tokens: see causes.md). The newest frame's attention weights on the newest "
                      f"{PROBE_WINDOWS} test windows, averaged over windows, per layer and head, by lag."),
        tables={"where each head of the newest frame looks most in the last layer (peak lag per seed, its weight)": peak_table,
                "share of the last layer's attention within one step of each whole number of periods back":
                    display(shares, ["series", "positions"], "lag", "share")},
        figures=figures, interpretation=sentences, answer=answer, records={"attention_maps": records},
    )


SERIES_TEXT = {"seasonal": "smooth two-harmonic cycle (seasonal)", "profile": "cycle of 24 arbitrary values (profile)"}


def _near_lag(records: pd.DataFrame, lag: int) -> pd.DataFrame:
    """Per series, positions and seed: the heads' mean weight summed over lags lag-1..lag+1."""
    rows = records[records.lag.between(lag - 1, lag + 1)]
    per_head = rows.groupby(["series", "positions", "seed", "head"])["weight"].sum().reset_index()
    return per_head.groupby(["series", "positions", "seed"], sort=False)["weight"].mean().rename("share").reset_index()
