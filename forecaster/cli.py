"""The ``forecaster`` command line: ``forecaster run [CONFIG] [--data ...] [--set key=value ...] [--out DIR]``."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

import pandas as pd

from forecaster.errors import ForecasterError

DEFAULT_CONFIG = Path(__file__).resolve().parent.parent / "experiments" / "sp500.yaml"

# Printed column name and number format of each metrics column, in order.
TABLE_COLUMNS = {
    "model": ("model", str),
    "mae": ("mae", "{:.3f}".format),
    "rmse": ("rmse", "{:.3f}".format),
    "mape": ("mape", "{:.3f}".format),
    "rel_mae": ("rel_mae", "{:.4f}".format),
    "mase": ("mase", "{:.3f}".format),
    "directional_accuracy": ("dir_acc", "{:.3f}".format),
    "train_seconds": ("train_s", "{:.1f}".format),
    "parameters": ("parameters", str),
}


def format_metrics(metrics: pd.DataFrame) -> str:
    """The metrics table as the CLI prints it (NaN shown as '-': the naive forecast has no direction)."""
    shown = metrics[list(TABLE_COLUMNS)].rename(columns={key: name for key, (name, _) in TABLE_COLUMNS.items()})
    formats = {name: format_value for name, format_value in TABLE_COLUMNS.values()}
    return shown.to_string(index=False, formatters=formats, na_rep="-")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="forecaster", description="Time-series forecasting with self-attention, measured against baselines.")
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="train and compare models on one series, write a results folder")
    run.add_argument("config", nargs="?", help=f"YAML experiment config (default: {DEFAULT_CONFIG.name}, or built-in defaults)")
    run.add_argument("--data", help="bundled name (sp500, sunspots), CSV path or Yahoo ticker; sets data.source")
    run.add_argument("--column", help="target column when it is not Adj Close/Close; sets data.column")
    run.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                     help="override a config value, e.g. windows.context=32, train.epochs=5, models=naive,linear")
    run.add_argument("--out", help="results folder to create (default: a new timestamped folder under results/)")
    run.add_argument("--quiet", action="store_true", help="no progress bars")
    run.add_argument("-v", "--verbose", action="store_true", help="log what each step does")
    return parser


def _run(args: argparse.Namespace) -> int:
    from forecaster import distributed

    # Under torchrun every process runs this command; they train together and rank 0 writes.
    distributed.start_from_environment()
    try:
        return _run_experiment(args)
    finally:
        distributed.stop()


def _run_experiment(args: argparse.Namespace) -> int:
    from forecaster import distributed
    from forecaster.config import read_config
    from forecaster.experiment import check_out_dir, default_out_dir, run_experiment, save_run

    overrides = list(args.overrides)
    if args.data is not None:
        overrides.insert(0, f"data.source={args.data}")
    if args.column is not None:
        overrides.insert(0, f"data.column={args.column}")
    config_path = args.config if args.config is not None else (DEFAULT_CONFIG if DEFAULT_CONFIG.is_file() else None)
    config = read_config(config_path, overrides)
    out = check_out_dir(args.out if args.out else default_out_dir())  # fail before training, not after
    result = run_experiment(config, progress=not args.quiet)
    if not distributed.is_main_process():
        return 0  # the other ranks trained the same models; rank 0 writes and prints
    folder = save_run(result, out)
    print(format_metrics(result.metrics))
    print(
        f"\nrel_mae = model MAE / naive (random-walk) MAE on the same {len(result.predictions)} test points: "
        "below 1 beats 'tomorrow equals today'."
    )
    print(f"results: {folder}")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        return _run(args)
    except ForecasterError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted: no results folder was written", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
