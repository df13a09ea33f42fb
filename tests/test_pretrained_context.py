"""How much history the pretrained forecaster reads: a given context reads nothing older, and ``auto`` chooses among
h, 2h, 3h and the whole context on each series' own last values."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from forecaster.cli import main
from forecaster.errors import ForecasterError
from forecaster.models.pretrained import Architecture, WeightsFile, build_network
from forecaster.reuse.forecast import Forecaster
from forecaster.reuse.pretrained_context import candidates, choose_context, parse_context

TINY = Architecture(context=16, horizon=4, patch=4, d_model=16, n_heads=2, n_layers=1, d_ff=32)
DATES = pd.date_range("2020-01-01", periods=40, freq="MS")


@pytest.fixture
def weights(tmp_path):
    torch.manual_seed(0)
    return WeightsFile(TINY, build_network(TINY).state_dict(), {"note": "random weights"}).save(tmp_path / "pretrained.pt")


def series(seed: int, length: int = 40) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"y": 10 + np.sin(np.arange(length) / 2) + 0.1 * rng.normal(size=length)}, index=DATES[:length])


def test_a_context_of_n_reads_nothing_older_than_the_last_n_values(weights):
    frame = series(0)
    changed = frame.copy()
    changed.iloc[:-8, 0] += 100.0  # everything before the last 8 values
    eight = Forecaster.pretrained(weights, horizon=4, context=8)
    pd.testing.assert_frame_equal(eight.forecast(frame), eight.forecast(changed), check_exact=False, rtol=1e-5)  # float32
    whole = Forecaster.pretrained(weights, horizon=4)
    assert not whole.forecast(frame)["forecast"].equals(whole.forecast(changed)["forecast"])
    with pytest.raises(ForecasterError, match="reads from 1 to 16 values"):
        Forecaster.pretrained(weights, horizon=4, context=17)


def test_auto_chooses_among_h_2h_3h_and_the_whole_context_on_the_series_last_values(weights):
    assert candidates(4, 16) == [4, 8, 12, 16] and candidates(8, 16) == [8, 16]
    assert parse_context("auto") == "auto" and parse_context("12") == 12 and parse_context(None) is None
    with pytest.raises(ForecasterError, match="give a number of values"):
        parse_context("0")
    frames = {"a": series(1), "b": series(2), "short": series(3, length=6)}  # too short to hold out 4 and keep 3
    chosen, scores = choose_context(frames, weights=weights, horizon=4)
    assert list(scores) == [4, 8, 12, 16] and chosen in scores and scores[chosen] == min(scores.values())
    assert all(np.isfinite(list(scores.values())))
    assert choose_context({"short": series(3, length=6)}, weights=weights, horizon=4) == (16, {})


def test_the_cli_says_which_context_it_chose_and_refuses_context_with_a_checkpoint(weights, tmp_path, capsys):
    table = pd.concat([series(seed).rename_axis("ds").reset_index().assign(unique_id=f"s{seed}") for seed in (1, 2)])
    table.to_csv(tmp_path / "panel.csv", index=False)
    out = tmp_path / "next"
    assert main(["forecast", "--model", "pretrained", "--weights", str(weights), "--data", str(tmp_path / "panel.csv"),
                 "--horizon", "4", "--context", "auto", "--out", str(out)]) == 0
    assert "chosen on each series' last 4 values" in capsys.readouterr().out
    assert list(pd.read_csv(out / "forecast.csv").columns[:3]) == ["unique_id", "ds", "forecast"]
    assert main(["forecast", str(weights), "--data", "sunspots", "--context", "8"]) == 1
    assert "--context go with --model pretrained" in capsys.readouterr().err
