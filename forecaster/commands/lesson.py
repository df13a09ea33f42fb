"""``forecaster lesson``: the lecture's twelve questions answered by experiments, in a generated report."""

from __future__ import annotations

import argparse

from forecaster.commands import arguments
from forecaster.errors import ForecasterError

NAME = "lesson"
HELP = "the lecture's twelve questions answered by experiments: report.md with numbers and figures"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("names", nargs="*", metavar="NAME", help="experiments to run, e.g. permutation scale (default: all)")
    parser.add_argument("--quick", action="store_true", help="tiny sizes and 1 seed: every section in about a minute")
    arguments.add_seeds(parser, "number of seeds 0..N-1 (default: 3, or 1 with --quick)", type=int)
    arguments.add_out(parser, NAME)
    arguments.add_threads(parser, default=1)
    arguments.add_quiet(parser)
    arguments.add_verbose(parser, shown=False)


def run(args: argparse.Namespace) -> int:
    """``forecaster lesson``: check the names, seeds and ``--out`` before any work, run, write the report."""
    from forecaster.lesson import FULL, QUICK, check_names, run_lesson, save_lesson
    from forecaster.output.folders import check_out_dir, timestamped_out_dir

    names = check_names(args.names)
    seeds = args.seeds if args.seeds is not None else (1 if args.quick else 3)
    if seeds < 1:  # a count here, the seeds 0..N-1 in the library
        raise ForecasterError(f"--seeds={seeds} must be at least 1")
    out = check_out_dir(args.out or timestamped_out_dir("lesson"))
    settings = QUICK if args.quick else FULL
    sections = run_lesson(names, settings=settings, seeds=tuple(range(seeds)), progress=not args.quiet,
                          threads=args.threads)
    command = " ".join(["forecaster lesson", *args.names, *(["--quick"] if args.quick else []),
                        *([f"--seeds {args.seeds}"] if args.seeds is not None else []),
                        *([f"--threads {args.threads}"] if args.threads != 1 else [])])
    folder = save_lesson(sections, out, settings=settings, seeds=tuple(range(seeds)), command=command,
                         threads=args.threads)
    for section in sections:
        print(f"{section.number:>2}. {section.name}: {section.answer} ({section.seconds:.0f} s)")
    print(f"report: {folder / 'report.md'}")
    return 0
