"""``forecaster bench``: training and inference speed and memory of every model kind, against PyTorch's own encoder."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from forecaster.commands import arguments
from forecaster.output.tables import format_bench, format_long_series

if TYPE_CHECKING:  # for annotations only: the bench module imports torch
    from forecaster.bench.measure import BenchConfig

NAME = "bench"
HELP = "measure training and inference speed and memory of every model kind"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``forecaster bench``; unset ones keep ``BenchConfig``'s defaults (or ``--quick``'s)."""
    arguments.add_out(parser, NAME)
    arguments.add_quiet(parser)
    arguments.add_verbose(parser)
    parser.add_argument("--contexts", help="comma-separated context lengths (default: 32,64,128,256,512)")
    parser.add_argument("--kinds", help="comma-separated model kinds (default: every kind)")
    for option in ("batch-size", "d-model", "n-heads", "n-layers", "d-ff", "hidden-size"):
        parser.add_argument(f"--{option}", type=int)
    parser.add_argument("--steps", type=int, help="timed training steps per model (default: 10)")
    parser.add_argument("--patch", type=int, metavar="N", help="also a transformer with patches of N steps as tokens, "
                        "and its training time against the unpatched transformer at context 64")
    parser.add_argument("--independent", type=int, metavar="N", help="also a channel-independent transformer on an "
                        "N-channel series against the same univariate model run once per channel (e.g. 7)")
    parser.add_argument("--device", choices=["cpu", "cuda", "all"], default="all",
                        help="where to measure (default: all available: cpu, and cuda when present)")
    parser.add_argument("--precision", help="auto (bf16 on CUDA cards that support it, else fp32), fp32 or bf16 (default: auto)")
    parser.add_argument("--compile", action="store_true", help="torch.compile our models for training")
    parser.add_argument("--no-reference", action="store_true", help="skip the nn.TransformerEncoder reference")
    parser.add_argument("--long-series", action="store_true", help="also train on a long series and report memory")
    parser.add_argument("--long-steps", type=int, help="length of that series (default: 10000000)")
    parser.add_argument("--quick", action="store_true", help="tiny sizes for a first look: contexts 16,32, batch 32, "
                        "d_model 16, d_ff 32, 2 steps, a 2000-step series")


def bench_config_from_arguments(args: argparse.Namespace) -> BenchConfig:
    """The BenchConfig that ``forecaster bench`` options ask for; a bad value is a ForecasterError."""
    from forecaster.bench.options import bench_config

    return bench_config(quick=args.quick, contexts=args.contexts, kinds=args.kinds, device=args.device,
                        reference=not args.no_reference, compile=args.compile, batch_size=args.batch_size,
                        d_model=args.d_model, n_heads=args.n_heads, n_layers=args.n_layers, d_ff=args.d_ff,
                        hidden_size=args.hidden_size, train_steps=args.steps, precision=args.precision, patch=args.patch,
                        independent=args.independent)


def run(args: argparse.Namespace) -> int:
    """``forecaster bench``: check the options and ``--out``, measure, save the folder, print the table."""
    from forecaster.bench.long_series import long_series_memory
    from forecaster.bench.measure import run_bench, save_bench
    from forecaster.bench.options import long_series_config
    from forecaster.bench.tables import channel_table, patch_table, ratio_table
    from forecaster.output.folders import check_out_dir, timestamped_out_dir

    config = bench_config_from_arguments(args)
    long_config = long_series_config(args.long_steps) if args.long_series else None
    out = check_out_dir(args.out or timestamped_out_dir("bench"))
    frame = run_bench(config, progress=not args.quiet)
    long_series = None if long_config is None else long_series_memory(long_config)
    folder = save_bench(frame, out, config=config, long_series=long_series, long_series_config=long_config)
    print(format_bench(frame, ratio_table(frame), patch_table(frame), channel_table(frame)))
    if long_series is not None:
        print(f"\n{format_long_series(long_series)}")
    print(f"results: {folder}")
    return 0
