"""Statistical baselines through StatsForecast: AutoETS, AutoTheta and AutoARIMA (model kinds ``ets``, ``theta``, ``arima``).

They are not window models: each is fitted per series (and per target) on the series' levels, in its own units, and
forecasts from the series' whole history before an origin (``forecast_history``). The scoring that feeds them those
histories, in parallel over series, is ``runs/statistical.py``; a run holds a ``StatisticalPlaceholder`` as their
``nn.Module`` (no parameters, no window forward). They are univariate: extra input channels (``data.features``) and
inputs known ahead (``data.future``) are not read.

statsforecast is imported inside the functions that use it (the ``stats`` extra, which pins pandas<3): without it,
the package imports and a run that lists these kinds stops with one line naming the extra.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from torch import nn

from forecaster.errors import ForecasterError


def _check(season: int | None, n_jobs: int | None) -> None:
    if season is not None and season < 1:
        raise ForecasterError(f"season={season} must be a positive number of steps (or left out: data.season, else the dates)")
    if n_jobs is not None and n_jobs < 1:
        raise ForecasterError(f"n_jobs={n_jobs} must be 1 or more (or left out: every core)")


@dataclass(frozen=True)
class ETSConfig:
    """StatsForecast's AutoETS: exponential smoothing, its error, trend and season chosen per series by AICc."""

    season: int | None = None
    """The season length in steps (statsforecast's `season_length`); left out: `data.season`, else the series' frequency
    (monthly 12, quarterly 4, weekly 52, daily 7, hourly 24, others 1). AutoETS fits no season above 24 steps: it then
    fits a non-seasonal ETS, and the run says so in one warning line."""
    n_jobs: int | None = None
    """How many processes fit the series in parallel (one series at a time each); left out: every core."""
    model: str = "ZZZ"
    """The ETS components, error, trend and season, each `A` (additive), `M` (multiplicative), `N` (none, trend and
    season only) or `Z` (chosen by AICc): statsforecast's `model`, e.g. `ZZZ`, `AAN`, `ZZN`."""

    def __post_init__(self) -> None:
        _check(self.season, self.n_jobs)
        letters = ("AMZ", "NAMZ", "NAMZ")
        if len(self.model) != 3 or any(letter not in allowed for letter, allowed in zip(self.model, letters)):
            raise ForecasterError(f"model={self.model!r} should be three letters: error A, M or Z; trend and season N, A, M or Z "
                                  "(e.g. ZZZ, AAN)")


@dataclass(frozen=True)
class ThetaConfig:
    """StatsForecast's AutoTheta: the theta method and its optimised and dynamic variants, chosen per series by MSE."""

    season: int | None = None
    """The season length in steps (statsforecast's `season_length`), used to deseasonalise a series whose
    autocorrelation tests seasonal; left out: `data.season`, else the series' frequency (monthly 12, quarterly 4, ...)."""
    n_jobs: int | None = None
    """How many processes fit the series in parallel (one series at a time each); left out: every core."""

    def __post_init__(self) -> None:
        _check(self.season, self.n_jobs)


@dataclass(frozen=True)
class ARIMAConfig:
    """StatsForecast's AutoARIMA: the (seasonal) ARIMA order chosen per series by a stepwise AICc search."""

    season: int | None = None
    """The season length in steps (statsforecast's `season_length`) of the seasonal part; left out: `data.season`, else
    the series' frequency (monthly 12, quarterly 4, ...)."""
    n_jobs: int | None = None
    """How many processes fit the series in parallel (one series at a time each); left out: every core."""

    def __post_init__(self) -> None:
        _check(self.season, self.n_jobs)


@dataclass(frozen=True)
class StatisticalModel:
    """What the registry knows of a statistical kind (``ModelKind.statistical``).

    ``make(config, season)``: the unfitted statsforecast model; ``max_season``: the longest season it fits (None: any),
    and ``fallback``: what it fits instead above it, the words of the warning that says so.
    """

    make: Callable[[Any, int], Any]
    max_season: int | None = None
    fallback: str = ""

    def season_warning(self, name: str, seasons: set[int]) -> str | None:
        """One line saying that model ``name`` cannot fit the ``seasons`` it was given and what it fits, or None."""
        above = sorted(season for season in seasons if self.max_season is not None and season > self.max_season)
        if not above:
            return None
        return (f"model {name!r}: season {', '.join(map(str, above))} is longer than the {self.max_season} steps it can fit; "
                f"{self.fallback}")


def statsforecast_models():
    """statsforecast's ``models`` module, or one error line naming the extra that installs it."""
    try:
        from statsforecast import models
    except ImportError:
        raise ForecasterError("the ets, theta and arima model kinds need statsforecast: pip install 'forecaster[stats]' "
                              "(it requires pandas<3)") from None
    return models


def _ets(config: ETSConfig, season: int) -> Any:
    return statsforecast_models().AutoETS(season_length=season, model=config.model)


def _theta(config: ThetaConfig, season: int) -> Any:
    return statsforecast_models().AutoTheta(season_length=season)


def _arima(config: ARIMAConfig, season: int) -> Any:
    return statsforecast_models().AutoARIMA(season_length=season)


ETS = StatisticalModel(_ets, max_season=24, fallback="statsforecast's AutoETS fits it without a season (a non-seasonal ETS: "
                       "error and trend only), as StatsForecast itself does")
THETA = StatisticalModel(_theta)
ARIMA = StatisticalModel(_arima)


def _level_key(level: float) -> int | float:
    return int(level) if float(level).is_integer() else float(level)  # statsforecast names bounds lo-80, lo-97.5


def forecast_history(
    statistical: StatisticalModel, config: Any, history: np.ndarray, *, fit_end: int, ends: np.ndarray, horizon: int,
    season: int, levels: tuple[float, ...], label: str = "",
) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    """Point forecasts (N, H) and central intervals (N, H, L) at ``levels`` from one series' ``history`` (its levels).

    The model is fitted once on ``history[:fit_end]``; the forecast at origin n reads ``history[:ends[n]]`` alone: the
    fitted model's own forecast where ``ends[n]`` is ``fit_end``, else the fitted model applied to that longer history
    (statsforecast's ``forward``: the same parameters, its states run on to the origin; nothing is refitted). Without
    levels the bounds are None. ``label`` names the series in an error line.
    """
    keys = [_level_key(level) for level in levels]
    level = keys or None
    try:
        model = statistical.make(config, season).fit(history[:fit_end].astype(np.float64))
        outputs = [model.predict(h=horizon, level=level) if end == fit_end else
                   model.forward(y=history[:end].astype(np.float64), h=horizon, level=level) for end in ends]
    except ForecasterError:
        raise
    except Exception as error:  # statsforecast's refusals (a series too short to fit, ...) as one line naming the series
        first = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise ForecasterError(f"series {label!r}: statsforecast could not fit it ({first})") from None
    mean = np.stack([np.asarray(output["mean"], dtype=np.float64) for output in outputs])
    if not keys:
        return mean, None, None
    lower = np.stack([np.stack([output[f"lo-{key}"] for key in keys], axis=-1) for output in outputs]).astype(np.float64)
    upper = np.stack([np.stack([output[f"hi-{key}"] for key in keys], axis=-1) for output in outputs]).astype(np.float64)
    return mean, lower, upper


class StatisticalPlaceholder(nn.Module):
    """What a run holds as a statistical kind's model: no parameters, and no forecast from windows.

    A statistical model forecasts from a series' whole history (``runs/statistical.py``), not from a window of
    ``context`` steps, so ``forward`` refuses in one line.
    """

    def __init__(self, kind: str) -> None:
        super().__init__()
        self.kind = kind

    def forward(self, past: Any, future: Any = None) -> Any:
        raise ForecasterError(f"model kind {self.kind!r} forecasts from a series' whole history, not from windows: it is "
                              "scored by forecaster run (runs/statistical.py), and has no checkpoint to forecast with")
