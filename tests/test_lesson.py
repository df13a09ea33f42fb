"""forecaster lesson: the synthetic tasks do what they claim, numbers become words by stated rules, the quick report is whole."""

from __future__ import annotations

import re
import time

import numpy as np
import pandas as pd
import pytest
import torch
import yaml

from forecaster.cli import main
from forecaster.lesson import EXPERIMENTS, QUESTIONS, QUICK, LessonSettings
from forecaster.lesson.report import markdown_table
from forecaster.lesson.runs import ReorderedInput
from forecaster.lesson.section import compare, display, spread
from forecaster.lesson.tasks import (
    MARKER,
    delayed_response,
    long_lag_recall,
    seasonal_series,
)

# --- the synthetic tasks -----------------------------------------------------------------------



class PastAsIs(torch.nn.Module):
    """A stand-in forecaster that returns the window it was given: what ReorderedInput fed it."""

    def forward(self, past: torch.Tensor, future: torch.Tensor | None = None) -> torch.Tensor:
        return past

def test_delayed_response_puts_the_target_a_fixed_delay_after_the_one_spike():
    """Every window holds one spike at p, and the target is the frame exactly `delay` steps after it."""
    samples, positions = delayed_response(500, context=20, delay=4, seed=0)
    inputs = samples.inputs[..., 0]  # (N, T)
    assert samples.inputs.shape == (500, 20, 1) and samples.targets.shape == (500, 1, 1)
    rows = torch.arange(500)
    assert torch.equal((inputs == MARKER).sum(dim=1), torch.ones(500, dtype=torch.long))  # one spike per window
    assert np.array_equal(inputs.argmax(dim=1).numpy(), positions)  # ... at the returned position
    assert torch.equal(inputs[rows, torch.as_tensor(positions) + 4], samples.targets[:, 0, 0])  # target 4 steps later
    assert positions.min() == 0 and positions.max() == 20 - 4 - 1  # every position that fits occurs
    assert abs(float(samples.targets.var()) - 1) < 0.15  # unit variance: an MSE of 1 is predicting the mean
    assert float(samples.targets.abs().max()) < MARKER and float(inputs[inputs != MARKER].abs().max()) < MARKER


def test_delayed_response_is_deterministic_per_seed_and_checks_the_delay():
    first, positions = delayed_response(50, context=12, delay=3, seed=5)
    again, same_positions = delayed_response(50, context=12, delay=3, seed=5)
    other, _ = delayed_response(50, context=12, delay=3, seed=6)
    assert torch.equal(first.inputs, again.inputs) and np.array_equal(positions, same_positions)
    assert not torch.equal(first.inputs, other.inputs)
    with pytest.raises(ValueError, match="delay=12 must lie between 1 and context - 1 = 11"):
        delayed_response(5, context=12, delay=12, seed=0)


@pytest.mark.parametrize("lag", [0, 1, 7, 15])
def test_long_lag_recall_target_is_the_value_lag_steps_before_the_newest(lag):
    samples = long_lag_recall(64, context=16, lag=lag, seed=1)
    assert torch.equal(samples.targets[:, 0, 0], samples.inputs[:, 15 - lag, 0])
    assert torch.equal(long_lag_recall(64, context=16, lag=lag, seed=1).inputs, samples.inputs)


def test_long_lag_recall_rejects_a_lag_outside_the_window():
    with pytest.raises(ValueError, match="lag=16 must lie between 0 and context - 1 = 15"):
        long_lag_recall(4, context=16, lag=16, seed=0)


def test_seasonal_series_has_its_period_and_repeats_per_seed():
    frame = seasonal_series(24 * 40, period=24, seed=3)
    assert list(frame.columns) == ["value"] and frame.index.freqstr == "h" and len(frame) == 960
    values = frame["value"].to_numpy()
    correlation = {lag: np.corrcoef(values[:-lag], values[lag:])[0, 1] for lag in (12, 24)}
    assert correlation[24] > 0.6 and correlation[12] < 0  # one cycle apart alike, half a cycle apart opposite
    pd.testing.assert_frame_equal(frame, seasonal_series(24 * 40, period=24, seed=3))


# --- reordering the frames (Zeng et al. 2023) ---------------------------------------------------


def test_arbitrary_profile_repeats_one_fixed_cycle_that_two_harmonics_cannot_draw():
    """The profile series: the same 24 values every period (whatever the seed), under AR(1) noise of sd ~0.35."""
    frames = [seasonal_series(24 * 200, period=24, seed=seed, profile="arbitrary") for seed in (0, 1)]
    cycles = [frame.value.to_numpy().reshape(200, 24).mean(axis=0) for frame in frames]  # mean over periods: the cycle
    assert np.abs(cycles[0] - cycles[1]).max() < 0.15  # one profile, not one per seed
    assert not np.allclose(frames[0].value, frames[1].value)  # the noise is the seed's
    t = np.arange(24)
    harmonics = np.column_stack([np.ones(24)] + [f(2 * np.pi * k * t / 24) for k in (1, 2) for f in (np.sin, np.cos)])
    residual = cycles[0] - harmonics @ np.linalg.lstsq(harmonics, cycles[0], rcond=None)[0]
    assert residual.std() > 0.5  # far from the smooth cycle's two harmonics
    with pytest.raises(ValueError, match="profile='square' is not one of harmonics, arbitrary"):
        seasonal_series(48, profile="square")


def test_reordered_input_half_swaps_and_shuffles_each_window_reproducibly():
    x = torch.arange(2 * 6 * 2, dtype=torch.float32).reshape(2, 6, 2)
    seen = {}
    for order in ("kept", "half_swapped", "shuffled"):
        seen[order] = ReorderedInput(PastAsIs(), order=order, seed=0)(x)
    assert torch.equal(seen["kept"], x)
    assert torch.equal(seen["half_swapped"], torch.cat([x[:, 3:], x[:, :3]], dim=1))  # newer half first
    shuffled = seen["shuffled"]
    assert torch.equal(shuffled.sort(dim=1).values, x)  # each window's own frames, each frame whole
    assert not torch.equal(shuffled, x)
    assert torch.equal(ReorderedInput(PastAsIs(), order="shuffled", seed=0)(x), shuffled)
    with pytest.raises(ValueError, match="order='reversed' is not one of kept, shuffled, half_swapped"):
        ReorderedInput(PastAsIs(), order="reversed")


# --- numbers into words --------------------------------------------------------------------------


def test_a_difference_is_clear_only_with_three_consistent_seeds():
    assert compare([1.0, 1.1, 0.9], [1.2, 1.3, 1.1]).clear
    assert "higher by 0.200" in compare([1.0, 1.1, 0.9], [1.2, 1.3, 1.1]).words()
    mixed = compare([1.0, 1.1, 0.9], [1.2, 1.0, 1.1])
    assert not mixed.clear and "within the seed spread" in mixed.words()
    assert not compare([1.0, 1.1], [2.0, 2.1]).clear  # two seeds: no verdict, however large
    assert "too few for a verdict" in compare([1.0], [2.0]).words()


def test_spread_and_tables_keep_the_order_they_were_given():
    assert spread([1.0, 2.0, 3.0]) == "2.00 ± 1.0" and spread([0.5]) == "0.500"
    records = pd.DataFrame({"model": ["b", "a", "b", "a"], "series": ["y", "y", "x", "x"], "seed": 0,
                            "value": [1.0, 2.0, 3.0, 4.0]})
    table = display(records, "model", "series", "value")
    assert list(table.columns) == ["model", "y", "x"] and list(table["model"]) == ["b", "a"]
    assert markdown_table(table).splitlines()[:3] == ["| model | y | x |", "|---|---|---|", "| b | 1.00 | 3.00 |"]


# --- the command -----------------------------------------------------------------------------------


@pytest.mark.slow
def test_lesson_quick_writes_every_section_figure_and_table(tmp_path, capsys):
    """The whole quick report: each question's heading in Spanish and English, its figures, tables with numbers."""
    out = tmp_path / "lesson"
    started = time.perf_counter()
    assert main(["lesson", "--quick", "--quiet", "--out", str(out)]) == 0
    seconds = time.perf_counter() - started
    report = (out / "report.md").read_text(encoding="utf-8")
    parts = re.split(r"^## ", report, flags=re.MULTILINE)[1:]
    assert len(parts) == len(QUESTIONS) == len(EXPERIMENTS) == 12
    for number, part in enumerate(parts, start=1):
        spanish, english = QUESTIONS[number]
        assert part.startswith(f"{number}. {spanish} / {english}\n")
        figures = re.findall(r"!\[[^\]]*\]\((figures/[^)]+\.png)\)", part)
        assert figures, f"question {number} has no figure"
        for figure in figures:
            assert (out / figure).stat().st_size > 1000, figure
        rows = [line for line in part.splitlines() if line.startswith("| ") and not line.startswith("| ---")]
        assert any(re.search(r"\d", cell) for row in rows for cell in row.split("|")[2:]), f"question {number}: no numbers"
        assert "*What was run:*" in part and "*Time:*" in part
        assert re.search(r"^- .*\d", part, flags=re.MULTILINE), f"question {number}: no generated sentence with a number"
    assert sorted(path.name for path in (out / "figures").iterdir()) == sorted(set(re.findall(r"figures/([^)]+\.png)", report)))
    assert len(list((out / "tables").glob("*.csv"))) >= 11
    printed = capsys.readouterr().out
    assert f"report: {out / 'report.md'}" in printed
    assert seconds < 90, f"the quick lesson took {seconds:.0f} s; keep it small for the test suite"


def test_lesson_runs_one_experiment_alone(tmp_path):
    threads = torch.get_num_threads()
    out = tmp_path / "scale"
    assert main(["lesson", "scale", "--quick", "--quiet", "--out", str(out)]) == 0
    report = (out / "report.md").read_text(encoding="utf-8")
    assert re.findall(r"^## (\d+)\.", report, flags=re.MULTILINE) == ["8"]
    assert torch.get_num_threads() == threads  # the lesson's one thread was given back
    assert "`forecaster lesson scale --quick`" in report
    record = yaml.safe_load((out / "settings.yaml").read_text(encoding="utf-8"))
    assert {key: record[key] for key in ("command", "experiments", "seeds", "threads")} == {
        "command": "forecaster lesson scale --quick", "experiments": ["scale"], "seeds": [0], "threads": 1}
    sizes = {key: tuple(value) if isinstance(value, list) else value for key, value in record["settings"].items()}
    assert LessonSettings(**sizes) == QUICK and "torch" in record["machine"]


@pytest.mark.parametrize("arguments, message", [
    (["nope"], ("error: unknown lesson experiment 'nope'; valid: order_sensitivity, mlp_fails, embeddings, "
               "permutation, positional_concat, attention_maps, shared_qkv, scale, diagonal, residuals, rnn_speed, summary")),
    (["--seeds", "0"], "error: --seeds=0 must be at least 1"),
    (["--threads", "0"], "error: threads=0 must be at least 1"),
])
def test_lesson_mistakes_are_one_line_errors_before_any_work(tmp_path, capsys, arguments, message):
    out = tmp_path / "out"
    assert main(["lesson", "--quick", "--quiet", "--out", str(out), *arguments]) == 1
    assert capsys.readouterr().err.strip().splitlines() == [message]
    assert not out.exists()


def test_lesson_refuses_an_occupied_folder_before_running(tmp_path, capsys, monkeypatch):
    from forecaster import lesson

    monkeypatch.setattr(lesson, "run_lesson", lambda *a, **k: pytest.fail("ran before checking --out"))
    out = tmp_path / "taken"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    assert main(["lesson", "--quick", "--out", str(out)]) == 1
    assert "already exists and is not empty" in capsys.readouterr().err
    assert [path.name for path in out.iterdir()] == ["keep.txt"]


def test_an_experiment_repeats_exactly_with_the_same_seeds():
    """Seeded: the same experiment twice gives the same per-seed numbers (and runs with other seeds differ)."""
    from forecaster.lesson import QUICK, run_lesson

    first, = run_lesson(["diagonal"], settings=QUICK, seeds=(0,))
    again, = run_lesson(["diagonal"], settings=QUICK, seeds=(0,))
    other, = run_lesson(["diagonal"], settings=QUICK, seeds=(1,))
    pd.testing.assert_frame_equal(first.records["diagonal"], again.records["diagonal"])
    assert not np.allclose(first.records["diagonal"]["rel_mae"], other.records["diagonal"]["rel_mae"])
