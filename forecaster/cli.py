"""The ``forecaster`` command line: ``forecaster run [CONFIG] [--data ...] [--set key=value ...] [--out DIR]``.

Argument parsing and printing only: each command hands plain values to the library (runs/, reuse/, bench/,
lesson/), whose errors name its parameters, and prints the tables of ``forecaster/output/tables.py``.
Messages that name a flag are made here.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import sys
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

from forecaster.cli_parser import build_parser
from forecaster.commands.arguments import config_from_arguments, parse_seeds
from forecaster.commands.reuse import embed_command, forecast_command, pretrain_command, transfer_command
from forecaster.errors import ForecasterError
from forecaster.output.tables import (
    format_bench,
    format_closing,
    format_compare,
    format_interval_tests,
    format_long_series,
    format_metrics,
    format_seed_summary,
    format_series_metrics,
    format_summary,
    format_trials,
)

if TYPE_CHECKING:  # for annotations only: the bench module imports torch
    from forecaster.bench.measure import BenchConfig

def bench_config_from_arguments(args: argparse.Namespace) -> BenchConfig:
    """The BenchConfig that ``forecaster bench`` options ask for; a bad value is a ForecasterError."""
    from forecaster.bench.options import bench_config

    return bench_config(quick=args.quick, contexts=args.contexts, kinds=args.kinds, device=args.device,
                        reference=not args.no_reference, compile=args.compile, batch_size=args.batch_size,
                        d_model=args.d_model, n_heads=args.n_heads, n_layers=args.n_layers, d_ff=args.d_ff,
                        hidden_size=args.hidden_size, train_steps=args.steps, precision=args.precision, patch=args.patch,
                        independent=args.independent)


def bench_command(args: argparse.Namespace) -> int:
    """``forecaster bench``: check the options and ``--out``, measure, save the folder, print the table."""
    from forecaster.bench.long_series import long_series_memory
    from forecaster.bench.measure import channel_table, patch_table, ratio_table, run_bench, save_bench
    from forecaster.bench.options import long_series_config
    from forecaster.output.folders import check_out_dir, timestamped_out_dir

    config = bench_config_from_arguments(args)
    long_config = long_series_config(args.long_steps) if args.long_series else None
    out = check_out_dir(args.out or timestamped_out_dir("bench"))
    frame = run_bench(config, progress=not args.quiet)
    long_series = None if long_config is None else long_series_memory(long_config)
    folder = save_bench(frame, out, config=config, long_series=long_series, long_series_config=long_config)
    print(format_bench(frame, ratio_table(frame), patch_table(frame), channel_table(frame)))
    if long_series is not None:
        print(f"\n{format_long_series(long_series)}")
    print(f"results: {folder}")
    return 0


def _run(args: argparse.Namespace) -> int:
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
    config = config_from_arguments(args)
    if args.seeds is not None:
        config = dataclasses.replace(config, seeds=parse_seeds(args.seeds))
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


def _backtest(args: argparse.Namespace) -> int:
    """``forecaster backtest``: the config's backtest section, with the folds, seeds, scheme and refit flags given in its place."""
    from forecaster.output.folders import check_out_dir, timestamped_out_dir
    from forecaster.runs.backtest import run_backtest, save_backtest

    config = config_from_arguments(args)
    seeds = None if args.seeds is None else parse_seeds(args.seeds)
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


def _tune(args: argparse.Namespace) -> int:
    """``forecaster tune``: the config and ``--out`` (or the interrupted search of ``--resume``) checked first, search, print."""
    from forecaster.config import apply_overrides, config_from_dict
    from forecaster.output.folders import check_out_dir, timestamped_out_dir
    from forecaster.runs.progress import progress_dir
    from forecaster.runs.tune import interrupted_config, optuna_module, run_tune
    from forecaster.tracking.tracker import open_tracker
    from forecaster.training import distributed

    optuna_module()  # a missing extra is said before anything else
    if distributed.world_size() > 1 or int(os.environ.get("WORLD_SIZE", "1")) > 1:
        raise ForecasterError("forecaster tune runs in one process (each trial is small); start it without torchrun")
    limits = [f"tune.{key}={value}" for key, value in (("trials", args.trials), ("timeout", args.timeout)) if value is not None]
    if args.close_seeds is not None:  # none (or nothing): best.yaml scored once, as before the closing table
        seeds = () if args.close_seeds.strip().lower() == "none" else parse_seeds(args.close_seeds, "--close-seeds")
        limits.append(f"tune.close_seeds={list(seeds)}")
    if args.resume is not None:
        if args.config or args.data or args.column or args.overrides or args.model or args.folds is not None or args.out:
            raise ForecasterError("--resume DIR continues the interrupted search as it was: give no CONFIG, --data, --column, "
                                  "--set, --model, --folds or --out (--trials, --timeout and --close-seeds may change)")
        out = check_out_dir(args.resume)
        config = config_from_dict(apply_overrides(interrupted_config(out).to_dict(), limits))
    else:
        args.overrides = [*args.overrides, *([f"tune.model={args.model}"] if args.model else []),
                          *([f"tune.folds={args.folds}"] if args.folds is not None else []), *limits]
        config = config_from_arguments(args)
        out = check_out_dir(args.out or timestamped_out_dir("tune"))
        if progress_dir(out).exists():
            raise ForecasterError(f"an interrupted search is waiting in {progress_dir(out)}: continue it with --resume {out}, or delete it")
    tracker = open_tracker(config.tracking, out)
    with distributed.session():  # SIGTERM stops the search as Ctrl-C does: the study so far is kept
        try:
            result = run_tune(config, out, progress=not args.quiet, tracker=tracker)
        except KeyboardInterrupt:
            print(f"interrupted: the study so far is kept in {progress_dir(out)}; continue with: forecaster tune --resume {out}",
                  file=sys.stderr)
            return 130
    trials = result.trials
    counts = ", ".join(f"{count} {state}" for state, count in trials["state"].value_counts().items())
    print(f"{len(trials)} trials ({counts}) in {result.study.user_attrs['seconds'] / 60:.1f} min; the best completed:")
    print(format_trials(trials))
    print("\nvalue: mean loss over the folds' held-out spans, inside the training and validation spans (lower is better); "
          "val_rel_mae: their MAE / the naive MAE.\n")
    if result.closing:
        print(format_closing(result.closing_summary))
        print("".join(f"hand-set: {note}\n" for note in result.notes), end="")
        print(f"\nthe test span, read only now: means over seeds {','.join(map(str, result.config.tune.close_seeds))} (±std) of "
              "best.yaml (tuned) and of the config as given, same models (hand-set); rel_mae = MAE / naive MAE.")
    else:
        print(format_metrics(result.final.metrics))
        print(f"\nbest.yaml on the test span, scored once (seed {result.best.train.seed}); over three seeds: "
              f"forecaster run {out / 'best.yaml'} --seeds 0,1,2")
    print(f"results: {out}")
    return 0


def _compare(args: argparse.Namespace) -> int:
    from forecaster.output.compare import compare_table, save_compare

    table = compare_table(args.folders)
    print(format_compare(table))
    if args.out:
        print(f"results: {save_compare(table, args.out)}")
    return 0


def _lesson(args: argparse.Namespace) -> int:
    """``forecaster lesson``: check the names, seeds and ``--out`` before any work, run, write the report."""
    from forecaster.lesson import FULL, QUICK, check_names, run_lesson, save_lesson
    from forecaster.output.folders import check_out_dir, timestamped_out_dir

    names = check_names(args.names)
    seeds = args.seeds if args.seeds is not None else (1 if args.quick else 3)
    if seeds < 1:  # a count here, the seeds 0..N-1 in the library
        raise ForecasterError(f"--seeds={seeds} must be at least 1")
    out = check_out_dir(args.out or timestamped_out_dir("lesson"))
    settings = QUICK if args.quick else FULL
    sections = run_lesson(names, settings=settings, seeds=tuple(range(seeds)), progress=not args.quiet,
                          threads=args.threads)
    command = " ".join(["forecaster lesson", *args.names, *(["--quick"] if args.quick else []),
                        *([f"--seeds {args.seeds}"] if args.seeds is not None else []),
                        *([f"--threads {args.threads}"] if args.threads != 1 else [])])
    folder = save_lesson(sections, out, settings=settings, seeds=tuple(range(seeds)), command=command,
                         threads=args.threads)
    for section in sections:
        print(f"{section.number:>2}. {section.name}: {section.answer} ({section.seconds:.0f} s)")
    print(f"report: {folder / 'report.md'}")
    return 0


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
            commands = {"bench": bench_command, "backtest": _backtest, "compare": _compare, "embed": embed_command,
                        "forecast": forecast_command, "pretrain": pretrain_command, "transfer": transfer_command, "run": _run,
                        "lesson": _lesson, "tune": _tune}
            return commands[args.command](args)
    except ForecasterError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted before training started: nothing was written", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
