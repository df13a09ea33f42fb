"""Patches as tokens (PatchTST): which frames each token covers, order inside and across patches, errors, reuse."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from forecaster.checkpoint import from_payload, to_payload
from forecaster.config import config_from_dict
from forecaster.errors import ForecasterError
from forecaster.models import (
    ModelDims,
    TransformerConfig,
    TransformerEncoder,
    TransformerForecaster,
    build_model,
)
from forecaster.models.tokens import PatchEmbedding, token_spans
from forecaster.output.plots import attention_figure
from forecaster.reuse.embed import embed_series
from forecaster.runs.experiment import run_experiment

B, C, D = 3, 2, 16


def config(**overrides) -> TransformerConfig:
    return TransformerConfig(**{"d_model": D, "n_heads": 4, "n_layers": 2, "d_ff": 32, "dropout": 0.0, **overrides})


def coverage(context: int, spans: list[tuple[int, int]]) -> np.ndarray:
    """How many tokens read each frame of the window."""
    counts = np.zeros(context, dtype=int)
    for start, end in spans:
        counts[start:end] += 1
    return counts


# --- which frames each token covers ----------------------------------------------------------------


@pytest.mark.parametrize(("context", "patch"), [(24, 1), (24, 6), (24, 24), (336, 24), (512, 16)])
def test_non_overlapping_patches_cover_every_frame_exactly_once(context, patch):
    spans = token_spans(context, patch)
    assert len(spans) == context // patch
    assert np.array_equal(coverage(context, spans), np.ones(context, dtype=int))
    assert spans[-1][1] == context  # the last token ends at the newest frame


def test_patches_that_do_not_divide_the_context_leave_the_oldest_frames_unread():
    spans = token_spans(26, 6)  # 26 = 4 * 6 + 2
    assert spans == [(2, 8), (8, 14), (14, 20), (20, 26)]
    assert np.array_equal(coverage(26, spans), np.r_[0, 0, np.ones(24, dtype=int)])


def test_a_stride_below_the_patch_gives_overlapping_tokens():
    spans = token_spans(24, 8, 4)
    assert spans == [(0, 8), (4, 12), (8, 16), (12, 20), (16, 24)]
    counts = coverage(24, spans)
    assert counts[:4].tolist() == [1] * 4 and counts[-4:].tolist() == [1] * 4
    assert (counts[4:-4] == 2).all()  # every inner frame is read by two tokens
    assert token_spans(10, 4, 3) == [(0, 4), (3, 7), (6, 10)]


def test_the_embedding_reads_exactly_the_frames_of_each_span():
    x = torch.arange(B * 26 * C, dtype=torch.float32).view(B, 26, C)
    for patch, stride in [(6, 6), (8, 4), (5, 3), (1, 1)]:
        patches = PatchEmbedding(channels=C, d_model=D, patch=patch, stride=stride).patches(x)
        spans = token_spans(26, patch, stride)
        assert patches.shape == (B, len(spans), patch * C)
        for token, (start, end) in enumerate(spans):
            assert torch.equal(patches[:, token], x[:, start:end].flatten(start_dim=1))  # frame after frame


def test_the_encoder_has_one_position_and_one_output_per_token():
    encoder = TransformerEncoder(config(patch=6), context=24, channels=C).eval()
    assert encoder.positional.table.shape == (4, D)
    assert encoder.embedding.projection.in_features == 6 * C
    embeddings, maps = encoder.forward_with_attention(torch.randn(B, 24, C))
    assert embeddings.shape == (B, 4, D)
    assert [tuple(weights.shape) for weights in maps] == [(B, 4, 4, 4)] * 2
    assert encoder.encode(torch.randn(B, 24, C)).shape == (B, 4, D)
    overlapping = TransformerEncoder(config(patch=8, patch_stride=4), context=24, channels=C)
    assert overlapping.positional.table.shape == (5, D)


def test_patch_one_is_the_frame_per_token_default():
    torch.manual_seed(0)
    plain = TransformerEncoder(config(), context=12, channels=C).eval()
    torch.manual_seed(0)
    patched = TransformerEncoder(config(patch=1, patch_stride=1), context=12, channels=C).eval()
    x = torch.randn(B, 12, C)
    assert torch.equal(plain(x), patched(x))
    assert plain.token_spans() == [(i, i + 1) for i in range(12)]


# --- order inside and across patches -----------------------------------------------------------------


def test_without_positions_a_patched_encoder_is_equivariant_across_patches():
    """Permuting whole patches permutes the tokens' outputs the same way: attention still sees a set of tokens."""
    torch.manual_seed(0)
    encoder = TransformerEncoder(config(positional="none", patch=4), context=24, channels=C).eval()
    x = torch.randn(B, 24, C)
    order = torch.tensor([3, 0, 5, 1, 4, 2])  # a permutation of the 6 patches that moves the newest
    permuted = x.view(B, 6, 4, C)[:, order].reshape(B, 24, C)
    with torch.no_grad():
        assert torch.allclose(encoder(permuted), encoder(x)[:, order], atol=1e-5)


def test_without_positions_a_patched_encoder_still_sees_order_inside_a_patch():
    """Swapping two frames inside one patch changes that token: each frame has its own weights in the projection."""
    torch.manual_seed(0)
    encoder = TransformerEncoder(config(positional="none", patch=4), context=24, channels=C).eval()
    model = TransformerForecaster(config(positional="none", patch=4, readout="mean"), context=24, horizon=2, channels=C).eval()
    x = torch.randn(B, 24, C)
    swapped = x.clone()
    swapped[:, [8, 9]] = x[:, [9, 8]]  # frames 8 and 9 both lie in patch 2 (frames 8..11)
    with torch.no_grad():
        assert (encoder(swapped) - encoder(x)).abs().max() > 1e-3
        assert (model(swapped) - model(x)).abs().max() > 1e-4  # even a mean readout, blind to token order
        tokens = x.view(B, 6, 4, C)[:, torch.tensor([1, 0, 2, 3, 4, 5])].reshape(B, 24, C)
        assert torch.allclose(model(tokens), model(x), atol=1e-5)  # ... is blind to patch order


@pytest.mark.parametrize(("patch", "stride", "context"), [(4, None, 24), (6, None, 26), (8, 4, 24), (5, 2, 23)])
def test_last_token_shortcut_equals_the_full_encoder_output(patch, stride, context):
    torch.manual_seed(0)
    encoder = TransformerEncoder(config(patch=patch, patch_stride=stride, dropout=0.1), context=context, channels=C).eval()
    x = torch.randn(5, context, C)
    torch.testing.assert_close(encoder.last_frame(x), encoder(x)[:, -1], rtol=1e-5, atol=1e-6)


def test_the_newest_frame_reaches_the_forecast_and_unread_frames_do_not():
    torch.manual_seed(0)
    model = TransformerForecaster(config(patch=6), context=26, horizon=3, channels=C).eval()
    x = torch.randn(B, 26, C)
    changed_newest, changed_unread = x.clone(), x.clone()
    changed_newest[:, -1] += 1.0
    changed_unread[:, :2] += 1.0  # the two oldest frames belong to no token (26 = 4 * 6 + 2)
    with torch.no_grad():
        assert not torch.allclose(model(changed_newest), model(x))
        assert torch.equal(model(changed_unread), model(x))


# --- errors ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("overrides", "message"), [
    ({"patch": 0}, "patch=0 must be between 1 and context=12"),
    ({"patch": 13}, "patch=13 must be between 1 and context=12"),
    ({"patch": 4, "patch_stride": 0}, "patch_stride=0 must be between 1 and patch=4"),
    ({"patch": 4, "patch_stride": 5}, "patch_stride=5 must be between 1 and patch=4"),
])
def test_invalid_patches_are_refused_when_the_model_is_built(overrides, message):
    dims = ModelDims(context=12, horizon=1, channels=1, differenced=True, no_change=0.0)
    with pytest.raises(ValueError, match=message):
        build_model("transformer", config(**overrides), dims)


def test_an_invalid_patch_in_a_config_is_a_one_line_error_before_training(small_prices):
    raw = {"windows": {"context": 8}, "train": {"epochs": 1, "device": "cpu"},
           "models": [{"kind": "naive"}, {"kind": "transformer", "patch": 16}]}
    with pytest.raises(ForecasterError, match="model 'transformer': transformer patch=16 must be between 1 and context=8"):
        run_experiment(config_from_dict(raw), frame=small_prices)


# --- reuse: checkpoints, embeddings, figures ----------------------------------------------------------


def test_checkpoints_without_the_patch_keys_load_as_one_frame_per_token(small_prices):
    raw = {"windows": {"context": 8}, "train": {"epochs": 1, "batch_size": 64, "device": "cpu"},
           "models": [{"kind": "transformer", "d_model": 8, "n_heads": 2, "n_layers": 1, "d_ff": 16}]}
    result = run_experiment(config_from_dict(raw), frame=small_prices)
    payload = to_payload(result.checkpoint("transformer"))
    for key in ("patch", "patch_stride"):
        del payload["config"][key]  # as written before patches existed
    model = from_payload(payload, "old.pt").model()
    x = result.data.windows["test"].inputs[:4]
    assert torch.equal(model(x), result.runs["transformer"].model.eval()(x))


def test_a_patched_checkpoint_embeds_every_date_and_rebuilds_exactly(small_prices):
    raw = {"windows": {"context": 12}, "train": {"epochs": 1, "batch_size": 64, "device": "cpu"},
           "models": [{"kind": "transformer", "d_model": 8, "n_heads": 2, "n_layers": 1, "d_ff": 16, "patch": 4}]}
    result = run_experiment(config_from_dict(raw), frame=small_prices)
    checkpoint = result.checkpoint("transformer")
    model = checkpoint.model()
    x = result.data.windows["test"].inputs[:4]
    assert torch.equal(model(x), result.runs["transformer"].model.eval()(x))
    table = embed_series(model.encoder, checkpoint.pipeline, small_prices, context=checkpoint.dims.context)
    assert len(table) == len(small_prices) - 1 - 12 + 1  # one row per window end (log-returns lose a row)
    assert table.filter(regex=r"^e\d+$").shape[1] == 8


def test_attention_figure_labels_each_token_with_the_dates_it_covers():
    dates = pd.date_range("2024-01-01", periods=24, freq="h")
    maps = [np.full((2, 4, 4), 0.25)]
    figure = attention_figure(maps, dates, title="patched", spans=token_spans(24, 6))
    axes = figure.axes[0]
    labels = [label.get_text() for label in axes.get_xticklabels()]
    assert labels[0] == "2024-01-01 00:00 to 2024-01-01 05:00"
    assert axes.get_xlabel() == "key token"
    plain = attention_figure([np.full((2, 3, 3), 1 / 3)], pd.date_range("2024-01-01", periods=3, freq="D"), title="frames")
    assert plain.axes[0].get_xticklabels()[0].get_text() == "2024-01-01" and plain.axes[0].get_xlabel() == "key frame"



# --- the cost: bench rows for a patched transformer ---------------------------------------------------


def test_bench_adds_a_patched_transformer_and_its_time_against_the_unpatched_one():
    from forecaster.bench.measure import BenchConfig, run_bench
    from forecaster.bench.tables import patch_table, ratio_table
    from forecaster.output.tables import format_bench

    config = BenchConfig(contexts=(8, 16), kinds=("transformer",), reference=False, batch_size=8, d_model=8,
                         n_heads=2, d_ff=16, train_steps=1, warmup_steps=0, series_length=200, devices=("cpu",),
                         patch=16)
    frame = run_bench(config)
    assert list(zip(frame["model"], frame["context"])) == [("transformer", 8), ("transformer", 16), ("transformer_patch16", 16)]
    table = patch_table(frame, base_context=8)
    assert table[["model", "context", "base_context"]].values.tolist() == [["transformer_patch16", 16, 8]]
    speeds = frame.set_index(["model", "context"])["train_samples_per_s"]
    assert table["time_vs_base"].iloc[0] == pytest.approx(speeds["transformer", 8] / speeds["transformer_patch16", 16])
    assert table["time_vs_unpatched"].iloc[0] == pytest.approx(speeds["transformer", 16] / speeds["transformer_patch16", 16])
    assert "time_vs_base" in format_bench(frame, ratio_table(frame), patch_table(frame))
    with pytest.raises(ForecasterError, match="bench.patch=32 must be between 1 and the longest context, 16"):
        BenchConfig(contexts=(8, 16), patch=32)
