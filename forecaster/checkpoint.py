"""Checkpoints: one trained model and the fitted pipeline that feeds it, typed in memory, plain on disk.

Reading new data (its columns, transform and scaling, the inputs known ahead) is the fitted pipeline's
(``data/pipeline.py``); this module is the record and its file format.

A ``Checkpoint`` is a frozen record of a trained model: its kind and config, the data's dimensions, its
``Pipeline`` (the input columns, calendar and transform it was trained on, the training span's scaling, a global
model's per-series records), what its prediction intervals are made from, and the weights. A run builds
one in memory (``ExperimentResult.checkpoint``, ``GlobalResult.checkpoint``); ``checkpoint.model()``
rebuilds the module. Only the file boundary
(``save_checkpoint``, ``load_checkpoint``, and ``runs/progress.py`` for its own records) converts it to
and from the file's plain payload, so no other module reads string keys.

On disk it is plain tensors and Python containers, written to a temporary file and renamed (never half
written), and loaded with ``torch.load(..., weights_only=True)`` so that a checkpoint cannot run code.
Format version 4 is written (the fitted pipeline as one ``pipeline`` mapping, ``Pipeline.state``). Earlier files
still load: version 3 (the pipeline's parts at the payload's top level, the output head as ``dims.head``); version 1
(the scaler offset called ``mean``; written before calendars, global models or patches, it lacks those keys); and
version 2 files written before intervals (no ``intervals`` key: the model forecasts points only), before inputs
known ahead (no ``future`` key: the model reads the past alone), before pretraining (no ``head`` key: a whole model)
or before output heads (``dims`` has ``quantiles``, a quantile head's taus or none, instead of ``head``).
A global model's series identity is one channel, the series' index (``dims.series`` N, an embedding of N + 1 rows); files
that hold it as a one-hot of N channels (format version 3 and before) are converted as they are read.

A pretrained encoder (``forecaster pretrain``) is a transformer checkpoint with ``head: false``: its weights
are the encoder's alone (under ``encoder.``), it cannot forecast (``model()`` says to transfer it), and it
holds no training scaling of any one series: its pipeline is ``pooled``, so new data is scaled by its own statistics.
"""

from __future__ import annotations

import dataclasses
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from forecaster.data.calendar import FutureSpec
from forecaster.data.pipeline import Pipeline, floats
from forecaster.errors import ForecasterError
from forecaster.evaluation.conformal import Calibration
from forecaster.mappings import from_mapping, plain_dict
from forecaster.models import ModelDims, TransformerEncoder, build_model, head_from_description, model_kind
from forecaster.older_checkpoints import index_identity, pipeline_before_4
from forecaster.version import __version__

FORMAT_VERSION = 4  # 4: the fitted pipeline as one "pipeline" mapping; 3: dims.head (the output head)
READABLE_VERSIONS = (1, 2, 3, 4)


def _one_line(error: Exception) -> str:
    """An exception's message on one line (the CLI prints errors as one line)."""
    return "; ".join(line.strip() for line in str(error).splitlines() if line.strip()) or type(error).__name__


@dataclass(frozen=True)
class Checkpoint:
    """A trained model and what feeding it new data takes; ``model()`` rebuilds it in eval mode.

    ``offset`` and ``scale`` are what the training span's scaler applies per channel, (x - offset) / scale
    (offset 0 for the differenced transforms, which are not centred). A global model (trained on several
    series) has one ``series`` record per series with its own scaling; ``offset`` and ``scale`` are then
    its first series'. ``state_dict`` is a CPU copy of the weights taken when the checkpoint was made; it
    is left out of ``==`` because tensors do not compare to one bool (compare it with ``torch.equal``).
    """

    name: str
    kind: str
    config: Any  # the kind's config dataclass, e.g. TransformerConfig
    dims: ModelDims
    pipeline: Pipeline  # how new data becomes the model's inputs: columns, transform, scaling (data/pipeline.py)
    state_dict: dict[str, torch.Tensor] = field(compare=False, repr=False)
    intervals: Calibration | None = None  # how the model's intervals are made; None: points only
    series_intervals: tuple[Calibration | None, ...] = ()  # a global model's: each series' own, as pipeline.series
    forecaster_version: str = __version__  # the version that made the checkpoint
    head: bool = True  # False: a pretrained encoder alone (forecaster pretrain), with no head to forecast with

    def __post_init__(self) -> None:
        config_class = model_kind(self.kind).config_class  # a ValueError naming the valid kinds
        if not isinstance(self.config, config_class):
            raise ValueError(f"a {self.kind} checkpoint needs a {config_class.__name__}, got {type(self.config).__name__}")
        pipeline = self.pipeline
        if pipeline.channels != self.dims.channels:
            raise ValueError(f"columns {list(pipeline.columns)} and calendar {list(pipeline.calendar)} give "
                             f"{pipeline.channels} channel(s), but the model reads dims.channels={self.dims.channels}")
        if pipeline.future.channels != self.dims.future_channels:
            raise ValueError(f"the future inputs {pipeline.future} give {pipeline.future.channels} channel(s), but the model "
                             f"reads dims.future_channels={self.dims.future_channels}")

    @classmethod
    def from_model(
        cls, model: nn.Module, *, name: str, kind: str, config: Any, dims: ModelDims, columns: tuple[str, ...],
        transform: str, offset: np.ndarray, scale: np.ndarray, calendar: tuple[str, ...] = (),
        intervals: Calibration | None = None, future: FutureSpec | None = None,
        future_offset: np.ndarray = (), future_scale: np.ndarray = (),
    ) -> Checkpoint:
        """A checkpoint of the trained ``model``, its weights copied to the CPU (later training does not change it)."""
        pipeline = Pipeline(columns=tuple(columns), transform=transform, offset=floats(offset), scale=floats(scale),
                            targets=dims.targets, calendar=tuple(calendar), future=future or FutureSpec(),
                            future_offset=floats(future_offset), future_scale=floats(future_scale))
        return cls.of(model, name=name, kind=kind, config=config, dims=dims, pipeline=pipeline, intervals=intervals)

    @classmethod
    def of(cls, model: nn.Module, *, name: str, kind: str, config: Any, dims: ModelDims, pipeline: Pipeline,
           intervals: Calibration | None = None) -> Checkpoint:
        """A checkpoint of the trained ``model`` and the ``pipeline`` it was trained through, its weights copied to the
        CPU (later training does not change it)."""
        weights = {key: value.detach().to("cpu", copy=True) for key, value in model.state_dict().items()}
        return cls(name=name, kind=kind, config=config, dims=dims, pipeline=pipeline, state_dict=weights, intervals=intervals)

    def model(self) -> nn.Module:
        """Rebuild the model from its config, dimensions and weights (in eval mode)."""
        if not self.head:
            raise ForecasterError(
                f"checkpoint {self.name!r} is a pretrained encoder with no head (forecaster pretrain), so it cannot forecast; "
                "train a head on your series with: forecaster transfer CHECKPOINT --data SOURCE (or read it with forecaster embed)")
        try:
            model = build_model(self.kind, self.config, self.dims)
        except ValueError as error:  # a well-formed config that the kind refuses with these dimensions
            raise ForecasterError(f"checkpoint {self.name!r}: its {self.kind} config builds no model: {_one_line(error)}") from None
        try:
            model.load_state_dict(self.state_dict)
        except RuntimeError as error:  # the weights do not fit the config: a damaged or edited checkpoint
            lines = [line.strip() for line in str(error).splitlines() if line.strip()]
            raise ForecasterError(
                f"checkpoint {self.name!r}: its weights do not match its own config ({lines[1] if len(lines) > 1 else error})"
            ) from None
        return model.eval()

    def encoder(self) -> nn.Module:
        """The trained ``TransformerEncoder`` of a transformer checkpoint (frames -> contextual embeddings)."""
        if self.kind != "transformer":
            raise ForecasterError(f"checkpoint {self.name!r} holds a {self.kind} model, which has no encoder; use a transformer checkpoint")
        if self.head:
            return self.model().encoder
        # A pretrained encoder: channel-independent, so it reads one channel whatever the series holds.
        encoder = TransformerEncoder(self.config, context=self.dims.context, channels=1)
        encoder.load_state_dict({key.removeprefix("encoder."): value for key, value in self.state_dict.items()})
        return encoder.eval()


def to_payload(checkpoint: Checkpoint) -> dict[str, Any]:
    """The file's plain payload of ``checkpoint`` (format version 4): tensors, strings, numbers, lists, dicts."""
    return {
        "format_version": FORMAT_VERSION,
        "forecaster_version": checkpoint.forecaster_version,
        "name": checkpoint.name,
        "kind": checkpoint.kind,
        "config": plain_dict(dataclasses.asdict(checkpoint.config)),
        "dims": _stored_dims(checkpoint.dims),
        "pipeline": checkpoint.pipeline.state(),
        "intervals": _plain_calibration(checkpoint.intervals),
        "series_intervals": [_plain_calibration(calibration) for calibration in checkpoint.series_intervals],
        "state_dict": dict(checkpoint.state_dict),
        "head": checkpoint.head,
    }


def from_payload(payload: Any, where: str) -> Checkpoint:
    """The ``Checkpoint`` of a file's payload (any readable format version); ``where`` names the file in errors."""
    version = payload.get("format_version") if isinstance(payload, dict) else None
    if version not in READABLE_VERSIONS:
        if isinstance(version, int) and version > FORMAT_VERSION:
            raise ForecasterError(f"{where} has checkpoint format version {version}; this forecaster ({__version__}) "
                                  f"reads versions {READABLE_VERSIONS[0]} to {FORMAT_VERSION}, so update forecaster")
        raise ForecasterError(f"{where} is not a forecaster checkpoint of format version {' or '.join(map(str, READABLE_VERSIONS))}")
    try:
        if version < 4:
            payload = index_identity(payload)  # a one-hot series identity (version 3 and before) as the index form
        kind = payload["kind"]
        dims = _dims(payload["dims"])
        head = bool(payload.get("head", True))  # absent before pretraining: a whole model
        return Checkpoint(
            name=str(payload["name"]),
            kind=kind,
            config=from_mapping(model_kind(kind).config_class, payload["config"], "config"),  # missing keys: defaults
            dims=dims,
            pipeline=Pipeline.from_state(payload["pipeline"]) if version >= 4 else pipeline_before_4(payload, version, dims.targets, head),
            state_dict=dict(payload["state_dict"]),
            intervals=_calibration(payload.get("intervals")),  # absent before intervals: points only
            series_intervals=tuple(_calibration(stored) for stored in payload.get("series_intervals", ())),  # before 4: none
            forecaster_version=str(payload.get("forecaster_version", "unknown")),
            head=head,
        )
    except KeyError as error:
        raise ForecasterError(f"checkpoint {where} lacks the key {error}: a damaged or foreign file") from None
    except (TypeError, ValueError) as error:
        # The kind's config class refused the stored config (unknown key, wrong type or value, its own
        # __post_init__), or the parts disagree: one line, not a traceback. ForecasterError is a ValueError.
        raise ForecasterError(f"checkpoint {where}: {_one_line(error)}") from None


def _stored_dims(dims: ModelDims) -> dict[str, Any]:
    """``dims`` as the payload holds them: the head described (plain), ``series`` only when there are identities (so that
    the payload of a model without them is as it was before ``series``)."""
    stored = {**dataclasses.asdict(dims), "head": dims.head.describe()}
    if not dims.series:
        del stored["series"]
    if not dims.observed:  # likewise: written only for a model of a run that padded its short series
        del stored["observed"]
    return stored


def _dims(stored: dict[str, Any]) -> ModelDims:
    taus = floats(stored.get("quantiles", ()))  # before output heads: a quantile head's taus, () for points
    head = stored.get("head", {"name": "quantile", "taus": list(taus)} if taus else {"name": "point"})
    return ModelDims(**{key: value for key, value in stored.items() if key not in ("quantiles", "head")}, head=head_from_description(head))


def _plain_calibration(calibration: Calibration | None) -> dict[str, Any] | None:
    if calibration is None:
        return None
    return {"method": calibration.method, "levels": list(calibration.levels), "radii": [list(row) for row in calibration.radii],
            "targets": [[list(row) for row in radii] for radii in calibration.targets]}


def _calibration(stored: dict[str, Any] | None) -> Calibration | None:
    if stored is None:
        return None
    return Calibration(method=str(stored["method"]), levels=floats(stored["levels"]),
                       radii=tuple(floats(row) for row in stored["radii"]),
                       targets=tuple(tuple(floats(row) for row in radii) for radii in stored.get("targets", ())))  # one target before


def write_payload(payload: dict[str, Any], path: str | Path) -> Path:
    """Write ``payload`` to ``path`` atomically: a temporary file in the same folder, then a rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as file:
            torch.save(payload, file)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path


def _load_failure(error: Exception) -> str:
    """One line saying why torch refused a file (its own message spans a dozen lines)."""
    text = str(error)
    if "Unsupported global" in text:
        name = text.split("Unsupported global:", 1)[1].split(" was not")[0].replace("GLOBAL", "").strip()
        return f"refused to unpickle {name} (a checkpoint may hold only tensors and plain values)"
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else type(error).__name__


def read_payload(path: str | Path) -> Any:
    """Read a file written by ``write_payload`` without unpickling arbitrary objects."""
    path = Path(path)
    if not path.is_file():
        raise ForecasterError(f"checkpoint not found: {str(path)!r}")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises UnpicklingError, RuntimeError, EOFError... for bad files
        raise ForecasterError(f"{path} is not a loadable forecaster checkpoint: {_load_failure(error)}") from None


def save_checkpoint(checkpoint: Checkpoint, path: str | Path) -> Path:
    """Write ``checkpoint`` to ``path`` (format version 4), atomically."""
    return write_payload(to_payload(checkpoint), path)


def load_checkpoint(path: str | Path) -> Checkpoint:
    """Read the checkpoint at ``path`` (any readable format version)."""
    return from_payload(read_payload(path), str(path))


def load_model(path: str | Path) -> tuple[nn.Module, Checkpoint]:
    """Rebuild the model saved at ``path`` (in eval mode) and return it with its checkpoint."""
    checkpoint = load_checkpoint(path)
    return checkpoint.model(), checkpoint


def load_encoder(path: str | Path) -> nn.Module:
    """The trained ``TransformerEncoder`` of the transformer checkpoint at ``path``."""
    return load_checkpoint(path).encoder()
