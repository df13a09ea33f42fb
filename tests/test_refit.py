"""train.refit: after early stopping, train again on every window before the test span (training and validation)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from forecaster.config import read_config
from forecaster.runs.experiment import run_experiment
from forecaster.runs.multiseries import prepare_all
from forecaster.runs.prepare import in_sample_windows

CONTEXT, HORIZON = 6, 3
SETTINGS = ["windows.split=holdout", f"windows.context={CONTEXT}", f"windows.horizon={HORIZON}", "data.transform=level",
            "train.epochs=3", "train.device=cpu", "models=naive,linear", "intervals.levels=[]"]


def frames(test_shift: float = 0.0) -> dict[str, pd.DataFrame]:
    rng = np.random.default_rng(0)
    out = {}
    for label, length in (("a", 60), ("b", 45)):
        values = 50 + np.cumsum(rng.normal(size=length))
        values[-HORIZON:] += test_shift  # the test span: the last horizon points
        out[label] = pd.DataFrame({"y": values}, index=pd.date_range("2000-01-01", periods=length, freq="MS"))
    return out


def test_in_sample_windows_are_every_window_whose_targets_lie_before_the_test_span():
    data = prepare_all(read_config(None, SETTINGS), frames())["a"]
    windows = in_sample_windows(data)
    bounds = data.bounds
    assert windows.origins[0] == CONTEXT - 1 and windows.origins[-1] + HORIZON == bounds.val_end - 1
    assert len(windows) == len(data.windows["train"]) + len(data.windows["val"]) + HORIZON - 1  # and those across the boundary
    assert windows.targets.shape == (len(windows), HORIZON, 1)


def test_refit_changes_the_weights_and_never_reads_the_test_span():
    plain = run_experiment(read_config(None, SETTINGS), frame=frames())
    refit = run_experiment(read_config(None, [*SETTINGS, "train.refit=true"]), frame=frames())
    moved = run_experiment(read_config(None, [*SETTINGS, "train.refit=true"]), frame=frames(test_shift=25.0))
    weights = [run.runs["linear"].model.state_dict() for run in (plain, refit, moved)]
    assert any(not np.allclose(a, b) for a, b in zip(weights[0].values(), weights[1].values()))
    for a, b in zip(weights[1].values(), weights[2].values()):  # the test span's values never reach training
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    assert refit.runs["linear"].training.best_epoch == plain.runs["linear"].training.best_epoch  # the first pass's record
    for label in ("a", "b"):
        np.testing.assert_array_equal(refit.parts[label].runs["naive"].forecast, plain.parts[label].runs["naive"].forecast)
