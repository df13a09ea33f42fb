"""Checkpoint files written before format version 4, read into today's layout (``checkpoint.py`` is the format).

Before version 4 the fitted pipeline's parts lay at the payload's top level (``pipeline_before_4``), and a global
model's series identity was a one-hot of its N series (``index_identity`` turns it into the index form, converting
the weights with ``models.future.identity_from_one_hot``).
"""

from __future__ import annotations

from typing import Any

from forecaster.data.calendar import FutureSpec
from forecaster.data.pipeline import Pipeline, SeriesScaling, floats
from forecaster.models import model_kind
from forecaster.models.future import identity_from_one_hot


def pipeline_before_4(payload: dict[str, Any], version: int, targets: int, head: bool) -> Pipeline:
    """The pipeline of a file written before format version 4, whose parts lie at the payload's top level."""
    offset_key = "mean" if version == 1 else "offset"  # version 1 called the scaler's offset its mean
    return Pipeline(
        columns=tuple(payload["columns"]),
        transform=payload["transform"],
        offset=floats(payload["scaler"][offset_key]),
        scale=floats(payload["scaler"]["scale"]),
        targets=targets,
        calendar=tuple(payload.get("calendar", ())),  # checkpoints from before calendars have none
        series=tuple(
            SeriesScaling(label=str(entry["label"]), source=str(entry["source"]), columns=tuple(entry["columns"]),
                          offset=floats(entry[offset_key]), scale=floats(entry["scale"]),
                          future_offset=floats(entry.get("future_offset", ())), future_scale=floats(entry.get("future_scale", ())))
            for entry in payload.get("series") or ()
        ),
        pooled=not head,  # a pretrained encoder read a pool of series, each scaled by its own statistics
        **_future(payload.get("future")),  # absent before inputs known ahead: none
    )


def _future(stored: dict[str, Any] | None) -> dict[str, Any]:
    if not stored:
        return {}
    spec = FutureSpec(columns=tuple(stored["columns"]), calendar=tuple(stored["calendar"]), holidays=stored["holidays"],
                      series=tuple(stored.get("series", ())))
    return {"future": spec, "future_offset": floats(stored["offset"]), "future_scale": floats(stored["scale"])}


def index_identity(payload: dict[str, Any]) -> dict[str, Any]:
    """``payload`` with its series identity in the index form (one channel, an embedding: ``identity_from_one_hot``) where
    it holds a one-hot of its N series (format version 3 and before: ``dims.future_channels`` counts N identity channels
    after the known ones, and ``dims`` has no ``series``); else ``payload`` itself."""
    future, stored = payload.get("future") or {}, payload["dims"]
    count = len(future.get("series") or ())
    known = count and FutureSpec(tuple(future["columns"]), tuple(future["calendar"]), future["holidays"]).channels
    if not count or stored.get("future_channels", 0) - known != count or "series" in stored:
        return payload  # no identity, or the index form (one identity channel, dims.series written)

    def index_form(offset: list[float]) -> list[float]:  # the known inputs' scaling, then the identity's: read unscaled
        return [*list(offset)[:known], float(offset[known])] if len(offset) else []

    series = [{**entry, **{key: index_form(entry.get(key, ())) for key in ("future_offset", "future_scale")}}
              for entry in payload.get("series") or ()]
    state_dict = payload["state_dict"]
    if model_kind(payload["kind"]).trainable:  # a FutureForecaster's head (naive kinds read no inputs known ahead)
        state_dict = identity_from_one_hot(state_dict, series=count)
    return {**payload, "dims": {**stored, "future_channels": known + 1, "series": count}, "series": series, "state_dict": state_dict,
            "future": {**future, "offset": index_form(future["offset"]), "scale": index_form(future["scale"])}}
