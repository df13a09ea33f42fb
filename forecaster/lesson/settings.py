"""The sizes of every lesson experiment: FULL (the committed report, under 30 minutes on 2 CPU cores) and QUICK (tests)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass


@dataclass(frozen=True)
class LessonSettings:
    """Data, model and training sizes shared by the experiments, then each experiment's own.

    The neural models are small on purpose: a dozen questions, several models and seeds each, must fit
    in half an hour of two CPU cores. Every section states the sizes it ran with.
    """

    name: str = "full"
    # Real and synthetic series: the newest ``rows`` rows of each, windows of ``context`` frames, 1 step ahead.
    rows: int = 1500
    context: int = 32
    # The models every forecasting experiment trains (the transformer's switches vary per experiment).
    d_model: int = 16
    n_heads: int = 2
    n_layers: int = 2
    d_ff: int = 32
    dropout: float = 0.1
    rnn_hidden: int = 32
    mlp_hidden: tuple[int, ...] = (64, 64)
    epochs: int = 15
    patience: int = 3
    batch_size: int = 64
    learning_rate: float = 1e-3
    # 2: the delayed-response task; 11: the long-lag recall task (independent samples, not a series).
    task_context: int = 32
    task_delay: int = 5
    task_sizes: tuple[int, ...] = (250, 1000, 4000)
    task_steps: int = 1200  # gradient steps per training, whatever the sample count (epochs follow)
    task_d_model: int = 32
    task_test: int = 2000
    recall_lags: tuple[int, ...] = (1, 8, 16, 31)
    recall_samples: int = 2000
    recall_epochs: int = 20
    # 6: where the newest frame looks. A window of more than two periods (24) of the seasonal series, one layer
    # (the newest frame's map is then the only route to the forecast) and enough epochs for it to settle.
    map_context: int = 64
    map_layers: int = 1
    map_epochs: int = 80
    map_patience: int = 10
    # 8: the scale; 10: residuals; 11: speed.
    scale_widths: tuple[int, ...] = (4, 16, 64, 256)
    scale_train_widths: tuple[int, ...] = (16, 128)
    scale_epochs: int = 8
    residual_depths: tuple[int, ...] = (2, 4, 8)
    residual_epochs: int = 10
    speed_contexts: tuple[int, ...] = (16, 32, 64, 128, 256, 512)
    speed_steps: int = 5
    parameter_contexts: tuple[int, ...] = (16, 32, 64, 128, 256, 512, 1024)


FULL = LessonSettings()

# Tiny sizes: every section and figure, in well under a minute, for the test suite and a first look.
QUICK = dataclasses.replace(
    FULL, name="quick", rows=300, context=24, d_model=8, n_heads=2, d_ff=16, rnn_hidden=8, mlp_hidden=(16,),
    epochs=2, patience=2, task_context=12, task_delay=3, task_sizes=(64, 128), task_steps=8, task_d_model=8,
    task_test=128, recall_lags=(1, 8), recall_samples=128, recall_epochs=2, scale_widths=(4, 32),
    scale_train_widths=(8,), scale_epochs=2, residual_depths=(2, 4), residual_epochs=2, speed_contexts=(8, 16),
    speed_steps=1, parameter_contexts=(16, 64), map_context=50, map_epochs=2, map_patience=2,
)
