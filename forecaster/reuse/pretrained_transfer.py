"""The pretrained forecaster (``models/pretrained.py``) reused on a target series: ``forecaster transfer pretrained``
and ``forecaster embed pretrained``.

Its rows are the pretrained kind's three uses, on the target's windows and split as in every transfer
(``reuse/transfer.py``) and study (``reuse/study.py``):

- ``zero_shot``: the weights as they are, nothing trained;
- ``fine_tune``: those weights trained further on the target's training windows, at a tenth of the learning rate as
  every fine-tuning here;
- ``scratch``: the same network from new weights (``from_scratch``), trained on the same windows alone: what the
  pretraining is measured against;

and the naive forecast. The target is read in levels (the network normalises each window itself) in windows of the
network's context; the horizon is the network's direct one unless another is asked for.

``embed`` reads the encoder's patch embeddings (``PretrainedEncoder``) of windows of the network's context, each
normalised by its own frames, of the target in levels (``embedder``).
"""

from __future__ import annotations

import zipfile
from pathlib import Path

from forecaster.config import ExperimentConfig, ModelSpec
from forecaster.data.features import DataConfig
from forecaster.data.pipeline import Pipeline
from forecaster.data.transforms import transform_named
from forecaster.data.windows import WindowConfig
from forecaster.errors import ForecasterError
from forecaster.models import NaiveConfig
from forecaster.models.pretrained import FORMAT, PretrainedConfig, PretrainedEncoder, WeightsFile
from forecaster.reuse.transfer import FINE_TUNE_LEARNING_RATE_FACTOR, NAIVE_ROW, TransferRow
from forecaster.training.loop import TrainConfig

SHIPPED_NAME = "pretrained"  # where a transfer's checkpoint path goes, the word that names the shipped weights
ROWS = (
    TransferRow("zero_shot", "fresh", trained=False),
    TransferRow("fine_tune", "fresh", learning_rate_factor=FINE_TUNE_LEARNING_RATE_FACTOR),
    TransferRow("scratch", "fresh"),
)
CONFIGS = {"zero_shot": {}, "fine_tune": {"fine_tune": True}, "scratch": {"from_scratch": True}}


def is_pretrained(source: str | Path) -> bool:
    """Whether a transfer's source is the pretrained forecaster: the word ``pretrained`` or a weights file of one."""
    if str(source) == SHIPPED_NAME:
        return True
    path = Path(source)
    if not zipfile.is_zipfile(path):  # torch.save writes a zip archive; anything else the checkpoint reader explains
        return False
    # The format tag is a string in the archive's pickle: found without unpickling, so that a checkpoint is read once.
    with zipfile.ZipFile(path) as archive:
        pickles = [name for name in archive.namelist() if name.endswith("/data.pkl")]
        return bool(pickles) and FORMAT.encode() in archive.read(pickles[0])


def weights_of(source: str | Path) -> str | None:
    """The ``weights:`` of the pretrained kind for a transfer's source: None for the shipped ones."""
    return None if str(source) == SHIPPED_NAME else str(Path(source).resolve())


def pretrained_transfer_config(source: str | Path, *, data_source: str, column: str | None, train: TrainConfig,
                               horizon: int | None = None, transform: str | None = None) -> ExperimentConfig:
    """The target experiment: the target in levels, windows of the network's context, its horizon (or ``horizon``)."""
    _check_level(transform)
    weights = weights_of(source)
    architecture = WeightsFile.load(weights).architecture
    specs = tuple(ModelSpec(name=row.name, kind="pretrained", config=PretrainedConfig(weights=weights, **CONFIGS[row.name]))
                  for row in ROWS)
    return ExperimentConfig(
        data=DataConfig(source=data_source, column=column, transform="level"),
        windows=WindowConfig(context=architecture.context, horizon=horizon or architecture.horizon),
        train=train,
        models=(*specs, ModelSpec(name=NAIVE_ROW.name, kind="naive", config=NaiveConfig())),
    )


def embedder(source: str | Path, transform: str | None = None) -> tuple[PretrainedEncoder, Pipeline, int]:
    """What ``forecaster embed`` reads for the pretrained forecaster: its encoder, a pipeline that reads a series' target
    in levels (the default target, or the one ``embed --column`` names; each window normalised by the encoder itself),
    and its context."""
    _check_level(transform)
    weights = WeightsFile.load(weights_of(source))
    return PretrainedEncoder(weights.network()), Pipeline.pooled_levels(), weights.architecture.context


def _check_level(transform: str | None) -> None:
    if transform is not None and transform_named(transform).differenced:
        raise ForecasterError(f"--transform={transform}: the pretrained forecaster reads values, not changes; leave "
                              "--transform out (level)")
