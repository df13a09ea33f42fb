"""ETTh2 at horizons 96 to 720, multivariate and univariate, beside the published PatchTST/42 and DLinear rows.

    python experiments/ltsf/benchmark.py                       # every horizon, both settings, seeds 0,1,2
    python experiments/ltsf/benchmark.py --horizons 96 --settings univariate --seeds 0
    python experiments/ltsf/benchmark.py --report              # print the table from results.csv alone

Each (setting, horizon, seed) trains the models of ``etth2.yaml`` once through ``forecaster.run_experiment``
and appends one row per model to ``--out`` (default ``experiments/ltsf/results.csv``); a combination that is
already there is not run again, so an interrupted run resumes. ``--set KEY=VALUE`` overrides the config as
``forecaster run --set`` does (the overrides are recorded in the CSV; rows of other overrides are kept apart).

The protocol, ours and theirs: ETTh2's first 14400 rows, split 8640 / 2880 / 2880, a scaler fit on the
training rows, MSE and MAE of the standardised values (``mse_scaled``, ``mae_scaled``). The published test
loaders score every window whose targets lie in the test rows, 2881 - H windows (PatchTST's drops the last
incomplete batch of 128); ours scores every one of the 2881 - H. The published numbers are cited, typed in
from the papers: references, not results of ours.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import pandas as pd

import forecaster

HERE = Path(__file__).resolve().parent
HORIZONS = (96, 192, 336, 720)
SETTINGS = {"multivariate": "all", "univariate": "OT"}  # data.targets of each setting

# Scaled MSE / MAE on ETTh2 as published: PatchTST/42 from Nie et al. (2023), Table 3 (multivariate) and
# Table 8 (univariate); DLinear from Zeng et al. (2023), as reported in the same tables.
PUBLISHED = pd.DataFrame([
    # setting, horizon, PatchTST/42 mse, mae, DLinear mse, mae
    ("multivariate", 96, 0.274, 0.336, 0.289, 0.353),
    ("multivariate", 192, 0.339, 0.379, 0.383, 0.418),
    ("multivariate", 336, 0.331, 0.380, 0.448, 0.465),
    ("multivariate", 720, 0.379, 0.422, 0.605, 0.551),
    ("univariate", 96, 0.129, 0.282, 0.131, 0.279),
    ("univariate", 192, 0.168, 0.328, 0.176, 0.329),
    ("univariate", 336, 0.185, 0.351, 0.209, 0.367),
    ("univariate", 720, 0.224, 0.383, 0.276, 0.426),
], columns=["setting", "horizon", "patchtst42_mse", "patchtst42_mae", "dlinear_mse", "dlinear_mae"])

COLUMNS = ["setting", "horizon", "seed", "overrides", "model", "mse_scaled", "mae_scaled", "train_seconds", "best_epoch",
           "windows", "status"]


def run(args: argparse.Namespace) -> None:
    out = Path(args.out)
    done = pd.read_csv(out, keep_default_na=False) if out.exists() else pd.DataFrame(columns=COLUMNS)
    overrides = " ".join(args.set)
    for setting in args.settings:
        for horizon in args.horizons:
            for seed in args.seeds:
                key = (setting, horizon, seed, overrides)
                if ((done["setting"] == setting) & (done["horizon"].astype(int) == horizon)
                        & (done["seed"].astype(int) == seed) & (done["overrides"] == overrides)).any():
                    continue
                config = forecaster.read_config(args.config, [f"data.targets={SETTINGS[setting]}",
                                                              f"windows.horizon={horizon}", f"train.seed={seed}", *args.set])
                start = time.perf_counter()
                result = forecaster.run_experiment(config, progress=not args.quiet)
                windows = len(result.data.windows["test"])
                rows = [{"setting": setting, "horizon": horizon, "seed": seed, "overrides": overrides, "model": name,
                         "mse_scaled": run.metrics["mse_scaled"], "mae_scaled": run.metrics["mae_scaled"],
                         "train_seconds": run.training.seconds if run.training else 0.0,
                         "best_epoch": run.training.best_epoch if run.training else 0,
                         "windows": windows, "status": run.training.failure if run.training and run.training.failure else "ok"}
                        for name, run in result.runs.items()]
                pd.DataFrame(rows, columns=COLUMNS).to_csv(out, mode="a", header=not out.exists(), index=False)
                done = pd.concat([done, pd.DataFrame(rows)], ignore_index=True)
                scores = ", ".join(f"{row['model']} {row['mse_scaled']:.3f}/{row['mae_scaled']:.3f}" for row in rows)
                print(f"{'/'.join(map(str, key[:3]))}: {scores} ({time.perf_counter() - start:.0f} s)", flush=True)


def report(path: Path, overrides: str) -> str:
    """Our mean (and spread over seeds) beside the published rows, per setting and horizon."""
    results = pd.read_csv(path, keep_default_na=False)
    results = results[results["overrides"] == overrides]
    if not len(results):
        return f"no results in {path} with overrides {overrides!r}"
    summary = (results.groupby(["setting", "horizon", "model"], sort=False)
               .agg(mse=("mse_scaled", "mean"), mse_std=("mse_scaled", "std"), mae=("mae_scaled", "mean"),
                    seeds=("seed", "nunique"), train_s=("train_seconds", "mean"), windows=("windows", "first"))
               .reset_index())
    table = summary.pivot_table(index=["setting", "horizon"], columns="model", values=["mse", "mae"], sort=False)
    table.columns = [f"{model}_{score}" for score, model in table.columns]
    models = list(dict.fromkeys(summary["model"]))
    table = table[[f"{model}_{score}" for model in models for score in ("mse", "mae")]].reset_index()
    merged = table.merge(PUBLISHED, on=["setting", "horizon"], how="left")
    lines = [merged.to_string(index=False, float_format="{:.3f}".format), "",
             "Spread over seeds and training time (2-core CPU unless said otherwise):",
             summary.to_string(index=False, float_format="{:.3f}".format), "",
             "Ours: mean over the seeds of every window whose targets lie in the test rows (2881 - H). Published:",
             "cited from Nie et al. (2023) Tables 3 and 8 and Zeng et al. (2023), whose loaders score 2881 - H windows",
             "(PatchTST's drops the last incomplete batch); the naive row is the last value repeated."]
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=str(HERE / "etth2.yaml"))
    parser.add_argument("--horizons", type=lambda text: [int(h) for h in text.split(",")], default=list(HORIZONS))
    parser.add_argument("--settings", type=lambda text: text.split(","), default=list(SETTINGS))
    parser.add_argument("--seeds", type=lambda text: [int(s) for s in text.split(",")], default=[0, 1, 2])
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--out", default=str(HERE / "results.csv"))
    parser.add_argument("--report", action="store_true", help="only print the table of --out")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    args = parser.parse_args(argv)
    unknown = [setting for setting in args.settings if setting not in SETTINGS]
    if unknown:
        parser.error(f"--settings {unknown[0]!r} is not one of {', '.join(SETTINGS)}")
    if not args.report:
        run(args)
    print(report(Path(args.out), " ".join(args.set)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
