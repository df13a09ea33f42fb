"""Runs tracked where users already look, TensorBoard or MLflow, or nothing tracked at all (the default).

A tracked run records what a results folder records, in the form each tool shows: the resolved config as
parameters, every model's training and validation loss per epoch (through ``train_model``'s
``on_epoch_end``), the final metrics and, once the folder is written, its figures. ``tracking.backend:
none`` writes nothing anywhere; so does every rank but 0 under torchrun, as only rank 0 writes results.
The packages come with the ``track`` extra and are imported only when a backend asks for them
(``tracking/backends.py``), so that a missing one is a one-line error before any training.
"""

from __future__ import annotations

import importlib.util
import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from forecaster.errors import ForecasterError
from forecaster.training import distributed
from forecaster.training.loop import EpochEnd

log = logging.getLogger(__name__)

BACKENDS = ("none", "tensorboard", "mlflow")
# The modules each backend imports; all come with the `track` extra.
PACKAGES = {"tensorboard": ("tensorboard",), "mlflow": ("mlflow", "sqlalchemy", "alembic")}


@dataclass(frozen=True)
class TrackingConfig:
    """Where runs are tracked: the ``tracking:`` section (TensorBoard, MLflow, or nothing).

    With the defaults, ``tensorboard --logdir results`` or ``mlflow ui --backend-store-uri sqlite:///results/mlflow.db``
    finds every run.
    """

    backend: Literal["none", "tensorboard", "mlflow"] = "none"
    """`none` (nothing written anywhere), `tensorboard` or `mlflow` (both need the `track` extra)."""
    uri: str | None = None
    """TensorBoard: the log directory; MLflow: a tracking URI (`sqlite:///...`, `http://host:5000`). `None`: `tensorboard/`,
    or a SQLite database `mlflow.db` (artifacts in `mlartifacts/`), beside the results folder."""
    experiment: str = "forecaster"
    """The MLflow experiment the runs belong to, a non-empty name."""

    def __post_init__(self) -> None:
        if self.uri is not None and not self.uri.strip():
            raise ForecasterError(f"tracking.uri={self.uri!r} names nothing; leave it out for the default beside the results folder")
        if self.backend == "mlflow" and self.uri is not None and "://" not in self.uri and not self.uri.startswith("databricks"):
            raise ForecasterError(
                f"tracking.uri={self.uri!r} is not an MLflow tracking URI; e.g. sqlite:///results/mlflow.db or http://host:5000")
        if not self.experiment.strip():
            raise ForecasterError(f"tracking.experiment={self.experiment!r} is empty; name the MLflow experiment, e.g. forecaster")


class TrackedRun:
    """One run of a tracker; this base class records nothing (tracking off, or a rank other than 0)."""

    def log_params(self, params: Mapping[str, Any]) -> None:
        """The run's settings, e.g. ``flat_params(config.to_dict())``."""

    def log_epoch(self, model: str, end: EpochEnd) -> None:
        """Model ``model``'s training and validation loss after an epoch: an ``on_epoch_end`` hook (it never stops training)."""

    def log_metrics(self, metrics: Mapping[str, float], *, model: str | None = None) -> None:
        """Final metrics (NaN ones are left out), of model ``model`` or of the whole run."""

    def set_tags(self, tags: Mapping[str, str]) -> None:
        """Labels of the run, e.g. a tuning trial's state."""

    def log_figures(self, folder: Path) -> None:
        """Every PNG figure under ``folder`` (a results folder, once written), by its path relative to it."""

    def close(self, status: str) -> None:
        """End the run: ``finished``, ``failed`` or ``interrupted``."""


class Tracker:
    """Opens tracked runs; this base class tracks nothing and writes nothing anywhere."""

    enabled = False

    def start(self, name: str) -> TrackedRun:
        return TrackedRun()

    @contextmanager
    def run(self, name: str, params: Mapping[str, Any] | None = None) -> Iterator[TrackedRun]:
        """A run named ``name`` for the block: closed as finished, or as failed or interrupted when the block raises."""
        tracked = self.start(name)
        if params:
            tracked.log_params(params)
        try:
            yield tracked
        except KeyboardInterrupt:
            tracked.close("interrupted")
            raise
        except BaseException:
            tracked.close("failed")
            raise
        tracked.close("finished")


def flat_params(mapping: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """A config's nested mapping as ``section.key`` parameters; models by name: ``models.transformer.d_model``.

    Lists of plain values stay one parameter (``data.calendar: [hour]``), as both tools show one value per name.
    """
    flat: dict[str, Any] = {}
    for key, value in mapping.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flat_params(value, f"{name}."))
        elif isinstance(value, list) and value and all(isinstance(item, Mapping) and "name" in item for item in value):
            for item in value:
                flat.update(flat_params({k: v for k, v in item.items() if k != "name"}, f"{name}.{item['name']}."))
        else:
            flat[name] = value
    return flat


def open_tracker(config: TrackingConfig, out: str | Path) -> Tracker:
    """The tracker of ``config`` for the results folder ``out``: nothing when off or on a rank other than 0.

    Opening it checks that the backend's packages are installed and, for MLflow, creates the store and
    the experiment, so that a mistake stops the command before any training.
    """
    if config.backend == "none" or not distributed.is_main_process():
        return Tracker()
    missing = [name for name in PACKAGES[config.backend] if importlib.util.find_spec(name) is None]
    if missing:
        raise ForecasterError(
            f"tracking.backend={config.backend!r} needs {', '.join(missing)}, which is not installed; "
            "install the track extra: pip install -e '.[track]'")
    from forecaster.tracking import backends  # the packages are imported only now

    beside = Path(out).resolve().parent  # the results folder's parent: every run's folder sits there
    if config.backend == "tensorboard":
        return backends.TensorBoardTracker(Path(config.uri) if config.uri else beside / "tensorboard")
    if config.uri is None:
        beside.mkdir(parents=True, exist_ok=True)
        return backends.MlflowTracker(f"sqlite:///{beside / 'mlflow.db'}", config.experiment, artifacts=beside / "mlartifacts")
    return backends.MlflowTracker(config.uri, config.experiment, artifacts=None)


def log_results(run: TrackedRun, config: Mapping[str, Any], metrics: Any, folder: Path) -> None:
    """A finished command's record: the resolved ``config`` (a config's ``to_dict()``) as parameters, each row of
    the ``metrics`` table (a DataFrame with ``model``, and ``series`` for a global run) as that model's final
    metrics, and the figures of the results ``folder``, which must be written already."""
    run.log_params(flat_params(config))
    for row in metrics.to_dict("records"):
        model = f"{row['model']}.{row['series']}" if "series" in row else str(row["model"])
        run.log_metrics({key: value for key, value in row.items() if key not in ("model", "series", "kind")}, model=model)
    run.log_figures(folder)
