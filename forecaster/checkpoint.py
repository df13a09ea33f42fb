"""Checkpoints that rebuild their model: config, dimensions, features, transform, scaler, weights.

Saved as plain tensors and Python containers, written to a temporary file and renamed (never half
written), and loaded with ``torch.load(..., weights_only=True)`` so that a checkpoint cannot run code.
"""

from __future__ import annotations

import dataclasses
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from forecaster.config import from_mapping, plain_dict
from forecaster.data.features import DataConfig
from forecaster.errors import ForecasterError
from forecaster.models import ModelDims, build_model, model_kind
from forecaster.version import __version__

FORMAT_VERSION = 1


def checkpoint_payload(
    *,
    name: str,
    kind: str,
    config: Any,
    dims: ModelDims,
    columns: tuple[str, ...],
    transform: str,
    scaler_mean: list[float],
    scaler_scale: list[float],
    model: nn.Module,
    calendar: tuple[str, ...] = (),
) -> dict[str, Any]:
    """Everything needed to rebuild ``model`` and feed it new data, as weights-only-loadable values."""
    return {
        "format_version": FORMAT_VERSION,
        "forecaster_version": __version__,
        "name": name,
        "kind": kind,
        "config": plain_dict(dataclasses.asdict(config)),
        "dims": dataclasses.asdict(dims),
        "columns": list(columns),
        "calendar": list(calendar),  # calendar channels after the columns' (hour, day_of_week, day_of_year)
        "transform": transform,
        "scaler": {"mean": [float(v) for v in scaler_mean], "scale": [float(v) for v in scaler_scale]},
        "state_dict": {key: value.detach().cpu() for key, value in model.state_dict().items()},
    }


def series_entry(payload: dict[str, Any], source: str | None) -> dict[str, Any] | None:
    """A global checkpoint's record of the series ``source`` (matched by source or label), else None."""
    for entry in payload.get("series") or ():
        if source is not None and source in (entry["source"], entry["label"]):
            return entry
    return None


def input_config(
    payload: dict[str, Any], *, column: str | None = None, transform: str | None = None, source: str | None = None,
) -> DataConfig:
    """How to read new data for a checkpoint's model: its input columns, calendar and transform (target renamable).

    A global model (trained on several series) reads each of its series' own target column; a series
    it never saw gets the usual default target (Adj Close, Close, or the only column) unless named.
    """
    columns = payload["columns"]
    entry = series_entry(payload, source)
    if entry is not None:
        columns = entry["columns"]
    elif payload.get("series"):
        columns = [None, *columns[1:]]
    return DataConfig(column=column or columns[0], features=tuple(columns[1:]), transform=transform or payload["transform"],
                      calendar=tuple(payload.get("calendar", ())))  # checkpoints from before calendars have none


def scaling(
    payload: dict[str, Any], *, frames: np.ndarray, source: str | None = None, transform: str | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The (offset, scale) per channel for feeding new data to the checkpoint's model: (x - offset) / scale.

    The training span's statistics, when the new data is read with the model's own transform and, for
    a global model (trained on several series), is one of its series (``source`` matches one's source or
    label). Otherwise the new ``frames`` (L, C) are scaled by their own statistics, as every series of a
    global model was by its own training span: centred for levels only, like training.
    """
    own_transform = transform is None or transform == payload["transform"]
    if own_transform:
        # A single-series model's training scaler; a global model's scaler of the series it reads.
        trained = series_entry(payload, source) or (None if payload.get("series") else payload["scaler"])
        if trained is not None:
            return np.asarray(trained["mean"], dtype=np.float64), np.asarray(trained["scale"], dtype=np.float64)
    centred = (transform or payload["transform"]) == "level"
    offset = frames.mean(axis=0) if centred else np.zeros(frames.shape[1])
    scale = frames.std(axis=0)
    return offset, np.where(scale > 0, scale, 1.0)


def save_checkpoint(payload: dict[str, Any], path: str | Path) -> Path:
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


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Read a checkpoint's payload without unpickling arbitrary objects."""
    path = Path(path)
    if not path.is_file():
        raise ForecasterError(f"checkpoint not found: {str(path)!r}")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises UnpicklingError, RuntimeError, EOFError... for bad files
        raise ForecasterError(f"{path} is not a loadable forecaster checkpoint: {_load_failure(error)}") from None
    if not isinstance(payload, dict) or payload.get("format_version") != FORMAT_VERSION:
        raise ForecasterError(f"{path} is not a forecaster checkpoint of format version {FORMAT_VERSION}")
    return payload


def model_from_payload(payload: dict[str, Any]) -> nn.Module:
    """Rebuild a checkpoint's model from its config, dimensions and weights (in eval mode)."""
    kind = payload["kind"]
    config = from_mapping(model_kind(kind).config_class, payload["config"], f"checkpoint {payload['name']}")
    model = build_model(kind, config, ModelDims(**payload["dims"]))
    try:
        model.load_state_dict(payload["state_dict"])
    except RuntimeError as error:  # the weights do not fit the config: a damaged or edited checkpoint
        raise ForecasterError(
            f"checkpoint {payload['name']!r}: its weights do not match its own config "
            f"({str(error).splitlines()[1].strip() if len(str(error).splitlines()) > 1 else error})"
        ) from None
    return model.eval()


def load_encoder(path: str | Path) -> nn.Module:
    """The trained ``TransformerEncoder`` of a transformer checkpoint (frames -> contextual embeddings)."""
    model, payload = load_model(path)
    if payload["kind"] != "transformer":
        raise ForecasterError(f"{path} holds a {payload['kind']} model, which has no encoder; use a transformer checkpoint")
    return model.encoder


def load_model(path: str | Path) -> tuple[nn.Module, dict[str, Any]]:
    """Rebuild the model saved at ``path`` (in eval mode) and return it with its payload."""
    payload = load_checkpoint(path)
    return model_from_payload(payload), payload
