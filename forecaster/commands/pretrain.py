"""``forecaster pretrain``: one channel-independent patch encoder pretrained on every channel of several series."""

from __future__ import annotations

import argparse

from forecaster.commands import arguments

NAME = "pretrain"
HELP = ("pretrain one channel-independent patch encoder on every channel of several series (masked patches or next values), "
        "for transfer and embed")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("config", nargs="?", help="YAML config whose pretrain: section sets the objective, window, "
                        "patch, mask ratio, sizes and epochs (default: the built-in defaults)")
    arguments.add_data(parser, f"{arguments.SOURCES}; every channel of each is pooled (a price series: its close as "
                       "log-returns); sets data.source", several=True)
    arguments.add_set(parser, examples="pretrain.epochs=2, pretrain.objective=forecast, train.device=cpu")
    arguments.add_out(parser, NAME)
    arguments.add_threads(parser)
    arguments.add_quiet(parser)
    arguments.add_verbose(parser, shown=False)


def run(args: argparse.Namespace) -> int:
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
