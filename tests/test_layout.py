"""The package's layout: imports point down the data flow, no module grows past a reader's attention span.

Each top-level module or subpackage has a layer; a module may import its own package and the layers below
its own, never one above (lazy imports inside functions included). Subpackage ``__init__.py`` files stay
empty, so importing one part never drags in another.
"""

from __future__ import annotations

import ast
import math
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "forecaster"

# Lower layers know nothing of the higher ones. Parts on one layer do not import each other.
LAYERS = {
    "errors": 0, "version": 0,
    "mappings": 1,  # plain mappings <-> config dataclasses, checked against their type hints
    "data": 1,  # sources, features, windows, synthetic series, seasons
    "evaluation": 2,  # numpy-only metrics and statistical tests
    "models": 3,
    "training": 4,  # the loop, losses, distributed set-up
    "tracking": 5, "tuning": 5,  # TensorBoard and MLflow runs; the search space of forecaster tune
    "config": 6,  # the experiment config: data, windows, training, models
    "older_checkpoints": 6,  # checkpoint files of earlier format versions, read into today's layout
    "checkpoint": 7, "output": 7,  # the file format of a trained model; folders, tables, figures
    "runs": 8,  # prepare, fit and score, experiment, global runs, backtest, seeds, resume, tune
    "reuse": 9, "bench": 9,  # forecast, embed, transfer, estimator; speed and memory
    "lesson": 10,
    "commands": 12, "cli": 13, "__init__": 12, "__main__": 14,
}
# A module's length as a reader meets it: a line of L characters counts ceil(L / READING_WIDTH) lines, so that
# widening lines does not make a module shorter. "About 400": past this, split the module by concept.
MAX_READING_LINES = 420
READING_WIDTH = 100


def reading_lines(text: str) -> int:
    """The length of ``text`` in lines of at most ``READING_WIDTH`` characters (an empty line counts one)."""
    return sum(max(1, math.ceil(len(line) / READING_WIDTH)) for line in text.splitlines())


def part_of(path: Path) -> str:
    relative = path.relative_to(PACKAGE)
    return relative.parts[0] if len(relative.parts) > 1 else relative.stem


def imported_parts(path: Path) -> set[str]:
    """The forecaster parts (top-level module or subpackage) that ``path`` imports anywhere in its body."""
    parts = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names = []
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] if node.module != "forecaster" else [f"forecaster.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        parts |= {name.split(".")[1] for name in names if name.startswith("forecaster.")}
    return parts


MODULES = sorted(PACKAGE.rglob("*.py"))


def test_every_part_has_a_layer():
    assert {part_of(path) for path in MODULES} <= set(LAYERS)


@pytest.mark.parametrize("path", MODULES, ids=lambda path: str(path.relative_to(PACKAGE)))
def test_imports_point_down_the_data_flow(path):
    own = part_of(path)
    for part in imported_parts(path) - {own}:
        assert LAYERS[part] < LAYERS[own], f"{path.relative_to(PACKAGE)} ({own}, layer {LAYERS[own]}) imports {part} (layer {LAYERS[part]})"


def test_subpackages_have_empty_inits_and_the_top_level_few_modules():
    for init in PACKAGE.glob("*/__init__.py"):
        if init.parent.name not in ("models", "lesson"):  # the registry and the lesson's entry points live there
            assert init.read_text().strip() == "", init
    # A handful: the version, errors, the mappings, the config, the checkpoint format and its older versions, the CLI.
    assert len(list(PACKAGE.glob("*.py"))) <= 9


@pytest.mark.parametrize("path", MODULES, ids=lambda path: str(path.relative_to(PACKAGE)))
def test_no_module_is_too_long_to_read(path):
    reading = reading_lines(path.read_text())
    assert reading <= MAX_READING_LINES, f"{reading} lines of {READING_WIDTH} characters: split the module by concept"


def test_reading_lines_count_wide_lines_more_than_once():
    assert reading_lines("x = 1\n" * 10) == 10
    assert reading_lines(("y = " + "1 + " * 40 + "1\n") * 10) == 20  # 165 characters: two reading lines each
