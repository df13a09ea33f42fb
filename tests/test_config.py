"""Tests for forecaster.config: YAML <-> frozen dataclasses, unknown keys and types, ranges, --set overrides."""

import copy
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import pytest
import yaml

from forecaster.config import (
    BacktestConfig,
    ExperimentConfig,
    apply_overrides,
    config_from_dict,
    read_config,
    write_config,
)
from forecaster.data.features import DataConfig
from forecaster.data.windows import WindowConfig
from forecaster.errors import ForecasterError
from forecaster.mappings import from_mapping, is_key_path, nested_sections, set_key
from forecaster.models import MODEL_KINDS
from forecaster.models.mlp import MLPConfig
from forecaster.models.rnn import RNNConfig
from forecaster.models.transformer import TransformerConfig
from forecaster.training.loop import TrainConfig

EXPERIMENTS = Path(__file__).parent.parent / "experiments"
SP500 = EXPERIMENTS / "sp500.yaml"
SUNSPOTS = EXPERIMENTS / "sunspots.yaml"
ALL_KINDS = list(MODEL_KINDS)
# Those the examples list: not the statistical kinds (the stats extra) nor the pretrained one (level values, weights).
WINDOW_KINDS = [kind for kind, entry in MODEL_KINDS.items() if entry.statistical is None and entry.fine_tunes is None]


def config_error(raw) -> str:
    """The one-line message of the ForecasterError that ``config_from_dict(raw)`` raises."""
    with pytest.raises(ForecasterError) as caught:
        config_from_dict(raw)
    message = str(caught.value)
    assert "\n" not in message
    return message


def write_yaml(folder: Path, text: str, name: str = "config.yaml") -> Path:
    path = folder / name
    path.write_text(text)
    return path


# --- the bundled experiment files -----------------------------------------------------------


def test_sp500_yaml_loads_with_its_settings():
    config = read_config(SP500)
    assert isinstance(config, ExperimentConfig)
    assert config.data == DataConfig(source="sp500", column=None, features=(), transform="log_return")
    assert config.windows == WindowConfig(context=64, horizon=1, train_fraction=0.7, val_fraction=0.15)
    assert config.train.learning_rate == pytest.approx(0.001)
    assert isinstance(config.train.learning_rate, float)
    kinds = [spec.kind for spec in config.models]
    assert kinds == ["naive", "seasonal_naive", "linear", "mlp", "rnn", "transformer"]
    assert {"naive", "transformer"} <= set(kinds)
    by_name = {spec.name: spec for spec in config.models}
    assert by_name["seasonal_naive"].config.period == 5
    assert by_name["mlp"].config == MLPConfig(hidden=(64, 64))
    assert by_name["transformer"].config == TransformerConfig(
        d_model=32, n_heads=4, n_layers=2, d_ff=64, dropout=0.1, positional="learned"
    )


def test_sunspots_yaml_loads_with_level_transform_and_defaults_elsewhere():
    config = read_config(SUNSPOTS)
    assert config.data.source == "sunspots"
    assert config.data.transform == "level"
    assert (config.windows.context, config.windows.horizon) == (144, 6)
    # Keys the file leaves out keep the dataclass defaults.
    assert (config.windows.train_fraction, config.windows.val_fraction) == (0.7, 0.15)
    assert (config.train.epochs, config.train.batch_size, config.train.patience) == (40, 64, 8)
    assert config.train.learning_rate == TrainConfig().learning_rate
    assert [spec.kind for spec in config.models] == WINDOW_KINDS
    seasonal = next(spec for spec in config.models if spec.kind == "seasonal_naive")
    assert seasonal.config.period == 132


def test_read_config_none_gives_defaults_and_every_kind_but_seasonal_naive_in_registry_order():
    config = read_config(None)
    assert config.data == DataConfig()
    assert config.windows == WindowConfig()
    assert config.train == TrainConfig()
    expected = [kind for kind in WINDOW_KINDS if kind != "seasonal_naive"]  # the statistical ones need the stats extra
    assert [spec.kind for spec in config.models] == expected
    assert [spec.name for spec in config.models] == expected
    for spec in config.models:
        assert spec.config == MODEL_KINDS[spec.kind].config_class()


@pytest.mark.parametrize("raw", [None, {}, {"models": None}])
def test_empty_config_is_the_defaults(raw):
    assert config_from_dict(raw) == read_config(None)


# --- round trips ----------------------------------------------------------------------------


@pytest.mark.parametrize("path", [SP500, SUNSPOTS], ids=["sp500", "sunspots"])
def test_to_dict_round_trips(path):
    config = read_config(path)
    assert config_from_dict(config.to_dict()) == config


@pytest.mark.parametrize("path", [SP500, SUNSPOTS], ids=["sp500", "sunspots"])
def test_write_then_read_round_trips(path, tmp_path):
    config = read_config(path)
    written = tmp_path / "resolved.yaml"
    write_config(config, written)
    # Plain YAML, readable without any project type.
    raw = yaml.safe_load(written.read_text())
    assert set(raw) == {"data", "windows", "train", "models", "intervals"}
    assert read_config(written) == config


def test_seeds_and_backtest_sections_round_trip_and_stay_out_when_unused(tmp_path):
    raw = {"models": ["naive"], "seeds": [2, 0], "backtest": {"folds": 3, "scheme": "sliding"}}
    config = config_from_dict(raw)
    assert config.seeds == (2, 0) and config.backtest == BacktestConfig(folds=3, scheme="sliding")
    write_config(config, tmp_path / "c.yaml")
    written = yaml.safe_load((tmp_path / "c.yaml").read_text())
    assert written["seeds"] == [2, 0]
    assert written["backtest"] == {"folds": 3, "seeds": [0], "scheme": "sliding", "refit_every": 1}
    assert read_config(tmp_path / "c.yaml") == config
    plain = read_config(None)
    assert plain.seeds is None and plain.backtest is None and set(plain.to_dict()) == {"data", "windows", "train", "models",
                                                                                             "intervals"}
    assert read_config(None, ["backtest.refit_every=2"]).backtest == BacktestConfig(refit_every=2)
    with pytest.raises(ForecasterError, match="unknown key backtest.fold; valid keys in backtest: folds, seeds, scheme"):
        config_from_dict({"backtest": {"fold": 3}})
    with pytest.raises(ForecasterError, match=r"backtest.folds='x' should be of type int"):
        config_from_dict({"backtest": {"folds": "x"}})


def test_round_trip_keeps_custom_model_names_and_tuples(tmp_path):
    raw = {
        "data": {"features": ["Volume"]},
        "models": [{"kind": "mlp", "name": "wide", "hidden": [8, 4]}, {"kind": "mlp", "name": "narrow"}],
    }
    config = config_from_dict(raw)
    write_config(config, tmp_path / "c.yaml")
    again = read_config(tmp_path / "c.yaml")
    assert again == config
    assert again.data.features == ("Volume",)
    assert [(spec.name, spec.kind, spec.config.hidden) for spec in again.models] == [
        ("wide", "mlp", (8, 4)),
        ("narrow", "mlp", (64, 64)),
    ]


# --- unknown keys -----------------------------------------------------------------------------


def test_unknown_top_level_key_names_it_and_the_valid_keys():
    message = config_error({"datta": {"source": "sp500"}})
    assert "datta" in message
    assert "data, windows, train, models, intervals" in message


def test_unknown_section_key_names_it_and_the_valid_keys():
    message = config_error({"windows": {"contex": 3}})
    assert "windows.contex" in message
    for valid in ("context", "horizon", "train_fraction", "val_fraction"):
        assert valid in message


def test_unknown_model_key_names_it_and_the_valid_keys():
    message = config_error({"models": [{"kind": "transformer", "d_modle": 8}]})
    assert "d_modle" in message
    assert "models.transformer" in message
    for valid in ("d_model", "n_heads", "n_layers", "d_ff", "dropout", "positional"):
        assert valid in message


def test_unknown_model_kind_lists_the_valid_kinds():
    message = config_error({"models": [{"kind": "gpt"}]})
    assert "'gpt'" in message
    assert ", ".join(ALL_KINDS) in message


def test_model_entry_without_kind_is_an_error_listing_the_kinds():
    message = config_error({"models": [{"name": "mine", "d_model": 8}]})
    assert "models[0]" in message
    assert "'kind'" in message
    assert ", ".join(ALL_KINDS) in message


def test_models_as_strings_are_kinds():
    config = config_from_dict({"models": ["naive", "linear"]})
    assert [(spec.name, spec.kind) for spec in config.models] == [("naive", "naive"), ("linear", "linear")]


@pytest.mark.parametrize(
    "models",
    [
        [{"kind": "naive"}, {"kind": "naive"}],
        ["mlp", {"kind": "mlp", "hidden": [8]}],
        [{"kind": "naive"}, {"kind": "linear", "name": "naive"}],
    ],
)
def test_duplicate_model_names_are_an_error(models):
    message = config_error({"models": models})
    assert re.search(r"model name '(naive|mlp)' is used twice", message)
    assert "unique 'name'" in message


def test_same_kind_twice_with_distinct_names_is_fine():
    config = config_from_dict({"models": [{"kind": "mlp", "name": "a"}, {"kind": "mlp", "name": "b", "hidden": [8]}]})
    assert [spec.config.hidden for spec in config.models] == [(64, 64), (8,)]


@pytest.mark.parametrize(
    "raw, expected",
    [
        ({"windows": [1, 2]}, "windows should be a mapping"),
        ({"models": {"kind": "naive"}}, "models should be a non-empty list"),
        ({"models": []}, "models should be a non-empty list"),
    ],
)
def test_section_of_the_wrong_shape_is_an_error(raw, expected):
    assert expected in config_error(raw)


# --- types ------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["abc", 1.5, True, None, [3]])
def test_int_field_rejects_non_integers_naming_int(value):
    message = config_error({"windows": {"context": value}})
    assert f"windows.context={value!r}" in message
    assert "int" in message


@pytest.mark.parametrize(
    "value, expected",
    [(1, 1.0), (0.01, 0.01), ("1e-3", 0.001), ("2.5e-4", 0.00025)],
)
def test_float_field_accepts_ints_and_number_text(value, expected):
    config = config_from_dict({"train": {"learning_rate": value}})
    assert config.train.learning_rate == pytest.approx(expected)
    assert type(config.train.learning_rate) is float


def test_yaml_exponent_without_dot_reads_as_float(tmp_path):
    # YAML 1.1 reads 1e-3 (no dot) as a string; the float field must still get 0.001.
    path = write_yaml(tmp_path, "train:\n  learning_rate: 1e-3\n")
    assert yaml.safe_load(path.read_text())["train"]["learning_rate"] == "1e-3"
    learning_rate = read_config(path).train.learning_rate
    assert learning_rate == pytest.approx(0.001)
    assert type(learning_rate) is float


@pytest.mark.parametrize("value", ["fast", True, None, [0.1]])
def test_float_field_rejects_non_numbers_naming_float(value):
    message = config_error({"train": {"learning_rate": value}})
    assert "train.learning_rate" in message
    assert "float" in message


def test_literal_field_rejects_other_values_naming_the_choices():
    message = config_error({"data": {"transform": "logret"}})
    assert "data.transform='logret'" in message
    assert "log_return, diff, level" in message


def test_literal_field_in_a_model_names_the_choices():
    message = config_error({"models": [{"kind": "rnn", "cell": "tanh"}]})
    assert "models.rnn.cell='tanh'" in message
    assert "gru, lstm" in message


def test_literal_field_accepts_a_listed_value():
    config = config_from_dict({"models": [{"kind": "rnn", "cell": "lstm"}]})
    assert config.models[0].config == RNNConfig(cell="lstm")


@pytest.mark.parametrize("value, expected", [([8, 4], (8, 4)), ([16], (16,)), (8, (8,))])
def test_tuple_field_accepts_lists(value, expected):
    config = config_from_dict({"models": [{"kind": "mlp", "hidden": value}]})
    assert config.models[0].config.hidden == expected


def test_tuple_items_are_checked_naming_the_index():
    message = config_error({"models": [{"kind": "mlp", "hidden": [8, "wide"]}]})
    assert "models.mlp.hidden[1]='wide'" in message
    assert "int" in message


def test_optional_field_accepts_null_and_a_string():
    assert config_from_dict({"data": {"column": None}}).data.column is None
    assert config_from_dict({"data": {"column": "Open"}}).data.column == "Open"


def test_bool_is_not_a_string():
    message = config_error({"data": {"source": True}})
    assert "data.source=True" in message
    assert "str" in message


# --- value ranges (the dataclasses' __post_init__) ------------------------------------------------


@pytest.mark.parametrize(
    "section, values, expected",
    [
        ("windows", {"context": 0}, r"windows\.context=0 must be a positive"),
        ("windows", {"context": -5}, r"windows\.context=-5 must be a positive"),
        ("windows", {"horizon": 0}, r"windows\.horizon=0 must be a positive"),
        ("windows", {"train_fraction": 0.9, "val_fraction": 0.1}, r"= 1 leaves no test span; their sum must be below 1"),
        ("windows", {"train_fraction": 0.8, "val_fraction": 0.3}, r"leaves no test span"),
        ("windows", {"train_fraction": 0.0}, r"windows\.train_fraction=0\.0 .* strictly between 0 and 1"),
        ("windows", {"train_fraction": 1.2}, r"windows\.train_fraction=1\.2 .* strictly between 0 and 1"),
        ("windows", {"val_fraction": -0.1}, r"windows\.val_fraction=-0\.1 must each lie strictly between 0 and 1"),
        ("train", {"epochs": 0}, r"train\.epochs=0 must be at least 1"),
        ("train", {"batch_size": 0}, r"train\.batch_size=0 must be at least 1"),
        ("train", {"patience": -1}, r"train\.patience=-1 must be at least 1"),
        ("train", {"learning_rate": -0.001}, r"train\.learning_rate=-0\.001 .* must be positive"),
        ("train", {"learning_rate": 0}, r"train\.learning_rate=0\.0 .* must be positive"),
        ("train", {"weight_decay": -1}, r"train\.weight_decay=-1\.0 non-negative"),
        ("train", {"grad_clip": 0}, r"train\.grad_clip=0\.0 must be positive"),
        ("train", {"device": "tpu"}, r"train\.device='tpu' is not one of auto, cpu, cuda, mps \(or cuda:N\)"),
        ("train", {"schedule": "linear"}, r"train\.schedule='linear' is not valid; choose one of: constant, cosine, one_cycle"),
        ("train", {"warmup": 1}, r"train\.warmup=1\.0 must be a fraction of the training steps in \[0, 1\)"),
        ("train", {"warmup": -0.5}, r"train\.warmup=-0\.5 must be a fraction"),
    ],
)
def test_out_of_range_values_are_errors(section, values, expected):
    message = config_error({section: values})
    assert re.search(expected, message), message


def test_a_schedule_round_trips_through_yaml(tmp_path):
    path = write_yaml(tmp_path, "train: {schedule: cosine, warmup: 0.1}\nmodels: [naive, linear]\n")
    config = read_config(path)
    assert (config.train.schedule, config.train.warmup) == ("cosine", 0.1)
    assert config.to_dict()["train"]["schedule"] == "cosine" and config_from_dict(config.to_dict()) == config
    write_config(config, tmp_path / "written.yaml")
    assert read_config(tmp_path / "written.yaml") == config


def test_a_train_section_from_before_schedules_reads_as_constant():
    """A config.yaml written before these keys existed (a results folder, a run waiting for --resume)."""
    older = {key: value for key, value in config_from_dict({}).to_dict()["train"].items() if key not in ("schedule", "warmup")}
    assert config_from_dict({"train": older}).train == TrainConfig()
    assert (TrainConfig().schedule, TrainConfig().warmup) == ("constant", 0.0)


def test_the_schedule_may_be_searched():
    search = {"linear": {"train.schedule": {"choices": ["constant", "cosine"]}, "train.warmup": [0.0, 0.2]}}
    config = config_from_dict({"models": ["linear"], "search": search})
    assert [item.key for item in config.search[0].dimensions] == ["train.schedule", "train.warmup"]
    message = config_error({"models": ["linear"], "search": {"linear": {"train.schedule": {"choices": ["cosine", "step"]}}}})
    assert message.startswith("search.linear.train.schedule") and "constant, cosine, one_cycle" in message


@pytest.mark.parametrize("device", ["auto", "cpu", "cuda", "mps", "cuda:1"])
def test_valid_devices_are_accepted(device):
    assert config_from_dict({"train": {"device": device}}).train.device == device


def test_range_checks_hold_for_dataclasses_built_directly():
    with pytest.raises(ForecasterError, match=r"windows\.context=0 must be a positive number of steps"):
        WindowConfig(context=0)
    with pytest.raises(ForecasterError, match=r"leaves no test span"):
        WindowConfig(train_fraction=0.5, val_fraction=0.5)
    with pytest.raises(ForecasterError, match=r"train\.epochs=0 must be at least 1"):
        TrainConfig(epochs=0)


@pytest.mark.parametrize("text", ["nan", ".nan"])
def test_nan_learning_rate_is_an_error(text):
    with pytest.raises(ForecasterError, match=r"train\.learning_rate"):
        read_config(None, [f"train.learning_rate={text}"])


# --- --set overrides --------------------------------------------------------------------------


def test_overrides_set_section_and_model_keys():
    config = read_config(
        SP500,
        ["windows.context=32", "train.learning_rate=1e-4", "models.transformer.d_model=16", "data.source=sunspots"],
    )
    assert config.windows.context == 32
    assert config.train.learning_rate == pytest.approx(1e-4)
    assert type(config.train.learning_rate) is float
    assert config.data.source == "sunspots"
    transformer = next(spec for spec in config.models if spec.name == "transformer")
    assert transformer.config.d_model == 16
    # Everything else is as the file says.
    original = read_config(SP500)
    assert config.windows.horizon == original.windows.horizon
    assert config.data.transform == original.data.transform
    assert transformer.config.n_heads == 4
    assert [spec.name for spec in config.models] == [spec.name for spec in original.models]


def test_later_override_wins():
    config = read_config(SP500, ["windows.context=32", "windows.context=16"])
    assert config.windows.context == 16


def test_models_override_keeps_exactly_those_in_that_order():
    config = read_config(SP500, ["models=linear,naive"])
    assert [spec.name for spec in config.models] == ["linear", "naive"]
    config = read_config(SP500, ["models=naive,linear"])
    assert [spec.name for spec in config.models] == ["naive", "linear"]


def test_models_override_keeps_the_listed_settings():
    config = read_config(SP500, ["models=naive,mlp"])
    assert [spec.name for spec in config.models] == ["naive", "mlp"]
    assert config.models[1].config == MLPConfig(hidden=(64, 64))


def test_models_override_adds_an_unlisted_kind_with_defaults(tmp_path):
    path = write_yaml(tmp_path, "models:\n  - kind: naive\n  - kind: transformer\n    d_model: 8\n")
    config = read_config(path, ["models=naive,mlp"])
    assert [(spec.name, spec.kind) for spec in config.models] == [("naive", "naive"), ("mlp", "mlp")]
    assert config.models[1].config == MLPConfig()


def test_models_override_then_model_key():
    config = read_config(SP500, ["models=naive,transformer", "models.transformer.n_layers=1"])
    assert [spec.name for spec in config.models] == ["naive", "transformer"]
    assert config.models[1].config.n_layers == 1


def test_models_override_with_unknown_kind_lists_the_kinds():
    with pytest.raises(ForecasterError, match=r"'gpt' is not a model kind; valid kinds: naive") as caught:
        read_config(SP500, ["models=naive,gpt"])
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(
    "override, expected",
    [
        ("windows.context", r"'windows\.context' should look like section\.key=value"),
        ("=32", r"'=32' should look like section\.key=value"),
        ("window.context=32", r"section among data, windows, train"),
        ("context=32", r"section among data, windows, train"),
        ("windows.context.deep=32", r"section among data, windows, train"),
        ("models.NOSUCH.x=1", r"models\.NAME\.key=value with NAME one of: naive, seasonal_naive, linear"),
        ("models.transformer=1", r"models\.NAME\.key=value with NAME one of"),
    ],
)
def test_malformed_override_is_a_one_line_error(override, expected):
    with pytest.raises(ForecasterError, match=expected) as caught:
        read_config(SP500, [override])
    assert "\n" not in str(caught.value)
    assert override in str(caught.value)


@pytest.mark.parametrize(
    "override, expected",
    [
        ("windows.contex=3", r"unknown key windows\.contex; valid keys in windows: context"),
        ("windows.context=abc", r"windows\.context='abc' should be of type int"),
        ("models.transformer.d_modle=3", r"unknown key models\.transformer\.d_modle; valid keys"),
        ("data.transform=logret", r"choose one of: log_return, diff, level"),
    ],
)
def test_override_values_are_checked_like_file_values(override, expected):
    with pytest.raises(ForecasterError, match=expected):
        read_config(SP500, [override])


def test_apply_overrides_does_not_mutate_the_raw_dict():
    raw = yaml.safe_load(SP500.read_text())
    before = copy.deepcopy(raw)
    result = apply_overrides(
        raw, ["windows.context=32", "models.transformer.d_model=16", "data.source=sunspots", "train.seed=3"]
    )
    assert raw == before
    assert result["windows"]["context"] == 32
    assert result["data"]["source"] == "sunspots"
    assert result is not raw
    result2 = apply_overrides(raw, ["models=naive,mlp"])
    assert raw == before
    assert [entry["kind"] for entry in result2["models"]] == ["naive", "mlp"]


def test_overrides_apply_to_a_config_without_the_section(tmp_path):
    path = write_yaml(tmp_path, "data:\n  source: sunspots\n")
    config = read_config(path, ["train.epochs=2"])
    assert config.train.epochs == 2
    assert config.data.source == "sunspots"


def test_model_override_on_the_default_models():
    config = read_config(None, ["models.transformer.d_model=16"])
    transformer = next(spec for spec in config.models if spec.name == "transformer")
    assert transformer.config.d_model == 16


# --- files ------------------------------------------------------------------------------------


def test_python_tags_are_refused_and_run_nothing(tmp_path, capfd):
    marker = tmp_path / "hacked"
    path = write_yaml(
        tmp_path,
        f'data: !!python/object/apply:os.system ["echo hacked && touch {marker}"]\n',
    )
    with pytest.raises(ForecasterError, match=r"is not valid YAML") as caught:
        read_config(path)
    assert "\n" not in str(caught.value)
    assert str(path) in str(caught.value)
    assert not marker.exists()
    assert "hacked" not in capfd.readouterr().out


def test_broken_yaml_is_a_one_line_error(tmp_path):
    path = write_yaml(tmp_path, "windows: [\n  context: 3\n")
    with pytest.raises(ForecasterError, match=r"is not valid YAML") as caught:
        read_config(path)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize("text", ["- data\n- windows\n", "just a string\n", "42\n"])
def test_config_file_that_is_not_a_mapping_is_an_error(tmp_path, text):
    path = write_yaml(tmp_path, text)
    with pytest.raises(ForecasterError, match=r"should hold a mapping with sections data, windows, train, models"):
        read_config(path)


def test_missing_config_file_is_an_error_naming_the_path(tmp_path):
    missing = tmp_path / "nope.yaml"
    with pytest.raises(ForecasterError, match=r"config file not found: .*nope\.yaml.*experiments/") as caught:
        read_config(missing)
    assert "\n" not in str(caught.value)


def test_a_folder_is_not_a_config_file(tmp_path):
    with pytest.raises(ForecasterError, match=r"config file not found"):
        read_config(tmp_path)


def test_empty_config_file_gives_the_defaults(tmp_path):
    assert read_config(write_yaml(tmp_path, "")) == read_config(None)


def test_non_utf8_config_file_is_a_forecaster_error(tmp_path):
    path = tmp_path / "latin1.yaml"
    path.write_bytes(b"data:\n  source: caf\xe9\n")
    with pytest.raises(ForecasterError, match=r"latin1\.yaml"):
        read_config(path)


def test_unhashable_kind_is_a_forecaster_error():
    with pytest.raises(ForecasterError, match=r"valid kinds"):
        config_from_dict({"models": [{"kind": ["naive"]}]})


def test_unquoted_dates_are_read_as_date_text():
    """YAML reads an unquoted 2024-03-01 as a date; data.start and data.end take it as that date's text."""
    from forecaster.config import read_config

    config = read_config(None, ["data.start=2024-01-01", "data.end=2024-03-01"])
    assert (config.data.start, config.data.end) == ("2024-01-01", "2024-03-01")


# --- nested sections and renamed keys (forecaster.mappings) ---------------------------------------


@dataclass(frozen=True)
class Inner:
    size: int = 1
    shape: str = "flat"

    def __post_init__(self) -> None:
        if self.size < 1:
            raise ForecasterError(f"inner.size={self.size} must be at least 1, as inner.shape={self.shape!r} says")


def big_inner() -> Inner:
    return Inner(size=5, shape="tall")


@dataclass(frozen=True)
class Outer:
    name: str = "a"
    inner: Inner = field(default_factory=big_inner)
    RENAMED: ClassVar[dict[str, str]] = {"size": "inner.size"}


def test_a_nested_section_reads_a_nested_mapping_its_keys_left_out_the_owners_defaults():
    assert from_mapping(Outer, {}, "outer") == Outer() and from_mapping(Outer, {"inner": None}, "outer") == Outer()
    assert from_mapping(Outer, {"inner": {}}, "outer").inner == Inner(size=5, shape="tall")  # not Inner()
    assert from_mapping(Outer, {"inner": {"size": 2}}, "outer").inner == Inner(size=2, shape="tall")
    assert nested_sections({"outer": Outer}) == {"outer.inner": Inner}
    for mapping, expected in [
        ({"inner": {"other": 1}}, "unknown key outer.inner.other; valid keys in outer.inner: size, shape"),
        ({"inner": {"size": "x"}}, "outer.inner.size='x' should be of type int"),
        ({"inner": {"size": 0}}, "outer.inner.size=0 must be at least 1, as outer.inner.shape='tall' says"),  # its path
        ({"inner": 3}, "outer.inner should be a mapping of keys to values, got 3"),
    ]:
        with pytest.raises(ForecasterError) as caught:
            from_mapping(Outer, mapping, "outer")
        assert str(caught.value) == expected
    with pytest.raises(ForecasterError, match=r"^inner\.size=0"):  # a section read on its own keeps its own name
        from_mapping(Inner, {"size": 0}, "inner")


def test_an_old_key_reads_as_its_new_path_and_both_given_are_an_error():
    assert from_mapping(Outer, {"size": 3}, "outer") == from_mapping(Outer, {"inner": {"size": 3}}, "outer")
    with pytest.raises(ForecasterError, match=r"^outer\.size and outer\.inner\.size both set one value; keep outer\.inner\.size"):
        from_mapping(Outer, {"size": 3, "inner": {"size": 3}}, "outer")
    # A --set of either layout sets the new path, over a mapping of either layout.
    assert set_key(Outer, {"size": 3}, ["inner", "size"], 4, "outer") == {"inner": {"size": 4}}
    assert set_key(Outer, {"inner": {"size": 3, "shape": "x"}}, ["size"], 4, "outer") == {"inner": {"size": 4, "shape": "x"}}
    assert set_key(Outer, None, ["name"], "b", "outer") == {"name": "b"}
    assert is_key_path(Outer, ["inner", "size"]) and is_key_path(Outer, ["size"])
    assert not is_key_path(Outer, ["name", "x"]) and not is_key_path(Outer, [])


def test_overrides_reach_a_nested_section_and_no_deeper():
    config = read_config(None, ["pretrain.windows.context=32", "pretrain.encoder.patch=4"])
    assert (config.pretrain.windows.context, config.pretrain.encoder.patch) == (32, 4)
    for override in ("pretrain.windows.context.x=1", "pretrain.objective.x=1", "windows.context.x=1", "pretrain=1"):
        with pytest.raises(ForecasterError, match=r"the key should be section\.key \(or section\.part\.key\)"):
            read_config(None, [override])
