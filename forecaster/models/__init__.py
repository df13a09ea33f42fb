"""The model registry: each kind names its config class, how to build its forecaster and what it can do.

Every forecaster, naive ones included, is an ``nn.Module`` with ``forward(past (B, T, C), future=None) ->
(B, H, K)`` in the scaled, transformed target space (``future``: (B, H, F) inputs known ahead; with F > 0
a trainable kind is wrapped in ``FutureForecaster``, which adds a learned per-step term, and the naive
kinds ignore them); built with another output head (``ModelDims.head``, see ``models/heads.py``), a kind
returns ``(B, H, K, *head.shape)`` instead, e.g. (B, H, K, Q) quantiles. ``build_model`` makes one from its
config plus the data's dimensions. What differs between kinds beyond that (whether they train, whether they
have attention maps to draw, whether a setting is found from the training span) is an entry of their
``ModelKind``, so that callers ask the kind, never its name.
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from forecaster.models.attention import MultiHeadSelfAttention
from forecaster.models.channels import OWN_HISTORY
from forecaster.models.future import FutureForecaster
from forecaster.models.heads import POINT, Head, HeadForecaster, PointHead, QuantileHead
from forecaster.models.linear import LinearConfig, LinearForecaster
from forecaster.models.mlp import MLPConfig, MLPForecaster
from forecaster.models.naive import (
    NaiveConfig,
    NaiveForecaster,
    SeasonalNaiveConfig,
    SeasonalNaiveForecaster,
    period_needs_one_series,
    resolve_period,
)
from forecaster.models.normal import NormalHead
from forecaster.models.pretrained import PretrainedConfig, build_pretrained
from forecaster.models.rnn import RNNConfig, RNNForecaster
from forecaster.models.statistical import (
    ARIMA,
    ETS,
    THETA,
    ARIMAConfig,
    ETSConfig,
    StatisticalModel,
    StatisticalPlaceholder,
    ThetaConfig,
)
from forecaster.models.transformer import TransformerConfig, TransformerEncoder, TransformerForecaster, attention_maps


@dataclass(frozen=True)
class ModelDims:
    """What the data fixes about every model: window length, horizon, input channels, target space.

    ``differenced`` and ``no_change`` (the scaled value of a zero change) tell the naive forecasts what
    "repeat the last value" means in the target space; neural models do not use them. ``targets`` (K) are
    the first K input channels; ``future_channels`` (F) the inputs known ahead for the forecast steps;
    ``series`` (N) the series of a global model with series identities, the last of the F being the series'
    index (0..N-1, N for a series it never saw; 0: no identity); ``head``: what the outputs per step and
    target are (``models/heads.py``): one value by default.

    ``observed``: the last of the C channels is the padding mask of a run that pads short series (1 on real frames, 0 on
    the padding placed before a series' first value, ``data/padding.py``). Who uses it how: the transformer masks the
    padding out of attention and zeroes the values it reads there (``TransformerForecaster``); linear, MLP and RNN
    (``channels: mixed``) read it as one more input channel; their per-channel modes read the targets alone and are
    refused; the naive forecasts read the last frame, always real, and the seasonal naive a season back where that
    frame is real, else the last frame.
    """

    context: int
    horizon: int
    channels: int
    differenced: bool
    no_change: float
    targets: int = 1
    future_channels: int = 0
    head: Head = POINT
    series: int = 0
    observed: bool = False


# What a kind may return when it has attention to show: each layer's weights (B, N, P, P) on the windows
# given, and the frames [start, end) each token covers (None when every token is one frame).
AttentionMaps = Callable[[nn.Module, torch.Tensor], tuple[list[torch.Tensor], list[tuple[int, int]] | None]]


@dataclass(frozen=True)
class ModelKind:
    """One registry entry: the config class, a builder ``(config, dims) -> nn.Module`` and the kind's capabilities.

    - ``trainable``: whether the model has weights to fit (naive forecasts have none);
    - ``attention``: for kinds with attention maps, how to get them (see ``AttentionMaps``);
    - ``resolve``: for kinds with settings found from the data, ``(config, training_target, *, context) ->
      (config, note)``: the config with them filled in from the training span's target (never validation or
      test), and a sentence saying what was chosen (None when nothing was);
    - ``needs_one_series``: why a config cannot serve a global run of several series (a setting found in
      one series' training span), or None;
    - ``output_heads``: whether the kind can forecast with a head of several outputs per step (``ModelDims.head``:
      quantiles, a distribution's parameters) instead of one value;
    - ``search``: for trainable kinds, ``(config, shortest_context) -> {key: range}``: the kind's own settings that
      ``forecaster tune`` searches by default, in the ``search:`` syntax (``[low, high]``, ``{log: [low, high]}``,
      ``{choices: [...]}``), ``shortest_context`` the shortest window searched; None: the kind has no default space
      and a search of it must be given (``tuning/space.py`` says so in one line);
    - ``statistical``: for the statistical kinds (``models/statistical.py``: StatsForecast's models), how they are made
      and which seasons they fit. They are fitted per series on its whole history, not on windows: a run scores them
      with ``runs/statistical.py``, and what ``build`` makes is a placeholder without parameters;
    - ``fine_tunes``: for a kind that comes trained (``pretrained``), whether a config asks a run to train it further;
      without, a run trains every trainable kind (``trains``). Such a kind builds its own output head.
    """

    config_class: type
    build: Callable[[Any, ModelDims], nn.Module]
    trainable: bool
    attention: AttentionMaps | None = None
    resolve: Callable[..., tuple[Any, str | None]] | None = None
    needs_one_series: Callable[[Any], str | None] = lambda config: None  # most configs serve any series
    output_heads: bool = False
    search: Callable[[Any, int], dict[str, Any]] | None = None
    statistical: StatisticalModel | None = None
    fine_tunes: Callable[[Any], bool] | None = None

    @property
    def needs_setup(self) -> bool:
        """Whether a run can list this kind only with more than a config: the stats extra (the statistical kinds), or
        weights and level values (the pretrained one). The default models leave such kinds out."""
        return self.statistical is not None or self.fine_tunes is not None

    def trains(self, config: Any) -> bool:
        """Whether a run trains a model of ``config``: a trainable kind does, unless it comes trained and ``config`` asks
        for it as it is (a pretrained forecaster zero-shot)."""
        return self.trainable and (self.fine_tunes is None or self.fine_tunes(config))


def _neural(forecaster_class: type) -> Callable[[Any, ModelDims], nn.Module]:
    def build(config: Any, dims: ModelDims) -> nn.Module:
        return forecaster_class(config, context=dims.context, horizon=dims.horizon, channels=dims.channels,
                                targets=dims.targets)

    return build


def _transformer(config: TransformerConfig, dims: ModelDims) -> nn.Module:
    return TransformerForecaster(config, context=dims.context, horizon=dims.horizon, channels=dims.channels,
                                 targets=dims.targets, observed=dims.observed)


def _naive(config: NaiveConfig, dims: ModelDims) -> nn.Module:
    return NaiveForecaster(horizon=dims.horizon, differenced=dims.differenced, no_change=dims.no_change, targets=dims.targets)


def _seasonal_naive(config: SeasonalNaiveConfig, dims: ModelDims) -> nn.Module:
    return SeasonalNaiveForecaster(config, context=dims.context, horizon=dims.horizon, targets=dims.targets,
                                   observed=dims.observed)


def _pretrained(config: PretrainedConfig, dims: ModelDims) -> nn.Module:
    if dims.differenced:
        raise ValueError("the pretrained forecaster reads and forecasts values, not changes: set data.transform=level")
    model = build_pretrained(config, horizon=dims.horizon, targets=dims.targets, observed=dims.observed, head=dims.head)
    if dims.context < model.architecture.context:  # it reads the run's windows, as every model does: say so
        # Not always a loss: on Tourism monthly 72 frames, chosen on validation, beat its whole 132 on the test.
        warnings.warn(f"the pretrained forecaster reads the run's windows of {dims.context} frames, of the "
                      f"{model.architecture.context} it can read (windows.context={model.architecture.context}: its whole "
                      "reach; choose between them on validation)", stacklevel=2)
    return model


def _placeholder(kind: str) -> Callable[[Any, ModelDims], nn.Module]:
    return lambda config, dims: StatisticalPlaceholder(kind)


def _linear_space(config: LinearConfig, shortest_context: int) -> dict[str, Any]:
    return {"train.weight_decay": {"log": [1e-6, 1e-2]}}  # one weight per lag, nothing to size


def _mlp_space(config: MLPConfig, shortest_context: int) -> dict[str, Any]:
    return {"hidden": {"choices": [[32], [64], [64, 64], [128, 128]]}, "dropout": [0.0, 0.3]}


def _rnn_space(config: RNNConfig, shortest_context: int) -> dict[str, Any]:
    return {"hidden_size": {"choices": [16, 32, 64]}, "n_layers": [1, 2]}


def _transformer_space(config: TransformerConfig, shortest_context: int) -> dict[str, Any]:
    """Width (multiples of ``n_heads``), depth, dropout, and patches: half, the same and double the config's (1, 4, 8
    when it is 1), none longer than the shortest window searched."""
    patch = config.patch
    patches = sorted({p for p in (patch // 2, patch, 2 * patch) if 1 <= p <= shortest_context}) if patch > 1 else [1, 4, 8]
    patches = [p for p in patches if p <= shortest_context]
    widths = [width for width in (16, 32, 64) if width % config.n_heads == 0] or [config.d_model]
    space = {"d_model": {"choices": widths}, "n_layers": [1, 3], "dropout": [0.0, 0.3]}
    return {**space, "patch": {"choices": patches}} if len(patches) > 1 else space


def _pretrained_space(config: PretrainedConfig, shortest_context: int) -> dict[str, Any]:
    return {"fine_tune": {"choices": [False, True]}}  # zero-shot or trained further (at the searched learning rate)


MODEL_KINDS: dict[str, ModelKind] = {
    "naive": ModelKind(NaiveConfig, _naive, trainable=False),
    "seasonal_naive": ModelKind(SeasonalNaiveConfig, _seasonal_naive, trainable=False,
                                resolve=resolve_period, needs_one_series=period_needs_one_series),
    "linear": ModelKind(LinearConfig, _neural(LinearForecaster), trainable=True, output_heads=True, search=_linear_space),
    "mlp": ModelKind(MLPConfig, _neural(MLPForecaster), trainable=True, output_heads=True, search=_mlp_space),
    "rnn": ModelKind(RNNConfig, _neural(RNNForecaster), trainable=True, output_heads=True, search=_rnn_space),
    "transformer": ModelKind(TransformerConfig, _transformer, trainable=True, attention=attention_maps,
                             output_heads=True, search=_transformer_space),
    "ets": ModelKind(ETSConfig, _placeholder("ets"), trainable=False, statistical=ETS),
    "theta": ModelKind(ThetaConfig, _placeholder("theta"), trainable=False, statistical=THETA),
    "arima": ModelKind(ARIMAConfig, _placeholder("arima"), trainable=False, statistical=ARIMA),
    "pretrained": ModelKind(PretrainedConfig, _pretrained, trainable=True, output_heads=True, search=_pretrained_space,
                            fine_tunes=lambda config: config.fine_tune or config.from_scratch),
}


def model_kind(kind: str) -> ModelKind:
    """The registry entry for ``kind``, or a ``ValueError`` listing the valid kinds."""
    if kind not in MODEL_KINDS:
        raise ValueError(f"unknown model kind {kind!r}; valid kinds: {', '.join(MODEL_KINDS)}")
    return MODEL_KINDS[kind]


def build_model(kind: str, config: Any, dims: ModelDims) -> nn.Module:
    """Build the forecaster of ``kind`` from its config and the data's dimensions (a ValueError if it cannot be).

    With inputs known ahead (``dims.future_channels`` > 0) a trainable kind is wrapped in ``FutureForecaster``
    (outermost, so that its head has one output per output of the model's head); naive kinds have nothing to
    learn them with and forecast from the past alone. Without them nothing is wrapped: the model is exactly
    the kind's own (or, with a head of several outputs, the kind's own in a ``HeadForecaster``).
    """
    entry = model_kind(kind)
    mode = getattr(config, "channels", "mixed")
    if dims.observed and mode in OWN_HISTORY:
        raise ValueError(f"model kind {kind!r} with channels={mode!r} reads each target alone and cannot read the padding "
                         "mask of a run that pads short series (windows.pad); use channels: mixed, or windows.pad=false")
    model = _with_head(kind, entry, config, dims)
    if dims.future_channels and entry.trains(config):
        return FutureForecaster(model, future_channels=dims.future_channels, targets=dims.targets, head=dims.head,
                                series=dims.series)
    return model


def _with_head(kind: str, entry: ModelKind, config: Any, dims: ModelDims) -> nn.Module:
    if not dims.head.shape or entry.fine_tunes is not None:  # a kind that comes trained has its head already
        return entry.build(config, dims)
    if not entry.output_heads:
        with_heads = ", ".join(name for name, other in MODEL_KINDS.items() if other.output_heads)
        raise ValueError(f"model kind {kind!r} has no {dims.head.name} head (kinds with one: {with_heads})")
    # The kind's own model, built for W * H steps: the wrapper reads them as W outputs of H steps.
    base = entry.build(config, dataclasses.replace(dims, horizon=dims.horizon * dims.head.width, head=POINT))
    return HeadForecaster(base, horizon=dims.horizon, head=dims.head)


# The output heads by name: ``intervals.method`` names a distributional one, a checkpoint describes its own.
HEADS: dict[str, type[Head]] = {
    "point": PointHead,
    "quantile": QuantileHead,
    "normal": NormalHead,
}


def output_head(model: nn.Module) -> Head:
    """The head a model built by ``build_model`` forecasts with (a point head unless it was built with another)."""
    return getattr(model, "output_head", POINT)


def head_from_description(description: Any) -> Head:
    """The head that ``head.describe()`` described (a checkpoint's), or a ``ValueError`` naming the known heads."""
    name = description.get("name") if isinstance(description, dict) else None
    if name not in HEADS:
        raise ValueError(f"unknown output head {name!r}; known heads: {', '.join(HEADS)}")
    return HEADS[name].from_description(description)


def distributional_heads() -> tuple[str, ...]:
    """The heads that ``intervals.method`` may name: those that forecast a distribution, whose quantiles give intervals."""
    return tuple(name for name, head in HEADS.items() if head.distributional)


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
    "ARIMAConfig",
    "ETSConfig",
    "StatisticalModel",
    "ThetaConfig",
    "LinearConfig",
    "LinearForecaster",
    "MLPConfig",
    "MLPForecaster",
    "ModelDims",
    "AttentionMaps",
    "ModelKind",
    "MultiHeadSelfAttention",
    "NaiveConfig",
    "PretrainedConfig",
    "NaiveForecaster",
    "HEADS",
    "Head",
    "HeadForecaster",
    "PointHead",
    "QuantileHead",
    "RNNConfig",
    "RNNForecaster",
    "SeasonalNaiveConfig",
    "SeasonalNaiveForecaster",
    "TransformerConfig",
    "TransformerEncoder",
    "TransformerForecaster",
    "FutureForecaster",
    "build_model",
    "distributional_heads",
    "head_from_description",
    "output_head",
    "count_parameters",
    "freeze",
    "model_kind",
]
