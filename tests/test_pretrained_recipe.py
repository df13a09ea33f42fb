"""``forecaster pretrain`` on a recipe (a config with ``pretrain.pool``): the shipped weights' recipe, a run that stops at
its time limit and goes on with ``--resume`` to the same weights, tracking, and a one-line error for each bad input."""

from __future__ import annotations

import dataclasses
import re

import pytest
import torch
import yaml

from forecaster.cli import main
from forecaster.mappings import plain_values
from forecaster.models.pretrained import WeightsFile
from forecaster.reuse.pretrained_recipe import PretrainedRecipe, is_recipe, read_recipe

RECIPE = "experiments/pretrained/pretrained.yaml"
TINY = {"pretrain": {"pool": {"competitions": ["m3:yearly"], "bundled": [], "mixed": 8,
                              "generated": [{"kind": "trend_season", "series": 12, "max_length": 80}]},
                     "network": {"context": 16, "horizon": 4, "patch": 4, "d_model": 16, "n_heads": 2, "n_layers": 1,
                                 "d_ff": 32},
                     "training": {"epochs": 2, "batch_size": 128, "per_series": 4}, "device": "cpu"}}


@pytest.fixture
def recipe(tmp_path):
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(TINY))
    return path


def test_the_shipped_weights_are_what_the_recipe_in_experiments_makes():
    recipe = read_recipe(RECIPE).recipe
    card = WeightsFile.load().card
    assert card["recipe"] == read_recipe(RECIPE).to_dict()["pretrain"]  # written by forecaster pretrain RECIPE
    assert card["architecture"] == plain_values(dataclasses.asdict(recipe.network))
    assert {**card["settings"], "time_limit": None} == {**dataclasses.asdict(recipe.training), "time_limit": None}
    sources = {row["source"]: row["series"] for row in card["pool"]}
    assert sources["kernel_synth"] == sources["trend_season"] == sources["mix"] == 500 and "tourism" not in str(sources)


def test_a_pool_section_makes_a_recipe_and_other_configs_stay_encoder_pretraining(recipe):
    assert is_recipe(recipe) and is_recipe(RECIPE)
    assert not is_recipe("experiments/sunspots.yaml") and not is_recipe(None)
    assert read_recipe(RECIPE, ["pretrain.training.epochs=3"]).recipe.training.epochs == 3
    assert read_recipe(recipe).recipe.network.context == 16 and PretrainedRecipe().network.context == 128


def test_pretrain_stops_at_its_time_limit_and_resume_gives_the_uninterrupted_weights(recipe, tmp_path, capsys):
    assert main(["pretrain", str(recipe), "--out", str(tmp_path / "whole"), "--quiet", "--threads", "1"]) == 0
    parts = tmp_path / "parts"
    assert main(["pretrain", str(recipe), "--out", str(parts), "--quiet", "--threads", "1",
                 "--set", "pretrain.training.time_limit=0"]) == 0
    assert "--resume" in capsys.readouterr().out and WeightsFile.load(parts / "pretrained.pt").card["epochs_done"] == 1
    assert main(["pretrain", str(recipe), "--out", str(parts), "--quiet", "--threads", "1", "--resume"]) == 0
    whole, resumed = WeightsFile.load(tmp_path / "whole" / "pretrained.pt"), WeightsFile.load(parts / "pretrained.pt")
    assert resumed.card["epochs_done"] == 2 and resumed.card["command"] == f"forecaster pretrain {recipe} --threads 1"
    for key, value in whole.state.items():
        torch.testing.assert_close(resumed.state[key], value, rtol=0, atol=0)
    assert yaml.safe_load((parts / "recipe.yaml").read_text())["pretrain"]["network"]["context"] == 16
    assert {row["source"] for row in resumed.card["pool"]} == {"m3:yearly", "trend_season", "mix"}


def test_each_epoch_goes_to_the_tracker(recipe, tmp_path, monkeypatch):
    from forecaster.tracking import tracker as tracking

    epochs = []

    class Run(tracking.TrackedRun):
        def log_epoch(self, model, end):
            epochs.append((model, end.epoch, end.val_loss))

    class Tracker(tracking.Tracker):
        def start(self, name):
            return Run()

    monkeypatch.setattr(tracking, "open_tracker", lambda config, out: Tracker())
    assert main(["pretrain", str(recipe), "--out", str(tmp_path / "out"), "--quiet", "--threads", "1"]) == 0
    assert [epoch for _, epoch, _ in epochs] == [1, 2] and {model for model, _, _ in epochs} == {"pretrained"}


@pytest.mark.parametrize("extra, message", [
    (["--set", "pretrain.training.epoch=3"], "unknown key pretrain.training.epoch; valid keys"),
    (["--set", "pretrain.pool.generated=[{kind: trend_season}]"], "pretrain.pool.generated.0. needs the key series"),
    (["--set", "pretrain.pool.competitions=[tourism:monthly]"], "holds out tourism"),
    (["--set", "windows.context=8"], "a recipe takes pretrain.PART.KEY=VALUE"),
    (["--data", "sunspots"], "a pool config lists its sources in pretrain.pool"),
    (["--resume"], "holds no state.pt to go on from"),
])
def test_a_bad_recipe_or_option_is_one_line_and_writes_nothing(recipe, tmp_path, capsys, extra, message):
    out = tmp_path / "out"
    assert main(["pretrain", str(recipe), "--out", str(out), "--quiet", *extra]) == 1
    error = capsys.readouterr().err
    assert len(error.strip().splitlines()) == 1 and error.startswith("error: ")
    assert re.search(message, error), error
    assert not out.exists()


def test_resume_refuses_another_recipe_and_encoder_pretraining_refuses_resume(recipe, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["pretrain", str(recipe), "--out", str(out), "--quiet", "--threads", "1"]) == 0
    assert main(["pretrain", str(recipe), "--out", str(out), "--quiet", "--resume", "--set", "pretrain.pool.mixed=4"]) == 1
    assert "started with another recipe (pretrain.pool.mixed differ" in capsys.readouterr().err
    assert main(["pretrain", str(recipe), "--out", str(out), "--quiet"]) == 1
    assert "already exists" in capsys.readouterr().err
    assert main(["pretrain", "--out", str(tmp_path / "encoder"), "--resume"]) == 1
    assert "an encoder's pretraining starts anew" in capsys.readouterr().err


@pytest.mark.slow
def test_torchrun_pretrains_on_two_processes_and_rank_0_alone_writes(recipe, tmp_path):
    import subprocess
    import sys

    out = tmp_path / "results" / "ddp"
    process = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "-m", "forecaster",
         "pretrain", str(recipe), "--out", str(out), "--quiet", "--threads", "1"],
        capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert process.returncode == 0, process.stderr[-2000:]
    assert process.stdout.count("results: ") == 1  # printed by rank 0 alone
    assert sorted(path.name for path in out.iterdir()) == ["history.csv", "pretrained.pt", "recipe.yaml", "state.pt"]
    card = WeightsFile.load(out / "pretrained.pt").card
    assert card["epochs_done"] == 2 and "2 processes (torchrun)" in card["machine"]
