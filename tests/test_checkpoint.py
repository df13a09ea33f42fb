"""Checkpoints rebuild their model and cannot run code when loaded."""

from __future__ import annotations

import dataclasses
import pickle
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from forecaster.checkpoint import FORMAT_VERSION, Checkpoint, from_payload, load_checkpoint, load_model, save_checkpoint, to_payload
from forecaster.data.pipeline import SeriesScaling
from forecaster.errors import ForecasterError
from forecaster.models import ModelDims, QuantileHead, RNNConfig, TransformerConfig, build_model


class RunsCode:
    """Unpickling this would create a marker file: what a malicious checkpoint does."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def checkpoint_of(model, config, dims):
    return Checkpoint.from_model(
        model, name="rnn", kind="rnn", config=config, dims=dims, columns=("Close", "Volume"), transform="log_return",
        offset=[0.0, 0.0], scale=[0.01, 0.2],
    )


def test_round_trip_rebuilds_the_same_model(tmp_path):
    config, dims = RNNConfig(cell="lstm", hidden_size=6), ModelDims(context=9, horizon=2, channels=2, differenced=True, no_change=0.0)
    torch.manual_seed(0)
    model = build_model("rnn", config, dims).eval()
    path = save_checkpoint(checkpoint_of(model, config, dims), tmp_path / "sub" / "rnn.pt")
    loaded, checkpoint = load_model(path)
    x = torch.randn(5, 9, 2)
    assert torch.equal(loaded(x), model(x))
    assert checkpoint.pipeline.columns == ("Close", "Volume") and checkpoint.dims.context == 9
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
    path = save_checkpoint(checkpoint_of(model, config, dims), tmp_path / "rnn.pt")
    before = path.read_bytes()

    def failing_save(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", failing_save)
    with pytest.raises(OSError):
        save_checkpoint(checkpoint_of(model, config, dims), path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["rnn.pt"]


def version_1_payload(model, *, kind, config, dims, columns, calendar=None, series=None):
    """A payload exactly as format version 1 wrote it (``checkpoint_payload``, then a global run's ``series``)."""
    payload = {
        "format_version": 1,
        "forecaster_version": "0.1.0",
        "name": kind,
        "kind": kind,
        "config": {key: list(value) if isinstance(value, tuple) else value for key, value in dataclasses.asdict(config).items()},
        "dims": {key: value for key, value in dataclasses.asdict(dims).items() if key != "head"},  # no heads then
        "columns": list(columns),
        "transform": "log_return",
        "scaler": {"mean": [0.0] * dims.channels, "scale": [0.5 + i for i in range(dims.channels)]},
        "state_dict": {key: value.detach().cpu() for key, value in model.state_dict().items()},
    }
    if calendar is not None:  # files from before calendar channels have no "calendar" key
        payload["calendar"] = list(calendar)
    if series is not None:  # GlobalResult.checkpoint added this key to the payload
        payload["series"] = series
    return payload


def test_a_version_1_file_loads_typed_and_rebuilds_the_same_model(tmp_path):
    dims = ModelDims(context=6, horizon=2, channels=4, differenced=True, no_change=0.0)
    config = RNNConfig(cell="lstm", hidden_size=5)
    torch.manual_seed(0)
    model = build_model("rnn", config, dims).eval()
    path = tmp_path / "v1.pt"
    torch.save(version_1_payload(model, kind="rnn", config=config, dims=dims, columns=["Close", "Volume"],
                                 calendar=["day_of_week"]), path)
    checkpoint = load_checkpoint(path)
    assert checkpoint.config == config and checkpoint.dims == dims
    pipeline = checkpoint.pipeline
    assert pipeline.columns == ("Close", "Volume") and pipeline.calendar == ("day_of_week",)
    assert pipeline.offset == (0.0, 0.0, 0.0, 0.0) and pipeline.scale == (0.5, 1.5, 2.5, 3.5)  # v1's "mean" is the offset
    assert pipeline.series == () and checkpoint.forecaster_version == "0.1.0"
    x = torch.randn(3, 6, 4)
    assert torch.equal(checkpoint.model()(x), model(x))


def test_version_1_files_without_calendar_or_patches_and_with_series_load(tmp_path):
    dims = ModelDims(context=8, horizon=1, channels=1, differenced=True, no_change=0.0)
    config = TransformerConfig(d_model=8, n_heads=2, n_layers=1, d_ff=16)
    torch.manual_seed(0)
    model = build_model("transformer", config, dims).eval()
    series = [{"label": "alpha", "source": "data/alpha.csv", "columns": ["Close"], "mean": [0.0], "scale": [0.01]},
              {"label": "beta", "source": "sunspots", "columns": ["sunspots"], "mean": [0.0], "scale": [7.0]}]
    payload = version_1_payload(model, kind="transformer", config=config, dims=dims, columns=["Close"], series=series)
    for key in ("patch", "patch_stride", "positional_combine", "shared_qkv", "attention_scale", "mask_diagonal", "residual"):
        del payload["config"][key]  # as written before patches and the ablation switches existed
    path = tmp_path / "old.pt"
    torch.save(payload, path)
    checkpoint = load_checkpoint(path)
    assert checkpoint.config == config and checkpoint.pipeline.calendar == ()
    assert checkpoint.pipeline.series == (
        SeriesScaling(label="alpha", source="data/alpha.csv", columns=("Close",), offset=(0.0,), scale=(0.01,)),
        SeriesScaling(label="beta", source="sunspots", columns=("sunspots",), offset=(0.0,), scale=(7.0,)),
    )
    x = torch.randn(2, 8, 1)
    assert torch.equal(checkpoint.model()(x), model(x))


def test_a_round_trip_keeps_every_field_typed_and_equal_and_the_version_3_layout_reads_the_same(tmp_path, as_version_3):
    dims = ModelDims(context=8, horizon=3, channels=4, differenced=False, no_change=-0.25)
    config = TransformerConfig(d_model=8, n_heads=2, n_layers=1, d_ff=16, patch=2, readout="mean")
    torch.manual_seed(0)
    model = build_model("transformer", config, dims)
    records = tuple(SeriesScaling(label=f"s{k}", source=f"data/s{k}.csv", columns=("value", "Volume"),
                                 offset=(1.5 * k, 0.1, 0.0, 0.0), scale=(2.0, 3.0, 0.7, 0.7)) for k in range(2))
    first = Checkpoint.from_model(model, name="global_transformer", kind="transformer", config=config, dims=dims,
                                  columns=("value", "Volume"), transform="level", offset=np.array([0.0, 0.1, 0.0, 0.0]),
                                  scale=np.array([2.0, 3.0, 0.7, 0.7]), calendar=("hour",))
    checkpoint = dataclasses.replace(first, pipeline=first.pipeline.with_series(records))
    path = save_checkpoint(checkpoint, tmp_path / "v2.pt")
    assert torch.load(path, weights_only=True)["format_version"] == FORMAT_VERSION == 4
    loaded = load_checkpoint(path)
    assert loaded == checkpoint  # every field but the weights, which tensors compare below
    for field in dataclasses.fields(Checkpoint):
        saved, read = getattr(checkpoint, field.name), getattr(loaded, field.name)
        assert type(read) is type(saved), field.name
        if field.name == "state_dict":
            assert list(read) == list(saved) and all(torch.equal(read[key], saved[key]) for key in saved)
    assert all(type(value) is float for value in (*loaded.pipeline.offset, *loaded.pipeline.series[1].scale))
    assert from_payload(as_version_3(to_payload(checkpoint)), "v3.pt") == checkpoint  # the pipeline's parts at the top
    x = torch.randn(2, 8, 4)
    with torch.no_grad():
        assert torch.equal(loaded.model()(x), model.eval()(x))


# A file's forecast as it was written, to the last digits that numpy and torch reproduce from one version (and one
# thread count) to another: a reduction's order may move the 16th significant digit (seen on the bounds of an interval).
AS_WRITTEN = {"check_exact": False, "rtol": 1e-12, "atol": 0.0}


def test_a_quantile_checkpoint_written_before_output_heads_loads_and_forecasts_as_it_did(small_prices, tmp_path):
    """tests/checkpoints/: a quantile run's linear model (H 2, levels 80 and 95) and its forecast, both written by
    the code before output heads (commit 166ae34), whose dims held the head's taus as ``quantiles``."""
    from forecaster.reuse.forecast import Forecaster

    folder = Path(__file__).resolve().parent / "checkpoints"
    payload = torch.load(folder / "quantile_linear_before_heads.pt", weights_only=True)
    assert tuple(payload["dims"]["quantiles"]) == (0.025, 0.1, 0.5, 0.9, 0.975) and "head" not in payload["dims"]
    checkpoint = load_checkpoint(folder / "quantile_linear_before_heads.pt")
    assert checkpoint.dims.head == QuantileHead((0.025, 0.1, 0.5, 0.9, 0.975)) and checkpoint.intervals.method == "quantile"
    table = Forecaster.from_checkpoint(checkpoint).forecast(small_prices)
    expected = pd.read_csv(folder / "quantile_linear_before_heads.csv", parse_dates=["date"])
    pd.testing.assert_frame_equal(table, expected, **AS_WRITTEN)
    saved = save_checkpoint(checkpoint, tmp_path / "linear.pt")  # written again: the head described, read back equal
    assert torch.load(saved, weights_only=True)["dims"]["head"] == {"name": "quantile", "taus": [0.025, 0.1, 0.5, 0.9, 0.975]}
    assert load_checkpoint(saved) == checkpoint


@pytest.mark.parametrize("label", ["alpha", "beta"])
def test_a_global_checkpoint_of_format_version_3_loads_and_forecasts_each_series_as_it_did(label):
    """tests/checkpoints/global_identity_v3*: a global linear model of two series with series identities and a calendar
    input known ahead, written in format version 3 by main before the fitted pipeline (``make_global_identity_v3.py``
    at commit 83868f8), with its forecast of each series; read by the label of the series."""
    from forecaster.reuse.forecast import Forecaster

    folder = Path(__file__).resolve().parent / "checkpoints"
    assert torch.load(folder / "global_identity_v3.pt", weights_only=True)["format_version"] == 3
    checkpoint = load_checkpoint(folder / "global_identity_v3.pt")
    frame = pd.read_csv(folder / f"global_identity_v3_{label}_data.csv", index_col="Date", parse_dates=True)
    assert checkpoint.dims.series == 2 and checkpoint.dims.future_channels == 3  # the one-hot read as an index
    table = Forecaster.from_checkpoint(checkpoint).forecast(frame, source=label, exchange="none")
    expected = pd.read_csv(folder / f"global_identity_v3_{label}.csv", parse_dates=["date"])
    # The one-hot's columns of the head's first Linear became embedding rows: the same function (equal to 1e-17 in
    # float64), but the float32 sum W0 x + b + emb[i] is taken in another order than W [x, onehot] + b, and the last
    # step's forecast moves by about one float32 ulp of the scaled output (relative 1.2e-9 in beta's price).
    pd.testing.assert_frame_equal(table, expected, **{**AS_WRITTEN, "rtol": 2e-9})
    payload = to_payload(checkpoint)  # written again: the index form, read back as it is
    assert payload["dims"]["series"] == 2 and payload["state_dict"]["identity.weight"].shape == (3, 32)
    assert from_payload(payload, "file") == checkpoint and not payload["state_dict"]["identity.weight"][2].any()


def test_a_checkpoint_is_a_snapshot_of_the_weights_when_it_was_made():
    config, dims = RNNConfig(hidden_size=4), ModelDims(context=3, horizon=1, channels=2, differenced=True, no_change=0.0)
    model = build_model("rnn", config, dims)
    checkpoint = checkpoint_of(model, config, dims)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(1.0)  # training after the checkpoint was made
    assert not any(torch.equal(value, model.state_dict()[key]) for key, value in checkpoint.state_dict.items())


def test_inconsistent_checkpoints_and_newer_formats_are_refused(tmp_path):
    config, dims = RNNConfig(hidden_size=4), ModelDims(context=3, horizon=1, channels=2, differenced=True, no_change=0.0)
    checkpoint = checkpoint_of(build_model("rnn", config, dims), config, dims)
    with pytest.raises(ValueError, match="give 1 channel"):
        dataclasses.replace(checkpoint, pipeline=dataclasses.replace(checkpoint.pipeline, columns=("Close",)))
    with pytest.raises(ValueError, match="needs a RNNConfig"):
        dataclasses.replace(checkpoint, config=TransformerConfig())
    newer = tmp_path / "newer.pt"
    torch.save({"format_version": FORMAT_VERSION + 1}, newer)
    with pytest.raises(ForecasterError, match="format version 5; .* so update forecaster"):
        load_checkpoint(newer)


@dataclasses.dataclass(frozen=True)
class EvenRNNConfig(RNNConfig):
    """A config class whose own check refuses a value, as a kind's config may."""

    def __post_init__(self) -> None:
        if self.hidden_size % 2:
            raise ForecasterError(f"rnn hidden_size={self.hidden_size} must be even")


def stored(kind, config, dims, edit):
    """The file payload of a fresh ``kind`` model, changed by ``edit(payload)`` as a damaged or hand-edited file would be."""
    payload = to_payload(Checkpoint.from_model(build_model(kind, config, dims), name=kind, kind=kind, config=config, dims=dims,
                                               columns=("Close",), transform="log_return", offset=[0.0], scale=[0.01]))
    edit(payload)
    return payload


RNN = (RNNConfig(hidden_size=3), ModelDims(context=8, horizon=1, channels=1, differenced=True, no_change=0.0))
REFUSED = {  # a stored config the kind refuses: (kind, its config and dims, the edit, a fragment of the one line)
    "unknown key": ("rnn", *RNN, lambda p: p["config"].update(widht=4), "unknown key config.widht; valid keys in config: cell,"),
    "bad value": ("rnn", *RNN, lambda p: p["config"].update(cell="tcn"), "config.cell='tcn' is not valid; choose one of: gru, lstm"),
    "wrong type": ("rnn", *RNN, lambda p: p["config"].update(hidden_size="big"), "config.hidden_size='big' should be of type int"),
    "refused by __post_init__": ("rnn", *RNN, lambda p: None, "rnn hidden_size=3 must be even"),
    "unknown kind": ("rnn", *RNN, lambda p: p.update(kind="prophet"), "unknown model kind 'prophet'"),
    "parts disagree": ("rnn", *RNN, lambda p: p["dims"].update(channels=2), "give 1 channel(s), but the model reads dims.channels=2"),
    "refused by build_model": ("transformer", TransformerConfig(d_model=8, n_heads=2, n_layers=1, d_ff=16), RNN[1],
                               lambda p: p["config"].update(patch=16), "transformer patch=16 must be between 1 and context=8"),
}


@pytest.mark.parametrize("case", list(REFUSED))
def test_a_checkpoint_whose_config_is_refused_is_one_line_from_the_cli(case, tmp_path, small_csv, capsys, monkeypatch):
    from forecaster.cli import main
    from forecaster.models import MODEL_KINDS

    kind, config, dims, edit, fragment = REFUSED[case]
    path = tmp_path / "bad.pt"
    torch.save(stored(kind, config, dims, edit), path)
    if case == "refused by __post_init__":  # the file was written; now the kind's config class checks more
        monkeypatch.setitem(MODEL_KINDS, "rnn", dataclasses.replace(MODEL_KINDS["rnn"], config_class=EvenRNNConfig))
    assert main(["forecast", str(path), "--data", str(small_csv)]) == 1
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: checkpoint ") and fragment in lines[0], captured.err
    assert "Traceback" not in captured.err and not captured.out
