"""`forecaster run --seeds`: one folder per seed, and every metric's mean and spread over seeds from those runs."""

from __future__ import annotations

import pandas as pd
import pytest
import yaml

from forecaster.cli import main
from forecaster.config import config_from_dict
from forecaster.errors import ForecasterError
from forecaster.output.compare import compare_table
from forecaster.runs.seeds import run_seeds, seed_summary


@pytest.mark.slow
def test_run_with_seeds_writes_a_folder_per_seed_and_their_summary(tiny_config_file, tmp_path, capsys):
    out = tmp_path / "seeds"
    code = main(["run", str(tiny_config_file), "--set", "models=naive,linear,transformer", "--seeds", "0,1,2",
                 "--out", str(out), "--quiet"])
    assert code == 0
    assert {path.name for path in out.iterdir()} == {"config.yaml", "summary.csv", "metrics.csv", "seed-0", "seed-1", "seed-2"}
    for seed in (0, 1, 2):
        assert yaml.safe_load((out / f"seed-{seed}" / "config.yaml").read_text())["train"]["seed"] == seed
    runs = pd.concat([pd.read_csv(out / f"seed-{seed}" / "metrics.csv") for seed in (0, 1, 2)])
    summary = pd.read_csv(out / "summary.csv").set_index("model")
    for model in ("naive", "linear", "transformer"):
        values = runs.loc[runs["model"] == model, "rel_mae"]
        assert summary.loc[model, "runs"] == 3
        assert summary.loc[model, "rel_mae_mean"] == pytest.approx(values.mean())
        assert summary.loc[model, "rel_mae_std"] == pytest.approx(values.std(ddof=1), abs=1e-12)
    assert summary.loc["transformer", "rel_mae_std"] > 0  # the seeds did change the trained models
    printed = capsys.readouterr().out
    assert "±std" in printed and "means over seeds 0,1,2" in printed and f"results: {out}" in printed
    assert list(compare_table([out]).index) == ["naive", "linear", "transformer"]  # compare reads the summary
    assert yaml.safe_load((out / "config.yaml").read_text())["seeds"] == [0, 1, 2]
    assert "seeds" not in yaml.safe_load((out / "seed-0" / "config.yaml").read_text())  # one seed's folder: one run


@pytest.mark.slow
def test_a_seeds_folder_config_repeats_the_whole_seeds_run(tiny_config_file, tmp_path, capsys):
    out = tmp_path / "seeds"
    assert main(["run", str(tiny_config_file), "--set", "models=naive,linear,mlp", "--seeds", "3,5", "--out", str(out),
                 "--quiet"]) == 0
    again = tmp_path / "again"
    assert main(["run", str(out / "config.yaml"), "--out", str(again), "--quiet"]) == 0  # no --seeds: the file has them
    assert {path.name for path in again.iterdir()} == {path.name for path in out.iterdir()}
    columns = ["model", "seed", "mae", "rmse", "rel_mae", "mase", "directional_accuracy", "parameters", "best_epoch"]
    first, second = (pd.read_csv(folder / "metrics.csv")[columns] for folder in (out, again))
    pd.testing.assert_frame_equal(first, second)
    assert (out / "config.yaml").read_text() == (again / "config.yaml").read_text()
    assert "means over seeds 3,5" in capsys.readouterr().out
    single = tmp_path / "single"
    assert main(["run", str(out / "seed-5" / "config.yaml"), "--out", str(single), "--quiet"]) == 0  # one seed alone
    pd.testing.assert_frame_equal(pd.read_csv(single / "metrics.csv")[columns[:1] + columns[2:]],
                                  pd.read_csv(out / "seed-5" / "metrics.csv")[columns[:1] + columns[2:]])


def test_seed_summary_of_one_seed_has_no_spread(small_prices):
    raw = {"windows": {"context": 8}, "train": {"epochs": 1, "device": "cpu"}, "models": ["naive", "linear"]}
    summary = seed_summary(run_seeds(config_from_dict(raw), (5,), frame=small_prices)).set_index("model")
    assert summary.loc["linear", "runs"] == 1 and pd.isna(summary.loc["linear", "rel_mae_std"])


@pytest.mark.parametrize(("arguments", "message"), [
    (["--seeds", "0,x"], "--seeds='0,x' should be comma-separated integers"),
    (["--seeds", "1,1"], "seeds=[1, 1] repeats a seed"),
    (["--seeds", ","], "seeds=[] names no seed"),
])
def test_bad_seeds_are_one_line_errors_and_write_nothing(tiny_config_file, tmp_path, capsys, arguments, message):
    out = tmp_path / "out"
    assert main(["run", str(tiny_config_file), *arguments, "--out", str(out), "--quiet"]) == 1
    assert message in capsys.readouterr().err and not out.exists()


def test_seeds_cannot_resume(tmp_path, capsys):
    assert main(["run", "--resume", str(tmp_path / "x"), "--seeds", "0,1"]) == 1
    assert "give no CONFIG, --data, --column, --set, --out or --seeds" in capsys.readouterr().err


def test_run_seeds_refuses_no_seeds(small_prices):
    with pytest.raises(ForecasterError, match="names no seed"):
        run_seeds(config_from_dict({"models": ["naive"]}), (), frame=small_prices)
    with pytest.raises(ForecasterError, match="run_seeds needs seeds"):
        run_seeds(config_from_dict({"models": ["naive"]}), frame=small_prices)
    with pytest.raises(ForecasterError, match=r"seeds=\[1, 1\] repeats a seed"):  # checked by the config itself
        config_from_dict({"models": ["naive"], "seeds": [1, 1]})
