"""The pretrained forecaster's recipe: a config whose ``pretrain:`` section has a ``pool:`` (what ``forecaster pretrain``
turns into a weights file such as the shipped ``forecaster/weights/pretrained.pt``).

    pretrain:
      pool:                    # data/pool.py's PoolConfig: the source list (Tourism is held out)
        generated:
          - {kind: kernel_synth, series: 500}
          - {kind: trend_season, series: 500}
        mixed: 500
      network: {context: 132, horizon: 24, patch: 12}   # models/pretrained.py's Architecture
      training: {epochs: 40}                            # reuse/pretrained_training.py's PretrainingSettings
      device: auto
    tracking: {backend: none}

A ``pretrain:`` section without ``pool:`` is the other pretraining, an encoder for ``transfer`` and ``embed``
(``training/pretraining.py``), read with the rest of an experiment config. The three parts are the dataclasses that
do the work, read key by key as every config is (``mappings.py``: an unknown key or a wrong type is one line).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from forecaster.data.generators import GeneratorConfig
from forecaster.data.pool import PoolConfig
from forecaster.errors import ForecasterError
from forecaster.mappings import from_mapping, is_key_path, plain_values, set_key
from forecaster.models.pretrained import Architecture
from forecaster.reuse.pretrained_training import PretrainingSettings
from forecaster.tracking.tracker import TrackingConfig

POOL_KEY = "pool"  # the key that makes a pretrain: section this recipe


@dataclass(frozen=True)
class PretrainedRecipe:
    """What makes a pretrained forecaster: the pool it reads, the network, how it trains and where."""

    pool: PoolConfig = field(default_factory=PoolConfig)
    """The sources (`pretrain.pool.competitions`, `bundled`, `generated`, `mixed`, `seed`, `held_out`)."""
    network: Architecture = field(default_factory=lambda: Architecture(context=128, horizon=24))
    """The network (`pretrain.network.context`, `horizon`, `patch`, `d_model`, ...)."""
    training: PretrainingSettings = field(default_factory=PretrainingSettings)
    """The training (`pretrain.training.epochs`, `batch_size`, `learning_rate`, `seed`, `time_limit`, ...)."""
    device: str = "auto"
    """`cpu`, `cuda` or `auto` (a GPU when there is one); the weights on another device differ in their last digits."""


@dataclass(frozen=True)
class RecipeFile:
    """A recipe config as read: the ``pretrain:`` recipe and the ``tracking:`` section."""

    recipe: PretrainedRecipe
    tracking: TrackingConfig

    def to_dict(self) -> dict[str, Any]:
        """The plain mapping a results folder records (``recipe.yaml``) and a tracker logs."""
        return plain_values({"pretrain": dataclasses.asdict(self.recipe), "tracking": dataclasses.asdict(self.tracking)})


SECTIONS = {"pretrain": PretrainedRecipe, "tracking": TrackingConfig}
# The recipe's parts by path, each with its defaults in a recipe (None: required keys): the configuration reference.
REFERENCE = {"pretrain": (PretrainedRecipe, PretrainedRecipe()), "pretrain.pool": (PoolConfig, PoolConfig()),
             "pretrain.pool.generated[]": (GeneratorConfig, None), "pretrain.network": (Architecture, PretrainedRecipe().network),
             "pretrain.training": (PretrainingSettings, PretrainingSettings())}


def is_recipe(path: str | Path | None) -> bool:
    """Whether the config at ``path`` is a pretrained forecaster's recipe (its ``pretrain:`` has a ``pool:``)."""
    raw = _raw(path) if path is not None else {}
    return isinstance(raw.get("pretrain"), dict) and POOL_KEY in raw["pretrain"]


def read_recipe(path: str | Path, overrides: list[str] = ()) -> RecipeFile:
    """The recipe at ``path`` with ``--set`` overrides (``pretrain.training.epochs=2``, ``tracking.backend=mlflow``)."""
    raw = _raw(path)
    unknown = [key for key in raw if key not in SECTIONS]
    if unknown:
        raise ForecasterError(f"{path}: a pretrained forecaster's recipe holds the sections {', '.join(SECTIONS)}, not "
                              f"{unknown[0]}")
    for override in overrides:
        key, separator, text = override.partition("=")
        keys = key.strip().split(".")
        if not separator or keys[0] not in SECTIONS or not is_key_path(SECTIONS[keys[0]], keys[1:]):
            raise ForecasterError(f"--set {override!r}: a recipe takes pretrain.PART.KEY=VALUE (parts: pool, network, "
                                  "training) or tracking.KEY=VALUE, e.g. pretrain.training.epochs=2")
        raw[keys[0]] = set_key(SECTIONS[keys[0]], raw.get(keys[0]), keys[1:], yaml.safe_load(text) if text else None,
                               keys[0])
    return RecipeFile(from_mapping(PretrainedRecipe, raw.get("pretrain"), "pretrain"),
                      from_mapping(TrackingConfig, raw.get("tracking"), "tracking"))


def _raw(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise ForecasterError(f"config file not found: {str(path)!r} (see experiments/pretrained/pretrained.yaml)")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, yaml.YAMLError) as error:
        raise ForecasterError(f"{path} is not a readable YAML config: {str(error).splitlines()[0]}") from None
    if raw is not None and not isinstance(raw, dict):
        raise ForecasterError(f"{path} should hold a mapping of sections")
    return raw or {}
