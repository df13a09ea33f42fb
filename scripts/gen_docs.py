"""The documentation site's generated pages, written by mkdocs-gen-files at every ``mkdocs build``.

- ``reference/cli.md``: every command and option, from ``forecaster.cli.build_parser()``;
- ``reference/config.md``: every key an experiment YAML takes, with type, default and description, from the
  config dataclasses and the attribute docstrings under their fields (``forecaster.mappings.field_docs``);
- ``experiments/...``: the measurement reports and figures kept beside their experiments, copied into the
  site so that the benchmark pages can link to them.

Nothing here is written by hand, so the reference cannot drift from the code. The functions are plain (text
in, text out) and ``tests/test_docs.py`` calls them; mkdocs-gen-files runs this file with ``runpy``.
"""

from __future__ import annotations

import argparse
import dataclasses
import types
import typing
from pathlib import Path
from typing import Any, Literal

import yaml

from forecaster.cli import build_parser
from forecaster.config import DEFAULT_MODELS, config_sections
from forecaster.mappings import field_docs

ROOT = Path(__file__).resolve().parent.parent
# What the benchmark pages link to: the reports written by the experiments' own commands, and their figures.
EXPERIMENT_FILES = ("*.md", "*.png")


def _cell(text: str) -> str:
    """Text that fits in one Markdown table cell."""
    return " ".join(str(text).split()).replace("|", "\\|")


def type_name(hint: Any) -> str:
    """A type hint as a reader of YAML thinks of it: ``int``, ``list of str``, ``one of: a, b``, ``str or null``."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is Literal:
        return "one of: " + ", ".join(f"`{arg}`" for arg in args)
    if origin is tuple:
        return f"list of {type_name(args[0])}"
    if origin in (typing.Union, types.UnionType):
        members = [type_name(arg) for arg in args if arg is not type(None)]
        return " or ".join(members) + (" or null" if type(None) in args else "")
    return "section" if dataclasses.is_dataclass(hint) else hint.__name__


def part_default(section: str) -> Any:
    """The default of a section's part (``pretrain.windows``: pretraining's windows, not ``WindowConfig()``), else None."""
    head, _, path = section.partition(".")
    if not path or head == "models":
        return None
    value = config_sections()[head]()
    for name in path.split("."):
        value = getattr(value, name)
    return value


def default_text(field: dataclasses.Field, owner: Any = None) -> str:
    """A field's default as YAML would write it (``null``, ``[80.0, 95.0]``); every config field has one. ``owner``: the
    default of the part the field is in, where the part's defaults are its section's own (see ``part_default``)."""
    if owner is not None:
        value = getattr(owner, field.name)
    else:
        value = field.default if field.default is not dataclasses.MISSING else field.default_factory()
    if dataclasses.is_dataclass(value):
        return "(its keys' defaults)"
    if isinstance(value, tuple):
        value = list(value)
    return yaml.safe_dump(value, default_flow_style=True, width=1000).strip().removesuffix("...").strip()


def config_rows() -> list[tuple[str, str, str, str]]:
    """(key, type, default, description) of every key an experiment YAML takes, in the order of the reference."""
    rows = []
    for section, cls in config_sections().items():
        hints, docs, owner = typing.get_type_hints(cls), field_docs(cls), part_default(section)
        for field in dataclasses.fields(cls):
            key = f"{section}.{field.name}" if section else field.name
            hint = hints[field.name]
            if key == "search":  # one mapping per model name, read by tuning/space.py
                kind, default = "mapping of model name to settings", "null"
            elif key == "models":
                kind, default = "list of models", "[" + ", ".join(DEFAULT_MODELS) + "]"
            else:
                kind, default = type_name(hint), default_text(field, owner)
            rows.append((key, kind, default, docs[field.name]))
    return rows


CONFIG_INTRO = """# Configuration reference

An experiment is a YAML file (see `experiments/` in the repository for examples) whose sections map onto
the config dataclasses below. Unknown keys and wrong types are errors that name the key and list the valid
ones. Any value can be overridden on the command line: `--set section.key=value` sets a section's key
(`--set section.part.key=value` a key of a section's part, such as `pretrain.windows.context`),
`--set models.NAME.key=value` one model's, and `--set models=naive,linear,transformer` chooses the models.
`forecaster run DIR/config.yaml` repeats any run from the resolved config written into its results folder.

`seeds`, `backtest`, `tune`, `search` and `pretrain` say how a command repeats the experiment: only the
commands that repeat it read them (`run` reads `seeds`; `backtest` reads `backtest`; `tune` reads `tune` and
`search`; `pretrain` reads `pretrain`), and only those write them into `config.yaml`. A plain run's
`config.yaml` has none of them, nor a `tracking` section while tracking is off, nor a `figures` section at its
defaults. The syntax of a `search:` entry (`[low, high]`, `{log: [low, high]}`, `{choices: [...]}`) is on [tune and
track](../guide/tune-and-track.md).

This page is generated from the code at every documentation build (`scripts/gen_docs.py`).
"""

SECTION_TITLES = {"": "Top level", "models.naive": "Models"}


def config_reference() -> str:
    """The configuration reference page."""
    lines = [CONFIG_INTRO]
    by_section: dict[str, list[tuple[str, str, str, str]]] = {}
    for row in config_rows():
        section = row[0].rpartition(".")[0]
        by_section.setdefault(section, []).append(row)
    sections = config_sections()
    for section, cls in sections.items():
        if section in SECTION_TITLES:
            lines.append(f"## {SECTION_TITLES[section]}\n")
        if section == "models.naive":
            lines.append("`models:` is a list; each entry has a `kind`, an optional unique `name` (default: its kind; "
                         "letters, digits, `_`, `-` and `.`, as it names files) and that kind's keys below. Without "
                         "a `models` list every kind but `seasonal_naive` runs.\n")
        if section.startswith("models."):
            lines.append(f"### `kind: {section.removeprefix('models.')}`\n")
        elif section:
            lines.append(f"## `{section}:`\n")
        parent, _, name = section.rpartition(".")
        if part_default(section) is not None:  # a section's part: what its field says of it
            doc = field_docs(sections[parent])[name]
        else:
            doc = (cls.__doc__ or "").strip().split("\n\n")[0]
        lines.append(" ".join(doc.split()) + "\n")
        rows = by_section.get(section, [])
        if not rows:
            lines.append("No keys of its own.\n")
            continue
        lines.append("| key | type | default | meaning |\n|---|---|---|---|")
        for key, kind, default, meaning in rows:
            shown = key.removeprefix("models.").partition(".")[2] if section.startswith("models.") else key
            lines.append(f"| `{shown}` | {_cell(kind)} | `{_cell(default)}` | {_cell(meaning)} |")
        lines.append("")
    return "\n".join(lines)


RECIPE_INTRO = """## A pretrained forecaster's recipe

A config whose `pretrain:` section has a `pool:` is read by `forecaster pretrain` as the recipe of a pretrained
forecaster (`experiments/pretrained/pretrained.yaml`, [the pretrained forecaster](../guide/pretrained.md)), beside an
optional `tracking:` section; `--set pretrain.training.epochs=2` overrides one key. Each entry of
`pretrain.pool.generated` is a mapping of the keys under `pretrain.pool.generated[]`.
"""


def recipe_reference() -> str:
    """The recipe's keys (``reuse/pretrained_recipe.py``), a table per part."""
    from forecaster.reuse.pretrained_recipe import REFERENCE

    lines = [RECIPE_INTRO]
    for section, (cls, owner) in REFERENCE.items():
        lines.append(f"### `{section}:`\n")
        lines.append(" ".join((cls.__doc__ or "").strip().split("\n\n")[0].split()) + "\n")
        lines.append("| key | type | default | meaning |\n|---|---|---|---|")
        hints, docs = typing.get_type_hints(cls), field_docs(cls)
        for field in dataclasses.fields(cls):
            required = owner is None and field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING
            default = "(required)" if required else default_text(field, owner)
            lines.append(f"| `{field.name}` | {_cell(type_name(hints[field.name]))} | `{_cell(default)}` | "
                         f"{_cell(docs[field.name])} |")
        lines.append("")
    return "\n".join(lines)


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, tuple[argparse.ArgumentParser, str]]:
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    helps = {choice.dest: choice.help for choice in action._choices_actions}
    return {name: (sub, helps.get(name, "")) for name, sub in action.choices.items()}


def _option_row(action: argparse.Action) -> str | None:
    if action.help == argparse.SUPPRESS or isinstance(action, argparse._HelpAction):
        return None
    flags = ", ".join(f"`{flag}`" for flag in action.option_strings) or f"`{action.metavar or action.dest}`"
    if action.option_strings and action.nargs != 0:
        value = action.metavar or (("{" + ",".join(map(str, action.choices)) + "}") if action.choices else action.dest.upper())
        flags += f" `{value}`" + (" ..." if action.nargs in ("+", "*") else "")
    elif not action.option_strings and action.nargs in ("+", "*"):
        flags += " ..."
    default = "" if action.default in (None, False, [], argparse.SUPPRESS) or action.nargs == 0 else f" (default: `{action.default}`)"
    return f"| {flags} | {_cell((action.help or '') + default)} |"


def cli_reference(parser: argparse.ArgumentParser | None = None) -> str:
    """The command-line reference page: every command, its usage and every option, from the argparse parser."""
    parser = parser or build_parser()
    lines = ["# Command-line reference\n", f"{parser.description}\n",
             "Every command prints errors as one line on standard error and exits with code 1, writing nothing. "
             "`forecaster COMMAND --help` prints the same as this page, which is generated from the parser at every "
             "documentation build (`scripts/gen_docs.py`).\n",
             "| command | what it does |\n|---|---|"]
    commands = _subcommands(parser)
    lines += [f"| [`{name}`](#forecaster-{name}) | {_cell(help_text)} |" for name, (_, help_text) in commands.items()]
    lines.append("")
    for name, (sub, help_text) in commands.items():
        usage = " ".join(sub.format_usage().removeprefix("usage: ").split())
        lines += [f"## forecaster {name}\n", f"{help_text[:1].upper()}{help_text[1:]}.\n", f"```text\n{usage}\n```\n",
                  "| argument | meaning |\n|---|---|"]
        lines += [row for action in sub._actions if (row := _option_row(action)) is not None]
        lines.append("")
    return "\n".join(lines)


def experiment_files() -> list[Path]:
    """The reports and figures under ``experiments/`` that the site shows, relative to the repository."""
    found = {path for pattern in EXPERIMENT_FILES for path in (ROOT / "experiments").rglob(pattern)}
    return sorted(path.relative_to(ROOT) for path in found)


def write_pages() -> None:
    """Write the generated pages into the site being built (mkdocs-gen-files' virtual files)."""
    import mkdocs_gen_files

    with mkdocs_gen_files.open("reference/cli.md", "w") as page:
        page.write(cli_reference())
    with mkdocs_gen_files.open("reference/config.md", "w") as page:
        page.write(config_reference() + "\n" + recipe_reference())
    for path in experiment_files():
        with mkdocs_gen_files.open(path.as_posix(), "wb") as copy:
            copy.write((ROOT / path).read_bytes())


if __name__ == "<run_path>":  # run by mkdocs-gen-files (runpy.run_path); not when the tests import it
    write_pages()
