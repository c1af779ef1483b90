"""The notebook-09 model, the diffusers way: UNet2DModel + DDPMScheduler + DDPMPipeline
(notebook 10).

- :func:`build_unet` / :func:`build_scheduler`: a small ``UNet2DModel`` for 28x28 digits and
  the ``DDPMScheduler`` with the same linear schedule as ``course_lib.diffusion``;
- :func:`train_unet`: the diffusers training recipe (``noise_scheduler.add_noise``, MSE on
  eps, AdamW, an EMA of the weights via ``diffusers.training_utils.EMAModel``);
- :func:`save_pipeline` / :func:`load_pipeline`: ``save_pretrained`` to a local folder and
  ``from_pretrained(path)`` back, fully offline; the folder carries a ``SHA256SUMS`` manifest
  that loading checks, so an altered or truncated weights file is refused, not used;
- :func:`generate` and :func:`swap_scheduler`: images as tensors in [-1, 1] from any scheduler
  on the same UNet (DDPM, DDIM, DPM-Solver++ multistep and single-step). ``DDPMPipeline`` passes
  ``generator`` to ``step`` and never calls ``scale_model_input``, so UniPC, PNDM and the
  Euler-type schedulers do not fit it;
- :func:`load_hub_pipeline`: a hub pipeline such as ``google/ddpm-cifar10-32`` when online;
  offline it explains what it needs and returns None (no traceback).

Command line (the pipeline shipped for notebook 10)::

    python -m course_lib.diffusers_utils train --out data/ddpm_diffusers_mnist5k
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import os
import shutil
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from .io import CheckpointError, sha256_file
from .train import History, train_loop

MANIFEST = "SHA256SUMS"
DEFAULT_PIPELINE = Path(__file__).resolve().parent.parent / "data" / "ddpm_diffusers_mnist5k"
SCHEDULER_NAMES = ("DDPM", "DDIM", "DPM-Solver++", "DPM-Solver single-step")


def build_unet(channels: tuple[int, ...] = (16, 32, 64), sample_size: int = 28):
    """A ``UNet2DModel`` for (B, 1, 28, 28) digits: one ResNet block per level, no attention,
    28 -> 14 -> 7 (the last down block does not downsample), GroupNorm with 8 groups."""
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
    """``DDPMScheduler`` with T steps; "linear" is course_lib.diffusion's "linear"."""
    from diffusers import DDPMScheduler

    return DDPMScheduler(num_train_timesteps=timesteps, beta_schedule=beta_schedule)


def train_unet(
    unet,
    noise_scheduler,
    X: torch.Tensor,
    num_steps: int,
    batch_size: int = 64,
    lr: float = 1e-3,
    ema_decay: float | None = 0.995,
    seed: int = 0,
    progress: bool = True,
    callback=None,
    callback_every: int = 0,
) -> tuple[torch.nn.Module, History]:
    """Train ``unet`` on X (N, 1, 28, 28) in [-1, 1] the diffusers way (notebook 10).

    Per step: noise = randn, t ~ U{0..T-1}, noisy = noise_scheduler.add_noise(x0, noise, t),
    loss = MSE(unet(noisy, t).sample, noise) (Ho et al. eq. 14), AdamW. Returns (the model to
    sample with: a copy holding the EMA weights when ``ema_decay``, else ``unet``; history).
    ``callback(step, model, history)`` runs every ``callback_every`` steps.
    """
    from diffusers.training_utils import EMAModel

    from .data import batches

    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    device = next(unet.parameters()).device
    opt = torch.optim.AdamW(unet.parameters(), lr=lr)
    ema = EMAModel(unet.parameters(), decay=ema_decay) if ema_decay else None
    data = batches(X, batch_size, generator=gen, device=device)
    T = noise_scheduler.config.num_train_timesteps

    def sampling_model() -> torch.nn.Module:
        if ema is None:
            return unet
        shadow = copy.deepcopy(unet)
        ema.copy_to(shadow.parameters())
        return shadow.eval()

    def step_fn(step: int) -> dict[str, torch.Tensor]:
        x0 = next(data)
        noise = torch.randn(x0.shape, generator=gen).to(device)
        t = torch.randint(0, T, (x0.shape[0],), generator=gen).to(device)
        noisy = noise_scheduler.add_noise(x0, noise, t)
        loss = F.mse_loss(unet(noisy, t).sample, noise)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if ema is not None:
            ema.step(unet.parameters())
        return {"loss": loss}

    hook = (lambda step, hist: callback(step, sampling_model(), hist)) if callback else None
    history = train_loop(
        step_fn, num_steps, log_every=50, desc="UNet2DModel", progress=progress,
        callback=hook, callback_every=callback_every,
    )  # fmt: skip
    return sampling_model(), history


def make_pipeline(unet, scheduler):
    """Wrap a UNet and a scheduler in a ``DDPMPipeline``."""
    from diffusers import DDPMPipeline

    return DDPMPipeline(unet=unet, scheduler=scheduler)


def save_pipeline(pipe, path: str | Path) -> Path:
    """``pipe.save_pretrained`` into a temporary sibling folder, then rename it over ``path``
    (so an interrupted save never leaves half a pipeline behind)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent))
    try:
        pipe.save_pretrained(tmp)
        write_manifest(tmp)
        for p in (tmp, *tmp.rglob("*")):  # mkdtemp makes 0700; the shipped folder is readable
            p.chmod(0o755 if p.is_dir() else 0o644)
        old = path.with_name(path.name + ".old")
        if path.exists():
            os.replace(path, old)
        os.replace(tmp, path)
        shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return path


def _digests(folder: Path) -> dict[str, str]:
    files = sorted(p for p in folder.rglob("*") if p.is_file() and p.name != MANIFEST)
    return {p.relative_to(folder).as_posix(): sha256_file(p) for p in files}


def write_manifest(folder: str | Path) -> Path:
    """Write ``folder/SHA256SUMS`` (``sha256sum`` format) for every file of a saved pipeline."""
    folder = Path(folder)
    lines = [f"{digest}  {name}\n" for name, digest in _digests(folder).items()]
    (folder / MANIFEST).write_text("".join(lines))
    return folder / MANIFEST


def verify_manifest(folder: str | Path) -> None:
    """Check every file of a saved pipeline against ``folder/SHA256SUMS``.

    Raises CheckpointError naming the first missing, extra or altered file (also checkable by
    hand: ``cd folder && sha256sum -c SHA256SUMS``)."""
    folder = Path(folder)
    how = f"Rebuild it with `python -m course_lib.diffusers_utils train --out data/{folder.name}`."
    manifest = folder / MANIFEST
    if not manifest.exists():
        raise CheckpointError(f"{folder.name}/{MANIFEST} is missing, so the pipeline is "
                              f"unverified and was not loaded. {how}")  # fmt: skip
    expected = {}
    for line in manifest.read_text().splitlines():
        digest, _, name = line.partition("  ")
        expected[name] = digest
    actual = _digests(folder)
    for name in sorted(expected.keys() | actual.keys()):
        if expected.get(name) != actual.get(name):
            what = ("missing" if name not in actual else
                    "not in the manifest" if name not in expected else "altered")  # fmt: skip
            raise CheckpointError(f"{folder.name}/{name} is {what} (SHA-256 check against "
                                  f"{MANIFEST}); the pipeline was not loaded. {how}")  # fmt: skip


def load_pipeline(path: str | Path = DEFAULT_PIPELINE, verify: bool = True):
    """``DDPMPipeline.from_pretrained(path)`` from a local folder, never touching the network.

    Raises FileNotFoundError with the command that rebuilds it when ``path`` is missing, and
    CheckpointError when ``verify`` and a file disagrees with the folder's SHA256SUMS
    (written by :func:`save_pipeline`)."""
    from diffusers import DDPMPipeline

    path = Path(path)
    if not (path / "model_index.json").exists():
        raise FileNotFoundError(
            f"No saved pipeline in {path.name}/. Build it with "
            f"`python -m course_lib.diffusers_utils train --out data/{path.name}`."
        )
    if verify:
        verify_manifest(path)
    return DDPMPipeline.from_pretrained(path, local_files_only=True, low_cpu_mem_usage=False)


def swap_scheduler(pipe, name: str):
    """A copy of ``pipe`` whose scheduler is ``name`` (one of SCHEDULER_NAMES), built from the
    trained scheduler's config, so the betas stay the same; the UNet is shared, not copied.
    (UniPC, PNDM, Euler... do not fit ``DDPMPipeline``: see the module docstring.)"""
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
    if name not in classes:
        raise ValueError(f"Unknown scheduler {name!r}. Allowed values: {', '.join(classes)}")
    extra = {}
    if name.startswith("DPM"):
        # The DPM-Solvers ignore clip_sample; thresholding with sample_max_value = 1 clips their
        # predicted x0 to [-1, 1] as DDPM/DDIM's clip_sample does (the DPM-Solver++ paper's
        # advice for pixel-space models). Measured on the shipped pipeline, DPM-Solver++ 20
        # steps, 200 digits: classifier-FID 451 without, 260 with.
        extra = dict(thresholding=True, sample_max_value=1.0)
    return make_pipeline(pipe.unet, classes[name].from_config(pipe.scheduler.config, **extra))


@torch.no_grad()
def generate(pipe, num_images: int, num_inference_steps: int, seed: int = 0) -> torch.Tensor:
    """Run ``pipe`` with ``torch.Generator().manual_seed(seed)``; images (N, 1, H, W) in [-1, 1].

    Uses ``output_type="np"`` (H, W, C in [0, 1]) and converts back to the course's layout.
    """
    out = pipe(
        batch_size=num_images,
        generator=torch.Generator().manual_seed(seed),
        num_inference_steps=num_inference_steps,
        output_type="np",
    ).images
    return torch.from_numpy(out).permute(0, 3, 1, 2).float() * 2 - 1


def load_hub_pipeline(repo_id: str = "google/ddpm-cifar10-32"):
    """``DDPMPipeline.from_pretrained(repo_id)`` from the Hugging Face Hub (or its cache).

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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m course_lib.diffusers_utils")
    sub = parser.add_subparsers(dest="command", required=True)
    tr = sub.add_parser("train", help="train the notebook-10 UNet2DModel and save the pipeline")
    tr.add_argument("--out", default=str(DEFAULT_PIPELINE))
    tr.add_argument("--steps", type=int, default=2000)
    tr.add_argument("--batch-size", type=int, default=64)
    tr.add_argument("--lr", type=float, default=1e-3)
    tr.add_argument("--ema", type=float, default=0.995)
    tr.add_argument("--channels", default="16,32,64")
    tr.add_argument("--threads", type=int, default=None)
    tr.add_argument("--save-every", type=int, default=250)
    tr.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    from .data import load_images
    from .train import cpu_threads

    X, _ = load_images("mnist5k", "train")
    unet, sched = build_unet(tuple(int(c) for c in args.channels.split(","))), build_scheduler()
    start = time.perf_counter()

    def save(step: int, model, history: History) -> None:
        save_pipeline(make_pipeline(model, build_scheduler()), args.out)
        print(f"\nstep {step}: saved after {time.perf_counter() - start:.0f} s", flush=True)

    with cpu_threads(args.threads), contextlib.suppress(KeyboardInterrupt):
        train_unet(unet, sched, X, args.steps, args.batch_size, args.lr, args.ema, args.seed,
                   callback=save, callback_every=args.save_every)  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
