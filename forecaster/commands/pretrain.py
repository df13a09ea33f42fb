"""``forecaster pretrain``: the pretrained forecaster from a pool (a config whose ``pretrain:`` has a ``pool:``, such as
``experiments/pretrained/pretrained.yaml``, ``reuse/pretrained_recipe.py``), or one channel-independent patch encoder
pretrained on every channel of several series (any other config), for transfer and embed."""

from __future__ import annotations

import argparse

from forecaster.commands import arguments
from forecaster.errors import ForecasterError

NAME = "pretrain"
HELP = ("pretrain the pretrained forecaster on a pool of series (a config with pretrain.pool: "
        "experiments/pretrained/pretrained.yaml), or an encoder on every channel of several series for transfer and embed")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("config", nargs="?", help="YAML config: with pretrain.pool, the pretrained forecaster's pool, "
                        "network and training (experiments/pretrained/pretrained.yaml); otherwise its pretrain: section sets "
                        "the encoder's objective, mask ratio, windows and training (default: the built-in defaults)")
    parser.add_argument("--resume", action="store_true", help="with a pool config: go on with the run in --out from its "
                        "last saved epoch (state.pt), the same config and --set given again")
    arguments.add_data(parser, f"{arguments.SOURCES}; every channel of each is pooled (a price series: its close as "
                       "log-returns), a long-format table each of its series (unique_id, ds, y); sets data.source", several=True)
    arguments.add_set(parser, examples="pretrain.train.epochs=2, pretrain.objective=forecast, train.device=cpu")
    arguments.add_out(parser, NAME)
    arguments.add_threads(parser)
    arguments.add_quiet(parser)
    arguments.add_verbose(parser, shown=False)


# What pretraining reads of a config beside its pretrain: section; a --set of anything else would change nothing.
READS = ("data.source", "train.device")


def check_overrides(overrides: list[str]) -> None:
    """Refuse a ``--set`` that pretraining would ignore, naming the ``pretrain.`` key that does it where there is one."""
    import dataclasses

    from forecaster.mappings import nested_sections
    from forecaster.training.pretraining import PretrainConfig

    sections = {"pretrain": PretrainConfig, **nested_sections({"pretrain": PretrainConfig})}
    keys = {field.name: f"{where}.{field.name}" for where, cls in sections.items() for field in dataclasses.fields(cls)}
    for override in overrides:
        key = override.partition("=")[0].strip()
        if key.startswith("pretrain.") or key in READS:
            continue
        instead = f"; set {keys[key.rpartition('.')[2]]} instead" if key.rpartition(".")[2] in keys else ""
        raise ForecasterError(f"--set {override!r}: forecaster pretrain reads pretrain.KEY, {' and '.join(READS)} and would "
                              f"ignore {key}{instead}")


def run(args: argparse.Namespace) -> int:
    """``forecaster pretrain``: pool the sources, pretrain the encoder, save the folder, say what it took."""
    import dataclasses
    import json

    from forecaster.config import read_config
    from forecaster.data.panel import load_long, long_source
    from forecaster.data.sources import load_prices
    from forecaster.output.folders import check_out_dir, timestamped_out_dir
    from forecaster.reuse.pretrain import pretrain, save_pretrain
    from forecaster.reuse.pretrained_recipe import is_recipe
    from forecaster.training.pretraining import PretrainConfig

    if is_recipe(args.config):
        from forecaster.commands import pretrained

        return pretrained.run(args)
    if args.resume:
        raise ForecasterError("--resume goes on with a pretrained forecaster's run (a config with pretrain.pool, e.g. "
                              "experiments/pretrained/pretrained.yaml); an encoder's pretraining starts anew")
    check_overrides(args.overrides)
    overrides = list(args.overrides)
    if args.data is not None:
        overrides.insert(0, f"data.source={json.dumps(args.data)}")
    config = read_config(args.config, overrides)
    settings = config.pretrain or PretrainConfig()
    devices = {settings.train.device, config.train.device} - {"auto"}
    if len(devices) > 1:
        raise ForecasterError(f"pretrain.train.device={settings.train.device!r} and train.device={config.train.device!r} "
                              "name two devices; set one of them (auto: the other)")
    settings = dataclasses.replace(settings, train=dataclasses.replace(settings.train, device=next(iter(devices), "auto")))
    out = check_out_dir(args.out or timestamped_out_dir("pretrain"))  # fail before training, not after
    frames = {}
    for source in config.data.sources:  # a long-format table gives each of its series, by id
        data = dataclasses.replace(config.data, source=source)
        if long_source(data):
            frames.update({label if label not in frames else f"{source}:{label}": frame for label, frame in load_long(data).items()})
        else:
            frames[source] = load_prices(source)
    result = pretrain(frames, settings, progress=not args.quiet)
    folder = save_pretrain(result, out)
    summary = result.summary()
    print(result.pool.channels.to_string(index=False))
    print(f"\n{summary['channels']} channels of {len(frames)} series, {summary['train_windows']} training windows of "
          f"{settings.windows.context} frames in {settings.windows.context // settings.encoder.patch} patches; "
          f"{settings.objective} objective, "
          f"{summary['parameters']} encoder parameters; best validation loss {summary['best_val_loss']:.4f} at epoch "
          f"{summary['best_epoch']} of {summary['epochs_run']}")
    print(f"{summary['seconds']:.0f} s on {summary['threads']} thread(s), peak memory {summary['peak_memory_mb']:.0f} MB")
    print(f"reuse it: forecaster transfer {folder / 'checkpoints' / 'encoder.pt'} --data SOURCE --last 100,300,all --seeds 0,1,2")
    print(f"results: {folder}")
    return 0
