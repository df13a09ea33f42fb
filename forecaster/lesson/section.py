"""What every lesson experiment returns (a Section), the lecture's twelve questions, and numbers put into words.

Interpretations are generated from measured numbers by the rules here, never written in advance: a
difference between two settings counts as *clear* only when at least 3 seeds were run, every seed moves
the same way, and the mean difference exceeds twice its standard error over seeds; otherwise the report
says it is within the seed spread. Fewer seeds give no verdict, and the words say so.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:  # for annotations only: matplotlib is imported by the experiments that draw
    from matplotlib.figure import Figure

MIN_SEEDS = 3  # fewer seeds cannot tell a difference from seed-to-seed noise: no verdict

# The lecture's questions, in its Spanish and in English (DESIGN.md's table), by number.
QUESTIONS: dict[int, tuple[str, str]] = {
    1: ("¿Qué significa que un modelo «entienda» una secuencia?", "What does it mean for a model to \"understand\" a sequence?"),
    2: ("¿Por qué falla un MLP aquí?", "Why does an MLP fail here?"),
    3: ("¿Qué captura un embedding bien entrenado?", "What does a well-trained embedding capture?"),
    4: ("¿Qué se perdería si permutamos los tokens?", "What would be lost if we permute the tokens?"),
    5: ("¿Por qué no simplemente concatenar la posición?", "Why not just concatenate the position?"),
    6: ("¿Qué significa «mirar» a otro token?", "What does it mean to \"look\" at another token?"),
    7: ("¿Por qué tres proyecciones distintas Q, K, V?", "Why three different projections Q, K, V?"),
    8: ("¿Por qué escalar por √d_k?", "Why scale by sqrt(d_k)?"),
    9: ("¿Qué gana un token al atenderse a sí mismo?", "What does a token gain by attending to itself?"),
    10: ("¿Por qué ayudan las conexiones residuales al entrenamiento?", "Why do residual connections help training?"),
    11: ("¿Qué ventaja tiene frente a una RNN?", "What advantage over an RNN?"),
    12: ("La atención como enrutamiento de información", "Attention as routing of information (summary)"),
}


@dataclass
class Section:
    """One question's answer: what was run, tables, figures, sentences generated from the numbers.

    ``tables`` are for reading (cells may be "mean ± sd" text); ``records`` hold the raw per-seed numbers
    behind them, written as CSV. ``answer`` is the one-line measured answer that the summary collects.
    """

    number: int
    name: str
    what_was_run: str
    tables: dict[str, pd.DataFrame]
    figures: dict[str, Figure]
    interpretation: list[str]
    answer: str
    records: dict[str, pd.DataFrame] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def question(self) -> tuple[str, str]:
        """(Spanish, English)."""
        return QUESTIONS[self.number]


def mean_sd(values) -> tuple[float, float]:
    """Mean and sample standard deviation (NaN for one value) of the finite values."""
    values = np.asarray(values, dtype=float)
    values = values[np.isfinite(values)]
    if len(values) == 0:
        return math.nan, math.nan
    return float(values.mean()), float(values.std(ddof=1)) if len(values) > 1 else math.nan


def number(value: float, digits: int = 3) -> str:
    """``value`` with ``digits`` significant digits ('-' for NaN)."""
    if value is None or not math.isfinite(value):
        return "-"
    if value == 0:
        return "0"
    magnitude = math.floor(math.log10(abs(value)))
    decimals = max(0, digits - 1 - magnitude)
    return f"{value:.{decimals}f}"


def spread(values, digits: int = 3) -> str:
    """'mean ± sd' over seeds ('mean' alone for one seed)."""
    mean, sd = mean_sd(values)
    return number(mean, digits) if not math.isfinite(sd) else f"{number(mean, digits)} ± {number(sd, 2)}"


@dataclass(frozen=True)
class Comparison:
    """``b`` against ``a``, paired by seed: the mean difference b - a, its sd over seeds, and whether it is clear."""

    a: float
    b: float
    difference: float
    sd: float
    seeds: int
    clear: bool

    @property
    def relative(self) -> float:
        """The difference as a fraction of ``a``."""
        return self.difference / abs(self.a) if self.a else math.nan

    def words(self, lower: str = "lower", higher: str = "higher") -> str:
        """e.g. 'higher by 0.041 (+4.2 %), clear over 3 seeds' or 'within the seed spread (+0.002 ± 0.004 over 3 seeds)'."""
        change = f"{'+' if self.difference >= 0 else ''}{number(self.difference)}"
        percent = f", {self.relative * 100:+.1f} %" if math.isfinite(self.relative) else ""
        if self.seeds < MIN_SEEDS:
            return f"{change}{percent} ({self.seeds} seed{'s' if self.seeds != 1 else ''}: too few for a verdict)"
        if not self.clear:
            return f"within the seed spread ({change} ± {number(self.sd, 2)} over {self.seeds} seeds): no difference measured here"
        direction = higher if self.difference > 0 else lower
        return f"{direction} by {number(abs(self.difference))}{percent}, clear over {self.seeds} seeds"


def compare(a, b) -> Comparison:
    """Compare per-seed values ``b`` with ``a`` (same seeds, same order)."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    keep = np.isfinite(a) & np.isfinite(b)
    a, b = a[keep], b[keep]
    differences = b - a
    seeds = len(differences)
    if seeds == 0:
        return Comparison(math.nan, math.nan, math.nan, math.nan, 0, False)
    mean = float(differences.mean())
    sd = float(differences.std(ddof=1)) if seeds > 1 else math.nan
    same_sign = bool(np.all(differences > 0) or np.all(differences < 0))
    clear = seeds >= MIN_SEEDS and same_sign and abs(mean) > 2 * sd / math.sqrt(seeds)
    return Comparison(float(a.mean()), float(b.mean()), mean, sd, seeds, clear)


def seeds_text(seeds: tuple[int, ...]) -> str:
    return f"{len(seeds)} seed{'s' if len(seeds) != 1 else ''} ({', '.join(map(str, seeds))})"


def summarise(records: pd.DataFrame, by: list[str], value: str) -> pd.DataFrame:
    """Per group of ``by``: the mean of ``value`` over seeds, its sd and the number of seeds (for figures)."""
    grouped = records.groupby(by, sort=False)[value]
    table = grouped.agg(mean="mean", sd=lambda values: values.std(ddof=1), seeds="count").reset_index()
    return table


def display(records: pd.DataFrame, index: str | list[str], columns: str | None, value: str, digits: int = 3) -> pd.DataFrame:
    """A table for reading: ``value`` as 'mean ± sd' over seeds, rows ``index``, one column per ``columns`` value."""
    keys = [index] if isinstance(index, str) else list(index)
    by = keys + ([columns] if columns else [])
    cells = records.groupby(by, sort=False)[value].agg(lambda values: spread(values, digits)).rename(value)
    if columns is None:
        return cells.reset_index()
    table = cells.unstack(columns)  # sorts rows and columns: put both back in the records' order
    rows = records[keys[0]] if len(keys) == 1 else pd.MultiIndex.from_frame(records[keys])
    columns_order = [column for column in dict.fromkeys(records[columns]) if column in table.columns]
    table = table.reindex(index=list(dict.fromkeys(rows)), columns=columns_order)
    return table.reset_index().rename_axis(columns=None)


def values(records: pd.DataFrame, value: str, **where) -> np.ndarray:
    """The per-seed ``value`` of the rows matching ``where`` (column=value), in seed order."""
    rows = records
    for column, wanted in where.items():
        rows = rows[rows[column] == wanted]
    return rows.sort_values("seed")[value].to_numpy(dtype=float)
