"""Training objectives: a loss maps a model's outputs and a batch's targets to one scalar to minimise.

``train_model`` takes the loss as a parameter, so that another objective (a quantile loss for intervals,
a reconstruction loss for pretraining) is passed in rather than written into the loop. A loss receives the
model's outputs as they are (``(B, H, K)`` for point forecasts) and the batch's targets ``(B, H, K)``.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

Loss = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]

# The mean squared error of the scaled targets over every window, step and target channel: the loss every
# point forecaster here trains with, and the validation loss that early stopping reads.
mse: Loss = nn.MSELoss()


def pinball(taus: tuple[float, ...], *, cumulative: bool) -> Loss:
    """The pinball (quantile) loss of a quantile head's outputs (B, H, K, Q) at ``taus``, averaged over everything.

    rho_tau(y - q) = max(tau (y - q), (tau - 1)(y - q)) is minimised by the tau-quantile of y. With
    ``cumulative`` (differenced targets: log returns or changes) the targets are first summed over the
    horizon, so that output h is a quantile of the cumulative change to step h: the quantity an interval
    of the h-step-ahead value needs (a sum's quantile is not the sum of the steps' quantiles).
    """
    levels = torch.tensor(taus, dtype=torch.float32)

    def loss(outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        if cumulative:
            targets = targets.cumsum(dim=1)
        tau = levels.to(device=outputs.device, dtype=outputs.dtype)
        difference = targets.unsqueeze(-1) - outputs  # (B, H, K, Q)
        return torch.maximum(tau * difference, (tau - 1) * difference).mean()

    return loss


def masked_mse(outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """The mean squared error over the finite targets alone: a masked reconstruction's hidden frames (see data/masking.py).

    The targets are NaN where nothing is to be reconstructed (the visible frames), so those outputs get no
    gradient and no weight; ``torch.where`` keeps the NaN out of the backward pass too.
    """
    scored = torch.isfinite(targets)
    difference = torch.where(scored, outputs - targets.nan_to_num(), torch.zeros_like(outputs))
    return (difference**2).sum() / scored.sum().clamp(min=1)
