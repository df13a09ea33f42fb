"""``forecaster pretrain``: one channel-independent patch encoder pretrained on every channel of several series."""

from __future__ import annotations

import argparse

from forecaster.commands import arguments
from forecaster.errors import ForecasterError

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


# What pretraining reads of a config beside its pretrain: section; a --set of anything else would change nothing.
READS = ("data.source", "train.device")


def check_overrides(overrides: list[str]) -> None:
    """Refuse a ``--set`` that pretraining would ignore, naming the ``pretrain.`` key that does it where there is one."""
    import dataclasses

    from forecaster.training.pretraining import PretrainConfig

    keys = {field.name for field in dataclasses.fields(PretrainConfig)}
    for override in overrides:
        key = override.partition("=")[0].strip()
        if key.startswith("pretrain.") or key in READS:
            continue
        instead = f"; set pretrain.{key.rpartition('.')[2]} instead" if key.rpartition(".")[2] in keys else ""
        raise ForecasterError(f"--set {override!r}: forecaster pretrain reads pretrain.KEY, {' and '.join(READS)} and would "
                              f"ignore {key}{instead}")


def run(args: argparse.Namespace) -> int:
    """``forecaster pretrain``: pool the sources, pretrain the encoder, save the folder, say what it took."""
    import json

    from forecaster.config import read_config
    from forecaster.data.sources import load_prices
    from forecaster.output.folders import check_out_dir, timestamped_out_dir
    from forecaster.reuse.pretrain import pretrain, save_pretrain
    from forecaster.training.pretraining import PretrainConfig

    check_overrides(args.overrides)
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
