"""Series shorter than the context under the holdout split: padded at the start, the padding masked (data/padding.py)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from forecaster.checkpoint import save_checkpoint
from forecaster.config import read_config
from forecaster.data.windows import WindowConfig
from forecaster.errors import ForecasterError
from forecaster.models import ModelDims, build_model
from forecaster.models.naive import SeasonalNaiveConfig, SeasonalNaiveForecaster
from forecaster.models.transformer import TransformerConfig, TransformerForecaster, attention_maps
from forecaster.reuse.forecast import Forecaster
from forecaster.runs.multiseries import prepare_all, run_global

CONTEXT, HORIZON = 8, 2
SETTINGS = ["windows.split=holdout", f"windows.context={CONTEXT}", f"windows.horizon={HORIZON}", "data.transform=level",
            "data.season=1", "train.epochs=1", "train.device=cpu", "models=naive,linear,transformer",
            "models.transformer.d_model=8", "models.transformer.n_heads=2", "models.transformer.d_ff=8", "intervals.levels=[]"]


def series_frames(**lengths: int) -> dict[str, pd.DataFrame]:
    rng = np.random.default_rng(0)
    return {label: pd.DataFrame({"y": 100 + np.cumsum(rng.normal(size=length))},
                                index=pd.date_range("2000-01-01", periods=length, freq="MS"))
            for label, length in lengths.items()}


def config(*extra: str):
    return read_config(None, [*SETTINGS, *extra])


def test_a_short_series_is_padded_with_zeros_and_an_observed_channel_and_its_targets_are_all_real():
    # long: 40 points, a training span of 36 >= context + horizon; short: 9 points, a training span of 5.
    prepared = prepare_all(config(), series_frames(long=40, short=9))
    long, short = prepared["long"], prepared["short"]
    assert (long.padding, short.padding) == (0, CONTEXT - 1)
    for data in (long, short):  # the same channels in every series of the run: the value, then observed
        assert data.dims.observed and data.dims.channels == 2
        levels = data.series.levels
        scaled = (levels - data.pipeline.offset[0]) / data.pipeline.scale[0]
        for windows in data.windows.values():
            assert (windows.origins >= 0).all()  # a window ends on a real step ...
            for origin, inputs, targets in zip(windows.origins, windows.inputs, windows.targets):
                steps = np.arange(origin - CONTEXT + 1, origin + 1)
                real = steps >= 0
                expected = np.where(real, scaled[np.maximum(steps, 0)], 0.0)
                np.testing.assert_allclose(inputs[:, 0].numpy(), expected, rtol=1e-6, atol=1e-6)
                np.testing.assert_array_equal(inputs[:, 1].numpy(), real.astype(np.float32))
                # ... and its targets are the real steps after it, never padding.
                np.testing.assert_allclose(targets[:, 0].numpy(), scaled[origin + 1: origin + 1 + HORIZON], rtol=1e-6, atol=1e-6)
    # The short series' training windows reach into the padding: every origin from its first step whose targets fit.
    assert list(short.windows["train"].origins) == [0, 1, 2]
    assert (short.windows["val"].origins[0], short.windows["test"].origins[0]) == (4, 6)


def test_the_scaling_is_fitted_on_the_real_training_frames_alone():
    short = prepare_all(config(), series_frames(short=9))["short"]
    training = short.series.levels[: short.bounds.train_end]
    assert short.bounds.train_end == 5
    np.testing.assert_allclose(short.pipeline.offset, [training.mean()])
    np.testing.assert_allclose(short.pipeline.scale, [training.std()])


def test_a_run_with_no_short_series_is_unchanged_and_pad_true_pads_every_series():
    frames = series_frames(a=40, b=30)
    auto, refused = prepare_all(config(), frames), prepare_all(config("windows.pad=false"), frames)
    for label in frames:
        assert not auto[label].dims.observed and auto[label].dims == refused[label].dims and auto[label].padding == 0
        for split in ("train", "val", "test"):
            assert torch.equal(auto[label].windows[split].inputs, refused[label].windows[split].inputs)
    padded = prepare_all(config("windows.pad=true"), frames)
    assert all(data.padding == CONTEXT - 1 and data.dims.observed for data in padded.values())
    with pytest.raises(ForecasterError, match="windows.pad=true .* windows.split=holdout"):
        WindowConfig(pad=True)


def test_a_series_too_short_even_for_padding_is_one_line_naming_it():
    with pytest.raises(ForecasterError) as error:
        prepare_all(config(), series_frames(long=40, tiny=4))
    message = str(error.value)
    assert "\n" not in message
    assert message.startswith("series 'tiny': 4 rows are too few for a holdout split at horizon=2") and "at least 5 rows" in message


def test_every_series_gets_a_forecast_and_a_panel_score_row_none_dropped():
    # tiny (5 points) has no training window at all (a training span of 1); it is still forecast and scored.
    frames = series_frames(long=40, short=9, tiny=5)
    result = run_global(config(), frames=frames)
    by_series = result.metrics_by_series
    assert len(by_series) == 3 * 3 and set(by_series["series"]) == set(frames)
    predictions = result.predictions
    for label in frames:
        rows = predictions[predictions["series"] == label]
        assert len(rows) == HORIZON and rows[["naive", "linear", "transformer"]].notna().all().all()
        assert list(rows["date"]) == list(frames[label].index[-HORIZON:])


def test_a_padded_checkpoint_forecasts_a_series_shorter_than_its_window_as_the_run_did(tmp_path):
    frames = series_frames(long=40, short=9)
    result = run_global(config(), frames=frames)
    save_checkpoint(result.checkpoint("transformer"), tmp_path / "transformer.pt")
    forecaster = Forecaster.load(tmp_path / "transformer.pt")
    assert forecaster.pipeline.observed and forecaster.dims.observed
    # The history before the test span (7 points, shorter than the window of 8): the run's test forecast again.
    table = forecaster.forecast(frames["short"].iloc[:-HORIZON], source="short", exchange="none")
    np.testing.assert_allclose(table["forecast"].to_numpy(), result.parts["short"].runs["transformer"].forecast[0], rtol=1e-5)


def padded_windows(batch: int = 4, padding: int = 5, channels: int = 2) -> torch.Tensor:
    """Windows (B, T, C + 1) whose first ``padding`` frames are padding, the observed channel last."""
    past = torch.randn(batch, CONTEXT, channels)
    observed = (torch.arange(CONTEXT) >= padding).float().expand(batch, -1)
    return torch.cat([past * observed[..., None], observed[..., None]], dim=-1)


@pytest.mark.parametrize("settings", [
    {}, {"readout": "mean"}, {"readout": "flatten"}, {"patch": 2}, {"patch": 3, "patch_stride": 1}, {"instance_norm": True},
    {"positional": "alibi"}, {"positional": "rotary"}, {"channels": "variates"}, {"mask_diagonal": True},
])
def test_the_transformer_forecast_does_not_depend_on_the_values_placed_in_the_padding(settings):
    torch.manual_seed(0)
    model = TransformerForecaster(TransformerConfig(d_model=8, n_heads=2, d_ff=8, **settings), context=CONTEXT,
                                  horizon=HORIZON, channels=3, targets=1, observed=True).eval()
    past = padded_windows()
    other = past.clone()
    other[:, :5, :2] = torch.randn(4, 5, 2) * 100  # anything at all where the mask says padding
    with torch.no_grad():
        forecast = model(past)
        assert torch.isfinite(forecast).all()
        torch.testing.assert_close(model(other), forecast, rtol=0, atol=1e-5)


def test_a_token_of_padding_alone_gets_no_attention_and_a_window_of_one_real_token_has_no_nan():
    torch.manual_seed(0)
    model = TransformerForecaster(TransformerConfig(d_model=8, n_heads=2, d_ff=8, patch=2), context=CONTEXT, horizon=HORIZON,
                                  channels=2, observed=True)
    maps, spans = attention_maps(model, padded_windows(channels=1))  # frames 0-4 padding: tokens (0, 2) and (2, 4) alone
    assert spans == [(0, 2), (2, 4), (4, 6), (6, 8)]
    for weights in maps:
        assert (weights[..., :2] == 0).all() and torch.allclose(weights.sum(-1), torch.ones(()))
    diagonal = TransformerForecaster(TransformerConfig(d_model=8, n_heads=2, d_ff=8, mask_diagonal=True), context=CONTEXT,
                                     horizon=HORIZON, channels=2, observed=True).eval()
    with torch.no_grad():
        assert torch.isfinite(diagonal(padded_windows(padding=CONTEXT - 1, channels=1))).all()


def test_the_seasonal_naive_repeats_the_last_value_where_its_season_reaches_into_padding():
    model = SeasonalNaiveForecaster(SeasonalNaiveConfig(period=4), context=CONTEXT, horizon=HORIZON, observed=True)
    past = padded_windows(batch=1, padding=5, channels=1)  # frames 5, 6, 7 real; a season back from 8, 9 is 4, 5
    forecast = model(past)[0, :, 0]
    assert forecast[0] == past[0, -1, 0] and forecast[1] == past[0, 5, 0]


def test_per_channel_modes_are_refused_when_the_run_pads():
    dims = ModelDims(context=CONTEXT, horizon=HORIZON, channels=2, differenced=False, no_change=0.0, observed=True)
    config_ = read_config(None, ["models=linear", "models.linear.channels=independent"]).models[0].config
    with pytest.raises(ValueError, match="channels='independent' .* padding mask"):
        build_model("linear", config_, dims)
