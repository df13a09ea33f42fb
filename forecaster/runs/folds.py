"""Walk-forward folds: the chronological splits a backtest scores and a search validates on.

Each fold is a chronological split that ends further into the series: a training span (expanding from
the start, or sliding with a fixed length), a validation span, then a test span. The folds' test spans do
not overlap and together cover the end of the series.
"""

from __future__ import annotations

import pandas as pd

from forecaster.config import BacktestConfig, ExperimentConfig
from forecaster.data.features import prepare_series
from forecaster.data.windows import SplitBounds, WindowConfig
from forecaster.errors import ForecasterError


def fold_bounds(length: int, config: WindowConfig, backtest: BacktestConfig) -> list[SplitBounds]:
    """The ``backtest.folds`` folds' spans over ``length`` transformed steps, oldest first.

    The test spans share the single-split test fraction (the last 1 - train - val of the series) in
    K equal, consecutive parts; each has a validation span of the usual size just before it.
    """
    folds = backtest.folds
    test_total = length - int(round(length * (config.train_fraction + config.val_fraction)))
    test_size = test_total // folds
    val_size = int(round(length * config.val_fraction))
    train_size = int(round(length * config.train_fraction))
    if test_size < config.horizon or val_size < config.horizon:
        raise ForecasterError(
            f"{length} steps split into {folds} folds leave test spans of {test_size} steps, fewer than "
            f"horizon={config.horizon}; use fewer folds or a longer series"
        )
    bounds = []
    for fold in range(folds):
        test_end = length - (folds - 1 - fold) * test_size
        val_end = test_end - test_size
        train_end = val_end - val_size
        train_start = 0 if backtest.scheme == "expanding" else max(0, train_end - train_size)
        if train_end - train_start < config.context + config.horizon:
            raise ForecasterError(
                f"fold {fold + 1} has {train_end - train_start} training steps, fewer than "
                f"context + horizon = {config.context + config.horizon}; use fewer folds"
            )
        bounds.append(SplitBounds(train_end=train_end, val_end=val_end, length=test_end, train_start=train_start))
    return bounds


def series_folds(frame: pd.DataFrame, config: ExperimentConfig, *, label: str | None = None) -> list[SplitBounds]:
    """The folds of one series (``fold_bounds`` over its transformed steps); errors name the series when labelled."""
    try:
        return fold_bounds(len(prepare_series(frame, config.data).frames), config.windows, config.backtest)
    except ForecasterError as error:
        if label is None:
            raise
        raise ForecasterError(f"series {label!r}: {error}") from None
