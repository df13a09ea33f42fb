"""An estimator in the ecosystem's habits: ``fit(DataFrame)`` then ``predict()`` -> future values by date.

For people who want a model without writing a config; it runs the same pipeline as ``forecaster run``
(chronological split, training-span scaling, early stopping, naive comparison). One series is a DataFrame with a
``DatetimeIndex``, and ``predict`` gives its future by date. Many series are a long DataFrame, as NeuralForecast takes
it (``unique_id``, ``ds``, ``y`` and covariate columns: ``data/panel.py``): one global model is trained over them,
and ``predict`` gives a long DataFrame as NeuralForecast's does: ``unique_id``, ``ds``, a column named by the model
(``transformer``) and its bounds ``transformer-lo-80``, ``transformer-hi-80``.
The fitted model stays in memory: ``predict`` reads new data through its ``Forecaster`` (the model and the
pipeline fitted at ``fit``, no file involved); ``save_checkpoint(estimator.checkpoint_, path)`` keeps it.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from forecaster.checkpoint import Checkpoint
from forecaster.config import ExperimentConfig, ModelSpec
from forecaster.data.features import DataConfig
from forecaster.data.panel import long_options, read_long
from forecaster.data.windows import WindowConfig
from forecaster.errors import ForecasterError
from forecaster.evaluation.conformal import IntervalConfig
from forecaster.mappings import from_mapping
from forecaster.models import MODEL_KINDS
from forecaster.models.pretrained import WeightsFile
from forecaster.reuse.forecast import Forecaster
from forecaster.runs.experiment import ExperimentResult, run_experiment
from forecaster.training.loop import TrainConfig


class ForecastEstimator:
    """``ForecastEstimator("transformer", context=64).fit(prices).predict()``: the next ``horizon`` values.

    ``model`` holds the kind's own options (e.g. ``{"d_model": 32}``), checked like a config's;
    ``levels`` and ``intervals`` (``conformal``, ``adaptive`` or a distributional head's name such as ``quantile``:
    ``forecaster.config.INTERVAL_METHODS``) are the prediction intervals
    calibrated at ``fit`` (``intervals.levels`` and ``intervals.method`` of a config), which
    ``predict(levels=...)`` returns. ``context`` defaults to 64 frames, and to the network's own for ``pretrained``.
    ``transform`` defaults to ``log_return``, and to ``level`` for ``pretrained`` (the
    forecaster pretrained on many series, zero-shot: ``fit`` scores it and calibrates its intervals without training
    it, unless ``model={"fine_tune": True}``; ``model={"weights": path}`` names its weights). ``id_column``,
    ``time_column`` and ``value_column`` name a long DataFrame's columns (``data.id_column``, ``data.time_column``,
    ``data.value_column`` of a config).
    """

    def __init__(self, kind: str = "transformer", *, context: int | None = None, horizon: int = 1, column: str | None = None,
                 transform: str | None = None, model: dict[str, Any] | None = None, epochs: int = 30, seed: int = 0,
                 device: str = "auto", levels: tuple[float, ...] = (80.0, 95.0), intervals: str = "conformal",
                 id_column: str = "unique_id", time_column: str = "ds", value_column: str = "y") -> None:
        if kind not in MODEL_KINDS or not MODEL_KINDS[kind].trainable:
            trainable = [name for name, entry in MODEL_KINDS.items() if entry.trainable]
            raise ForecasterError(f"kind {kind!r} is not a trainable model kind; choose one of: {', '.join(trainable)}")
        comes_trained = MODEL_KINDS[kind].fine_tunes is not None  # the pretrained forecaster
        if transform is None:  # the pretrained forecaster reads values; every other kind log-returns by default
            transform = "level" if comes_trained else "log_return"
        if context is None:  # the pretrained forecaster's whole reach; 64 frames for every other kind
            context = WeightsFile.load((model or {}).get("weights")).architecture.context if comes_trained else 64
        self.config = ExperimentConfig(
            data=from_mapping(DataConfig, {"column": column, "transform": transform, "id_column": id_column,
                                           "time_column": time_column, "value_column": value_column}, "data"),
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
        self.frames_: dict[str, pd.DataFrame] | None = None  # a long frame's series by id (None: one series)

    def fit(self, frame: pd.DataFrame, *, progress: bool = False) -> ForecastEstimator:
        """Train on ``frame`` and score on its test span; returns self. ``frame``: one series (a DataFrame with a
        DatetimeIndex), or a long DataFrame of many series (the id, time and value columns): one global model."""
        self.frames_ = self._series(frame)  # a long frame's series by id, None for one series
        self.result_ = run_experiment(self.config, frame=frame if self.frames_ is None else self.frames_, progress=progress)
        self.checkpoint_ = checkpoint = self.result_.checkpoint(self.kind)
        self.forecaster_ = Forecaster(model=self.result_.runs[self.kind].model, pipeline=checkpoint.pipeline, dims=checkpoint.dims,
                                      intervals=checkpoint.intervals, name=self.kind,
                                      series_intervals=checkpoint.series_intervals)
        self.frame_ = frame
        return self

    def predict(self, frame: pd.DataFrame | None = None, *, levels: list[float] | None = None) -> pd.DataFrame:
        """The next ``horizon`` values after the last date of ``frame`` (default: the fitted one).

        One series: by date, the column ``forecast``; ``levels`` (e.g. ``[80, 95]``, among those calibrated at ``fit``)
        adds each central interval's lower and upper bounds as the columns ``lo_80`` and ``hi_80``. A long frame (or,
        by default, the long frame fitted): each of its series' next values in NeuralForecast's layout, one row per
        series and step: the id and time columns, the model's column (named by its kind), and ``<kind>-lo-80``,
        ``<kind>-hi-80`` per level; each series' dates continue at its own frequency (no trading calendar: the ids are
        not tickers), integer steps as integers. A series the model never saw is read as new (scaled by its own
        statistics).
        """
        self._fitted()
        frames = self.frames_ if frame is None else self._series(frame)
        if frames is None:
            table = self.forecaster_.forecast(self.frame_ if frame is None else frame, column=self.config.data.column,
                                              levels=tuple(levels or ()))
            return table.set_index("date")
        data = self.config.data
        table = self.forecaster_.forecast_panel(frames, column=data.column or data.value_column, exchange="none",
                                                levels=tuple(levels or ()))
        return neural_layout(table, self.kind, id_column=data.id_column, time_column=data.time_column)

    def score(self) -> pd.DataFrame:
        """The test-span metrics of the model and of the naive forecast on the same points; after a long frame, by series
        and model, the pooled rows under series ``all``."""
        metrics = self._fitted().metrics
        return metrics.set_index(["series", "model"] if "series" in metrics.columns else "model")

    def _fitted(self) -> ExperimentResult:
        if self.result_ is None:
            raise ForecasterError("call fit(frame) before predict() or score()")
        return self.result_

    def _series(self, frame: pd.DataFrame) -> dict[str, pd.DataFrame] | None:
        """A long frame's series by id (``data/panel.read_long``: an error line for a bad table); None for one series'
        frame (a DatetimeIndex). A frame without one that has some of the id, time and value columns is taken as long,
        so that a missing column is named."""
        if not isinstance(frame, pd.DataFrame):
            raise ForecasterError(f"fit and predict take a pandas DataFrame, not {type(frame).__name__}")
        data = self.config.data
        named = {data.id_column, data.time_column, data.value_column} & {str(column) for column in frame.columns}
        if isinstance(frame.index, pd.DatetimeIndex) or not named:
            return None
        return read_long(frame, **long_options(data))


def neural_layout(table: pd.DataFrame, name: str, *, id_column: str = "unique_id", time_column: str = "ds") -> pd.DataFrame:
    """``Forecaster.forecast_panel``'s table in NeuralForecast's layout: ``id_column``, ``time_column``, the forecast
    under the model's ``name`` and each level's bounds as ``<name>-lo-<level>``, ``<name>-hi-<level>``."""
    renamed = {"unique_id": id_column, "date": time_column, "forecast": name}
    for column in table.columns:
        side, _, level = column.partition("_")
        if side in ("lo", "hi") and level:
            renamed[column] = f"{name}-{side}-{level}"
    return table.rename(columns=renamed).reset_index(drop=True)
