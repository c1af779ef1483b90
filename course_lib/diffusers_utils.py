"""The notebook-09 model, the diffusers way: UNet2DModel + DDPMScheduler + DDPMPipeline
(notebook 10).

- :func:`build_unet` / :func:`build_scheduler`: a small ``UNet2DModel`` for 28x28 digits and
  the ``DDPMScheduler`` with the same linear schedule as ``course_lib.diffusion``;
- :func:`unet_step` / :func:`train_unet`: the diffusers training recipe
  (``noise_scheduler.add_noise``, MSE on eps, AdamW, an EMA of the weights with
  ``diffusers.training_utils.EMAModel``, which notebook 10 teaches);
- :func:`save_pipeline` / :func:`load_pipeline`: ``save_pretrained`` to a local folder and
  ``from_pretrained(path)`` back, fully offline. The folder keeps diffusers' layout plus the
  course's ``MANIFEST.json`` (``course_lib.io``: checksums and provenance), written
  atomically and checked before loading, so an altered or truncated file is refused;
- :func:`generate` and :func:`swap_scheduler`: images as tensors in [-1, 1] from any scheduler
  on the same UNet (DDPM, DDIM, DPM-Solver++ multistep and single-step). ``DDPMPipeline`` passes
  ``generator`` to ``step`` and never calls ``scale_model_input``, so UniPC, PNDM and the
  Euler-type schedulers do not fit it;
- :func:`load_hub_pipeline`: a hub pipeline such as ``google/ddpm-cifar10-32`` when online;
  offline it explains what it needs and returns None (no traceback).

Command line (the pipeline shipped for notebook 10; its defaults are the shipped recipe:
4,500 steps of batch 64, AdamW 1e-3 with 200 warm-up steps and a cosine decay, EMA 0.999)::

    python -m course_lib.diffusers_utils train --out data/ddpm_diffusers_mnist5k --threads 1
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import os
import shlex
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from . import io
from .config import check_choice, seeded
from .data import batches, training_data
from .train import History, autocast, model_device, prepare, to_device, train_loop

DEFAULT_PIPELINE = Path(__file__).resolve().parent.parent / "data" / "ddpm_diffusers_mnist5k"
REBUILD = "python -m course_lib.diffusers_utils train --out data/ddpm_diffusers_mnist5k --threads 1"
SCHEDULER_NAMES = ("DDPM", "DDIM", "DPM-Solver++", "DPM-Solver single-step")


def build_unet(channels: tuple[int, ...] = (16, 32, 64), sample_size: int = 28):
    """A ``UNet2DModel`` for (B, 1, 28, 28) digits (notebook 10): one ResNet block per level,
    no attention in the down and up blocks (the middle block keeps diffusers' default
    self-attention layer), 28 -> 14 -> 7 (the last down block does not downsample),
    GroupNorm with 8 groups."""
    from diffusers import UNet2DModel

    n = len(channels)
    return UNet2DModel(
        sample_size=sample_size,
        in_channels=1,
        out_channels=1,
        layers_per_block=1,
        block_out_channels=tuple(channels),
        down_block_types=("DownBlock2D",) * n,
        up_block_types=("UpBlock2D",) * n,
        norm_num_groups=8,
    )


def build_scheduler(timesteps: int = 1000, beta_schedule: str = "linear"):
    """``DDPMScheduler`` with T steps (notebook 10); "linear" is course_lib.diffusion's
    "linear"."""
    from diffusers import DDPMScheduler

    return DDPMScheduler(num_train_timesteps=timesteps, beta_schedule=beta_schedule)


def unet_step(
    x0: torch.Tensor,
    model: torch.nn.Module,
    trainer: torch.optim.Optimizer,
    noise_scheduler,
    *,
    ema=None,
    generator: torch.Generator | None = None,
) -> dict[str, torch.Tensor]:
    """One step of the diffusers recipe on x0 (B, 1, H, W) in [-1, 1] (notebook 10).

    ``model`` is the ``UNet2DModel``. eps and t are drawn on the CPU from ``generator`` and
    moved to x0's device (``train.to_device``: no host sync); the loss is Ho et al.'s
    L_simple (eq. 14); ``ema`` (a ``diffusers.training_utils.EMAModel``) follows the weights
    after the optimiser step. Returns {"loss": detached 0-d tensor}. bf16: the caller's
    ``train.autocast`` around the call (``train_unet`` does it on CUDA).
    """
    T = noise_scheduler.config.num_train_timesteps
    noise = to_device(torch.randn(x0.shape, generator=generator), x0.device)
    t = to_device(torch.randint(0, T, (x0.shape[0],), generator=generator), x0.device)
    noisy = noise_scheduler.add_noise(x0, noise, t)
    loss = F.mse_loss(model(noisy, t).sample, noise)
    trainer.zero_grad(set_to_none=True)
    loss.backward()
    trainer.step()
    if ema is not None:
        ema.step(model.parameters())
    return {"loss": loss.detach()}


def train_unet(
    data: torch.Tensor | Iterable[torch.Tensor],
    num_steps: int,
    *,
    model: torch.nn.Module,
    noise_scheduler=None,
    batch_size: int = 64,
    lr: float = 1e-3,
    lr_schedule: str = "constant",
    warmup_steps: int = 0,
    ema_decay: float | None = 0.995,
    device: torch.device | str | None = None,
    seed: int = 0,
    bf16: bool | None = None,
    progress: bool = True,
    callback: Callable[[int, torch.nn.Module, History], None] | None = None,
    callback_every: int = 0,
) -> tuple[tuple[torch.nn.Module, torch.nn.Module], History]:
    """Train ``model`` (a ``UNet2DModel``, e.g. :func:`build_unet`) the diffusers way
    (notebook 10); returns ``((model, ema_model), history)``.

    ``data``: images (N, 1, H, W) in [-1, 1] (``course_lib.data.training_data`` checks the
    range), shuffled into batches with a generator seeded by ``seed`` (which also draws t and
    eps), or an iterator of batches. Each step is :func:`unet_step` with AdamW (fused on
    CUDA) at a learning rate set by ``diffusers.optimization.get_scheduler(lr_schedule)``
    ("constant", the default, or e.g. "cosine": ``warmup_steps`` of linear warm-up, then a
    half cosine down to 0 at ``num_steps``, as the diffusers training examples do).
    ``ema_model`` is a copy of ``model`` holding the EMA weights (``model`` itself
    when ``ema_decay`` is None): sample with it. ``history``: ``loss`` (mean over each 50
    steps) and ``step``. ``noise_scheduler`` defaults to :func:`build_scheduler`; ``device``
    to the model's; ``bf16``: autocast around each step, None (default) = on CUDA only.
    ``callback(step, ema_model, history)`` runs every ``callback_every`` steps and after the
    last one. The global RNG is not touched.
    """
    from diffusers.optimization import SchedulerType, get_scheduler
    from diffusers.training_utils import EMAModel

    check_choice("lr_schedule", lr_schedule, [k.value for k in SchedulerType])
    X, stream = training_data(data, "train_unet", shape=None,
                              why="the UNet learns the noise added to x0 in [-1, 1]")  # fmt: skip
    noise_scheduler = noise_scheduler if noise_scheduler is not None else build_scheduler()
    device = torch.device(device) if device is not None else model_device(model)
    model = prepare(model, device, conv=True)
    gen = torch.Generator().manual_seed(seed)
    data = stream if stream is not None else batches(X, batch_size, generator=gen, device=device)
    fused = device.type == "cuda" or None
    trainer = torch.optim.AdamW(model.parameters(), lr=lr, fused=fused)
    lr_sched = get_scheduler(lr_schedule, trainer, num_warmup_steps=warmup_steps,
                             num_training_steps=num_steps)  # fmt: skip
    ema = EMAModel(model.parameters(), decay=ema_decay) if ema_decay else None

    def sampling_model() -> torch.nn.Module:
        if ema is None:
            return model
        shadow = copy.deepcopy(model)
        ema.copy_to(shadow.parameters())
        return shadow.eval()

    def step_fn(step: int) -> dict[str, torch.Tensor]:
        with autocast(device, bf16):
            out = unet_step(to_device(next(data), device), model, trainer, noise_scheduler,
                            ema=ema, generator=gen)  # fmt: skip
        lr_sched.step()
        return out

    hook = (lambda step, hist: callback(step, sampling_model(), hist)) if callback else None
    history = train_loop(
        step_fn, num_steps, log_every=50, desc="UNet2DModel", progress=progress,
        callback=hook, callback_every=callback_every,
    )  # fmt: skip
    return (model, sampling_model()), history


def make_pipeline(unet, scheduler):
    """Wrap a UNet and a scheduler in a ``DDPMPipeline`` (notebook 10)."""
    from diffusers import DDPMPipeline

    return DDPMPipeline(unet=unet, scheduler=scheduler)


def save_pipeline(pipe, path: str | Path, provenance: Mapping[str, Any] | None = None) -> Path:
    """``pipe.save_pretrained`` into a temporary folder (notebook 10), add MANIFEST.json
    (checksums and ``provenance``, see ``course_lib.io.provenance``), then swap it in for
    ``path`` in one step (``course_lib.io.save_artefact``): an interrupted save leaves the
    previous folder as it was. Without ``provenance`` the manifest names the course's
    rebuild command."""
    prov = dict(provenance) if provenance is not None else {"command": REBUILD}
    return io.save_artefact(path, lambda tmp: pipe.save_pretrained(tmp), prov)


def load_pipeline(path: str | Path = DEFAULT_PIPELINE, verify: bool = True):
    """``DDPMPipeline.from_pretrained(path)`` from a local folder, never touching the network
    (notebook 10).

    With ``verify`` (the default) every file is first checked against the folder's
    MANIFEST.json (``course_lib.io.verify_artefact``): a missing folder, or a missing,
    altered, truncated or extra file, raises CheckpointError naming the rebuild command.
    """
    from diffusers import DDPMPipeline

    if verify:
        io.verify_artefact(path, REBUILD)
    with _quiet_loading():
        return DDPMPipeline.from_pretrained(Path(path), local_files_only=True,
                                            low_cpu_mem_usage=False)  # fmt: skip


def training_record(path: str | Path = DEFAULT_PIPELINE) -> dict:
    """How the pipeline in ``path`` was trained (notebook 10): the ``provenance`` of its
    MANIFEST.json (command, steps, wall time, settings and, for the shipped pipeline, the
    ``score_curve`` of its snapshots), after checking every file against the manifest
    (CheckpointError naming the rebuild command otherwise)."""
    return io.verify_artefact(path, REBUILD)["provenance"]


@contextlib.contextmanager
def _quiet_loading():
    """diffusers' "Loading pipeline components" bar off while loading two small components
    (in Jupyter it is a widget, which a headless run saves unfinished); restored after."""
    from diffusers.utils import logging as diffusers_logging

    was_enabled = diffusers_logging.is_progress_bar_enabled()
    diffusers_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was_enabled:
            diffusers_logging.enable_progress_bar()


def swap_scheduler(pipe, name: str):
    """A copy of ``pipe`` whose scheduler is ``name`` (one of SCHEDULER_NAMES; notebook 10),
    built from the trained scheduler's config, so the betas stay the same; the UNet is
    shared, not copied. (UniPC, PNDM, Euler... do not fit ``DDPMPipeline``: see the module
    docstring.)"""
    from diffusers import (
        DDIMScheduler,
        DDPMScheduler,
        DPMSolverMultistepScheduler,
        DPMSolverSinglestepScheduler,
    )

    classes = {
        "DDPM": DDPMScheduler,
        "DDIM": DDIMScheduler,
        "DPM-Solver++": DPMSolverMultistepScheduler,
        "DPM-Solver single-step": DPMSolverSinglestepScheduler,
    }
    check_choice("scheduler", name, classes)
    extra = {}
    if name.startswith("DPM"):
        # The DPM-Solvers ignore clip_sample; thresholding with sample_max_value = 1 clips their
        # predicted x0 to [-1, 1] as DDPM/DDIM's clip_sample does (the DPM-Solver++ paper's
        # advice for pixel-space models). Chosen on seed-0 samples of the shipped pipeline
        # (DPM-Solver++ 20 steps, 200 digits, an earlier protocol): classifier-FID 451
        # without, 260 with. Notebook 10's exercise 4 measures it in the protocol.
        extra = dict(thresholding=True, sample_max_value=1.0)
    if name == "DPM-Solver single-step":  # what diffusers switches to anyway, with a warning
        extra["lower_order_final"] = True
    return make_pipeline(pipe.unet, classes[name].from_config(pipe.scheduler.config, **extra))


@torch.no_grad()
def generate(
    pipe, num_images: int, num_inference_steps: int, seed: int = 0, progress: bool = False
) -> torch.Tensor:
    """Run ``pipe`` with ``torch.Generator().manual_seed(seed)``; images (N, 1, H, W) in [-1, 1]
    on the CPU (notebook 10).

    ``progress``: diffusers' per-step bar (a widget in Jupyter, which a headless run saves
    unfinished), off by default; this sets ``pipe``'s progress-bar config.

    The pipeline runs on its own device (``pipe.to(device)``); the generator stays on the CPU:
    diffusers' ``randn_tensor`` draws the noise there and moves it (it logs that at INFO
    level), so a seed draws the same noise on every device. ``output_type="np"`` (H, W, C in
    [0, 1]) is converted back to the course's layout.
    """
    pipe.set_progress_bar_config(disable=not progress)
    out = pipe(
        batch_size=num_images,
        generator=torch.Generator().manual_seed(seed),
        num_inference_steps=num_inference_steps,
        output_type="np",
    ).images
    return torch.from_numpy(out).permute(0, 3, 1, 2).float() * 2 - 1


def load_hub_pipeline(repo_id: str = "google/ddpm-cifar10-32"):
    """``DDPMPipeline.from_pretrained(repo_id)`` from the Hugging Face Hub (or its cache;
    notebook 10).

    Offline (``HF_HUB_OFFLINE=1``) or without a network it prints what it needs and returns
    None: no traceback, no network call when the offline switch is set.
    """
    from diffusers import DDPMPipeline

    offline = os.environ.get("HF_HUB_OFFLINE", "0").lower() in ("1", "true", "yes", "on")
    try:
        return DDPMPipeline.from_pretrained(
            repo_id, local_files_only=offline, low_cpu_mem_usage=False
        )
    except Exception as err:  # offline, not cached, or no network
        why = (
            "HF_HUB_OFFLINE=1 is set" if offline else f"the download failed ({type(err).__name__})"
        )
        print(
            f"Skipped loading {repo_id}: {why} and it is not in the local Hugging Face cache.\n"
            f"To use it: go online once, unset HF_HUB_OFFLINE and rerun this cell; it downloads "
            f"about 143 MB into the cache, which later offline runs reuse."
        )
        return None


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m course_lib.diffusers_utils")
    sub = parser.add_subparsers(dest="command", required=True)
    tr = sub.add_parser("train", help="train the notebook-10 UNet2DModel and save the pipeline")
    tr.add_argument("--out", default=str(DEFAULT_PIPELINE))
    tr.add_argument("--steps", type=int, default=4500)
    tr.add_argument("--batch-size", type=int, default=64)
    tr.add_argument("--lr", type=float, default=1e-3)
    tr.add_argument("--lr-schedule", default="cosine", help="constant | cosine | linear ...")
    tr.add_argument("--warmup", type=int, default=200, help="warm-up steps of the lr schedule")
    tr.add_argument("--ema", type=float, default=0.999)
    tr.add_argument("--channels", default="16,32,64")
    tr.add_argument("--device", default="auto", help="cpu | cuda | mps | auto")
    tr.add_argument("--threads", type=int, default=None)
    tr.add_argument("--save-every", type=int, default=500)
    tr.add_argument("--seed", type=int, default=0)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = _parser().parse_args(argv)
    from .config import get_device
    from .data import load_images
    from .train import cpu_threads

    device = get_device(args.device)
    X, _ = load_images("mnist5k", "train")
    with seeded(args.seed):
        unet = build_unet(tuple(int(c) for c in args.channels.split(",")))
    command = shlex.join(["python", "-m", "course_lib.diffusers_utils", *argv])
    start = time.perf_counter()

    def save(step: int, model, history: History) -> None:
        seconds = time.perf_counter() - start
        prov = io.provenance(command, step, args.seed, seconds, device=device.type,
                             planned_steps=args.steps, history=history, lr=args.lr,
                             lr_schedule=args.lr_schedule, warmup_steps=args.warmup,
                             ema_decay=args.ema, batch_size=args.batch_size,
                             channels=args.channels)  # fmt: skip
        save_pipeline(make_pipeline(model, build_scheduler()), args.out, prov)
        print(f"\nstep {step}: saved after {seconds:.0f} s", flush=True)

    with cpu_threads(args.threads), contextlib.suppress(KeyboardInterrupt):
        train_unet(X, args.steps, model=unet, batch_size=args.batch_size, lr=args.lr,
                   lr_schedule=args.lr_schedule, warmup_steps=args.warmup, ema_decay=args.ema,
                   device=device, seed=args.seed, callback=save,
                   callback_every=args.save_every)  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
