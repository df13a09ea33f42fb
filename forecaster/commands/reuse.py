"""The commands that make or reuse a saved checkpoint: ``forecaster pretrain``, ``forecast``, ``transfer`` and ``embed``.

As in ``cli.py``: argument handling and printing only; each command hands plain values to ``reuse/``.
"""

from __future__ import annotations

import argparse

from forecaster.commands.arguments import parse_seeds
from forecaster.errors import ForecasterError
from forecaster.output.tables import format_metrics


def forecast_command(args: argparse.Namespace) -> int:
    from forecaster.checkpoint import load_checkpoint
    from forecaster.data.exchanges import calendar_name
    from forecaster.data.sources import load_prices
    from forecaster.output.folders import check_out_dir
    from forecaster.reuse.forecast import forecast_future, save_forecast

    if args.exchange is not None:
        calendar_name(args.exchange)  # an unknown calendar fails here, before any work
    out = check_out_dir(args.out) if args.out else None
    checkpoint = load_checkpoint(args.checkpoint)
    future = load_prices(args.future) if args.future else None
    table = forecast_future(checkpoint.model(), checkpoint, load_prices(args.data), column=args.column, source=args.data,
                            exchange=args.exchange, future=future)
    print(f"{checkpoint.name} ({checkpoint.kind}) forecast of {table.attrs['target']}:")
    print(table.to_string(index=False, formatters={"date": lambda d: f"{d:%Y-%m-%d}"}, float_format="{:.4f}".format))
    print(f"dates: {table.attrs['calendar']}")
    if table.attrs["intervals"]:
        print(f"lo_L, hi_L: the central L % prediction interval ({table.attrs['intervals']}, as calibrated in the run)")
    if out is not None:
        print(f"results: {save_forecast(table, out)}")
    return 0


def transfer_command(args: argparse.Namespace) -> int:
    """``forecaster transfer``: one table (as before), or with several ``--last`` sizes or ``--seeds`` a study."""
    from forecaster.checkpoint import load_checkpoint
    from forecaster.config import read_config
    from forecaster.data.sources import load_prices
    from forecaster.output.folders import check_out_dir, timestamped_out_dir
    from forecaster.reuse.study import parse_sizes
    from forecaster.reuse.transfer import target_transform, transfer_config

    if any(not override.startswith("train.") for override in args.overrides):
        raise ForecasterError("transfer takes only train.KEY=VALUE overrides; the window, horizon and model come from the checkpoint")
    if args.horizon is not None and args.horizon < 1:
        raise ForecasterError(f"--horizon={args.horizon} must be at least 1 step")
    train = read_config(None, args.overrides).train
    study = args.seeds is not None or (args.last is not None and not args.last.strip().isdigit())
    sizes = parse_sizes(args.last) if study and args.last is not None else (None,) if study else None
    seeds = parse_seeds(args.seeds) if args.seeds is not None else (train.seed,)
    out = check_out_dir(args.out or timestamped_out_dir("transfer"))
    checkpoint = load_checkpoint(args.checkpoint)
    frame = load_prices(args.data)
    args.transform = target_transform(checkpoint, frame, args.transform)  # recorded as resolved in transfer.yaml
    config = transfer_config(checkpoint, source=args.data, column=args.column, transform=args.transform, train=train,
                             horizon=args.horizon)
    if study:
        return _transfer_study(args, checkpoint, frame, config, out, sizes=sizes, seeds=seeds)
    return _transfer_table(args, checkpoint, frame, config, out, last=None if args.last is None else int(args.last))


def _transfer_table(args: argparse.Namespace, checkpoint, frame, config, out, *, last: int | None) -> int:
    from forecaster.reuse.transfer import run_transfer, save_transfer

    result = run_transfer(checkpoint, frame, config, last_samples=last, progress=not args.quiet)
    save_transfer(result, out, checkpoint=args.checkpoint, last_samples=last, transform=args.transform, horizon=args.horizon)
    print(format_metrics(result.metrics))
    if "zero_shot" not in result.runs:
        print("\nno zero_shot row: " + ("the checkpoint holds an encoder only (forecaster pretrain)" if not checkpoint.head
                                         else "the source's head forecasts another horizon"))
    print(f"\nrel_mae = model MAE / naive MAE on the same {len(result.predictions)} test points of {args.data}.")
    print(f"results: {out}")
    return 0


def _transfer_study(args: argparse.Namespace, checkpoint, frame, config, out, *, sizes, seeds) -> int:
    from pathlib import Path

    from forecaster.output.tables import format_study
    from forecaster.reuse.study import run_study, save_study

    result = run_study(checkpoint, frame, config, sizes=sizes, seeds=seeds, progress=not args.quiet)
    record = {"checkpoint": str(Path(args.checkpoint).resolve()), "last": args.last or "all", "seeds": list(seeds),
              "source": args.data, "column": args.column, "transform": args.transform, "horizon": config.windows.horizon,
              "overrides": list(args.overrides)}
    save_study(result, out, record=record)
    print(format_study(result.summary()))
    if result.zero_shot_note:
        print(f"\n{result.zero_shot_note}")
    print(f"\nmeans ± sd over seeds {','.join(map(str, seeds))} of test rel_mae (model MAE / naive MAE on the same "
          f"{len(result.data.windows['test'])} test windows of {args.data}); p_vs_scratch: Diebold-Mariano (HLN, absolute "
          "loss, last step, losses averaged over seeds) against scratch at the same size; dm < 0: the row's errors are smaller.")
    print(f"results: {out}")
    return 0


def pretrain_command(args: argparse.Namespace) -> int:
    """``forecaster pretrain``: pool the sources, pretrain the encoder, save the folder, say what it took."""
    import json

    from forecaster.config import read_config
    from forecaster.data.sources import load_prices
    from forecaster.output.folders import check_out_dir, timestamped_out_dir
    from forecaster.reuse.pretrain import pretrain, save_pretrain
    from forecaster.training.pretraining import PretrainConfig

    overrides = list(args.overrides)
    if args.data is not None:
        overrides.insert(0, f"data.source={json.dumps(args.data)}")
    config = read_config(args.config, overrides)
    settings = config.pretrain or PretrainConfig()
    out = check_out_dir(args.out or timestamped_out_dir("pretrain"))  # fail before training, not after
    frames = {source: load_prices(source) for source in config.data.sources}
    result = pretrain(frames, settings, device=config.train.device, progress=not args.quiet)
    folder = save_pretrain(result, out)
    summary = result.summary()
    print(result.pool.channels.to_string(index=False))
    print(f"\n{summary['channels']} channels of {len(frames)} sources, {summary['train_windows']} training windows of "
          f"{settings.context} frames in {settings.context // settings.patch} patches; {settings.objective} objective, "
          f"{summary['parameters']} encoder parameters; best validation loss {summary['best_val_loss']:.4f} at epoch "
          f"{summary['best_epoch']} of {summary['epochs_run']}")
    print(f"{summary['seconds']:.0f} s on {summary['threads']} thread(s), peak memory {summary['peak_memory_mb']:.0f} MB")
    print(f"reuse it: forecaster transfer {folder / 'checkpoints' / 'encoder.pt'} --data SOURCE --last 100,300,all --seeds 0,1,2")
    print(f"results: {folder}")
    return 0


def embed_command(args: argparse.Namespace) -> int:
    from forecaster.checkpoint import load_checkpoint
    from forecaster.data.sources import load_prices
    from forecaster.output.folders import check_out_dir, timestamped_out_dir
    from forecaster.reuse.embed import embed_series, save_embeddings

    out = check_out_dir(args.out or timestamped_out_dir("embed"))
    checkpoint = load_checkpoint(args.checkpoint)
    table = embed_series(checkpoint.encoder(), checkpoint, load_prices(args.data), column=args.column,
                         transform=args.transform, source=args.data)
    folder = save_embeddings(table, out, title=f"{checkpoint.name} embeddings of {args.data} (PCA)")
    print(f"{len(table)} frames embedded in {table.shape[1] - 2} dimensions")
    print(f"results: {folder}")
    return 0
