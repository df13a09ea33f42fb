"""Write tests/checkpoints/global_identity_v3*: a global linear model (two series, series identities, a calendar input
known ahead, 3 steps) in checkpoint format version 3, each series' data and the model's forecast of it.

Run once, with the code of main before the fitted pipeline (commit 83868f8), as
``python tests/checkpoints/make_global_identity_v3.py tests/checkpoints /tmp/v3data``; the files it wrote are kept.
"""

import sys
from pathlib import Path

import numpy as np
import pandas as pd

from forecaster.checkpoint import load_checkpoint, save_checkpoint
from forecaster.config import config_from_dict
from forecaster.reuse.forecast import forecast_future
from forecaster.runs.multiseries import run_global

out, scratch = Path(sys.argv[1]), Path(sys.argv[2])
scratch.mkdir(exist_ok=True, parents=True)
paths = []
for name, length, level, seed in [("alpha", 260, 100.0, 1), ("beta", 200, 50.0, 2)]:
    close = level * np.exp(np.cumsum(np.random.default_rng(seed).normal(0, 0.01, length)))
    path = scratch / f"{name}.csv"
    pd.DataFrame({"Close": close}, index=pd.bdate_range("2020-01-01", periods=length, name="Date")).to_csv(path)
    paths.append(path)
config = config_from_dict({
    "data": {"source": [str(path) for path in paths], "transform": "log_return", "series_embedding": True,
             "future_calendar": ["day_of_week"]},
    "windows": {"context": 8, "horizon": 3},
    "train": {"epochs": 2, "batch_size": 32, "patience": 2, "device": "cpu", "seed": 0},
    "models": [{"kind": "naive"}, {"kind": "linear"}],
})
save_checkpoint(run_global(config).checkpoint("linear"), out / "global_identity_v3.pt")
checkpoint = load_checkpoint(out / "global_identity_v3.pt")
for path in paths:
    frame = pd.read_csv(path, index_col="Date", parse_dates=True)
    forecast_future(checkpoint.model(), checkpoint, frame, source=str(path), exchange="none").to_csv(
        out / f"global_identity_v3_{path.stem}.csv", index=False)
    frame.to_csv(out / f"global_identity_v3_{path.stem}_data.csv")
