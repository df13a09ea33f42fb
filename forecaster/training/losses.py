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
