"""Masked patches, PatchTST's self-supervised objective (Nie et al. 2023): hide some patches, reconstruct them.

A window of T frames is cut into P = T / patch non-overlapping patches, and ``round(ratio * P)`` of them
(at least one, never all) are hidden. The window is then normalised by its own mean and deviation, as
instance normalisation does, but computed over the *visible* frames alone: statistics taken over the
whole window would carry the hidden values into every visible one (a hidden spike moves the mean), and
the model could read them back. Hidden frames are then replaced by zeros, the normalised window's mean.

The targets are the normalised window on the hidden frames and NaN elsewhere, so that a loss which
reads the finite targets alone (``masked_mse`` in ``training/losses.py``) scores the hidden patches only.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch

from forecaster.data.windows import Batch, PooledWindows
from forecaster.errors import ForecasterError

# Added to each window's variance. The windows are already scaled per channel on its training span, so
# this floors a window's deviation near a tenth of its channel's usual one. RevIN's 1e-5 is too small here:
# ETTh2's HULL holds hours of constant load, and a flat visible part would magnify the hidden values a
# thousandfold (measured: one validation window's loss 57,000 against a median of 1, most of the mean).
VARIANCE_FLOOR = 1e-2


def hidden_count(patches: int, ratio: float) -> int:
    """How many of a window's ``patches`` are hidden at mask ratio ``ratio``: at least one, never all."""
    return min(patches - 1, max(1, round(ratio * patches)))


def check_masking(context: int, patch: int, ratio: float, where: str = "pretrain") -> None:
    """A one-line ForecasterError when ``patch`` cannot tile a ``context``-frame window into maskable patches."""
    if patch < 1 or context % patch or context // patch < 2:
        divisors = [size for size in range(1, context // 2 + 1) if context % size == 0]
        raise ForecasterError(
            f"{where}.encoder.patch={patch} does not cut {where}.windows.context={context} into at least two non-overlapping patches; "
            f"valid patch sizes for this context: {', '.join(map(str, divisors))}")
    if not 0 < ratio < 1:
        raise ForecasterError(f"{where}.mask_ratio={ratio} must lie strictly between 0 and 1 (PatchTST uses 0.4)")


def choose_patches(windows: int, patches: int, ratio: float, generator: torch.Generator) -> torch.Tensor:
    """Which patches each window hides: (N, P) bool, exactly ``hidden_count(P, ratio)`` True per row, drawn at random."""
    ranks = torch.rand(windows, patches, generator=generator).argsort(dim=1).argsort(dim=1)  # a random permutation per row
    return ranks < hidden_count(patches, ratio)


def visible_statistics(x: torch.Tensor, hidden: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Each window's mean and deviation (B, 1, 1) over its visible frames: ``x`` (B, T, 1), ``hidden`` (B, T) bool."""
    visible = (~hidden).unsqueeze(-1).to(x.dtype)  # (B, T, 1)
    count = visible.sum(dim=1, keepdim=True)  # (B, 1, 1)
    # torch.where, not x * visible: a hidden NaN or inf must not reach the statistics (0 * inf is NaN).
    values = torch.where(visible.bool(), x, torch.zeros_like(x))
    mean = values.sum(dim=1, keepdim=True) / count
    deviation = torch.where(visible.bool(), x - mean, torch.zeros_like(x))
    return mean, torch.sqrt((deviation**2).sum(dim=1, keepdim=True) / count + VARIANCE_FLOOR)


def mask_windows(x: torch.Tensor, chosen: torch.Tensor, patch: int) -> Batch:
    """The masked batch of windows ``x`` (B, T, 1) hiding the patches ``chosen`` (B, P).

    ``past``: the window normalised by its visible frames' statistics, hidden frames set to 0 (B, T, 1);
    ``targets``: the normalised window on the hidden frames, NaN on the visible ones (B, T, 1).
    """
    hidden = chosen.repeat_interleave(patch, dim=1)  # (B, P) -> (B, T): each patch's frames
    mean, deviation = visible_statistics(x, hidden)
    normalised = (x - mean) / deviation
    mask = hidden.unsqueeze(-1)  # (B, T, 1)
    past = torch.where(mask, torch.zeros_like(normalised), normalised)
    targets = torch.where(mask, normalised, torch.full_like(normalised, float("nan")))
    return Batch(past, past.new_empty((len(past), 0, 0)), targets)


@dataclass(frozen=True)
class MaskedWindows:
    """Windows whose batches hide patches: what ``train_model`` trains a reconstruction on.

    ``windows``' inputs (N, T, 1) are the windows (their targets are not read). Training batches draw
    fresh patches to hide from ``generator`` at every batch (seeded: a run repeats exactly); with
    ``fixed`` (validation) each window hides the same patches at every epoch, so that the validation
    loss of two epochs compares like with like.
    """

    windows: PooledWindows
    patch: int
    ratio: float
    generator: torch.Generator
    fixed: torch.Tensor | None = None  # (N, P) bool: each window's hidden patches, when fixed

    @classmethod
    def create(cls, windows: PooledWindows, *, patch: int, ratio: float, seed: int, fixed: bool = False) -> MaskedWindows:
        check_masking(windows.context, patch, ratio)
        generator = torch.Generator().manual_seed(seed)
        chosen = choose_patches(len(windows), windows.context // patch, ratio, generator) if fixed else None
        return cls(windows, patch, ratio, generator, chosen)

    def __len__(self) -> int:
        return len(self.windows)

    @property
    def context(self) -> int:
        return self.windows.context

    @property
    def series(self) -> torch.Tensor:
        return self.windows.series  # where batches are gathered (evaluate_loss reads its device)

    def batch(self, rows: torch.Tensor | slice) -> Batch:
        """The windows ``rows`` masked (see ``mask_windows``)."""
        x = self.windows.batch(rows).past  # (B, T, 1)
        if self.fixed is not None:
            chosen = self.fixed[rows.cpu() if isinstance(rows, torch.Tensor) else rows]
        else:
            chosen = choose_patches(len(x), self.context // self.patch, self.ratio, self.generator)
        return mask_windows(x, chosen.to(x.device), self.patch)

    def to(self, device: torch.device | str) -> MaskedWindows:
        return dataclasses.replace(self, windows=self.windows.to(device))
