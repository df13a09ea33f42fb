"""Shared fixtures: a short slice of the bundled S&P 500 series and a tiny, fast experiment config."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import yaml

from forecaster.data.sources import load_prices

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def small_prices() -> pd.DataFrame:
    """The first 400 trading days of the bundled S&P 500 series (1999-2000)."""
    return load_prices("sp500").iloc[:400]


@pytest.fixture
def tiny_config() -> dict:
    """Every model kind, sized to train in about a second on 400 rows."""
    return {
        "data": {"source": "sp500", "transform": "log_return"},
        "windows": {"context": 8, "horizon": 1},
        "train": {"epochs": 2, "batch_size": 32, "patience": 2, "device": "cpu", "seed": 0},
        "models": [
            {"kind": "naive"},
            {"kind": "seasonal_naive", "period": 5},
            {"kind": "linear"},
            {"kind": "mlp", "hidden": [8]},
            {"kind": "rnn", "hidden_size": 8},
            {"kind": "transformer", "d_model": 8, "n_heads": 2, "n_layers": 1, "d_ff": 16},
        ],
    }


@pytest.fixture
def small_csv(tmp_path: Path, small_prices: pd.DataFrame) -> Path:
    """``small_prices`` written as a Yahoo-layout CSV."""
    path = tmp_path / "prices.csv"
    small_prices.rename_axis("Date").to_csv(path)
    return path


@pytest.fixture
def tiny_config_file(tmp_path: Path, tiny_config: dict, small_csv: Path) -> Path:
    """``tiny_config`` as a YAML file reading ``small_csv``."""
    tiny_config["data"]["source"] = str(small_csv)
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(tiny_config))
    return path


@pytest.fixture
def file_reads(monkeypatch) -> list[Path]:
    """Every file ``torch.load`` reads while the test runs, in order (to check that a command reads a checkpoint once)."""
    import torch

    reads: list[Path] = []
    real_load = torch.load

    def counting_load(file, *args, **kwargs):
        reads.append(Path(file))
        return real_load(file, *args, **kwargs)

    monkeypatch.setattr(torch, "load", counting_load)
    return reads


@pytest.fixture
def as_version_3():
    """A function turning a checkpoint payload (format version 4) into the layout of format version 3, in place: the
    pipeline's parts at the payload's top level, as files written before the fitted pipeline hold them."""

    def convert(payload: dict) -> dict:
        state = payload.pop("pipeline")
        future = state["future"]
        payload.update(
            format_version=3, columns=state["columns"], calendar=state["calendar"], transform=state["transform"],
            scaler={"offset": state["offset"], "scale": state["scale"]}, series=state["series"],
            future={"columns": future["columns"], "calendar": future["calendar"], "holidays": future["holidays"],
                    "series": future["series"], "offset": future["offset"], "scale": future["scale"]},
        )
        return payload

    return convert
