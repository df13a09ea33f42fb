"""Tests for forecaster.data.transforms: each target transform, its inverse, its change space and its refusals,
the registry, and that no other module compares transform names."""

import ast
import typing
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from forecaster.data.features import DataConfig
from forecaster.data.transforms import TRANSFORM_NAMES, TRANSFORMS, Diff, Level, LogReturn, transform_named
from forecaster.errors import ForecasterError

PACKAGE = Path(__file__).resolve().parent.parent / "forecaster"
EVERY = list(TRANSFORMS.values())


def positive_series(length: int, channels: int = 2, seed: int = 0) -> np.ndarray:
    """A positive random walk per column, (length, channels)."""
    rng = np.random.default_rng(seed)
    return 100.0 * np.exp(np.cumsum(rng.normal(0.0, 0.02, (length, channels)), axis=0))


# --- the registry ---------------------------------------------------------------------------------------------------

def test_the_registry_names_each_transform_once_in_the_documented_order():
    assert TRANSFORM_NAMES == ("log_return", "diff", "level")
    assert all(TRANSFORMS[name].name == name and transform_named(name) is TRANSFORMS[name] for name in TRANSFORM_NAMES)
    assert [type(t) for t in EVERY] == [LogReturn, Diff, Level]


@pytest.mark.parametrize("name", ["logret", "LEVEL", "", None])
def test_an_unknown_transform_names_it_and_the_valid_ones(name):
    with pytest.raises(ForecasterError) as caught:
        transform_named(name)
    message = str(caught.value)
    assert repr(name) in message and "valid transforms: log_return, diff, level" in message


def test_the_config_type_follows_the_registry():
    assert typing.get_args(typing.get_type_hints(DataConfig)["transform"]) == TRANSFORM_NAMES


@pytest.mark.parametrize("transform, lost, centred", [(LogReturn(), 1, False), (Diff(), 1, False), (Level(), 0, True)])
def test_rows_lost_and_centring(transform, lost, centred):
    values = positive_series(12)
    assert transform.rows_lost == lost and len(transform.apply(values)) == len(values) - lost
    assert transform.centred is centred and transform.differenced is (not centred)


def test_transforms_are_values():
    """Equal by kind, so a series or config holding one compares and pickles as a value would."""
    import pickle

    assert LogReturn() == TRANSFORMS["log_return"] and pickle.loads(pickle.dumps(Diff())) == Diff() and Level() != Diff()


# --- apply and invert ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("transform", EVERY, ids=lambda t: t.name)
@pytest.mark.parametrize("horizon", [1, 3, 7, 24])
def test_invert_of_apply_gives_back_the_next_levels_from_each_origin(transform, horizon):
    values = positive_series(60, channels=1, seed=horizon)
    frames, levels = transform.apply(values)[:, 0], values[transform.rows_lost:, 0]  # aligned: row i is levels[i]
    origins = np.arange(0, len(levels) - horizon)
    forecast = np.stack([frames[t + 1 : t + 1 + horizon] for t in origins])  # (N, H): the true transformed future
    recovered = transform.invert(forecast, levels[origins])
    expected = np.stack([levels[t + 1 : t + 1 + horizon] for t in origins])
    assert recovered.shape == (len(origins), horizon)
    np.testing.assert_allclose(recovered, expected, rtol=1e-9, atol=0)


def test_apply_by_hand_per_column():
    values = np.array([[100.0, 10.0], [110.0, 20.0], [99.0, 5.0]])
    np.testing.assert_allclose(LogReturn().apply(values), [[np.log(1.1), np.log(2.0)], [np.log(0.9), np.log(0.25)]], rtol=1e-12)
    np.testing.assert_allclose(Diff().apply(values), [[10.0, 10.0], [-11.0, -15.0]], rtol=1e-12)
    result = Level().apply(values)
    np.testing.assert_array_equal(result, values)
    result[0, 0] = -1.0
    assert values[0, 0] == 100.0  # a copy


def test_invert_by_hand():
    anchors = np.array([100.0])
    np.testing.assert_allclose(LogReturn().invert(np.array([[np.log(1.1), np.log(0.9)]]), anchors), [[110.0, 99.0]], rtol=1e-12)
    np.testing.assert_allclose(Diff().invert(np.array([[10.0, -11.0]]), anchors), [[110.0, 99.0]])
    forecast = np.array([[110.0, 99.0]])
    recovered = Level().invert(forecast, anchors)
    np.testing.assert_array_equal(recovered, forecast)
    assert recovered is not forecast


# --- the change space --------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("transform", EVERY, ids=lambda t: t.name)
@pytest.mark.parametrize("shape", [(5, 3), (5, 3, 2)])
def test_from_change_of_to_change_gives_back_the_values(transform, shape):
    rng = np.random.default_rng(1)
    values, anchors = rng.uniform(50.0, 150.0, shape), rng.uniform(50.0, 150.0, shape[0])
    np.testing.assert_allclose(transform.from_change(transform.to_change(values, anchors), anchors), values, rtol=1e-12)


def test_changes_by_hand():
    values, anchors = np.array([[110.0, 90.0]]), np.array([100.0])
    np.testing.assert_allclose(LogReturn().to_change(values, anchors), [[np.log(1.1), np.log(0.9)]])
    for transform in (Diff(), Level()):
        np.testing.assert_allclose(transform.to_change(values, anchors), [[10.0, -10.0]])


@pytest.mark.parametrize("transform", EVERY, ids=lambda t: t.name)
def test_a_quantile_heads_cumulative_outputs_map_to_the_series(transform):
    anchors = np.array([100.0, 200.0])
    values = np.array([[[0.01, 0.02], [0.03, 0.04]], [[-0.01, 0.0], [0.0, 0.01]]])  # (N, H, Q)
    mapped = transform.cumulative_to_series(values, anchors)
    expected = values if transform.centred else transform.from_change(values, anchors)  # levels are levels
    np.testing.assert_array_equal(mapped, expected)
    assert mapped.shape == values.shape and mapped is not values


# --- refusals --------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("bad", [0.0, -3.0])
def test_log_return_refuses_non_positive_values_naming_the_columns_count_and_first_date(bad):
    values = np.array([[1.0, 5.0], [2.0, 5.0], [bad, 5.0], [bad, 5.0]])
    dates = pd.date_range("2024-01-01", periods=4, freq="D")
    with pytest.raises(ForecasterError) as caught:
        LogReturn().check(values, ["Close", "Volume"], dates)
    assert str(caught.value) == ("transform log_return needs positive values, but 'Close' has 2 value(s) <= 0 (first on 2024-01-03); "
                       "choose the diff or level transform instead (data.transform, or --transform)")


@pytest.mark.parametrize("transform", [Diff(), Level()], ids=lambda t: t.name)
def test_diff_and_level_take_any_value(transform):
    transform.check(np.array([[0.0], [-1.0]]), ["Close"], pd.date_range("2024-01-01", periods=2))


# --- no other module compares transform names ------------------------------------------------------------------------

def _compared_names(tree: ast.AST) -> list[int]:
    """Lines where a transform's name is an operand of ==, !=, in, not in or is (or of a tuple, list or set
    operand), or a ``case`` pattern."""
    def names(node: ast.AST) -> bool:
        if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
            return any(names(element) for element in node.elts)
        return isinstance(node, ast.Constant) and node.value in TRANSFORM_NAMES

    lines = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare) and any(names(operand) for operand in [node.left, *node.comparators]):
            lines.append(node.lineno)
        elif isinstance(node, ast.MatchValue) and names(node.value):
            lines.append(node.lineno)
    return sorted(lines)


def test_the_finder_finds_comparisons():
    code = 'a == "level"\n"diff" != b\nc in ("x", "log_return")\nmatch d:\n    case "diff": pass\nkind == "levels"\n'
    assert _compared_names(ast.parse(code)) == [1, 2, 3, 5]


def test_only_the_transforms_module_compares_transform_names():
    found = {str(path.relative_to(PACKAGE)): lines for path in sorted(PACKAGE.rglob("*.py"))
             if path != PACKAGE / "data" / "transforms.py" and (lines := _compared_names(ast.parse(path.read_text())))}
    assert found == {}, f"ask the transform object (forecaster/data/transforms.py) instead of comparing its name: {found}"
