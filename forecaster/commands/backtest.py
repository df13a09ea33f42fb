"""``forecaster backtest``: walk-forward folds over seeds, with significance tests."""

from __future__ import annotations

import argparse
import warnings

from forecaster.commands import arguments
from forecaster.output.tables import format_interval_tests, format_summary

NAME = "backtest"
HELP = "walk-forward backtest over folds and seeds, with significance tests"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("config", nargs="?", help="YAML experiment config (default: experiments/sp500.yaml)")
    arguments.add_data(parser, f"{arguments.SOURCES}; sets data.source. Several: each fold trains one global model on all of "
                       "them, and every series is scored and tested on its own folds", several=True)
    arguments.add_column(parser)
    arguments.add_set(parser)
    arguments.add_seeds(parser, "comma-separated seeds for the neural models (default: the config's backtest.seeds, or 0)")
    arguments.add_out(parser, NAME)
    arguments.add_threads(parser)
    arguments.add_quiet(parser)
    arguments.add_verbose(parser)
    parser.add_argument("--folds", type=int, help="number of walk-forward folds (default: the config's backtest.folds, or 5)")
    parser.add_argument("--scheme", help="training span per fold: expanding (from the start of the series) or sliding "
                        "(a fixed length) (default: the config's backtest.scheme, or expanding)")
    parser.add_argument("--refit-every", type=int, metavar="N",
                        help="refit the models every N folds (default: the config's backtest.refit_every, or 1)")


def run(args: argparse.Namespace) -> int:
    """``forecaster backtest``: the config's backtest section, with the folds, seeds, scheme and refit flags given in its place."""
    from forecaster.output.folders import check_out_dir, timestamped_out_dir
    from forecaster.runs.backtest import run_backtest, save_backtest

    config = arguments.config_from_arguments(args)
    seeds = None if args.seeds is None else arguments.parse_seeds(args.seeds)
    out = check_out_dir(args.out or timestamped_out_dir("backtest"))
    if config.tracking.backend != "none":
        warnings.warn(f"tracking.backend={config.tracking.backend!r}: backtests are not tracked (run and tune are)", stacklevel=1)
    result = run_backtest(config, folds=args.folds, seeds=seeds, scheme=args.scheme, refit_every=args.refit_every,
                          progress=not args.quiet)
    save_backtest(result, out)
    print(format_summary(result.summary()))
    print(f"\nrel_mae over {len(result.folds)} folds x {len(result.seeds)} seeds (mean, std, 95 % interval); DM_sq, p_sq, "
          "p_abs: Diebold-Mariano (HLN) against the naive forecast, squared and absolute loss; p_dir_up: "
          "binomial test of directional accuracy against 'always up'.")
    tests = result.interval_tests()
    if len(tests):
        print(f"\none-step intervals over every fold (seed {result.seeds[0]}):\n{format_interval_tests(tests)}")
        print("p_kupiec: Kupiec's test that the miss rate is 1 - level; p_christoffersen: Christoffersen's test that misses "
              "do not cluster (a small p-value rejects).")
    print(f"results: {out}")
    return 0
