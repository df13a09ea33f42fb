"""Which exchange's trading calendar a daily price series follows, and that calendar's next sessions.

A source's exchange comes from a short, explicit mapping (:func:`exchange_of`); the sessions come from
the optional package ``exchange_calendars`` (``pip install 'forecaster[calendars]'``). Without it,
:func:`sessions_after` returns None and says once how to install it; the caller then uses business days.
"""

from __future__ import annotations

import functools
import importlib
import os
import re
import warnings

import pandas as pd

from forecaster.data.sources import BUNDLED, SYNTHETIC
from forecaster.errors import ForecasterError

PACKAGE = "exchange_calendars"
INSTALL_HINT = "pip install 'forecaster[calendars]'"
ALWAYS_OPEN = "24/7"  # every calendar day: needs no package
NO_EXCHANGE = "none"  # plain business days, when named explicitly
EXAMPLES = "XNYS, XLON, XETR, XPAR, XTKS, XHKG, 24/7 (every day) or none (business days)"

# The mapping, kept short: bundled series, Yahoo index tickers, Yahoo's exchange suffixes.
BUNDLED_EXCHANGES = {"sp500": "XNYS"}
INDEX_EXCHANGES = {
    "^GSPC": "XNYS", "^DJI": "XNYS", "^IXIC": "XNYS", "^NDX": "XNYS", "^RUT": "XNYS",
    "^FTSE": "XLON", "^GDAXI": "XETR", "^FCHI": "XPAR", "^N225": "XTKS", "^HSI": "XHKG",
}
SUFFIX_EXCHANGES = {
    "L": "XLON", "DE": "XETR", "PA": "XPAR", "T": "XTKS", "HK": "XHKG", "TO": "XTSE", "AS": "XAMS", "SW": "XSWX",
}
_US_TICKER = re.compile(r"^[A-Z]{1,5}(-[A-Z])?$")  # AAPL, BRK-B: listed in New York
_CRYPTO_TICKER = re.compile(r"^[A-Z0-9]{2,10}-(USD|USDT|USDC|EUR|GBP|JPY|BTC|ETH)$")  # BTC-USD: traded every day


def exchange_of(source: str | os.PathLike | None) -> str | None:
    """The trading calendar of ``source`` (a bundled name or a Yahoo ticker), or None where none is known.

    ``sp500`` and the US index tickers (``^GSPC``, ``^DJI``, ``^IXIC``, ``^NDX``, ``^RUT``) and plain US
    tickers (letters only, e.g. ``AAPL``, ``BRK-B``): ``XNYS``; a few other indices (``^FTSE``, ``^GDAXI``,
    ``^FCHI``, ``^N225``, ``^HSI``) and the Yahoo suffixes ``.L .DE .PA .T .HK .TO .AS .SW``: their exchange;
    crypto pairs such as ``BTC-USD``: ``"24/7"``. CSV files, ``sunspots``, ``synthetic`` and anything else
    (futures ``ES=F``, currencies ``EURUSD=X``): None, so the dates follow the series' own rhythm.
    """
    if not isinstance(source, str) or not source.strip():
        return None
    name = source.strip()
    if name.lower() in BUNDLED or name.lower() == SYNTHETIC:
        return BUNDLED_EXCHANGES.get(name.lower())
    if name.lower().endswith((".csv", ".txt")) or any(s in name for s in {"/", os.sep, os.altsep} - {None}) or os.path.exists(name):
        return None  # a file, as load_prices reads it
    ticker = name.upper()
    if ticker in INDEX_EXCHANGES:
        return INDEX_EXCHANGES[ticker]
    if _CRYPTO_TICKER.fullmatch(ticker):
        return ALWAYS_OPEN
    if "." in ticker:
        return SUFFIX_EXCHANGES.get(ticker.rsplit(".", 1)[1])
    return "XNYS" if _US_TICKER.fullmatch(ticker) else None


def calendar_name(exchange: str) -> str | None:
    """``exchange`` checked: a calendar name (any case: ``xnys`` is ``XNYS``), ``"24/7"``, or None for ``"none"`` (business days).

    An unknown name is a ForecasterError naming examples. Without ``exchange_calendars`` a name cannot be
    checked and is returned as given (the dates then fall back to business days, see :func:`sessions_after`).
    """
    text = str(exchange).strip()
    if text.lower() == NO_EXCHANGE:
        return None
    if text == ALWAYS_OPEN:
        return ALWAYS_OPEN
    if _package() is None:
        return text.upper()
    known = _known_names()
    if text.upper() not in known:
        raise ForecasterError(f"exchange={exchange!r} is not a calendar {PACKAGE} knows; valid: e.g. {EXAMPLES}")
    return known[text.upper()]


def sessions_after(date: pd.Timestamp, count: int, exchange: str) -> pd.DatetimeIndex | None:
    """The ``count`` sessions of ``exchange``'s calendar after ``date`` (tz-naive midnights).

    None, with a one-line warning, when ``exchange_calendars`` is not installed. A ForecasterError when
    the calendar's known range ends before (or starts after) the sessions asked for.
    """
    calendars = _package()
    if calendars is None:
        warnings.warn(f"{PACKAGE} is not installed, so the dates are business days, not {exchange} sessions; "
                      f"for the {exchange} calendar: {INSTALL_HINT}", UserWarning, stacklevel=3)
        return None
    first = pd.Timestamp(date).normalize()
    last = first + pd.Timedelta(days=2 * count + 30)  # weekends and the longest closures (a new year's week)
    try:
        sessions = _sessions(calendars, exchange, first, last)
    except ValueError as error:  # exchange_calendars' out-of-range errors are ValueErrors
        bound = _bound_max(calendars, exchange)
        if bound is None or not first < bound < last:
            reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
            raise ForecasterError(
                f"the {exchange} calendar of {PACKAGE} cannot give {count} sessions after {first:%Y-%m-%d}: {reason}") from error
        last = bound
        sessions = _sessions(calendars, exchange, first, last)  # the holidays are known up to bound only
    if len(sessions) < count:
        raise ForecasterError(f"the {exchange} calendar of {PACKAGE} ends at {last:%Y-%m-%d}, "
                              f"before {count} sessions after {first:%Y-%m-%d}")
    return sessions[:count]


def _sessions(calendars, exchange: str, first: pd.Timestamp, last: pd.Timestamp) -> pd.DatetimeIndex:
    """The sessions of ``exchange`` after ``first`` up to ``last``, tz-naive, without a frequency."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # pandas deprecations inside exchange_calendars: not ours
        sessions = calendars.get_calendar(exchange, start=first, end=last).sessions
    sessions = sessions[sessions > first]
    return pd.DatetimeIndex(sessions.tz_localize(None) if sessions.tz is not None else sessions, freq=None)


def _bound_max(calendars, exchange: str) -> pd.Timestamp | None:
    """The last date whose holidays ``exchange``'s calendar knows (lunisolar calendars stop), or None."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return type(calendars.get_calendar(exchange)).bound_max()


def _package():
    """The ``exchange_calendars`` module, or None when it is not installed."""
    try:
        return importlib.import_module(PACKAGE)
    except ImportError:
        return None


@functools.lru_cache(maxsize=1)
def _known_names() -> dict[str, str]:
    """Every calendar name and alias of exchange_calendars, by its upper-case spelling."""
    return {name.upper(): name for name in _package().get_calendar_names(include_aliases=True)}
