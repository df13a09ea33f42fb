"""The bench's comparison tables, from its rows (``bench.csv``): ours against the reference and the RNN, patched
against unpatched, the channel-independent batch against its per-channel loop. Pure pandas: no torch."""

from __future__ import annotations

import logging
import math

import pandas as pd

log = logging.getLogger(__name__)


def ratio_table(frame: pd.DataFrame) -> pd.DataFrame:
    """Per device and context: our transformer's training samples/s over the reference's and over the RNN's."""
    keys = ["device", "context"]
    speed = frame.pivot(index=keys, columns="model", values="train_samples_per_s")
    speed = speed.reindex(columns=["transformer", "reference", "rnn"])
    size = frame.pivot(index=keys, columns="model", values="parameters").reindex(columns=["transformer", "reference"])
    return pd.DataFrame({
        "transformer_vs_reference": speed["transformer"] / speed["reference"],
        "transformer_vs_rnn": speed["transformer"] / speed["rnn"],
        "transformer_parameters": size["transformer"].astype("Int64"),
        "reference_parameters": size["reference"].astype("Int64"),
    }).reset_index()


BASE_CONTEXT = 64  # the lecture's one-token-per-step transformer at the default window: what patches are weighed against


def patch_table(frame: pd.DataFrame, *, base_context: int = BASE_CONTEXT) -> pd.DataFrame:
    """Per device and context: the patched transformer's training time per window, relative to the unpatched one.

    ``time_vs_base``: against the unpatched transformer at ``base_context`` (or the shortest context measured,
    if that one was not); ``time_vs_unpatched``: at the same context. Below 1, the patched model trains faster.
    """
    rows = []
    patched = frame[frame["model"].str.startswith("transformer_patch")]
    for (device, model), group in patched.groupby(["device", "model"], sort=False):
        plain = frame[(frame["device"] == device) & (frame["model"] == "transformer")].set_index("context")
        plain = plain["train_samples_per_s"]
        base = base_context if base_context in plain.index else (min(plain.index) if len(plain) else None)
        for row in group.itertuples():
            rows.append({
                "device": device, "model": model, "context": row.context,
                "train_samples_per_s": row.train_samples_per_s, "base_context": base,
                "time_vs_base": (plain[base] if base is not None else math.nan) / row.train_samples_per_s,
                "time_vs_unpatched": plain.get(row.context, math.nan) / row.train_samples_per_s,
            })
    columns = ["device", "model", "context", "train_samples_per_s", "base_context", "time_vs_base", "time_vs_unpatched"]
    return pd.DataFrame(rows, columns=columns)


def channel_table(frame: pd.DataFrame) -> pd.DataFrame:
    """Per device and context: channel-windows/s of the channel-independent transformer over its per-channel loop.

    ``independent_vs_loop`` above 1: one (B, T, N) batch trains faster than N (B, T, 1) passes of the same model.
    """
    rows = []
    independent = frame[frame["model"].str.startswith("transformer_independent")]
    for row in independent.itertuples():
        loop = "transformer_loop" + row.model.removeprefix("transformer_independent")
        other = frame[(frame["device"] == row.device) & (frame["context"] == row.context) & (frame["model"] == loop)]
        loop_speed = other["train_samples_per_s"].iloc[0] if len(other) else math.nan
        rows.append({"device": row.device, "context": row.context, "channels": int(loop.removeprefix("transformer_loop")),
                     "independent_channel_windows_per_s": row.train_samples_per_s,
                     "loop_channel_windows_per_s": loop_speed, "independent_vs_loop": row.train_samples_per_s / loop_speed})
    columns = ["device", "context", "channels", "independent_channel_windows_per_s", "loop_channel_windows_per_s",
               "independent_vs_loop"]
    return pd.DataFrame(rows, columns=columns)


def check_parameters(frame: pd.DataFrame) -> None:
    """Warn when the reference's size strays over 10 % from ours: then the speed ratio compares unlike models."""
    table = ratio_table(frame).dropna(subset=["transformer_parameters", "reference_parameters"])
    for row in table.itertuples():
        if abs(row.reference_parameters / row.transformer_parameters - 1) > 0.1:
            log.warning("reference has %d parameters, ours %d (%s, T=%d): more than 10 %% apart",
                        row.reference_parameters, row.transformer_parameters, row.device, row.context)
