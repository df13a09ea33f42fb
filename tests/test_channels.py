"""Forecasting every channel: the ``channels`` modes of each neural kind, the flatten readout, the naive forecasts at K=3."""

import dataclasses

import pytest
import torch

from forecaster.models import (
    MODEL_KINDS,
    ModelDims,
    NaiveConfig,
    PointHead,
    QuantileHead,
    SeasonalNaiveConfig,
    TransformerConfig,
    TransformerForecaster,
    build_model,
)
from forecaster.models.transformer import attention_maps
from forecaster.models.variates import VariateEncoder

B, T, K, H = 4, 12, 3, 2
QUANTILES = (0.1, 0.5, 0.9)
SIZES = {
    "linear": {},
    "mlp": {"hidden": (8, 8), "dropout": 0.0},
    "rnn": {"hidden_size": 8},
    "transformer": {"d_model": 16, "n_heads": 4, "n_layers": 2, "d_ff": 32, "dropout": 0.0},
}
MODES = {
    "linear": ("mixed", "independent", "individual"),
    "mlp": ("mixed", "independent", "individual"),
    "rnn": ("mixed", "independent"),
    "transformer": ("mixed", "independent", "variates"),
}
CASES = [(kind, mode) for kind, modes in MODES.items() for mode in modes]
OWN_HISTORY = [(kind, mode) for kind, mode in CASES if mode in ("independent", "individual")]


def config(kind: str, **overrides):
    return MODEL_KINDS[kind].config_class(**{**SIZES[kind], **overrides})


def dims(*, channels=K, targets=K, quantiles=(), horizon=H) -> ModelDims:
    return ModelDims(context=T, horizon=horizon, channels=channels, differenced=False, no_change=0.0, targets=targets,
                     head=QuantileHead(quantiles) if quantiles else PointHead())


def seeded(kind: str, model_config, model_dims: ModelDims):
    torch.manual_seed(0)
    return build_model(kind, model_config, model_dims).eval()


@pytest.mark.parametrize("instance_norm", [False, True])
@pytest.mark.parametrize(("kind", "mode"), CASES)
def test_every_mode_forecasts_every_target_channel(kind, mode, instance_norm):
    """(B, H, K) for K=3 targets, finite, with and without instance norm; (B, H, K, Q) with a quantile head."""
    model_config = config(kind, channels=mode, instance_norm=instance_norm)
    past = torch.randn(B, T, K)
    assert seeded(kind, model_config, dims())(past).shape == (B, H, K)
    quantiles = seeded(kind, model_config, dims(quantiles=QUANTILES))(past)
    assert quantiles.shape == (B, H, K, len(QUANTILES)) and torch.isfinite(quantiles).all()


@pytest.mark.parametrize("patch", [1, 4])
@pytest.mark.parametrize("mode", ["mixed", "independent"])
def test_flatten_readout_reads_every_token(mode, patch):
    """readout: flatten puts P*D values into the head; every token (the oldest one too) reaches the forecast."""
    model = seeded("transformer", config("transformer", channels=mode, readout="flatten", patch=patch), dims())
    tokens = T // patch
    assert model.head.in_features == tokens * 16
    past = torch.randn(B, T, K, requires_grad=True)
    output = model(past)
    assert output.shape == (B, H, K)
    output.sum().backward()
    assert (past.grad[:, 0].abs() > 0).all()  # the oldest frame of every channel is read
    quantiles = seeded("transformer", config("transformer", channels=mode, readout="flatten", patch=patch),
                       dims(quantiles=QUANTILES))(past)
    assert quantiles.shape == (B, H, K, len(QUANTILES))


@pytest.mark.parametrize(("kind", "mode"), OWN_HISTORY)
def test_each_target_is_forecast_from_its_own_channel_alone(kind, mode):
    """The gradient of output[..., k] with respect to the inputs is zero on every channel but k."""
    model = seeded(kind, config(kind, channels=mode, instance_norm=True), dims())
    past = torch.randn(B, T, K, requires_grad=True)
    output = model(past)
    for k in range(K):
        (gradient,) = torch.autograd.grad(output[..., k].sum(), past, retain_graph=True)
        others = [j for j in range(K) if j != k]
        assert torch.equal(gradient[..., others], torch.zeros_like(gradient[..., others])), (kind, mode, k)
        assert gradient[..., k].abs().sum() > 0


@pytest.mark.parametrize(("kind", "mode"), [(kind, mode) for kind, mode in OWN_HISTORY if mode == "independent"])
def test_independent_mode_is_one_univariate_model_run_on_each_channel(kind, mode):
    """Channel k's forecast equals the same weights run on channel k alone, as a 1-target model."""
    several = seeded(kind, config(kind, channels=mode), dims())
    alone = build_model(kind, config(kind, channels=mode), dims(channels=1, targets=1)).eval()
    alone.load_state_dict(several.state_dict())  # one shared map: the same weights whatever K is
    past = torch.randn(B, T, K)
    output = several(past)
    for k in range(K):
        torch.testing.assert_close(output[..., k : k + 1], alone(past[..., k : k + 1]), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("kind", ["linear", "mlp"])
def test_individual_mode_gives_each_channel_its_own_map(kind):
    """The same history on two channels gives two different forecasts: each channel has its own weights."""
    model = seeded(kind, config(kind, channels="individual"), dims())
    series = torch.randn(B, T, 1)
    output = model(series.expand(B, T, K))
    assert not torch.allclose(output[..., 0], output[..., 1])
    assert not torch.allclose(output[..., 1], output[..., 2])
    shared = seeded(kind, config(kind, channels="independent"), dims())(series.expand(B, T, K))
    torch.testing.assert_close(shared[..., 0], shared[..., 1])  # independent: one map, the same forecast


def test_variates_mode_is_equivariant_to_a_permutation_of_the_channels():
    """With C = K, permuting the input channels permutes the output channels the same way (eval mode)."""
    model = seeded("transformer", config("transformer", channels="variates", instance_norm=True), dims())
    past = torch.randn(B, T, K)
    order = torch.tensor([2, 0, 1])
    torch.testing.assert_close(model(past[..., order]), model(past)[..., order], rtol=1e-5, atol=1e-6)


def test_variates_mode_reads_feature_channels_and_forecasts_the_targets():
    """C > K is fine for variates: the features are tokens too; only the K target tokens are forecast."""
    model = seeded("transformer", config("transformer", channels="variates"), dims(channels=5, targets=2))
    past = torch.randn(B, T, 5, requires_grad=True)
    output = model(past)
    assert output.shape == (B, H, 2)
    output.sum().backward()
    assert past.grad[..., 4].abs().sum() > 0  # a feature channel reaches the forecast through attention
    assert isinstance(model.encoder, VariateEncoder)


def test_attention_maps_per_channel_mode():
    """mixed: (B, N, T, T); independent: one map per channel's sequence (B*K, N, T, T); variates: (B, N, C, C)."""
    past = torch.randn(B, T, K)
    for mode, shape, spans in [("mixed", (B, 4, T, T), None), ("independent", (B * K, 4, T, T), None),
                               ("variates", (B, 4, K, K), [(0, T)] * K)]:
        model = seeded("transformer", config("transformer", channels=mode), dims(quantiles=QUANTILES))
        maps, token_spans = MODEL_KINDS["transformer"].attention(model, past)
        assert len(maps) == 2 and all(weights.shape == shape for weights in maps), mode
        assert token_spans == spans
    independent = seeded("transformer", config("transformer", channels="independent"), dims())
    maps, _ = attention_maps(independent, past)
    alone, _ = attention_maps(independent, past[..., 1:2])
    torch.testing.assert_close(maps[0][1::K], alone[0])  # channel 1 of window b at b*K + 1


@pytest.mark.parametrize(("kind", "mode"), OWN_HISTORY)
def test_own_history_modes_refuse_feature_channels_in_one_line(kind, mode):
    with pytest.raises(ValueError, match=rf"channels='{mode}' .* would ignore the 2 feature channel\(s\); use "
                                         "channels: mixed") as error:
        build_model(kind, config(kind, channels=mode), dims(channels=4, targets=2))
    assert "\n" not in str(error.value)


@pytest.mark.parametrize(("changes", "named"), [
    ({"channels": "variates", "readout": "mean"}, "readout='mean' does not apply"),
    ({"channels": "variates", "readout": "flatten"}, "readout='flatten' does not apply"),
    ({"channels": "variates", "patch": 4}, "patch=4 does not apply"),
    ({"channels": "rows"}, "channels='rows' is not one of"),
    ({"readout": "max"}, "readout='max' is not one of 'last', 'mean', 'flatten'"),
])
def test_transformer_refuses_settings_its_channel_mode_cannot_read(changes, named):
    with pytest.raises(ValueError, match=named):
        build_model("transformer", config("transformer", **changes), dims())


def test_a_reused_encoder_must_fit_the_channel_mode():
    """Transfer and probes pass ``encoder=``: a 1-channel encoder serves independent mode, not mixed at K=3."""
    independent = config("transformer", channels="independent")
    source = seeded("transformer", independent, dims())
    assert source.encoder.channels == 1
    probe = TransformerForecaster(independent, context=T, horizon=5, channels=K, targets=K, encoder=source.encoder)
    assert probe(torch.randn(B, T, K)).shape == (B, 5, K)
    with pytest.raises(ValueError, match=r"needs 3 channel\(s\) and 12 frames, from a frame encoder"):
        TransformerForecaster(config("transformer"), context=T, horizon=5, channels=K, targets=K, encoder=source.encoder)
    variates = seeded("transformer", config("transformer", channels="variates"), dims())
    with pytest.raises(ValueError, match="given channel-token encoder"):
        TransformerForecaster(independent, context=T, horizon=5, channels=K, targets=K, encoder=variates.encoder)


def test_mixed_is_the_default_and_keeps_its_parameters():
    """Old configs and checkpoints: channels defaults to mixed, with the parameter names and shapes of before."""
    for kind in MODES:
        assert MODEL_KINDS[kind].config_class().channels == "mixed"
    model = build_model("transformer", TransformerConfig(), dims())
    names = [name for name, _ in model.named_parameters()]
    assert names[0] == "encoder.embedding.projection.weight" and names[-2:] == ["head.weight", "head.bias"]
    assert model.head.weight.shape == (H * K, 32)


@pytest.mark.parametrize("differenced", [False, True])
def test_naive_forecasts_every_target_channel(differenced):
    """Naive and seasonal naive already forecast per channel: at K=3 each target repeats its own values."""
    model_dims = dataclasses.replace(dims(channels=4), differenced=differenced, no_change=0.5)
    past = torch.arange(B * T * 4, dtype=torch.float32).reshape(B, T, 4)  # every value different
    naive = build_model("naive", NaiveConfig(), model_dims)(past)
    expected = torch.full((B, H, K), 0.5) if differenced else past[:, -1:, :K].expand(B, H, K)
    assert torch.equal(naive, expected)
    seasonal = build_model("seasonal_naive", SeasonalNaiveConfig(period=5), model_dims)(past)
    assert seasonal.shape == (B, H, K)
    assert torch.equal(seasonal, past[:, [T - 5, T - 4], :K])  # step 1 and 2: one period back, channel by channel


def test_attention_figure_names_channel_tokens():
    """A variates map's axes name channels: every token spans the whole window, so dates would say nothing."""
    import pandas as pd

    from forecaster.output.plots import _token_labels

    dates = pd.date_range("2024-01-01", periods=T, freq="D")
    assert _token_labels(dates, [(0, T)] * K) == ["channel 0", "channel 1", "channel 2"]
    assert _token_labels(dates, [(0, 6), (6, 12)])[1] == "2024-01-07 to 2024-01-12"
