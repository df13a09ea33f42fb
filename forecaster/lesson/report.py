"""Run the lesson's experiments by name and write the report: report.md, its figures and the per-seed numbers.

``run_lesson(names)`` runs experiments in the lecture's order (all of them by default), timing each;
``summary`` (question 12) collects each section's measured answer into one table; ``save_lesson``
writes the folder atomically, with figures under ``figures/``, raw per-seed numbers under ``tables/`` and
what produced them (command, experiments, seeds, threads, every size setting, machine) in ``settings.yaml``.
"""

from __future__ import annotations

import dataclasses
import math
import os
import platform
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import pandas as pd
import torch
import yaml
from tqdm.auto import tqdm

from forecaster.config import check_seeds
from forecaster.errors import ForecasterError
from forecaster.lesson.ablations import diagonal, positional_concat, shared_qkv
from forecaster.lesson.attention_maps import attention_maps
from forecaster.lesson.embeddings import embeddings
from forecaster.lesson.figures import bar_figure
from forecaster.lesson.mlp import mlp_fails
from forecaster.lesson.order import order_sensitivity, permutation
from forecaster.lesson.residuals import residuals
from forecaster.lesson.rnn import rnn_speed
from forecaster.lesson.runs import clear_cache
from forecaster.lesson.scale import scale
from forecaster.lesson.section import MIN_SEEDS, QUESTIONS, Section, number, seeds_text
from forecaster.lesson.settings import LessonSettings
from forecaster.mappings import plain_dict
from forecaster.output.folders import write_folder

Experiment = Callable[..., Section]
# Name -> experiment, in the lecture's order; "summary" (question 12) is built from the others.
EXPERIMENTS: dict[str, Experiment | None] = {
    "order_sensitivity": order_sensitivity,
    "mlp_fails": mlp_fails,
    "embeddings": embeddings,
    "permutation": permutation,
    "positional_concat": positional_concat,
    "attention_maps": attention_maps,
    "shared_qkv": shared_qkv,
    "scale": scale,
    "diagonal": diagonal,
    "residuals": residuals,
    "rnn_speed": rnn_speed,
    "summary": None,
}
DPI = 80  # small PNGs: the report is read in a browser, not printed


def check_names(names: Sequence[str] | None) -> list[str]:
    """The experiments to run, in the lecture's order (all when none are named); unknown names are an error."""
    if not names:
        return list(EXPERIMENTS)
    unknown = [name for name in names if name not in EXPERIMENTS]
    if unknown:
        raise ForecasterError(f"unknown lesson experiment {unknown[0]!r}; valid: {', '.join(EXPERIMENTS)}")
    return [name for name in EXPERIMENTS if name in names]


def run_lesson(names: Sequence[str] | None = None, *, settings: LessonSettings, seeds: tuple[int, ...],
               progress: bool = False, threads: int = 1) -> list[Section]:
    """Run the named experiments (all by default) with ``settings`` and ``seeds``; each section records its seconds.

    ``threads`` is torch's number of CPU threads while the lesson runs (restored afterwards). One by
    default: the numbers then do not depend on the machine's core count (another thread count can sum
    floats in another order), and other work on the machine cannot stall a team of threads: on the busy
    2-core development machine one training took 1.8 s with one thread and 125 s with two.
    """
    chosen = check_names(names)
    check_seeds(seeds, "seeds")
    if threads < 1:
        raise ForecasterError(f"threads={threads} must be at least 1")
    sections = []
    clear_cache()
    previous_threads = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        bar = tqdm(chosen, desc="lesson", unit="question", disable=not progress)
        for name in bar:
            bar.set_postfix_str(name)
            started = time.perf_counter()
            experiment = EXPERIMENTS[name]
            section = summary(sections) if experiment is None else experiment(settings, seeds=seeds, progress=progress)
            section.seconds = time.perf_counter() - started
            sections.append(section)
            if progress:
                tqdm.write(f"question {section.number} ({name}): {section.seconds:.1f} s")
        bar.close()
    finally:
        clear_cache()  # the memoised models are no use after the report
        torch.set_num_threads(previous_threads)
    return sections


def summary(sections: list[Section]) -> Section:
    """Question 12: every section's measured answer in one table, and where the time went."""
    table = pd.DataFrame([{"#": s.number, "question": s.question[1], "measured answer": s.answer,
                           "seconds": round(s.seconds)} for s in sections])
    times = pd.DataFrame({"section": [f"{s.number} {s.name}" for s in sections],
                          "mean": [s.seconds for s in sections], "sd": [0.0] * len(sections)})
    figure = bar_figure(times, category="section", title="Wall time per section of this report", ylabel="seconds")
    total = sum(s.seconds for s in sections)
    sentences = [f"{len(sections)} of {len(QUESTIONS) - 1} questions were measured in this report, in "
                 f"{total / 60:.1f} minutes of wall time." if sections else "No experiment ran before the summary."]
    if sections:
        slowest = max(sections, key=lambda s: s.seconds)
        sentences.append(f"The slowest section was question {slowest.number} ({slowest.name}, {slowest.seconds:.0f} s).")
    return Section(number=12, name="summary",
                   what_was_run="Collected from the sections above: each one's measured answer in a line.",
                   tables={"the measured answers": table}, figures={"summary_time.png": figure},
                   interpretation=sentences, answer=f"{len(sections)} questions measured")


# --- the report ---------------------------------------------------------------------------------


def markdown_table(table: pd.DataFrame) -> str:
    """A pipe table; numbers with 4 significant digits, NaN as '-'."""
    def cell(value) -> str:
        if isinstance(value, float):
            return number(value, 4) if math.isfinite(value) else "-"
        return str(value).replace("|", "\\|").replace("\n", " ")

    header = "| " + " | ".join(str(column) for column in table.columns) + " |"
    rule = "|" + "|".join("---" for _ in table.columns) + "|"
    rows = ["| " + " | ".join(cell(value) for value in row) + " |" for row in table.itertuples(index=False)]
    return "\n".join([header, rule, *rows])


def machine_text(threads: int) -> str:
    """What the numbers were measured on."""
    cpu = platform.processor() or platform.machine()
    gpu = f", GPU {torch.cuda.get_device_name(0)}" if torch.cuda.is_available() else ", no GPU"
    return (f"{platform.system()} {cpu}, {os.cpu_count()} CPU cores (torch threads: {threads}){gpu}; "
            f"Python {platform.python_version()}, torch {torch.__version__}")


def render(sections: list[Section], *, settings: LessonSettings, seeds: tuple[int, ...], command: str,
           threads: int = 1) -> str:
    """The whole report.md text."""
    total = sum(section.seconds for section in sections)
    lines = [
        "# The lecture's twelve questions, answered by experiments",
        "",
        (f"Generated by `{command}` ({settings.name} sizes, {seeds_text(seeds)}) on {time.strftime('%Y-%m-%d')}, in "
        f"{total / 60:.1f} minutes on: {machine_text(threads)}."),
        "",
        ("How to read it: every number is measured by the code in `forecaster/lesson/`, and every sentence under a "
        "table is generated from those numbers. `mean ± sd` is over seeds (the seed sets the initial weights, the "
        "batch order and the synthetic data). `rel_mae` is a model's test MAE divided by the naive forecast's "
        "('tomorrow equals today') on the same points: the naive forecast is 1, below 1 beats it. A difference is "
        f"called clear only with at least {MIN_SEEDS} seeds, when every seed moves the same way and the mean difference "
        "exceeds twice its standard error; otherwise the report says it is within the seed spread, which means no "
        "difference was measured here, not that there is none."),
        "",
    ]
    for section in sections:
        spanish, english = section.question
        lines += [f"## {section.number}. {spanish} / {english}", "",
                  f"*What was run:* {section.what_was_run} *Time:* {section.seconds:.1f} s.", ""]
        lines += [f"![{name}](figures/{name})" for name in section.figures] + [""]
        for caption, table in section.tables.items():
            lines += [f"**{caption}**", "", markdown_table(table), ""]
        lines += [f"- {sentence}" for sentence in section.interpretation] + [""]
    return "\n".join(lines)


def save_lesson(sections: list[Section], out: str | Path, *, settings: LessonSettings, seeds: tuple[int, ...],
                command: str, threads: int = 1) -> Path:
    """Write report.md, figures/*.png, tables/*.csv (the per-seed numbers) and settings.yaml to ``out``, all at once.

    settings.yaml records what the report ran: ``command``, the experiments, ``seeds``, ``threads``, every
    field of ``settings`` and the machine, so that the numbers can be traced to their sizes and rerun.
    """
    text = render(sections, settings=settings, seeds=seeds, command=command, threads=threads)
    record = {"command": command, "experiments": [section.name for section in sections], "seeds": list(seeds),
              "threads": threads, "machine": machine_text(threads), "settings": plain_dict(dataclasses.asdict(settings))}

    def write_files(folder: Path) -> None:
        (folder / "figures").mkdir()
        (folder / "tables").mkdir()
        for section in sections:
            for name, figure in section.figures.items():
                figure.savefig(folder / "figures" / name, dpi=DPI)
            for name, records in section.records.items():
                records.to_csv(folder / "tables" / f"{section.number:02d}_{name}.csv", index=False)
        (folder / "report.md").write_text(text, encoding="utf-8")
        (folder / "settings.yaml").write_text(yaml.safe_dump(record, sort_keys=False), encoding="utf-8")

    return write_folder(out, write_files)
