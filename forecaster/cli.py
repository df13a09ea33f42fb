"""The ``forecaster`` command line: ``forecaster COMMAND [...]``, one module per command in ``forecaster/commands/``.

Each command module has a ``NAME``, a ``HELP`` line, ``add_arguments(parser)`` and ``run(args) -> int``; ``COMMANDS``
lists them in the order ``forecaster --help`` shows. This module builds the parser from that list and runs the
command asked for, turning a ``ForecasterError`` into one line on standard error and exit code 1. The commands hand
plain values to the library (runs/, reuse/, bench/, lesson/) and print the tables of ``forecaster/output/tables.py``.
"""

from __future__ import annotations

import argparse
import logging
import sys
import warnings

from forecaster.commands import backtest, bench, compare, embed, forecast, lesson, pretrain, run, transfer, tune
from forecaster.errors import ForecasterError

COMMANDS = (run, backtest, tune, forecast, transfer, embed, pretrain, compare, bench, lesson)
BY_NAME = {command.NAME: command for command in COMMANDS}


def build_parser() -> argparse.ArgumentParser:
    """The ``forecaster`` parser: a subcommand per module of ``COMMANDS``."""
    parser = argparse.ArgumentParser(
        prog="forecaster", description="Time-series forecasting with self-attention, measured against baselines.")
    subparsers = parser.add_subparsers(dest="command", required=True)
    for command in COMMANDS:
        command.add_arguments(subparsers.add_parser(command.NAME, help=command.HELP))
    return parser


def _set_threads(threads: int) -> None:
    """``--threads``: torch's CPU threads for the command; not recorded (see the README: speed, a transformer's last digits)."""
    if threads < 1:
        raise ForecasterError(f"--threads={threads} must be at least 1")
    import torch

    torch.set_num_threads(threads)


def _one_line_warning(message, category, filename, lineno, file=None, line=None) -> None:
    # A user sees "warning: <what happened>", not a source location and a line of library code.
    print(f"warning: {message}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        with warnings.catch_warnings():
            warnings.showwarning = _one_line_warning
            if getattr(args, "threads", None) is not None and args.command != "lesson":  # the lesson sets and restores its own
                _set_threads(args.threads)
            return BY_NAME[args.command].run(args)
    except ForecasterError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted before training started: nothing was written", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
