"""Pretrain a transformer on the S&P 500, then reuse its encoder on sunspots, with the public API only.

    python experiments/transfer_example.py            # about a minute on 2 CPU cores
"""

import sys
import tempfile
from pathlib import Path

import forecaster

epochs = int(sys.argv[1]) if len(sys.argv) > 1 else 5
folder = Path(tempfile.mkdtemp()) / "sp500"

# 1. Pretrain on daily S&P 500 log-returns (32-day windows, 6 steps ahead), naive beside it.
source = forecaster.read_config("experiments/sp500.yaml", [
    "windows.context=32", "windows.horizon=6", f"train.epochs={epochs}", "models=naive,transformer",
])
forecaster.save_run(forecaster.run_experiment(source), folder)
checkpoint = folder / "checkpoints" / "transformer.pt"
pretrained = forecaster.load_checkpoint(checkpoint)

# 2. Transfer to monthly sunspots: counts have zeros, so differences instead of log-returns,
#    and only the newest 300 training windows, where a pretrained encoder should help most.
target = forecaster.transfer_config(
    pretrained, source="sunspots", column="sunspots", transform="diff", train=forecaster.TrainConfig(epochs=epochs),
)
result = forecaster.run_transfer(pretrained, forecaster.load_prices("sunspots"), target, last_samples=300)
print(result.metrics[["model", "mae", "rel_mae", "train_seconds", "parameters"]].to_string(index=False))

# 3. The frozen encoder, by hand: per-frame embeddings of the last sunspot windows.
encoder = forecaster.load_encoder(checkpoint)
windows = result.data.windows["test"].inputs[-3:]  # (3, 32, 1)
print("embeddings of the last 3 test windows:", tuple(encoder.encode(windows).shape))
