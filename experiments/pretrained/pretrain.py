"""Pretrain the forecaster that ships with the package (``forecaster/weights/pretrained.pt``), resumably.

    python experiments/pretrained/pretrain.py --out results/pretrained --threads 1 --time-limit 3600
    python experiments/pretrained/pretrain.py --out results/pretrained --threads 1 --resume     # go on where it stopped

The pool (``data/pool.py``): every M1 and M3 history (never a test part), the bundled series' training spans, and
``--kernel-synth``, ``--trend-season`` and ``--mixed`` generated and TSMixup series; Tourism is held out for the
zero-shot evaluation. The network (``models/pretrained.py``) is a patch transformer with instance norm, a padding
mask for short histories and a quantile head. The run writes ``pretrained.pt`` (the best epoch's weights on the
pool's validation series, with a card of what made them), ``state.pt`` (to resume) and ``history.csv``; copy
``pretrained.pt`` to ``forecaster/weights/`` to ship it.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time

import torch

from forecaster.data.generators import GeneratorConfig
from forecaster.data.pool import PoolConfig, build_pool, describe
from forecaster.models.pretrained import Architecture
from forecaster.reuse.pretrained_training import PretrainingSettings, pretrain_forecaster


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="the results folder (new, or the one to --resume)")
    parser.add_argument("--resume", action="store_true", help="continue the run in --out from its state.pt")
    parser.add_argument("--epochs", type=int, default=PretrainingSettings.epochs)
    parser.add_argument("--time-limit", type=float, default=None, help="seconds: stop after the epoch that passes it")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's own choice)")
    parser.add_argument("--kernel-synth", type=int, default=500, help="Gaussian-process series in the pool")
    parser.add_argument("--trend-season", type=int, default=500, help="trend x season x noise series in the pool")
    parser.add_argument("--mixed", type=int, default=500, help="TSMixup series in the pool")
    parser.add_argument("--no-real", action="store_true", help="leave the real series (M1, M3, bundled) out of the pool")
    parser.add_argument("--context", type=int, default=128)
    parser.add_argument("--horizon", type=int, default=24)
    parser.add_argument("--patch", type=int, default=Architecture.patch, help="frames per token (the context's divisor)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    args = parser.parse_args(argv)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    generated = tuple(GeneratorConfig(kind, count, seed=args.seed) for kind, count in
                      (("kernel_synth", args.kernel_synth), ("trend_season", args.trend_season)) if count)
    start = time.perf_counter()
    real = {"competitions": (), "bundled": ()} if args.no_real else {}
    pool = build_pool(PoolConfig(generated=generated, mixed=args.mixed, seed=args.seed, **real), progress=not args.quiet)
    print(describe(pool).to_string(index=False))
    print(f"pool built in {time.perf_counter() - start:.0f} s", flush=True)
    architecture = Architecture(context=args.context, horizon=args.horizon, patch=args.patch)
    settings = PretrainingSettings(epochs=args.epochs, seed=args.seed, time_limit=args.time_limit)
    command = "python experiments/pretrained/pretrain.py " + shlex.join(argv)
    weights = pretrain_forecaster(pool, architecture, settings, args.out, resume=args.resume, progress=not args.quiet,
                                  card={"command": command})
    card = weights.card
    print(f"{card['epochs_done']} of {settings.epochs} epochs, best {card['best_epoch']} (validation pinball "
          f"{card['best_val_loss']:.4f}), {card['seconds']:.0f} s; weights: {args.out}/pretrained.pt")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
