"""The recurrent baseline: a GRU or LSTM reads the window one frame at a time, in order.

``channels: independent`` runs one 1-channel RNN, shared by the target channels, on each channel alone
(a (B*K, T, 1) batch; see ``channels.py``); ``mixed``, the default, reads every channel of a frame at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

from forecaster.models.channels import check_channels, from_channels, per_channel
from forecaster.models.revin import InstanceNormalization


@dataclass(frozen=True)
class RNNConfig:
    """Cell type, width and depth of the recurrent network."""

    cell: Literal["gru", "lstm"] = "gru"
    """The recurrent cell: `gru` or `lstm`."""
    hidden_size: int = 32
    """The width of the hidden state, which a linear head maps to the forecast."""
    n_layers: int = 1
    """Stacked recurrent layers."""
    dropout: float = 0.0
    """Dropout probability between stacked layers; not applied with one layer."""
    instance_norm: bool = False
    """RevIN: scale each window by its own mean and deviation (and a learned per-channel affine map), reversed on the forecast."""
    channels: Literal["mixed", "independent"] = "mixed"
    """`mixed` (every channel of a frame read at once) or `independent` (one RNN shared by the target channels, each its
    own sequence). `independent` refuses feature channels."""


class RNNForecaster(nn.Module):
    """``forward(past (B, T, C)) -> (B, H, K)`` from the last hidden state after the whole window.

    Order is built in (frame t+1 is read after frame t), but the computation is sequential in T,
    which the lecture contrasts with attention's all-pairs parallel step.
    """

    def __init__(self, config: RNNConfig, *, context: int, horizon: int, channels: int, targets: int = 1) -> None:
        super().__init__()
        cells = {"gru": nn.GRU, "lstm": nn.LSTM}
        if config.cell not in cells:
            raise ValueError(f"rnn cell={config.cell!r} is not one of 'gru', 'lstm'")
        recurrent = cells[config.cell]
        check_channels("rnn", config.channels, ("mixed", "independent"), channels=channels, targets=targets)
        self.independent = config.channels == "independent"
        self.recurrent = recurrent(
            input_size=1 if self.independent else channels,
            hidden_size=config.hidden_size,
            num_layers=config.n_layers,
            # PyTorch applies dropout between stacked layers only; with one layer it would only warn.
            dropout=config.dropout if config.n_layers > 1 else 0.0,
            batch_first=True,
        )
        self.head = nn.Linear(config.hidden_size, horizon if self.independent else horizon * targets)
        self.outputs = (horizon, targets)
        self.instance_norm = InstanceNormalization(channels=channels) if config.instance_norm else None

    def forward(self, past: torch.Tensor, future: torch.Tensor | None = None) -> torch.Tensor:
        """``future`` (B, H, F) inputs known ahead are not read by this model."""
        statistics = None
        if self.instance_norm is not None:
            past, statistics = self.instance_norm.normalize(past)
        if self.independent:
            states, _ = self.recurrent(per_channel(past))  # (B*K, T, 1) -> (B*K, T, hidden)
            forecast = from_channels(self.head(states[:, -1]), self.outputs[1])  # (B*K, H) -> (B, H, K)
        else:
            states, _ = self.recurrent(past)  # (B, T, C) -> (B, T, hidden)
            forecast = self.head(states[:, -1]).unflatten(1, self.outputs)  # (B, hidden) -> (B, H, K)
        return forecast if statistics is None else self.instance_norm.denormalize(forecast, statistics)
