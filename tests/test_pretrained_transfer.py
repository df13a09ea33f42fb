"""``forecaster transfer pretrained``: the pretrained forecaster on a target series, zero-shot, fine-tuned and from
scratch (the same network, new weights) on the same windows, as one table or a study over sizes and seeds."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
import yaml

from forecaster.cli import main
from forecaster.config import ModelSpec
from forecaster.models import MODEL_KINDS, ModelDims
from forecaster.models.pretrained import Architecture, PretrainedConfig, WeightsFile, build_network
from forecaster.reuse.pretrained_transfer import is_pretrained
from forecaster.runs.fitting import build

TINY = Architecture(context=16, horizon=4, patch=4, d_model=16, n_heads=2, n_layers=1, d_ff=32)
FAST = ["--set", "train.epochs=1", "--quiet", "--threads", "1"]


@pytest.fixture
def weights(tmp_path):
    torch.manual_seed(0)
    return WeightsFile(TINY, build_network(TINY).state_dict(), {"note": "random weights"}).save(tmp_path / "pretrained.pt")


def test_the_word_pretrained_or_a_weights_file_names_the_pretrained_forecaster(weights, tmp_path):
    assert is_pretrained("pretrained") and is_pretrained(weights)
    (tmp_path / "other.pt").write_bytes(b"not torch")
    assert not is_pretrained(tmp_path / "other.pt") and not is_pretrained(tmp_path / "missing.pt")


def test_from_scratch_is_the_same_network_with_new_weights_and_a_run_trains_it(weights):
    dims = ModelDims(context=16, horizon=4, channels=1, differenced=False, no_change=0.0)

    def spec(**config) -> ModelSpec:
        return ModelSpec(name="p", kind="pretrained", config=PretrainedConfig(weights=str(weights), **config))

    pretrained, scratch = build(spec(), dims, seed=1), build(spec(from_scratch=True), dims, seed=1)
    assert scratch.state_dict().keys() == pretrained.state_dict().keys()
    torch.testing.assert_close(build(spec(from_scratch=True), dims, seed=1).state_dict(), scratch.state_dict())  # the seed's
    loaded = WeightsFile.load(weights).state
    assert all(torch.equal(pretrained.network.state_dict()[key], value) for key, value in loaded.items())
    assert not all(torch.equal(scratch.network.state_dict()[key], value) for key, value in loaded.items())
    kind = MODEL_KINDS["pretrained"]
    assert kind.trains(PretrainedConfig(from_scratch=True)) and not kind.trains(PretrainedConfig())


def test_transfer_scores_zero_shot_fine_tune_and_scratch_on_the_same_windows(weights, tmp_path, capsys):
    out = tmp_path / "table"
    assert main(["transfer", str(weights), "--data", "sunspots", "--last", "50", "--out", str(out), *FAST]) == 0
    metrics = pd.read_csv(out / "metrics.csv").set_index("model")
    assert list(metrics.index) == ["zero_shot", "fine_tune", "scratch", "fine_tune_last50", "scratch_last50", "naive"]
    assert metrics.loc["naive", "rel_mae"] == pytest.approx(1.0) and metrics.loc["zero_shot", "train_seconds"] == 0.0
    predictions = pd.read_csv(out / "predictions.csv")  # one column per row: every row on the same test points
    assert predictions[list(metrics.index)].notna().all().all()
    record = yaml.safe_load((out / "transfer.yaml").read_text())
    assert record["checkpoint"] == str(weights.resolve()) and record["transform"] == "level"
    assert yaml.safe_load((out / "config.yaml").read_text())["windows"]["context"] == TINY.context


def test_a_study_tests_each_row_against_scratch_at_each_size(weights, tmp_path, capsys):
    out = tmp_path / "study"
    assert main(["transfer", str(weights), "--data", "sunspots", "--last", "30,60", "--seeds", "0,1", "--out", str(out),
                 *FAST]) == 0
    summary = pd.read_csv(out / "study_summary.csv")
    assert set(summary["row"]) == {"zero_shot", "fine_tune", "scratch", "naive"} and set(summary["windows"]) == {30, 60}
    fine = summary[summary["row"] == "fine_tune"]
    assert fine["p_vs_scratch"].between(0, 1).all() and (fine["seeds"] == 2).all()
    zero = summary[summary["row"] == "zero_shot"]
    assert zero["rel_mae_sd"].fillna(0).eq(0).all()  # nothing trained: the same at every seed and size
    assert "against scratch (the same network from new weights) at the same size" in capsys.readouterr().out


def test_a_differenced_transform_is_one_line_and_writes_nothing(weights, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["transfer", str(weights), "--data", "sunspots", "--transform", "log_return", "--out", str(out), *FAST]) == 1
    error = capsys.readouterr().err
    assert len(error.strip().splitlines()) == 1 and "reads values, not changes" in error and not out.exists()


def test_embed_reads_the_pretrained_encoder_whatever_the_series_level_and_units(weights, tmp_path):
    rng = np.random.default_rng(0)
    values = 50 + np.cumsum(rng.normal(size=80))
    dates = pd.date_range("2001-01-01", periods=80, freq="D")
    for name, series in (("raw", values), ("affine", 1000 + 7 * values)):  # another level and unit
        pd.DataFrame({"Date": dates, "y": series}).to_csv(tmp_path / f"{name}.csv", index=False)
        assert main(["embed", str(weights), "--data", str(tmp_path / f"{name}.csv"), "--out", str(tmp_path / name)]) == 0
    raw, affine = (pd.read_csv(tmp_path / name / "embeddings.csv", index_col="date") for name in ("raw", "affine"))
    columns = [column for column in raw.columns if column.startswith("e")]
    assert len(raw) == 80 - TINY.context + 1 and len(columns) == TINY.d_model
    np.testing.assert_allclose(raw[columns].to_numpy(), affine[columns].to_numpy(), atol=1e-3)
