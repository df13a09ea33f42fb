"""Data-parallel training: two gloo processes keep identical weights and match one process's training."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from forecaster.data.windows import WindowConfig, split_bounds, split_windows
from forecaster.models import TransformerConfig, TransformerForecaster
from forecaster.training.loop import TrainConfig, seed_everything, train_model

CONFIG = TrainConfig(epochs=3, batch_size=30, learning_rate=3e-3, device="cpu", seed=3)


def sine_windows():
    steps = torch.arange(500, dtype=torch.float32)
    series = torch.stack([torch.sin(2 * math.pi * steps / 17), torch.cos(2 * math.pi * steps / 40)], dim=1)
    config = WindowConfig(context=12, horizon=2)
    return split_windows(series, split_bounds(500, config), config)


def train_once() -> tuple[dict, list]:
    """The same model, seed and data in every process: only the sharding differs."""
    windows = sine_windows()
    seed_everything(0)
    model = TransformerForecaster(TransformerConfig(d_model=8, n_heads=2, n_layers=1, d_ff=16, dropout=0.0),
                                  context=12, horizon=2, channels=2)
    result = train_model(model, windows["train"], windows["val"], CONFIG, device=torch.device("cpu"))
    return model.state_dict(), result.history


def train_on_rank(rank: int, world_size: int, store: str, out: str) -> None:
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{store}", rank=rank, world_size=world_size)
    try:
        state, history = train_once()
        torch.save({"state": state, "history": history}, Path(out) / f"rank{rank}.pt")
    finally:
        dist.destroy_process_group()


@pytest.mark.slow
def test_two_gloo_ranks_stay_in_sync_and_match_one_process(tmp_path):
    mp.spawn(train_on_rank, args=(2, str(tmp_path / "store"), str(tmp_path)), nprocs=2, join=True)
    ranks = [torch.load(tmp_path / f"rank{rank}.pt", weights_only=True) for rank in range(2)]
    for key, value in ranks[0]["state"].items():
        assert torch.equal(value, ranks[1]["state"][key]), key  # DDP keeps the replicas identical
    assert ranks[0]["history"] == ranks[1]["history"]
    # One process with the same global batch (30; the last batch splits unevenly) and seed: the same
    # model up to float summation order. Compared by its forecasts, not weight by weight: the key bias
    # gets a zero gradient in exact arithmetic (softmax ignores a shift shared by a row), so Adam turns
    # rounding noise into steps of size lr there, without any effect on the outputs.
    single_state, single_history = train_once()
    inputs = sine_windows()["val"].inputs
    forecasts = []
    for state in (ranks[0]["state"], single_state):
        model = TransformerForecaster(TransformerConfig(d_model=8, n_heads=2, n_layers=1, d_ff=16, dropout=0.0),
                                  context=12, horizon=2, channels=2)
        model.load_state_dict(state)
        forecasts.append(model.eval()(inputs).detach())
    torch.testing.assert_close(forecasts[0], forecasts[1], rtol=1e-4, atol=1e-4)
    for ours, theirs in zip(ranks[0]["history"], single_history, strict=True):
        assert ours["val_loss"] == pytest.approx(theirs["val_loss"], rel=1e-4)
        assert ours["train_loss"] == pytest.approx(theirs["train_loss"], rel=1e-4)


@pytest.mark.slow
def test_torchrun_cli_trains_on_two_processes_and_only_rank_0_writes(tiny_config_file, tmp_path):
    out = tmp_path / "results" / "ddp"
    before = set(tmp_path.iterdir())
    process = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
         "-m", "forecaster", "run", str(tiny_config_file), "--out", str(out), "--quiet",
         "--set", "models=naive,linear,transformer"],
        capture_output=True, text=True, timeout=300, cwd=tmp_path,
    )
    assert process.returncode == 0, process.stderr[-2000:]
    assert process.stdout.count("results: ") == 1  # printed by rank 0 alone
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == ["linear.pt", "transformer.pt"]
    assert set(tmp_path.iterdir()) - before == {tmp_path / "results"}  # nothing else written by any rank
    assert [p.name for p in (tmp_path / "results").iterdir()] == ["ddp"]
    metrics = pd.read_csv(out / "metrics.csv")
    assert metrics.set_index("model").loc["naive", "rel_mae"] == 1.0


@pytest.mark.slow
def test_torchrun_trains_a_global_model_on_a_long_table_of_series_and_rank_0_writes_each_series(tiny_config_file, tmp_path):
    # A long table of three series: the pooled windows of all three are shared across the two ranks, batch by batch.
    rng = np.random.default_rng(0)
    rows = [pd.DataFrame({"unique_id": label, "ds": pd.date_range("2001-01-01", periods=length, freq="D"),
                          "y": 100 + np.cumsum(rng.normal(size=length))}) for label, length in (("a", 160), ("b", 130), ("c", 150))]
    table = tmp_path / "panel.csv"
    pd.concat(rows).to_csv(table, index=False)
    out = tmp_path / "results" / "ddp_panel"
    process = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
         "-m", "forecaster", "run", str(tiny_config_file), "--data", str(table), "--out", str(out), "--quiet",
         "--set", "models=naive,linear"],
        capture_output=True, text=True, timeout=300, cwd=tmp_path,
    )
    assert process.returncode == 0, process.stderr[-2000:]
    assert process.stdout.count("results: ") == 1  # printed by rank 0 alone
    metrics = pd.read_csv(out / "metrics.csv")
    assert set(metrics["series"]) == {"a", "b", "c", "all"}
    assert (metrics[metrics["model"] == "naive"]["rel_mae"] == 1.0).all()
