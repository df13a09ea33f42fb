"""The figures of a search: Optuna's own matplotlib history and parameter-importance plots, saved and closed."""

from __future__ import annotations

import warnings
from pathlib import Path


def _save(axes, path: Path) -> None:
    import matplotlib.pyplot as plt  # Optuna's plots draw on pyplot figures: close each once saved

    figure = axes.figure if hasattr(axes, "figure") else axes.flat[0].figure
    figure.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(figure)


def history_figure(study, path: Path) -> None:
    """Each trial's value and the best so far, in trial order (pruned and failed trials have none)."""
    import optuna

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        _save(optuna.visualization.matplotlib.plot_optimization_history(study), path)


def importance_figure(study, path: Path, *, seed: int) -> None:
    """fANOVA importances (seeded) of the settings over the completed trials; with fewer than two completed
    trials, or settings that never changed, a figure that says so (the file list stays the same)."""
    import optuna

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        try:
            evaluator = optuna.importance.FanovaImportanceEvaluator(seed=seed)
            _save(optuna.visualization.matplotlib.plot_param_importances(study, evaluator=evaluator), path)
            return
        except (ValueError, RuntimeError) as error:
            reason = str(error)
    from matplotlib.figure import Figure

    figure = Figure(figsize=(7, 2))
    figure.text(0.5, 0.5, f"No parameter importances: {reason}", ha="center", va="center", wrap=True, fontsize=9)
    figure.savefig(path, dpi=120)
