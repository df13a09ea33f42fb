"""Training objectives: a loss maps a model's outputs and a batch's targets to one scalar to minimise.

``train_model`` takes the loss as a parameter, so that another objective (an output head's, a reconstruction
loss for pretraining) is passed in rather than written into the loop. A loss receives the model's outputs as
they are (``(B, H, K, *head.shape)``: ``(B, H, K)`` for point forecasts) and the batch's targets ``(B, H, K)``.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from forecaster.models.heads import Head

Loss = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]

# The mean squared error of the scaled targets over every window, step and target channel: the loss every
# point forecaster here trains with, and the validation loss that early stopping reads.
mse: Loss = nn.MSELoss()
# Their mean absolute error (``train.loss: mae``): the error MASE and sMAPE score, less swayed by a few large errors.
mae: Loss = nn.L1Loss()


def head_loss(head: Head, *, differenced: bool) -> Loss:
    """What a model with ``head`` trains on (``head.loss``: MSE for points, pinball for quantiles), of which targets.

    A head that is ``cumulative`` (a distribution's, see ``models/heads.py``) with differenced targets (log
    returns or changes) gets the targets summed over the horizon, so that output h is of the cumulative
    change to step h: the quantity an interval of the h-step-ahead value needs (a sum's quantile is not the
    sum of the steps' quantiles). Otherwise the targets are passed as they are.
    """
    if not (head.cumulative and differenced):
        return head.loss

    def loss(outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return head.loss(outputs, targets.cumsum(dim=1))

    return loss


def masked_mse(outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """The mean squared error over the finite targets alone: a masked reconstruction's hidden frames (see data/masking.py).

    The targets are NaN where nothing is to be reconstructed (the visible frames), so those outputs get no
    gradient and no weight; ``torch.where`` keeps the NaN out of the backward pass too.
    """
    scored = torch.isfinite(targets)
    difference = torch.where(scored, outputs - targets.nan_to_num(), torch.zeros_like(outputs))
    return (difference**2).sum() / scored.sum().clamp(min=1)
