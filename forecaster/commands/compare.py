"""``forecaster compare``: several results folders side by side."""

from __future__ import annotations

import argparse

from forecaster.commands import arguments
from forecaster.output.tables import format_compare

NAME = "compare"
HELP = "several results folders side by side (rel_mae by model)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("folders", nargs="+", metavar="RUN_DIR", help="folders written by forecaster run or backtest")
    arguments.add_out(parser, NAME, writes="compare.csv and compare.png")
    arguments.add_verbose(parser, shown=False)


def run(args: argparse.Namespace) -> int:
    from forecaster.output.compare import compare_table, save_compare

    table = compare_table(args.folders)
    print(format_compare(table))
    if args.out:
        print(f"results: {save_compare(table, args.out)}")
    return 0
