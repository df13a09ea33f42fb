"""The Gaussian output head (``intervals.method: normal``): shapes, its likelihood, its quantiles, a run end to end.

It is the seam's proof: the head is its module and one registry line, and fitting, intervals, forecasting
and the checkpoint serve it without knowing it.
"""

from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np
import pandas as pd
import pytest
import torch

from forecaster.checkpoint import load_checkpoint
from forecaster.cli import main
from forecaster.config import INTERVAL_METHODS, config_from_dict
from forecaster.errors import ForecasterError
from forecaster.models import HEADS, MODEL_KINDS, ModelDims, build_model, head_from_description, output_head
from forecaster.models.normal import MIN_SCALE, NormalHead
from forecaster.training.losses import head_loss

SIZES = {"linear": {}, "mlp": {"hidden": (8,)}, "rnn": {"hidden_size": 8},
         "transformer": {"d_model": 8, "n_heads": 2, "n_layers": 1, "d_ff": 16}}


@pytest.mark.parametrize("future_channels", [0, 3])
@pytest.mark.parametrize("kind", list(SIZES))
def test_every_trainable_kind_forecasts_a_location_and_a_scale_per_step_and_target(kind, future_channels):
    dims = ModelDims(context=8, horizon=3, channels=2, differenced=True, no_change=0.0, targets=2,
                     future_channels=future_channels, head=NormalHead())
    model = build_model(kind, MODEL_KINDS[kind].config_class(**SIZES[kind]), dims)
    future = torch.randn(4, 3, future_channels) if future_channels else None
    assert model(torch.randn(4, 8, 2), future).shape == (4, 3, 2, 2) and output_head(model) == NormalHead()
    with pytest.raises(ValueError, match="model kind 'naive' has no normal head"):
        build_model("naive", MODEL_KINDS["naive"].config_class(), dims)


def test_the_head_is_registered_described_and_named_by_the_interval_methods():
    assert HEADS["normal"] is NormalHead and "normal" in INTERVAL_METHODS
    assert NormalHead().describe() == {"name": "normal"} and head_from_description({"name": "normal"}) == NormalHead()
    assert NormalHead().shape == (2,) and NormalHead().width == 2 and NormalHead().cumulative


def test_the_loss_is_the_gaussian_negative_log_likelihood_of_the_cumulative_change():
    targets = torch.tensor([[[1.0], [2.0]]])  # (B=1, H=2, K=1): cumulative 1, 3
    raw = math.log(math.expm1(2.0 - MIN_SCALE))  # softplus(raw) + MIN_SCALE = 2
    outputs = torch.tensor([[[[1.0, raw]], [[3.0, raw]]]])  # (1, 2, 1, 2): the cumulative values, sigma 2
    nll = -math.log(NormalDist(0.0, 2.0).pdf(0.0))
    assert head_loss(NormalHead(), differenced=True)(outputs, targets).item() == pytest.approx(nll)
    # Per step instead: the second step's target 2 is 1 below its location 3.
    per_step = -(math.log(NormalDist(1.0, 2.0).pdf(1.0)) + math.log(NormalDist(3.0, 2.0).pdf(2.0))) / 2
    assert head_loss(NormalHead(), differenced=False)(outputs, targets).item() == pytest.approx(per_step)


def test_training_lowers_the_likelihood_and_finds_the_spread_of_a_toy_series():
    """A linear model on noise of mean 0.5 and standard deviation 2: the NLL falls and sigma approaches 2."""
    generator = torch.Generator().manual_seed(0)
    past = torch.randn(512, 8, 1, generator=generator)
    targets = 0.5 + 2.0 * torch.randn(512, 1, 1, generator=generator)
    torch.manual_seed(0)
    model = build_model("linear", MODEL_KINDS["linear"].config_class(),
                        ModelDims(context=8, horizon=1, channels=1, differenced=False, no_change=0.0, head=NormalHead()))
    loss = head_loss(NormalHead(), differenced=False)
    optimiser = torch.optim.Adam(model.parameters(), lr=0.05)
    losses = []
    for _ in range(300):
        optimiser.zero_grad()
        value = loss(model(past), targets)
        value.backward()
        optimiser.step()
        losses.append(value.item())
    assert losses[-1] < losses[0] - 0.5 and losses[-1] == pytest.approx(0.5 * math.log(2 * math.pi * math.e * 4), abs=0.1)
    with torch.no_grad():
        outputs = model(past).double().numpy()[:, :, 0]  # (N, H, 2)
    assert np.median(NormalHead().scale(outputs)) == pytest.approx(2.0, abs=0.2)


def test_quantiles_are_the_normal_distributions_ascending_and_the_median_is_the_point():
    outputs = np.random.default_rng(0).normal(size=(5, 3, 2)) * 3  # (N, H, 2): locations and raw scales
    taus = (0.025, 0.1, 0.5, 0.9, 0.975)
    quantiles = NormalHead().quantiles(outputs, taus)
    assert quantiles.shape == (5, 3, 5) and (np.diff(quantiles, axis=-1) > 0).all()
    np.testing.assert_array_equal(quantiles[..., 2], NormalHead().point(outputs))
    scale = np.log1p(np.exp(outputs[1, 2, 1])) + MIN_SCALE
    expected = [NormalDist(outputs[1, 2, 0], scale).inv_cdf(tau) for tau in taus]
    np.testing.assert_allclose(quantiles[1, 2], expected, rtol=1e-12)
    assert NormalHead().crossing(outputs) == 0.0


def test_a_normal_run_end_to_end_through_the_cli_and_its_checkpoint_forecasts(tiny_config_file, small_csv, small_prices,
                                                                               tmp_path, capsys):
    from forecaster.reuse.forecast import Forecaster

    out = tmp_path / "normal"
    assert main(["run", str(tiny_config_file), "--out", str(out), "--quiet", "--set", "intervals.method=normal",
                 "--set", "train.epochs=2", "--set", "windows.horizon=2", "--set", "models=naive,linear,transformer"]) == 0
    metrics = pd.read_csv(out / "metrics.csv").set_index("model")
    assert metrics.loc["naive", "interval_method"] == "conformal"  # nothing to train: calibrated instead
    assert set(metrics.loc[["linear", "transformer"], "interval_method"]) == {"normal"}
    assert (metrics.loc[["linear", "transformer"], "crossing"] == 0).all()
    assert metrics[["crps", "rel_crps", "pinball", "coverage_80", "coverage_95"]].notna().all().all()
    predictions = pd.read_csv(out / "predictions.csv")
    assert (predictions["linear_lo_95"] < predictions["linear_lo_80"]).all()
    assert (predictions["linear_lo_80"] < predictions["linear"]).all() and (predictions["linear"] < predictions["linear_hi_80"]).all()
    path = out / "checkpoints" / "linear.pt"
    checkpoint = load_checkpoint(path)
    assert checkpoint.dims.head == NormalHead() and checkpoint.intervals.method == "normal"
    assert torch.load(path, weights_only=True)["dims"]["head"] == {"name": "normal"}
    future = tmp_path / "future"
    assert main(["forecast", str(path), "--data", str(small_csv), "--out", str(future)]) == 0
    written = pd.read_csv(future / "forecast.csv", parse_dates=["date"])
    assert list(written.columns) == ["date", "forecast", "lo_80", "hi_80", "lo_95", "hi_95"] and len(written) == 2
    assert (written["lo_95"] < written["lo_80"]).all() and (written["lo_80"] < written["forecast"]).all()
    assert (written["forecast"] < written["hi_80"]).all() and (written["hi_80"] < written["hi_95"]).all()
    table = Forecaster.from_checkpoint(checkpoint).forecast(small_prices)
    pd.testing.assert_frame_equal(table, written, check_exact=False, rtol=1e-12)
    assert table.attrs["intervals"] == "normal"
    capsys.readouterr()


def test_an_unknown_method_names_every_valid_one(tiny_config):
    tiny_config["intervals"] = {"method": "student"}
    valid = "conformal, adaptive, quantile, normal"  # the heads' names come from the registry
    with pytest.raises(ForecasterError, match=f"intervals.method='student' is not valid; choose one of: {valid}"):
        config_from_dict(tiny_config)
