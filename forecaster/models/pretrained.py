"""The pretrained forecaster (model kind ``pretrained``): one patch transformer trained on a pool of many series, that
forecasts a series it never saw without training on it.

**The network** is the project's own transformer (``TransformerForecaster``) with what a model serving any series
needs, all of it already part of that class:

- univariate: it reads one series (one target channel) at a time, and a window of several targets is read as that
  many series, so a model trained on single series serves any number of targets (channel independence);
- instance normalisation (RevIN) over the real frames of the window, so that a series' level and scale do not
  matter: a run's own scaling (each series standardised on its training span) changes nothing it forecasts;
- a context of up to ``context`` frames: a shorter history is padded at the start and the padding masked (its
  values zeroed, its patches never attended to), the same mask a run's padded short series carry
  (``data/padding.py``); the positions count back from the newest frame, which is always at the end;
- a quantile head: ``taus`` quantiles for each of ``horizon`` steps at once (direct multi-step), so every forecast
  comes with intervals.

**Beyond its horizon** (a run's horizon above the network's) it forecasts by steps of its horizon: the median path of
one step becomes the newest history of the next. The later steps' quantiles are then conditional on that median path
and narrower than the true ones: the rule is stated, not hidden.

**Weights** are one file (``WeightsFile``): the architecture, the state dict and a card (what it was trained on and
how), read with ``torch.load(weights_only=True)``. The package ships one (``SHIPPED``); ``weights:`` names another.

**In a run** the model reads the run's windows of the run's context (which should be level values:
``data.transform: level``; any other transform is refused, as the network was trained on values, not changes) and
forecasts the run's horizon. With ``fine_tune: false`` (the default) a run never trains it: zero-shot. With
``fine_tune: true`` it is trained further on the run's training windows, as any neural kind; ``from_scratch: true``
trains the same network from new weights on them alone, the baseline that says what the pretraining is worth.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from forecaster.errors import ForecasterError
from forecaster.models.heads import POINT, Head, HeadForecaster, QuantileHead
from forecaster.models.transformer import TransformerConfig, TransformerForecaster

SHIPPED = Path(__file__).resolve().parent.parent / "weights" / "pretrained.pt"  # installed with the package
FORMAT = "forecaster-pretrained/1"
# The quantiles the network forecasts: enough for the 80 % and 95 % intervals (and 90 %, 60 %, ...), and the median.
TAUS = (0.025, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.975)


@dataclass(frozen=True)
class PretrainedConfig:
    """The pretrained forecaster: the weights it loads, and whether a run trains it further."""

    weights: str | None = None
    """A weights file written by `forecaster pretrain` (the `pretrained.pt` of its results folder); `None`: the weights
    shipped with the package."""
    fine_tune: bool = False
    """`false`: zero-shot, a run never trains it. `true`: trained further on the run's training windows (the run's
    `train:` settings), starting from the pretrained weights."""
    from_scratch: bool = False
    """`true`: the same network with new weights (drawn from the run's seed), trained on the run's windows alone, whatever
    `fine_tune` says: what pretraining is measured against (`forecaster transfer pretrained`'s `scratch` row)."""


@dataclass(frozen=True)
class Architecture:
    """What the network is: its longest context and direct horizon, its quantiles, and its transformer's settings."""

    context: int
    """The longest history read, a multiple of `patch` (shorter ones are padded and masked)."""
    horizon: int
    """The steps forecast at once; longer horizons step on the median path."""
    taus: tuple[float, ...] = TAUS
    """The quantiles forecast, the median among them."""
    patch: int = 8
    """Frames per token."""
    d_model: int = 64
    """The width of a token's embedding."""
    n_heads: int = 4
    """Attention heads per layer, a divisor of `d_model`."""
    n_layers: int = 3
    """Encoder layers."""
    d_ff: int = 128
    """The width of each layer's feed-forward block."""
    dropout: float = 0.1
    """Dropout in the encoder and before the head, while training."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "taus", tuple(float(tau) for tau in self.taus))
        if 0.5 not in self.taus:
            raise ForecasterError(f"the pretrained network's quantiles {list(self.taus)} must hold the median, 0.5")
        if self.context % self.patch or self.context < 2 * self.patch:
            raise ForecasterError(f"the pretrained network's context {self.context} must be a multiple of its patch "
                                  f"{self.patch}, at least two patches")

    @property
    def transformer(self) -> TransformerConfig:
        """The transformer it is built from: patches, RevIN, a flatten readout over the tokens, the padding mask."""
        return TransformerConfig(d_model=self.d_model, n_heads=self.n_heads, n_layers=self.n_layers, d_ff=self.d_ff,
                                 dropout=self.dropout, patch=self.patch, instance_norm=True, readout="flatten",
                                 positional="learned")


def build_network(architecture: Architecture) -> HeadForecaster:
    """The network: ``forward(past (B, context, 2)) -> (B, horizon, 1, Q)``, the 2 channels a series' values and its
    observed mask (1 on real frames, 0 on the padding before its first value), the Q quantiles ``taus`` unsorted."""
    head = QuantileHead(architecture.taus)
    base = TransformerForecaster(architecture.transformer, context=architecture.context,
                                 horizon=architecture.horizon * head.width, channels=2, targets=1, observed=True)
    return HeadForecaster(base, horizon=architecture.horizon, head=head)


@dataclass(frozen=True)
class WeightsFile:
    """A pretrained network as saved: ``architecture``, ``state`` (the network's state dict) and ``card`` (what made it:
    pool, steps, time, machine, command; plain values)."""

    architecture: Architecture
    state: dict[str, torch.Tensor]
    card: dict[str, Any]

    def save(self, path: str | Path) -> Path:
        """Write the file (through a temporary name, so that an interrupted save leaves no half-written weights)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(path.name + ".partial")
        torch.save({"format": FORMAT, "architecture": dataclasses.asdict(self.architecture), "state": self.state,
                    "card": self.card}, partial)
        partial.replace(path)
        return path

    @classmethod
    def load(cls, path: str | Path | None = None) -> WeightsFile:
        """The weights at ``path`` (None: the shipped ones); one error line for a missing or foreign file."""
        path = Path(path) if path is not None else SHIPPED
        if not path.exists():
            where = "the package ships none in this build" if path == SHIPPED else "no such file"
            raise ForecasterError(f"pretrained weights {str(path)!r}: {where}; write some with forecaster pretrain "
                                  "(experiments/pretrained/pretrained.yaml) and name them in models.pretrained.weights")
        try:
            payload = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as error:  # torch raises many kinds for a file that is not its own
            raise ForecasterError(f"pretrained weights {str(path)!r} could not be read: {error}".splitlines()[0]) from None
        if not isinstance(payload, dict) or payload.get("format") != FORMAT:
            raise ForecasterError(f"{str(path)!r} is not a pretrained forecaster's weights file ({FORMAT})")
        architecture = payload["architecture"]
        return cls(Architecture(**{**architecture, "taus": tuple(architecture["taus"])}), payload["state"], payload["card"])

    def network(self) -> HeadForecaster:
        """The network with these weights."""
        network = build_network(self.architecture)
        network.load_state_dict(self.state)
        return network


class PretrainedForecaster(nn.Module):
    """``forward(past (B, T, C)) -> (B, H, K)`` (or (B, H, K, W) with a quantile ``head``): each of the K target
    channels forecast by the pretrained network as a series of its own.

    ``past`` is a run's window: the K targets first, then other inputs (not read), and, with ``observed``, the run's
    padding mask last. The newest ``architecture.context`` frames are read, a shorter window padded at the start.
    """

    def __init__(self, network: HeadForecaster, architecture: Architecture, *, horizon: int, targets: int,
                 observed: bool, head: Head = POINT) -> None:
        super().__init__()
        self.network = network
        self.architecture = architecture
        self.horizon, self.targets, self.observed = horizon, targets, observed
        self.output_head = head
        if head.shape:
            if not isinstance(head, QuantileHead):
                raise ValueError(f"the pretrained forecaster forecasts quantiles, not a {head.name} head")
            missing = [tau for tau in head.taus if round(tau, 10) not in {round(t, 10) for t in architecture.taus}]
            if missing:
                raise ValueError(f"the pretrained forecaster forecasts the quantiles {list(architecture.taus)}, not {missing}")
        self._columns = [_index(architecture.taus, tau) for tau in (head.taus if head.shape else (0.5,))]

    def forward(self, past: torch.Tensor, future: torch.Tensor | None = None) -> torch.Tensor:
        """``future`` (inputs known ahead) is not read: the network was trained on series alone."""
        batch, frames, _ = past.shape
        mask = past[..., -1] if self.observed else torch.ones_like(past[..., 0])
        values = past[..., : self.targets] * mask[..., None]  # (B, T, K): nothing under the padding is read
        series = values.permute(0, 2, 1).reshape(batch * self.targets, frames)  # target k of window b at b*K + k
        mask = mask.repeat_interleave(self.targets, dim=0)
        quantiles = self.forecast(series, mask, self.horizon)  # (B*K, H, Q) sorted
        quantiles = quantiles[..., self._columns].unflatten(0, (batch, self.targets)).permute(0, 2, 1, 3)  # (B, H, K, W)
        return quantiles if self.output_head.shape else quantiles[..., 0]

    def forecast(self, series: torch.Tensor, mask: torch.Tensor, horizon: int) -> torch.Tensor:
        """The sorted quantiles (N, horizon, Q) of N series (N, T) with their masks: steps of the network's horizon, each
        after the first reading the median path of the steps before it as history (see the module's docstring)."""
        context = self.architecture.context
        series, mask = _fit(series, context), _fit(mask, context)
        # Each window in the units of its own values, as the pool's windows were in pretraining (data/pool_windows.py):
        # the forecast then depends on nothing outside the window, and RevIN's epsilon on nothing a caller scaled.
        center, scale = window_statistics(series, mask)
        series = (series - center) / scale * mask
        steps = []
        while sum(step.shape[1] for step in steps) < horizon:
            outputs = self.network(torch.stack([series, mask], dim=-1))[:, :, 0]  # (N, H_net, Q)
            outputs = torch.sort(outputs, dim=-1).values
            steps.append(outputs)
            median = outputs[..., _index(self.architecture.taus, 0.5)]
            series = torch.cat([series, median], dim=1)[:, -context:]
            mask = torch.cat([mask, torch.ones_like(median)], dim=1)[:, -context:]
        return torch.cat(steps, dim=1)[:, :horizon] * scale[..., None] + center[..., None]


def window_statistics(values: torch.Tensor, observed: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Each window's mean and standard deviation over its real frames (N, 1), a flat one's scale its level's size or 1:
    the rule of ``data/pool_windows.py``'s ``_statistics``, by which every pretraining window was scaled."""
    count = observed.sum(dim=1, keepdim=True).clamp(min=1.0)
    center = (values * observed).sum(dim=1, keepdim=True) / count
    spread = torch.sqrt((((values - center) * observed) ** 2).sum(dim=1, keepdim=True) / count)
    floor = torch.clamp(1e-3 * center.abs(), min=1e-8)
    return center, torch.where(spread > floor, spread, torch.clamp(center.abs(), min=1.0))


class PretrainedEncoder(nn.Module):
    """The network's encoder as ``forecaster embed`` reads an encoder: ``encode(windows (B, T, 1)) -> (B, P, D)``, the
    contextual embedding of each patch. Each window is normalised by its own frames first (RevIN), as when the network
    forecasts, so an embedding does not depend on a series' level or units."""

    def __init__(self, network: HeadForecaster) -> None:
        super().__init__()
        self.base = network.base  # the TransformerForecaster under the quantile head

    @torch.no_grad()
    def encode(self, windows: torch.Tensor) -> torch.Tensor:
        observed = torch.ones_like(windows[..., 0])  # a whole window of values: nothing is padding
        was_training = self.base.training
        self.base.eval()
        center, scale = window_statistics(windows[..., 0], observed)  # as in a forecast (PretrainedForecaster.forecast)
        values, _ = self.base.instance_norm.normalize(((windows[..., 0] - center) / scale)[..., None], observed)
        embeddings = self.base.encoder.encode(torch.cat([values, observed[..., None]], dim=-1))
        self.base.train(was_training)
        return embeddings


def _fit(frames: torch.Tensor, context: int) -> torch.Tensor:
    """(N, T) to (N, context): its newest ``context`` frames, or zeros before it where it is shorter."""
    if frames.shape[1] >= context:
        return frames[:, -context:]
    return torch.cat([frames.new_zeros(frames.shape[0], context - frames.shape[1]), frames], dim=1)


def _index(taus: tuple[float, ...], tau: float) -> int:
    return [round(t, 10) for t in taus].index(round(tau, 10))


def build_pretrained(config: PretrainedConfig, *, horizon: int, targets: int, observed: bool,
                     head: Head = POINT) -> PretrainedForecaster:
    """The pretrained forecaster of ``config`` (its weights loaded, or new ones ``from_scratch``) for a run's horizon,
    targets and head."""
    weights = WeightsFile.load(config.weights)
    network = build_network(weights.architecture) if config.from_scratch else weights.network()
    return PretrainedForecaster(network, weights.architecture, horizon=horizon, targets=targets,
                                observed=observed, head=head)
