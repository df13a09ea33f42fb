"""The model registry: each kind names its config class and how to build its forecaster, explicitly.

Every forecaster, naive ones included, is an ``nn.Module`` with ``forward((B, T, C)) -> (B, H)`` in the
scaled, transformed target space; ``build_model`` makes one from its config plus the data's dimensions.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from torch import nn

from forecaster.models.attention import MultiHeadSelfAttention
from forecaster.models.linear import LinearConfig, LinearForecaster
from forecaster.models.mlp import MLPConfig, MLPForecaster
from forecaster.models.naive import NaiveConfig, NaiveForecaster, SeasonalNaiveConfig, SeasonalNaiveForecaster
from forecaster.models.rnn import RNNConfig, RNNForecaster
from forecaster.models.transformer import TransformerConfig, TransformerEncoder, TransformerForecaster


@dataclass(frozen=True)
class ModelDims:
    """What the data fixes about every model: window length, horizon, input channels, target space.

    ``differenced`` and ``no_change`` (the scaled value of a zero change) tell the naive forecasts what
    "repeat the last value" means in the target space; neural models use only the first three.
    """

    context: int
    horizon: int
    channels: int
    differenced: bool
    no_change: float


@dataclass(frozen=True)
class ModelKind:
    """One registry entry: the config class and a builder ``(config, dims) -> nn.Module``."""

    config_class: type
    build: Callable[[Any, ModelDims], nn.Module]
    trainable: bool


def _neural(forecaster_class: type) -> Callable[[Any, ModelDims], nn.Module]:
    def build(config: Any, dims: ModelDims) -> nn.Module:
        return forecaster_class(config, context=dims.context, horizon=dims.horizon, channels=dims.channels)

    return build


def _naive(config: NaiveConfig, dims: ModelDims) -> nn.Module:
    return NaiveForecaster(horizon=dims.horizon, differenced=dims.differenced, no_change=dims.no_change)


def _seasonal_naive(config: SeasonalNaiveConfig, dims: ModelDims) -> nn.Module:
    return SeasonalNaiveForecaster(config, context=dims.context, horizon=dims.horizon)


MODEL_KINDS: dict[str, ModelKind] = {
    "naive": ModelKind(NaiveConfig, _naive, trainable=False),
    "seasonal_naive": ModelKind(SeasonalNaiveConfig, _seasonal_naive, trainable=False),
    "linear": ModelKind(LinearConfig, _neural(LinearForecaster), trainable=True),
    "mlp": ModelKind(MLPConfig, _neural(MLPForecaster), trainable=True),
    "rnn": ModelKind(RNNConfig, _neural(RNNForecaster), trainable=True),
    "transformer": ModelKind(TransformerConfig, _neural(TransformerForecaster), trainable=True),
}


def model_kind(kind: str) -> ModelKind:
    """The registry entry for ``kind``, or a ``ValueError`` listing the valid kinds."""
    if kind not in MODEL_KINDS:
        raise ValueError(f"unknown model kind {kind!r}; valid kinds: {', '.join(MODEL_KINDS)}")
    return MODEL_KINDS[kind]


def build_model(kind: str, config: Any, dims: ModelDims) -> nn.Module:
    """Build the forecaster of ``kind`` from its config and the data's dimensions."""
    return model_kind(kind).build(config, dims)


def freeze(module: nn.Module) -> nn.Module:
    """Stop training ``module``'s parameters (e.g. a reused encoder under a new head); returns it."""
    for parameter in module.parameters():
        parameter.requires_grad_(False)
    return module


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


__all__ = [
    "MODEL_KINDS",
    "LinearConfig",
    "LinearForecaster",
    "MLPConfig",
    "MLPForecaster",
    "ModelDims",
    "ModelKind",
    "MultiHeadSelfAttention",
    "NaiveConfig",
    "NaiveForecaster",
    "RNNConfig",
    "RNNForecaster",
    "SeasonalNaiveConfig",
    "SeasonalNaiveForecaster",
    "TransformerConfig",
    "TransformerEncoder",
    "TransformerForecaster",
    "build_model",
    "count_parameters",
    "freeze",
    "model_kind",
]
