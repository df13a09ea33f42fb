"""How much history the pretrained forecaster reads: its whole context, a given one, or the one that forecast the
series' own last values best (``forecaster forecast --model pretrained --context auto``).

The whole context is not always best: on Tourism monthly six years of history forecast better than eleven
(``docs/benchmarks/pretrained.md``). ``auto`` measures that on the data at hand, as a competition's validation span
does: every series' last ``horizon`` values are forecast from the values before them with each candidate (h, 2h, 3h
and the whole context), each series' mean absolute error is scaled by the mean absolute change of its history (so
that no series weighs by its units), and the candidate with the lowest mean over the series is chosen; a tie goes to
the longer. The forecast itself then reads every value, the last ones included. A series too short to hold out
``horizon`` values and keep three is left out of the choice; with none left, the whole context is kept.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from forecaster.errors import ForecasterError

AUTO = "auto"
MIN_KEPT = 3  # values a series keeps before its held-out ones: a change to scale by, and a history to read


def parse_context(text: str | None) -> int | str | None:
    """``--context`` as a number of values, ``auto``, or None (the whole context)."""
    if text is None or text == AUTO:
        return text
    if text.isdigit() and int(text) > 0:
        return int(text)
    raise ForecasterError(f"--context={text!r}: give a number of values (at most the network's context) or auto")


def candidates(horizon: int, whole: int) -> list[int]:
    """The contexts ``auto`` compares: h, 2h, 3h (each at most ``whole``) and ``whole``, shortest first."""
    return sorted({min(k * horizon, whole) for k in (1, 2, 3)} | {whole})


def choose_context(frames: dict[str, pd.DataFrame], *, weights: str | Path | None, horizon: int,
                   column: str | None = None) -> tuple[int, dict[int, float]]:
    """The context ``auto`` chooses for ``frames`` (series by label), and each candidate's score (see the module)."""
    from forecaster.reuse.forecast import Forecaster

    reader = Forecaster.pretrained(weights, horizon=horizon, levels=())
    whole = reader.dims.context
    held_out = []  # per series long enough: the rows before its last values, those values, its errors' scale
    for frame in frames.values():
        if len(frame) < horizon + MIN_KEPT:
            continue
        history = frame.iloc[:-horizon]
        scale = np.mean(np.abs(np.diff(reader.target_levels(history, column=column))))
        held_out.append((history, reader.target_levels(frame, column=column)[-horizon:], scale if scale > 0 else 1.0))
    if not held_out:
        return whole, {}
    scores = {}
    for context in candidates(horizon, whole):
        forecaster = Forecaster.pretrained(weights, horizon=horizon, levels=(), context=context)
        errors = [np.mean(np.abs(forecaster.forecast(history, column=column, exchange="none")["forecast"].to_numpy() - actual))
                  / scale for history, actual, scale in held_out]
        scores[context] = float(np.mean(errors))
    return min(reversed(list(scores)), key=scores.__getitem__), scores
