"""Transfer as a study: the reuse rows against scratch at several training sizes and seeds, with tests.

For each size N (the newest N training windows of the target, or all of them) and each seed, the rows
of ``transfer_rows`` are trained on the same N windows and scored on the same test points: ``scratch``,
``linear_probe`` and ``fine_tune``, and, when the source's head fits the target, ``zero_shot``; the
``naive`` forecast beside them. zero_shot and naive train nothing, so they are scored once and repeated
at every size. The seed draws the new heads' and scratch's initial weights and the batch order; the
source encoder is the same in every run.

Each row is compared with scratch at the same size by a Diebold-Mariano test (HLN-corrected, absolute
loss, the rel_mae's) on the test points of the last horizon step, each point's loss averaged over the
seeds first, as ``forecaster backtest`` does: the seeds share the same test days, so they are not extra
observations; the test asks whether a row, trained with a random seed, has a lower expected loss. With K
targets the test is pooled, as the table's rel_mae is: each test point's loss is the mean over the targets of
each target's absolute error divided by the naive forecast's MAE on that target (at the last step), so that
no target weighs by its units; one test per row, not one per target (``metrics_by_channel.csv`` of a
single ``forecaster transfer`` table has each target's scores).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from forecaster.checkpoint import Checkpoint
from forecaster.config import ExperimentConfig
from forecaster.errors import ForecasterError
from forecaster.evaluation.stats import diebold_mariano_differential
from forecaster.output.folders import write_folder
from forecaster.reuse.transfer import NAIVE_ROW, Source, TransferRow, row_specs, score_rows, transfer_data, transfer_rows
from forecaster.runs.fitting import ModelRun
from forecaster.runs.prepare import PreparedData

ALL = "all"  # the size that trains on every training window
REFERENCE = "scratch"  # what every row is tested against


def parse_sizes(text: str) -> tuple[int | None, ...]:
    """``--last`` as sizes: comma-separated window counts and ``all`` (None), e.g. ``100,300,1000,all``."""
    sizes: list[int | None] = []
    for item in (part.strip() for part in text.split(",") if part.strip()):
        if item.lower() == ALL:
            sizes.append(None)
        elif item.isdigit() and int(item) > 0:
            sizes.append(int(item))
        else:
            raise ForecasterError(f"--last={text!r}: {item!r} is not a number of training windows; give positive counts "
                                  f"and 'all', comma-separated, e.g. 100,300,1000,all")
    if not sizes or len(set(sizes)) != len(sizes):
        raise ForecasterError(f"--last={text!r} should name each size once, e.g. 100,300,1000,all")
    return tuple(sizes)


@dataclass
class StudyResult:
    """Every (size, seed, row)'s run on the target's test points; ``table`` and ``summary`` are what is saved."""

    config: ExperimentConfig
    data: PreparedData
    sizes: tuple[int, ...]  # training windows per size, ``all`` resolved
    seeds: tuple[int, ...]
    runs: dict[tuple[int, int, str], ModelRun]  # (windows, seed, row)
    zero_shot_note: str | None = None  # why there is no zero-shot row, when there is none

    @property
    def rows(self) -> list[str]:
        return list(dict.fromkeys(row for _, _, row in self.runs))

    def table(self) -> pd.DataFrame:
        """study.csv: one line per size, seed and row, with its test metrics (pooled over several targets: mae and
        rmse empty) and training time."""
        lines = []
        for (windows, seed, row), run in self.runs.items():
            training = run.training
            lines.append({"windows": windows, "size": self._label(windows), "seed": seed, "row": row,
                          **{key: run.metrics[key] for key in ("rel_mae", "mae", "rmse", "mase")},
                          "train_seconds": 0.0 if training is None else training.seconds,
                          "epochs": 0 if training is None else len(training.history)})
        return pd.DataFrame(lines)

    def summary(self) -> pd.DataFrame:
        """study_summary.csv: per size and row, rel_mae's mean and sd over seeds, and the test against scratch."""
        table, horizon = self.table(), self.data.dims.horizon
        lines = []
        for windows in self.sizes:
            losses = self._losses(windows)
            for row in self.rows:
                own = table[(table["windows"] == windows) & (table["row"] == row)]
                line = {"size": self._label(windows), "windows": windows, "row": row, "seeds": len(own),
                        "rel_mae_mean": own["rel_mae"].mean(), "rel_mae_sd": own["rel_mae"].std(ddof=1) if len(own) > 1 else np.nan,
                        "train_seconds_mean": own["train_seconds"].mean(), "dm_vs_scratch": np.nan, "p_vs_scratch": np.nan}
                differential = losses[row] - losses[REFERENCE]
                if row != REFERENCE and np.isfinite(differential).all():
                    test = diebold_mariano_differential(differential, horizon=horizon)
                    line.update(dm_vs_scratch=test.statistic, p_vs_scratch=test.p_value)
                lines.append(line)
        return pd.DataFrame(lines)

    def _losses(self, windows: int) -> dict[str, np.ndarray]:
        """(N,) per row at size ``windows``: each test point's absolute error at the last step, the mean over seeds.

        With K targets, each target's error over the naive forecast's MAE on that target (at the last step), the
        mean over the targets: the pooled rel_mae's loss, in no target's units.
        """
        actual, _ = self.data.actual_and_anchors("test")  # (N, H), or (N, H, K)
        errors = {row: np.mean([np.abs(self.runs[windows, seed, row].forecast[:, -1] - actual[:, -1]) for seed in self.seeds],
                               axis=0) for row in self.rows}  # (N,), or (N, K)
        if actual.ndim == 2:
            return errors
        naive = errors[NAIVE_ROW.name].mean(axis=0)  # (K,)
        return {row: (error / naive).mean(axis=1) for row, error in errors.items()}

    def _label(self, windows: int) -> str:
        return ALL if windows == len(self.data.windows["train"]) else str(windows)


def run_study(checkpoint: Checkpoint, frame: pd.DataFrame, config: ExperimentConfig, *, sizes: tuple[int | None, ...],
              seeds: tuple[int, ...], progress: bool = False) -> StudyResult:
    """The transfer rows of ``checkpoint`` on ``frame`` at every size of ``sizes`` (None: all) and seed of ``seeds``."""
    source = Source.of(checkpoint, config.windows.horizon)
    note = None
    if source.model is None:
        note = ("no zero_shot row: the checkpoint holds an encoder only (forecaster pretrain)" if not checkpoint.head else
                f"no zero_shot row: the source's head forecasts {checkpoint.dims.horizon} step(s), the target {config.windows.horizon}")
    return study_rows(transfer_rows(head=source.model is not None), source, transfer_data(checkpoint, frame, config), config,
                      sizes=sizes, seeds=seeds, progress=progress, note=note)


def study_rows(rows: tuple[TransferRow, ...], source: Source, data: PreparedData, config: ExperimentConfig, *,
               sizes: tuple[int | None, ...], seeds: tuple[int, ...], progress: bool = False,
               note: str | None = None) -> StudyResult:
    """The transfer ``rows`` of ``source`` on the target ``data`` at every size and seed (``run_study``'s loop, for any
    source: a checkpoint's, or the pretrained forecaster's, ``reuse/pretrained_transfer.py``)."""
    if not seeds or len(set(seeds)) != len(seeds):
        raise ForecasterError(f"--seeds={list(seeds)} should name each seed once, e.g. 0,1,2")
    available = len(data.windows["train"])
    too_many = [size for size in sizes if size is not None and size > available]
    if too_many:
        raise ForecasterError(f"--last asks for {too_many[0]} training windows; the target has {available}: "
                              f"give sizes from 1 to {available}, or all")
    resolved = tuple(dict.fromkeys(available if size is None else size for size in sizes))
    specs = row_specs(config, rows)
    untrained = tuple(row for row in rows if not row.trained)  # zero-shot and naive: the same at every size and seed
    fixed = score_rows(untrained, specs, source, data, config.train)
    runs = {}
    for seed in seeds:
        train = dataclasses.replace(config.train, seed=seed)
        for windows in resolved:
            trained = tuple(row.sized(windows) for row in rows if row.trained)
            scored = {**score_rows(trained, specs, source, data, train, progress=progress, label=f" n={windows} seed={seed}"),
                      **fixed}
            runs.update({(windows, seed, row.name): scored[row.name] for row in rows})
    config = dataclasses.replace(config, models=tuple(specs.values()))
    return StudyResult(config, data, resolved, tuple(seeds), runs, note)


def save_study(result: StudyResult, out: str | Path, *, record: dict) -> Path:
    """Write the folder ``out`` atomically: study.csv, study_summary.csv, learning_curve.png, config.yaml (the
    target experiment) and transfer.yaml (``record``: the checkpoint, sizes, seeds and settings that rebuild it)."""
    import yaml

    from forecaster.config import write_config
    from forecaster.output import plots  # matplotlib is imported only when figures are written

    summary = result.summary()

    def write_files(folder: Path) -> None:
        result.table().to_csv(folder / "study.csv", index=False)
        summary.to_csv(folder / "study_summary.csv", index=False)
        write_config(result.config, folder / "config.yaml")
        (folder / "transfer.yaml").write_text(yaml.safe_dump(record, sort_keys=False))
        title = f"Transfer to {result.config.data.source}: test rel_mae by training windows (±1 sd over seeds)"
        figure = plots.learning_curve_figure(summary, title=title)
        figure.savefig(folder / "learning_curve.png", dpi=120, bbox_inches="tight")

    return write_folder(out, write_files)

