"""How a global run scales with the panel: load, prepare, train and predict on generated long tables of many series.

    python experiments/scale/benchmark.py                          # 1,000 and 10,000 series
    python experiments/scale/benchmark.py --series 1000,10000,100000 --threads 1

For each size N a long Parquet table is generated (``unique_id, ds, y``; N daily series of 100 to 1,000 points drawn
uniformly, each a level, a trend, a weekly season and noise), then a fresh process (so that its peak memory is its own)
measures, one stage after the other, on the public pieces a global run uses:

- ``load``: reading the table into its series (``runs/series.load_frames``, through ``data/panel.read_long``);
- ``prepare``: each series transformed, split (holdout, h 14), scaled and windowed (``runs/multiseries.prepare_all``),
  and every series' windows pooled into one tensor (``data/windows.pool_windows``);
- ``linear epoch``: one epoch of the global linear model over every training window (windows per second);
- ``transformer``: the transformer's training rate, measured over the first ``--transformer-windows`` training windows
  (an epoch over millions of windows takes hours on a CPU: its time is the windows over this rate, and is labelled so);
- ``predict+write``: the test forecasts of every series (one window each) written as a Parquet table;
- ``peak_rss_gib``: the process's peak resident memory after all of them (``--stages`` picks those after load and
  prepare: a 100,000-series epoch takes long on a CPU);
- with ``--whole-run``, then, in a second fresh process, what ``forecaster run`` does (``run_s``: ``run_experiment``,
  loading, preparing, one epoch of the linear model and scoring the naive and linear models on every series; ``save_s``:
  ``save_run`` writing the results folder, its tables and predictions), and that process's peak memory
  (``run_peak_rss_gib``).

Rows are appended to ``--out`` (default ``experiments/scale/results.csv``) with the machine and thread count.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
HORIZON, CONTEXT = 14, 28
STAGES = ("load", "prepare", "linear", "transformer", "predict")  # load and prepare always run: the others need them


def generate(series: int, path: Path, seed: int = 0) -> int:
    """Write a long table of ``series`` daily series of 100 to 1,000 points to ``path``; the number of rows."""
    rng = np.random.default_rng(seed)
    lengths = rng.integers(100, 1001, size=series)
    rows = int(lengths.sum())
    owner = np.repeat(np.arange(series), lengths)
    step = np.arange(rows) - np.repeat(np.cumsum(lengths) - lengths, lengths)  # 0.. within each series
    level, trend, season = rng.uniform(10, 1000, series), rng.normal(0, 0.05, series), rng.uniform(0, 5, series)
    values = (level[owner] + trend[owner] * step + season[owner] * np.sin(2 * np.pi * step / 7)
              + rng.normal(0, 1, rows) * np.sqrt(level[owner]) / 3)
    starts = pd.Timestamp("2020-01-01") + pd.to_timedelta(rng.integers(0, 365, series), unit="D")
    dates = starts.values[owner] + step.astype("timedelta64[D]")
    ids = pd.Categorical.from_codes(owner, categories=[f"s{k:06d}" for k in range(series)])
    pd.DataFrame({"unique_id": ids, "ds": dates, "y": values}).to_parquet(path, index=False)
    return rows


def measure(path: Path, transformer_windows: int, threads: int, stages: tuple[str, ...] = STAGES) -> dict:
    """The stages' times and rates on the table at ``path`` (run in its own process)."""
    import torch

    import forecaster
    from forecaster.data.windows import PooledWindows, pool_windows
    from forecaster.models import build_model
    from forecaster.runs.fitting import predict
    from forecaster.runs.multiseries import prepare_all
    from forecaster.runs.series import load_frames
    from forecaster.training.loop import train_model

    torch.set_num_threads(threads)
    config = forecaster.read_config(None, [f"data.source={path}", "data.transform=level", f"windows.context={CONTEXT}",
                                           f"windows.horizon={HORIZON}", "windows.split=holdout", "intervals.levels=[]",
                                           "train.epochs=1", "train.batch_size=256", "models=naive,linear,transformer"])
    times = {}
    start = time.perf_counter()
    frames = load_frames(config)
    times["load_s"] = time.perf_counter() - start
    start = time.perf_counter()
    prepared = prepare_all(config, frames)
    pooled = pool_windows([data.windows for data in prepared.values()])
    times["prepare_s"] = time.perf_counter() - start
    dims = next(iter(prepared.values())).dims
    device = torch.device("cpu")
    specs = {spec.kind: spec for spec in config.models}
    train, val = pooled["train"], pooled["val"]
    linear = build_model("linear", specs["linear"].config, dims)
    if "linear" in stages:
        start = time.perf_counter()
        train_model(linear, train, val, config.train, device=device)
        times["linear_epoch_s"] = time.perf_counter() - start
        times["linear_windows_per_s"] = len(train) / times["linear_epoch_s"]
    if "transformer" in stages:
        transformer = build_model("transformer", specs["transformer"].config, dims)
        few = PooledWindows(train.series, train.ends[:transformer_windows], train.context, train.horizon,
                            train.target_channels, train.future)
        start = time.perf_counter()
        train_model(transformer, few, val, config.train, device=device)
        seconds = time.perf_counter() - start  # the few windows and one pass over the validation windows
        times["transformer_windows_per_s"] = len(few) / seconds
        times["transformer_epoch_s_projected"] = len(train) / times["transformer_windows_per_s"]
    if "predict" in stages:  # the linear model's forecasts (trained or not: the time is the same)
        start = time.perf_counter()
        forecasts = predict(linear, pooled["test"], device=device)[:, :, 0]  # (series, H) in the scaled space
        table = pd.DataFrame({"unique_id": np.repeat(list(prepared), HORIZON),
                              "step": np.tile(np.arange(1, HORIZON + 1), len(prepared)), "linear": forecasts.reshape(-1)})
        table.to_parquet(path.with_name(path.stem + "_forecasts.parquet"), index=False)
        times["predict_write_s"] = time.perf_counter() - start
    times["train_windows"] = len(train)
    times["peak_rss_gib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # Linux: KiB
    return times


def measure_run(path: Path, threads: int) -> dict:
    """The whole run on the table at ``path`` (run in its own process): ``run_experiment`` and ``save_run``."""
    import shutil

    import torch

    import forecaster
    from forecaster.runs.experiment import run_experiment, save_run

    torch.set_num_threads(threads)
    config = forecaster.read_config(None, [f"data.source={path}", "data.transform=level", f"windows.context={CONTEXT}",
                                           f"windows.horizon={HORIZON}", "windows.split=holdout", "intervals.levels=[]",
                                           "train.epochs=1", "train.batch_size=256", "models=naive,linear"])
    out = path.with_name(path.stem + "_run")
    shutil.rmtree(out, ignore_errors=True)
    start = time.perf_counter()
    result = run_experiment(config)
    times = {"run_s": time.perf_counter() - start}
    start = time.perf_counter()
    save_run(result, out)
    times["save_s"] = time.perf_counter() - start
    times["run_peak_rss_gib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    return times


def machine() -> str:
    """The CPU's model name and core count (Linux), else what ``platform`` says."""
    try:
        names = [line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                 if line.startswith("model name")]
    except OSError:
        names = []
    return f"{names[0]}, {len(names)} cores" if names else f"{platform.machine()} {platform.processor() or ''}".strip()


def child(args: list[str]) -> dict:
    """The last line of a child process of this script, read as JSON."""
    done = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        print(done.stderr[-3000:], file=sys.stderr)
        raise SystemExit(done.returncode)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series", type=lambda text: [int(n) for n in text.split(",")], default=[1000, 10000])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--transformer-windows", type=int, default=20000)
    parser.add_argument("--work", default=str(HERE.parents[1] / "results" / "scale"), help="where the tables are generated")
    parser.add_argument("--out", default=str(HERE / "results.csv"))
    parser.add_argument("--stages", type=lambda text: tuple(text.split(",")), default=STAGES,
                        help="the stages after load and prepare: linear, transformer, predict (default: all)")
    parser.add_argument("--whole-run", action="store_true", help="also time run_experiment and save_run (naive, linear)")
    parser.add_argument("--run-only", action="store_true", help="with --whole-run: the whole run alone, not the stages")
    parser.add_argument("--label", default="", help="a name for the code measured (e.g. a branch), kept in the rows")
    parser.add_argument("--one", metavar="TABLE", help=argparse.SUPPRESS)  # the child process: measure one table
    parser.add_argument("--run", metavar="TABLE", help=argparse.SUPPRESS)  # the child process: one whole run
    args = parser.parse_args(argv)
    if args.one:
        print(json.dumps(measure(Path(args.one), args.transformer_windows, args.threads, args.stages)))
        return 0
    if args.run:
        print(json.dumps(measure_run(Path(args.run), args.threads)))
        return 0
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    for series in args.series:
        path = work / f"panel_{series}.parquet"
        start = time.perf_counter()
        rows = generate(series, path)
        generated = time.perf_counter() - start
        stages = {} if args.run_only else child(["--one", str(path), "--threads", str(args.threads), "--stages", ",".join(args.stages),
                                                     "--transformer-windows", str(args.transformer_windows)])
        whole = child(["--run", str(path), "--threads", str(args.threads)]) if args.whole_run else {}
        row = {"code": args.label, "series": series, "rows": rows, "generate_s": generated, **stages, **whole,
               "threads": args.threads, "machine": machine()}
        table = pd.DataFrame([row])  # rows of other stages may have other columns: the file is rewritten with all
        if Path(args.out).exists():
            table = pd.concat([pd.read_csv(args.out), table], ignore_index=True)
        table.to_csv(args.out, index=False)
        print(" ".join(f"{key}={value:.3g}" if isinstance(value, float) else f"{key}={value}" for key, value in row.items()),
              flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
