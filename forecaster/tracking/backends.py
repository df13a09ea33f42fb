"""The two tracking backends, imported only when a config asks for one (their packages are the ``track`` extra).

- **TensorBoard** (``torch.utils.tensorboard`` writing, TensorBoard reading): a run is a folder of the log
  directory; each model writes its losses per epoch to a subfolder of it (``<run>/<model>``), so that
  TensorBoard draws the models of every run in one chart per tag. The run's own folder gets the config
  (as text, and as the HParams dashboard's parameters with the final metrics) and the figures as images.
- **MLflow** (``MlflowClient``, not the fluent API, so that no global "active run" is left behind): a run
  of the experiment with the config as parameters, ``<model>.train_loss`` and ``<model>.val_loss`` per
  epoch, ``<model>.<metric>`` at the end, and the figures as artifacts.
"""

from __future__ import annotations

import logging
import math
import os
import time
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from forecaster.tracking.tracker import TrackedRun, Tracker
from forecaster.training.loop import EpochEnd

STATUSES = {"finished": "FINISHED", "failed": "FAILED", "interrupted": "KILLED"}  # MLflow's run statuses


def _finite(metrics: Mapping[str, Any]) -> dict[str, float]:
    values = {}
    for key, value in metrics.items():
        try:
            number = float(value)
        except (TypeError, ValueError):
            continue  # a text column (status, interval_method): not a metric
        if math.isfinite(number):
            values[key] = number
    return values


def _plain(value: Any) -> str | int | float | bool:
    """A parameter value as TensorBoard's HParams take it (lists and None as text)."""
    return value if isinstance(value, (str, int, float, bool)) else str(value)


class TensorBoardRun(TrackedRun):
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.writers: dict[str, Any] = {}
        self.params: dict[str, Any] = {}
        self.metrics: dict[str, float] = {}

    def _writer(self, model: str | None = None):
        from torch.utils.tensorboard import SummaryWriter

        key = model or ""
        if key not in self.writers:
            self.writers[key] = SummaryWriter(log_dir=str(self.folder / key if model else self.folder))
        return self.writers[key]

    def log_params(self, params: Mapping[str, Any]) -> None:
        self.params.update(params)
        text = "\n".join(f"    {key}: {value}" for key, value in params.items())  # indented: Markdown code
        self._writer().add_text("config", text)

    def log_epoch(self, model: str, end: EpochEnd) -> None:
        writer = self._writer(model)
        writer.add_scalar("train_loss", end.train_loss, end.epoch)
        writer.add_scalar("val_loss", end.val_loss, end.epoch)

    def log_metrics(self, metrics: Mapping[str, float], *, model: str | None = None) -> None:
        for key, value in _finite(metrics).items():
            tag = f"{model}/{key}" if model else key
            self.metrics[tag] = value
            self._writer().add_scalar(tag, value, 0)

    def log_figures(self, folder: Path) -> None:
        from matplotlib.image import imread

        for path in sorted(folder.rglob("*.png")):
            self._writer().add_image(str(path.relative_to(folder)), imread(path)[..., :3], 0, dataformats="HWC")

    def close(self, status: str) -> None:
        from torch.utils.tensorboard.summary import hparams

        if self.params:
            writer = self._writer()
            for summary in hparams({key: _plain(value) for key, value in self.params.items()}, self.metrics):
                writer.file_writer.add_summary(summary)
        for writer in self.writers.values():
            writer.close()


class TensorBoardTracker(Tracker):
    """Runs as folders of the log directory ``root``: ``tensorboard --logdir ROOT`` shows them all."""

    enabled = True

    def __init__(self, root: Path) -> None:
        self.root = root

    def start(self, name: str) -> TrackedRun:
        return TensorBoardRun(self.root / name)


class MlflowRun(TrackedRun):
    def __init__(self, client, run_id: str) -> None:
        self.client = client
        self.run_id = run_id

    def log_params(self, params: Mapping[str, Any]) -> None:
        from mlflow.entities import Param

        items = [Param(key, str(value)) for key, value in params.items()]
        for start in range(0, len(items), 100):  # MLflow takes at most 100 parameters per batch
            self.client.log_batch(self.run_id, params=items[start : start + 100])

    def log_epoch(self, model: str, end: EpochEnd) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        metrics = [Metric(f"{model}.{key}", value, now, end.epoch)
                   for key, value in _finite({"train_loss": end.train_loss, "val_loss": end.val_loss}).items()]
        self.client.log_batch(self.run_id, metrics=metrics)

    def log_metrics(self, metrics: Mapping[str, float], *, model: str | None = None) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        values = [Metric(f"{model}.{key}" if model else key, value, now, 0) for key, value in _finite(metrics).items()]
        for start in range(0, len(values), 1000):
            self.client.log_batch(self.run_id, metrics=values[start : start + 1000])

    def set_tags(self, tags: Mapping[str, str]) -> None:
        from mlflow.entities import RunTag

        self.client.log_batch(self.run_id, tags=[RunTag(key, str(value)) for key, value in tags.items()])

    def log_figures(self, folder: Path) -> None:
        for path in sorted(folder.rglob("*.png")):
            parent = path.parent.relative_to(folder)
            self.client.log_artifact(self.run_id, str(path), artifact_path=None if parent == Path(".") else str(parent))

    def close(self, status: str) -> None:
        self.client.set_terminated(self.run_id, STATUSES[status])


class MlflowTracker(Tracker):
    """Runs of the experiment ``experiment`` in the store at ``uri``; a new experiment keeps its artifacts in ``artifacts``."""

    enabled = True

    def __init__(self, uri: str, experiment: str, *, artifacts: Path | None) -> None:
        for name in ("mlflow", "alembic"):  # their set-up logs (creating tables, migrations) are not the user's business
            logging.getLogger(name).setLevel(logging.WARNING)
        # MLflow 3 sends usage telemetry unless told not to; a local store stays local (MLFLOW_DISABLE_TELEMETRY=false opts in).
        os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
        from mlflow.tracking import MlflowClient
        from sqlalchemy.exc import SADeprecationWarning

        # MLflow's SQL store uses SQLAlchemy features that newer SQLAlchemy deprecates: MLflow's to fix, not the user's.
        warnings.filterwarnings("ignore", category=SADeprecationWarning)

        self.client = MlflowClient(tracking_uri=uri)
        found = self.client.get_experiment_by_name(experiment)
        self.experiment_id = found.experiment_id if found is not None else self.client.create_experiment(
            experiment, artifact_location=None if artifacts is None else artifacts.resolve().as_uri())

    def start(self, name: str) -> TrackedRun:
        run = self.client.create_run(self.experiment_id, run_name=name)
        return MlflowRun(self.client, run.info.run_id)
