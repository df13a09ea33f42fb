"""What ``forecaster tune`` searches: the ``search:`` section's syntax, each model kind's default space, ``tune:``.

A config's ``search:`` section holds, per model name, the settings to search and where::

    search:
      transformer:
        d_model: {choices: [16, 32, 64]}       # one of these
        n_layers: [1, 3]                       # integers from 1 to 3: both bounds are integers
        dropout: [0.0, 0.3]                    # any number from 0.0 to 0.3
        train.learning_rate: {log: [1.0e-4, 1.0e-2]}   # a range searched on a log scale
        train.schedule: {choices: [constant, cosine]}
        windows.context: {choices: [128, 256]}

A plain key is a setting of the model; ``train.KEY`` and ``windows.context`` are experiment settings that
the search may change for this model (``TUNABLE``). The seed is never one: a setting that only wins on
one seed is not better, and ``forecaster run --seeds`` measures how much seeds move a result. A model
without a ``search`` entry is searched over its kind's default space (``default_space``): what usually
matters, width, depth, patches, dropout, learning rate and the context when the data holds longer windows.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

from forecaster.data.windows import WindowConfig
from forecaster.errors import ForecasterError
from forecaster.models import MODEL_KINDS

# The experiment settings a search may change, beside the model's own; the seed is not one of them.
TUNABLE = ("windows.context", "train.learning_rate", "train.weight_decay", "train.batch_size", "train.grad_clip",
           "train.epochs", "train.patience", "train.schedule", "train.warmup")
SYNTAX = "[low, high], {log: [low, high]} or {choices: [a, b, ...]}"


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


@dataclass(frozen=True)
class Dimension:
    """One searched setting ``key`` of model ``model``: a range ``[low, high]`` (integers when both bounds
    are; on a log scale when ``log``), or one of ``choices``."""

    model: str
    key: str
    low: int | float | None = None
    high: int | float | None = None
    log: bool = False
    choices: tuple[Any, ...] | None = None

    def __post_init__(self) -> None:
        where = f"search.{self.model}.{self.key}"
        if self.choices is not None:
            if not self.choices:
                raise ForecasterError(f"{where} has no choices; list at least one, e.g. {{choices: [16, 32]}}")
            labels = [json.dumps(choice) for choice in self.choices]
            if len(set(labels)) != len(labels):
                raise ForecasterError(f"{where}: choices={list(self.choices)} names a value twice")
            return
        if not (_is_number(self.low) and _is_number(self.high)):
            raise ForecasterError(f"{where}: low={self.low!r} and high={self.high!r} should be finite numbers")
        if self.low >= self.high:
            raise ForecasterError(f"{where}: low={self.low} must be below high={self.high}")
        if self.log and self.low <= 0:
            raise ForecasterError(f"{where}: a log range needs low > 0, got low={self.low}")

    @property
    def integer(self) -> bool:
        """A range over integers: both bounds are integers."""
        return self.choices is None and isinstance(self.low, int) and isinstance(self.high, int)

    @property
    def values(self) -> tuple[Any, ...]:
        """The values that show whether the setting takes this dimension: the bounds, or every choice."""
        return self.choices if self.choices is not None else (self.low, self.high)

    def suggest(self, trial: Any) -> Any:
        """This dimension's value for an Optuna ``trial`` (choices that are lists are offered as their JSON text)."""
        if self.choices is None:
            suggest = trial.suggest_int if self.integer else trial.suggest_float
            return suggest(self.key, self.low, self.high, log=self.log)
        if all(choice is None or isinstance(choice, (bool, int, float, str)) for choice in self.choices):
            return trial.suggest_categorical(self.key, list(self.choices))
        labels = [json.dumps(choice) for choice in self.choices]
        return self.choices[labels.index(trial.suggest_categorical(self.key, labels))]

    def to_yaml(self) -> Any:
        if self.choices is not None:
            return {"choices": list(self.choices)}
        return {"log": [self.low, self.high]} if self.log else [self.low, self.high]


def dimension(model: str, key: str, value: Any) -> Dimension:
    """The dimension that ``search.<model>.<key>: value`` writes (see the module's docstring)."""
    if isinstance(value, list) and len(value) == 2:
        return Dimension(model, key, value[0], value[1])
    if isinstance(value, dict) and len(value) == 1 and isinstance(value.get("log"), list) and len(value["log"]) == 2:
        return Dimension(model, key, value["log"][0], value["log"][1], log=True)
    if isinstance(value, dict) and len(value) == 1 and isinstance(value.get("choices"), list):
        return Dimension(model, key, choices=tuple(value["choices"]))
    raise ForecasterError(f"search.{model}.{key}={value!r} should be {SYNTAX}")


@dataclass(frozen=True)
class SearchSpace:
    """The dimensions searched for model ``model``, in order."""

    model: str
    dimensions: tuple[Dimension, ...]

    def __post_init__(self) -> None:
        if not self.dimensions:
            raise ForecasterError(f"search.{self.model} lists no setting; give at least one, e.g. dropout: [0.0, 0.3]")

    def to_yaml(self) -> dict[str, Any]:
        return {item.key: item.to_yaml() for item in self.dimensions}

    def contexts(self, windows: WindowConfig) -> tuple[int, ...]:
        """Every context a trial may use: the searched ones, else the config's."""
        for item in self.dimensions:
            if item.key == "windows.context":
                return tuple(item.values) if item.choices is not None else (item.low, item.high)
        return (windows.context,)


def search_from_mapping(raw: Any) -> tuple[SearchSpace, ...]:
    """The ``search:`` section: a mapping of model names to mappings of settings to dimensions."""
    if not isinstance(raw, dict) or not all(isinstance(entry, dict) for entry in raw.values()):
        raise ForecasterError(f"search should map model names to their settings, e.g. search: {{transformer: "
                              f"{{dropout: [0.0, 0.3]}}}}; got {raw!r}")
    return tuple(SearchSpace(str(model), tuple(dimension(str(model), str(key), value) for key, value in entry.items()))
                 for model, entry in raw.items())


@dataclass(frozen=True)
class TuneConfig:
    """How ``forecaster tune`` searches one model's settings, and how it closes: the tuned and the hand-set config
    scored on the test span."""

    model: str | None = None
    """The model searched, the name of a trainable model in `models` (`--model`); `None`: none yet, and the command refuses."""
    trials: int = 20
    """Trials completed or pruned in all, a resumed search's included (`--trials`), at least 1."""
    timeout: float | None = None
    """Start no new trial after this many seconds (`--timeout`), positive; `None`: no limit."""
    folds: int = 3
    """Walk-forward folds before the test span that score each trial (`--folds`), at least 1."""
    close_seeds: tuple[int, ...] = (0, 1, 2)
    """The seeds on which the close trains and scores the tuned and the hand-set config (`--close-seeds`), each named once;
    `[]`: `best.yaml` scored once, with `train.seed`."""

    def __post_init__(self) -> None:
        if self.trials < 1:
            raise ForecasterError(f"tune.trials={self.trials} must be at least 1")
        if self.folds < 1:
            raise ForecasterError(f"tune.folds={self.folds} must be at least 1")
        if self.timeout is not None and not (math.isfinite(self.timeout) and self.timeout > 0):
            raise ForecasterError(f"tune.timeout={self.timeout} must be a positive number of seconds (or null: no limit)")


def _around(value: int, low: int, high: int, below: int = 2) -> tuple[int, ...]:
    """``value`` divided by ``below``, itself and doubled, those within [low, high]."""
    return tuple(sorted({v for v in (value // below, value, 2 * value) if low <= v <= high}))


def default_space(model: str, kind: str, config: Any, windows: WindowConfig, *, max_context: int) -> SearchSpace:
    """Model ``model``'s default search space: the learning rate, its kind's own settings (the registry's
    ``search``: width, depth, dropout, patches, ...), and the context: half, the same, double, up to ``max_context``
    steps (what the oldest fold's training span can hold; the context is left as it is when no other fits)."""
    own = MODEL_KINDS[kind].search
    if own is None:
        raise ForecasterError(f"model {model!r}: kind {kind!r} has no default search space; say what to search in "
                              f"search.{model} ({SYNTAX})")
    items = [Dimension(model, "train.learning_rate", 1e-4, 1e-2, log=True)]
    contexts = _around(windows.context, 2, max_context)
    items += [dimension(model, key, value) for key, value in own(config, min(contexts, default=windows.context)).items()]
    if len(contexts) > 1:
        items.append(Dimension(model, "windows.context", choices=contexts))
    return SearchSpace(model, tuple(items))
