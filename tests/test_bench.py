"""The benchmark harness: rows for every model and the reference, honest ratios, atomic output, no copied windows."""

from __future__ import annotations

import argparse
import dataclasses
import math

import pandas as pd
import pytest
import torch
import yaml

from forecaster.bench.long_series import LongSeriesConfig, long_series_memory
from forecaster.bench.measure import (
    COLUMNS,
    BenchConfig,
    channel_model,
    channel_names,
    run_bench,
    save_bench,
)
from forecaster.bench.tables import channel_table, patch_table, ratio_table
from forecaster.commands.bench import add_arguments as add_bench_arguments
from forecaster.commands.bench import bench_config_from_arguments
from forecaster.errors import ForecasterError
from forecaster.output.tables import format_bench

NAIVE_KINDS = ("naive", "seasonal_naive")


TINY = BenchConfig(contexts=(8, 16), batch_size=8, d_model=8, n_heads=2, d_ff=16, hidden_size=8,
                   train_steps=1, warmup_steps=1, series_length=300, devices=("cpu",))


@pytest.fixture(scope="module")
def tiny_frame() -> pd.DataFrame:
    return run_bench(TINY)


def test_run_bench_measures_every_kind_and_the_reference_at_every_context(tiny_frame):
    assert list(tiny_frame.columns) == COLUMNS
    expected = {(kind, context) for kind in (*BenchConfig().kinds, "reference") for context in (8, 16)}
    assert set(zip(tiny_frame["model"], tiny_frame["context"])) == expected
    assert len(tiny_frame) == len(expected)
    assert (tiny_frame["device"] == "cpu").all() and (tiny_frame["precision"] == "fp32").all()
    naive = tiny_frame["model"].isin(NAIVE_KINDS)
    trained = tiny_frame.loc[~naive, "train_samples_per_s"]
    assert (trained > 0).all() and trained.map(math.isfinite).all()
    assert tiny_frame.loc[naive, "train_samples_per_s"].isna().all()
    assert (tiny_frame["infer_us_per_window"] > 0).all()


def test_reference_has_about_as_many_parameters_as_our_transformer(tiny_frame):
    for context in (8, 16):
        rows = tiny_frame[tiny_frame["context"] == context].set_index("model")["parameters"]
        assert abs(rows["reference"] / rows["transformer"] - 1) <= 0.1
    ratios = ratio_table(tiny_frame)
    assert list(ratios["context"]) == [8, 16] and (ratios["reference_parameters"] > 0).all()


def test_ratio_table_divides_ours_by_the_reference_and_by_the_rnn():
    rows = [
        ("cpu", "transformer", 32, 100, 600.0), ("cpu", "reference", 32, 98, 200.0), ("cpu", "rnn", 32, 50, 300.0),
        ("cpu", "naive", 32, 0, math.nan),
        ("cpu", "transformer", 64, 132, 500.0), ("cpu", "reference", 64, 130, 1000.0), ("cpu", "rnn", 64, 50, 125.0),
    ]
    frame = pd.DataFrame(rows, columns=["device", "model", "context", "parameters", "train_samples_per_s"])
    ratios = ratio_table(frame).set_index("context")
    assert ratios.loc[32, "transformer_vs_reference"] == pytest.approx(3.0)
    assert ratios.loc[32, "transformer_vs_rnn"] == pytest.approx(2.0)
    assert ratios.loc[64, "transformer_vs_reference"] == pytest.approx(0.5)
    assert ratios.loc[64, "transformer_vs_rnn"] == pytest.approx(4.0)
    assert ratios.loc[64, "transformer_parameters"] == 132 and ratios.loc[64, "reference_parameters"] == 130


def test_save_bench_writes_tables_figures_and_settings_atomically_and_never_overwrites(tiny_frame, tmp_path):
    long_series = {"steps": 1000, "context": 8, "series_mib": 0.1, "materialised_mib": 1.0, "peak_rss_mib": 5.0}
    long_config = LongSeriesConfig(steps=1000, context=8)
    folder = save_bench(tiny_frame, tmp_path / "bench", config=TINY, long_series=long_series, long_series_config=long_config)
    names = {path.name for path in folder.iterdir()}
    assert names == {"bench.csv", "ratios.csv", "long_series.csv", "throughput.png", "memory.png", "latency.png", "bench.yaml"}
    saved = pd.read_csv(folder / "bench.csv")
    assert len(saved) == len(tiny_frame) and list(saved.columns) == COLUMNS
    settings = yaml.safe_load((folder / "bench.yaml").read_text())
    rebuilt = {key: tuple(value) if isinstance(value, list) else value for key, value in settings["bench"].items()}
    assert BenchConfig(**rebuilt) == TINY  # the record rebuilds the config that measured bench.csv
    assert LongSeriesConfig(**settings["long_series"]) == long_config
    assert [path.name for path in tmp_path.iterdir()] == ["bench"]  # no staging folder left behind
    with pytest.raises(ForecasterError, match="not empty"):
        save_bench(tiny_frame, folder, config=TINY)
    assert [path.name for path in tmp_path.iterdir()] == ["bench"]


def test_format_bench_shows_every_row_and_the_ratios(tiny_frame):
    text = format_bench(tiny_frame, ratio_table(tiny_frame), patch_table(tiny_frame))
    assert "reference" in text and "transformer_vs_reference" in text
    assert len(text.splitlines()) >= len(tiny_frame) + 3


def test_long_series_windows_are_counted_not_copied():
    steps, context = 200_000, 64
    result = long_series_memory(LongSeriesConfig(steps=steps, context=context, batch_size=16, train_steps=1, d_model=8,
                                                 n_heads=2, n_layers=1, d_ff=16))
    windows = steps - context  # windows whose target lies inside the series
    assert result["windows"] == windows
    assert result["materialised_mib"] == pytest.approx(windows * context * 1 * 4 / 2**20)
    assert result["series_mib"] == pytest.approx(steps * 4 / 2**20)
    assert result["materialised_mib"] > 10 * result["series_mib"]
    assert math.isnan(result["peak_rss_mib"]) or result["peak_rss_mib"] > 0
    assert result["seconds"] > 0


@pytest.mark.parametrize(
    ("changes", "named"),
    [
        ({"contexts": (32, 300), "series_length": 300}, "300"),
        ({"kinds": ("linear", "lstm")}, "lstm"),
        ({"d_model": 10, "n_heads": 4}, "d_model=10"),
        ({"batch_size": 0}, "batch_size=0"),
        ({"precision": "fp16"}, "fp16"),
    ],
)
def test_bench_config_rejects_bad_values_in_one_line(changes, named):
    with pytest.raises(ForecasterError, match=named) as error:
        BenchConfig(**changes)
    assert "\n" not in str(error.value)


def test_bench_arguments_build_the_config_quick_first_then_explicit_options():
    parser = argparse.ArgumentParser()
    add_bench_arguments(parser)
    config = bench_config_from_arguments(parser.parse_args(["--quick", "--contexts", "8,24", "--kinds", "naive,rnn",
                                                            "--steps", "3", "--device", "cpu", "--no-reference"]))
    assert config.contexts == (8, 24) and config.kinds == ("naive", "rnn") and config.train_steps == 3
    assert config.batch_size == 32 and config.d_model == 16 and config.series_length == 2000  # from --quick
    assert config.devices == ("cpu",) and not config.reference
    with pytest.raises(ForecasterError, match="contexts='32,sixty' is not a comma-separated list"):
        bench_config_from_arguments(parser.parse_args(["--contexts", "32,sixty"]))
    with pytest.raises(ForecasterError, match="bench.precision='fp16'"):  # checked once, by BenchConfig
        bench_config_from_arguments(parser.parse_args(["--precision", "fp16"]))


def test_long_series_settings_are_checked_once_by_their_config():
    with pytest.raises(ForecasterError, match=r"^long_series.steps=512 must exceed long_series.context=512$"):
        LongSeriesConfig(steps=512)
    with pytest.raises(ForecasterError, match="long_series.batch_size=0 must be at least 1"):
        LongSeriesConfig(batch_size=0)


def _rss_mib() -> float:
    try:
        lines = open("/proc/self/status").read().splitlines()
    except OSError:
        return math.nan
    return int(next(line for line in lines if line.startswith("VmRSS:")).split()[1]) / 1024


def test_long_series_memory_grows_with_steps_not_steps_times_context():
    sizes = {"context": 128, "batch_size": 16, "train_steps": 1, "d_model": 8, "n_heads": 2, "n_layers": 1, "d_ff": 16}
    long_series_memory(LongSeriesConfig(steps=2_000, **sizes))  # warm-up: torch's first-use buffers are not the series' cost
    before = _rss_mib()
    result = long_series_memory(LongSeriesConfig(steps=2_000_000, **sizes))
    if math.isnan(before) or math.isnan(result["peak_rss_mib"]):
        pytest.skip("no /proc/self/status here to read the peak RSS from")
    assert result["materialised_mib"] > 900  # what copying the (N, T, C) windows would have cost
    assert result["peak_rss_mib"] - before < 0.1 * result["materialised_mib"]


def test_bench_command_checks_out_measures_saves_and_prints(tmp_path, capsys):
    from forecaster.commands.bench import run as bench_command

    parser = argparse.ArgumentParser()
    add_bench_arguments(parser)
    out = tmp_path / "bench"
    args = parser.parse_args(["--quick", "--kinds", "naive,transformer", "--contexts", "16", "--device", "cpu",
                              "--quiet", "--out", str(out)])
    assert bench_command(args) == 0
    printed = capsys.readouterr().out
    assert "transformer_vs_reference" in printed and str(out) in printed
    assert len(pd.read_csv(out / "bench.csv")) == 3  # naive, transformer, reference
    settings = yaml.safe_load((out / "bench.yaml").read_text())
    assert settings["bench"]["kinds"] == ["naive", "transformer"] and settings["bench"]["contexts"] == [16]
    assert settings["bench"]["batch_size"] == 32 and settings["long_series"] is None  # --quick's sizes, no long series
    with pytest.raises(ForecasterError, match="not empty"):
        bench_command(args)  # refused before measuring anything


def test_channel_case_times_the_independent_transformer_against_a_loop_over_channels(tmp_path):
    """--independent 7: one (B, T, 7) channel-independent model and the univariate one run 7 times, same weights."""
    config = dataclasses.replace(TINY, contexts=(8,), kinds=("naive",), reference=False, independent=7)
    frame = run_bench(config)
    independent, loop = channel_names(7)
    assert list(frame["model"]) == ["naive", independent, loop]
    rows = frame.set_index("model")
    assert rows.loc[independent, "parameters"] == rows.loc[loop, "parameters"]  # the same model, batched or looped
    assert rows.loc[[independent, loop], "train_samples_per_s"].gt(0).all()
    table = channel_table(frame)
    assert list(table["channels"]) == [7] and len(table) == 1
    assert table["independent_vs_loop"].iloc[0] == pytest.approx(
        rows.loc[independent, "train_samples_per_s"] / rows.loc[loop, "train_samples_per_s"])
    assert "channel-independent" in format_bench(frame, ratio_table(frame), patch_table(frame), table)
    folder = save_bench(frame, tmp_path / "bench", config=config)
    assert len(pd.read_csv(folder / "channel_ratios.csv")) == 1


def test_the_channel_loop_computes_what_the_independent_model_computes():
    config = dataclasses.replace(TINY, independent=3)
    batched, looped = (channel_model(name, config, 8).eval() for name in channel_names(3))
    looped.model.load_state_dict(batched.state_dict())
    past = torch.randn(2, 8, 3)
    torch.testing.assert_close(looped(past), batched(past), rtol=1e-5, atol=1e-6)


def test_bench_independent_option_and_its_check():
    parser = argparse.ArgumentParser()
    add_bench_arguments(parser)
    assert bench_config_from_arguments(parser.parse_args(["--quick", "--independent", "7"])).independent == 7
    assert bench_config_from_arguments(parser.parse_args(["--quick"])).independent is None  # --quick stays quick
    with pytest.raises(ForecasterError, match="bench.independent=0 must be at least 1"):
        BenchConfig(independent=0)


def test_a_registered_kind_the_bench_cannot_size_is_one_line(monkeypatch):
    """A kind added to the registry without bench sizes is refused when the options are read, not with a traceback."""
    from forecaster.models import MODEL_KINDS

    monkeypatch.setitem(MODEL_KINDS, "toy", MODEL_KINDS["linear"])
    with pytest.raises(ForecasterError, match=r"bench.kinds=\('toy',\) must name some of: naive, seasonal_naive, linear"):
        BenchConfig(kinds=("toy",))

