"""Pretraining: the masking hides what it says and leaks nothing, the pool reads training spans only, the
encoder it saves is reused by transfer and embed, the commands end to end, and the bad inputs are one line."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
import torch
import yaml

from forecaster.checkpoint import load_checkpoint
from forecaster.cli import main
from forecaster.commands.pretrain import check_overrides
from forecaster.config import config_from_dict, read_config
from forecaster.data.masking import MaskedWindows, choose_patches, hidden_count, mask_windows, visible_statistics
from forecaster.data.synthetic import two_period_series
from forecaster.data.windows import WindowConfig
from forecaster.errors import ForecasterError
from forecaster.models.transformer import TransformerConfig
from forecaster.reuse.embed import embed_series
from forecaster.reuse.pretrain import build_pool, pretrain
from forecaster.reuse.transfer import run_transfer, target_transform, transfer_config
from forecaster.training.loop import TrainConfig
from forecaster.training.losses import masked_mse
from forecaster.training.pretraining import PretrainConfig, default_encoder, default_train

TINY = PretrainConfig(windows=WindowConfig(context=16),
                      encoder=dataclasses.replace(default_encoder(), patch=4, d_model=8, n_heads=2, n_layers=1, d_ff=16),
                      train=dataclasses.replace(default_train(), epochs=2, batch_size=64))
TINY_SET = ["--set", "pretrain.windows.context=16", "--set", "pretrain.encoder.patch=4", "--set", "pretrain.encoder.d_model=8",
            "--set", "pretrain.encoder.n_heads=2", "--set", "pretrain.encoder.n_layers=1", "--set", "pretrain.encoder.d_ff=16",
            "--set", "pretrain.train.epochs=1", "--set", "train.device=cpu"]


def two_channels(length: int = 400, seed: int = 0) -> pd.DataFrame:
    """A two-column frame of levels (no price column: both channels are pooled)."""
    a = two_period_series(length, periods=(8, 24), seed=seed)["value"]
    return pd.DataFrame({"a": a, "b": a[::-1].to_numpy() + 1.0}, index=a.index)


def frames() -> dict[str, pd.DataFrame]:
    return {"two": two_channels(), "one": two_period_series(300, periods=(6, 30), seed=1)}


def test_masking_hides_exactly_the_chosen_patches_and_the_loss_reads_them_alone():
    chosen = choose_patches(5, 4, 0.4, torch.Generator().manual_seed(0))
    assert hidden_count(4, 0.4) == 2 and (chosen.sum(dim=1) == 2).all()
    x = torch.randn(5, 16, 1)
    batch = mask_windows(x, chosen, patch=4)
    hidden = chosen.repeat_interleave(4, dim=1)  # (5, 16)
    assert (batch.past[..., 0][hidden] == 0).all() and torch.isfinite(batch.targets[..., 0][hidden]).all()
    assert torch.isnan(batch.targets[..., 0][~hidden]).all()
    outputs = torch.randn(5, 16, 1)
    changed = outputs.clone()
    changed[~hidden.unsqueeze(-1)] += 100.0  # the visible frames' outputs are not scored
    assert torch.equal(masked_mse(outputs, batch.targets), masked_mse(changed, batch.targets))
    expected = ((outputs - batch.targets)[hidden.unsqueeze(-1)] ** 2).mean()
    assert masked_mse(outputs, batch.targets).item() == pytest.approx(expected.item())


def test_instance_statistics_ignore_the_hidden_values():
    x = torch.randn(3, 16, 1)
    chosen = choose_patches(3, 4, 0.5, torch.Generator().manual_seed(1))
    hidden = chosen.repeat_interleave(4, dim=1)
    other = x.clone()
    other[hidden.unsqueeze(-1)] = torch.tensor([1e6, float("nan"), -3.0]).repeat(int(hidden.sum()))[: int(hidden.sum())]
    for first, second in zip(visible_statistics(x, hidden), visible_statistics(other, hidden)):
        assert torch.equal(first, second)
    assert torch.equal(mask_windows(x, chosen, 4).past, mask_windows(other, chosen, 4).past)  # nothing hidden leaks in


def spans(frame: pd.DataFrame) -> tuple[int, int]:
    """Where a level channel's validation and test spans start (the 0.7 / 0.15 split of ``run``)."""
    train_end = int(round(len(frame) * 0.7))
    return train_end, train_end + int(round(len(frame) * 0.15))


def test_pool_reads_training_spans_only():
    clean = frames()
    pool = build_pool(clean, TINY)
    assert list(pool.channels["column"]) == ["a", "b", "value"]
    no_test = {name: frame.copy() for name, frame in clean.items()}
    huge = {name: frame.copy() for name, frame in clean.items()}
    for name in clean:
        val_start, test_start = spans(clean[name])
        no_test[name].iloc[test_start:] = np.nan  # the test span is never read: no error, nothing changes
        huge[name].iloc[val_start:] *= 1e6  # validation and test spans: the training windows and their scaling stay
    unchanged = build_pool(no_test, TINY)
    assert torch.equal(unchanged.train.series, pool.train.series) and torch.equal(unchanged.val.series, pool.val.series)
    assert torch.equal(build_pool(huge, TINY).train.batch(slice(None)).past, pool.train.batch(slice(None)).past)


def test_validation_masks_are_fixed_and_training_masks_seeded():
    pool = build_pool(frames(), TINY)
    val = MaskedWindows.create(pool.val, patch=4, ratio=0.4, seed=0, fixed=True)
    assert torch.equal(val.batch(slice(0, 8)).targets.isnan(), val.batch(slice(0, 8)).targets.isnan())
    first, second = (MaskedWindows.create(pool.train, patch=4, ratio=0.4, seed=3) for _ in range(2))
    assert torch.equal(first.batch(slice(0, 8)).past, second.batch(slice(0, 8)).past)


@pytest.fixture(scope="module")
def encoder_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("pretrain") / "pre"
    csv = folder.parent / "two.csv"
    two_channels().rename_axis("date").to_csv(csv)
    assert main(["pretrain", "--data", str(csv), "synthetic", "--out", str(folder), "--quiet", "--threads", "1", *TINY_SET]) == 0
    return folder


def test_pretrain_is_seeded():
    weights = [pretrain(frames(), TINY, device="cpu").model.encoder.state_dict() for _ in range(2)]
    assert all(torch.equal(weights[0][key], weights[1][key]) for key in weights[0])
    forecast = pretrain(frames(), dataclasses.replace(TINY, objective="forecast", windows=WindowConfig(context=16, horizon=2)),
                        device="cpu")
    assert forecast.training.best_epoch >= 1


def test_pretrain_command_writes_an_encoder_that_transfer_and_embed_read(encoder_folder, tmp_path):
    assert {"history.csv", "pool.csv", "reconstruction.png", "config.yaml", "summary.yaml"} <= {p.name for p in encoder_folder.iterdir()}
    assert len(pd.read_csv(encoder_folder / "pool.csv")) == 3  # two columns of the CSV, one of synthetic
    record = yaml.safe_load((encoder_folder / "config.yaml").read_text())["pretrain"]  # the nested layout, device included
    assert record["train"]["epochs"] == 1 and record["train"]["device"] == "cpu" and record["encoder"]["patch"] == 4
    checkpoint = load_checkpoint(encoder_folder / "checkpoints" / "encoder.pt")
    assert not checkpoint.head and checkpoint.config.channels == "independent" and checkpoint.config.patch == 4
    frame = two_period_series(600, periods=(12, 48), seed=5)
    config = transfer_config(checkpoint, source="other", column="value", transform=None, horizon=3,
                             train=TrainConfig(epochs=1, batch_size=32, device="cpu"))
    result = run_transfer(checkpoint, frame, config, last_samples=50)
    assert list(result.runs) == ["linear_probe", "fine_tune", "scratch", "linear_probe_last50", "fine_tune_last50",
                                 "scratch_last50", "naive"]  # no zero-shot: the encoder has no head
    encoder = checkpoint.encoder()
    probe = result.runs["linear_probe"].model.encoder
    assert all(torch.equal(probe.state_dict()[key], value) for key, value in encoder.state_dict().items())
    assert not torch.equal(result.runs["fine_tune"].model.encoder.embedding.projection.weight, encoder.embedding.projection.weight)
    table = embed_series(encoder, checkpoint.pipeline, frame, context=checkpoint.dims.context)
    assert table.shape[1] == 8 + 2 and len(table) == len(frame) - 16 + 1


def test_transfer_study_command(encoder_folder, tmp_path, capsys):
    out = tmp_path / "study"
    assert main(["transfer", str(encoder_folder / "checkpoints" / "encoder.pt"), "--data", "sunspots", "--column", "sunspots",
                 "--transform", "level", "--horizon", "2", "--last", "40,all", "--seeds", "0,1", "--out", str(out), "--quiet",
                 "--set", "train.epochs=1", "--set", "train.device=cpu"]) == 0
    assert "no zero_shot row: the checkpoint holds an encoder only" in capsys.readouterr().out
    study = pd.read_csv(out / "study.csv")
    assert set(study["row"]) == {"linear_probe", "fine_tune", "scratch", "naive"} and set(study["seed"]) == {0, 1}
    assert set(study["size"]) == {"40", "all"}
    summary = pd.read_csv(out / "study_summary.csv")
    assert len(summary) == 2 * 4 and summary.loc[summary["row"] == "scratch", "p_vs_scratch"].isna().all()
    assert summary.loc[summary["row"] != "scratch", "p_vs_scratch"].between(0, 1).all()
    assert (out / "learning_curve.png").is_file()
    assert yaml.safe_load((out / "transfer.yaml").read_text())["seeds"] == [0, 1]


def test_a_pretrained_encoder_reads_a_price_series_as_the_pool_did(encoder_folder):
    """No --transform: log-returns for a price series (what the pool gave the encoder), levels otherwise; a
    checkpoint with a head keeps its own transform; one given is kept."""
    checkpoint = load_checkpoint(encoder_folder / "checkpoints" / "encoder.pt")
    prices = pd.DataFrame({"Close": np.linspace(100, 120, 50)}, index=pd.date_range("2024-01-01", periods=50, freq="D"))
    assert target_transform(checkpoint, prices, None) == "log_return"
    assert target_transform(checkpoint, two_channels(), None) == "level"
    assert target_transform(checkpoint, prices, "level") == "level"
    whole = dataclasses.replace(checkpoint, head=True)
    assert target_transform(whole, prices, None) is None  # transfer_config then takes the checkpoint's


def test_bad_inputs_are_one_line_and_leave_no_folder(encoder_folder, tmp_path, capsys):
    short = tmp_path / "short.csv"
    two_channels(20).rename_axis("date").to_csv(short)
    out = tmp_path / "out"
    assert main(["pretrain", "--data", "synthetic", str(short), "--out", str(out), *TINY_SET]) == 1
    error = capsys.readouterr().err
    assert f"pretrain source {str(short)!r} (column 'a') is too short" in error and "rows are needed" in error
    assert main(["pretrain", "--data", "synthetic", "--out", str(out), *TINY_SET, "--set", "pretrain.encoder.patch=5"]) == 1
    assert "pretrain.encoder.patch=5 does not cut pretrain.windows.context=16" in capsys.readouterr().err
    assert main(["forecast", str(encoder_folder / "checkpoints" / "encoder.pt"), "--data", "synthetic"]) == 1
    error = capsys.readouterr().err
    assert "no head" in error and "forecaster transfer" in error and len(error.strip().splitlines()) == 1
    assert main(["pretrain", "--set", "pretrain.masking=1", "--out", str(out)]) == 1
    assert "unknown key pretrain.masking; valid keys in pretrain: objective" in capsys.readouterr().err
    assert main(["pretrain", "--set", "train.epochs=2", "--out", str(out)]) == 1  # read by run, not by pretrain: refused
    assert ("--set 'train.epochs=2': forecaster pretrain reads pretrain.KEY, data.source and train.device and would ignore "
            "train.epochs; set pretrain.train.epochs instead") in capsys.readouterr().err
    assert main(["pretrain", "--set", "intervals.season=12", "--out", str(out)]) == 1
    assert capsys.readouterr().err.strip().endswith("would ignore intervals.season")
    assert not out.exists() and not [path for path in tmp_path.iterdir() if path.name.startswith(".")]


# --- the pretrain: section: nested sections, the old flat keys ------------------------------------------------------

NESTED = """pretrain:
  objective: forecast
  windows: {context: 32, horizon: 3}
  encoder: {patch: 8, d_model: 16}
  train: {epochs: 2, seed: 4}
"""
FLAT = """pretrain: {objective: forecast, context: 32, horizon: 3, patch: 8, d_model: 16, epochs: 2, seed: 4}
"""


def write(tmp_path, name: str, text: str):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_nested_keys_read_from_yaml_and_set_and_the_rest_keep_pretrainings_defaults(tmp_path):
    config = read_config(write(tmp_path, "nested.yaml", NESTED)).pretrain
    assert (config.objective, config.windows.context, config.windows.horizon) == ("forecast", 32, 3)
    assert (config.encoder.patch, config.encoder.d_model, config.train.epochs, config.train.seed) == (8, 16, 2, 4)
    # Keys left out are pretraining's defaults, not the sections' own (a run's transformer, a run's training).
    assert config.encoder == dataclasses.replace(default_encoder(), d_model=16)
    assert config.train == dataclasses.replace(default_train(), epochs=2, seed=4)
    assert config.windows == WindowConfig(context=32, horizon=3)
    overrides = ["pretrain.objective=forecast", "pretrain.windows.context=32", "pretrain.windows.horizon=3",
                 "pretrain.encoder.d_model=16", "pretrain.train.epochs=2", "pretrain.train.seed=4"]
    assert read_config(None, overrides).pretrain == config
    assert config_from_dict(read_config(None, overrides).to_dict()).pretrain == config  # what config.yaml records


def test_the_defaults_are_those_of_the_flat_layout():
    config = PretrainConfig()
    assert config.windows == WindowConfig(context=64, horizon=1, train_fraction=0.7, val_fraction=0.15)
    assert config.encoder == TransformerConfig(d_model=32, n_heads=4, n_layers=2, d_ff=64, dropout=0.1, readout="flatten",
                                               instance_norm=True, patch=8, channels="independent")
    assert config.train == TrainConfig(epochs=10, batch_size=256, learning_rate=1e-3, patience=3, seed=0)  # constant rate
    assert config.objective_windows.horizon == 1  # the masked objective's split reads windows alone
    forecast = dataclasses.replace(config, objective="forecast", windows=WindowConfig(horizon=4))
    assert forecast.objective_windows.horizon == 4 and dataclasses.replace(forecast, objective="masked").objective_windows.horizon == 1


def test_the_old_flat_keys_read_as_the_nested_ones(tmp_path):
    nested = read_config(write(tmp_path, "nested.yaml", NESTED)).pretrain
    assert read_config(write(tmp_path, "flat.yaml", FLAT)).pretrain == nested
    flat = ["pretrain.objective=forecast", "pretrain.context=32", "pretrain.horizon=3", "pretrain.patch=8", "pretrain.d_model=16",
            "pretrain.epochs=2", "pretrain.seed=4"]
    assert read_config(None, flat).pretrain == nested
    values = {  # every old key lands on its own new path
        "context": 48, "horizon": 2, "train_fraction": 0.6, "val_fraction": 0.2, "patch": 6, "d_model": 12, "n_heads": 3,
              "n_layers": 3, "d_ff": 24, "dropout": 0.3, "readout": "mean", "epochs": 7, "batch_size": 32, "learning_rate": 0.01,
              "patience": 4, "seed": 9}
    assert set(PretrainConfig.RENAMED) == set(values)
    config = config_from_dict({"pretrain": values}).pretrain
    for old, new in PretrainConfig.RENAMED.items():
        section, key = new.split(".")
        assert getattr(getattr(config, section), key) == values[old], old
    # A --set of either layout wins over a file of the other.
    assert read_config(write(tmp_path, "flat.yaml", FLAT), ["pretrain.train.epochs=5"]).pretrain.train.epochs == 5
    assert read_config(write(tmp_path, "nested.yaml", NESTED), ["pretrain.epochs=5"]).pretrain.train.epochs == 5
    # A results folder's config.yaml written before the sections (the flat record) reads, and is written nested.
    before = ("data:\n  source:\n  - sunspots\npretrain:\n  objective: masked\n  context: 32\n  horizon: 1\n  patch: 8\n"
              "  mask_ratio: 0.3\n  d_model: 16\n  n_heads: 2\n  n_layers: 1\n  d_ff: 32\n  dropout: 0.2\n  readout: mean\n"
              "  epochs: 2\n  batch_size: 128\n  learning_rate: 0.002\n  patience: 2\n  seed: 3\n  window_stride: 2\n"
              "  train_fraction: 0.6\n  val_fraction: 0.15\n")
    config = read_config(write(tmp_path, "config.yaml", before))
    assert config.pretrain.windows == WindowConfig(context=32, train_fraction=0.6)
    assert config.pretrain.train == dataclasses.replace(default_train(), epochs=2, batch_size=128, learning_rate=0.002,
                                                        patience=2, seed=3)
    assert config.to_dict()["pretrain"]["encoder"]["readout"] == "mean" and "readout" not in config.to_dict()["pretrain"]


@pytest.mark.parametrize("text, expected", [
    ("pretrain: {epochs: 2, train: {epochs: 3}}", "pretrain.epochs and pretrain.train.epochs both set one value; keep "
                                                  "pretrain.train.epochs (pretrain.epochs is its old name)"),
    ("pretrain: {d_model: 8, encoder: {d_model: 8}}", "pretrain.d_model and pretrain.encoder.d_model both set one value"),
    ("pretrain: {masking: 1}", "unknown key pretrain.masking; valid keys in pretrain: objective, mask_ratio, window_stride, "
                               "windows, encoder, train"),
    ("pretrain: {windows: {contxt: 8}}", "unknown key pretrain.windows.contxt; valid keys in pretrain.windows: context, horizon"),
    ("pretrain: {instance_norm: false}", "unknown key pretrain.instance_norm; valid keys in pretrain: objective"),
    ("pretrain: {windows: 3}", "pretrain.windows should be a mapping of keys to values, got 3"),
    ("pretrain: {context: 0}", "pretrain.windows.context=0 must be a positive number of steps"),
    ("pretrain: {train: {epochs: 0}}", "pretrain.train.epochs=0 must be at least 1"),
    ("pretrain: {window_stride: 0}", "pretrain.window_stride=0 must be at least 1"),
    ("pretrain: {windows: {train_fraction: 0.9}}", "pretrain.windows.train_fraction + pretrain.windows.val_fraction = 1.05"),
    ("pretrain: {encoder: {channels: mixed}}", "pretrain.encoder.channels='mixed': pretraining trains a channel-independent"),
    ("pretrain: {encoder: {patch_stride: 4}}", "pretrain.encoder.patch_stride=4: pretraining's patches do not overlap"),
    ("pretrain: {mask_ratio: 1}", "pretrain.mask_ratio=1.0 must lie strictly between 0 and 1"),
])
def test_a_bad_pretrain_section_is_one_line_naming_the_key(tmp_path, text, expected):
    with pytest.raises(ForecasterError) as caught:
        read_config(write(tmp_path, "bad.yaml", text))
    assert expected in str(caught.value) and "\n" not in str(caught.value)


def test_pretrain_refuses_a_set_it_would_ignore_naming_the_nested_key():
    check_overrides(["pretrain.train.epochs=2", "pretrain.epochs=2", "data.source=sunspots", "train.device=cpu"])
    for override, instead in [("train.epochs=2", "pretrain.train.epochs"), ("windows.context=32", "pretrain.windows.context"),
                              ("models.transformer.d_model=8", "pretrain.encoder.d_model"), ("train.schedule=cosine",
                                                                                               "pretrain.train.schedule")]:
        with pytest.raises(ForecasterError, match=f"would ignore {override.partition('=')[0]}; set {instead} instead"):
            check_overrides([override])


def test_the_device_is_read_from_either_train_section_and_two_devices_are_refused(tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["pretrain", "--data", "synthetic", "--out", str(out), *TINY_SET, "--set", "pretrain.train.device=cuda"]) == 1
    assert "pretrain.train.device='cuda' and train.device='cpu' name two devices" in capsys.readouterr().err
    assert not out.exists()


def test_pretrain_pools_each_series_of_a_long_table_and_transfer_reads_a_table_of_one(tmp_path, capsys):
    parts = [two_period_series(300, periods=(6, 30), seed=seed)["value"].rename("y").rename_axis("ds").reset_index()
             .assign(unique_id=uid) for seed, uid in ((1, "s1"), (2, "s2"))]
    table = pd.concat(parts, ignore_index=True)[["unique_id", "ds", "y"]]
    table.to_csv(tmp_path / "panel.csv", index=False)
    out = tmp_path / "pre"
    assert main(["pretrain", "--data", str(tmp_path / "panel.csv"), *TINY_SET, "--threads", "1", "--quiet", "--out", str(out)]) == 0
    pool = pd.read_csv(out / "pool.csv")
    assert list(pool["source"]) == ["s1", "s2"] and list(pool["column"]) == ["y", "y"]
    assert "2 channels of 2 series" in capsys.readouterr().out
    table[table["unique_id"] == "s2"].to_csv(tmp_path / "one.csv", index=False)
    assert main(["transfer", str(out / "checkpoints" / "encoder.pt"), "--data", str(tmp_path / "one.csv"), "--set",
                 "train.epochs=1", "--threads", "1", "--quiet", "--out", str(tmp_path / "transfer")]) == 0
    assert yaml.safe_load((tmp_path / "transfer" / "transfer.yaml").read_text())["column"] == "y"
