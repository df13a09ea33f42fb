"""The ``forecaster`` command line's parser: every command and its options, the shared ones defined once.

``cli.py`` parses with ``build_parser()`` and does the rest (calling the library, printing).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from forecaster.data.transforms import TRANSFORM_NAMES

DEFAULT_CONFIG = Path(__file__).resolve().parent.parent / "experiments" / "sp500.yaml"
SOURCES = "bundled name (sp500, sunspots, etth2, synthetic), CSV path or Yahoo ticker"
CHECKPOINT_COMMANDS = ("forecast", "transfer", "embed")  # they read a checkpoint: its columns are the defaults
OUT_FILES = {"forecast": "forecast.csv", "compare": "compare.csv and compare.png"}  # --out optional: what it adds
VERBOSE_SHOWN = ("run", "backtest", "bench", "tune")  # the others log little: -v is accepted but not advertised


def add_shared_options(parser: argparse.ArgumentParser, command: str, *names: str) -> None:
    """Add the options that several commands share, ``names`` among data, column, set, transform, seeds, out,
    threads, quiet and verbose, each defined once, in ``_shared_option``."""
    for name in names:
        flags, settings = _shared_option(name, command)
        parser.add_argument(*flags, **settings)


def _shared_option(name: str, command: str) -> tuple[tuple[str, ...], dict]:
    """The flags and argparse settings of the shared option ``name`` as ``command`` takes it.

    What differs between commands: ``run`` takes several sources, the checkpoint commands default to sp500
    and to the checkpoint's column, ``transfer`` overrides training settings only, ``lesson``'s seeds are a count.
    """
    checkpoint = command in CHECKPOINT_COMMANDS
    if name == "data" and command == "run":
        return ("--data",), {"nargs": "+", "metavar": "SOURCE", "help": f"{SOURCES}; sets data.source. Several: one "
                             "global model trained on all of them, scored on each and pooled"}
    if name == "data" and command == "pretrain":
        return ("--data",), {"nargs": "+", "metavar": "SOURCE", "help": f"{SOURCES}; every channel of each is pooled "
                             "(a price series: its close as log-returns); sets data.source"}
    if name == "data":
        return ("--data",), ({"required": True, "help": f"the target series: {SOURCES}"} if command == "transfer"
                             else {"default": "sp500", "help": f"{SOURCES} (default: sp500)"} if checkpoint
                             else {"help": f"{SOURCES}; sets data.source"})
    if name == "column":
        return ("--column",), {"help": "the target column, when the data names it differently from the checkpoint"
                               if checkpoint else "target column when it is not Adj Close/Close; sets data.column"}
    if name == "set" and command == "pretrain":
        return ("--set",), {"dest": "overrides", "action": "append", "default": [], "metavar": "KEY=VALUE",
                            "help": "override a config value, e.g. pretrain.epochs=2, pretrain.objective=forecast, train.device=cpu"}
    if name == "set":
        train_only = command == "transfer"  # the window, horizon and model come from the checkpoint
        return ("--set",), {"dest": "overrides", "action": "append", "default": [],
                            "metavar": "train.KEY=VALUE" if train_only else "KEY=VALUE",
                            "help": "override a training setting, e.g. train.epochs=5" if train_only else
                            "override a config value, e.g. windows.context=32, train.epochs=5, models=naive,linear"}
    if name == "transform":
        return ("--transform",), {"choices": list(TRANSFORM_NAMES),
                                  "help": "instead of the checkpoint's (e.g. diff for counts with zeros)"}
    if name == "seeds" and command == "lesson":
        return ("--seeds",), {"type": int, "help": "number of seeds 0..N-1 (default: 3, or 1 with --quick)"}
    if name == "seeds" and command == "transfer":
        return ("--seeds",), {"help": "comma-separated seeds: a study, every row trained once per seed at every --last size "
                              "(study.csv, study_summary.csv with the spread and Diebold-Mariano tests against scratch)"}
    if name == "seeds":
        return ("--seeds",), {"help": "comma-separated seeds: one results folder per seed under --out, and summary.csv with "
                              "each metric's mean and std over seeds (default: the config's seeds, if any)" if command == "run"
                              else "comma-separated seeds for the neural models (default: the config's backtest.seeds, or 0)"}
    if name == "out":
        written = OUT_FILES.get(command)
        return ("--out",), {"help": f"also write {written} to this new folder" if written
                            else f"results folder to create (default: a new results/{command}-YYYYmmdd-HHMMSS)"}
    if name == "threads":
        return ("--threads",), {"type": int, "metavar": "N", **({"default": 1} if command == "lesson" else {}), "help":
                                "torch CPU threads (default: 1, which makes the numbers independent of the core count and "
                                "robust to a busy machine)" if command == "lesson" else "torch CPU threads (default: torch's "
                                "own); a transformer's last digits may change with it"}
    if name == "quiet":
        return ("--quiet",), {"action": "store_true", "help": "no progress bars"}
    if name == "verbose":
        return ("-v", "--verbose"), {"action": "store_true",
                                     "help": "log what each step does" if command in VERBOSE_SHOWN else argparse.SUPPRESS}
    raise ValueError(f"no shared option {name!r}")


def add_bench_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``forecaster bench``; unset ones keep ``BenchConfig``'s defaults (or ``--quick``'s)."""
    add_shared_options(parser, "bench", "out", "quiet", "verbose")
    parser.add_argument("--contexts", help="comma-separated context lengths (default: 32,64,128,256,512)")
    parser.add_argument("--kinds", help="comma-separated model kinds (default: every kind)")
    for option in ("batch-size", "d-model", "n-heads", "n-layers", "d-ff", "hidden-size"):
        parser.add_argument(f"--{option}", type=int)
    parser.add_argument("--steps", type=int, help="timed training steps per model (default: 10)")
    parser.add_argument("--patch", type=int, metavar="N", help="also a transformer with patches of N steps as tokens, "
                        "and its training time against the unpatched transformer at context 64")
    parser.add_argument("--independent", type=int, metavar="N", help="also a channel-independent transformer on an "
                        "N-channel series against the same univariate model run once per channel (e.g. 7)")
    parser.add_argument("--device", choices=["cpu", "cuda", "all"], default="all",
                        help="where to measure (default: all available: cpu, and cuda when present)")
    parser.add_argument("--precision", help="auto (bf16 on CUDA cards that support it, else fp32), fp32 or bf16 (default: auto)")
    parser.add_argument("--compile", action="store_true", help="torch.compile our models for training")
    parser.add_argument("--no-reference", action="store_true", help="skip the nn.TransformerEncoder reference")
    parser.add_argument("--long-series", action="store_true", help="also train on a long series and report memory")
    parser.add_argument("--long-steps", type=int, help="length of that series (default: 10000000)")
    parser.add_argument("--quick", action="store_true", help="tiny sizes for a first look: contexts 16,32, batch 32, "
                        "d_model 16, d_ff 32, 2 steps, a 2000-step series")


def build_parser() -> argparse.ArgumentParser:
    """The ``forecaster`` parser with its ten commands."""
    parser = argparse.ArgumentParser(
        prog="forecaster", description="Time-series forecasting with self-attention, measured against baselines.")
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="train and compare models on one series (or one global model on several), write a results folder")
    run.add_argument("config", nargs="?", help=f"YAML experiment config (default: {DEFAULT_CONFIG.name}, or built-in defaults)")
    add_shared_options(run, "run", "data", "column", "set", "out", "seeds", "threads", "quiet", "verbose")
    run.add_argument("--resume", metavar="DIR", help="finish an interrupted run whose --out was DIR (kept in DIR.incomplete)")
    backtest = commands.add_parser("backtest", help="walk-forward backtest over folds and seeds, with significance tests")
    backtest.add_argument("config", nargs="?", help="YAML experiment config (default: experiments/sp500.yaml)")
    add_shared_options(backtest, "backtest", "data", "column", "set", "seeds", "out", "threads", "quiet", "verbose")
    backtest.add_argument("--folds", type=int, help="number of walk-forward folds (default: the config's backtest.folds, or 5)")
    backtest.add_argument("--scheme", help="training span per fold: expanding (from the start of the series) or sliding "
                          "(a fixed length) (default: the config's backtest.scheme, or expanding)")
    backtest.add_argument("--refit-every", type=int, metavar="N",
                          help="refit the models every N folds (default: the config's backtest.refit_every, or 1)")
    tune = commands.add_parser("tune", help="search one model's settings with Optuna on folds before the test span; "
                               "best.yaml, then tuned against hand-set on the test span over seeds")
    tune.add_argument("config", nargs="?", help="YAML experiment config (default: experiments/sp500.yaml); its search: "
                      "section says what to search (default: the model kind's space)")
    tune.add_argument("--model", metavar="NAME", help="the model to tune, a name in the config's models (sets tune.model)")
    add_shared_options(tune, "tune", "data", "column", "set", "out", "threads", "quiet", "verbose")
    tune.add_argument("--trials", type=int, help="trials in all, a resumed search's included (default: the config's "
                      "tune.trials, or 20)")
    tune.add_argument("--timeout", type=float, metavar="SECONDS", help="start no new trial after this many seconds (default: no limit)")
    tune.add_argument("--folds", type=int, help="walk-forward folds inside the training and validation spans that score each "
                      "trial (default: the config's tune.folds, or 3)")
    tune.add_argument("--close-seeds", metavar="SEEDS", help="comma-separated seeds on which the tuned and the hand-set "
                      "config are each trained and scored on the test span at the end, or none: best.yaml once, with "
                      "train.seed (default: the config's tune.close_seeds, or 0,1,2)")
    tune.add_argument("--resume", metavar="DIR", help="continue an interrupted search whose --out was DIR (its study is in "
                      "DIR.incomplete); --trials, --timeout and --close-seeds may change")
    forecast = commands.add_parser("forecast", help="forecast the next values of a series with a saved model")
    forecast.add_argument("checkpoint", help="a checkpoint written by forecaster run (RUN_DIR/checkpoints/NAME.pt)")
    add_shared_options(forecast, "forecast", "data", "column", "out", "verbose")
    forecast.add_argument("--exchange", metavar="MIC", help="the trading calendar of a daily series' dates: an exchange code such "
                          "as XNYS, XLON, XTKS, 24/7 for every day, or none for business days (default: from --data, e.g. "
                          "sp500 and US tickers XNYS, .L tickers XLON; CSV files: business days)")
    forecast.add_argument("--future", metavar="FILE", help="a CSV of the inputs known ahead (a date column and the model's "
                          "data.future columns) holding a row for every forecast date; needed when the model reads data.future")
    transfer = commands.add_parser(
        "transfer", help="reuse a transformer checkpoint on another series: zero-shot, probe, fine-tune, scratch")
    transfer.add_argument("checkpoint", help="a transformer checkpoint written by forecaster run, or an encoder written by "
                          "forecaster pretrain")
    add_shared_options(transfer, "transfer", "data", "column", "transform", "set", "seeds", "out", "threads", "quiet", "verbose")
    transfer.add_argument("--last", metavar="N[,N...]",
                          help="one N: also train the linear probe, fine-tune and scratch rows on the newest N training windows "
                                "only (rows *_lastN beside the full-data rows); several sizes and all (e.g. 100,300,1000,all): "
                                "a study, the rows at each size (a learning curve)")
    transfer.add_argument("--horizon", type=int, metavar="H", help="steps to forecast on the target (default: the "
                          "checkpoint's; another than the source head's means a new head and no zero-shot row)")
    embed = commands.add_parser("embed", help="per-frame embeddings of a series from a transformer checkpoint, and their projection")
    embed.add_argument("checkpoint", help="a transformer checkpoint written by forecaster run or forecaster pretrain")
    add_shared_options(embed, "embed", "data", "column", "transform", "out", "verbose")
    pretrain = commands.add_parser("pretrain", help="pretrain one channel-independent patch encoder on every channel of "
                                   "several series (masked patches or next values), for transfer and embed")
    pretrain.add_argument("config", nargs="?", help="YAML config whose pretrain: section sets the objective, window, "
                          "patch, mask ratio, sizes and epochs (default: the built-in defaults)")
    add_shared_options(pretrain, "pretrain", "data", "set", "out", "threads", "quiet", "verbose")
    compare = commands.add_parser("compare", help="several results folders side by side (rel_mae by model)")
    compare.add_argument("folders", nargs="+", metavar="RUN_DIR", help="folders written by forecaster run or backtest")
    add_shared_options(compare, "compare", "out", "verbose")
    bench = commands.add_parser("bench", help="measure training and inference speed and memory of every model kind")
    add_bench_arguments(bench)
    lesson = commands.add_parser(
        "lesson", help="the lecture's twelve questions answered by experiments: report.md with numbers and figures")
    lesson.add_argument("names", nargs="*", metavar="NAME", help="experiments to run, e.g. permutation scale (default: all)")
    lesson.add_argument("--quick", action="store_true", help="tiny sizes and 1 seed: every section in about a minute")
    add_shared_options(lesson, "lesson", "seeds", "out", "threads", "quiet", "verbose")
    return parser
