"""The Yahoo cache under concurrency and failure: one valid file, never a half-written one.

Two processes that fetch the same ticker at the same moment must leave exactly one complete cache
file, and a write that dies halfway must leave no cache file at all (only a complete temporary file is
ever renamed into place).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from forecaster.data.sources import load_prices

TICKER = "^GSPC"
START, END = "2023-01-01", "2024-03-01"
# The name load_prices gives the cache file for exactly these arguments.
CACHE_NAME = "caret_GSPC_2023-01-01_2024-03-01_1d.csv"
TESTS = Path(__file__).resolve().parent
DOWNLOAD_SECONDS = 0.5  # long enough for both processes to be inside the download at once


def yahoo_frame(rows: int = 300) -> pd.DataFrame:
    """A frame shaped like yfinance 1.x's download(..., auto_adjust=False, multi_level_index=True)."""
    rng = np.random.default_rng(7)
    close = 3800.0 * np.exp(np.cumsum(rng.normal(0.0, 0.01, rows)))
    open_ = close * np.exp(rng.normal(0.0, 0.004, rows))
    high = np.maximum(open_, close) * (1 + rng.uniform(0.0, 0.01, rows))
    low = np.minimum(open_, close) * (1 - rng.uniform(0.0, 0.01, rows))
    volume = rng.integers(2_000_000_000, 6_000_000_000, rows)
    columns = pd.MultiIndex.from_product(
        [["Adj Close", "Close", "High", "Low", "Open", "Volume"], [TICKER]], names=["Price", "Ticker"]
    )
    # Business days, but without a freq attribute: yfinance builds its index from timestamps.
    dates = pd.DatetimeIndex(pd.bdate_range("2023-01-03", periods=rows).to_numpy(), name="Date")
    frame = pd.DataFrame(index=dates, columns=columns)
    for name, values in zip(columns.get_level_values("Price"), (close, close, high, low, open_, volume)):
        frame[(name, TICKER)] = values
    return frame


def expected_prices() -> pd.DataFrame:
    """What load_prices should return for ``yahoo_frame()``: one level of columns, float64, dates in us."""
    frame = yahoo_frame().droplevel("Ticker", axis=1).astype("float64")
    frame.index = frame.index.as_unit("us").rename("date")
    frame.columns.name = None
    return frame


def fetch_in_child(cache_dir: str, output: str, log: str, ready: str, go: str) -> None:
    """Run in a fresh process: fake a slow yfinance.download, wait for the start signal, fetch, save."""
    import yfinance

    def slow_download(*args, **kwargs):
        entered = time.time()
        time.sleep(DOWNLOAD_SECONDS)
        record = {"entered": entered, "left": time.time(), "ticker": args[0], "start": kwargs.get("start")}
        Path(log).write_text(json.dumps(record))
        return yahoo_frame()

    yfinance.download = slow_download
    Path(ready).touch()
    deadline = time.monotonic() + 60
    while not Path(go).exists():
        if time.monotonic() > deadline:
            raise SystemExit("no start signal within 60 s")
        time.sleep(0.005)
    load_prices(TICKER, start=START, end=END, cache_dir=cache_dir).to_csv(output)


CHILD = (
    "import sys; sys.path.insert(0, sys.argv[1]); "
    "import test_cache_concurrency as t; t.fetch_in_child(*sys.argv[2:])"
)


def yahoo_files(cache_dir: Path) -> list[str]:
    return sorted(path.name for path in (cache_dir / "yahoo").iterdir())


def must_not_download(*args, **kwargs):
    raise AssertionError("yfinance.download called although the cache holds this request")


@pytest.mark.slow
def test_two_processes_fetching_at_once_leave_one_valid_cache_file(tmp_path, monkeypatch):
    cache_dir = tmp_path / "cache"
    go = tmp_path / "go"
    names = ("first", "second")
    children = [
        subprocess.Popen(
            [sys.executable, "-c", CHILD, str(TESTS), str(cache_dir), str(tmp_path / f"{name}.csv"),
             str(tmp_path / f"{name}.json"), str(tmp_path / f"{name}.ready"), str(go)],
            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        for name in names
    ]
    try:
        # Both have imported everything and patched yfinance before either may start fetching.
        deadline = time.monotonic() + 60
        while not all((tmp_path / f"{name}.ready").exists() for name in names):
            assert all(child.poll() is None for child in children), [child.communicate() for child in children]
            assert time.monotonic() < deadline, "the children did not get ready within 60 s"
            time.sleep(0.01)
        go.touch()
        outcomes = [child.communicate(timeout=60) for child in children]
    finally:
        for child in children:
            if child.poll() is None:
                child.kill()
                child.wait()
    for child, (_, stderr) in zip(children, outcomes):
        assert child.returncode == 0, stderr

    # Both really were inside the download at once, so both went on to write the cache.
    records = [json.loads((tmp_path / f"{name}.json").read_text()) for name in names]
    assert all(record["ticker"] == TICKER and record["start"] == START for record in records)
    assert max(record["entered"] for record in records) < min(record["left"] for record in records), records

    first, second = ((tmp_path / f"{name}.csv").read_text() for name in names)
    assert first == second
    assert yahoo_files(cache_dir) == [CACHE_NAME]  # one file, no temporary left behind

    # The file is a complete cache entry: a later call reads it and never downloads.
    monkeypatch.setattr("yfinance.download", must_not_download)
    cached = load_prices(TICKER, start=START, end=END, cache_dir=cache_dir)
    pd.testing.assert_frame_equal(cached, expected_prices(), check_exact=True)
    fetched = pd.read_csv(tmp_path / "first.csv", index_col=0, parse_dates=True)
    fetched.index = fetched.index.as_unit("us")
    pd.testing.assert_frame_equal(cached, fetched, check_exact=True)


class CountingDownload:
    """Stands in for yfinance.download in this process: counts calls, returns ``yahoo_frame()``."""

    def __init__(self):
        self.calls = 0

    def __call__(self, *args, **kwargs):
        self.calls += 1
        return yahoo_frame()


@pytest.mark.parametrize(
    "failure", [OSError("disk full"), RuntimeError("killed mid-write")], ids=["os-error", "crash"]
)
def test_a_write_that_dies_halfway_leaves_no_cache_file(tmp_path, monkeypatch, failure):
    download = CountingDownload()
    monkeypatch.setattr("yfinance.download", download)
    cache_file = tmp_path / "yahoo" / CACHE_NAME
    write_csv = pd.DataFrame.to_csv
    seen = {}

    def write_half_then_fail(self, path_or_buf=None, *args, **kwargs):
        text = write_csv(self, None, *args, **kwargs)
        Path(path_or_buf).write_text(text[: len(text) // 2])
        # While the half file exists, a reader looking for the cache finds nothing at all.
        seen.update(partial=Path(path_or_buf), cache_existed=cache_file.exists())
        raise failure

    monkeypatch.setattr(pd.DataFrame, "to_csv", write_half_then_fail)
    if isinstance(failure, OSError):
        # A failed cache write is not the user's problem: the frame still comes back, with a warning.
        with pytest.warns(UserWarning, match="could not cache.*disk full"):
            frame = load_prices(TICKER, start=START, end=END, cache_dir=tmp_path)
        pd.testing.assert_frame_equal(frame, expected_prices(), check_exact=True)
    else:
        with pytest.raises(RuntimeError, match="killed mid-write"):
            load_prices(TICKER, start=START, end=END, cache_dir=tmp_path)
    assert seen["partial"].parent == cache_file.parent and seen["partial"] != cache_file
    assert seen["cache_existed"] is False
    assert yahoo_files(tmp_path) == []  # neither a cache file nor the half-written temporary

    # With writing working again, the next call downloads afresh and leaves a complete cache file.
    monkeypatch.setattr(pd.DataFrame, "to_csv", write_csv)
    frame = load_prices(TICKER, start=START, end=END, cache_dir=tmp_path)
    assert download.calls == 2
    assert yahoo_files(tmp_path) == [CACHE_NAME]
    monkeypatch.setattr("yfinance.download", must_not_download)
    cached = load_prices(TICKER, start=START, end=END, cache_dir=tmp_path)
    pd.testing.assert_frame_equal(cached, frame, check_exact=True)
    pd.testing.assert_frame_equal(cached, expected_prices(), check_exact=True)
