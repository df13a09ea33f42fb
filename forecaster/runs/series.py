"""The series of a run: their labels and own configs, which get figures, and reading them once.

One run's series are the entries of ``data.source`` (bundled names, CSV paths, tickers), each labelled by its name or
file stem, or the series of one long-format table (``data/panel.py``), or of one competition subset (``m3:monthly``,
``data/competitions.py``), each labelled by its id. Each series is
prepared with its own config (``series_configs``): ``data.source`` its source, or a long table's id.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pandas as pd

from forecaster.config import ExperimentConfig
from forecaster.data.competitions import config_subset, load_competition
from forecaster.data.panel import is_long_frame, load_long, long_options, long_source, read_long
from forecaster.data.sources import load_prices
from forecaster.errors import ForecasterError

POOLED = "all"  # the series label of the pooled rows


def is_global(config: ExperimentConfig) -> bool:
    """Whether ``config`` trains one model on several series: several sources, or one long-format table."""
    return len(config.data.sources) > 1 or long_source(config.data) or config_subset(config.data.sources) is not None


def file_name(label: str) -> str:
    """``label`` fit for a file name (letters, digits and ``_.-^``; others become ``_``): a long table's ids may hold
    any character."""
    return "".join(c if c.isalnum() or c in "_.-^" else "_" for c in label) or "series"


def series_labels(sources: tuple[str, ...]) -> list[str]:
    """Short unique names for the series: the bundled name or ticker, or a CSV file's stem."""
    labels = []
    for source in sources:
        label = Path(source).stem if source.lower().endswith(".csv") else source
        label = file_name(label)
        while label in labels or label == POOLED:
            label += "_2"
        labels.append(label)
    return labels


def few(labels: list[str], limit: int = 20) -> str:
    """``labels`` comma-separated, the first ``limit`` of them where there are more (a run may have thousands)."""
    return ", ".join(labels) if len(labels) <= limit else f"{', '.join(labels[:limit])}, ... ({len(labels)} in all)"


def series_configs(config: ExperimentConfig, frames: dict[str, pd.DataFrame]) -> dict[str, ExperimentConfig]:
    """Each series' own config by label, ``data.source`` its source: its entry of ``data.source``; or, for a long table
    (or frames by labels ``data.source`` does not give), its id, the target ``data.value_column`` where the frame has
    it and neither ``data.column`` nor ``data.targets`` names one."""
    labels = series_labels(config.data.sources)
    if not long_source(config.data) and set(labels) <= set(frames):
        return {label: _with_data(config, source=source) for label, source in zip(labels, config.data.sources)}
    if POOLED in frames:
        raise ForecasterError(f"a series is labelled {POOLED!r}, the label of the pooled rows; rename that series' id")
    named = config.data.column is not None or config.data.targets is not None
    return {label: _with_data(config, source=label, **({} if named or config.data.value_column not in frame.columns
                                                        else {"column": config.data.value_column}))
            for label, frame in frames.items()}


def _with_data(config: ExperimentConfig, **changes) -> ExperimentConfig:
    return dataclasses.replace(config, data=dataclasses.replace(config.data, **changes))


def figure_series(config: ExperimentConfig, labels: list[str] | None = None) -> list[str]:
    """The series that get figures of their own (``figures.series``): the first N, or those named, in the order given;
    ``labels``: the run's series (default: those ``data.source`` lists)."""
    labels, wanted = labels or series_labels(config.data.sources), config.figures.series
    if isinstance(wanted, int):
        return labels[:wanted]
    unknown = [label for label in wanted if label not in labels]
    if unknown:
        raise ForecasterError(f"figures.series names {unknown[0]!r}, which is not a series of this run; its series: {few(labels)}")
    return list(wanted)


def figures_note(config: ExperimentConfig, labels: list[str] | None = None) -> str | None:
    """One line saying which series got figures of their own, where some were left out (None where none was)."""
    labels = labels or series_labels(config.data.sources)
    drawn = figure_series(config, labels)
    if len(drawn) == len(labels):
        return None
    return (f"figures of {len(drawn)} of {len(labels)} series: {few(drawn) if drawn else 'none'} "
            "(figures.series chooses them: a count, or labels)")


def load_frames(config: ExperimentConfig) -> dict[str, pd.DataFrame]:
    """Each series of ``data.source`` (or of its long table) read once (``start``/``end`` applied), by label; errors name
    the series."""
    if long_source(config.data):
        return load_long(config.data)
    _refuse_frequency(config)
    subset = config_subset(config.data.sources)
    if subset is not None:
        if config.windows.split == "holdout" and config.windows.horizon != subset.horizon:
            raise ForecasterError(f"{subset.name} with windows.split=holdout tests on each series' official last "
                                  f"{subset.horizon} values: set windows.horizon={subset.horizon} (it is "
                                  f"{config.windows.horizon})")
        return load_competition(subset)
    frames = {}
    for label, source in zip(series_labels(config.data.sources), config.data.sources):
        try:
            frames[label] = load_prices(source, start=config.data.start, end=config.data.end)
        except ForecasterError as error:
            raise ForecasterError(f"series {label!r}: {error}") from None
    return frames


def _refuse_frequency(config: ExperimentConfig) -> None:
    """An error where ``data.frequency`` is set for data that is not a long table (it has no effect there)."""
    if config.data.frequency is not None:
        raise ForecasterError(f"data.frequency={config.data.frequency} is read for long tables (unique_id, ds, y) only; "
                              "leave it out for this data, whose frequency comes from its dates")


Frames = pd.DataFrame | dict[str, pd.DataFrame]  # one series' frame, or several series' frames by label


def load_data(config: ExperimentConfig, frame: Frames | None = None) -> Frames:
    """The config's series read once: one frame, or several by label (``load_frames``) for a global run; ``frame``, where
    given, instead (a long DataFrame split into its series by ``data/panel.read_long``)."""
    if frame is not None:
        if is_long_frame(frame, config.data):
            return read_long(frame, **long_options(config.data))
        _refuse_frequency(config)
        return frame
    if is_global(config):
        return load_frames(config)
    _refuse_frequency(config)
    return load_prices(config.data.sources[0], start=config.data.start, end=config.data.end)
