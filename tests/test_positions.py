"""Relative positions inside attention: rotary (RoPE, Su et al. 2021) and ALiBi (Press et al. 2022).

RoPE rotates queries and keys so that a score depends on the offset between two tokens, not on where
they sit; ALiBi subtracts slope_h * |m - n| from head h's scores. Neither adds a table to the tokens
nor a parameter to the model.
"""

import itertools

import pytest
import torch

from forecaster.checkpoint import Checkpoint, from_payload, load_model, save_checkpoint, to_payload
from forecaster.config import config_from_dict
from forecaster.errors import ForecasterError
from forecaster.models import (
    ModelDims,
    MultiHeadSelfAttention,
    TransformerConfig,
    TransformerEncoder,
    TransformerForecaster,
    build_model,
    count_parameters,
)
from forecaster.models.attention import alibi_bias, alibi_slopes, rotate
from forecaster.models.transformer import attention_maps

B, T, C, H, D, N = 3, 12, 2, 4, 16, 4
RELATIVE = ("rotary", "alibi")


def config(**overrides) -> TransformerConfig:
    return TransformerConfig(**{"d_model": D, "n_heads": N, "n_layers": 2, "d_ff": 32, "dropout": 0.0, **overrides})


def attention(position: str, **switches) -> MultiHeadSelfAttention:
    torch.manual_seed(0)
    return MultiHeadSelfAttention(d_model=D, n_heads=N, position=position, **switches).eval()


def log_ratios(weights: torch.Tensor) -> torch.Tensor:
    """log w[m, n] - log w[m, m]: the scores up to each row's softmax constant, (..., Tq, T)."""
    logs = weights.log()
    return logs - logs.diagonal(dim1=-2, dim2=-1).unsqueeze(-1)


# --- shapes -------------------------------------------------------------------------------------


@pytest.mark.parametrize("positional", RELATIVE)
@pytest.mark.parametrize("overrides", [{}, {"readout": "mean"}, {"readout": "flatten"}, {"patch": 4, "patch_stride": 2},
                                       {"channels": "independent"}, {"instance_norm": True}])
def test_forecasters_with_relative_positions_have_the_usual_shapes(positional, overrides):
    model = TransformerForecaster(config(positional=positional, **overrides), context=T, horizon=H, channels=C, targets=C)
    assert model(torch.randn(B, T, C)).shape == (B, H, C)
    maps, _ = attention_maps(model, torch.randn(B, T, C))
    tokens = 5 if "patch" in overrides else T
    rows = B * C if overrides.get("channels") == "independent" else B
    assert len(maps) == 2 and maps[0].shape == (rows, N, tokens, tokens)


@pytest.mark.parametrize("positional", RELATIVE)
def test_relative_positions_add_no_table_and_no_parameter(positional):
    torch.manual_seed(0)
    model = TransformerForecaster(config(positional=positional), context=T, horizon=H, channels=C)
    plain = TransformerForecaster(config(positional="none"), context=T, horizon=H, channels=C)
    assert model.encoder.positional.table is None
    assert model.state_dict().keys() == plain.state_dict().keys()
    assert count_parameters(model) == count_parameters(plain)


# --- rotary ---------------------------------------------------------------------------------------


def test_rotated_scores_depend_on_the_offset_only():
    """q at m and k at n, rotated: q_m . k_n is the same for every pair with the same m - n."""
    torch.manual_seed(0)
    q, k = torch.randn(8), torch.randn(8)
    positions = torch.arange(20)
    rotated_q = rotate(q.expand(20, 8), positions)  # the same content at every position
    rotated_k = rotate(k.expand(20, 8), positions)
    scores = rotated_q @ rotated_k.T  # (20, 20)
    for m, n, shift in [(3, 7, 5), (10, 2, 7), (0, 0, 19), (4, 12, 3)]:
        torch.testing.assert_close(scores[m + shift, n + shift], scores[m, n])
    assert not torch.allclose(scores[0, 1], scores[0, 5])  # different offsets, different scores
    torch.testing.assert_close(scores[5, 5], q @ k)  # offset 0: the unrotated score


def test_rotation_preserves_norms_and_leaves_position_zero_alone():
    torch.manual_seed(0)
    x = torch.randn(2, 3, 10, 8)
    rotated = rotate(x, torch.arange(10))
    torch.testing.assert_close(rotated.norm(dim=-1), x.norm(dim=-1))
    torch.testing.assert_close(rotated[..., 0, :], x[..., 0, :])
    # The fastest pair turns by one radian per position, the slowest by 10000^(-6/8) radians.
    angle = torch.atan2(rotated[0, 0, 1, 1], rotated[0, 0, 1, 0]) - torch.atan2(x[0, 0, 1, 1], x[0, 0, 1, 0])
    torch.testing.assert_close(torch.remainder(angle, 2 * torch.pi), torch.tensor(1.0))


@pytest.mark.parametrize("shared_qkv", [False, True])
def test_rotary_weights_of_shifted_content_match_at_the_same_offsets(shared_qkv):
    """Two distinct tokens a and b in a constant window, then the same pair shifted by s positions:
    the module's weights give the same score differences (b against a, from a) at the same offset."""
    module = attention("rotary", shared_qkv=shared_qkv)
    torch.manual_seed(1)
    background, a, b = torch.randn(D), torch.randn(D), torch.randn(D)
    gap, shift = 3, 5
    windows = background.repeat(2, T, 1)  # (2, T, D)
    windows[0, 1], windows[0, 1 + gap] = a, b
    windows[1, 1 + shift], windows[1, 1 + shift + gap] = a, b
    with torch.no_grad():
        _, weights = module(windows, need_weights=True)
    ratios = log_ratios(weights)  # (2, N, T, T)
    torch.testing.assert_close(ratios[1, :, 1 + shift, 1 + shift + gap], ratios[0, :, 1, 1 + gap])
    torch.testing.assert_close(ratios[1, :, 1 + shift + gap, 1 + shift], ratios[0, :, 1 + gap, 1])
    # Identical tokens everywhere: every score is a function of the offset alone (a Toeplitz pattern).
    with torch.no_grad():
        _, flat = module(background.repeat(1, T, 1), need_weights=True)
    ratios = log_ratios(flat)[0]  # (N, T, T)
    assert ratios.abs().max() > 1e-2  # the offsets do move the scores
    for m, offset in itertools.product(range(2, T), range(-2, 4)):
        if m + offset < T:
            torch.testing.assert_close(ratios[:, m, m + offset], ratios[:, 2, 2 + offset], atol=1e-5, rtol=0)


def test_rotary_needs_an_even_head_width():
    with pytest.raises(ValueError, match=r"even head width; d_model=12 / n_heads=4 = 3: make d_model a multiple of 2 \* n_heads = 8"):
        TransformerEncoder(config(d_model=12, positional="rotary"), context=T, channels=C)
    TransformerEncoder(config(d_model=12, positional="alibi"), context=T, channels=C)  # ALiBi has no such need


# --- ALiBi ----------------------------------------------------------------------------------------


def test_alibi_slopes_are_the_papers_geometric_sequence():
    torch.testing.assert_close(alibi_slopes(8), torch.tensor([2.0 ** -h for h in range(1, 9)]))
    torch.testing.assert_close(alibi_slopes(4), torch.tensor([2.0 ** (-2 * h) for h in range(1, 5)]))
    bias = alibi_bias(4, torch.arange(6), 6)  # (N, T, T)
    assert bias.shape == (4, 6, 6) and torch.all(bias.diagonal(dim1=-2, dim2=-1) == 0)
    torch.testing.assert_close(bias, bias.transpose(1, 2))  # symmetric: a bidirectional encoder
    steps = bias[:, 0, 1:] - bias[:, 0, :-1]  # one more step of distance, one more slope of penalty
    torch.testing.assert_close(steps, -alibi_slopes(4)[:, None].expand(4, 5))


@pytest.mark.parametrize("scale", [True, False])
def test_alibi_weights_of_identical_tokens_decay_linearly_with_distance(scale):
    """Identical tokens have identical content scores, so the weights are the bias alone: exp(-slope_h |m - n|)."""
    module = attention("alibi", scale=scale)
    torch.manual_seed(2)
    with torch.no_grad():
        _, weights = module(torch.randn(D).repeat(B, T, 1), need_weights=True)  # (B, N, T, T)
    last = weights[0, :, -1]  # the last query over the window, oldest key first
    assert torch.all(last[:, 1:] > last[:, :-1])  # every head: the nearer the key, the larger its weight
    expected = -alibi_slopes(N)[:, None, None] * (torch.arange(T)[:, None] - torch.arange(T)[None, :]).abs()
    torch.testing.assert_close(log_ratios(weights[0]), expected, atol=1e-5, rtol=0)


def test_alibi_counts_tokens_not_frames_with_patches():
    """With patches, position m is the m-th token: a constant window's first-layer weights are exp(-slope_h |m - n|)."""
    torch.manual_seed(0)
    encoder = TransformerEncoder(config(positional="alibi", patch=4), context=24, channels=C).eval()
    _, maps = encoder.forward_with_attention(torch.ones(1, 24, C))
    tokens = torch.arange(6)
    expected = -alibi_slopes(N)[:, None, None] * (tokens[:, None] - tokens[None, :]).abs()
    torch.testing.assert_close(log_ratios(maps[0][0]), expected, atol=1e-5, rtol=0)


# --- order, the last query and the two paths ------------------------------------------------------


@pytest.mark.parametrize("positional", ["none", *RELATIVE])
def test_only_the_order_blind_encoder_is_permutation_equivariant(positional):
    torch.manual_seed(0)
    encoder = TransformerEncoder(config(positional=positional), context=T, channels=C).eval()
    x, permutation = torch.randn(B, T, C), torch.randperm(T)
    with torch.no_grad():
        permuted, reference = encoder(x[:, permutation]), encoder(x)[:, permutation]
    if positional == "none":
        torch.testing.assert_close(permuted, reference)
    else:
        assert not torch.allclose(permuted, reference, atol=1e-3)


SWITCHES = [dict(zip(("shared_qkv", "scale", "mask_diagonal"), values)) for values in itertools.product([False, True], repeat=3)]


@pytest.mark.parametrize("position", RELATIVE)
@pytest.mark.parametrize("switches", SWITCHES, ids=lambda s: "-".join(k for k, v in s.items() if v) or "standard")
def test_last_query_and_fused_path_equal_the_full_explicit_computation(position, switches):
    """The last query alone (at position T-1) is the last row of the full computation, on both paths,
    and SDPA's fused output equals the explicit one whose weights include the rotation or the bias."""
    module = attention(position, **switches)
    x = torch.randn(B, T, D)
    with torch.no_grad():
        full, weights = module(x, need_weights=True)
        fused, _ = module(x)
        last, last_weights = module(x, need_weights=True, last_query_only=True)
        last_fused, _ = module(x, last_query_only=True)
    torch.testing.assert_close(fused, full, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(last, full[:, -1:], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(last_fused, full[:, -1:], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(last_weights, weights[:, :, -1:])
    if switches["mask_diagonal"]:
        assert torch.all(weights.diagonal(dim1=-2, dim2=-1) == 0)


@pytest.mark.parametrize("positional", RELATIVE)
def test_last_frame_readout_equals_the_full_encoding(positional):
    torch.manual_seed(0)
    encoder = TransformerEncoder(config(positional=positional, mask_diagonal=True), context=T, channels=C).eval()
    x = torch.randn(B, T, C)
    with torch.no_grad():
        torch.testing.assert_close(encoder.last_frame(x), encoder(x)[:, -1], atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("positional", RELATIVE)
def test_independent_channels_stay_independent(positional):
    torch.manual_seed(0)
    model = TransformerForecaster(config(positional=positional, channels="independent"), context=T, horizon=H,
                                  channels=C, targets=C).eval()
    x = torch.randn(B, T, C)
    moved = x.clone()
    moved[..., 1] += torch.randn(B, T)
    with torch.no_grad():
        torch.testing.assert_close(model(moved)[..., 0], model(x)[..., 0])


# --- checkpoints, reuse, config -------------------------------------------------------------------


@pytest.mark.parametrize("positional", RELATIVE)
def test_checkpoint_round_trip(positional, tmp_path):
    dims = ModelDims(context=T, horizon=H, channels=C, differenced=True, no_change=0.0)
    torch.manual_seed(0)
    model = build_model("transformer", config(positional=positional), dims).eval()
    checkpoint = Checkpoint.from_model(model, name="transformer", kind="transformer", config=config(positional=positional),
                                       dims=dims, columns=("a", "b"), transform="diff", offset=[0.0, 0.0], scale=[1.0, 1.0])
    assert to_payload(checkpoint)["config"]["positional"] == positional
    loaded, stored = load_model(save_checkpoint(checkpoint, tmp_path / "model.pt"))
    x = torch.randn(B, T, C)
    with torch.no_grad():
        assert torch.equal(loaded(x), model(x))
        assert torch.equal(from_payload(to_payload(checkpoint), "memory").model()(x), model(x))
    assert stored.config.positional == positional


@pytest.mark.parametrize("positional", RELATIVE)
def test_a_reused_encoder_works_under_a_new_head(positional):
    torch.manual_seed(0)
    source = TransformerForecaster(config(positional=positional), context=T, horizon=H, channels=C).eval()
    reused = TransformerForecaster(config(positional=positional), context=T - 4, horizon=2, channels=C,
                                   encoder=source.encoder).eval()
    x = torch.randn(B, T - 4, C)
    assert reused(x).shape == (B, 2, 1)
    with torch.no_grad():
        torch.testing.assert_close(reused.encoder.last_frame(x), source.encoder.last_frame(x))


@pytest.mark.parametrize("overrides, message", [
    ({"positional": "rotary", "d_model": 12}, r"positional='rotary' rotates pairs of dimensions"),
    ({"positional": "rotary", "positional_combine": "concat"}, r"positional='rotary' adds none to the tokens"),
    ({"positional": "alibi", "positional_combine": "concat"}, r"positional='alibi' adds none to the tokens"),
    ({"positional": "rotary", "channels": "variates"}, r"channels='variates' .* positional='rotary' does not apply"),
    ({"positional": "alibi", "channels": "variates"}, r"channels='variates' .* positional='alibi' does not apply"),
])
def test_bad_configurations_are_refused_in_one_line(overrides, message):
    with pytest.raises(ValueError, match=message) as caught:
        TransformerForecaster(config(**overrides), context=T, horizon=H, channels=C)
    assert "\n" not in str(caught.value)


def test_attention_refuses_an_unknown_position():
    with pytest.raises(ValueError, match="position='relative' is not one of 'none', 'rotary', 'alibi'"):
        MultiHeadSelfAttention(d_model=D, n_heads=N, position="relative")


@pytest.mark.parametrize("positional", RELATIVE)
def test_the_config_round_trips(positional):
    raw = {"models": [{"kind": "transformer", "positional": positional, "d_model": 16}]}
    experiment = config_from_dict(raw)
    assert experiment.models[0].config == TransformerConfig(positional=positional, d_model=16)
    assert config_from_dict(experiment.to_dict()) == experiment


def test_an_unknown_positional_names_the_relative_ones():
    with pytest.raises(ForecasterError, match="choose one of: learned, sinusoidal, none, rotary, alibi"):
        config_from_dict({"models": [{"kind": "transformer", "positional": "relative"}]})
