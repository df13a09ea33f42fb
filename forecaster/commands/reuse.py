"""The commands that reuse a saved checkpoint: ``forecaster forecast``, ``transfer`` and ``embed``.

As in ``cli.py``: argument handling and printing only; each command hands plain values to ``reuse/``.
"""

from __future__ import annotations

import argparse

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
    from forecaster.checkpoint import load_checkpoint
    from forecaster.config import read_config
    from forecaster.data.sources import load_prices
    from forecaster.output.folders import check_out_dir, timestamped_out_dir
    from forecaster.reuse.transfer import run_transfer, save_transfer, transfer_config

    if any(not override.startswith("train.") for override in args.overrides):
        raise ForecasterError("transfer takes only train.KEY=VALUE overrides; the window, horizon and model come from the checkpoint")
    train = read_config(None, args.overrides).train
    out = check_out_dir(args.out or timestamped_out_dir("transfer"))
    checkpoint = load_checkpoint(args.checkpoint)
    config = transfer_config(checkpoint, source=args.data, column=args.column, transform=args.transform, train=train)
    frame = load_prices(args.data)
    result = run_transfer(checkpoint, frame, config, last_samples=args.last, progress=not args.quiet)
    save_transfer(result, out, checkpoint=args.checkpoint, last_samples=args.last, transform=args.transform)
    print(format_metrics(result.metrics))
    print(f"\nrel_mae = model MAE / naive MAE on the same {len(result.predictions)} test points of {args.data}.")
    print(f"results: {out}")
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
