"""Inputs known ahead for any neural forecaster: a learned per-step correction added to its forecast.

The wrapped model forecasts from the past window as it always does; the wrapper adds, at each forecast
step h, ``head(future[:, h])``: a small MLP over that step's F known inputs (calendar, holiday flag,
planned events), shared by every step, with one output per target and output of the model's head (per
quantile for a quantile head). One wrapper serves every kind without touching their internals (a transformer, an RNN and a
linear map read it the same way), and an additive term is what known-ahead inputs usually are: the
hour-of-day profile, a holiday dip, a planned event's effect. What it cannot learn is an interaction
between the past and the future inputs (a holiday effect proportional to the current level); that is
the price of keeping each kind as it is. The head's last layer starts at zero, so a freshly built
wrapper forecasts exactly as its base model does and learns the correction from there.

A global model with series identities (``series`` N > 0) reads the last of the F channels as the series' index
(0..N-1; N for a series it never saw) into ``nn.Embedding(N + 1, HIDDEN)``, added to the first layer's
pre-activation: ``gelu(Linear(F - 1)(known) + embedding[index])``. That is what a one-hot of the N series through
the first Linear computes, stored as N rows instead of an N-wide input (a panel of thousands of series needs no
thousands-wide input per step); the unknown series' row is zero and never trained (``padding_idx``).
``identity_from_one_hot`` converts a head trained on the one-hot (checkpoints of format version 3 and before).
"""

from __future__ import annotations

import warnings

import torch
from torch import nn

from forecaster.models.heads import POINT, Head

HIDDEN = 32  # the head's hidden width: enough for hour x weekday x holiday profiles, small beside any base


class FutureForecaster(nn.Module):
    """``forward(past (B, T, C), future (B, H, F)) -> base(past) + head(future)``: (B, H, K, *output_head.shape).

    With ``series`` N > 0 the last future channel is the series' index, read through ``identity`` (see the module)."""

    def __init__(self, base: nn.Module, *, future_channels: int, targets: int, head: Head = POINT, series: int = 0) -> None:
        super().__init__()
        if series and future_channels < 1:
            raise ValueError(f"a model of {series} series identities reads their index as its last future channel; got none")
        self.base = base
        self.future_channels = future_channels
        self.series = series
        self.output_head = head  # the base's output head: what each step's outputs are
        self.outputs = (targets, *head.shape)
        known = future_channels - bool(series)  # the channels before the series' index
        with warnings.catch_warnings():  # no known input but the identity: a Linear of none (its bias alone), said to be a no-op
            warnings.filterwarnings("ignore", "Initializing zero-element tensors", UserWarning)
            first = nn.Linear(known, HIDDEN)
        self.head = nn.Sequential(first, nn.GELU(), nn.Linear(HIDDEN, targets * head.width))
        nn.init.zeros_(self.head[-1].weight)
        nn.init.zeros_(self.head[-1].bias)
        if series:  # row N: the unknown series, zero and never trained
            self.identity = nn.Embedding(series + 1, HIDDEN, padding_idx=series)

    @property
    def encoder(self) -> nn.Module:
        """The wrapped model's encoder (a transformer's), so that attention maps and embed read it as usual."""
        return self.base.encoder

    def forward(self, past: torch.Tensor, future: torch.Tensor | None = None) -> torch.Tensor:
        if future is None or future.shape[-1] != self.future_channels:
            got = "none" if future is None else future.shape[-1]
            raise ValueError(f"this model reads {self.future_channels} future input channel(s) per step; got {got}")
        return self.base(past) + self.correction(future).unflatten(-1, self.outputs)  # (B, H, K[, Q])

    def correction(self, future: torch.Tensor) -> torch.Tensor:
        """The head's term (B, H, K * width) of the inputs known ahead (B, H, F)."""
        if not self.series:
            return self.head(future)
        index = future[..., -1]
        bad = (index != index.round()) | (index < 0) | (index > self.series)
        if bool(bad.any()):
            raise ValueError(f"the last future input channel is the series' index, a whole number from 0 to {self.series} "
                             f"({self.series}: a series the model never saw); got {_shown(index[bad])}")
        first = self.head[0](future[..., :-1]) + self.identity(index.long())
        return self.head[2](self.head[1](first))


def _shown(index: torch.Tensor) -> str:
    """Bad index values, the first three of them."""
    values = sorted(set(index.flatten().tolist()))
    return ", ".join(f"{value:g}" for value in values[:3]) + (", ..." if len(values) > 3 else "")


def identity_from_one_hot(state_dict: dict[str, torch.Tensor], *, series: int) -> dict[str, torch.Tensor]:
    """A ``FutureForecaster``'s weights trained on a one-hot of ``series`` identities (the last ``series`` inputs of its
    head's first Linear: checkpoints of format version 3 and before) as those of the index form: those columns become
    the first ``series`` rows of ``identity``, its padding row zero. The same function, W0 x + b + W1 onehot(i) ==
    W0 x + b + identity[i] (floats may differ in the last bits: the sum is taken in another order)."""
    weight = state_dict["head.0.weight"]  # (HIDDEN, F0 + N)
    if weight.shape[1] < series:
        raise ValueError(f"the head reads {weight.shape[1]} future input(s), fewer than its {series} series identities")
    converted = dict(state_dict)
    converted["head.0.weight"] = weight[:, : weight.shape[1] - series].clone()
    rows = weight[:, weight.shape[1] - series :].T  # (N, HIDDEN): one per series
    converted["identity.weight"] = torch.cat([rows, rows.new_zeros(1, rows.shape[1])]).contiguous()
    return converted
