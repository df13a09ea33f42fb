"""The lesson's figures as matplotlib Figures (no pyplot state, no torch): bars and lines of seed means with their sd.

Each takes a long table with ``mean`` and ``sd`` columns (``section.summarise``) and draws one panel per
value of ``panels``; error bars and bands are one standard deviation over seeds.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

REFERENCE_COLOUR = "tab:red"


def _panels(table: pd.DataFrame, panels: str | None, width: float, height: float) -> tuple[Figure, list]:
    names = list(dict.fromkeys(table[panels])) if panels else [None]
    figure = Figure(figsize=(width * len(names), height), layout="constrained")
    axes = figure.subplots(1, len(names), squeeze=False)[0]
    return figure, list(zip(names, axes))


def bar_figure(
    table: pd.DataFrame, *, category: str, title: str, ylabel: str, group: str | None = None,
    panels: str | None = None, reference: float | None = None, reference_label: str = "", log_y: bool = False,
) -> Figure:
    """Bars of ``mean`` (error bar: ``sd``) per ``category``, side by side per ``group``, one panel per ``panels``."""
    figure, cells = _panels(table, panels, width=5.2, height=3.6)
    for name, axes in cells:
        rows = table if name is None else table[table[panels] == name]
        categories = list(dict.fromkeys(rows[category]))
        groups = list(dict.fromkeys(rows[group])) if group else [None]
        width = 0.8 / len(groups)
        for index, group_name in enumerate(groups):
            part = rows if group_name is None else rows[rows[group] == group_name]
            part = part.set_index(category).reindex(categories)
            positions = np.arange(len(categories)) + (index - (len(groups) - 1) / 2) * width
            axes.bar(positions, part["mean"], width=width, yerr=part["sd"].fillna(0), capsize=2,
                     label=str(group_name) if group_name is not None else None)
        if reference is not None:
            axes.axhline(reference, color=REFERENCE_COLOUR, linestyle="--", linewidth=1, label=reference_label or None)
        axes.set_xticks(range(len(categories)), [str(c) for c in categories], rotation=25, ha="right", fontsize=8)
        if log_y:
            axes.set_yscale("log")
        axes.set(ylabel=ylabel, title=str(name) if name is not None else "")
        if (group or reference_label) and name == cells[0][0]:
            handles, labels = axes.get_legend_handles_labels()
            figure.legend(handles, labels, loc="outside lower center", ncol=len(labels), fontsize=7, frameon=False)
    figure.suptitle(title, fontsize=10)
    return figure


def line_figure(
    table: pd.DataFrame, *, x: str, line: str, title: str, xlabel: str, ylabel: str, panels: str | None = None,
    log_x: bool = False, log_y: bool = False, reference: float | None = None, reference_label: str = "",
) -> Figure:
    """``mean`` against ``x``, one line per ``line`` value with a one-sd band, one panel per ``panels`` value."""
    figure, cells = _panels(table, panels, width=4.8, height=3.6)
    for name, axes in cells:
        rows = table if name is None else table[table[panels] == name]
        for line_name, points in rows.groupby(line, sort=False):
            points = points.sort_values(x)
            drawn = axes.plot(points[x], points["mean"], marker="o", markersize=3, label=str(line_name))
            low, high = points["mean"] - points["sd"].fillna(0), points["mean"] + points["sd"].fillna(0)
            axes.fill_between(points[x], low, high, color=drawn[0].get_color(), alpha=0.2)
        if reference is not None:
            axes.axhline(reference, color=REFERENCE_COLOUR, linestyle="--", linewidth=1, label=reference_label or None)
        if log_x:
            axes.set_xscale("log", base=2)
        if log_y:
            axes.set_yscale("log")
        axes.set(xlabel=xlabel, ylabel=ylabel, title=str(name) if name is not None else "")
        axes.legend(fontsize=7)
    figure.suptitle(title, fontsize=10)
    return figure
