"""Checkpoints rebuild their model and cannot run code when loaded."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest
import torch

from forecaster.checkpoint import checkpoint_payload, load_checkpoint, load_model, save_checkpoint
from forecaster.errors import ForecasterError
from forecaster.models import ModelDims, RNNConfig, build_model


class RunsCode:
    """Unpickling this would create a marker file: what a malicious checkpoint does."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def payload_for(model, config, dims):
    return checkpoint_payload(
        name="rnn", kind="rnn", config=config, dims=dims, columns=("Close", "Volume"), transform="log_return",
        scaler_mean=[0.0, 0.0], scaler_scale=[0.01, 0.2], model=model,
    )


def test_round_trip_rebuilds_the_same_model(tmp_path):
    config, dims = RNNConfig(cell="lstm", hidden_size=6), ModelDims(context=9, horizon=2, channels=2, differenced=True, no_change=0.0)
    torch.manual_seed(0)
    model = build_model("rnn", config, dims).eval()
    path = save_checkpoint(payload_for(model, config, dims), tmp_path / "sub" / "rnn.pt")
    loaded, payload = load_model(path)
    x = torch.randn(5, 9, 2)
    assert torch.equal(loaded(x), model(x))
    assert payload["columns"] == ["Close", "Volume"] and payload["dims"]["context"] == 9
    assert [p.name for p in path.parent.iterdir()] == ["rnn.pt"]  # no temporary file left behind


def test_a_pickle_that_would_run_code_is_refused(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pt"
    torch.save({"format_version": 1, "payload": RunsCode(marker)}, path)
    with pytest.raises(ForecasterError, match="refused to unpickle"):
        load_checkpoint(path)
    assert not marker.exists()
    plain = tmp_path / "plain.pkl"
    plain.write_bytes(pickle.dumps(RunsCode(marker)))
    with pytest.raises(ForecasterError, match="not a loadable forecaster checkpoint"):
        load_checkpoint(plain)
    assert not marker.exists()


def test_missing_and_foreign_files_give_clear_errors(tmp_path):
    with pytest.raises(ForecasterError, match="checkpoint not found"):
        load_checkpoint(tmp_path / "nothing.pt")
    foreign = tmp_path / "foreign.pt"
    torch.save({"weights": torch.zeros(2)}, foreign)
    with pytest.raises(ForecasterError, match="not a forecaster checkpoint"):
        load_checkpoint(foreign)
    garbage = tmp_path / "garbage.pt"
    garbage.write_text("not a checkpoint at all")
    with pytest.raises(ForecasterError, match="not a loadable forecaster checkpoint"):
        load_checkpoint(garbage)


def test_a_failed_write_leaves_the_previous_checkpoint_intact(tmp_path, monkeypatch):
    config, dims = RNNConfig(hidden_size=4), ModelDims(context=3, horizon=1, channels=2, differenced=True, no_change=0.0)
    model = build_model("rnn", config, dims)
    path = save_checkpoint(payload_for(model, config, dims), tmp_path / "rnn.pt")
    before = path.read_bytes()

    def failing_save(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", failing_save)
    with pytest.raises(OSError):
        save_checkpoint(payload_for(model, config, dims), path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["rnn.pt"]
