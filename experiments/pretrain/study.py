"""Does pretraining pay? Pretrain an encoder on many series, transfer it to series it never saw, against scratch.

    python experiments/pretrain/study.py                                  # both encoders, both targets, 3 seeds
    python experiments/pretrain/study.py --tag forecast --set pretrain.objective=forecast
    python experiments/pretrain/study.py --report                         # print the table from measured/ alone

Two encoders, each pretrained once with ``forecaster pretrain`` (one thread):

- ``all4``: ETTh2's seven channels, sunspots, the synthetic series and the S&P 500 (log-returns of the close),
  transferred to the synthetic generator with other periods (12 and 60 steps instead of 24 and 168) and
  another seed (7): a series of the same family that no span of the pool holds;
- ``no_sunspots``: the same pool without sunspots, transferred to sunspots: the one real series that can be
  held out, since the bundled data holds no other (the shared data folder has the same three files).

Each target goes through ``forecaster transfer --last 100,300,1000,all --seeds 0,1,2``: scratch, linear probe
and fine-tune at every size and seed, tested against scratch (Diebold-Mariano on seed-averaged losses).
Run folders go to ``results/pretrain-study/TAG/`` (not kept); the numbers to ``experiments/pretrain/measured/``:
``pretraining.csv`` (time, peak memory, losses per encoder), ``study.csv`` (the studies' summaries) and
``table.md``, the table this script prints and the README shows.
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import yaml

from forecaster.data.synthetic import two_period_series

HERE = Path(__file__).resolve().parent
MEASURED = HERE / "measured"
RUNS = HERE.parent.parent / "results" / "pretrain-study"
ENCODERS = {"all4": ("etth2", "sunspots", "synthetic", "sp500"), "no_sunspots": ("etth2", "synthetic", "sp500")}
# The pretraining that fits the budget of a 2-core machine shared with another job: 20 epochs at most over
# every second training window (neighbours share 63 of 64 frames), early stopping after 3 without progress.
PRETRAIN = ["pretrain.train.epochs=20", "pretrain.window_stride=2", "pretrain.train.patience=3", "train.device=cpu"]
TRANSFER = ["train.batch_size=32", "train.device=cpu"]  # 100 windows: 4 steps an epoch, not 1
SIZES, SEEDS = "100,300,1000,all", "0,1,2"


@dataclass(frozen=True)
class Target:
    name: str
    encoder: str
    column: str
    horizon: int

    def source(self, folder: Path) -> str:
        if self.name != "synthetic_other":
            return self.name
        path = folder / "synthetic_other.csv"  # generated, deterministic: periods 12 and 60, seed 7
        two_period_series(periods=(12, 60), seed=7).to_csv(path)
        return str(path)


TARGETS = (Target("synthetic_other", "all4", "value", 12), Target("sunspots", "no_sunspots", "sunspots", 6))


def forecaster(*arguments: str) -> float:
    """Run one forecaster command on one thread; its wall-clock seconds."""
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "forecaster", *arguments, "--threads", "1", "--quiet"], check=True)
    return time.perf_counter() - started


def run(tag: str, overrides: list[str]) -> None:
    folder = RUNS / tag
    folder.mkdir(parents=True, exist_ok=True)
    encoders = []
    for name, sources in ENCODERS.items():
        out, wall = folder / name, float("nan")  # a folder already there (an interrupted run) is not run again
        if not out.exists():
            wall = forecaster("pretrain", "--data", *sources, "--out", str(out), *(f"--set={o}" for o in PRETRAIN + overrides))
        summary = yaml.safe_load((out / "summary.yaml").read_text())
        encoders.append({"tag": tag, "encoder": name, "wall_seconds": round(wall, 1), **summary,
                         "sources": " ".join(summary["sources"])})
    studies = []
    for target in TARGETS:
        out = folder / f"transfer_{target.name}"
        if not out.exists():
            wall = forecaster("transfer", str(folder / target.encoder / "checkpoints" / "encoder.pt"), "--data",
                              target.source(folder), "--column", target.column, "--transform", "level", "--horizon",
                              str(target.horizon), "--last", SIZES, "--seeds", SEEDS, "--out", str(out),
                              *(f"--set={o}" for o in TRANSFER))
            peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024  # the largest child so far, MiB
            print(f"{target.name}: {wall / 60:.1f} min, peak memory of any command so far {peak:.0f} MB")
        summary = pd.read_csv(out / "study_summary.csv")
        studies.append(summary.assign(tag=tag, target=target.name, encoder=target.encoder, horizon=target.horizon))
    MEASURED.mkdir(exist_ok=True)
    _append(MEASURED / "pretraining.csv", pd.DataFrame(encoders), tag)
    _append(MEASURED / "study.csv", pd.concat(studies), tag)


def _append(path: Path, frame: pd.DataFrame, tag: str) -> None:
    """``frame`` in place of ``path``'s rows of the same tag (a rerun replaces them)."""
    if path.exists() and len(frame):
        kept = pd.read_csv(path)
        frame = pd.concat([kept[kept["tag"] != tag], frame], ignore_index=True)
    if len(frame):
        frame.to_csv(path, index=False)


def table() -> str:
    """The markdown table of every tag's studies: rel_mae mean ± sd over seeds, and p against scratch."""
    study = pd.read_csv(MEASURED / "study.csv")
    lines = ["| run | target (horizon) | windows | scratch | linear probe | fine-tune | p probe | p fine-tune |",
             "|---|---|---|---|---|---|---|---|"]
    for (tag, target, size), rows in study.groupby(["tag", "target", "windows"], sort=False):
        by_row = rows.set_index("row")
        cell = {row: f"{by_row.loc[row, 'rel_mae_mean']:.4f} ± {by_row.loc[row, 'rel_mae_sd']:.4f}"
                for row in ("scratch", "linear_probe", "fine_tune")}
        p = {row: f"{by_row.loc[row, 'p_vs_scratch']:.3g}" + (" (better)" if by_row.loc[row, "dm_vs_scratch"] < 0 else " (worse)")
             for row in ("linear_probe", "fine_tune")}
        label = by_row["size"].iloc[0] if by_row["size"].iloc[0] != "all" else f"all ({size})"
        lines.append(f"| {tag} | {target} ({rows['horizon'].iloc[0]}) | {label} | {cell['scratch']} | {cell['linear_probe']} | "
                     f"{cell['fine_tune']} | {p['linear_probe']} | {p['fine_tune']} |")
    pretraining = pd.read_csv(MEASURED / "pretraining.csv")
    lines += ["", "| run | encoder | sources | objective | windows | epochs (best) | best val loss | time | peak memory |",
              "|---|---|---|---|---|---|---|---|---|"]
    for row in pretraining.itertuples():
        lines.append(f"| {row.tag} | {row.encoder} | {row.sources} | {row.objective} | {row.train_windows} | "
                     f"{row.epochs_run} ({row.best_epoch}) | {row.best_val_loss:.4f} | {row.seconds / 60:.1f} min | "
                     f"{row.peak_memory_mb:.0f} MB |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tag", default="masked", help="the name of this run in results and tables (default: masked)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="a pretraining override, e.g. pretrain.objective=forecast")
    parser.add_argument("--report", action="store_true", help="print the table from measured/ alone")
    args = parser.parse_args()
    if not args.report:
        run(args.tag, args.overrides)
    text = table()
    (MEASURED / "table.md").write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
