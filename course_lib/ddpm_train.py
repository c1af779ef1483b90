"""Training the notebook-09 DDPM and shipping it (the sampling maths is in
:mod:`course_lib.diffusion`).

- :func:`train_ddpm`: L_simple (Ho et al. 2020, eq. 14) with Adam and an EMA of the weights;
  one :func:`course_lib.diffusion.diffusion_step` per step;
- :func:`save_pretrained` / :func:`load_pretrained`: the shipped model is an artefact folder
  (``course_lib.io``): ``model.safetensors`` (EMA weights), ``config.json`` (U-Net
  hyper-parameters, schedule, T) and ``MANIFEST.json`` (checksums and provenance: the
  command, steps, seed, wall time, every ``--init`` stage and the last run's loss curve);
- :func:`describe_training`: that provenance in one line.

Command line (the shipped model of notebook 09)::

    python -m course_lib.ddpm_train train --out data/ddpm_mnist5k
    python -m course_lib.ddpm_train train --init data/ddpm_mnist5k --out data/longer --lr 1e-4
    python -m course_lib.ddpm_train check data/ddpm_mnist5k
"""

from __future__ import annotations

import argparse
import copy
import shlex
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from . import io
from .config import check_choice, seeded
from .data import batches, training_data
from .diffusion import SCHEDULES, diffusion_step, make_schedule
from .train import History, adam, autocast, ema_update, prepare, to_device, train_loop
from .unet import UNet, UNetConfig

DEFAULT_CHECKPOINT = Path(__file__).resolve().parent.parent / "data" / "ddpm_mnist5k"
REBUILD = "python -m course_lib.ddpm_train train --out data/ddpm_mnist5k"


@dataclass(frozen=True)
class TrainConfig:
    """How the notebook-09 model is trained (besides ``num_steps`` and ``seed``)."""

    batch_size: int = 128  # digits per step
    lr: float = 2e-4  # Adam learning rate (Ho et al. use 2e-4 on CIFAR-10)
    ema_decay: float = 0.999  # exponential moving average of the weights, used for sampling
    schedule: str = "linear"  # "linear" | "cosine"
    timesteps: int = 1000  # T


EMA_START = 100  # a fresh model's EMA copies the weights for the first steps (decay 0)


def train_ddpm(
    data: torch.Tensor | Iterable[torch.Tensor],
    num_steps: int,
    *,
    config: TrainConfig = TrainConfig(),
    unet_config: UNetConfig | None = None,
    init: UNet | None = None,
    device: torch.device | str | None = None,
    seed: int = 0,
    bf16: bool | None = None,
    compile: bool = False,
    progress: bool = True,
    callback: Callable[[int, UNet, History], None] | None = None,
    callback_every: int = 0,
) -> tuple[tuple[UNet, UNet], History]:
    """Train eps_theta with L_simple (notebook 09).

    Returns ``((model, ema), history)``: the trained U-Net (train mode), its EMA copy (eval
    mode: sample with it) and ``history`` with ``loss`` (mean L_simple over each 50 steps)
    and ``step``. ``data``: images (N, 1, 28, 28) in [-1, 1] (shuffled into batches of
    ``config.batch_size`` with a generator seeded by ``seed``, which also draws t and eps),
    or an iterator of such batches. The U-Net is initialised under ``config.seeded(seed)``;
    the caller's global RNG is left alone. ``init``: start from these weights (model and EMA)
    instead of a fresh U-Net, to continue a run (Adam starts afresh). ``device``: default the
    data's; on CUDA: fused Adam, channels_last, optional ``compile``. ``bf16``: autocast
    around each step, None (default) = on CUDA only. ``callback(step, ema, history)`` runs
    every ``callback_every`` steps and after the last (the command line saves the model
    there). Horizontal flips are not used (digits are not mirror-symmetric).
    """
    check_choice("schedule", config.schedule, SCHEDULES)
    gen = torch.Generator().manual_seed(seed)
    X, stream = training_data(data, "train_ddpm", shape=None,
                              why="the U-Net learns the noise added to x0 in [-1, 1]")  # fmt: skip
    device = torch.device(device) if device is not None else X.device
    data = stream if stream is not None else batches(X, config.batch_size, generator=gen,
                                                     device=device)  # fmt: skip
    schedule = make_schedule(config.schedule, config.timesteps).to(device)
    if init is not None:
        model = copy.deepcopy(io.unwrap(init)).train()
    else:
        with seeded(seed):
            model = UNet(unet_config)
    ema = prepare(copy.deepcopy(model).requires_grad_(False), device, conv=True)
    model = prepare(model, device, conv=True, compile=compile)
    trainer = adam(model.parameters(), config.lr)

    def step_fn(step: int) -> dict[str, torch.Tensor]:
        with autocast(device, bf16):
            out = diffusion_step(to_device(next(data), device), model, trainer, schedule,
                                 generator=gen)  # fmt: skip
        warm = step > EMA_START or init is not None
        ema_update(ema, model, config.ema_decay if warm else 0.0)
        return out

    hook = (lambda step, hist: callback(step, ema, hist)) if callback else None
    history = train_loop(
        step_fn, num_steps, log_every=50, desc="DDPM", progress=progress,
        callback=hook, callback_every=callback_every,
    )  # fmt: skip
    return (io.unwrap(model), ema.eval()), history


# ---------------------------------------------------------------------------------------
# The shipped artefact
# ---------------------------------------------------------------------------------------
def save_pretrained(
    folder: str | Path, ema: UNet, provenance: dict, config: TrainConfig = TrainConfig()
) -> Path:
    """Write the EMA weights as an artefact folder (``course_lib.io.save_weights``, atomic):
    the shipped model of notebook 09.

    ``config.json`` holds what sampling needs: the U-Net's hyper-parameters, the schedule
    and T; ``provenance`` (``course_lib.io.provenance``) goes into MANIFEST.json.
    """
    unet = io.unwrap(ema)
    rebuild = {"unet": unet.config.to_dict(), "schedule": config.schedule,
               "timesteps": config.timesteps}  # fmt: skip
    return io.save_weights(folder, unet.state_dict(), rebuild, provenance)


def load_pretrained(
    folder: str | Path = DEFAULT_CHECKPOINT, device: torch.device | str = "cpu"
) -> tuple[UNet, dict]:
    """Load the notebook-09 model after checking every file against its MANIFEST.json.

    Returns (EMA model in eval mode on ``device``, info) with info = {"config": {"unet",
    "schedule", "timesteps"}, "provenance": {...}, "files": {...}}. A missing, altered or
    truncated file raises :class:`course_lib.io.CheckpointError` naming the command that
    rebuilds it.
    """
    state, config, manifest = io.load_weights(folder, REBUILD, device)
    try:
        unet_cfg = dict(config["unet"])
        unet_cfg["channels"] = tuple(unet_cfg["channels"])
        model = UNet(UNetConfig(**unet_cfg))
        model.load_state_dict(state)
    except (KeyError, TypeError, RuntimeError) as err:
        raise io.CheckpointError(f"{Path(folder).name} does not hold a course_lib U-Net "
                                 f"({err}). Rebuild it with `{REBUILD}`.") from err  # fmt: skip
    return model.to(device).eval(), {"config": config, **manifest}


def training_stages(info: dict) -> list[dict]:
    """The training runs behind a saved model (notebook 09's), oldest first (each ``--init``
    continuation keeps the runs it started from). Items: ``train`` (num_steps, seed and the
    TrainConfig fields), ``train_seconds`` and, for earlier runs, the ``sha256`` of their
    weights."""
    return list(info["provenance"]["stages"])


def describe_training(info: dict) -> str:
    """One line for a model's provenance (notebook 09), e.g. "5250 steps in 2 stages (2250
    at lr 0.001, 3000 at lr 0.0003), 53 min on cpu"."""
    stages = training_stages(info)
    steps = sum(s["train"]["num_steps"] for s in stages)
    seconds = sum(s["train_seconds"] or 0 for s in stages)
    text = f"{steps} steps"
    if len(stages) > 1:
        parts = ", ".join(f"{s['train']['num_steps']} at lr {s['train']['lr']:g}" for s in stages)
        text += f" in {len(stages)} stages ({parts})"
    device = info["provenance"].get("device", "?")
    return f"{text}, {seconds / 60:.0f} min on {device}"


# ---------------------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------------------
def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m course_lib.ddpm_train", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    tr = sub.add_parser("train", help="train the notebook-09 U-Net on mnist5k and save it")
    d = TrainConfig()
    tr.add_argument("--out", default=str(DEFAULT_CHECKPOINT), help="artefact folder")
    tr.add_argument("--steps", type=int, default=20000)
    tr.add_argument("--batch-size", type=int, default=d.batch_size)
    tr.add_argument("--lr", type=float, default=d.lr)
    tr.add_argument("--schedule", choices=SCHEDULES, default=d.schedule)
    tr.add_argument("--seed", type=int, default=0)
    tr.add_argument("--ema", type=float, default=d.ema_decay, help="EMA decay of the weights")
    tr.add_argument("--device", default="auto", help="cpu | cuda | mps | auto")
    tr.add_argument("--channels", default="32,64,64", help="U-Net widths, e.g. 16,32,64")
    tr.add_argument("--threads", type=int, default=None, help="CPU threads (1 on a busy box)")
    tr.add_argument("--save-every", type=int, default=1000, help="save every N steps")
    tr.add_argument("--init", default=None, help="continue from this artefact's weights")
    ck = sub.add_parser("check", help="verify an artefact's checksums and load it")
    ck.add_argument("path", nargs="?", default=str(DEFAULT_CHECKPOINT))
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = _parser().parse_args(argv)
    if args.command == "check":
        model, info = load_pretrained(args.path)
        n = sum(p.numel() for p in model.parameters())
        print(f"OK {Path(args.path).name}: {describe_training(info)}, {n} parameters")
        return 0
    from .config import get_device
    from .data import load_images
    from .train import cpu_threads

    device = get_device(args.device)
    cfg = TrainConfig(args.batch_size, args.lr, args.ema, args.schedule)
    unet_cfg = UNetConfig(channels=tuple(int(c) for c in args.channels.split(",")))
    command = shlex.join(["python", "-m", "course_lib.ddpm_train", *argv])
    init, earlier = None, []
    if args.init:  # the runs behind the starting weights go into the new manifest
        init, prev = load_pretrained(args.init)
        unet_cfg = init.config
        digest = prev["files"][io.WEIGHTS]
        earlier = [*training_stages(prev)[:-1], {**training_stages(prev)[-1], "sha256": digest}]
        command = f"{prev['provenance']['command']} && {command}"
    X, _ = load_images("mnist5k", "train")
    start = time.perf_counter()

    def save(step: int, ema: UNet, history: History) -> Path:
        train = {"num_steps": step, "seed": args.seed, **asdict(cfg)}
        stages = [
            *earlier,
            {"train": train, "train_seconds": round(time.perf_counter() - start, 1)},
        ]
        prov = io.provenance(
            command, steps=sum(s["train"]["num_steps"] for s in stages), seed=args.seed,
            wall_time_s=sum(s["train_seconds"] or 0 for s in stages), device=device.type,
            planned_steps=args.steps, stages=stages, history=history,
        )  # fmt: skip
        return save_pretrained(args.out, ema, prov, cfg)

    with cpu_threads(args.threads):
        train_ddpm(X, args.steps, config=cfg, unet_config=unet_cfg, init=init, device=device,
                   seed=args.seed, callback=save, callback_every=args.save_every)  # fmt: skip
    print(f"saved {args.out} ({time.perf_counter() - start:.0f} s on {device.type})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
