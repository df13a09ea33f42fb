"""Every table the command line prints, in one place: which columns, under which names, with how many digits.

Each ``format_*`` turns a table that a run, a backtest, a seeds run, a comparison or a benchmark computed
into the text ``forecaster`` prints; the CSV files of the results folders keep every column at full
precision. ``seasonal_beside_naive`` is the row order all of them share. Pure functions of pandas tables:
nothing here computes a metric or imports the code that does.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

# Printed column name and number format of each metrics column, in order.
TABLE_COLUMNS = {
    "model": ("model", str),
    "mae": ("mae", "{:.3f}".format),
    "rmse": ("rmse", "{:.3f}".format),
    "mape": ("mape", "{:.3f}".format),
    "rel_mae": ("rel_mae", "{:.4f}".format),
    "mase": ("mase", "{:.3f}".format),
    "directional_accuracy": ("dir_acc", "{:.3f}".format),
    "mse_scaled": ("mse_sc", "{:.3f}".format),
    "mae_scaled": ("mae_sc", "{:.3f}".format),
    "train_seconds": ("train_s", "{:.1f}".format),
    "parameters": ("parameters", str),
}

# The backtest summary's columns (see runs/backtest.py) and their printed names.
SUMMARY_COLUMNS = {
    "series": "series", "channel": "channel", "model": "model", "mae_mean": "mae", "rel_mae_mean": "rel_mae", "rel_mae_std": "±std",
    "rel_mae_ci_low": "ci_low", "rel_mae_ci_high": "ci_high", "mase_mean": "mase",
    "directional_accuracy_mean": "dir_acc", "dm_squared_vs_naive": "DM_sq", "dm_squared_vs_naive_p": "p_sq",
    "dm_absolute_vs_naive_p": "p_abs", "direction_p_vs_always_up": "p_dir_up",
}

# The seeds summary's columns (see runs/seeds.py) and their printed names.
SEED_SUMMARY_COLUMNS = {
    "series": "series", "model": "model", "rel_mae_mean": "rel_mae", "rel_mae_std": "±std", "mae_mean": "mae", "mae_std": "mae±std",
    "rmse_mean": "rmse", "mase_mean": "mase", "directional_accuracy_mean": "dir_acc",
    "mse_scaled_mean": "mse_sc", "mae_scaled_mean": "mae_sc", "train_seconds_mean": "train_s", "parameters": "parameters",
}

# The closing table of ``forecaster tune`` (see runs/tune.py): per model and arm, means and spreads over seeds.
CLOSING_COLUMNS = {
    "series": "series", "model": "model", "arm": "arm", "runs": "seeds", "rel_mae_mean": "rel_mae", "rel_mae_std": "±std",
    "mse_scaled_mean": "mse_sc", "mse_scaled_std": "mse_sc±std", "mae_scaled_mean": "mae_sc", "mae_scaled_std": "mae_sc±std",
    "train_seconds_mean": "train_s", "parameters": "parameters",
}


def seasonal_beside_naive(table: pd.DataFrame) -> pd.DataFrame:
    """A table with a ``kind`` column, its seasonal_naive rows moved right after the naive row (the rest in order).

    Every table reads best with the baselines together at the top: the random walk, then the seasons.
    """
    seasonal = table["kind"] == "seasonal_naive"
    rest = table[~seasonal]
    naive = np.flatnonzero(rest["kind"].to_numpy() == "naive")
    if not seasonal.any() or not len(naive):
        return table
    after = naive[0] + 1
    return pd.concat([rest.iloc[:after], table[seasonal], rest.iloc[after:]], ignore_index=True)


def probabilistic_columns(columns, suffix: str = "") -> dict[str, str]:
    """Printed names of a table's probabilistic columns: each level's coverage (``coverage_80`` -> cov80), rel_crps.

    ``suffix`` picks a summary's statistic, e.g. ``_mean`` (``coverage_80_mean`` -> cov80).
    """
    names = {column: "cov" + column[len("coverage_"):len(column) - len(suffix)]
             for column in columns if column.startswith("coverage_") and column.endswith(suffix)}
    if f"rel_crps{suffix}" in columns:
        names[f"rel_crps{suffix}"] = "rel_crps"
    return names


def format_metrics(metrics: pd.DataFrame) -> str:
    """A run's metrics table (``forecaster run``, ``transfer``); NaN shown as '-': the naive forecast has no direction.

    With intervals: each level's coverage (``cov80``: the share of test values inside the 80 % interval),
    ``rel_crps`` (CRPS / the random walk's own CRPS) and the method that made each model's intervals.
    """
    present = {key: value for key, value in TABLE_COLUMNS.items() if key in metrics.columns}
    columns = {**present, **{key: (name, "{:.4f}".format if name == "rel_crps" else "{:.3f}".format)
                                    for key, name in probabilistic_columns(metrics.columns).items()}}
    if "interval_method" in metrics.columns:
        columns["interval_method"] = ("intervals", str)
    shown = metrics[list(columns)].rename(columns={key: name for key, (name, _) in columns.items()})
    formats = {name: format_value for name, format_value in columns.values()}
    return shown.to_string(index=False, formatters=formats, na_rep="-")


def format_series_metrics(metrics: pd.DataFrame, *, pooled: str) -> str:
    """A global run's metrics: one block per value of the ``series`` column, the ``pooled`` block said to be unit-free."""
    blocks = []
    for label, table in metrics.groupby("series", sort=False):
        note = " (pooled: each series in units of its in-sample naive MAE)" if label == pooled else ""
        blocks.append(f"series {label}{note}:\n{format_metrics(table)}\n")
    return "\n".join(blocks)


def format_summary(summary: pd.DataFrame) -> str:
    """A backtest's summary (``forecaster backtest``): rel_mae with its spread and interval, then the tests."""
    columns = {**SUMMARY_COLUMNS, **probabilistic_columns(summary.columns, "_mean")}
    shown = summary[[column for column in columns if column in summary.columns]].rename(columns=columns)
    return shown.to_string(index=False, float_format="{:.4f}".format, na_rep="-")


def format_interval_tests(tests: pd.DataFrame) -> str:
    """A backtest's interval tests: one-step coverage per model and level, Kupiec's and Christoffersen's p-values."""
    shown = tests.rename(columns={"kupiec_p": "p_kupiec", "christoffersen_p": "p_christoffersen"})
    formats = {"level": "{:g}".format, "coverage": "{:.3f}".format, "p_kupiec": "{:.4f}".format, "p_christoffersen": "{:.4f}".format}
    return shown.to_string(index=False, formatters=formats, na_rep="-")


def format_seed_summary(summary: pd.DataFrame) -> str:
    """A seeds run's summary (``forecaster run --seeds``): means, with the standard deviation of rel_mae and mae."""
    present = {key: name for key, name in SEED_SUMMARY_COLUMNS.items() if key in summary.columns}
    columns = {**present, **probabilistic_columns(summary.columns, "_mean")}
    shown = summary[list(columns)].rename(columns=columns)
    formats = {name: "{:.4f}".format for name in ("rel_mae", "±std", "rel_crps")}
    formats.update({name: "{:.3f}".format for name in columns.values() if name.startswith("cov")})
    formats.update({name: "{:.3f}".format for name in ("mae", "mae±std", "rmse", "mase", "dir_acc", "mse_sc", "mae_sc")})
    formats["train_s"] = "{:.1f}".format
    return shown.to_string(index=False, formatters=formats, na_rep="-")


def format_closing(summary: pd.DataFrame) -> str:
    """``forecaster tune``'s closing table: per model and arm (hand-set, tuned), test means and std over the close seeds."""
    shown = summary[[column for column in CLOSING_COLUMNS if column in summary.columns]].rename(columns=CLOSING_COLUMNS)
    formats = {"rel_mae": "{:.4f}".format, "±std": "{:.4f}".format, "train_s": "{:.1f}".format}
    # Four significant digits: in units of a trending series' spread of levels (a price's), one-step errors are tiny.
    formats.update({name: "{:.4g}".format for name in ("mse_sc", "mse_sc±std", "mae_sc", "mae_sc±std")})
    return shown.to_string(index=False, formatters=formats, na_rep="-")


STUDY_COLUMNS = {"size": "size", "row": "row", "seeds": "seeds", "rel_mae_mean": "rel_mae", "rel_mae_sd": "±sd",
                 "dm_vs_scratch": "dm", "p_vs_scratch": "p_vs_scratch", "train_seconds_mean": "train_s"}


def format_study(summary: pd.DataFrame) -> str:
    """A transfer study's summary: per size and row, rel_mae's mean and sd over seeds and the test against scratch."""
    shown = summary[list(STUDY_COLUMNS)].rename(columns=STUDY_COLUMNS)
    formats = {"rel_mae": "{:.4f}".format, "±sd": "{:.4f}".format, "dm": "{:.2f}".format, "p_vs_scratch": "{:.3g}".format,
               "train_s": "{:.1f}".format}
    return shown.to_string(index=False, formatters=formats, na_rep="-")


def format_compare(table: pd.DataFrame) -> str:
    """``forecaster compare``'s table: one row per model, one rel_mae column per results folder ('-': not in it)."""
    return table.to_string(float_format="{:.4f}".format, na_rep="-")


def format_bench(frame: pd.DataFrame, ratios: pd.DataFrame, patches: pd.DataFrame, channels: pd.DataFrame | None = None) -> str:
    """A benchmark's rows (NaN as '-': naive kinds do not train), its speed ratios and, when measured, the patch
    ratios and the channel-independence ratios."""
    formats = {"train_samples_per_s": "{:.0f}".format, "infer_us_per_window": "{:.2f}".format,
               "peak_memory_mib": "{:.1f}".format}
    text = (f"{frame.to_string(index=False, formatters=formats, na_rep='-')}\n\n"
            "training samples/s ratios (ours / other, same data and sizes):\n"
            f"{ratios.to_string(index=False, float_format='{:.2f}'.format, na_rep='-')}")
    if len(patches):
        table = patches.to_string(index=False, float_format="{:.2f}".format, na_rep="-")
        text += ("\n\ntraining time per window of the patched transformer, relative to the unpatched transformer at "
                 f"base_context (time_vs_base) and at the same context (time_vs_unpatched); below 1 is faster:\n{table}")
    if channels is not None and len(channels):
        table = channels.to_string(index=False, float_format="{:.2f}".format, na_rep="-")
        text += ("\n\ntraining channel-windows/s of the channel-independent transformer (one batch of every channel) "
                 f"over the same univariate model run once per channel; above 1 is faster:\n{table}")
    return text


def format_long_series(long_series: dict) -> str:
    """The long-series memory measurement in one line (the keys that ``long_series_memory`` returns)."""
    return (f"long series: {long_series['steps']} steps, context {long_series['context']}: series "
            f"{long_series['series_mib']:.0f} MiB, copied windows would need {long_series['materialised_mib']:.0f} "
            f"MiB, peak RSS {long_series['peak_rss_mib']:.0f} MiB")


def format_trials(trials: pd.DataFrame, *, top: int = 5) -> str:
    """A search's ``top`` best completed trials (``forecaster tune``): value, val_rel_mae, folds, seconds, settings."""
    settings = [c for c in trials.columns if c not in ("trial", "state", "value", "val_rel_mae", "folds", "seconds", "note")]
    best = trials[trials["state"] == "complete"].sort_values("value").head(top)
    formats = {"value": "{:.4f}".format, "val_rel_mae": "{:.4f}".format, "seconds": "{:.1f}".format}
    formats.update({c: "{:.3g}".format for c in settings if pd.api.types.is_float_dtype(best[c])})
    return best[["trial", "value", "val_rel_mae", "folds", "seconds", *settings]].to_string(index=False, formatters=formats, na_rep="-")
