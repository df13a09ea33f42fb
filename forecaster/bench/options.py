"""``forecaster bench``'s options as plain values -> the ``BenchConfig`` and ``LongSeriesConfig`` they ask for.

Unset values (None) keep the configs' defaults, or the ``quick`` sizes when asked for; a value given
explicitly wins over both. Every value is checked once, by the config itself. Argparse stays in cli.py.
"""

from __future__ import annotations

from collections.abc import Callable

from forecaster.bench.long_series import LongSeriesConfig
from forecaster.bench.measure import BenchConfig
from forecaster.errors import ForecasterError

# Tiny sizes for a first look: two short contexts, small models, two timed steps, a short series.
QUICK = {"contexts": (16, 32), "batch_size": 32, "d_model": 16, "d_ff": 32, "train_steps": 2, "series_length": 2000}


def split_list(text: str, name: str, convert: Callable[[str], object]) -> tuple:
    """``"32, 64"`` -> ``(32, 64)`` with each item converted; empty items are skipped. ``name`` is for the error."""
    try:
        return tuple(convert(item.strip()) for item in text.split(",") if item.strip())
    except ValueError:
        raise ForecasterError(f"{name}={text!r} is not a comma-separated list, e.g. {name}=32,64") from None


def bench_config(*, quick: bool = False, contexts: str | None = None, kinds: str | None = None, device: str = "all",
                 reference: bool = True, compile: bool = False, **sizes: int | str | None) -> BenchConfig:
    """The BenchConfig asked for: ``contexts`` and ``kinds`` as comma-separated text, ``device`` one device or
    ``all`` (cpu, and cuda when present), and ``sizes`` any other BenchConfig fields (None: not given)."""
    values: dict = dict(QUICK) if quick else {}
    values.update({field: value for field, value in sizes.items() if value is not None})
    if contexts is not None:
        values["contexts"] = split_list(contexts, "contexts", int)
    if kinds is not None:
        values["kinds"] = split_list(kinds, "kinds", str)
    return BenchConfig(**values, devices=() if device == "all" else (device,), reference=reference, compile=compile)


def long_series_config(steps: int | None = None) -> LongSeriesConfig:
    """The long-series measurement over ``steps`` steps (None: ``LongSeriesConfig``'s default length)."""
    return LongSeriesConfig() if steps is None else LongSeriesConfig(steps=steps)
