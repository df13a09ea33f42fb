"""``forecaster run``: train and compare every model on one series (or one global model on several), write a results folder."""

from __future__ import annotations

import argparse
import dataclasses
import sys

from forecaster.commands import arguments
from forecaster.errors import ForecasterError
from forecaster.output.tables import format_metrics, format_seed_summary, format_series_metrics

NAME = "run"
HELP = "train and compare models on one series (or one global model on several), write a results folder"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("config", nargs="?",
                        help=f"YAML experiment config (default: {arguments.DEFAULT_CONFIG.name}, or built-in defaults)")
    arguments.add_data(parser, f"{arguments.SOURCES}; sets data.source. Several: one global model trained on all of them, "
                       "scored on each and pooled", several=True)
    arguments.add_column(parser)
    arguments.add_set(parser)
    arguments.add_out(parser, NAME)
    arguments.add_seeds(parser, "comma-separated seeds: one results folder per seed under --out, and summary.csv with each "
                        "metric's mean and std over seeds (default: the config's seeds, if any)")
    arguments.add_threads(parser)
    arguments.add_quiet(parser)
    arguments.add_verbose(parser)
    parser.add_argument("--resume", metavar="DIR", help="finish an interrupted run whose --out was DIR (kept in DIR.incomplete)")


def run(args: argparse.Namespace) -> int:
    """Check the options, run and write the folder (``runs/recorded.py``: tracking, resume, torchrun), print."""
    from forecaster.data.competitions import competition_note
    from forecaster.runs.recorded import RunInterrupted, resume_run, run_to_folder

    try:
        if args.resume is not None:
            if args.config or args.data or args.column or args.overrides or args.out or args.seeds:
                raise ForecasterError("--resume DIR takes the interrupted run's own config; give no CONFIG, --data, --column, "
                                      "--set, --out or --seeds")
            recorded = resume_run(args.resume, progress_bar=not args.quiet)
        else:
            config = arguments.config_from_arguments(args)
            note = competition_note(config)
            if note is not None:
                print(f"note: {note}", file=sys.stderr)
            if args.seeds is not None:
                config = dataclasses.replace(config, seeds=arguments.parse_seeds(args.seeds))
            recorded = run_to_folder(config, args.out, progress_bar=not args.quiet)
    except RunInterrupted as stop:
        _print_interruption(stop)
        return 130
    if not recorded.main_process:
        return 0  # the other ranks trained the same models; rank 0 writes and prints
    if recorded.seeds is not None:
        _print_seeds(recorded.seeds)
    else:
        _print_run(recorded.result)
    print(f"results: {recorded.out}")
    return 0


def _print_interruption(stop) -> None:
    from forecaster.runs import progress
    from forecaster.training import distributed

    if not distributed.is_main_process():
        return
    if stop.seeds:
        print("interrupted: a run with several seeds keeps nothing until every seed is done; nothing was written", file=sys.stderr)
    elif stop.kept is not None:
        print(f"interrupted: {stop.kept} of {stop.models} models finished and are kept in {progress.progress_dir(stop.out)}; "
              f"finish with: forecaster run --resume {stop.out}", file=sys.stderr)
    else:
        print("interrupted before any model finished: nothing was written", file=sys.stderr)


PRINTED_SERIES = 100  # a global run of more series prints the metrics of its first PRINTED_FEW and the pooled rows
PRINTED_FEW = 10


def _print_run(result) -> None:
    from forecaster.runs import series

    if series.is_global(result.config):
        metrics, shown = result.metrics, list(result.parts)
        if len(shown) > PRINTED_SERIES:  # thousands of blocks say nothing more than the files do
            shown = shown[:PRINTED_FEW]
            metrics = metrics[metrics["series"].isin([*shown, series.POOLED])]
        print(format_series_metrics(metrics, pooled=series.POOLED))
        if len(shown) < len(result.parts):
            print(f"metrics of {len(shown)} of {len(result.parts)} series shown, then the pooled rows; metrics.csv has "
                  "every series")
    else:
        print(format_metrics(result.metrics))
        _print_notes(result.notes)
    print(
        f"\nrel_mae = model MAE / naive (random-walk) MAE on the same {len(result.predictions)} test points: "
        "below 1 beats 'tomorrow equals today'."
    )
    if "rel_crps" in result.metrics.columns:
        print("covL = share of test values inside the model's central L % interval; rel_crps = CRPS / the random walk's own "
              "CRPS (quantiles of the training span's h-step changes), below 1 is a better forecast distribution; "
              "intervals.csv: width, Winkler and MSIS by level and step.")
    for row in result.metrics.itertuples():
        if row.status != "ok":
            print(f"warning: model {row.model!r} {row.status}", file=sys.stderr)
    note = series.figures_note(result.config, list(result.parts)) if series.is_global(result.config) else None
    if note is not None:
        print(note)


def _print_seeds(results) -> None:
    from forecaster.runs.seeds import seed_summary

    print(format_seed_summary(seed_summary(results)))
    _print_notes(next(iter(results.values())).notes)
    print(f"\nmeans over seeds {','.join(map(str, results))} (±std: standard deviation over seeds) on the same split and "
          "test points; rel_mae = model MAE / naive MAE, below 1 beats the random walk.")


def _print_notes(notes: dict[str, str]) -> None:
    """Say which settings were found from the training span (the results folder's config.yaml records them)."""
    for name, note in notes.items():
        print(f"{name}: {note}")
