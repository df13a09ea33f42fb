"""A run written to its results folder as ``forecaster run`` makes one: tracked, kept model by model so that an
interrupted run resumes, and trained by every process under torchrun (rank 0 writes).

``run_to_folder(config, out)`` is what the command does, for Python users too: one series, several (one global
model) or several seeds (``config.seeds``); ``resume_run(out)`` finishes an interrupted one with the same seeds,
so that the outcome equals an uninterrupted run. An interruption (Ctrl-C, or SIGTERM from ``kill`` or torchrun)
raises ``RunInterrupted``, which says what was kept.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

from forecaster.config import ExperimentConfig
from forecaster.errors import ForecasterError
from forecaster.output.folders import check_out_dir, timestamped_out_dir
from forecaster.runs import progress
from forecaster.runs.experiment import ExperimentResult, run_experiment, save_run
from forecaster.runs.fitting import ModelRun
from forecaster.runs.multiseries import GlobalResult
from forecaster.runs.seeds import run_seeds, save_seeds, seed_summary
from forecaster.tracking.tracker import log_results, open_tracker
from forecaster.training import distributed


class RunInterrupted(KeyboardInterrupt):
    """Ctrl-C or SIGTERM stopped a run: ``kept`` finished models wait in ``out``'s progress folder (None: nothing
    was kept, as a run with several seeds keeps nothing until every seed is done)."""

    def __init__(self, out: Path, kept: int | None, models: int, *, seeds: bool = False) -> None:
        super().__init__(f"interrupted: {out}")
        self.out, self.kept, self.models, self.seeds = out, kept, models, seeds


@dataclass(frozen=True)
class RecordedRun:
    """What ``run_to_folder`` wrote: the folder, the result (a ``GlobalResult`` for several series), or per seed
    the results of a run with ``seeds``; ``main_process`` is False on the other ranks under torchrun."""

    out: Path
    result: ExperimentResult | GlobalResult | None
    seeds: dict[int, ExperimentResult] | None
    main_process: bool


def run_to_folder(config: ExperimentConfig, out: str | Path | None = None, *, progress_bar: bool = False) -> RecordedRun:
    """Train and score ``config``'s models and write the results folder ``out`` (default: a new ``results/run-...``).

    ``out`` is checked before any training (it must not exist, or be empty), as is the tracking backend's package;
    an interrupted run waiting there is an error naming ``resume_run``'s command.
    """
    out = check_out_dir(out if out else timestamped_out_dir("run"))  # fail before training, not after
    if progress.interrupted(out) is not None:
        raise ForecasterError(
            f"an interrupted run is waiting in {progress.progress_dir(out)}: finish it with --resume {out}, or delete it"
        )
    return _recorded(config, out, {}, progress_bar=progress_bar)


def resume_run(out: str | Path, *, progress_bar: bool = False) -> RecordedRun:
    """Finish the interrupted run that was creating ``out``: its own config, its finished models reloaded."""
    out = Path(out)
    config, finished = progress.resume(out)
    return _recorded(config, check_out_dir(out), finished, progress_bar=progress_bar)


def _recorded(config: ExperimentConfig, out: Path, finished: dict[str, ModelRun], *, progress_bar: bool) -> RecordedRun:
    with distributed.session():  # under torchrun every process runs this; they train together and rank 0 writes
        if config.seeds is not None:
            return _seeds(config, out, progress_bar=progress_bar)
        main_process = distributed.is_main_process()
        tracker = open_tracker(config.tracking, out)  # before training: a missing package stops the run here
        try:
            with tracker.run(out.name) as tracked:
                result = run_experiment(  # one series, or a global run of several
                    config, progress=progress_bar, finished=finished, on_epoch_end=tracked.log_epoch,
                    on_model_done=(lambda result, name: progress.record(out, result, name)) if main_process else None,
                )
                if main_process:
                    save_run(result, out)
                    log_results(tracked, result.config.to_dict(), result.metrics, out)
        except KeyboardInterrupt:
            raise RunInterrupted(out, progress.interrupted(out), len(config.models)) from None
        if main_process:
            progress.finish(progress.progress_dir(out))
        return RecordedRun(out=out, result=result, seeds=None, main_process=main_process)


def _seeds(config: ExperimentConfig, out: Path, *, progress_bar: bool) -> RecordedRun:
    """The experiment once per seed of ``config.seeds``, one folder per seed and the spread over them."""
    tracker = open_tracker(config.tracking, out)
    try:
        with tracker.run(out.name) as tracked:
            results = run_seeds(config, progress=progress_bar, on_epoch_end=tracked.log_epoch)
            if distributed.is_main_process():
                save_seeds(results, out)
                log_results(tracked, dataclasses.replace(next(iter(results.values())).config, seeds=tuple(results)).to_dict(),
                            seed_summary(results), out)
    except KeyboardInterrupt:
        raise RunInterrupted(out, None, len(config.models), seeds=True) from None
    return RecordedRun(out=out, result=None, seeds=results, main_process=distributed.is_main_process())
