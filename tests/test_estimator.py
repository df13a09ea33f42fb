"""The estimator: fit a DataFrame, predict the future by date, score against the naive forecast."""

from __future__ import annotations

import pandas as pd
import pytest

from forecaster.checkpoint import Checkpoint
from forecaster.errors import ForecasterError
from forecaster.reuse.estimator import ForecastEstimator


def test_fit_predict_score(small_prices, monkeypatch):
    import forecaster.checkpoint

    estimator = ForecastEstimator("mlp", context=8, horizon=2, model={"hidden": [8]}, epochs=2, device="cpu")
    with pytest.raises(ForecasterError, match="call fit"):
        estimator.predict()
    for name in ("to_payload", "from_payload", "write_payload", "read_payload"):  # the file format is never involved
        monkeypatch.setattr(forecaster.checkpoint, name, lambda *args, **kwargs: pytest.fail("the estimator used the file format"))
    future = estimator.fit(small_prices).predict()
    assert isinstance(estimator.checkpoint_, Checkpoint) and estimator.checkpoint_.kind == "mlp"
    assert list(future.index) == list(pd.bdate_range(small_prices.index[-1], periods=3)[1:])
    assert future["forecast"].between(1000, 2000).all()
    scores = estimator.score()
    assert list(scores.index) == ["naive", "mlp"] and scores.loc["naive", "rel_mae"] == 1.0


def test_bad_estimator_arguments():
    with pytest.raises(ForecasterError, match="not a trainable model kind"):
        ForecastEstimator("naive")
    with pytest.raises(ForecasterError, match="unknown key mlp.width"):
        ForecastEstimator("mlp", model={"width": 3})
