"""Series shorter than the context: padded at the start, the padding masked, so that every series is forecast.

Under the holdout split (``windows.split: holdout``) a series whose training span cannot hold one whole window
(fewer than ``context + 3 * horizon`` steps) would otherwise be refused, and a competition's short subsets
(``tourism:yearly``: 11 points for a horizon of 4) could not run at all. ``windows.pad`` (``auto``, the default)
pads such a series instead: ``context - 1`` frames placed before its first step, so that a window may end at any
of its real steps (its validation and test windows at the configured context, and a training window wherever
the training span holds a whole horizon of targets). What is placed there is 0 in the scaled space (the training
span's mean for a centred level target, no change for a differenced one), and one more input channel,
``observed`` (1 on real frames, 0 on padding), appended after the data channels, says which frames are real.

The rules that keep the padding from passing for data:

- targets are always real: a window's origin (its newest input) is a real step, and so is every target after it;
- the scaling is fitted on the real training frames alone (the padding is added after scaling);
- the ``observed`` channel is there in every series of a run that pads any (a global model reads the same channels
  everywhere), all ones where a series is not padded;
- how each model reads it is its own (``models/__init__.py``): the transformer masks the padding out of attention
  (a token, or patch, of padding alone is never attended to) and zeroes what it reads there; linear, MLP and RNN
  read the ``observed`` channel as one more input; the naive forecasts read the last frame, always real.
"""

from __future__ import annotations

import numpy as np

from forecaster.data.windows import SplitBounds, WindowConfig


def needs_padding(bounds: SplitBounds, config: WindowConfig) -> bool:
    """Whether the series split by ``bounds`` is padded: ``windows.pad`` true, or auto and too short for a training
    window of its own (the holdout split only)."""
    if config.split != "holdout" or config.pad is False:
        return False
    return config.pad is True or bounds.train_end < config.context + config.horizon


def padding_of(bounds: SplitBounds, config: WindowConfig) -> int:
    """Frames placed before step 0: ``context - 1`` for a padded series (a window may then end at step 0), else 0."""
    return config.context - 1 if needs_padding(bounds, config) else 0


def with_observed(frames: np.ndarray, padding: int) -> np.ndarray:
    """Scaled frames (L, C) as a masked run reads them: ``padding`` rows of zeros first, then one more channel,
    ``observed``, 1 on the L real frames and 0 on the padding: (padding + L, C + 1)."""
    padded = np.vstack([np.zeros((padding, frames.shape[1]), dtype=frames.dtype), frames])
    observed = np.r_[np.zeros(padding), np.ones(len(frames))].astype(frames.dtype)
    return np.hstack([padded, observed[:, None]])


def pad_rows(values: np.ndarray, padding: int) -> np.ndarray:
    """``values`` (L, F) with ``padding`` rows of zeros first: inputs known ahead line up with the padded frames (no
    target is ever a padded step, so these rows are never read as a forecast step's)."""
    return np.vstack([np.zeros((padding, values.shape[1]), dtype=values.dtype), values])
