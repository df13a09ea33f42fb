"""forecaster: time-series forecasting with self-attention, measured against MLP, RNN, linear and naive baselines."""

from forecaster.checkpoint import Checkpoint, load_checkpoint, load_encoder, load_model, save_checkpoint
from forecaster.config import ExperimentConfig, ModelSpec, config_from_dict, read_config
from forecaster.data.features import DataConfig
from forecaster.data.pipeline import Pipeline
from forecaster.data.sources import load_prices
from forecaster.data.windows import WindowConfig
from forecaster.errors import DataSourceError, ForecasterError
from forecaster.evaluation.metrics import forecast_metrics
from forecaster.models import MODEL_KINDS, ModelDims, TransformerConfig, TransformerEncoder, TransformerForecaster, build_model, freeze
from forecaster.reuse.estimator import ForecastEstimator
from forecaster.reuse.forecast import Forecaster
from forecaster.reuse.transfer import run_transfer, transfer_config
from forecaster.runs.backtest import BacktestResult, run_backtest, save_backtest
from forecaster.runs.experiment import ExperimentResult, run_experiment, save_run
from forecaster.runs.multiseries import GlobalResult, run_global, save_global
from forecaster.runs.prepare import prepare_data
from forecaster.runs.recorded import RecordedRun, RunInterrupted, resume_run, run_to_folder
from forecaster.training.loop import TrainConfig, train_model
from forecaster.version import __version__

__all__ = [
    "MODEL_KINDS",
    "BacktestResult",
    "Checkpoint",
    "DataConfig",
    "DataSourceError",
    "ExperimentConfig",
    "ExperimentResult",
    "ForecastEstimator",
    "Forecaster",
    "ForecasterError",
    "GlobalResult",
    "ModelDims",
    "ModelSpec",
    "Pipeline",
    "RecordedRun",
    "RunInterrupted",
    "TrainConfig",
    "TransformerConfig",
    "TransformerEncoder",
    "TransformerForecaster",
    "WindowConfig",
    "__version__",
    "build_model",
    "config_from_dict",
    "forecast_metrics",
    "freeze",
    "load_checkpoint",
    "load_encoder",
    "load_model",
    "load_prices",
    "prepare_data",
    "read_config",
    "resume_run",
    "run_backtest",
    "run_experiment",
    "run_global",
    "run_to_folder",
    "run_transfer",
    "save_backtest",
    "save_checkpoint",
    "save_global",
    "save_run",
    "train_model",
    "transfer_config",
]
