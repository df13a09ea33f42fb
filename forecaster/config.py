"""Experiment configuration: frozen dataclasses <-> YAML, unknown keys rejected, ``--set`` overrides.

A YAML file is the record of an experiment::

    data:    {source: sp500, transform: log_return}
    windows: {context: 64, horizon: 1}
    train:   {epochs: 30, seed: 0}
    models:
      - kind: naive
      - kind: transformer
        d_model: 32

Each section maps onto the dataclass next to the code it configures (``DataConfig`` in
features.py, ``WindowConfig`` in windows.py, ``TrainConfig`` in training/config.py, ``IntervalConfig``
in conformal.py, one per model kind in models/). Values are checked against the dataclass's type
hints; a wrong key or type is a ``ForecasterError`` naming it and what is valid.

Optional parts say how a command repeats the experiment, so that a results folder's config.yaml
rebuilds the whole folder: ``seeds: [0, 1, 2]`` (``forecaster run`` trains once per seed), a
``backtest:`` section (``BacktestConfig``: folds, seeds, scheme, refit interval), and ``tune:`` with
``search:`` (``forecaster tune``: the model, trials, folds, and the settings searched; ``tuning/space.py``).
``pretrain:`` (``PretrainConfig`` in ``training/pretraining.py``) configures ``forecaster pretrain``.
A config without them is written without them, and so is a ``tracking:`` section that is off, and a ``figures:``
section (``FiguresConfig``: which series of a global run get figures of their own) at its defaults.
"""

from __future__ import annotations

import dataclasses
import re
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from forecaster.data.competitions import competition_defaults
from forecaster.data.features import DataConfig
from forecaster.data.windows import WindowConfig
from forecaster.errors import ForecasterError
from forecaster.evaluation.conformal import CALIBRATED_METHODS, IntervalConfig
from forecaster.mappings import convert, from_mapping, is_key_path, nested_sections, plain_dict, set_key
from forecaster.models import MODEL_KINDS, distributional_heads
from forecaster.tracking.tracker import TrackingConfig
from forecaster.training.config import TrainConfig
from forecaster.training.pretraining import PretrainConfig
from forecaster.tuning.space import TUNABLE, SearchSpace, TuneConfig, search_from_mapping

MODEL_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
SCHEMES = ("expanding", "sliding")


@dataclass(frozen=True)
class ModelSpec:
    """One model of an experiment: a unique ``name`` (default: its kind), its ``kind`` and its config."""

    name: str
    kind: str
    config: Any


def check_seeds(seeds: tuple[int, ...], where: str) -> None:
    """Refuse a seed list ``where`` that is empty or names a seed twice (each run must be another seed)."""
    if not seeds:
        raise ForecasterError(f"{where}=[] names no seed; e.g. {where}=[0, 1, 2]")
    if len(set(seeds)) != len(seeds):
        raise ForecasterError(f"{where}={list(seeds)} repeats a seed; each run must be another seed")


@dataclass(frozen=True)
class BacktestConfig:
    """How ``forecaster backtest`` repeats an experiment: on ``folds`` walk-forward splits, once per seed of ``seeds``."""

    folds: int = 5
    """Walk-forward folds (`--folds`), at least 1; their test spans do not overlap and cover the end of the series."""
    seeds: tuple[int, ...] = (0,)
    """The seeds each fold is trained with (`--seeds`): not empty, each named once."""
    scheme: str = "expanding"
    """Each fold's training span (`--scheme`): `expanding` from the start of the series, or `sliding` (a fixed length that
    moves forward)."""
    refit_every: int = 1
    """Refit the models every N folds (`--refit-every`), at least 1; the folds between are scored by the last refit's models
    (`1`: every fold refits)."""

    def __post_init__(self) -> None:
        if self.folds < 1:
            raise ForecasterError(f"backtest.folds={self.folds} must be at least 1")
        check_seeds(self.seeds, "backtest.seeds")
        if self.scheme not in SCHEMES:
            raise ForecasterError(f"backtest.scheme={self.scheme!r} is not valid; choose one of: {', '.join(SCHEMES)}")
        if self.refit_every < 1:
            raise ForecasterError(f"backtest.refit_every={self.refit_every} must be at least 1")


@dataclass(frozen=True)
class FiguresConfig:
    """Which series of a global run get figures of their own (`forecasts_<series>.png`, `attention_<model>_<series>.png`);
    the pooled figures are always drawn, and a run of one series draws its figures whatever this says."""

    series: int | tuple[str, ...] = 6
    """A count N: the first N series in the order given (`0`: none); or a list of series labels (a CSV file's stem, a
    bundled name or a ticker, as in `metrics.csv`'s `series` column), each named once."""

    def __post_init__(self) -> None:
        if isinstance(self.series, int) and self.series < 0:
            raise ForecasterError(f"figures.series={self.series} is negative; give a count of series (0: none) or their labels")
        if not isinstance(self.series, int):
            object.__setattr__(self, "series", tuple(self.series))  # a list from Python, as YAML gives a tuple
            if not self.series or len(set(self.series)) != len(self.series):
                raise ForecasterError(f"figures.series={list(self.series)} should name each series once; "
                                      "figures.series=0 draws none")


# intervals.method: a calibration of a point forecast's errors, or a distributional output head's name.
INTERVAL_METHODS = (*CALIBRATED_METHODS, *distributional_heads())


@dataclass(frozen=True)
class ExperimentConfig:
    """Everything a run needs; ``to_dict`` is what gets written as the results folder's config.yaml.

    ``seeds`` and ``backtest`` are None unless a command repeats the experiment (see the module's docstring).
    """

    data: DataConfig = DataConfig()
    """The series, its target and input columns, and the target transform (`data:`)."""
    windows: WindowConfig = WindowConfig()
    """Window length, horizon, and the training, validation and test split (`windows:`)."""
    train: TrainConfig = TrainConfig()
    """Optimiser, schedule, early stopping, seed and device, shared by every neural model (`train:`)."""
    models: tuple[ModelSpec, ...] = ()
    """The models compared, a list (`models:`): each entry a `kind`, an optional unique `name` (default: the kind) and the
    kind's own keys."""
    intervals: IntervalConfig = IntervalConfig()
    """The prediction intervals every model gets, and how they are made (`intervals:`)."""
    tracking: TrackingConfig = TrackingConfig()
    """Where runs are tracked: TensorBoard, MLflow or nothing (`tracking:`); written to config.yaml only when on."""
    figures: FiguresConfig = FiguresConfig()
    """Which series of a global run get figures of their own (`figures:`); written to config.yaml only when not the default."""
    seeds: tuple[int, ...] | None = None
    """`forecaster run` trains the experiment once per seed of this list (`--seeds` wins over it), each named once; `None`:
    one run, with `train.seed`."""
    backtest: BacktestConfig | None = None
    """How `forecaster backtest` repeats the experiment (`backtest:`): folds, seeds, scheme, refit interval; `None`: the
    defaults, changed by the command's options."""
    tune: TuneConfig | None = None
    """Which model `forecaster tune` tunes, for how long, and how it closes (`tune:`); `None`: the defaults, the model named
    by `--model`."""
    search: tuple[SearchSpace, ...] | None = None
    """The settings `forecaster tune` searches, per model name (`search:`); `None`, or the tuned model left out: its kind's
    default space."""
    pretrain: PretrainConfig | None = None
    """The objective, window, encoder and training of `forecaster pretrain` (`pretrain:`); `None`: the defaults."""

    def __post_init__(self) -> None:
        if self.intervals.method not in INTERVAL_METHODS:  # the heads' names come from their registry
            raise ForecasterError(f"intervals.method={self.intervals.method!r} is not valid; choose one of: {', '.join(INTERVAL_METHODS)}")
        if self.seeds is not None:
            check_seeds(self.seeds, "seeds")
        if self.tune is not None and self.tune.close_seeds:  # none: best.yaml is scored once
            check_seeds(self.tune.close_seeds, "tune.close_seeds")
        names = {spec.name: spec for spec in self.models}
        if self.tune is not None and self.tune.model is not None:
            spec = names.get(self.tune.model)
            trainable = [name for name, other in names.items() if MODEL_KINDS[other.kind].trainable]
            if spec is None or not MODEL_KINDS[spec.kind].trainable:
                what = "is not a model of this config" if spec is None else f"is a {spec.kind} forecast, with nothing to train"
                raise ForecasterError(
                    f"tune.model={self.tune.model!r} {what}; tune one of: {', '.join(trainable) or '(no trainable model)'}")
        for space in self.search or ():
            if space.model not in names:
                raise ForecasterError(f"search.{space.model}: no model is named {space.model!r}; models: {', '.join(names)}")
            for item in space.dimensions:
                _check_dimension(self, names[space.model], item)

    def to_dict(self) -> dict[str, Any]:
        repeats = {
            **({} if self.seeds is None else {"seeds": list(self.seeds)}),
            **({} if self.backtest is None else {"backtest": plain_dict(dataclasses.asdict(self.backtest))}),
            **({} if self.tune is None else {"tune": plain_dict(dataclasses.asdict(self.tune))}),
            **({} if self.search is None else {"search": {space.model: space.to_yaml() for space in self.search}}),
            **({} if self.pretrain is None else {"pretrain": dataclasses.asdict(self.pretrain)}),
        }
        return {
            "data": plain_dict(dataclasses.asdict(self.data)),
            "windows": dataclasses.asdict(self.windows),
            "train": dataclasses.asdict(self.train),
            "models": [
                {"name": spec.name, "kind": spec.kind, **plain_dict(dataclasses.asdict(spec.config))} for spec in self.models
            ],
            "intervals": plain_dict(dataclasses.asdict(self.intervals)),
            # Tracking and figures change no result: written only when set, as configs were before.
            **({} if self.tracking == TrackingConfig() else {"tracking": dataclasses.asdict(self.tracking)}),
            **({} if self.figures == FiguresConfig() else {"figures": plain_dict(dataclasses.asdict(self.figures))}),
            **repeats,
        }


def _check_dimension(config: ExperimentConfig, spec: ModelSpec, item: Any) -> None:
    """Refuse a searched setting that model ``spec`` or the experiment does not have, or a value it does not take."""
    where = f"search.{spec.name}.{item.key}"
    section, _, key = item.key.rpartition(".")
    owner, cls = (spec.config, type(spec.config)) if not section else (getattr(config, section, None), SECTIONS.get(section))
    fields = [field.name for field in dataclasses.fields(type(spec.config))]
    if item.key == "train.seed":
        raise ForecasterError(f"{where}: the seed is not tuned (a setting that wins on one seed only is not better); "
                              "compare seeds with forecaster run --seeds")
    if (section and item.key not in TUNABLE) or (not section and key not in fields):
        raise ForecasterError(f"unknown key {where}; valid: {', '.join([*fields, *TUNABLE])}")
    if item.choices is None and typing.get_type_hints(cls)[key] is float and item.integer:
        raise ForecasterError(f"{where}=[{item.low}, {item.high}]: {key} is a number, not a count; write [{float(item.low)}, "
                              f"{float(item.high)}]")
    for value in item.values:
        try:
            from_mapping(cls, {**dataclasses.asdict(owner), key: value}, f"search.{spec.name}" + (f".{section}" if section else ""))
        except ForecasterError as error:  # a section's own check names the section alone: say which search it was
            raise ForecasterError(str(error) if str(error).startswith(where) else f"{where}: {error}") from None


def _model_spec(entry: Any, index: int) -> ModelSpec:
    where = f"models[{index}]"
    if isinstance(entry, str):
        entry = {"kind": entry}
    if not isinstance(entry, dict) or "kind" not in entry:
        raise ForecasterError(f"{where} should be a mapping with a 'kind' key, one of: {', '.join(MODEL_KINDS)}")
    entry = dict(entry)
    kind = entry.pop("kind")
    if not isinstance(kind, str) or kind not in MODEL_KINDS:
        raise ForecasterError(f"{where}.kind={kind!r} is not a model kind; valid kinds: {', '.join(MODEL_KINDS)}")
    name = str(entry.pop("name", kind))
    if not MODEL_NAME.fullmatch(name):
        # Names become file names (checkpoints/<name>.pt): nothing that could leave the results folder.
        raise ForecasterError(
            f"{where}.name={name!r} is not a valid model name; use letters, digits, '_', '-' or '.', "
            "starting with a letter or digit"
        )
    return ModelSpec(name=name, kind=kind, config=from_mapping(MODEL_KINDS[kind].config_class, entry, f"models.{name}"))


# No models list: every kind but seasonal_naive (a period per series) and the statistical ones.
DEFAULT_MODELS = [k for k, e in MODEL_KINDS.items() if k != "seasonal_naive" and not e.needs_setup]
SECTIONS = {"data": DataConfig, "windows": WindowConfig, "train": TrainConfig, "intervals": IntervalConfig,
            "tracking": TrackingConfig, "figures": FiguresConfig}
TOP_LEVEL_KEYS = ["data", "windows", "train", "models", "intervals", "tracking", "figures", "seeds", "backtest", "tune", "search",
                  "pretrain"]
REPEATS = {"backtest": BacktestConfig, "tune": TuneConfig, "pretrain": PretrainConfig}  # optional sections: absent is None


def config_from_dict(raw: Any) -> ExperimentConfig:
    """An ``ExperimentConfig`` from a plain mapping (as read from YAML)."""
    raw = {} if raw is None else raw
    if not isinstance(raw, dict):
        raise ForecasterError(f"a config should be a mapping with sections {', '.join([*SECTIONS, 'models'])}")
    unknown = [key for key in raw if key not in TOP_LEVEL_KEYS]
    if unknown:
        raise ForecasterError(f"unknown key {unknown[0]!r}; valid top-level keys: {', '.join(TOP_LEVEL_KEYS)}")
    raw = competition_defaults(raw)
    sections = {key: from_mapping(cls, raw.get(key), key) for key, cls in SECTIONS.items()}
    repeats: dict[str, Any] = {}  # absent (None) unless the config says how to repeat the experiment
    if raw.get("seeds") is not None:
        repeats["seeds"] = convert(raw["seeds"], tuple[int, ...], "seeds")
    repeats.update({key: from_mapping(cls, raw[key], key) for key, cls in REPEATS.items() if raw.get(key) is not None})
    if raw.get("search") is not None:
        repeats["search"] = search_from_mapping(raw["search"])
    entries = DEFAULT_MODELS if raw.get("models") is None else raw["models"]
    if not isinstance(entries, list) or not entries:
        raise ForecasterError("models should be a non-empty list of mappings, each with a 'kind'")
    models = tuple(_model_spec(entry, i) for i, entry in enumerate(entries))
    names = [spec.name for spec in models]
    duplicated = sorted({name for name in names if names.count(name) > 1})
    if duplicated:
        raise ForecasterError(f"model name {duplicated[0]!r} is used twice; give each model a unique 'name'")
    return ExperimentConfig(models=models, **sections, **repeats)


def apply_overrides(raw: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Apply ``key=value`` overrides to a raw config mapping (values parsed as YAML scalars).

    ``windows.context=32`` sets a section key; ``models.transformer.d_model=16`` sets a key of the model
    named ``transformer``; ``models=naive,linear`` keeps only those models (adding kinds not listed).
    """
    raw = yaml.safe_load(yaml.safe_dump(raw)) or {}  # a deep copy of plain data
    for override in overrides:
        key, separator, text = override.partition("=")
        if not separator or not key:
            raise ForecasterError(f"--set {override!r} should look like section.key=value, e.g. windows.context=32")
        value = yaml.safe_load(text) if text else None
        path = key.strip().split(".")
        if path[0] == "models":
            raw["models"] = _override_models(raw.get("models") or DEFAULT_MODELS, path[1:], value, override)
        elif path[0] in (sections := {**SECTIONS, **REPEATS}) and is_key_path(sections[path[0]], path[1:]):
            raw[path[0]] = set_key(sections[path[0]], raw.get(path[0]), path[1:], value, path[0])
        else:
            raise ForecasterError(
                f"--set {override!r}: the key should be section.key (or section.part.key) with a section among "
                f"{', '.join([*SECTIONS, *REPEATS])}, or models.NAME.key, or models=KIND,KIND"
            )
    return raw


def _override_models(entries: list[Any], path: list[str], value: Any, override: str) -> list[Any]:
    entries = [{"kind": e} if isinstance(e, str) else dict(e) for e in entries]
    by_name = {str(e.get("name", e.get("kind"))): e for e in entries}
    if not path:
        wanted = [name.strip() for name in str(value or "").split(",") if name.strip()]
        if not wanted:
            raise ForecasterError(f"--set {override!r} names no models; e.g. models=naive,linear,transformer")
        return [by_name.get(name, {"kind": name}) for name in wanted]
    if len(path) != 2 or path[0] not in by_name:
        raise ForecasterError(
            f"--set {override!r}: use models.NAME.key=value with NAME one of: {', '.join(by_name) or '(no models)'}"
        )
    by_name[path[0]][path[1]] = value
    return entries


def read_config(path: str | Path | None, overrides: list[str] = ()) -> ExperimentConfig:
    """Read a YAML config (``None``: the defaults) with ``--set`` overrides applied."""
    raw: Any = {}
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise ForecasterError(f"config file not found: {str(path)!r} (see experiments/ for examples)")
        try:
            raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        except UnicodeDecodeError:
            raise ForecasterError(f"{path} is not UTF-8 text; save the config as UTF-8") from None
        except yaml.YAMLError as error:
            raise ForecasterError(f"{path} is not valid YAML: {str(error).splitlines()[0]}") from None
    if raw is not None and not isinstance(raw, dict):
        raise ForecasterError(f"{path} should hold a mapping with sections data, windows, train, models")
    return config_from_dict(apply_overrides(raw or {}, list(overrides)))


def write_config(config: ExperimentConfig, path: Path) -> None:
    """Write the resolved config as YAML (the record of the run)."""
    path.write_text(yaml.safe_dump(config.to_dict(), sort_keys=False))


def config_sections() -> dict[str, type]:
    """Every section an experiment YAML may hold and its dataclass: the top level (``ExperimentConfig``: its ``seeds``
    and ``search`` are plain values), the sections and their parts (``pretrain.windows``), each model kind's keys."""
    kinds = {f"models.{kind}": entry.config_class for kind, entry in MODEL_KINDS.items()}
    return {"": ExperimentConfig, **SECTIONS, **REPEATS, **nested_sections(REPEATS), **kinds}

