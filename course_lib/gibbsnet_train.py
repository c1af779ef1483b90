"""Notebook 06's GibbsNet run, shipped: ``python -m course_lib.gibbsnet_train``.

GibbsNet's three conv nets train for ``gibbsnet_steps`` = 2,500 updates in ``fast``, about
3 min on 2 CPU cores (158 s for the shipped run), more than notebook 06's other cells
together. The course ships that run in
``data/gibbsnet_mnist5k/`` (safetensors weights of E, G and D; ``config.json``: the full
recipe and step count; ``MANIFEST.json``: checksums and provenance, with the loss curves),
and :func:`load_or_train` loads it when its recipe is exactly the one the notebook asks for
(the ``fast`` profile's), training it otherwise (``smoke``, ``full``, or a missing or
altered folder). :func:`train` calls :func:`course_lib.gibbsnet.train_gibbsnet` with
:func:`recipe`, so the shipped run is the notebook's recipe; bit-identical weights need the
same CPU and thread count as well (the manifest records both): floating-point rounding
differs between CPUs (on an AMD EPYC one and two threads gave the same weights at the
notebook's width, on an Intel Xeon with AVX-512 they do not). A run repeated with the same
settings on one machine gives the same weights (tested).

    python -m course_lib.gibbsnet_train train --out data/gibbsnet_mnist5k
    python -m course_lib.gibbsnet_train check [folder]
"""

from __future__ import annotations

import shlex
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from . import io, shipped
from .budgets import BUDGETS
from .config import check_choice
from .gibbsnet import GibbsNet, train_gibbsnet
from .train import History, cpu_threads, prepare

DEFAULT_FOLDER = Path(__file__).resolve().parent.parent / "data" / "gibbsnet_mnist5k"
REBUILD = "python -m course_lib.gibbsnet_train train --out data/gibbsnet_mnist5k"
# The same run with the paper's loss alone (no cycle term), shipped so that notebook 06 can
# show what the cycle term changes without a second 4-minute training run.
PAPER_FOLDER = DEFAULT_FOLDER.with_name("gibbsnet_mnist5k_paper")
REBUILD_PAPER = ("python -m course_lib.gibbsnet_train train --cycle-weight 0 "
                 "--out data/gibbsnet_mnist5k_paper")  # fmt: skip
# Notebook 06's recipe beyond train_gibbsnet's defaults (it spells the defaults out too):
# z = 16, N drawn from 1..5 per update, encoder sigma >= 0.3, ALICE's cycle term with weight
# 1, Adam 1e-3 for D and for G/E (experiments/rbm_gibbsnet/README.md, seeds 0-2).
NOTEBOOK_RECIPE = dict(latent_dim=16, chain_steps=5, random_chain=True, min_std=0.3,
                       cycle_weight=1.0, lr=1e-3, lr_GE=1e-3)  # fmt: skip
_NOT_RECIPE = {"data", "num_steps", "device", "bf16", "progress"}  # how, not what, is trained


def rebuild_command(folder: str | Path) -> str:
    """The command that rebuilds a shipped folder (the paper-loss run or the notebook's)."""
    return REBUILD_PAPER if Path(folder).name == PAPER_FOLDER.name else REBUILD


def recipe(budget: Mapping[str, Any], seed: int = 0, **changes) -> dict[str, Any]:
    """Every setting of notebook 06's GibbsNet run for ``budget`` (``BUDGETS["06_rbm_gibbsnet"]
    [profile]``): ``num_steps``, then each argument of :func:`~course_lib.gibbsnet.
    train_gibbsnet` that decides the weights (its defaults filled in), ``changes`` applied."""
    steps = int(budget["gibbsnet_steps"])
    out = {"num_steps": steps, **shipped.settings_of(train_gibbsnet, _NOT_RECIPE),
           **NOTEBOOK_RECIPE, "hidden": int(budget["gibbsnet_hidden"]), "seed": int(seed),
           "log_every": max(1, steps // 60)}  # fmt: skip
    for key in sorted(changes):
        check_choice("GibbsNet setting", key, sorted(out))
    return out | changes


def train(
    images: torch.Tensor, settings: Mapping[str, Any], device: torch.device | str = "cpu",
    threads: int | None = None, progress: bool = True,
) -> tuple[GibbsNet, History]:  # fmt: skip
    """Train GibbsNet on ``images`` with ``settings`` (:func:`recipe`) on ``threads`` CPU
    threads (None: torch's setting)."""
    kw = dict(settings)
    steps = kw.pop("num_steps")
    with cpu_threads(threads if torch.device(device).type == "cpu" else None):
        return train_gibbsnet(images, steps, device=device, progress=progress, **kw)


def save(folder: str | Path, model: GibbsNet, settings: Mapping[str, Any], provenance: dict
         ) -> Path:  # fmt: skip
    """Write the three networks and their recipe as one artefact folder, atomically."""
    return io.save_weights(folder, io.unwrap(model).state_dict(), dict(settings), provenance)


def load(folder: str | Path = DEFAULT_FOLDER, device: torch.device | str = "cpu"
         ) -> tuple[GibbsNet, dict]:  # fmt: skip
    """The shipped GibbsNet (eval mode, on ``device``) and {"config", "provenance", "files"},
    after checking every file against the manifest; a missing, altered or mismatched folder
    raises :class:`course_lib.io.CheckpointError` naming the command that rebuilds it."""
    rebuild = rebuild_command(folder)
    state, config, manifest = io.load_weights(folder, rebuild, device)
    try:
        model = shipped.quiet_build(lambda: GibbsNet(
            int(config["latent_dim"]), int(config["hidden"]), float(config["dropout"]),
            float(config["min_std"])))  # fmt: skip
        model.load_state_dict(state)
        manifest["provenance"]["history"]["loss_D"]  # the loss curves the notebook plots
    except (KeyError, TypeError, ValueError, RuntimeError) as err:
        raise io.CheckpointError(f"{Path(folder).name} does not hold notebook 06's GibbsNet "
                                 f"({err}). Rebuild it with `{rebuild}`.") from err  # fmt: skip
    return prepare(model, device, conv=True).eval(), {"config": config, **manifest}


def load_or_train(
    images: torch.Tensor, settings: Mapping[str, Any], folder: str | Path = DEFAULT_FOLDER,
    device: torch.device | str = "cpu", threads: int | None = None, progress: bool = True,
) -> tuple[GibbsNet, History, str]:  # fmt: skip
    """The shipped GibbsNet if its recipe equals ``settings``, else one trained here: (model in
    eval mode, history with ``step``, ``loss_D``, ``loss_G``, ``chain``, one line saying
    which and why)."""
    why = "no shipped run with these settings"
    try:
        model, info = load(folder, device)
        if info["config"] == dict(settings):
            history = info["provenance"]["history"]
            return model, history, (f"loaded {Path(folder).name}/ ("
                                    f"{shipped.describe(info['provenance'], 'updates')}; "
                                    f"trained by `{rebuild_command(folder)}`)")  # fmt: skip
    except io.CheckpointError as err:
        why = str(err)
    start = time.perf_counter()
    model, history = train(images, settings, device, threads, progress)
    return model.eval(), history, (f"trained here in {time.perf_counter() - start:.0f} s "
                                   f"({why})")  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser, tr = shipped.parser("gibbsnet_train", __doc__, "notebook 06's GibbsNet",
                                str(DEFAULT_FOLDER), BUDGETS["06_rbm_gibbsnet"])  # fmt: skip
    tr.add_argument("--seed", type=int, default=0)
    tr.add_argument("--threads", type=int, default=2, help="CPU threads")
    tr.add_argument("--cycle-weight", type=float, default=NOTEBOOK_RECIPE["cycle_weight"],
                    help="weight of ALICE's cycle term (0: the paper's loss alone)")
    args = parser.parse_args(argv)
    if args.command == "check":
        model, info = load(args.path)
        n = sum(p.numel() for p in model.parameters())
        print(f"OK {Path(args.path).name}: {shipped.describe(info['provenance'], 'updates')}, "
              f"{n} parameters")
        return 0
    from .data import load_images

    images, _ = load_images("mnist5k", "train")
    settings = recipe(BUDGETS["06_rbm_gibbsnet"][args.profile], seed=args.seed,
                      cycle_weight=args.cycle_weight)  # fmt: skip
    start = time.perf_counter()
    model, history = train(images, settings, "cpu", args.threads)
    seconds = time.perf_counter() - start
    command = shlex.join(["python", "-m", "course_lib.gibbsnet_train", *argv])
    prov = io.provenance(command, steps=settings["num_steps"], seed=args.seed,
                         wall_time_s=seconds, device="cpu", threads=args.threads,
                         profile=args.profile,
                         history=shipped.plain_history(
                             {k: history[k] for k in ("step", "loss_D", "loss_G", "chain", "cycle")
                              if k in history}))
    save(args.out, model, settings, prov)
    print(f"saved {args.out} ({seconds:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
