"""Write the golden files that ``tests/test_golden.py`` compares every run against, bit for bit.

The files were written by this script on the 2-core development machine (torch 2.13.0+cpu) at the
commit before the core refactor (issue "One core ..."), so the test proves that the refactor changed no
number. Rerun it only when a change of numbers is intended, and say so in the commit:
``python tests/golden/make_golden.py``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent

# Each case: a config file and --set overrides that make the run take a few seconds.
CASES = {
    # The default experiment (experiments/sp500.yaml, every model at its default size) on 1999-2001.
    "default": ("experiments/sp500.yaml", ["data.end=2002-01-01", "train.epochs=2", "train.device=cpu"]),
    # Levels, horizon 3, patches, instance norm, a calendar channel and a sliding seasonal naive.
    "sunspots_h3": ("experiments/sunspots.yaml", [
        "data.start=1900-01-01", "windows.context=24", "windows.horizon=3", "train.epochs=2", "train.device=cpu",
        "data.calendar=[day_of_year]", "models.transformer.patch=4", "models.transformer.instance_norm=true",
        "models.seasonal_naive.period=12",
    ]),
}


def run_case(name: str):
    """The case's experiment result (nothing written to disk)."""
    from forecaster import read_config, run_experiment

    path, overrides = CASES[name]
    torch.set_num_threads(1)  # the same numbers whatever the core count
    return run_experiment(read_config(REPO / path, overrides))


def tables(result) -> dict:
    metrics = result.metrics.drop(columns=["train_seconds"])
    return {"metrics": metrics, "predictions": result.predictions}


def main() -> int:
    for name in CASES:
        result = run_case(name)
        for table, frame in tables(result).items():
            frame.to_csv(HERE / f"{name}_{table}.csv", index=False, float_format="%.17g")
    (HERE / "machine.json").write_text(json.dumps({
        "torch": torch.__version__, "cpu_capability": torch.backends.cpu.get_cpu_capability(),
    }) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
