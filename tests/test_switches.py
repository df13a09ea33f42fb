"""Tests for the transformer's ablation switches: each one changes what it claims, and the defaults change nothing."""

import itertools
import math

import pytest
import torch

from forecaster.checkpoint import Checkpoint, from_payload, to_payload
from forecaster.errors import ForecasterError
from forecaster.mappings import from_mapping
from forecaster.models import (
    ModelDims,
    MultiHeadSelfAttention,
    TransformerConfig,
    TransformerEncoder,
    TransformerForecaster,
    count_parameters,
)
from forecaster.models.blocks import EncoderBlock
from forecaster.models.tokens import concat_width

B, T, C, H, D = 4, 12, 2, 3, 16
SWITCHES = ("positional_combine", "shared_qkv", "attention_scale", "mask_diagonal", "residual")


def config(**overrides) -> TransformerConfig:
    return TransformerConfig(**{"d_model": D, "n_heads": 4, "n_layers": 2, "d_ff": 32, "dropout": 0.0, **overrides})


def by_hand(x: torch.Tensor, attention: MultiHeadSelfAttention, *, scale: bool, shared: bool, mask: bool):
    """softmax(Q K^T [/ sqrt(d_k)]) V head by head, from the module's own weights: (output, weights)."""
    d_head = attention.d_head
    if shared:
        queries = keys = values = x @ attention.qkv.weight.T + attention.qkv.bias  # (B, T, D), one W for all three
    else:
        w_q, w_k, w_v = attention.qkv.weight.chunk(3, dim=0)
        b_q, b_k, b_v = attention.qkv.bias.chunk(3)
        queries, keys, values = x @ w_q.T + b_q, x @ w_k.T + b_k, x @ w_v.T + b_v
    all_weights, mixed = [], []
    for head in range(attention.n_heads):
        cols = slice(head * d_head, (head + 1) * d_head)
        scores = queries[..., cols] @ keys[..., cols].transpose(1, 2)  # (B, T, T)
        if scale:
            scores = scores / math.sqrt(d_head)
        if mask:
            scores = scores.masked_fill(torch.eye(x.shape[1], dtype=torch.bool), float("-inf"))
        weights = torch.softmax(scores, dim=-1)
        all_weights.append(weights)
        mixed.append(weights @ values[..., cols])
    return attention.output(torch.cat(mixed, dim=-1)), torch.stack(all_weights, dim=1)


# --- the defaults are today's standard transformer ---------------------------------------------


def test_default_switches_are_the_standard_transformer():
    """Add the position, separate Q/K/V, scale by sqrt(d_k), attend to oneself, residuals on."""
    defaults = TransformerConfig()
    assert (defaults.positional_combine, defaults.shared_qkv, defaults.attention_scale,
            defaults.mask_diagonal, defaults.residual) == ("add", False, True, False, True)


def test_defaults_reproduce_the_model_from_before_the_switches():
    """Same seed, same weights, same outputs, same state-dict keys and size as the model before the switches.

    The expected values were printed by the code of the commit before the switches were added (where
    they were bit-for-bit equal); the tolerance only allows for another CPU's rounding.
    """
    torch.manual_seed(0)
    model = TransformerForecaster(TransformerConfig(d_model=16, n_heads=4, n_layers=2, d_ff=32),
                                  context=12, horizon=3, channels=2).eval()
    x = torch.randn(2, 12, 2)
    expected = torch.tensor([[0.4393603503704071, -0.46587318181991577, -1.0651700496673584],
                             [-0.7415115237236023, -0.056080788373947144, -0.2878727316856384]])
    with torch.no_grad():
        torch.testing.assert_close(model(x)[..., 0], expected, rtol=0, atol=2e-6)
    assert count_parameters(model) == 4771
    block_keys = ["attention_norm.weight", "attention_norm.bias", "attention.qkv.weight", "attention.qkv.bias",
                  "attention.output.weight", "attention.output.bias", "feed_forward_norm.weight", "feed_forward_norm.bias",
                  "feed_forward.0.weight", "feed_forward.0.bias", "feed_forward.2.weight", "feed_forward.2.bias"]
    assert list(model.state_dict()) == [
        "encoder.embedding.projection.weight", "encoder.embedding.projection.bias", "encoder.positional.table",
        *[f"encoder.blocks.{layer}.{key}" for layer in (0, 1) for key in block_keys],
        "encoder.norm.weight", "encoder.norm.bias", "head.weight", "head.bias",
    ]


def test_a_checkpoint_saved_before_the_switches_loads_with_their_defaults():
    """A payload whose config lacks the switch keys (an older checkpoint) rebuilds the same model."""
    torch.manual_seed(0)
    dims = ModelDims(context=T, horizon=H, channels=C, differenced=True, no_change=0.0)
    model = TransformerForecaster(config(), context=T, horizon=H, channels=C).eval()
    payload = to_payload(Checkpoint.from_model(model, name="transformer", kind="transformer", config=config(), dims=dims,
                                               columns=("a", "b"), transform="diff", offset=[0.0, 0.0], scale=[1.0, 1.0]))
    for key in SWITCHES:
        del payload["config"][key]
    rebuilt = from_payload(payload, "old.pt").model()
    x = torch.randn(B, T, C)
    with torch.no_grad():
        assert torch.equal(rebuilt(x), model(x))


# --- each switch does what it claims --------------------------------------------------------------


def test_masked_diagonal_gives_each_frame_zero_weight_on_itself():
    """With mask_diagonal a frame's weight on itself is exactly 0, rows still sum to 1, and it matches a hand computation."""
    torch.manual_seed(0)
    attention = MultiHeadSelfAttention(d_model=D, n_heads=4, mask_diagonal=True).eval()
    x = torch.randn(B, T, D)
    with torch.no_grad():
        out, weights = attention(x, need_weights=True)
        expected_out, expected_weights = by_hand(x, attention, scale=True, shared=False, mask=True)
    assert torch.equal(torch.diagonal(weights, dim1=-2, dim2=-1), torch.zeros(B, 4, T))
    torch.testing.assert_close(weights.sum(dim=-1), torch.ones(B, 4, T))
    torch.testing.assert_close(weights, expected_weights)
    torch.testing.assert_close(out, expected_out)
    unmasked = MultiHeadSelfAttention(d_model=D, n_heads=4).eval()
    unmasked.load_state_dict(attention.state_dict())
    with torch.no_grad():
        _, plain_weights = unmasked(x, need_weights=True)
    assert (torch.diagonal(plain_weights, dim1=-2, dim2=-1) > 0).all()  # without the mask a frame sees itself


def test_masked_diagonal_in_the_encoder_and_with_the_last_query_alone():
    """Every layer's map has a zero diagonal; the newest frame's shortcut masks the newest key."""
    torch.manual_seed(0)
    encoder = TransformerEncoder(config(mask_diagonal=True), context=T, channels=C).eval()
    x = torch.randn(B, T, C)
    with torch.no_grad():
        embeddings, maps = encoder.forward_with_attention(x)
        attention = encoder.blocks[0].attention
        tokens = torch.randn(B, T, D)
        _, last_weights = attention(tokens, need_weights=True, last_query_only=True)  # (B, N, 1, T)
        torch.testing.assert_close(encoder.last_frame(x), embeddings[:, -1])
    for weights in maps:
        assert torch.equal(torch.diagonal(weights, dim1=-2, dim2=-1), torch.zeros(B, 4, T))
    assert torch.equal(last_weights[..., -1], torch.zeros(B, 4, 1))
    assert (last_weights[..., :-1] > 0).all()


def test_without_residuals_the_block_output_is_f_of_x_not_x_plus_f_of_x():
    """residual=False: out = ff(norm(a)) with a = attention(norm(x)); residual=True: h = x + a, out = h + ff(norm(h))."""
    torch.manual_seed(0)
    plain = EncoderBlock(d_model=D, n_heads=4, d_ff=32, dropout=0.0, residual=False).eval()
    standard = EncoderBlock(d_model=D, n_heads=4, d_ff=32, dropout=0.0).eval()
    standard.load_state_dict(plain.state_dict())  # the same weights: only the identity paths differ
    x = torch.randn(B, T, D)
    with torch.no_grad():
        attended, _ = plain.attention(plain.attention_norm(x))
        without = plain.feed_forward(plain.feed_forward_norm(attended))
        halfway = x + attended
        with_residual = halfway + plain.feed_forward(plain.feed_forward_norm(halfway))
        out_plain, _ = plain(x)
        out_standard, _ = standard(x)
        last_plain, _ = plain(x, last_frame_only=True)
    torch.testing.assert_close(out_plain, without)
    torch.testing.assert_close(out_standard, with_residual)
    assert not torch.allclose(out_plain, with_residual, atol=1e-3)
    assert not torch.allclose(out_plain - x, without, atol=1e-3)  # x is not in the output at all
    torch.testing.assert_close(last_plain, out_plain[:, -1:])


def test_shared_projections_use_the_same_weights_for_query_key_and_value():
    """shared_qkv: one D x D projection W; Q = K = V = W x + b, so the scores are symmetric."""
    torch.manual_seed(0)
    shared = MultiHeadSelfAttention(d_model=D, n_heads=4, shared_qkv=True).eval()
    separate = MultiHeadSelfAttention(d_model=D, n_heads=4).eval()
    assert shared.qkv.weight.shape == (D, D) and separate.qkv.weight.shape == (3 * D, D)
    assert count_parameters(separate) - count_parameters(shared) == 2 * D * D + 2 * D
    x = torch.randn(B, T, D)
    with torch.no_grad():
        out, weights = shared(x, need_weights=True)
        expected_out, expected_weights = by_hand(x, shared, scale=True, shared=True, mask=False)
        # Symmetric scores: the pre-softmax logits q_i . k_j equal q_j . k_i.
        projected = shared._split_heads(shared.qkv(x))  # (B, N, T, D/N)
        scores = projected @ projected.transpose(-2, -1)
    torch.testing.assert_close(weights, expected_weights)
    torch.testing.assert_close(out, expected_out)
    torch.testing.assert_close(scores, scores.transpose(-2, -1))


def test_scale_off_equals_softmax_of_qk_times_v_by_hand():
    """attention_scale=False computes softmax(Q K^T) V, without dividing by sqrt(d_k), on both paths."""
    torch.manual_seed(0)
    attention = MultiHeadSelfAttention(d_model=D, n_heads=2, scale=False).eval()
    x = torch.randn(B, T, D)
    with torch.no_grad():
        explicit, weights = attention(x, need_weights=True)
        fused, _ = attention(x)
        expected_out, expected_weights = by_hand(x, attention, scale=False, shared=False, mask=False)
        _, scaled_weights = by_hand(x, attention, scale=True, shared=False, mask=False)
    torch.testing.assert_close(weights, expected_weights)
    torch.testing.assert_close(explicit, expected_out)
    torch.testing.assert_close(fused, expected_out)
    assert not torch.allclose(weights, scaled_weights, atol=1e-3)  # the scale did change something


@pytest.mark.parametrize("positional", ["learned", "sinusoidal"])
def test_concatenated_position_keeps_the_width_and_is_exactly_the_table(positional):
    """concat: tokens are [frame projection (D - P) | position table row (P)], D wide; add: D wide, summed."""
    torch.manual_seed(0)
    encoder = TransformerEncoder(config(positional=positional, positional_combine="concat"), context=T, channels=C)
    width = concat_width(D)
    assert width == D // 4
    x = torch.randn(B, T, C)
    with torch.no_grad():
        tokens = encoder.positional(encoder.embedding(x))  # (B, T, D)
        frames = encoder.embedding.projection(x)  # (B, T, D - P)
    assert tokens.shape == (B, T, D)
    assert encoder.positional.table.shape == (T, width)
    assert torch.equal(tokens[..., D - width :], encoder.positional.table.expand(B, T, width))
    assert torch.equal(tokens[..., : D - width], frames)
    assert encoder(x).shape == (B, T, D)


def test_concatenated_learned_positions_are_trained():
    """The learned position columns get a gradient like the rest, and every parameter does."""
    torch.manual_seed(0)
    model = TransformerForecaster(config(positional_combine="concat"), context=T, horizon=H, channels=C).train()
    model(torch.randn(B, T, C)).sum().backward()
    for name, parameter in model.named_parameters():
        assert parameter.grad is not None and parameter.grad.abs().sum() > 0, name


# --- the fast path equals the explicit path, for every combination -----------------------------


@pytest.mark.parametrize(
    "combine, shared_qkv, scale, mask_diagonal, residual",
    list(itertools.product(["add", "concat"], [False, True], [True, False], [False, True], [True, False])),
)
def test_fused_path_equals_explicit_path_for_every_switch_combination(combine, shared_qkv, scale, mask_diagonal, residual):
    """SDPA (no weights) and the explicit softmax path give the same embeddings; so does the last-frame shortcut."""
    torch.manual_seed(0)
    switches = {"positional_combine": combine, "shared_qkv": shared_qkv, "attention_scale": scale,
                "mask_diagonal": mask_diagonal, "residual": residual}
    encoder = TransformerEncoder(config(**switches, dropout=0.1), context=T, channels=C).eval()
    x = torch.randn(B, T, C)
    with torch.no_grad():
        explicit, maps = encoder.forward_with_attention(x, need_weights=True)
        fused = encoder(x)
        last = encoder.last_frame(x)
    assert len(maps) == 2
    torch.testing.assert_close(fused, explicit, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(last, explicit[:, -1], rtol=1e-5, atol=1e-5)


# --- invalid values -------------------------------------------------------------------------------


@pytest.mark.parametrize("overrides, context, message", [
    ({"positional_combine": "stack"}, T, r"positional_combine='stack' is not one of 'add', 'concat'"),
    ({"positional_combine": "concat", "positional": "none"}, T, r"positional='none' has none"),
    ({"positional_combine": "concat", "d_model": 1, "n_heads": 1}, T, r"needs d_model >= 2"),
    ({"shared_qkv": "yes"}, T, r"shared_qkv='yes' must be true or false"),
    ({"residual": 1}, T, r"residual=1 must be true or false"),
    ({"mask_diagonal": True}, 1, r"mask_diagonal needs at least 2 tokens per window.*got 1"),
    ({"mask_diagonal": True, "patch": 8}, 12, r"mask_diagonal needs at least 2 tokens per window.*got 1"),
])
def test_invalid_switch_values_are_one_line_errors(overrides, context, message):
    """A switch set to something it cannot be is a ValueError naming the value and what is valid."""
    with pytest.raises(ValueError, match=message):
        TransformerForecaster(config(**overrides), context=context, horizon=H, channels=C)


def test_yaml_switches_are_checked_by_the_config_reader():
    """From a config file: a bad choice lists the valid ones, a misspelt switch lists the valid keys."""
    built = from_mapping(TransformerConfig, {"positional_combine": "concat", "residual": False}, "models.transformer")
    assert [getattr(built, name) for name in SWITCHES] == ["concat", False, True, False, False]
    with pytest.raises(ForecasterError, match="choose one of: add, concat"):
        from_mapping(TransformerConfig, {"positional_combine": "stacked"}, "models.transformer")
    with pytest.raises(ForecasterError, match="should be of type bool"):
        from_mapping(TransformerConfig, {"shared_qkv": "no"}, "models.transformer")
    with pytest.raises(ForecasterError, match="unknown key models.transformer.residuals; valid keys.*residual"):
        from_mapping(TransformerConfig, {"residuals": False}, "models.transformer")


def test_switches_combine_with_patches():
    """Concatenated positions, shared projections and a masked diagonal work per token with patches too."""
    model = TransformerForecaster(
        config(positional_combine="concat", shared_qkv=True, mask_diagonal=True, patch=4, patch_stride=2),
        context=12, horizon=H, channels=C,
    )
    x = torch.randn(3, 12, C)
    assert model(x).shape == (3, H, 1)
    _, maps = model.encoder.forward_with_attention(x)
    tokens = len(model.encoder.token_spans())
    assert maps[0].shape[-2:] == (tokens, tokens)
    assert torch.all(maps[0].diagonal(dim1=-2, dim2=-1) == 0)  # no token attends to itself
