"""The options that several commands share, each declared once, and the values they read the same way: the
config that CONFIG, --data, --column and --set describe, and a list of seeds.

A command module calls these with what is its own (the help that names its files, a default); the flag, its
type and its meaning are declared here alone.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from forecaster.data.transforms import TRANSFORM_NAMES
from forecaster.errors import ForecasterError

DEFAULT_CONFIG = Path(__file__).resolve().parent.parent.parent / "experiments" / "sp500.yaml"
SOURCES = "bundled name (sp500, sunspots, etth2, synthetic), CSV path or Yahoo ticker"


def add_data(parser: argparse.ArgumentParser, help: str, *, several: bool = False, **settings) -> None:
    """``--data``: the series; ``several``: one or more sources (``nargs='+'``)."""
    if several:
        settings = {"nargs": "+", "metavar": "SOURCE", **settings}
    parser.add_argument("--data", help=help, **settings)


def add_column(parser: argparse.ArgumentParser, *, checkpoint: bool = False) -> None:
    """``--column``: the target column; for a command that reads a checkpoint, the data's name for its target."""
    parser.add_argument("--column", help="the target column, when the data names it differently from the checkpoint" if checkpoint
                        else "target column when it is not Adj Close/Close; sets data.column")


def add_set(parser: argparse.ArgumentParser, *, examples: str = "windows.context=32, train.epochs=5, models=naive,linear",
            metavar: str = "KEY=VALUE", what: str = "a config value") -> None:
    """``--set KEY=VALUE``, repeatable: a config override, collected in ``args.overrides``."""
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar=metavar,
                        help=f"override {what}, e.g. {examples}")


def add_transform(parser: argparse.ArgumentParser) -> None:
    """``--transform``: read the target with another transform than the checkpoint's."""
    parser.add_argument("--transform", choices=list(TRANSFORM_NAMES), help="instead of the checkpoint's (e.g. diff for counts with zeros)")


def add_seeds(parser: argparse.ArgumentParser, help: str, **settings) -> None:
    """``--seeds``: comma-separated seeds (``parse_seeds``), or for the lesson a count."""
    parser.add_argument("--seeds", help=help, **settings)


def add_out(parser: argparse.ArgumentParser, command: str, *, writes: str | None = None) -> None:
    """``--out DIR``: the results folder to create; ``writes``: for a command whose folder is optional, what it adds."""
    parser.add_argument("--out", help=f"also write {writes} to this new folder" if writes
                        else f"results folder to create (default: a new results/{command}-YYYYmmdd-HHMMSS)")


def add_threads(parser: argparse.ArgumentParser, *, default: int | None = None) -> None:
    """``--threads N``: torch's CPU threads; ``default`` 1 for work whose numbers must not depend on the core count."""
    if default is None:
        parser.add_argument("--threads", type=int, metavar="N", help="torch CPU threads (default: torch's own); a transformer's "
                            "last digits may change with it")
    else:
        parser.add_argument("--threads", type=int, metavar="N", default=default, help=f"torch CPU threads (default: {default}, "
                            "which makes the numbers independent of the core count and robust to a busy machine)")


def add_quiet(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--quiet", action="store_true", help="no progress bars")


def add_verbose(parser: argparse.ArgumentParser, *, shown: bool = True) -> None:
    """``-v``: log what each step does; accepted by every command, advertised where it says much."""
    parser.add_argument("-v", "--verbose", action="store_true", help="log what each step does" if shown else argparse.SUPPRESS)


def parse_seeds(text: str, flag: str = "--seeds") -> tuple[int, ...]:
    """Comma-separated seeds, e.g. ``0,1,2``; anything else is a one-line error naming ``flag``."""
    try:
        return tuple(int(seed) for seed in text.split(",") if seed.strip())
    except ValueError:
        raise ForecasterError(f"{flag}={text!r} should be comma-separated integers, e.g. 0,1,2") from None


def config_from_arguments(args: argparse.Namespace):
    """The experiment config that CONFIG, --data, --column and --set describe."""
    from forecaster.config import read_config

    overrides = list(args.overrides)
    if args.data is not None:
        sources = [args.data] if isinstance(args.data, str) else args.data
        # One source stays a scalar; several become a YAML list (JSON is valid YAML and quotes paths).
        overrides.insert(0, f"data.source={sources[0] if len(sources) == 1 else json.dumps(sources)}")
    if args.column is not None:
        overrides.insert(0, f"data.column={args.column}")
    if args.config is None and args.data is not None:
        overrides[:0] = competition_overrides(args.data)
    config_path = args.config if args.config is not None else (DEFAULT_CONFIG if DEFAULT_CONFIG.is_file() else None)
    return read_config(config_path, overrides)


def competition_overrides(data) -> list[str]:
    """For ``--data`` naming one competition subset (``m3:monthly``) without a CONFIG: the default config's
    ``windows.horizon``, ``data.transform`` and ``intervals.levels`` replaced by the subset's official h, ``level`` and
    none (one validation window per series calibrates no interval), before the user's ``--set`` (which wins); empty for
    any other source."""
    from forecaster.data.competitions import competition_subset

    sources = [data] if isinstance(data, str) else list(data)
    subset = competition_subset(sources[0]) if len(sources) == 1 else None
    return [] if subset is None else [f"windows.horizon={subset.horizon}", "data.transform=level",
                                          "intervals.levels=[]"]
