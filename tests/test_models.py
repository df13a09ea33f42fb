"""Tests for forecaster.models: the shared forward contract, gradients, determinism, attention and baselines."""

import dataclasses
import math

import pytest
import torch

from forecaster.models import (
    MODEL_KINDS,
    LinearConfig,
    MLPConfig,
    ModelDims,
    MultiHeadSelfAttention,
    NaiveConfig,
    RNNConfig,
    SeasonalNaiveConfig,
    TransformerConfig,
    TransformerEncoder,
    TransformerForecaster,
    build_model,
    count_parameters,
)

B, T, C, H = 4, 12, 2, 3
D_MODEL = 16
TRAINABLE_KINDS = [kind for kind, entry in MODEL_KINDS.items() if entry.trainable and not entry.needs_setup]
# The kinds that forecast from windows; the statistical ones forecast from whole histories (tests/test_statistical.py).
# Kinds a window builds alone: not the statistical ones (fitted per series) nor the pretrained one (its weights:
# tests/test_pretrained.py).
WINDOW_KINDS = [kind for kind, entry in MODEL_KINDS.items() if not entry.needs_setup]
# A fixed permutation of T=12 frames that moves every frame, the last one included.
PERM = torch.tensor([5, 0, 11, 3, 8, 1, 10, 2, 7, 4, 9, 6])


def small_config(kind: str, **overrides):
    """The kind's default config, shrunk to test size (d_model 16), with optional field overrides."""
    config = MODEL_KINDS[kind].config_class()
    sizes = {
        "mlp": {"hidden": (16, 16)},
        "rnn": {"hidden_size": 16},
        "transformer": {"d_model": D_MODEL, "n_heads": 4, "d_ff": 32},
    }.get(kind, {})
    return dataclasses.replace(config, **{**sizes, **overrides})


def dims(*, context=T, horizon=H, channels=C, differenced=False, no_change=0.0) -> ModelDims:
    return ModelDims(context=context, horizon=horizon, channels=channels, differenced=differenced, no_change=no_change)


def small_transformer_config(**overrides) -> TransformerConfig:
    return TransformerConfig(**{"d_model": D_MODEL, "n_heads": 4, "n_layers": 2, "d_ff": 32, "dropout": 0.0, **overrides})


# --- the forward contract of every kind -------------------------------------------------------


def test_registry_lists_the_documented_kinds():
    """The registry holds exactly the documented kinds, with naive and statistical ones marked untrainable."""
    assert set(MODEL_KINDS) == {"naive", "seasonal_naive", "linear", "mlp", "rnn", "transformer", "ets", "theta", "arima",
                                "pretrained"}
    assert set(TRAINABLE_KINDS) == {"linear", "mlp", "rnn", "transformer"}
    assert set(WINDOW_KINDS) == {"naive", "seasonal_naive", "linear", "mlp", "rnn", "transformer"}


@pytest.mark.parametrize("channels", [1, 2])
@pytest.mark.parametrize("horizon", [1, 3])
@pytest.mark.parametrize("kind", WINDOW_KINDS)
def test_forward_shape_is_batch_by_horizon_and_finite(kind, horizon, channels):
    """forward((B, T, C)) -> (B, H, K) with finite values, for every kind, horizon and channel count (K = 1)."""
    torch.manual_seed(0)
    model = build_model(kind, small_config(kind), dims(horizon=horizon, channels=channels))
    output = model(torch.randn(B, T, channels))
    assert output.shape == (B, horizon, 1)
    assert torch.isfinite(output).all()


@pytest.mark.parametrize("kind", TRAINABLE_KINDS)
def test_every_parameter_gets_a_finite_nonzero_gradient(kind):
    """A backward pass of output.sum() reaches every trainable parameter with a finite, non-zero gradient."""
    torch.manual_seed(0)
    overrides = {"dropout": 0.0} if kind in ("transformer", "mlp") else {}
    model = build_model(kind, small_config(kind, **overrides), dims()).train()
    model(torch.randn(B, T, C)).sum().backward()
    named = [(name, p) for name, p in model.named_parameters() if p.requires_grad]
    assert named, "a trainable kind must have parameters"
    for name, parameter in named:
        assert parameter.grad is not None, name
        assert torch.isfinite(parameter.grad).all(), name
        assert parameter.grad.abs().sum() > 0, name
    if kind == "transformer":
        # The learned positional table is a parameter and is trained like the rest.
        table = model.encoder.positional.table
        assert isinstance(table, torch.nn.Parameter)
        assert table.grad is not None and table.grad.abs().sum() > 0


@pytest.mark.parametrize("kind", WINDOW_KINDS)
def test_eval_mode_is_deterministic(kind):
    """Two eval-mode forward passes with default configs (dropout > 0 included) give identical outputs."""
    torch.manual_seed(0)
    model = build_model(kind, MODEL_KINDS[kind].config_class(), dims()).eval()
    x = torch.randn(B, T, C)
    with torch.no_grad():
        assert torch.equal(model(x), model(x))


@pytest.mark.parametrize("kind", ["mlp", "transformer"])
def test_default_dropout_makes_train_mode_stochastic(kind):
    """The default configs of mlp and transformer do use dropout, so the eval determinism test is not vacuous."""
    config = MODEL_KINDS[kind].config_class()
    assert config.dropout > 0
    torch.manual_seed(0)
    model = build_model(kind, config, dims()).train()
    x = torch.randn(B, T, C)
    with torch.no_grad():
        assert not torch.equal(model(x), model(x))


# --- self-attention: permutations ---------------------------------------------------------------


def test_self_attention_is_permutation_equivariant():
    """Permuting the frames into MultiHeadSelfAttention permutes its outputs the same way."""
    torch.manual_seed(0)
    attention = MultiHeadSelfAttention(d_model=D_MODEL, n_heads=4).eval()
    x = torch.randn(B, T, D_MODEL)
    with torch.no_grad():
        permuted_out, _ = attention(x[:, PERM])
        out, _ = attention(x)
    assert torch.allclose(permuted_out, out[:, PERM], atol=1e-5)


def test_encoder_without_positions_is_permutation_equivariant():
    """With positional='none' the whole encoder (attention, norms, feed-forward) is permutation-equivariant."""
    torch.manual_seed(0)
    encoder = TransformerEncoder(small_transformer_config(positional="none"), context=T, channels=C).eval()
    x = torch.randn(B, T, C)
    with torch.no_grad():
        assert torch.allclose(encoder(x[:, PERM]), encoder(x)[:, PERM], atol=1e-5)


@pytest.mark.parametrize("positional", ["learned", "sinusoidal"])
def test_encoder_with_positions_is_not_permutation_equivariant(positional):
    """A learned or sinusoidal positional encoding makes the encoder sensitive to frame order."""
    torch.manual_seed(0)
    encoder = TransformerEncoder(small_transformer_config(positional=positional), context=T, channels=C).eval()
    if positional == "learned":
        # The initial table is tiny (std 0.02); make it clearly non-zero so order visibly matters.
        with torch.no_grad():
            encoder.positional.table.copy_(torch.randn(T, D_MODEL))
    x = torch.randn(B, T, C)
    with torch.no_grad():
        difference = (encoder(x[:, PERM]) - encoder(x)[:, PERM]).abs().max()
    assert difference > 1e-3


def test_forecaster_without_positions_and_mean_readout_is_permutation_invariant():
    """positional='none' + readout='mean' sees the window as a set: shuffling frames leaves the forecast unchanged."""
    torch.manual_seed(0)
    model = TransformerForecaster(
        small_transformer_config(positional="none", readout="mean"), context=T, horizon=H, channels=C
    ).eval()
    x = torch.randn(B, T, C)
    with torch.no_grad():
        assert torch.allclose(model(x[:, PERM]), model(x), atol=1e-5)
        # Sanity check that the input actually changed: a permutation of distinct frames is another window.
        assert not torch.equal(x[:, PERM], x)


# --- self-attention: explicit weights vs fused path --------------------------------------------


def test_explicit_and_fused_attention_paths_agree():
    """need_weights=True (explicit softmax) and False (fused SDPA) compute the same output in eval mode."""
    torch.manual_seed(0)
    attention = MultiHeadSelfAttention(d_model=D_MODEL, n_heads=4, dropout=0.1).eval()
    x = torch.randn(B, T, D_MODEL)
    with torch.no_grad():
        explicit, weights = attention(x, need_weights=True)
        fused, no_weights = attention(x, need_weights=False)
    assert no_weights is None
    assert weights is not None
    assert torch.allclose(explicit, fused, atol=1e-5)


def test_attention_weights_are_row_stochastic_and_match_a_hand_computation():
    """Weights are (B, N, T, T) rows of softmax(Q_h K_h^T / sqrt(d_head)), recomputed here head by head."""
    torch.manual_seed(0)
    n_heads, d_head = 4, D_MODEL // 4
    attention = MultiHeadSelfAttention(d_model=D_MODEL, n_heads=n_heads).eval()
    x = torch.randn(B, T, D_MODEL)
    with torch.no_grad():
        out, weights = attention(x, need_weights=True)
        # The stacked projection holds W_Q, W_K, W_V (and their biases) one above the other.
        w_query, w_key, w_value = attention.qkv.weight.chunk(3, dim=0)
        b_query, b_key, b_value = attention.qkv.bias.chunk(3)
        queries = x @ w_query.T + b_query  # (B, T, D)
        keys = x @ w_key.T + b_key
        values = x @ w_value.T + b_value
        expected_weights, mixed = [], []
        for head in range(n_heads):
            cols = slice(head * d_head, (head + 1) * d_head)
            scores = queries[..., cols] @ keys[..., cols].transpose(1, 2) / math.sqrt(d_head)  # (B, T, T)
            head_weights = torch.softmax(scores, dim=-1)
            expected_weights.append(head_weights)
            mixed.append(head_weights @ values[..., cols])  # (B, T, d_head)
        expected_weights = torch.stack(expected_weights, dim=1)  # (B, N, T, T)
        expected_out = attention.output(torch.cat(mixed, dim=-1))

    assert weights.shape == (B, n_heads, T, T)
    assert (weights >= 0).all()
    assert torch.allclose(weights.sum(dim=-1), torch.ones(B, n_heads, T), atol=1e-6)
    assert torch.allclose(weights, expected_weights, atol=1e-6)
    assert torch.allclose(out, expected_out, atol=1e-5)


def test_encoder_forward_with_attention_returns_one_map_per_layer_and_same_embeddings():
    """forward_with_attention gives forward()'s embeddings plus one (B, N, T, T) weight tensor per layer."""
    torch.manual_seed(0)
    config = small_transformer_config(n_layers=3, dropout=0.1)
    encoder = TransformerEncoder(config, context=T, channels=C).eval()
    x = torch.randn(B, T, C)
    with torch.no_grad():
        embeddings, maps = encoder.forward_with_attention(x)
        plain = encoder(x)
        _, no_maps = encoder.forward_with_attention(x, need_weights=False)
    assert embeddings.shape == (B, T, D_MODEL)
    assert torch.allclose(embeddings, plain, atol=1e-5)
    assert len(maps) == 3
    for weights in maps:
        assert weights.shape == (B, 4, T, T)
        assert torch.allclose(weights.sum(dim=-1), torch.ones(B, 4, T), atol=1e-5)
    assert no_maps == []


def test_d_model_not_divisible_by_heads_raises():
    """d_model must split evenly into heads: a ValueError naming both, directly and through build_model."""
    with pytest.raises(ValueError, match="d_model=10.*n_heads=4"):
        MultiHeadSelfAttention(d_model=10, n_heads=4)
    with pytest.raises(ValueError):
        build_model("transformer", TransformerConfig(d_model=10, n_heads=4), dims())


# --- naive baselines ---------------------------------------------------------------------------


def test_naive_differenced_predicts_no_change_everywhere():
    """For a differenced target the random walk forecasts the scaled zero change at every step."""
    model = build_model("naive", NaiveConfig(), dims(differenced=True, no_change=0.25))
    output = model(torch.randn(B, T, C))
    assert output.shape == (B, H, 1)
    assert torch.equal(output, torch.full((B, H, 1), 0.25))


def test_naive_level_repeats_last_target_value():
    """For a level target the random walk repeats x[:, -1, 0] (the last target value) H times."""
    torch.manual_seed(0)
    model = build_model("naive", NaiveConfig(), dims(differenced=False))
    x = torch.randn(B, T, C)
    output = model(x)
    assert torch.equal(output[..., 0], x[:, -1, 0].unsqueeze(1).repeat(1, H))
    # Channel 1 is a feature, never the forecast.
    assert not torch.equal(output[:, 0, 0], x[:, -1, 1])


def test_seasonal_naive_one_step_repeats_value_one_period_back():
    """Seasonal naive with H=1 forecasts x[:, T-m, 0]."""
    torch.manual_seed(0)
    model = build_model("seasonal_naive", SeasonalNaiveConfig(period=5), dims(horizon=1))
    x = torch.randn(B, T, C)
    assert torch.equal(model(x), x[:, T - 5, 0][:, None, None])  # index 12 - 5 = 7; (B, H=1, K=1)


def test_seasonal_naive_horizon_longer_than_period_cycles_the_last_season():
    """Step k uses index T-1+k-m*ceil(k/m); for T=6, m=2, H=5 that is [4, 5, 4, 5, 4]."""
    # k=1: 5+1-2*1=4; k=2: 5+2-2*1=5; k=3: 5+3-2*2=4; k=4: 5+4-2*2=5; k=5: 5+5-2*3=4
    model = build_model("seasonal_naive", SeasonalNaiveConfig(period=2), dims(context=6, horizon=5))
    x = torch.arange(6.0).repeat(B, 1).unsqueeze(-1) * 10 + torch.arange(B).view(B, 1, 1)  # (B, 6, 1)
    x = torch.cat([x, -x], dim=-1)  # (B, 6, 2): channel 1 must be ignored
    assert torch.equal(model(x)[..., 0], x[:, [4, 5, 4, 5, 4], 0])


@pytest.mark.parametrize("period", [0, T + 1])
def test_seasonal_naive_period_outside_context_raises(period):
    """A period longer than the window (or below 1) cannot be looked up: ValueError."""
    with pytest.raises(ValueError, match=f"period={period}"):
        build_model("seasonal_naive", SeasonalNaiveConfig(period=period), dims())


@pytest.mark.parametrize("kind", ["naive", "seasonal_naive"])
def test_naive_models_have_no_trainable_parameters(kind):
    """Baselines have nothing to learn: count_parameters == 0."""
    assert count_parameters(build_model(kind, MODEL_KINDS[kind].config_class(), dims())) == 0


def test_count_parameters_of_linear_model():
    """count_parameters counts weights and biases: (T*C)*H + H for the linear model."""
    model = build_model("linear", LinearConfig(), dims())
    assert count_parameters(model) == T * C * H + H  # 24*3 + 3 = 75


# --- variants ------------------------------------------------------------------------------------


@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_rnn_cells_build_and_forward(cell):
    """Both recurrent cells give (B, H, K) outputs and build the matching torch module."""
    torch.manual_seed(0)
    model = build_model("rnn", RNNConfig(cell=cell, hidden_size=8, n_layers=2, dropout=0.1), dims())
    assert isinstance(model.recurrent, torch.nn.GRU if cell == "gru" else torch.nn.LSTM)
    output = model(torch.randn(B, T, C))
    assert output.shape == (B, H, 1) and torch.isfinite(output).all()


def test_mlp_without_hidden_layers_is_a_single_linear_map():
    """MLP hidden=() builds just the output layer: (T*C)*H + H parameters, (B, H, K) output."""
    torch.manual_seed(0)
    model = build_model("mlp", MLPConfig(hidden=()), dims())
    assert count_parameters(model) == T * C * H + H
    output = model(torch.randn(B, T, C))
    assert output.shape == (B, H, 1) and torch.isfinite(output).all()


@pytest.mark.parametrize("n_layers", [1, 3])
def test_last_frame_shortcut_equals_the_full_encoder_output(n_layers):
    """``encoder.last_frame`` (one query in the last block) gives forward(x)[:, -1], which the head reads."""
    torch.manual_seed(0)
    config = TransformerConfig(d_model=16, n_heads=4, n_layers=n_layers, d_ff=32, dropout=0.1)
    encoder = TransformerEncoder(config, context=12, channels=2).eval()
    x = torch.randn(5, 12, 2)
    torch.testing.assert_close(encoder.last_frame(x), encoder(x)[:, -1], rtol=1e-5, atol=1e-6)
    forecaster = TransformerForecaster(config, context=12, horizon=3, channels=2).eval()
    torch.testing.assert_close(forecaster(x)[..., 0], forecaster.head(forecaster.encoder(x)[:, -1]), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("kind", ["linear", "mlp", "rnn", "transformer"])
def test_instance_norm_makes_forecasts_follow_an_affine_change_of_the_level(kind):
    """With RevIN (instance_norm) a window scaled by a and shifted by b gets forecasts a*f(x) + b."""
    torch.manual_seed(0)
    config = MODEL_KINDS[kind].config_class(instance_norm=True)
    model = build_model(kind, config, ModelDims(context=12, horizon=3, channels=1, differenced=False, no_change=0.0)).eval()
    x = torch.randn(4, 12, 1)
    torch.testing.assert_close(model(5.0 * x + 100.0), 5.0 * model(x) + 100.0, rtol=1e-4, atol=1e-3)
    plain = build_model(kind, MODEL_KINDS[kind].config_class(), ModelDims(12, 3, 1, False, 0.0)).eval()
    assert not torch.allclose(plain(5.0 * x + 100.0), 5.0 * plain(x) + 100.0, atol=1e-2)  # without it: no such law
    model.train()
    model(x).sum().backward()
    assert model.instance_norm.weight.grad is not None and model.instance_norm.bias.grad is not None
