"""An estimator in the ecosystem's habits: ``fit(DataFrame)`` then ``predict()`` -> future values by date.

For people who want one model on one series without writing a config; it runs the same pipeline as
``forecaster run`` (chronological split, training-span scaling, early stopping, naive comparison).
The fitted model stays in memory: ``predict`` reads new data through its ``Forecaster`` (the model and the
pipeline fitted at ``fit``, no file involved); ``save_checkpoint(estimator.checkpoint_, path)`` keeps it.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from forecaster.checkpoint import Checkpoint
from forecaster.config import ExperimentConfig, ModelSpec
from forecaster.data.features import DataConfig
from forecaster.data.windows import WindowConfig
from forecaster.errors import ForecasterError
from forecaster.evaluation.conformal import IntervalConfig
from forecaster.mappings import from_mapping
from forecaster.models import MODEL_KINDS
from forecaster.reuse.forecast import Forecaster
from forecaster.runs.experiment import ExperimentResult, run_experiment
from forecaster.training.loop import TrainConfig


class ForecastEstimator:
    """``ForecastEstimator("transformer", context=64).fit(prices).predict()``: the next ``horizon`` values.

    ``model`` holds the kind's own options (e.g. ``{"d_model": 32}``), checked like a config's;
    ``levels`` and ``intervals`` (``conformal``, ``adaptive`` or a distributional head's name such as ``quantile``:
    ``forecaster.config.INTERVAL_METHODS``) are the prediction intervals
    calibrated at ``fit`` (``intervals.levels`` and ``intervals.method`` of a config), which
    ``predict(levels=...)`` returns.
    """

    def __init__(self, kind: str = "transformer", *, context: int = 64, horizon: int = 1, column: str | None = None,
                 transform: str = "log_return", model: dict[str, Any] | None = None, epochs: int = 30, seed: int = 0,
                 device: str = "auto", levels: tuple[float, ...] = (80.0, 95.0), intervals: str = "conformal") -> None:
        if kind not in MODEL_KINDS or not MODEL_KINDS[kind].trainable:
            trainable = [name for name, entry in MODEL_KINDS.items() if entry.trainable]
            raise ForecasterError(f"kind {kind!r} is not a trainable model kind; choose one of: {', '.join(trainable)}")
        self.config = ExperimentConfig(
            data=from_mapping(DataConfig, {"column": column, "transform": transform}, "data"),
            windows=WindowConfig(context=context, horizon=horizon),
            train=TrainConfig(epochs=epochs, seed=seed, device=device),
            models=(
                ModelSpec(name="naive", kind="naive", config=MODEL_KINDS["naive"].config_class()),
                ModelSpec(name=kind, kind=kind, config=from_mapping(MODEL_KINDS[kind].config_class, model or {}, kind)),
            ),
            intervals=from_mapping(IntervalConfig, {"levels": list(levels), "method": intervals}, "intervals"),
        )
        self.kind = kind
        self.result_: ExperimentResult | None = None
        self.checkpoint_: Checkpoint | None = None  # the fitted model's pipeline and weights, to save
        self.forecaster_: Forecaster | None = None  # the fitted model and its pipeline

    def fit(self, frame: pd.DataFrame, *, progress: bool = False) -> ForecastEstimator:
        """Train on ``frame`` (a DataFrame with a DatetimeIndex) and score on its test span; returns self."""
        self.result_ = run_experiment(self.config, frame=frame, progress=progress)
        self.checkpoint_ = checkpoint = self.result_.checkpoint(self.kind)
        self.forecaster_ = Forecaster(model=self.result_.runs[self.kind].model, pipeline=checkpoint.pipeline, dims=checkpoint.dims,
                                      intervals=checkpoint.intervals, name=self.kind,
                                      series_intervals=checkpoint.series_intervals)
        self.frame_ = frame
        return self

    def predict(self, frame: pd.DataFrame | None = None, *, levels: list[float] | None = None) -> pd.DataFrame:
        """The next ``horizon`` values after the last date of ``frame`` (default: the fitted one), by date.

        ``levels`` (e.g. ``[80, 95]``, among those calibrated at ``fit``) adds each central interval's lower
        and upper bounds as the columns ``lo_80`` and ``hi_80``.
        """
        self._fitted()
        table = self.forecaster_.forecast(self.frame_ if frame is None else frame, column=self.config.data.column,
                                          levels=tuple(levels or ()))
        return table.set_index("date")

    def score(self) -> pd.DataFrame:
        """The test-span metrics of the model and of the naive forecast on the same points."""
        return self._fitted().metrics.set_index("model")

    def _fitted(self) -> ExperimentResult:
        if self.result_ is None:
            raise ForecasterError("call fit(frame) before predict() or score()")
        return self.result_
