"""The estimator: fit a DataFrame, predict the future by date, score against the naive forecast."""

from __future__ import annotations

import pandas as pd
import pytest

from forecaster.errors import ForecasterError
from forecaster.reuse.estimator import ForecastEstimator


def test_fit_predict_score(small_prices):
    estimator = ForecastEstimator("mlp", context=8, horizon=2, model={"hidden": [8]}, epochs=2, device="cpu")
    with pytest.raises(ForecasterError, match="call fit"):
        estimator.predict()
    future = estimator.fit(small_prices).predict()
    assert list(future.index) == list(pd.bdate_range(small_prices.index[-1], periods=3)[1:])
    assert future["forecast"].between(1000, 2000).all()
    scores = estimator.score()
    assert list(scores.index) == ["naive", "mlp"] and scores.loc["naive", "rel_mae"] == 1.0


def test_bad_estimator_arguments():
    with pytest.raises(ForecasterError, match="not a trainable model kind"):
        ForecastEstimator("naive")
    with pytest.raises(ForecasterError, match="unknown key mlp.width"):
        ForecastEstimator("mlp", model={"width": 3})
