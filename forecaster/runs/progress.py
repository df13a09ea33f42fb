"""Interrupted runs: each finished model is kept in ``<out>.incomplete`` so that ``--resume`` finishes the rest.

While ``forecaster run --out DIR`` trains, ``DIR.incomplete/`` holds the resolved config, a marker file
saying the run did not finish, and one file per finished model (its checkpoint, training record, test
forecasts and metrics). ``DIR`` itself appears only when every model is done; then the progress folder
goes. ``forecaster run --resume DIR`` reloads the finished models and trains the others with the same
seeds, so the outcome equals an uninterrupted run.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import torch

from forecaster.checkpoint import Checkpoint, from_payload, read_payload, to_payload, write_payload
from forecaster.config import ExperimentConfig, read_config, write_config
from forecaster.errors import ForecasterError
from forecaster.runs.experiment import ExperimentResult
from forecaster.runs.fitting import ModelRun
from forecaster.runs.intervals import Intervals
from forecaster.training.loop import TrainResult

SUFFIX = ".incomplete"
MARKER = "INCOMPLETE.txt"
# The layout of a finished model's record; the checkpoint inside it carries its own format version, so a
# run interrupted before checkpoints were typed (their format version 1) still resumes.
RECORD_VERSION = 1


def progress_dir(out: str | Path) -> Path:
    """Where the run that will create ``out`` keeps its finished models until all are done."""
    out = Path(out)
    return out.with_name(out.name + SUFFIX)


def start(out: Path, config: ExperimentConfig) -> Path:
    """Create (or reopen) the progress folder of ``out`` with the config and the marker file."""
    folder = progress_dir(out)
    (folder / "models").mkdir(parents=True, exist_ok=True)
    (folder / MARKER).write_text(
        f"This run has not finished: {out} does not exist yet.\n"
        f"Finish it with: forecaster run --resume {out}\n"
    )
    temporary = folder / ".config.yaml.tmp"
    write_config(config, temporary)
    os.replace(temporary, folder / "config.yaml")  # never a half-written config to resume from
    return folder


def resume(out: Path) -> tuple[ExperimentConfig, dict[str, ModelRun]]:
    """The config of the interrupted run that was creating ``out``, and the models it finished; an error when none was."""
    folder = progress_dir(out)
    if not (folder / "config.yaml").is_file():
        state = "it is already complete" if out.is_dir() else f"{folder} does not exist"
        raise ForecasterError(f"nothing to resume for out={str(out)!r}: {state}")
    config = read_config(folder / "config.yaml")
    return config, load_finished(folder, config)


def interrupted(out: Path) -> int | None:
    """How many finished models an interrupted run creating ``out`` keeps; None when no such run waits there."""
    folder = progress_dir(out)
    return len(list((folder / "models").glob("*.pt"))) if folder.exists() else None


def record(out: Path, result: ExperimentResult, name: str) -> None:
    """Keep model ``name``'s outcome in the progress folder of ``out`` (created by the first model done).

    Nothing is created before a model finishes, so a run that fails on bad input leaves nothing behind.
    """
    folder = progress_dir(out)
    if not (folder / "config.yaml").is_file():
        start(out, result.config)
    run = result.runs[name]
    training = run.training
    payload = {
        "format_version": RECORD_VERSION,
        "kind": run.spec.kind,
        "checkpoint": to_payload(result.checkpoint(name)),
        "training": None if training is None else {
            "history": training.history, "best_epoch": training.best_epoch,
            "best_val_loss": training.best_val_loss, "seconds": training.seconds, "failure": training.failure,
        },
        "forecast": torch.from_numpy(np.ascontiguousarray(run.forecast)),
        "metrics": {key: value if isinstance(value, str) else float(value) for key, value in run.metrics.items()},
        "step_metrics": [{key: float(value) for key, value in row.items()} for row in run.step_metrics],
        "intervals": None if run.intervals is None else {
            "method": run.intervals.method, "levels": list(run.intervals.levels), "crossing": float(run.intervals.crossing),
            **{part: torch.from_numpy(np.ascontiguousarray(getattr(run.intervals, part))) for part in ("lower", "upper", "median")},
        },
    }
    write_payload(payload, folder / "models" / f"{name}.pt")


def load_finished(folder: Path, config: ExperimentConfig) -> dict[str, ModelRun]:
    """The models of ``config`` that the interrupted run finished, rebuilt as they were."""
    finished = {}
    for spec in config.models:
        path = folder / "models" / f"{spec.name}.pt"
        if not path.is_file():
            continue
        payload = read_payload(path)
        if not isinstance(payload, dict) or payload.get("format_version") != RECORD_VERSION:
            raise ForecasterError(f"{path} is not a finished model's record of this forecaster; delete {folder} to start the run over")
        checkpoint = from_payload(payload["checkpoint"], str(path))
        if checkpoint.kind != spec.kind:
            raise ForecasterError(f"{path} holds a {checkpoint.kind} model, but the config names {spec.name!r} a {spec.kind}")
        finished[spec.name] = _model_run(spec, checkpoint, payload)
    return finished


def _model_run(spec: Any, checkpoint: Checkpoint, payload: dict[str, Any]) -> ModelRun:
    training = None if payload["training"] is None else TrainResult(**payload["training"])
    stored = payload.get("intervals")  # records from before intervals have none
    intervals = None if stored is None else Intervals(
        method=stored["method"], levels=tuple(stored["levels"]), crossing=stored["crossing"], calibration=checkpoint.intervals,
        **{part: stored[part].numpy() for part in ("lower", "upper", "median")},
    )
    return ModelRun(
        spec=spec,
        model=checkpoint.model(),
        training=training,
        forecast=payload["forecast"].numpy(),
        metrics=payload["metrics"],
        step_metrics=[{**row, "step": int(row["step"])} for row in payload["step_metrics"]],
        intervals=intervals,
    )


def finish(folder: Path) -> None:
    """Remove the progress folder once the complete results folder exists."""
    shutil.rmtree(folder, ignore_errors=True)
