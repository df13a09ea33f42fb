"""The documentation matches the code: every config field is described, the generated reference lists every
key, command and option, every command shown in the README and on the site is one the parser and the config
loader take, and no stale phrase is left.

The site itself is built by ``mkdocs build --strict`` in CI (a broken link or anchor fails it); these tests
need no MkDocs.
"""

from __future__ import annotations

import argparse
import dataclasses
import re
import shlex
import sys
from pathlib import Path

import pytest

from forecaster.cli import build_parser
from forecaster.commands.arguments import config_from_arguments
from forecaster.commands.pretrain import check_overrides
from forecaster.config import TOP_LEVEL_KEYS, config_sections, read_config
from forecaster.errors import ForecasterError
from forecaster.mappings import field_docs
from forecaster.reuse.pretrained_recipe import is_recipe, read_recipe

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
import gen_docs  # noqa: E402  (scripts/ is not a package: the docs build runs it as a file)

PAGES = sorted([ROOT / "README.md", ROOT / "CHANGELOG.md", ROOT / "CONTRIBUTING.md", *(ROOT / "docs").rglob("*.md")])
SECTIONS = config_sections()


@pytest.mark.parametrize("section", list(SECTIONS), ids=lambda section: section or "top-level")
def test_every_config_field_has_a_description(section):
    missing = [name for name, doc in field_docs(SECTIONS[section]).items() if not doc.strip()]
    assert not missing, f"{SECTIONS[section].__name__} fields without an attribute docstring: {missing}"


def test_the_config_reference_lists_every_key_of_a_pretrained_forecasters_recipe():
    from forecaster.reuse.pretrained_recipe import REFERENCE

    page = gen_docs.recipe_reference()
    for section, (cls, _) in REFERENCE.items():
        assert f"### `{section}:`" in page
        missing = [name for name, doc in field_docs(cls).items() if not doc.strip()]
        assert not missing, f"{cls.__name__} fields without an attribute docstring: {missing}"
    assert "| `context` | int | `128` |" in page and "| `series` | int | `(required)` |" in page


def test_field_docs_reads_the_string_under_each_field():
    @dataclasses.dataclass(frozen=True)
    class Example:
        documented: int = 1
        """What it does,
        on two lines."""
        bare: str = "x"

    assert field_docs(Example) == {"documented": "What it does,\non two lines.", "bare": ""}


def test_the_config_reference_lists_every_key_a_run_accepts():
    rows = {key: (kind, default, meaning) for key, kind, default, meaning in gen_docs.config_rows()}
    assert set(TOP_LEVEL_KEYS) <= set(rows)
    for section, cls in SECTIONS.items():
        for field in dataclasses.fields(cls):
            key = f"{section}.{field.name}" if section else field.name
            assert key in rows and rows[key][2], key
    page = gen_docs.config_reference()
    assert "| `data.source` | str or list of str | `sp500` |" in page
    assert "| `intervals.levels` | list of float | `[80.0, 95.0]` |" in page
    assert "### `kind: transformer`" in page and "| `positional` | one of: `learned`, `sinusoidal`" in page


def test_the_cli_reference_lists_every_command_and_option():
    parser = build_parser()
    page = gen_docs.cli_reference(parser)
    for name, (sub, _) in gen_docs._subcommands(parser).items():
        assert f"## forecaster {name}" in page
        for action in sub._actions:
            if action.option_strings and action.help != argparse.SUPPRESS and "-h" not in action.option_strings:
                assert f"`{action.option_strings[-1]}`" in page, (name, action.option_strings)


def test_the_experiment_reports_are_copied_into_the_site():
    files = {path.as_posix() for path in gen_docs.experiment_files()}
    assert {"experiments/lesson/report.md", "experiments/lesson/causes.md"} <= files
    assert all(name.endswith((".md", ".png")) for name in files)


def documented_commands() -> list[tuple[str, str]]:
    """(page, command line) for every ``forecaster`` command in a fenced code block of the README and the site."""
    commands = []
    for page in PAGES:
        text = page.read_text(encoding="utf-8")
        for block in re.findall(r"^```(?:bash|sh|shell)?\n(.*?)^```", text, flags=re.M | re.S):
            for line in block.replace("\\\n", " ").splitlines():
                line = line.strip()
                if "-m forecaster " in line:  # torchrun ... -m forecaster run ...
                    line = "forecaster " + line.split("-m forecaster ", 1)[1]
                for part in line.split("&&"):
                    part = part.strip()
                    if part.startswith("forecaster "):
                        commands.append((str(page.relative_to(ROOT)), part))
    return commands


COMMANDS = documented_commands()


def test_the_docs_show_commands():
    assert len(COMMANDS) > 40
    assert {command.split()[1] for _, command in COMMANDS} >= {"run", "backtest", "tune", "forecast", "transfer", "embed",
                                                              "pretrain", "compare", "bench", "lesson"}


@pytest.mark.parametrize("page,command", COMMANDS, ids=[f"{page}:{command[:60]}" for page, command in COMMANDS])
def test_every_documented_command_parses_and_its_settings_exist(page, command):
    """A renamed option or config key fails here before a user meets it; paths that only exist after a run are
    not read (their config is not checked)."""
    words = shlex.split(command, comments=True)[1:]
    try:
        args = build_parser().parse_args(words)
    except SystemExit:
        pytest.fail(f"{page}: the parser refuses `{command}`")
    if args.command in ("run", "backtest", "tune", "pretrain") and (args.config is None or (ROOT / args.config).is_file()):
        if args.config is not None:
            args.config = str(ROOT / args.config)
        try:
            if args.command == "pretrain" and is_recipe(args.config):  # a pretrained forecaster's recipe and its --set
                read_recipe(args.config, args.overrides)
            elif args.command == "pretrain":  # its --set keys: those it reads, and each one that exists
                check_overrides(args.overrides)
                read_config(args.config, args.overrides)
            else:
                config_from_arguments(args)
        except ForecasterError as error:
            pytest.fail(f"{page}: `{command}`: {error}")


STALE = ["for now", "future work", "later work", "not tried yet", "the issue", "this machine", "../shared", "development workspace"]


@pytest.mark.parametrize("page", PAGES, ids=lambda page: str(page.relative_to(ROOT)))
def test_no_stale_phrases(page):
    text = page.read_text(encoding="utf-8").lower()
    assert not [phrase for phrase in STALE if phrase in text]


def test_the_readme_stays_short_and_keeps_the_quick_start():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(text.splitlines()) <= 250
    quick = text.split("<!-- quickstart:start -->")[1].split("<!-- quickstart:end -->")[0]
    assert [line for line in quick.splitlines() if line.startswith(("pip", "forecaster", "pytest"))] == [
        "pip install -e . && forecaster run", 'pip install -e ".[dev]" && pytest']


def python_blocks() -> list[tuple[str, str]]:
    """(page, code) of every fenced Python block of the README and the site."""
    return [(str(page.relative_to(ROOT)), block) for page in PAGES
            for block in re.findall(r"^```python\n(.*?)^```", page.read_text(encoding="utf-8"), flags=re.M | re.S)]


@pytest.mark.slow
@pytest.mark.parametrize("page,code", python_blocks(), ids=[f"{page}:{i}" for i, (page, _) in enumerate(python_blocks())])
def test_every_python_example_runs(page, code, tmp_path, monkeypatch, capsys):
    """The examples are tutorials a user pastes: run them from a copy of the repository's root, so that the paths
    they name (experiments/, results/) resolve and what they write lands in a temporary folder. Each prints a
    table of scores or forecasts, with the naive forecast's where it scores."""
    (tmp_path / "experiments").symlink_to(ROOT / "experiments")
    monkeypatch.chdir(tmp_path)
    exec(compile(code, page, "exec"), {"__name__": "__docs__"})
    printed = capsys.readouterr().out
    assert printed.strip(), f"{page}: the example printed nothing"
    if "rel_mae" in code or "score()" in code:
        assert "naive" in printed


def test_no_message_in_the_package_says_for_now():
    """A refusal names its real reason and what works instead; "for now" is neither."""
    offenders = [str(path.relative_to(ROOT)) for path in (ROOT / "forecaster").rglob("*.py") if "for now" in path.read_text().lower()]
    assert not offenders
