"""``forecaster forecast``: the next values of a series, with their intervals and dates, from a saved model."""

from __future__ import annotations

import argparse

from forecaster.commands import arguments
from forecaster.errors import ForecasterError

NAME = "forecast"
HELP = "forecast the next values of a series with a saved model"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("checkpoint", nargs="?", help="a checkpoint written by forecaster run (RUN_DIR/checkpoints/NAME.pt); "
                        "or none, with --model pretrained")
    parser.add_argument("--model", choices=("pretrained",), help="pretrained: the forecaster pretrained on many series "
                        "(models/pretrained.py), zero-shot, with no checkpoint and no training")
    parser.add_argument("--weights", metavar="FILE", help="with --model pretrained: its weights file (default: the weights "
                        "shipped with the package)")
    parser.add_argument("--horizon", type=int, help="with --model pretrained: the steps to forecast (default: 12)")
    parser.add_argument("--context", metavar="N|auto", help="with --model pretrained: the newest N values it reads "
                        "(default: its whole context), or auto: the context among h, 2h, 3h and the whole one that best "
                        "forecast each series' own last h values")
    arguments.add_data(parser, f"{arguments.SOURCES}, or a long-format table of several series (unique_id, ds, y: every "
                       "series forecast, forecast.csv with a unique_id column) (default: sp500)", default="sp500")
    arguments.add_column(parser, checkpoint=True)
    arguments.add_out(parser, NAME, writes="forecast.csv")
    arguments.add_verbose(parser, shown=False)
    parser.add_argument("--exchange", metavar="MIC", help="the trading calendar of a daily series' dates: an exchange code such "
                        "as XNYS, XLON, XTKS, 24/7 for every day, or none for business days (default: from --data, e.g. "
                        "sp500 and US tickers XNYS, .L tickers XLON; CSV files: business days)")
    parser.add_argument("--future", metavar="FILE", help="a CSV of the inputs known ahead (a date column and the model's "
                        "data.future columns) holding a row for every forecast date; needed when the model reads data.future")


SHOWN = 20  # rows of a long table's forecast printed (forecast.csv has them all)


def run(args: argparse.Namespace) -> int:
    from forecaster.checkpoint import load_checkpoint
    from forecaster.data.exchanges import calendar_name
    from forecaster.data.features import DataConfig
    from forecaster.data.panel import load_long, long_source
    from forecaster.data.sources import load_prices
    from forecaster.output.folders import check_out_dir
    from forecaster.reuse.forecast import Forecaster, save_forecast

    if args.exchange is not None:
        calendar_name(args.exchange)  # an unknown calendar fails here, before any work
    if (args.checkpoint is None) == (args.model is None):
        raise ForecasterError("forecast needs a checkpoint (RUN_DIR/checkpoints/NAME.pt) or --model pretrained, not both")
    if args.model is None and (args.weights or args.horizon or args.context):
        raise ForecasterError("--weights, --horizon and --context go with --model pretrained; a checkpoint has its own")
    out = check_out_dir(args.out) if args.out else None
    if args.model is not None:
        return _pretrained(args, out)
    checkpoint = load_checkpoint(args.checkpoint)
    long = long_source(DataConfig(source=args.data))
    if long and args.future:
        raise ForecasterError("--future holds one series' inputs known ahead, and --data is a long table of several "
                              "series: forecast each series from its own file with its own --future")
    future = load_prices(args.future) if args.future else None
    forecaster = Forecaster.from_checkpoint(checkpoint)
    if long:  # a long-format table: every series' forecast, a unique_id column first
        frames = load_long(DataConfig(source=args.data))
        table = long_format(forecaster.forecast_panel(frames, column=args.column, exchange=args.exchange))
        print(f"{checkpoint.name} ({checkpoint.kind}) forecast of the {len(frames)} series of {args.data} (the first "
              f"{min(len(table), SHOWN)} of {len(table)} rows):")
        print(table.head(SHOWN).to_string(index=False, float_format="{:.4f}".format))
        if out is not None:
            print(f"results: {save_forecast(table, out)}")
        return 0
    table = forecaster.forecast(load_prices(args.data), column=args.column, source=args.data, exchange=args.exchange,
                                future=future)
    print(f"{checkpoint.name} ({checkpoint.kind}) forecast of {table.attrs['target']}:")
    daily = bool((table["date"] == table["date"].dt.normalize()).all())  # hourly dates keep their time
    print(table.to_string(index=False, formatters={"date": lambda d: f"{d:%Y-%m-%d}" if daily else f"{d:%Y-%m-%d %H:%M}"},
                          float_format="{:.4f}".format))
    print(f"dates: {table.attrs['calendar']}")
    if checkpoint.intervals and not table.attrs["intervals"] and checkpoint.pipeline.series:
        print(f"no intervals: {args.data} is not one of the model's series, and each series' were calibrated in its own units")
    if table.attrs["intervals"]:
        print(f"lo_L, hi_L: the central L % prediction interval ({table.attrs['intervals']}, as calibrated in the run)")
    if out is not None:
        print(f"results: {save_forecast(table, out)}")
    return 0


def long_format(table):
    """A long table's forecast as the long format names its columns: ``unique_id``, ``ds`` (the table's time column),
    then the forecast and its bounds."""
    from forecaster.data.features import DataConfig

    return table.rename(columns={"date": DataConfig().time_column})


def _pretrained(args: argparse.Namespace, out) -> int:
    """``forecaster forecast --model pretrained``: the pretrained forecaster on ``--data``, one series or a long table."""
    from forecaster.data.features import DataConfig
    from forecaster.data.panel import load_long, long_source
    from forecaster.data.sources import load_prices
    from forecaster.reuse.forecast import Forecaster, save_forecast
    from forecaster.reuse.pretrained_context import AUTO, choose_context, parse_context

    horizon, context, long = args.horizon or 12, parse_context(args.context), long_source(DataConfig(source=args.data))
    frames = load_long(DataConfig(source=args.data)) if long else {args.data: load_prices(args.data)}
    if context == AUTO:
        context, scores = choose_context(frames, weights=args.weights, horizon=horizon, column=args.column)
        tried = ", ".join(f"{candidate}: {score:.3f}" for candidate, score in scores.items()) or "no series long enough"
        print(f"context {context}, chosen on each series' last {horizon} values (mean absolute error over the history's "
              f"mean absolute change, by context: {tried})")
    forecaster = Forecaster.pretrained(args.weights, horizon=horizon, context=context)
    if long:
        table = long_format(forecaster.forecast_panel(frames, column=args.column, exchange=args.exchange))
        print(f"pretrained forecast of the {len(frames)} series of {args.data} (the first {min(len(table), SHOWN)} of "
              f"{len(table)} rows):")
        print(table.head(SHOWN).to_string(index=False, float_format="{:.4f}".format))
    else:
        table = forecaster.forecast(frames[args.data], column=args.column, source=args.data, exchange=args.exchange)
        print(f"pretrained forecast of {table.attrs['target']} (zero-shot; dates: {table.attrs['calendar']}):")
        print(table.to_string(index=False, float_format="{:.4f}".format))
    print("lo_L, hi_L: the central L % interval, from the network's own quantiles")
    if out is not None:
        print(f"results: {save_forecast(table, out)}")
    return 0
