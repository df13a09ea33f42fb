"""Results folders written all at once: refuse an occupied folder, stage beside it, rename when complete."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from forecaster.errors import ForecasterError


def check_out_dir(out: str | Path) -> Path:
    """``out`` as a Path, or an error if it already holds something (a run never overwrites another)."""
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ForecasterError(f"results folder {str(out)!r} already exists and is not empty; choose another --out")
    return out


def timestamped_out_dir(prefix: str, root: str | Path = "results") -> Path:
    """A new folder name such as ``results/run-20261126-104500`` (not created)."""
    return Path(root) / pd.Timestamp.now().strftime(f"{prefix}-%Y%m%d-%H%M%S")


def write_folder(out: str | Path, write_files: Callable[[Path], None]) -> Path:
    """Create the folder ``out`` holding what ``write_files(folder)`` writes, or nothing at all.

    The files go to a hidden temporary folder beside ``out`` that is renamed into place only when
    complete, so an interrupted or failing write leaves no folder that looks finished.
    """
    out = check_out_dir(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.partial-"))
    try:
        write_files(staging)
        if out.exists():
            out.rmdir()  # an empty folder the user made for us
        os.replace(staging, out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return out
