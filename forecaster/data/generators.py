"""Generated series for a pretraining pool: many univariate series drawn from two priors, and mixes of series.

A forecasting encoder pretrained on many series learns what series look like in general (trends, seasons, noise
of every size) before it meets a user's few. Real pools are limited and skewed; a generator gives as many series as
wanted, with known structure, and needs no download. Two published priors, re-implemented here from their ideas:

- ``kernel_synth`` (KernelSynth, Chronos): one sample of a Gaussian process whose kernel is a random sum and
  product of one to ``max_kernels`` kernels from a bank (periodic, linear, RBF, rational quadratic, white noise,
  constant). Sums overlay patterns (a season on a trend), products modulate them (a season whose amplitude grows).
- ``trend_season`` (ForecastPFN): trend(t) * season(t) * noise(t), a linear and exponential trend times a product
  of harmonics at the calendar periods of the series' frequency, times multiplicative noise around 1. Every factor
  is positive, so every value is.

``mix`` (TSMixup, Chronos) makes further series as convex combinations of a few given ones, each scaled to a mean
absolute value of 1 first so that no part drowns the others.

Each series gets a frequency from ``GeneratorConfig.frequencies`` and real dates from ``START`` at that frequency.
The seasons a series is drawn with are those of its frequency (``KERNEL_PERIODS``, ``SEASONS``), so that its dates
never contradict its seasons: an hourly series has daily and weekly periods, a monthly one a yearly period.
Series ``k`` is drawn from its own generator, seeded by ``(seed, kind, k)``: the same config gives bit-identical
values, and series ``k`` is the same whatever the number of series.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from forecaster.errors import ForecasterError

KINDS = ("kernel_synth", "trend_season")
START = "2000-01-01"  # every series' first date (or the first on its frequency after it: a Sunday for W)
KERNEL_MAX_LENGTH = 2048  # a GP sample costs a length x length matrix and its Cholesky factor: 32 MB and ~0.3 s here

# The periodic kernels' periods (in steps) for each frequency: its calendar seasons and their multiples, and a few
# cycles with no calendar meaning (a 91-day quarter, 11 years of sunspots), as a pool of real series has.
KERNEL_PERIODS: dict[str, tuple[float, ...]] = {
    "h": (6, 12, 24, 48, 168, 336),
    "D": (7, 14, 30, 91, 182, 365),
    "W": (4, 13, 26, 52, 104),
    "MS": (3, 6, 12, 24, 60),
    "QS": (4, 8, 12, 20),
    "YS": (4, 7, 11, 20),
}
# trend_season's seasons: the calendar periods (in steps) of each frequency, fractional where the calendar is
# (a year is 365.25 days, 52.18 weeks). A yearly series has none, as in ForecastPFN.
SEASONS: dict[str, tuple[float, ...]] = {
    "h": (24.0, 168.0),
    "D": (7.0, 365.25 / 12, 365.25),
    "W": (365.25 / 7,),
    "MS": (12.0,),
    "QS": (4.0,),
    "YS": (),
}

Kernel = Callable[[np.ndarray], np.ndarray]
"""A covariance function: the time steps (L,) to the (L, L) covariance matrix of the values at them."""


@dataclass(frozen=True)
class GeneratorConfig:
    """What ``generate`` draws: ``series`` series of one ``kind``, their lengths uniform in [``min_length``,
    ``max_length``], each at a frequency drawn from ``frequencies``; ``max_kernels`` bounds a ``kernel_synth``
    composition; ``seed`` fixes every value."""

    kind: Literal["kernel_synth", "trend_season"]
    """`kernel_synth` (Gaussian-process samples of a composition of kernels) or `trend_season` (trend x seasonality
    x noise)."""
    series: int
    """How many series to draw, at least 1."""
    min_length: int = 32
    """The shortest series, at least 3 values."""
    max_length: int = 512
    """The longest series, at least `min_length`."""
    frequencies: tuple[str, ...] = ("h", "D", "W", "MS", "QS", "YS")
    """The pandas aliases a series' frequency is drawn from (its season and periods follow from it)."""
    max_kernels: int = 5
    """The most kernels a `kernel_synth` composition sums or multiplies, at least 1."""
    seed: int = 0
    """Fixes every value drawn."""

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ForecasterError(f"generator kind {self.kind!r} is not one of {', '.join(KINDS)}")
        for name in ("series", "min_length", "max_length", "max_kernels", "seed"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool):
                raise ForecasterError(f"generator {name}={value!r} must be a whole number")
        if self.series < 1:
            raise ForecasterError(f"generator series={self.series} must be 1 or more")
        if self.min_length < 3:
            raise ForecasterError(f"generator min_length={self.min_length} must be 3 or more (a frequency is read "
                                  "from three dates)")
        if self.max_length < self.min_length:
            raise ForecasterError(f"generator max_length={self.max_length} must be at least min_length={self.min_length}")
        if self.kind == "kernel_synth" and self.max_length > KERNEL_MAX_LENGTH:
            raise ForecasterError(f"generator max_length={self.max_length} must be at most {KERNEL_MAX_LENGTH} for "
                                  "kernel_synth (a sample costs a length x length matrix)")
        if isinstance(self.frequencies, str) or not self.frequencies:
            raise ForecasterError(f"generator frequencies={self.frequencies!r} must be a non-empty tuple of "
                                  f"frequencies from {', '.join(SEASONS)}")
        unknown = [frequency for frequency in self.frequencies if frequency not in SEASONS]
        if unknown:
            raise ForecasterError(f"generator frequency {unknown[0]!r} is not one of {', '.join(SEASONS)}")
        if self.max_kernels < 1:
            raise ForecasterError(f"generator max_kernels={self.max_kernels} must be 1 or more")
        if self.seed < 0:
            raise ForecasterError(f"generator seed={self.seed} must be 0 or more")


def generate(config: GeneratorConfig) -> pd.DataFrame:
    """The series ``config`` describes as one long table: ``unique_id`` (``<kind>-000042``), ``ds`` (dates from
    ``START`` at each series' own frequency) and ``y`` (float64), a series' rows together and in time order; what
    ``data.panel.read_long`` reads (one frequency per table: give one frequency, or split the table by it)."""
    kind = KINDS.index(config.kind)
    dates = {frequency: pd.date_range(START, periods=config.max_length, freq=frequency, unit="us").to_numpy()
             for frequency in config.frequencies}  # every series' dates are the first of these
    ids, times, values = [], [], []
    for index in range(config.series):
        rng = np.random.default_rng([config.seed, kind, index])
        frequency = config.frequencies[rng.integers(len(config.frequencies))]
        length = int(rng.integers(config.min_length, config.max_length + 1))
        if config.kind == "kernel_synth":
            values.append(kernel_synth(length, frequency, rng, max_kernels=config.max_kernels))
        else:
            values.append(trend_season(length, frequency, rng))
        ids.append(f"{config.kind}-{index:06d}")
        times.append(dates[frequency][:length])
    lengths = [len(series) for series in values]
    return pd.DataFrame({"unique_id": pd.Series(np.repeat(ids, lengths), dtype="str"),
                         "ds": np.concatenate(times), "y": np.concatenate(values).astype("float64")})


# --- kernel_synth: Gaussian-process samples from random kernel compositions -------------------------------------

def _lags(steps: np.ndarray) -> np.ndarray:
    """|t - t'| for every pair of steps, (L, L)."""
    return np.abs(steps[:, None] - steps[None, :])


def periodic(period: float, smoothness: float = 1.0) -> Kernel:
    """exp(-2 sin^2(pi |t - t'| / period) / smoothness^2): a season that repeats exactly every ``period`` steps;
    a small ``smoothness`` gives sharp shapes of many harmonics, a large one a near sine."""
    return lambda steps: np.exp(-2.0 * np.sin(np.pi * _lags(steps) / period) ** 2 / smoothness**2)


def linear(offset: float, scale: float) -> Kernel:
    """offset^2 + (t / scale)(t' / scale): a straight line of random level and slope (``scale`` the length keeps the
    slope's size per series, not per step)."""
    return lambda steps: offset**2 + np.outer(steps / scale, steps / scale)


def rbf(scale: float) -> Kernel:
    """exp(-|t - t'|^2 / (2 scale^2)): a smooth wander that changes over about ``scale`` steps."""
    return lambda steps: np.exp(-0.5 * (_lags(steps) / scale) ** 2)


def rational_quadratic(scale: float, alpha: float) -> Kernel:
    """(1 + |t - t'|^2 / (2 alpha scale^2))^-alpha: wanders at many speeds at once, a mixture of RBFs around
    ``scale`` (a small ``alpha`` mixes more widely)."""
    return lambda steps: (1.0 + (_lags(steps) / scale) ** 2 / (2.0 * alpha)) ** -alpha


def white(level: float) -> Kernel:
    """level^2 on the diagonal: independent noise of standard deviation ``level``."""
    return lambda steps: np.eye(len(steps)) * level**2


def constant(level: float) -> Kernel:
    """level^2 everywhere: a random level in a sum, a random scale in a product."""
    return lambda steps: np.full((len(steps), len(steps)), level**2)


def kernel_bank(length: int, frequency: str) -> list[Kernel]:
    """The kernels a ``kernel_synth`` series of ``length`` steps at ``frequency`` draws from. Length-scales are
    fractions of the length (so a short series wanders as much as a long one) and periods are the frequency's
    (``KERNEL_PERIODS``); each kind of kernel comes in a few settings, as KernelSynth's bank does."""
    return [
        *(periodic(period, smoothness) for period in KERNEL_PERIODS[frequency] for smoothness in (0.5, 1.0, 2.0)),
        *(linear(offset, length) for offset in (0.0, 1.0, 10.0)),
        *(rbf(fraction * length) for fraction in (0.05, 0.2, 1.0)),
        *(rational_quadratic(fraction * length, alpha) for fraction in (0.05, 0.2, 1.0) for alpha in (0.1, 1.0, 10.0)),
        *(white(level) for level in (0.1, 1.0)),
        *(constant(level) for level in (0.1, 1.0, 10.0)),
    ]


def compose(kernels: list[Kernel], rng: np.random.Generator) -> Kernel:
    """The kernels combined left to right, each by a sum or a product (a fair coin): sums and products of covariance
    functions are covariance functions, so any composition can be sampled."""
    products = rng.random(len(kernels) - 1) < 0.5

    def composed(steps: np.ndarray) -> np.ndarray:
        matrix = kernels[0](steps)
        for kernel, product in zip(kernels[1:], products):
            matrix = matrix * kernel(steps) if product else matrix + kernel(steps)
        return matrix
    return composed


JITTER = 1e-6  # added to the diagonal, relative to its mean: a periodic or linear kernel alone is singular


def gp_sample(kernel: Kernel, length: int, rng: np.random.Generator) -> np.ndarray:
    """One draw (length,) of the zero-mean Gaussian process with covariance ``kernel`` at steps 0..length-1: the
    Cholesky factor of the covariance matrix (plus jitter, tenfold more each time the factor fails) times standard
    normal noise."""
    matrix = kernel(np.arange(length, dtype=np.float64))
    scale = max(float(np.mean(np.diag(matrix))), 1e-12)
    noise = rng.standard_normal(length)
    for attempt in range(6):
        try:
            factor = np.linalg.cholesky(matrix + np.eye(length) * (JITTER * scale * 10**attempt))
            return factor @ noise
        except np.linalg.LinAlgError:
            continue
    raise ForecasterError(f"a kernel's covariance matrix of {length} steps is not positive definite even with jitter")


def kernel_synth(length: int, frequency: str, rng: np.random.Generator, *, max_kernels: int = 5) -> np.ndarray:
    """One ``kernel_synth`` series: 1..``max_kernels`` kernels drawn from ``kernel_bank`` (with replacement),
    composed by ``compose`` and sampled by ``gp_sample``."""
    bank = kernel_bank(length, frequency)
    chosen = [bank[index] for index in rng.integers(len(bank), size=int(rng.integers(1, max_kernels + 1)))]
    return gp_sample(compose(chosen, rng), length, rng)


# --- trend_season: trend x season x noise ------------------------------------------------------------------------

HARMONICS = 4  # the most harmonics of one season: a shape more than a sine, and still smooth


def season_factor(steps: np.ndarray, period: float, rng: np.random.Generator) -> np.ndarray:
    """1 + amplitude * (a random sum of the first few harmonics of ``period``, scaled to at most 1 in size): a
    season between 1 - amplitude and 1 + amplitude, amplitude in [0.05, 0.5], so it is seen and stays positive.
    Step 0 is ``START`` for every series, so a season's phase is tied to the calendar as a real season's is."""
    count = int(rng.integers(1, HARMONICS + 1))
    weights = rng.normal(size=(2, count)) / np.arange(1, count + 1)  # higher harmonics weaker: a smooth shape
    angles = 2.0 * np.pi * np.outer(steps, np.arange(1, count + 1)) / period  # (L, count)
    wave = np.sin(angles) @ weights[0] + np.cos(angles) @ weights[1]
    return 1.0 + rng.uniform(0.05, 0.5) * wave / np.abs(weights).sum()


def trend_season(length: int, frequency: str, rng: np.random.Generator) -> np.ndarray:
    """One ``trend_season`` series: level * trend(t) * season(t) * noise(t), every factor positive.

    - the level is log-uniform over 0.1..1000, so the pool has values of every size;
    - the trend is linear, 1 + slope * t / length (slope from N(0, 0.5), kept above -0.9 so it stays positive),
      and, for half the series, times an exponential growth g^(t / length), log g from N(0, 0.5): both relative to
      the length, so a short series trends as much over its span as a long one;
    - the season is the product of ``season_factor`` at each of the frequency's ``SEASONS``;
    - the noise is 1 + scale * (w - 1), w Weibull of shape 1..3 scaled to mean 1, scale in [0, 0.25]: right-skewed
      around 1 (demand, sales) and above 1 - scale, so never negative.
    """
    steps = np.arange(length, dtype=np.float64)
    position = steps / length
    trend = (1.0 + max(rng.normal(0.0, 0.5), -0.9) * position) * 10 ** rng.uniform(-1.0, 3.0)
    if rng.random() < 0.5:
        trend = trend * np.exp(rng.normal(0.0, 0.5) * position)
    season = np.ones(length)
    for period in SEASONS[frequency]:
        season = season * season_factor(steps, period, rng)
    shape = rng.uniform(1.0, 3.0)
    weibull = rng.weibull(shape, length) / math.gamma(1.0 + 1.0 / shape)
    noise = 1.0 + rng.uniform(0.0, 0.25) * (weibull - 1.0)
    return trend * season * noise


# --- mix: convex combinations of series ---------------------------------------------------------------------------

def mix(values: list[np.ndarray], count: int, *, seed: int = 0, max_parts: int = 3) -> list[np.ndarray]:
    """``count`` new series, each a convex combination of 1..``max_parts`` distinct series of ``values`` (TSMixup).

    For each: a length uniform between half the shortest chosen series and all of it, and one start, the same for
    every part (so mixing a series with itself gives it back); each part's window is divided by its mean absolute
    value (left as it is where that is 0), so parts of any size weigh what their weights say; the weights are
    Dirichlet(1, ..., 1), uniform over the convex combinations. The same ``seed``, the same mixes.
    """
    arrays = [np.asarray(series, dtype=np.float64) for series in values]
    if not arrays or any(array.ndim != 1 or len(array) < 1 for array in arrays):
        raise ForecasterError("mix needs a non-empty list of non-empty 1-D series")
    if count < 0 or max_parts < 1:
        raise ForecasterError(f"mix count={count} must be 0 or more and max_parts={max_parts} 1 or more")
    rng = np.random.default_rng(seed)
    mixes = []
    for _ in range(count):
        parts = int(rng.integers(1, min(max_parts, len(arrays)) + 1))
        chosen = [arrays[index] for index in rng.choice(len(arrays), size=parts, replace=False)]
        shortest = min(len(array) for array in chosen)
        length = int(rng.integers((shortest + 1) // 2, shortest + 1))
        start = int(rng.integers(0, shortest - length + 1))
        windows = np.stack([array[start:start + length] for array in chosen])  # (parts, length)
        sizes = np.abs(windows).mean(axis=1, keepdims=True)
        weights = rng.dirichlet(np.ones(parts))
        mixes.append(weights @ (windows / np.where(sizes > 0, sizes, 1.0)))
    return mixes
