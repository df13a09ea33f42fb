"""Reuse a trained transformer on another series: zero-shot, linear probe, fine-tune, scratch, naive.

All five are scored on the same windows and split of the target series. The target's inputs are
scaled on its own training span, so the source encoder sees standardised frames whatever the price
level; the source model's output is read in the target's standardised units (zero-shot).
"""

from __future__ import annotations

import copy
import dataclasses
from pathlib import Path

import pandas as pd
from torch import nn

from forecaster.checkpoint import load_model
from forecaster.config import ExperimentConfig, ModelSpec, from_mapping
from forecaster.data.features import DataConfig
from forecaster.data.windows import WindowConfig
from forecaster.errors import ForecasterError
from forecaster.models import MODEL_KINDS, NaiveConfig, TransformerForecaster, build_model, freeze
from forecaster.runs.experiment import ExperimentResult, prepare_data, score_model
from forecaster.training.loop import TrainConfig, resolve_device, seed_everything, train_model

# Fine-tuning starts from trained weights: a tenth of the learning rate keeps them from being erased.
FINE_TUNE_LEARNING_RATE_FACTOR = 0.1
TRAINED_ROWS = ("linear_probe", "fine_tune", "scratch")
LAST_SUFFIX = "_last"  # linear_probe_last300: the linear probe trained on the newest 300 windows


def transfer_config(payload: dict, *, source: str, column: str | None, transform: str | None,
                    train: TrainConfig, train_fraction: float = 0.7, val_fraction: float = 0.15) -> ExperimentConfig:
    """The target experiment: the checkpoint's window, horizon and features on the new series."""
    if payload["kind"] != "transformer":
        raise ForecasterError(f"transfer needs a transformer checkpoint; this one holds a {payload['kind']} model")
    dims = payload["dims"]
    config = from_mapping(MODEL_KINDS["transformer"].config_class, payload["config"], "checkpoint")
    specs = tuple(
        ModelSpec(name=name, kind="transformer", config=config) for name in ("zero_shot", "linear_probe", "fine_tune", "scratch")
    ) + (ModelSpec(name="naive", kind="naive", config=NaiveConfig()),)
    return ExperimentConfig(
        data=DataConfig(source=source, column=column, features=tuple(payload["columns"][1:]),
                        transform=transform or payload["transform"], calendar=tuple(payload.get("calendar", ()))),
        windows=WindowConfig(context=dims["context"], horizon=dims["horizon"],
                             train_fraction=train_fraction, val_fraction=val_fraction),
        train=train,
        models=specs,
    )


def run_transfer(checkpoint: str, frame: pd.DataFrame, config: ExperimentConfig, *,
                 last_samples: int | None = None, progress: bool = False) -> ExperimentResult:
    """Score the source model and its four reuses on the target ``frame`` (see ``transfer_config``).

    ``last_samples=N`` adds ``linear_probe_lastN``, ``fine_tune_lastN`` and ``scratch_lastN``: the same
    three trained on the newest N training windows only (the case where reuse should pay off), scored
    beside the full-data rows in one table.
    """
    source, payload = load_model(checkpoint)
    data = prepare_data(frame, config.data, config.windows)
    if data.dims.channels != payload["dims"]["channels"]:
        raise ForecasterError(f"the source model reads {payload['dims']['channels']} channel(s); the target gives {data.dims.channels}")
    full_windows = data.windows["train"]
    newest_windows = None
    if last_samples is not None:
        if not 1 <= last_samples <= len(full_windows):
            raise ForecasterError(f"--last={last_samples} must be between 1 and the {len(full_windows)} training windows")
        skipped = len(full_windows) - last_samples  # keep the newest windows: the case where reuse should pay
        newest_windows = dataclasses.replace(full_windows, first_origin=full_windows.first_origin + skipped, count=last_samples)
        trained = [spec for spec in config.models if spec.name in TRAINED_ROWS]
        extra = tuple(dataclasses.replace(spec, name=f"{spec.name}{LAST_SUFFIX}{last_samples}") for spec in trained)
        config = dataclasses.replace(config, models=config.models[:-1] + extra + config.models[-1:])  # naive stays last
    device = resolve_device(config.train.device)
    result = ExperimentResult(config=config, data=data)
    for spec in config.models:
        row, _, _ = spec.name.partition(LAST_SUFFIX)
        model, train = _variant(dataclasses.replace(spec, name=row), source, data.dims, config.train)
        training = None
        if train is not None:
            seed_everything(config.train.seed)
            windows = newest_windows if row != spec.name else full_windows
            training = train_model(model, windows, data.windows["val"], train, device=device,
                                   progress=progress, description=spec.name)
        result.runs[spec.name] = score_model(data, spec, model, training, device=device)
    return result


def _variant(spec: ModelSpec, source: nn.Module, dims, train: TrainConfig) -> tuple[nn.Module, TrainConfig | None]:
    """The model of one row and how to train it (None: scored as it is)."""
    if spec.name == "zero_shot":
        return copy.deepcopy(source), None
    if spec.name == "linear_probe":
        encoder = freeze(copy.deepcopy(source.encoder))
        seed_everything(train.seed)
        model = TransformerForecaster(spec.config, context=dims.context, horizon=dims.horizon,
                                      channels=dims.channels, encoder=encoder)
        return model, train
    if spec.name == "fine_tune":
        fine = dataclasses.replace(train, learning_rate=train.learning_rate * FINE_TUNE_LEARNING_RATE_FACTOR)
        return copy.deepcopy(source), fine
    seed_everything(train.seed)
    model = build_model(spec.kind, spec.config, dims)  # scratch: the same architecture, fresh weights; or naive
    return model, (train if spec.name == "scratch" else None)


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
