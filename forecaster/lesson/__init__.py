"""The lecture's twelve questions answered by experiments, each with numbers over seeds, a figure and generated sentences.

``run_lesson(names, settings=FULL, seeds=(0, 1, 2))`` runs them (``forecaster lesson`` on the command
line) and ``save_lesson`` writes report.md with its figures; each experiment is also a function of its
own module (``order``, ``mlp``, ``embeddings``, ``ablations``, ``attention_maps``, ``scale``,
``residuals``, ``rnn``), and the synthetic tasks are in ``tasks``.
"""

from forecaster.lesson.report import (
    EXPERIMENTS,
    check_names,
    run_lesson,
    save_lesson,
    summary,
)
from forecaster.lesson.section import QUESTIONS, Section
from forecaster.lesson.settings import FULL, QUICK, LessonSettings

__all__ = [
    "EXPERIMENTS",
    "FULL",
    "QUESTIONS",
    "QUICK",
    "LessonSettings",
    "Section",
    "check_names",
    "run_lesson",
    "save_lesson",
    "summary",
]
