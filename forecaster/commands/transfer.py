"""``forecaster transfer``: reuse a trained or pretrained encoder on another series (one table, or a study over sizes and seeds)."""

from __future__ import annotations

import argparse

from forecaster.commands import arguments
from forecaster.errors import ForecasterError
from forecaster.output.tables import format_metrics

NAME = "transfer"
HELP = ("reuse a transformer checkpoint (zero-shot, probe, fine-tune, scratch) or the pretrained forecaster (zero-shot, "
        "fine-tune, scratch) on another series")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("checkpoint", help="a transformer checkpoint written by forecaster run, an encoder written by "
                        "forecaster pretrain, or the pretrained forecaster: pretrained (the shipped weights) or the "
                        "pretrained.pt of forecaster pretrain RECIPE")
    arguments.add_data(parser, f"the target series: {arguments.SOURCES}", required=True)
    arguments.add_column(parser, checkpoint=True)
    arguments.add_transform(parser)
    arguments.add_set(parser, examples="train.epochs=5", metavar="train.KEY=VALUE", what="a training setting")
    arguments.add_seeds(parser, "comma-separated seeds: a study, every row trained once per seed at every --last size "
                        "(study.csv, study_summary.csv with the spread and Diebold-Mariano tests against scratch)")
    arguments.add_out(parser, NAME)
    arguments.add_threads(parser)
    arguments.add_quiet(parser)
    arguments.add_verbose(parser, shown=False)
    parser.add_argument("--last", metavar="N[,N...]",
                        help="one N: also train the linear probe, fine-tune and scratch rows on the newest N training windows "
                             "only (rows *_lastN beside the full-data rows); several sizes and all (e.g. 100,300,1000,all): "
                             "a study, the rows at each size (a learning curve)")
    parser.add_argument("--horizon", type=int, metavar="H", help="steps to forecast on the target (default: the "
                        "checkpoint's; another than the source head's means a new head and no zero-shot row)")


def run(args: argparse.Namespace) -> int:
    """``forecaster transfer``: one table (as before), or with several ``--last`` sizes or ``--seeds`` a study."""
    from forecaster.checkpoint import load_checkpoint
    from forecaster.config import read_config
    from forecaster.output.folders import check_out_dir, timestamped_out_dir
    from forecaster.reuse.pretrained_transfer import is_pretrained
    from forecaster.reuse.study import parse_sizes
    from forecaster.reuse.transfer import target_transform, transfer_config

    if any(not override.startswith("train.") for override in args.overrides):
        raise ForecasterError("transfer takes only train.KEY=VALUE overrides; the window, horizon and model come from the checkpoint")
    if args.horizon is not None and args.horizon < 1:
        raise ForecasterError(f"--horizon={args.horizon} must be at least 1 step")
    train = read_config(None, args.overrides).train
    study = args.seeds is not None or (args.last is not None and not args.last.strip().isdigit())
    sizes = parse_sizes(args.last) if study and args.last is not None else (None,) if study else None
    seeds = arguments.parse_seeds(args.seeds) if args.seeds is not None else (train.seed,)
    out = check_out_dir(args.out or timestamped_out_dir("transfer"))
    if is_pretrained(args.checkpoint):
        return _pretrained(args, train, out, sizes=sizes if study else None, seeds=seeds)
    checkpoint = load_checkpoint(args.checkpoint)
    frame = _target_frame(args)
    args.transform = target_transform(checkpoint, frame, args.transform)  # recorded as resolved in transfer.yaml
    config = transfer_config(checkpoint, source=args.data, column=args.column, transform=args.transform, train=train,
                             horizon=args.horizon)
    if study:
        return _transfer_study(args, checkpoint, frame, config, out, sizes=sizes, seeds=seeds)
    return _transfer_table(args, checkpoint, frame, config, out, last=None if args.last is None else int(args.last))


def _pretrained(args: argparse.Namespace, train, out, *, sizes, seeds) -> int:
    """The pretrained forecaster's transfer: one table (``--last N`` adds the trained rows on the newest N windows), or
    a study over ``sizes`` and ``seeds``; written and printed as a checkpoint's are."""
    from forecaster.reuse import pretrained_transfer as pretrained
    from forecaster.reuse.study import save_study, study_rows
    from forecaster.reuse.transfer import Source, save_transfer, transfer_rows, transfer_table
    from forecaster.runs.prepare import prepare_data

    frame = _target_frame(args)
    config = pretrained.pretrained_transfer_config(args.checkpoint, data_source=args.data, column=args.column, train=train,
                                                   horizon=args.horizon, transform=args.transform)
    args.transform = "level"
    data = prepare_data(frame, config.data, config.windows)
    source = Source(encoder=None, model=None)  # every row builds its model from the weights file (or new weights)
    name = args.checkpoint if args.checkpoint == pretrained.SHIPPED_NAME else pretrained.weights_of(args.checkpoint)
    if sizes is None:
        last = None if args.last is None else int(args.last)
        result = transfer_table(transfer_rows(last, rows=pretrained.ROWS), source, data, config, last_samples=last,
                                progress=not args.quiet)
        save_transfer(result, out, checkpoint=name, last_samples=last, transform="level", horizon=args.horizon)
        print(format_metrics(result.metrics))
        print(f"\nrel_mae = model MAE / naive MAE on the same {len(result.predictions)} test points of {args.data}.")
    else:
        result = study_rows(transfer_rows(rows=pretrained.ROWS), source, data, config,
                            sizes=sizes, seeds=seeds, progress=not args.quiet)
        record = {"checkpoint": name, "last": args.last or "all", "seeds": list(seeds), "source": args.data,
                  "column": args.column, "transform": "level", "horizon": config.windows.horizon,
                  "overrides": list(args.overrides)}
        save_study(result, out, record=record)
        _print_study(args, result, seeds, scratch="scratch (the same network from new weights)")
    print(f"results: {out}")
    return 0


def _target_frame(args: argparse.Namespace):
    """The target series of ``--data``: a source's frame; a long-format table of one series, that series (its value
    column the target unless ``--column`` names another); a long table of several, one error line.

    A transfer scores its rows on one series' split (``reuse/transfer.py``); tuning one model over several series is a
    global run (``runs/multiseries.py``), which starts from fresh weights, not from a checkpoint's."""
    from forecaster.data.features import DataConfig
    from forecaster.data.panel import load_long, long_source
    from forecaster.data.sources import load_prices
    from forecaster.runs.series import few

    data = DataConfig(source=args.data)
    if not long_source(data):
        return load_prices(args.data)
    frames = load_long(data)
    if len(frames) > 1:
        raise ForecasterError(f"transfer reuses the encoder on one target series, and {args.data} is a long table of "
                              f"{len(frames)} series ({few(list(frames), 5)}): pass one series (its rows alone, a long table "
                              f"of one {data.id_column}), or train one model on them all with forecaster run --data {args.data}")
    args.column = args.column or data.value_column
    return next(iter(frames.values()))


def _transfer_table(args: argparse.Namespace, checkpoint, frame, config, out, *, last: int | None) -> int:
    from forecaster.reuse.transfer import run_transfer, save_transfer

    result = run_transfer(checkpoint, frame, config, last_samples=last, progress=not args.quiet)
    save_transfer(result, out, checkpoint=args.checkpoint, last_samples=last, transform=args.transform, horizon=args.horizon)
    print(format_metrics(result.metrics))
    if "zero_shot" not in result.runs:
        print("\nno zero_shot row: " + ("the checkpoint holds an encoder only (forecaster pretrain)" if not checkpoint.head
                                         else "the source's head forecasts another horizon"))
    print(f"\nrel_mae = model MAE / naive MAE on the same {len(result.predictions)} test points of {args.data}"
          + _pooled(result.data.series.target_names, len(result.data.windows["test"]) * result.data.dims.horizon) + ".")
    print(f"results: {out}")
    return 0


def _transfer_study(args: argparse.Namespace, checkpoint, frame, config, out, *, sizes, seeds) -> int:
    from pathlib import Path

    from forecaster.reuse.study import run_study, save_study

    result = run_study(checkpoint, frame, config, sizes=sizes, seeds=seeds, progress=not args.quiet)
    targets = result.data.series.target_names
    record = {"checkpoint": str(Path(args.checkpoint).resolve()), "last": args.last or "all", "seeds": list(seeds),
              "source": args.data, "column": args.column, **({"targets": list(targets)} if len(targets) > 1 else {}),
              "transform": args.transform, "horizon": config.windows.horizon, "overrides": list(args.overrides)}
    save_study(result, out, record=record)
    _print_study(args, result, seeds)
    print(f"results: {out}")
    return 0


def _print_study(args: argparse.Namespace, result, seeds, *, scratch: str = "scratch") -> None:
    """A study's summary table and what its numbers are; ``scratch``: how the reference row is named in the note."""
    from forecaster.output.tables import format_study

    targets = result.data.series.target_names
    print(format_study(result.summary()))
    if result.zero_shot_note:
        print(f"\n{result.zero_shot_note}")
    print(f"\nmeans ± sd over seeds {','.join(map(str, seeds))} of test rel_mae (model MAE / naive MAE on the same "
          f"{len(result.data.windows['test'])} test windows of {args.data}{_pooled(targets)}); p_vs_scratch: Diebold-Mariano "
          f"(HLN, absolute loss{', each target over its naive MAE, mean over targets' if len(targets) > 1 else ''}, last step, "
          f"losses averaged over seeds) against {scratch} at the same size; dm < 0: the row's errors are smaller.")


def _pooled(targets: tuple[str, ...], points: int | None = None) -> str:
    """How several targets' scores are pooled, for the printed note ("" for one target); ``points``: per target,
    in a table whose metrics_by_channel.csv has each target's scores."""
    if len(targets) == 1:
        return ""
    names = f"{len(targets)} targets: {', '.join(targets)}"
    if points is None:  # inside the study note's parentheses
        return f"; {names}, rel_mae the mean of each target's"
    return f" ({names}, {points} each; rel_mae is the mean of each target's, metrics_by_channel.csv each one's)"
