"""Option values that several commands read the same way: the config that CONFIG, --data, --column and --set
describe, and a list of seeds."""

from __future__ import annotations

import argparse
import json

from forecaster.cli_parser import DEFAULT_CONFIG
from forecaster.errors import ForecasterError


def parse_seeds(text: str, flag: str = "--seeds") -> tuple[int, ...]:
    """Comma-separated seeds, e.g. ``0,1,2``; anything else is a one-line error naming ``flag``."""
    try:
        return tuple(int(seed) for seed in text.split(",") if seed.strip())
    except ValueError:
        raise ForecasterError(f"{flag}={text!r} should be comma-separated integers, e.g. 0,1,2") from None


def config_from_arguments(args: argparse.Namespace):
    """The experiment config that CONFIG, --data, --column and --set describe."""
    from forecaster.config import read_config

    overrides = list(args.overrides)
    if args.data is not None:
        sources = [args.data] if isinstance(args.data, str) else args.data
        # One source stays a scalar; several become a YAML list (JSON is valid YAML and quotes paths).
        overrides.insert(0, f"data.source={sources[0] if len(sources) == 1 else json.dumps(sources)}")
    if args.column is not None:
        overrides.insert(0, f"data.column={args.column}")
    config_path = args.config if args.config is not None else (DEFAULT_CONFIG if DEFAULT_CONFIG.is_file() else None)
    return read_config(config_path, overrides)
