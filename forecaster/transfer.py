"""Reuse a trained transformer on another series: zero-shot, linear probe, fine-tune, scratch, naive.

All five are scored on the same windows and split of the target series. The target's inputs are
scaled on its own training span, so the source encoder sees standardised frames whatever the price
level; the source model's output is read in the target's standardised units (zero-shot).
"""

from __future__ import annotations

import copy
import dataclasses

import pandas as pd
from torch import nn

from forecaster.checkpoint import load_model
from forecaster.config import ExperimentConfig, ModelSpec, from_mapping
from forecaster.errors import ForecasterError
from forecaster.experiment import ExperimentResult, prepare_data, score_model
from forecaster.features import DataConfig
from forecaster.models import MODEL_KINDS, NaiveConfig, TransformerForecaster, build_model, freeze
from forecaster.train import TrainConfig, resolve_device, seed_everything, train_model
from forecaster.windows import WindowConfig

# Fine-tuning starts from trained weights: a tenth of the learning rate keeps them from being erased.
FINE_TUNE_LEARNING_RATE_FACTOR = 0.1


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
    """Score the source model and its four reuses on the target ``frame`` (see ``transfer_config``)."""
    source, payload = load_model(checkpoint)
    data = prepare_data(frame, config.data, config.windows)
    if data.dims.channels != payload["dims"]["channels"]:
        raise ForecasterError(f"the source model reads {payload['dims']['channels']} channel(s); the target gives {data.dims.channels}")
    train_windows = data.windows["train"]
    if last_samples is not None:
        if not 1 <= last_samples <= len(train_windows):
            raise ForecasterError(f"--last={last_samples} must be between 1 and the {len(train_windows)} training windows")
        skipped = len(train_windows) - last_samples  # keep the newest windows: the case where reuse should pay
        train_windows = dataclasses.replace(train_windows, first_origin=train_windows.first_origin + skipped, count=last_samples)
    device = resolve_device(config.train.device)
    result = ExperimentResult(config=config, data=data)
    for spec in config.models:
        model, train = _variant(spec, source, data.dims, config.train)
        training = None
        if train is not None:
            seed_everything(config.train.seed)
            training = train_model(model, train_windows, data.windows["val"], train, device=device,
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
