"""Reuse a trained transformer on another series: zero-shot, linear probe, fine-tune, scratch, naive.

All five are scored on the same windows and split of the target series. The target's inputs are
scaled on its own training span, so the source encoder sees standardised frames whatever the price
level; the source model's output is read in the target's standardised units (zero-shot).
"""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import pandas as pd
from torch import nn

from forecaster.checkpoint import Checkpoint
from forecaster.config import ExperimentConfig, ModelSpec
from forecaster.data.features import DataConfig
from forecaster.data.windows import WindowConfig
from forecaster.errors import ForecasterError
from forecaster.models import ModelDims, NaiveConfig, TransformerForecaster, freeze
from forecaster.runs.experiment import ExperimentResult
from forecaster.runs.fitting import build, fit_and_score
from forecaster.runs.prepare import prepare_data
from forecaster.training.loop import TrainConfig, resolve_device, seed_everything

# Fine-tuning starts from trained weights: a tenth of the learning rate keeps them from being erased.
FINE_TUNE_LEARNING_RATE_FACTOR = 0.1


@dataclass(frozen=True)
class TransferRow:
    """One row of the transfer table: where its weights start, what trains, how fast, on which windows.

    ``start``: ``source`` (the checkpoint's weights), ``fresh`` (new weights, the same architecture) or
    ``naive`` (the random walk); ``frozen_encoder``: the source encoder kept as it is under a new head;
    ``learning_rate_factor`` scales the training learning rate; ``last_windows``: train on the newest N
    training windows only (None: all of them).
    """

    name: str
    start: Literal["source", "fresh", "naive"]
    trained: bool = True
    frozen_encoder: bool = False
    learning_rate_factor: float = 1.0
    last_windows: int | None = None


ROWS = (
    TransferRow("zero_shot", "source", trained=False),
    TransferRow("linear_probe", "source", frozen_encoder=True),
    TransferRow("fine_tune", "source", learning_rate_factor=FINE_TUNE_LEARNING_RATE_FACTOR),
    TransferRow("scratch", "fresh"),
)
NAIVE_ROW = TransferRow("naive", "naive", trained=False)


def transfer_rows(last_windows: int | None = None) -> tuple[TransferRow, ...]:
    """The table's rows: zero-shot, linear probe, fine-tune, scratch; with ``last_windows=N`` the three trained
    ones again on the newest N training windows (named ``*_lastN``); the naive forecast last."""
    rows = ROWS
    if last_windows is not None:
        rows += tuple(dataclasses.replace(row, name=f"{row.name}_last{last_windows}", last_windows=last_windows)
                      for row in ROWS if row.trained)
    return rows + (NAIVE_ROW,)


def transfer_config(checkpoint: Checkpoint, *, source: str, column: str | None, transform: str | None,
                    train: TrainConfig, train_fraction: float = 0.7, val_fraction: float = 0.15) -> ExperimentConfig:
    """The target experiment: the checkpoint's window, horizon and features on the new series."""
    if checkpoint.kind != "transformer":
        raise ForecasterError(f"transfer needs a transformer checkpoint; this one holds a {checkpoint.kind} model")
    dims, config = checkpoint.dims, checkpoint.config
    specs = tuple(ModelSpec(name=row.name, kind="transformer", config=config) for row in ROWS)
    specs += (ModelSpec(name=NAIVE_ROW.name, kind="naive", config=NaiveConfig()),)
    return ExperimentConfig(
        data=DataConfig(source=source, column=column, features=checkpoint.columns[1:],
                        transform=transform or checkpoint.transform, calendar=checkpoint.calendar),
        windows=WindowConfig(context=dims.context, horizon=dims.horizon,
                             train_fraction=train_fraction, val_fraction=val_fraction),
        train=train,
        models=specs,
    )


def run_transfer(checkpoint: Checkpoint, frame: pd.DataFrame, config: ExperimentConfig, *,
                 last_samples: int | None = None, progress: bool = False) -> ExperimentResult:
    """Score the source model and its reuses (``transfer_rows``) on the target ``frame`` (see ``transfer_config``).

    ``last_samples=N`` adds ``linear_probe_lastN``, ``fine_tune_lastN`` and ``scratch_lastN``: the same
    three trained on the newest N training windows only (the case where reuse should pay off), scored
    beside the full-data rows in one table.
    """
    if checkpoint.dims.future_channels or config.data.future_spec.channels:
        raise ForecasterError("transfer reuses models that read the past alone for now; this one (or the target config) "
                              "has inputs known ahead (data.future, data.future_calendar, data.holidays)")
    source = checkpoint.model()
    data = prepare_data(frame, config.data, config.windows)
    if data.dims.channels != checkpoint.dims.channels:
        raise ForecasterError(f"the source model reads {checkpoint.dims.channels} channel(s); the target gives {data.dims.channels}")
    full_windows = data.windows["train"]
    if last_samples is not None and not 1 <= last_samples <= len(full_windows):
        raise ForecasterError(f"last_samples={last_samples} must be between 1 and the {len(full_windows)} training windows")
    rows = transfer_rows(last_samples)
    architecture = next(spec.config for spec in config.models if spec.kind == "transformer")
    specs = {spec.name: spec for spec in config.models}
    specs.update({row.name: ModelSpec(name=row.name, kind="transformer", config=architecture)
                  for row in rows if row.name not in specs})
    config = dataclasses.replace(config, models=tuple(specs[row.name] for row in rows))  # the table's order
    device = resolve_device(config.train.device)
    result = ExperimentResult(config=config, data=data)
    for row in rows:
        spec = specs[row.name]
        model = _start_model(row, spec, source, data.dims, seed=config.train.seed)
        train = None
        if row.trained:
            train = dataclasses.replace(config.train, learning_rate=config.train.learning_rate * row.learning_rate_factor)
        windows = full_windows
        if row.last_windows is not None:  # the newest windows: the case where reuse should pay
            skipped = len(full_windows) - row.last_windows
            windows = dataclasses.replace(full_windows, first_origin=full_windows.first_origin + skipped, count=row.last_windows)
        result.runs[spec.name] = fit_and_score(data, spec, model, train, device=device, train=windows,
                                               progress=progress, description=spec.name)
    return result


def _start_model(row: TransferRow, spec: ModelSpec, source: nn.Module, dims: ModelDims, *, seed: int) -> nn.Module:
    """The model of one row before training: the source's weights, a frozen source encoder under a new head, or new."""
    if row.start == "source" and row.frozen_encoder:
        encoder = freeze(copy.deepcopy(source.encoder))
        seed_everything(seed)  # the new head's initial weights
        return TransformerForecaster(spec.config, context=dims.context, horizon=dims.horizon, channels=dims.channels,
                                     targets=dims.targets, encoder=encoder)
    if row.start == "source":
        return copy.deepcopy(source)
    return build(spec, dims, seed=seed)  # scratch (the same architecture, fresh weights) or naive


def save_transfer(result: ExperimentResult, out: str | Path, *, checkpoint: str | Path, last_samples: int | None,
                  transform: str | None) -> Path:
    """``save_run``'s folder of a transfer, plus transfer.yaml: what rebuilds it beside config.yaml.

    transfer.yaml names the source ``checkpoint`` (its absolute path), ``last_samples``, the target's
    ``source`` and ``column``, the ``transform`` asked for (null: the checkpoint's) and the ``train``
    settings that differ from the defaults: the arguments of ``transfer_config`` and ``run_transfer``.
    """
    import yaml

    from forecaster.output.folders import write_folder
    from forecaster.runs.experiment import save_run

    data, defaults = result.config.data, dataclasses.asdict(TrainConfig())
    record = {"checkpoint": str(Path(checkpoint).resolve()), "last_samples": last_samples, "source": data.source,
              "column": data.column, "transform": transform,
              "train": {key: value for key, value in dataclasses.asdict(result.config.train).items() if value != defaults[key]}}

    def write_files(folder: Path) -> None:
        save_run(result, folder)  # into the empty staging folder: the whole folder still appears at once
        (folder / "transfer.yaml").write_text(yaml.safe_dump(record, sort_keys=False))

    return write_folder(out, write_files)
