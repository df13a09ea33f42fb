"""Reuse a trained transformer on another series: zero-shot, linear probe, fine-tune, scratch, naive.

All five are scored on the same windows and split of the target series. The target's inputs are
scaled on its own training span, so the source encoder sees standardised frames whatever the price
level; the source model's output is read in the target's standardised units (zero-shot). A model of K
targets transfers onto a series that has the same K target columns, and every row forecasts the K.

When the source's head cannot serve the target (a pretrained encoder has none, ``forecaster pretrain``;
or the target asks for another horizon), there is no zero-shot row, and fine-tuning goes in two stages
as PatchTST's does: the head first with the encoder frozen (that is the linear probe), then every weight
from there at a tenth of the learning rate. ``reuse/study.py`` repeats the rows over sizes and seeds.
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
from forecaster.data.windows import WindowConfig, WindowSet
from forecaster.errors import ForecasterError
from forecaster.models import ModelDims, NaiveConfig, TransformerForecaster, freeze
from forecaster.runs.experiment import ExperimentResult
from forecaster.runs.fitting import ModelRun, build, fit_and_score
from forecaster.runs.prepare import PreparedData, prepare_data
from forecaster.training.loop import TrainConfig, resolve_device, seed_everything

# Fine-tuning starts from trained weights: a tenth of the learning rate keeps them from being erased.
FINE_TUNE_LEARNING_RATE_FACTOR = 0.1


@dataclass(frozen=True)
class TransferRow:
    """One row of the transfer table: where its weights start, what trains, how fast, on which windows.

    ``start``: ``source`` (the checkpoint's weights), ``fresh`` (new weights, the same architecture),
    ``naive`` (the random walk) or ``probe`` (the trained model of the row ``after``, the linear probe, with
    its encoder unfrozen: fine-tuning's second stage); ``frozen_encoder``: the source encoder kept as it is
    under a new head; ``learning_rate_factor`` scales the training learning rate; ``last_windows``: train
    on the newest N training windows only (None: all of them).
    """

    name: str
    start: Literal["source", "fresh", "naive", "probe"]
    trained: bool = True
    frozen_encoder: bool = False
    learning_rate_factor: float = 1.0
    last_windows: int | None = None
    after: str | None = None  # start "probe": the row whose trained model this one starts from

    def sized(self, windows: int | None, name: str | None = None) -> TransferRow:
        """This row trained on the newest ``windows`` training windows, renamed ``name`` (its ``after`` alike)."""
        suffix = "" if name is None else name.removeprefix(self.name)
        after = None if self.after is None else f"{self.after}{suffix}"
        return dataclasses.replace(self, name=name or self.name, last_windows=windows, after=after)


ROWS = (
    TransferRow("zero_shot", "source", trained=False),
    TransferRow("linear_probe", "source", frozen_encoder=True),
    TransferRow("fine_tune", "source", learning_rate_factor=FINE_TUNE_LEARNING_RATE_FACTOR),
    TransferRow("scratch", "fresh"),
)
NAIVE_ROW = TransferRow("naive", "naive", trained=False)
# Without a head that fits the target: no zero-shot, and fine-tuning starts from the trained linear probe.
NEW_HEAD_ROWS = (ROWS[1], TransferRow("fine_tune", "probe", learning_rate_factor=FINE_TUNE_LEARNING_RATE_FACTOR,
                                      after="linear_probe"), ROWS[3])


def transfer_rows(last_windows: int | None = None, *, head: bool = True,
                  rows: tuple[TransferRow, ...] | None = None) -> tuple[TransferRow, ...]:
    """The table's rows: zero-shot, linear probe, fine-tune, scratch; with ``last_windows=N`` the trained ones again
    on the newest N training windows (named ``*_lastN``); the naive forecast last. ``head`` False (the source's head
    cannot serve the target): ``NEW_HEAD_ROWS``, with no zero-shot row. ``rows``: other rows than those."""
    rows = rows if rows is not None else ROWS if head else NEW_HEAD_ROWS
    if last_windows is not None:
        rows += tuple(row.sized(last_windows, f"{row.name}_last{last_windows}") for row in rows if row.trained)
    return rows + (NAIVE_ROW,)


@dataclass(frozen=True)
class Source:
    """What a transfer reuses: the source's encoder, and its whole model when the head fits the target (else None)."""

    encoder: nn.Module
    model: nn.Module | None

    @classmethod
    def of(cls, checkpoint: Checkpoint, horizon: int) -> Source:
        """The checkpoint's encoder, and its model when it has a head for ``horizon`` steps."""
        if checkpoint.head and horizon == checkpoint.dims.horizon:
            model = checkpoint.model()
            return cls(model.encoder, model)
        return cls(checkpoint.encoder(), None)


def target_transform(checkpoint: Checkpoint, frame: pd.DataFrame, transform: str | None) -> str | None:
    """The target's transform: ``transform`` when given; for a pretrained encoder (no head), the pool's rule
    (``source_channels``: a price series as log-returns, anything else in levels), since that is what it read;
    otherwise None, the checkpoint's own."""
    if transform is not None or checkpoint.head:
        return transform
    from forecaster.reuse.pretrain import source_channels

    return source_channels(frame)[0][1]


def transfer_config(checkpoint: Checkpoint, *, source: str, column: str | None, transform: str | None,
                    train: TrainConfig, train_fraction: float = 0.7, val_fraction: float = 0.15,
                    horizon: int | None = None) -> ExperimentConfig:
    """The target experiment: the checkpoint's window, horizon (or ``horizon``) and features on the new series.

    A model of K targets reads its K target columns on the new series (``column`` renames the first), as
    ``forecaster forecast`` does; its new heads forecast the K targets.
    """
    if checkpoint.kind != "transformer":
        raise ForecasterError(f"transfer needs a transformer checkpoint; this one holds a {checkpoint.kind} model")
    dims, config = checkpoint.dims, checkpoint.config
    specs = tuple(ModelSpec(name=row.name, kind="transformer", config=config) for row in ROWS)
    specs += (ModelSpec(name=NAIVE_ROW.name, kind="naive", config=NaiveConfig()),)
    pipeline = checkpoint.pipeline
    columns, targets = pipeline.columns, dims.targets
    if targets > 1:
        data = DataConfig(source=source, targets=(column or columns[0], *columns[1:targets]), features=columns[targets:],
                          transform=transform or pipeline.transform, calendar=pipeline.calendar)
    else:
        data = DataConfig(source=source, column=column, features=columns[1:], transform=transform or pipeline.transform,
                          calendar=pipeline.calendar)
    return ExperimentConfig(
        data=data,
        windows=WindowConfig(context=dims.context, horizon=horizon or dims.horizon,
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
    source = Source.of(checkpoint, config.windows.horizon)
    data = transfer_data(checkpoint, frame, config)
    return transfer_table(transfer_rows(last_samples, head=source.model is not None), source, data, config,
                          last_samples=last_samples, progress=progress)


def transfer_table(rows: tuple[TransferRow, ...], source: Source, data: PreparedData, config: ExperimentConfig, *,
                   last_samples: int | None = None, progress: bool = False) -> ExperimentResult:
    """``rows`` of ``source`` trained and scored on the target ``data``, in one table (``run_transfer``'s, for any
    source: a checkpoint's, or the pretrained forecaster's, ``reuse/pretrained_transfer.py``)."""
    newest_windows(data, last_samples)  # a size that does not fit fails before any training
    specs = row_specs(config, rows)
    config = dataclasses.replace(config, models=tuple(specs.values()))  # the table's order
    result = ExperimentResult(config=config, data=data)
    result.runs.update(score_rows(rows, specs, source, data, config.train, progress=progress))
    return result


def transfer_data(checkpoint: Checkpoint, frame: pd.DataFrame, config: ExperimentConfig) -> PreparedData:
    """The target's windows, checked against what the source model reads."""
    if checkpoint.dims.future_channels or config.data.future_spec.channels:
        raise ForecasterError("transfer puts the source's encoder under a head fit to the target's past alone, and the "
                              "source's inputs-known-ahead head was fit to the source's own inputs; this one (or the target config) "
                              "has inputs known ahead (data.future, data.future_calendar, data.holidays)")
    data = prepare_data(frame, config.data, config.windows)
    if data.dims.targets != checkpoint.dims.targets:
        raise ForecasterError(f"the source model forecasts {checkpoint.dims.targets} target(s); the target config names "
                              f"{data.dims.targets} ({', '.join(data.series.target_names)})")
    if data.dims.channels != checkpoint.dims.channels:
        raise ForecasterError(f"the source model reads {checkpoint.dims.channels} channel(s); the target gives {data.dims.channels}")
    return data


def newest_windows(data: PreparedData, count: int | None) -> WindowSet:
    """The newest ``count`` training windows (None: all): the case where reuse should pay."""
    windows = data.windows["train"]
    if count is None:
        return windows
    if not 1 <= count <= len(windows):
        raise ForecasterError(f"last_samples={count} must be between 1 and the {len(windows)} training windows")
    return dataclasses.replace(windows, first_origin=windows.first_origin + len(windows) - count, count=count)


def row_specs(config: ExperimentConfig, rows: tuple[TransferRow, ...]) -> dict[str, ModelSpec]:
    """Each row's model spec, in the rows' order: the config's own, else that of the row it is a sized copy of
    (``fine_tune_last100``: ``fine_tune``'s), else the transformer's architecture."""
    specs = {spec.name: spec for spec in config.models}

    def spec_of(name: str) -> ModelSpec:
        base = name.rpartition("_last")[0]
        if name in specs or base in specs:
            return dataclasses.replace(specs.get(name) or specs[base], name=name)
        architecture = next(spec.config for spec in config.models if spec.kind == "transformer")
        return ModelSpec(name=name, kind="transformer", config=architecture)

    return {row.name: spec_of(row.name) for row in rows}


def score_rows(rows: tuple[TransferRow, ...], specs: dict[str, ModelSpec], source: Source, data: PreparedData,
               train: TrainConfig, *, progress: bool = False, label: str = "") -> dict[str, ModelRun]:
    """Train (unless naive or zero-shot) and score each row on the target ``data``, in order; ``label`` tags the progress bars.

    A ``probe`` row starts from the trained model of its ``after`` row, which comes before it; its
    ``train_seconds`` count both stages.
    """
    device = resolve_device(train.device)
    runs: dict[str, ModelRun] = {}
    for row in rows:
        spec = specs[row.name]
        model = _start_model(row, spec, source, data.dims, seed=train.seed, runs=runs)
        config = None
        if row.trained:
            config = dataclasses.replace(train, learning_rate=train.learning_rate * row.learning_rate_factor)
        runs[row.name] = fit_and_score(data, spec, model, config, device=device, train=newest_windows(data, row.last_windows),
                                       progress=progress, description=f"{row.name}{label}")
        if row.after is not None:
            runs[row.name].training.seconds += runs[row.after].training.seconds
    return runs


def _start_model(row: TransferRow, spec: ModelSpec, source: Source, dims: ModelDims, *, seed: int,
                 runs: dict[str, ModelRun]) -> nn.Module:
    """The model of one row before training: the source's weights, a frozen source encoder under a new head,
    the trained probe unfrozen, or new."""
    if row.start == "source" and row.frozen_encoder:
        encoder = freeze(copy.deepcopy(source.encoder))
        seed_everything(seed)  # the new head's initial weights
        return TransformerForecaster(spec.config, context=dims.context, horizon=dims.horizon, channels=dims.channels,
                                     targets=dims.targets, encoder=encoder)
    if row.start == "source":
        return copy.deepcopy(source.model)
    if row.start == "probe":
        model = copy.deepcopy(runs[row.after].model)
        for parameter in model.parameters():  # the second stage: every weight trains
            parameter.requires_grad_(True)
        return model
    return build(spec, dims, seed=seed)  # scratch (the same architecture, fresh weights) or naive


def save_transfer(result: ExperimentResult, out: str | Path, *, checkpoint: str | Path, last_samples: int | None,
                  transform: str | None, horizon: int | None = None) -> Path:
    """``save_run``'s folder of a transfer, plus transfer.yaml: what rebuilds it beside config.yaml.

    transfer.yaml names the source ``checkpoint`` (its absolute path), ``last_samples``, the target's
    ``source`` and ``column``, the ``transform`` asked for (null: the checkpoint's) and the ``train``
    settings that differ from the defaults, and the ``horizon`` when one was asked for: the arguments of
    ``transfer_config`` and ``run_transfer``. A model of several targets adds ``targets``, the K columns
    read; its ``column`` is the first of them (what ``transfer_config``'s ``column`` renames).
    """
    import yaml

    from forecaster.output.folders import write_folder
    from forecaster.runs.experiment import save_run

    data, defaults = result.config.data, dataclasses.asdict(TrainConfig())
    targets = result.data.series.target_names
    where = str(Path(checkpoint).resolve()) if Path(checkpoint).exists() else str(checkpoint)  # or the word pretrained
    record = {"checkpoint": where, "last_samples": last_samples, "source": data.source,
              "column": data.column if len(targets) == 1 else targets[0],
              **({"targets": list(targets)} if len(targets) > 1 else {}), "transform": transform,
              "train": {key: value for key, value in dataclasses.asdict(result.config.train).items() if value != defaults[key]}}
    if horizon is not None:  # another horizon than the checkpoint's (recorded only when asked for)
        record["horizon"] = horizon

    def write_files(folder: Path) -> None:
        save_run(result, folder)  # into the empty staging folder: the whole folder still appears at once
        (folder / "transfer.yaml").write_text(yaml.safe_dump(record, sort_keys=False))

    return write_folder(out, write_files)
