"""``forecaster tune``: search one model's settings on folds before the test span, then tuned against hand-set over seeds."""

from __future__ import annotations

import argparse
import os
import sys

from forecaster.commands import arguments
from forecaster.errors import ForecasterError
from forecaster.output.tables import format_closing, format_metrics, format_trials

NAME = "tune"
HELP = ("search one model's settings with Optuna on folds before the test span; best.yaml, then tuned against hand-set on the "
        "test span over seeds")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("config", nargs="?", help="YAML experiment config (default: experiments/sp500.yaml); its search: "
                        "section says what to search (default: the model kind's space)")
    parser.add_argument("--model", metavar="NAME", help="the model to tune, a name in the config's models (sets tune.model)")
    arguments.add_data(parser, f"{arguments.SOURCES}; sets data.source. Several: every trial trains one global model on all "
                       "of them, each series cut into folds over its own steps", several=True)
    arguments.add_column(parser)
    arguments.add_set(parser)
    arguments.add_out(parser, NAME)
    arguments.add_threads(parser)
    arguments.add_quiet(parser)
    arguments.add_verbose(parser)
    parser.add_argument("--trials", type=int, help="trials in all, a resumed search's included (default: the config's "
                        "tune.trials, or 20)")
    parser.add_argument("--timeout", type=float, metavar="SECONDS", help="start no new trial after this many seconds (default: no limit)")
    parser.add_argument("--folds", type=int, help="walk-forward folds inside the training and validation spans that score each "
                        "trial (default: the config's tune.folds, or 3)")
    parser.add_argument("--close-seeds", metavar="SEEDS", help="comma-separated seeds on which the tuned and the hand-set "
                        "config are each trained and scored on the test span at the end, or none: best.yaml once, with "
                        "train.seed (default: the config's tune.close_seeds, or 0,1,2)")
    parser.add_argument("--resume", metavar="DIR", help="continue an interrupted search whose --out was DIR (its study is in "
                        "DIR.incomplete); --trials, --timeout and --close-seeds may change")


def run(args: argparse.Namespace) -> int:
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
        seeds = () if args.close_seeds.strip().lower() == "none" else arguments.parse_seeds(args.close_seeds, "--close-seeds")
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
        config = arguments.config_from_arguments(args)
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
