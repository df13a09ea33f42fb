"""``forecaster embed``: per-frame embeddings of a series from a transformer checkpoint, and their projection."""

from __future__ import annotations

import argparse

from forecaster.commands import arguments

NAME = "embed"
HELP = ("per-frame embeddings of a series (or one per series of a long table) from a transformer checkpoint or the "
        "pretrained forecaster, and their projection")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("checkpoint", help="a transformer checkpoint written by forecaster run or forecaster pretrain, or "
                        "the pretrained forecaster: pretrained (the shipped weights) or a pretrained.pt")
    arguments.add_data(parser, f"{arguments.SOURCES}, or a long-format table of several series (unique_id, ds, y: one "
                       "embedding per series, the mean of its frames', embeddings.csv with a unique_id column) (default: sp500)",
                       default="sp500")
    arguments.add_column(parser, checkpoint=True)
    arguments.add_transform(parser)
    arguments.add_out(parser, NAME)
    arguments.add_verbose(parser, shown=False)


def run(args: argparse.Namespace) -> int:
    from forecaster.checkpoint import load_checkpoint
    from forecaster.data.features import DataConfig
    from forecaster.data.panel import load_long, long_source
    from forecaster.data.sources import load_prices
    from forecaster.output.folders import check_out_dir, timestamped_out_dir
    from forecaster.reuse.embed import embed_panel, embed_series, save_embeddings
    from forecaster.reuse.pretrained_transfer import embedder, is_pretrained

    out = check_out_dir(args.out or timestamped_out_dir("embed"))
    if is_pretrained(args.checkpoint):  # the pretrained forecaster's encoder, each window read in levels
        encoder, pipeline, context = embedder(args.checkpoint, args.transform)
        name, transform = "pretrained", None
    else:
        checkpoint = load_checkpoint(args.checkpoint)
        encoder, pipeline, context = checkpoint.encoder(), checkpoint.pipeline, checkpoint.dims.context
        name, transform = checkpoint.name, args.transform
    data = DataConfig(source=args.data)
    if long_source(data):  # a long-format table: one embedding per series, its value column the target unless named
        frames = load_long(data)
        table = embed_panel(encoder, pipeline, frames, context=context, column=args.column or data.value_column,
                            transform=transform)
        folder = save_embeddings(table, out, title=f"{name} embeddings of the series of {args.data} (PCA)")
        print(f"{len(table)} series embedded in {table.shape[1] - 3} dimensions (each the mean of its frames' embeddings)")
        print(f"results: {folder}")
        return 0
    table = embed_series(encoder, pipeline, load_prices(args.data), context=context, column=args.column,
                         transform=transform, source=args.data)
    folder = save_embeddings(table, out, title=f"{name} embeddings of {args.data} (PCA)")
    print(f"{len(table)} frames embedded in {table.shape[1] - 2} dimensions")
    print(f"results: {folder}")
    return 0
