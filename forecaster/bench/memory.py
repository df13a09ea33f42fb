"""Peak memory of a measurement: the CUDA allocator's peak on a GPU, the growth of the resident set on Linux.

A mark is taken before the work and the peak read after it. On the CPU the peak is the high-water mark of
the process's resident set (``VmHWM``), reset to the current size at the mark, so memory the allocator
freed and reused does not count; where Linux's ``/proc`` files cannot be read or written the peak is NaN.
"""

from __future__ import annotations

import math
from pathlib import Path

import torch

MIB = 2**20


def proc_status_mib(field: str) -> float:
    """A ``/proc/self/status`` memory field (kB there) in MiB, or NaN off Linux."""
    try:
        lines = Path("/proc/self/status").read_text().splitlines()
    except OSError:
        return math.nan
    values = [line.split()[1] for line in lines if line.startswith(f"{field}:")]
    return int(values[0]) / 1024 if values else math.nan


def reset_peak_rss() -> bool:
    """Reset VmHWM to the current RSS (Linux ``clear_refs`` value 5); False where that is not allowed."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def memory_mark(device: torch.device) -> float:
    """Start a peak-memory measurement; returns the baseline (MiB) to subtract, NaN when none can be taken."""
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
        return 0.0  # the CUDA peak is reported whole: everything allocated, model and data included
    return proc_status_mib("VmRSS") if reset_peak_rss() else math.nan


def memory_peak(device: torch.device, mark: float) -> float:
    """The peak (MiB) since ``memory_mark`` returned ``mark``."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / MIB - mark
    return proc_status_mib("VmHWM") - mark  # RSS growth: freed memory the allocator reuses does not count
