"""``forecaster run``: train and compare every model on one series (or one global model on several), write a results folder."""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

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
    from forecaster.training import distributed

    with distributed.session():  # under torchrun every process runs this command; they train together and rank 0 writes
        return _run_experiment(args)


def _resolve_run(args: argparse.Namespace):
    """The config, results folder and finished models of ``forecaster run``, from its arguments or from ``--resume``."""
    from forecaster.output.folders import check_out_dir, timestamped_out_dir
    from forecaster.runs import progress

    if args.resume is not None:
        if args.config or args.data or args.column or args.overrides or args.out or args.seeds:
            raise ForecasterError(
                "--resume DIR takes the interrupted run's own config; give no CONFIG, --data, --column, --set, --out or --seeds")
        out = Path(args.resume)
        config, finished = progress.resume(out)
        return config, check_out_dir(out), finished
    config = arguments.config_from_arguments(args)
    if args.seeds is not None:
        config = dataclasses.replace(config, seeds=arguments.parse_seeds(args.seeds))
    out = check_out_dir(args.out if args.out else timestamped_out_dir("run"))  # fail before training, not after
    if progress.interrupted(out) is not None:
        raise ForecasterError(
            f"an interrupted run is waiting in {progress.progress_dir(out)}: finish it with --resume {out}, or delete it"
        )
    return config, out, {}


def _run_experiment(args: argparse.Namespace) -> int:
    from forecaster.runs import multiseries, progress
    from forecaster.runs.experiment import run_experiment, save_run
    from forecaster.tracking.tracker import log_results, open_tracker
    from forecaster.training import distributed

    config, out, finished = _resolve_run(args)
    if config.seeds is not None:
        return _run_seeds(args, config, out)
    main_process = distributed.is_main_process()
    several = multiseries.is_global(config)
    run, save = (multiseries.run_global, multiseries.save_global) if several else (run_experiment, save_run)
    tracker = open_tracker(config.tracking, out)  # before training: a missing package stops the command here
    try:
        with tracker.run(out.name) as tracked:
            result = run(
                config, progress=not args.quiet, finished=finished, on_epoch_end=tracked.log_epoch,
                on_model_done=(lambda result, name: progress.record(out, result, name)) if main_process else None,
            )
            if main_process:
                save(result, out)
                log_results(tracked, result.config.to_dict(), result.metrics, out)
    except KeyboardInterrupt:
        kept = progress.interrupted(out)
        if main_process and kept is not None:
            print(f"interrupted: {kept} of {len(config.models)} models finished and are kept in {progress.progress_dir(out)}; "
                  f"finish with: forecaster run --resume {out}", file=sys.stderr)
        elif main_process:
            print("interrupted before any model finished: nothing was written", file=sys.stderr)
        return 130
    if not main_process:
        return 0  # the other ranks trained the same models; rank 0 writes and prints
    progress.finish(progress.progress_dir(out))
    if several:
        print(format_series_metrics(result.metrics, pooled=multiseries.POOLED))
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
    print(f"results: {out}")
    return 0


def _run_seeds(args: argparse.Namespace, config, out: Path) -> int:
    """``forecaster run`` with seeds (``--seeds`` or the config's): the experiment once per seed, then the spread."""
    from forecaster.runs.seeds import run_seeds, save_seeds, seed_summary
    from forecaster.tracking.tracker import log_results, open_tracker
    from forecaster.training import distributed

    tracker = open_tracker(config.tracking, out)
    try:
        with tracker.run(out.name) as tracked:
            results = run_seeds(config, progress=not args.quiet, on_epoch_end=tracked.log_epoch)
            if distributed.is_main_process():
                save_seeds(results, out)
                summary = seed_summary(results)
                log_results(tracked, dataclasses.replace(next(iter(results.values())).config, seeds=tuple(results)).to_dict(),
                            summary, out)
    except KeyboardInterrupt:
        print("interrupted: a run with several seeds keeps nothing until every seed is done; nothing was written", file=sys.stderr)
        return 130
    if not distributed.is_main_process():
        return 0
    print(format_seed_summary(summary))
    _print_notes(next(iter(results.values())).notes)
    print(f"\nmeans over seeds {','.join(map(str, results))} (±std: standard deviation over seeds) on the same split and "
          "test points; rel_mae = model MAE / naive MAE, below 1 beats the random walk.")
    print(f"results: {out}")
    return 0


def _print_notes(notes: dict[str, str]) -> None:
    """Say which settings were found from the training span (the results folder's config.yaml records them)."""
    for name, note in notes.items():
        print(f"{name}: {note}")
