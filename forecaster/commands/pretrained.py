"""``forecaster pretrain RECIPE``: the pretrained forecaster's half of ``forecaster pretrain`` (``commands/pretrain.py``
sends a config here when its ``pretrain:`` has a ``pool:``).

It builds the pool, trains with a progress bar (and a tracker when ``tracking:`` names one), writes the folder as it
goes (``pretrained.pt``, ``state.pt``, ``history.csv``, and ``recipe.yaml``, the config as resolved) and goes on
from ``state.pt`` with ``--resume``, refusing a recipe other than the one that started the run. Under torchrun every
rank trains on its share of each batch and rank 0 writes (``reuse/pretrained_training.py``).
"""

from __future__ import annotations

import argparse
import copy
import shlex
from pathlib import Path

from forecaster.errors import ForecasterError

RECIPE = "recipe.yaml"
# What may differ between a run and its resumption: when to stop (not the epochs: the schedule is planned for them) and
# where to train; any other change is another run.
MAY_CHANGE = (("training", "time_limit"), ("device",))


def run(args: argparse.Namespace) -> int:
    import yaml

    from forecaster.data.pool import build_pool, describe
    from forecaster.output.folders import check_out_dir, timestamped_out_dir
    from forecaster.reuse.pretrained_recipe import read_recipe
    from forecaster.reuse.pretrained_training import STATE, pretrain_forecaster
    from forecaster.tracking.tracker import flat_params, open_tracker
    from forecaster.training import distributed
    from forecaster.training.loop import EpochEnd

    if args.data is not None:
        raise ForecasterError("--data names series for an encoder's pretraining; a pool config lists its sources in "
                              "pretrain.pool (--set pretrain.pool.bundled=[sunspots], for instance)")
    recipe_file = read_recipe(args.config, args.overrides)
    recipe, record = recipe_file.recipe, recipe_file.to_dict()  # record: recipe.yaml, the card's and the tracker's
    if args.resume:
        if not args.out:
            raise ForecasterError("--resume needs --out, the folder of the run to go on with")
        out = Path(args.out)
        if not (out / STATE).is_file():
            raise ForecasterError(f"--resume: {str(out)!r} holds no {STATE} to go on from; start the run without --resume")
        _check_same_recipe(out / RECIPE, record)
    else:
        out = check_out_dir(args.out or timestamped_out_dir("pretrained"))
    with distributed.session():
        main = distributed.is_main_process()
        pool = build_pool(recipe.pool, progress=not args.quiet and main)
        if main:
            print(describe(pool).to_string(index=False), flush=True)
        tracker = open_tracker(recipe_file.tracking, out)
        best = {"epoch": 0, "val_loss": float("inf")}

        def on_epoch(row: dict, tracked) -> None:
            if row["val_loss"] < best["val_loss"]:
                best.update(epoch=row["epoch"], val_loss=row["val_loss"])
            tracked.log_epoch("pretrained", EpochEnd(row["epoch"], row["train_loss"], row["val_loss"], best["epoch"],
                                                     best["val_loss"], model=None))

        # What makes the weights, for the card: the recipe, its overrides and the threads (a float's last digits), not
        # the folder they were written to.
        threads = [] if args.threads is None else ["--threads", str(args.threads)]
        command = shlex.join(["forecaster", "pretrain", str(args.config),
                              *(item for override in args.overrides for item in ("--set", override)), *threads])
        with tracker.run(out.name, flat_params(record)) as tracked:
            if main:
                out.mkdir(parents=True, exist_ok=True)
                (out / RECIPE).write_text(yaml.safe_dump(record, sort_keys=False))
            # The folder is checked above (new and empty, or a run of this recipe) and holds recipe.yaml now: resume=True
            # starts afresh where there is no state.pt yet.
            weights = pretrain_forecaster(pool, recipe.network, recipe.training, out, resume=True,
                                          progress=not args.quiet, device=recipe.device,
                                          on_epoch=lambda row: on_epoch(row, tracked),
                                          card={"command": command, "recipe": record["pretrain"]})
            card = weights.card
            tracked.log_metrics({"best_val_loss": card["best_val_loss"], "seconds": card["seconds"]})
    if main:
        print(f"{card['epochs_done']} of {recipe.training.epochs} epochs, best {card['best_epoch']} (validation pinball "
              f"{card['best_val_loss']:.4f}), {card['seconds']:.0f} s, peak memory {card['peak_rss_gib']:.2f} GiB; "
              f"{card['parameters']} parameters")
        if card["epochs_done"] < recipe.training.epochs:
            print(f"stopped at the time limit; go on: forecaster pretrain {args.config} --out {out} --resume")
        print(f"use it: forecaster forecast --model pretrained --weights {out / 'pretrained.pt'} --data SOURCE")
        print(f"results: {out}")
    return 0


def _check_same_recipe(path: Path, recipe: dict) -> None:
    """One line when the run in ``path``'s folder was started by another recipe (other than ``MAY_CHANGE``)."""
    import yaml

    if not path.is_file():
        raise ForecasterError(f"--resume: {str(path.parent)!r} holds no {RECIPE}; it was not started by forecaster pretrain")
    recorded, recipe = _comparable(yaml.safe_load(path.read_text())), _comparable(recipe)
    if recorded != recipe:
        changed = sorted(_differences(recorded, recipe))
        raise ForecasterError(f"--resume: the run in {str(path.parent)!r} was started with another recipe ({', '.join(changed)} "
                              f"differ; see its {RECIPE}); give the same config and --set, or start a new run")


def _comparable(record: dict) -> dict:
    """A copy of a recipe's ``record`` without the keys a resumption may change (``MAY_CHANGE``)."""
    record = copy.deepcopy(record)
    for *parents, key in MAY_CHANGE:
        section = record["pretrain"]
        for parent in parents:
            section = section[parent]
        section.pop(key, None)
    return record


def _differences(old, new, where: str = "") -> list[str]:
    if isinstance(old, dict) and isinstance(new, dict):
        return [item for key in old.keys() | new.keys()
                for item in _differences(old.get(key), new.get(key), f"{where}.{key}" if where else key)]
    return [] if old == new else [where]


