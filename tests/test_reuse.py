"""Reusing a trained encoder: load it, encode windows, freeze it under a new head; clear errors on misuse."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
import torch

from forecaster.checkpoint import load_checkpoint, load_encoder, load_model, save_checkpoint
from forecaster.config import config_from_dict
from forecaster.errors import ForecasterError
from forecaster.models import TransformerConfig, TransformerForecaster, freeze
from forecaster.runs.experiment import run_experiment, save_run


@pytest.fixture(scope="module")
def saved_run(tmp_path_factory, small_prices):
    config = {
        "windows": {"context": 8}, "train": {"epochs": 1, "batch_size": 32, "device": "cpu"},
        "models": [{"kind": "linear"}, {"kind": "transformer", "d_model": 8, "n_heads": 2, "n_layers": 2, "d_ff": 16}],
    }
    result = run_experiment(config_from_dict(config), frame=small_prices)
    return result, save_run(result, tmp_path_factory.mktemp("reuse") / "run")


def test_load_encoder_and_encode_windows(saved_run):
    result, folder = saved_run
    encoder = load_encoder(folder / "checkpoints" / "transformer.pt")
    windows = result.data.windows["test"].inputs[:5]  # (5, 8, 1)
    embeddings = encoder.encode(windows)
    assert embeddings.shape == (5, 8, 8) and not embeddings.requires_grad
    original = result.runs["transformer"].model.encoder.eval()
    assert torch.equal(embeddings, original(windows).detach())  # the saved encoder is the trained one
    with pytest.raises(ValueError, match=r"reads windows \(B, T, 1\) of 1 channel"):
        encoder.encode(torch.zeros(2, 8, 3))


def test_a_frozen_encoder_stays_bit_identical_while_a_new_head_learns(saved_run):
    result, folder = saved_run
    encoder = freeze(load_encoder(folder / "checkpoints" / "transformer.pt"))
    before = {key: value.clone() for key, value in encoder.state_dict().items()}
    model = TransformerForecaster(TransformerConfig(d_model=8, n_heads=2), context=8, horizon=3, channels=1, encoder=encoder)
    head_before = model.head.weight.clone()
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    windows = result.data.windows["train"]
    inputs, targets = windows.inputs[:32], torch.randn(32, 3, 1)
    torch.nn.functional.mse_loss(model.train()(inputs), targets).backward()
    optimizer.step()
    assert all(torch.equal(value, before[key]) for key, value in encoder.state_dict().items())
    assert not torch.equal(model.head.weight, head_before)
    assert model(inputs).shape == (32, 3, 1)  # the new head forecasts another horizon


def test_misuse_gives_clear_errors(saved_run, tmp_path):
    _, folder = saved_run
    with pytest.raises(ForecasterError, match="holds a linear model, which has no encoder"):
        load_encoder(folder / "checkpoints" / "linear.pt")
    encoder = load_encoder(folder / "checkpoints" / "transformer.pt")
    with pytest.raises(ValueError, match="needs 2 channel"):
        TransformerForecaster(TransformerConfig(d_model=8, n_heads=2), context=8, horizon=1, channels=2, encoder=encoder)
    with pytest.raises(ValueError, match="longer than the positional table"):
        encoder.encode(torch.zeros(1, 20, 1))  # 20 frames, a table of 8 positions
    checkpoint = load_checkpoint(folder / "checkpoints" / "transformer.pt")
    edited = dataclasses.replace(checkpoint, config=dataclasses.replace(checkpoint.config, d_ff=32))  # no longer fits its weights
    save_checkpoint(edited, tmp_path / "edited.pt")
    with pytest.raises(ForecasterError, match="weights do not match its own config"):
        load_model(tmp_path / "edited.pt")
    (tmp_path / "truncated.pt").write_bytes((folder / "checkpoints" / "transformer.pt").read_bytes()[:500])
    with pytest.raises(ForecasterError, match="not a loadable forecaster checkpoint"):
        load_model(tmp_path / "truncated.pt")


def test_embed_series_gives_each_date_its_newest_frame_embedding_without_look_ahead(saved_run, small_prices):
    from forecaster.reuse.embed import embed_series, project

    result, folder = saved_run
    checkpoint = load_checkpoint(folder / "checkpoints" / "transformer.pt")
    encoder = checkpoint.encoder()
    table = embed_series(encoder, checkpoint.pipeline, small_prices, context=checkpoint.dims.context)
    assert len(table) == len(small_prices) - 1 - 8 + 1 and table.index[-1] == small_prices.index[-1]
    # The row of a date is the newest frame's embedding of the window ending on that date.
    test = result.data.windows["test"]
    date = result.data.series.dates[test.origins[0]]
    expected = encoder.encode(test.inputs[:1])[0, -1].numpy()
    embedding_columns = [f"e{i}" for i in range(8)]
    np.testing.assert_allclose(table.loc[date, embedding_columns].to_numpy(dtype=float), expected, rtol=1e-5, atol=1e-6)
    # Data after a window changes nothing about its embedding.
    shorter = embed_series(encoder, checkpoint.pipeline, small_prices.iloc[:300], context=checkpoint.dims.context)
    pd.testing.assert_frame_equal(shorter[embedding_columns], table.loc[shorter.index, embedding_columns])
    assert project(table).shape == (len(table), 2)
    assert table["next_change"].iloc[:-1].notna().all() and np.isnan(table["next_change"].iloc[-1])


def test_embed_command(saved_run, tmp_path, capsys, file_reads):
    from forecaster.cli import main

    _, folder = saved_run
    out = tmp_path / "emb"
    code = main(["embed", str(folder / "checkpoints" / "transformer.pt"), "--data", "sunspots", "--column", "sunspots",
                 "--transform", "diff", "--out", str(out)])
    assert code == 0
    assert file_reads == [folder / "checkpoints" / "transformer.pt"]  # read once, for the encoder and the scaling
    assert {p.name for p in out.iterdir()} == {"embeddings.csv", "embedding_pca.png"}
    assert "frames embedded in 8 dimensions" in capsys.readouterr().out
    assert main(["embed", str(folder / "checkpoints" / "transformer.pt"), "--data", "sunspots", "--column", "sunspots",
                 "--out", str(tmp_path / "other")]) == 1
    assert "choose the diff or level transform" in capsys.readouterr().err


def price_panel(prices: pd.DataFrame, path) -> pd.DataFrame:
    """``prices``' close cut into three series, on business days from their first dates (a long table's series are
    regular: no exchange holidays), as a long CSV at ``path`` (unique_id, ds, y)."""
    parts = [pd.DataFrame({"unique_id": uid, "ds": pd.bdate_range(rows.index[0], periods=len(rows)), "y": rows["Adj Close"].to_numpy()})
             for uid, rows in (("early", prices.iloc[:130]), ("middle", prices.iloc[130:260]), ("late", prices.iloc[260:]))]
    table = pd.concat(parts, ignore_index=True)
    table.to_csv(path, index=False, date_format="%Y-%m-%d")
    return table


def test_embed_of_a_long_table_gives_one_embedding_per_series(saved_run, small_prices, tmp_path, capsys):
    from forecaster.cli import main
    from forecaster.data.panel import read_long
    from forecaster.reuse.embed import embed_panel, embed_series

    _, folder = saved_run
    table = price_panel(small_prices, tmp_path / "panel.csv")
    checkpoint = load_checkpoint(folder / "checkpoints" / "transformer.pt")
    frames = read_long(table)
    panel = embed_panel(checkpoint.encoder(), checkpoint.pipeline, frames, context=8, column="y")
    assert list(panel.index) == ["early", "middle", "late"] and panel.index.name == "unique_id"
    columns = [f"e{i}" for i in range(8)]
    alone = embed_series(checkpoint.encoder(), checkpoint.pipeline, frames["middle"], context=8, column="y")
    np.testing.assert_allclose(panel.loc["middle", columns].to_numpy(dtype=float), alone[columns].mean().to_numpy(), rtol=1e-6)
    assert panel.loc["late", "frames"] == 140 - 1 - 8 + 1  # the series' windows (one row lost to the log-return)
    out = tmp_path / "emb"
    assert main(["embed", str(folder / "checkpoints" / "transformer.pt"), "--data", str(tmp_path / "panel.csv"),
                 "--out", str(out)]) == 0
    assert "3 series embedded in 8 dimensions" in capsys.readouterr().out
    written = pd.read_csv(out / "embeddings.csv")
    assert list(written["unique_id"]) == ["early", "middle", "late"] and {"mean_change", "volatility"} <= set(written.columns)
    assert (out / "embedding_pca.png").exists()


def test_transfer_of_a_long_table_of_several_series_is_one_line(saved_run, small_prices, tmp_path, capsys):
    from forecaster.cli import main

    _, folder = saved_run
    price_panel(small_prices, tmp_path / "panel.csv")
    out = tmp_path / "transfer"
    assert main(["transfer", str(folder / "checkpoints" / "transformer.pt"), "--data", str(tmp_path / "panel.csv"),
                 "--out", str(out), "--threads", "1", "--quiet"]) == 1
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1 and "long table of 3 series (early, middle, late)" in error
    assert "forecaster run --data" in error and not out.exists()
