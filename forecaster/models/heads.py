"""Output heads: what a model's outputs per step and target are, how they train, and what they forecast.

Every forecaster returns ``(B, H, K, *head.shape)`` in the scaled target space: ``()`` for a point head
(one value: the contract of every kind), ``(W,)`` for a head of W outputs. A head answers everything a
caller used to read from ranks, tuples or classes:

- ``shape`` (and ``width``, its size): the outputs per step and target;
- ``loss(outputs, targets)``: the objective, on targets as given; ``cumulative`` says whether those are
  the *cumulative* change to each step for differenced transforms (``training/losses.head_loss`` sums
  them), because a sum's quantile is not the sum of the steps' quantiles;
- ``point(outputs)``: the point forecast (N, H) from outputs (N, H, *shape), in the same space;
- ``quantiles(outputs, taus)``: the quantiles (N, H, Q) at ``taus``, ascending, or None when the head
  forecasts no distribution (``distributional`` says so beforehand); ``crossing`` the share of (window,
  step) whose quantiles crossed before they were sorted;
- ``describe()``: a plain mapping for the checkpoint (``name`` plus parameters); the registry
  (``HEADS`` in ``models/__init__.py``) turns it back into the head with the class's ``from_description``.

A distributional head is chosen by ``intervals.method`` (its registry name) and built for the
intervals' levels by ``for_levels``. The reading methods take numpy arrays, as predictions are kept; the
loss takes the tensors a training step has. ``HeadForecaster`` gives any kind a head of W outputs: the
kind is built for W * H steps and its outputs read as W values of H steps.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

import numpy as np
import torch
from torch import nn
from torch.nn import functional

from forecaster.evaluation.conformal import quantile_levels
from forecaster.evaluation.probabilistic import crossing_rate


class Head(Protocol):
    """What a model's outputs are; see the module's docstring for each member."""

    name: ClassVar[str]
    distributional: ClassVar[bool]  # whether it forecasts a distribution (its quantiles give intervals)
    cumulative: ClassVar[bool]  # whether it trains on the cumulative change of differenced targets

    @property
    def shape(self) -> tuple[int, ...]: ...

    @property
    def width(self) -> int: ...

    def loss(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor: ...

    def point(self, outputs: np.ndarray) -> np.ndarray: ...

    def quantiles(self, outputs: np.ndarray, taus: Sequence[float]) -> np.ndarray | None: ...

    def crossing(self, outputs: np.ndarray) -> float: ...

    def describe(self) -> dict[str, Any]: ...

    @classmethod
    def for_levels(cls, levels: Sequence[float]) -> Head: ...

    @classmethod
    def from_description(cls, description: Mapping[str, Any]) -> Head: ...


@dataclass(frozen=True)
class PointHead:
    """One value per step and target, trained with the mean squared error of the scaled targets."""

    name: ClassVar[str] = "point"
    distributional: ClassVar[bool] = False
    cumulative: ClassVar[bool] = False
    shape: ClassVar[tuple[int, ...]] = ()
    width: ClassVar[int] = 1

    def loss(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return functional.mse_loss(outputs, targets)

    def point(self, outputs: np.ndarray) -> np.ndarray:
        return outputs

    def quantiles(self, outputs: np.ndarray, taus: Sequence[float]) -> None:
        return None  # no distribution: intervals come from calibration (conformal, adaptive)

    def crossing(self, outputs: np.ndarray) -> float:
        return float("nan")

    def describe(self) -> dict[str, Any]:
        return {"name": self.name}

    @classmethod
    def for_levels(cls, levels: Sequence[float]) -> PointHead:
        return cls()

    @classmethod
    def from_description(cls, description: Mapping[str, Any]) -> PointHead:
        return cls()


POINT = PointHead()  # the head of every model built without another


@dataclass(frozen=True)
class QuantileHead:
    """Q values per step and target, the quantiles at ``taus``, trained with the pinball loss.

    rho_tau(y - q) = max(tau (y - q), (tau - 1)(y - q)) is minimised by the tau-quantile of y. Outputs are
    unsorted as trained; ``quantiles`` sorts them, ``crossing`` measures how often they crossed, and the
    point forecast is the median (tau 0.5, which ``taus`` must hold).
    """

    taus: tuple[float, ...]
    name: ClassVar[str] = "quantile"
    distributional: ClassVar[bool] = True
    cumulative: ClassVar[bool] = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "taus", tuple(float(tau) for tau in self.taus))
        if not self.taus or not all(0 < tau < 1 for tau in self.taus) or list(self.taus) != sorted(set(self.taus)):
            raise ValueError(f"a quantile head's taus {list(self.taus)} must be one or more, ascending, distinct and in (0, 1)")

    @property
    def shape(self) -> tuple[int, ...]:
        return (len(self.taus),)

    @property
    def width(self) -> int:
        return len(self.taus)

    def loss(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        tau = torch.tensor(self.taus, dtype=torch.float32).to(device=outputs.device, dtype=outputs.dtype)
        difference = targets.unsqueeze(-1) - outputs  # (B, H, K, Q)
        return torch.maximum(tau * difference, (tau - 1) * difference).mean()

    def _columns(self, taus: Sequence[float]) -> list[int]:
        index = {round(tau, 10): position for position, tau in enumerate(self.taus)}
        missing = [float(tau) for tau in taus if round(tau, 10) not in index]
        if missing:
            raise ValueError(f"this quantile head forecasts the quantiles {list(self.taus)}, not {missing}")
        return [index[round(tau, 10)] for tau in taus]

    def point(self, outputs: np.ndarray) -> np.ndarray:
        return np.sort(outputs, axis=-1)[..., self._columns([0.5])[0]]

    def quantiles(self, outputs: np.ndarray, taus: Sequence[float]) -> np.ndarray:
        return np.sort(outputs, axis=-1)[..., self._columns(taus)]

    def crossing(self, outputs: np.ndarray) -> float:
        return crossing_rate(outputs)

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "taus": list(self.taus)}

    @classmethod
    def for_levels(cls, levels: Sequence[float]) -> QuantileHead:
        return cls(quantile_levels(levels))  # each level's bounds and the median

    @classmethod
    def from_description(cls, description: Mapping[str, Any]) -> QuantileHead:
        return cls(tuple(description["taus"]))


class HeadForecaster(nn.Module):
    """``forward(past (B, T, C), future=None) -> (B, H, K, W)``: a head's W outputs per step and target.

    The wrapped model is built for W * H steps, so that its own head, instance norm and every other part
    stay as they are; the wrapper reads those W * H "steps" as W values of H steps.
    """

    def __init__(self, base: nn.Module, *, horizon: int, head: Head) -> None:
        super().__init__()
        self.base = base  # built for horizon * head.width steps
        self.horizon = horizon
        self.output_head = head

    @property
    def encoder(self) -> nn.Module:
        """The wrapped model's encoder (a transformer's), so that attention maps, embed and transfer read it as usual."""
        return self.base.encoder

    def forward(self, past: torch.Tensor, future: torch.Tensor | None = None) -> torch.Tensor:
        outputs = self.base(past, future)  # (B, W*H, K)
        return outputs.unflatten(1, (self.output_head.width, self.horizon)).permute(0, 2, 3, 1)  # (B, W, H, K) -> (B, H, K, W)
