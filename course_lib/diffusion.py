"""Denoising diffusion from scratch: schedules, the forward process, the loss, DDPM and DDIM
sampling, training and a checksummed checkpoint (notebook 09; notebook 10 compares).

Notation (Ho et al. 2020, "Denoising Diffusion Probabilistic Models", DDPM):

- forward step   q(x_t | x_{t-1}) = N(sqrt(1 - beta_t) x_{t-1}, beta_t I)           (eq. 2)
- closed form    q(x_t | x_0) = N(sqrt(abar_t) x_0, (1 - abar_t) I),
                 alpha_t = 1 - beta_t, abar_t = prod_{s<=t} alpha_s                    (eq. 4)
- posterior      q(x_{t-1} | x_t, x_0) = N(mu~_t, beta~_t I),
                 beta~_t = (1 - abar_{t-1}) / (1 - abar_t) * beta_t                     (eq. 7)
- loss           L_simple = E || eps - eps_theta(sqrt(abar_t) x_0 + sqrt(1-abar_t) eps, t) ||^2
                                                                                       (eq. 14)
- sampling       Algorithm 2 (ancestral) or DDIM (Song et al. 2021, eq. 12, eta in eq. 16).

Timesteps are 0-based as in diffusers: t = 0 .. T-1, and abar_{-1} = 1. With that convention
:func:`make_schedule` returns exactly what ``diffusers.DDPMScheduler`` computes for
``beta_schedule="linear"`` and ``"squaredcos_cap_v2"`` (tests/test_diffusion.py checks it).

Command line (the shipped checkpoint of notebook 09)::

    python -m course_lib.diffusion train --out data/ddpm_mnist5k.pt   # writes .pt and .pt.sha256
    python -m course_lib.diffusion check data/ddpm_mnist5k.pt
"""

from __future__ import annotations

import argparse
import copy
import math
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

import torch
import torch.nn.functional as F

from .io import CheckpointError, load_checkpoint, save_checkpoint, sha256_file
from .train import History, train_loop
from .unet import UNet, UNetConfig

ScheduleKind = Literal["linear", "cosine"]
SCHEDULES: tuple[str, ...] = ("linear", "cosine")
DIFFUSERS_NAMES = {"linear": "linear", "cosine": "squaredcos_cap_v2"}
DEFAULT_CHECKPOINT = Path(__file__).resolve().parent.parent / "data" / "ddpm_mnist5k.pt"
EpsModel = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


# ---------------------------------------------------------------------------------------
# Noise schedules
# ---------------------------------------------------------------------------------------
def linear_beta_schedule(
    timesteps: int, beta_start: float = 1e-4, beta_end: float = 0.02
) -> torch.Tensor:
    """beta_t linear from 1e-4 to 0.02 over T = 1000 steps (Ho et al. 2020, section 4).

    Returns (T,) float32, like ``DDPMScheduler(beta_schedule="linear")``.
    """
    return torch.linspace(beta_start, beta_end, timesteps, dtype=torch.float32)


def cosine_beta_schedule(timesteps: int, s: float = 0.008, max_beta: float = 0.999) -> torch.Tensor:
    """Cosine schedule (Nichol & Dhariwal 2021, eq. 17): abar(t) = cos^2(((t/T + s)/(1 + s)) pi/2),
    beta_t = min(1 - abar((t+1)/T) / abar(t/T), 0.999). Returns (T,) float32, like
    ``DDPMScheduler(beta_schedule="squaredcos_cap_v2")``. Noise is added more slowly than
    with the linear schedule, so fewer steps are wasted on nearly pure noise.
    """

    def abar(u: float) -> float:
        return math.cos((u + s) / (1 + s) * math.pi / 2) ** 2

    betas = [
        min(1 - abar((i + 1) / timesteps) / abar(i / timesteps), max_beta) for i in range(timesteps)
    ]
    return torch.tensor(betas, dtype=torch.float32)


@dataclass
class Schedule:
    """Every per-timestep constant the forward process and the samplers need, each (T,)."""

    kind: str
    betas: torch.Tensor
    alphas: torch.Tensor
    alphas_cumprod: torch.Tensor  # abar_t
    alphas_cumprod_prev: torch.Tensor  # abar_{t-1}, with abar_{-1} = 1
    posterior_variance: torch.Tensor  # beta~_t (eq. 7)

    @property
    def timesteps(self) -> int:
        return len(self.betas)

    def snr(self) -> torch.Tensor:
        """Signal-to-noise ratio abar_t / (1 - abar_t) of x_t (Kingma et al. 2021)."""
        return self.alphas_cumprod / (1 - self.alphas_cumprod)

    def to(self, device: torch.device | str) -> Schedule:
        moved = {k: v.to(device) for k, v in vars(self).items() if isinstance(v, torch.Tensor)}
        return Schedule(kind=self.kind, **moved)


def make_schedule(kind: ScheduleKind = "linear", timesteps: int = 1000) -> Schedule:
    """betas, alphas, abar_t, abar_{t-1} and the posterior variance beta~_t (notebook 09).

    ``kind``: "linear" (Ho et al. 2020) or "cosine" (Nichol & Dhariwal 2021); equal to
    diffusers' ``DDPMScheduler`` with ``beta_schedule`` "linear" / "squaredcos_cap_v2".
    beta~_t = (1 - abar_{t-1}) / (1 - abar_t) * (1 - abar_t / abar_{t-1})  (eq. 7), written
    with abar ratios and clamped at 1e-20 exactly as diffusers does (``variance_type=
    "fixed_small"``).
    """
    if kind not in SCHEDULES:
        raise ValueError(f"Unknown schedule {kind!r}. Allowed values: {', '.join(SCHEDULES)}")
    if not isinstance(timesteps, int) or timesteps < 2:
        raise ValueError(f"timesteps must be an integer >= 2, got {timesteps!r}")
    betas = linear_beta_schedule(timesteps) if kind == "linear" else cosine_beta_schedule(timesteps)
    alphas = 1.0 - betas
    abar = torch.cumprod(alphas, dim=0)
    abar_prev = torch.cat([torch.ones(1), abar[:-1]])
    current_beta = 1 - abar / abar_prev
    post_var = ((1 - abar_prev) / (1 - abar) * current_beta).clamp(min=1e-20)
    return Schedule(kind, betas, alphas, abar, abar_prev, post_var)


def _at(values: torch.Tensor, t: torch.Tensor | int, like: torch.Tensor) -> torch.Tensor:
    """values[t] shaped to broadcast against ``like`` (B, C, H, W)."""
    t = torch.as_tensor(t, device=values.device).long()
    out = values[t].to(like.device, like.dtype)
    return out.reshape(-1, *([1] * (like.dim() - 1)))


# ---------------------------------------------------------------------------------------
# Forward process and loss
# ---------------------------------------------------------------------------------------
def q_sample(
    x0: torch.Tensor, t: torch.Tensor | int, schedule: Schedule, noise: torch.Tensor | None = None
) -> torch.Tensor:
    """Draw x_t ~ q(x_t | x_0) = N(sqrt(abar_t) x_0, (1 - abar_t) I)  (Ho et al., eq. 4).

    x0: (B, C, H, W) in [-1, 1]; t: int or (B,) long; noise: eps of the same shape as x0
    (drawn when None). Same as diffusers' ``scheduler.add_noise(x0, noise, t)``.
    """
    noise = torch.randn_like(x0) if noise is None else noise
    abar = _at(schedule.alphas_cumprod, t, x0)
    return abar.sqrt() * x0 + (1 - abar).sqrt() * noise


def diffusion_loss(
    model: EpsModel, x0: torch.Tensor, schedule: Schedule, generator: torch.Generator | None = None
) -> torch.Tensor:
    """L_simple (Ho et al., eq. 14): MSE between eps and eps_theta(x_t, t), t ~ U{0..T-1}."""
    B = x0.shape[0]
    t = torch.randint(0, schedule.timesteps, (B,), generator=generator).to(x0.device)
    noise = torch.randn(x0.shape, generator=generator).to(x0.device)
    return F.mse_loss(model(q_sample(x0, t, schedule, noise), t), noise)


# ---------------------------------------------------------------------------------------
# Samplers
# ---------------------------------------------------------------------------------------
def predict_x0(x_t: torch.Tensor, eps: torch.Tensor, abar_t: torch.Tensor) -> torch.Tensor:
    """x0_hat = (x_t - sqrt(1 - abar_t) eps) / sqrt(abar_t): eq. 4 solved for x_0 (DDPM eq. 15)."""
    return (x_t - (1 - abar_t).sqrt() * eps) / abar_t.sqrt()


def ddpm_step(
    eps: torch.Tensor,
    t: int,
    x_t: torch.Tensor,
    schedule: Schedule,
    noise: torch.Tensor | None = None,
    clip_x0: bool = True,
) -> torch.Tensor:
    """One ancestral step x_t -> x_{t-1} (Ho et al. 2020, Algorithm 2, line 4).

    1. alpha_t, abar_t, abar_{t-1}, beta_t from the schedule;
    2. predicted x0_hat from eps (eq. 15), clipped to [-1, 1] when ``clip_x0``;
    3. posterior mean mu~_t = sqrt(abar_{t-1}) beta_t / (1 - abar_t) x0_hat
                              + sqrt(alpha_t) (1 - abar_{t-1}) / (1 - abar_t) x_t   (eq. 7);
    4. x_{t-1} = mu~_t + sigma_t z with sigma_t^2 = beta~_t and z ~ N(0, I); no noise at t = 0.

    Without clipping, steps 2-3 equal Algorithm 2's 1/sqrt(alpha_t) (x_t - beta_t /
    sqrt(1 - abar_t) eps); clipping keeps x0_hat inside the data range (diffusers'
    ``clip_sample=True``, its default). eps: model output for (x_t, t); noise: z (drawn if None).
    """
    abar_t = _at(schedule.alphas_cumprod, t, x_t)  # 1.
    abar_prev = _at(schedule.alphas_cumprod_prev, t, x_t)
    beta_t = 1 - abar_t / abar_prev
    x0 = predict_x0(x_t, eps, abar_t)  # 2.
    if clip_x0:
        x0 = x0.clamp(-1, 1)
    mean = (abar_prev.sqrt() * beta_t * x0 + (1 - beta_t).sqrt() * (1 - abar_prev) * x_t) / (
        1 - abar_t
    )  # 3.
    if t == 0:  # 4.
        return mean
    noise = torch.randn_like(x_t) if noise is None else noise
    return mean + _at(schedule.posterior_variance, t, x_t).sqrt() * noise


def ddim_timesteps(timesteps: int, num_steps: int) -> list[int]:
    """The sub-sequence tau of DDIM (Song et al. 2021, section 4.2), diffusers' "leading"
    spacing: [(S-1) k, ..., k, 0] with k = T // S."""
    if not 1 <= num_steps <= timesteps:
        raise ValueError(f"num_steps must be in 1..{timesteps}, got {num_steps}")
    k = timesteps // num_steps
    return [i * k for i in reversed(range(num_steps))]


def ddim_step(
    eps: torch.Tensor,
    t: int,
    t_prev: int,
    x_t: torch.Tensor,
    schedule: Schedule,
    eta: float = 0.0,
    noise: torch.Tensor | None = None,
    clip_x0: bool = False,
) -> torch.Tensor:
    """One DDIM step x_t -> x_{t_prev} (Song et al. 2021, eq. 12; t_prev < 0 means abar = 1).

    1. abar_t, abar_prev (1 when t_prev < 0);
    2. x0_hat = (x_t - sqrt(1 - abar_t) eps) / sqrt(abar_t)                        ("predicted x0");
    3. sigma = eta sqrt((1 - abar_prev) / (1 - abar_t)) sqrt(1 - abar_t / abar_prev)  (eq. 16);
    4. x_prev = sqrt(abar_prev) x0_hat + sqrt(1 - abar_prev - sigma^2) eps + sigma z.
    eta = 0 is deterministic (DDIM); eta = 1 is DDPM's ancestral sampler on the sub-sequence.
    """
    abar_t = _at(schedule.alphas_cumprod, t, x_t)  # 1.
    if t_prev >= 0:
        abar_prev = _at(schedule.alphas_cumprod, t_prev, x_t)
    else:
        abar_prev = torch.ones_like(abar_t)
    x0 = predict_x0(x_t, eps, abar_t)  # 2.
    if clip_x0:
        x0 = x0.clamp(-1, 1)
    sigma = eta * ((1 - abar_prev) / (1 - abar_t) * (1 - abar_t / abar_prev)).sqrt()  # 3.
    x_prev = abar_prev.sqrt() * x0 + (1 - abar_prev - sigma**2).clamp(min=0).sqrt() * eps  # 4.
    if eta > 0:
        x_prev = x_prev + sigma * (torch.randn_like(x_t) if noise is None else noise)
    return x_prev


def _batched_t(t: int, n: int, device: torch.device) -> torch.Tensor:
    return torch.full((n,), t, dtype=torch.long, device=device)


@torch.no_grad()
def ddpm_sample(
    model: EpsModel,
    schedule: Schedule,
    num_images: int,
    shape: tuple[int, ...] = (1, 28, 28),
    generator: torch.Generator | None = None,
    device: torch.device | str = "cpu",
    keep: int = 0,
    progress: bool = False,
) -> tuple[torch.Tensor, list[tuple[int, torch.Tensor]]]:
    """Ancestral sampling, T model calls (Algorithm 2). Returns (x_0 in [-1, 1] (N, *shape),
    trajectory): ``keep`` > 0 stores ``keep`` evenly spaced (t, x_t) pairs (CPU) for plots.
    Noise is drawn on the CPU from ``generator``, so results do not depend on the device."""
    from tqdm.auto import tqdm

    T = schedule.timesteps
    sched = schedule.to(device)

    def randn():
        return torch.randn((num_images, *shape), generator=generator).to(device)

    x = randn()
    marks = set(torch.linspace(T - 1, 0, keep).round().long().tolist()) if keep else set()
    traj = []
    for t in tqdm(range(T - 1, -1, -1), desc="DDPM", disable=not progress, leave=False):
        eps = model(x, _batched_t(t, num_images, x.device))
        x = ddpm_step(eps, t, x, sched, noise=randn() if t > 0 else None)
        if t in marks:
            traj.append((t, x.detach().cpu()))
    return x.clamp(-1, 1), traj


@torch.no_grad()
def ddim_sample(
    model: EpsModel,
    schedule: Schedule,
    num_images: int,
    num_steps: int = 50,
    eta: float = 0.0,
    shape: tuple[int, ...] = (1, 28, 28),
    generator: torch.Generator | None = None,
    device: torch.device | str = "cpu",
    x_T: torch.Tensor | None = None,
    keep: bool = False,
    progress: bool = False,
    clip_x0: bool = True,
) -> tuple[torch.Tensor, list[tuple[int, torch.Tensor]]]:
    """DDIM sampling with ``num_steps`` model calls (Song et al. 2021, eq. 12). ``x_T``: start
    noise (drawn from ``generator`` when None), so DDPM and DDIM runs can share it; ``clip_x0``
    clips x0_hat to [-1, 1] in every step (diffusers' ``clip_sample``, True by default in its
    DDIMScheduler as in our DDPM sampler, so the two samplers are compared alike). Returns
    (x_0 in [-1, 1], trajectory of (t, x_t) after each step when ``keep``)."""
    from tqdm.auto import tqdm

    sched = schedule.to(device)
    x = torch.randn((num_images, *shape), generator=generator) if x_T is None else x_T.clone()
    x = x.to(device)
    taus = ddim_timesteps(schedule.timesteps, num_steps)
    traj = []
    for i, t in enumerate(tqdm(taus, desc=f"DDIM-{num_steps}", disable=not progress, leave=False)):
        t_prev = taus[i + 1] if i + 1 < len(taus) else -1
        eps = model(x, _batched_t(t, num_images, x.device))
        z = torch.randn(x.shape, generator=generator).to(device) if eta > 0 else None
        x = ddim_step(eps, t, t_prev, x, sched, eta=eta, noise=z, clip_x0=clip_x0)
        if keep:
            traj.append((max(t_prev, 0), x.detach().cpu()))
    return x.clamp(-1, 1), traj


@torch.no_grad()
def sample_in_batches(sampler: Callable[..., tuple], num_images: int, batch_size: int = 500, **kw):
    """Call ``sampler(num_images=b, **kw)`` in chunks of ``batch_size``; concatenate x_0."""
    out = []
    for start in range(0, num_images, batch_size):
        out.append(sampler(num_images=min(batch_size, num_images - start), **kw)[0].cpu())
    return torch.cat(out)


def sampler_table(
    model: EpsModel,
    schedule: Schedule,
    real: torch.Tensor,
    num_images: int,
    ddim_steps: tuple[int, ...] = (10, 20, 50, 100),
    ddpm: bool = True,
    seed: int = 0,
    device: torch.device | str = "cpu",
    batch_size: int = 500,
) -> list[dict]:
    """Classifier-FID and wall time of DDPM (T steps) and DDIM (eta = 0) at ``ddim_steps``
    (notebook 09's "how do we speed up sampling?" table). Every sampler starts from the same
    seed; FID is against ``real`` (N, 1, 28, 28) in [-1, 1]. Rows: sampler, steps, seconds, fid.
    """
    from .metrics import classifier_fid

    rows = []
    runs = [("DDPM", schedule.timesteps)] if ddpm else []
    runs += [("DDIM", s) for s in ddim_steps]
    for name, steps in runs:
        gen = torch.Generator().manual_seed(seed)
        if device != "cpu" and torch.device(device).type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        if name == "DDPM":
            kw = dict(model=model, schedule=schedule, generator=gen, device=device)
            x = sample_in_batches(ddpm_sample, num_images, batch_size, **kw)
        else:
            kw = dict(model=model, schedule=schedule, num_steps=steps, generator=gen, device=device)
            x = sample_in_batches(ddim_sample, num_images, batch_size, **kw)
        seconds = time.perf_counter() - start
        rows.append(dict(sampler=name, steps=steps, seconds=seconds, fid=classifier_fid(x, real)))
    return rows


# ---------------------------------------------------------------------------------------
# Training
# ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class TrainConfig:
    """How the notebook-09 model is trained (``python -m course_lib.diffusion train``)."""

    num_steps: int = 20000  # Adam steps
    batch_size: int = 128  # digits per step
    lr: float = 2e-4  # Adam learning rate (Ho et al. use 2e-4 on CIFAR-10)
    ema_decay: float = 0.999  # exponential moving average of the weights, used for sampling
    schedule: str = "linear"  # "linear" | "cosine"
    timesteps: int = 1000  # T
    seed: int = 0


@torch.no_grad()
def ema_update(ema: torch.nn.Module, model: torch.nn.Module, decay: float) -> None:
    """ema <- decay * ema + (1 - decay) * model (Ho et al., appendix B uses 0.9999)."""
    for pe, pm in zip(ema.parameters(), model.parameters()):
        pe.lerp_(pm, 1 - decay)


def train_ddpm(
    X: torch.Tensor,
    config: TrainConfig = TrainConfig(),
    unet_config: UNetConfig | None = None,
    device: torch.device | str = "cpu",
    progress: bool = True,
    callback: Callable[[int, UNet, History], None] | None = None,
    callback_every: int = 0,
    init: UNet | None = None,
) -> tuple[UNet, UNet, History]:
    """Train eps_theta on images X (N, 1, 28, 28) in [-1, 1] with L_simple (notebook 09).

    Returns (model, ema_model, history with "loss"); ``callback(step, ema, history)`` runs
    every ``callback_every`` steps (the command line saves a checkpoint there). ``init``:
    start from these weights (model and EMA) instead of a fresh U-Net, to continue training a
    checkpoint (Adam starts afresh). Horizontal flips are not used (digits are not
    mirror-symmetric).
    """
    from .data import batches

    torch.manual_seed(config.seed)
    gen = torch.Generator().manual_seed(config.seed)
    schedule = make_schedule(config.schedule, config.timesteps).to(device)
    model = (copy.deepcopy(init).train() if init is not None else UNet(unet_config)).to(device)
    ema = copy.deepcopy(model).requires_grad_(False)
    opt = torch.optim.Adam(model.parameters(), lr=config.lr)
    data = batches(X, config.batch_size, generator=gen, device=device)

    def step_fn(step: int) -> dict[str, torch.Tensor]:
        x0 = next(data)
        loss = diffusion_loss(model, x0, schedule, gen)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        warm = step > 100 or init is not None  # a fresh model's EMA starts as a copy
        ema_update(ema, model, config.ema_decay if warm else 0.0)
        return {"loss": loss}

    hook = (lambda step, hist: callback(step, ema, hist)) if callback else None
    history = train_loop(
        step_fn, config.num_steps, log_every=50, desc="DDPM", progress=progress,
        callback=hook, callback_every=callback_every,
    )  # fmt: skip
    return model, ema.eval(), history


# ---------------------------------------------------------------------------------------
# Checkpoint with a checksum
# ---------------------------------------------------------------------------------------
def checksum_path(path: str | Path) -> Path:
    return Path(str(path) + ".sha256")


def save_pretrained(
    path: str | Path, ema: UNet, config: TrainConfig, history: History | None = None, **extra
) -> str:
    """Atomically write the EMA weights (course_lib.train.save_checkpoint) and ``path.sha256``."""
    save_checkpoint(
        path,
        {"model": ema},
        step=config.num_steps,
        history=history,
        unet=ema.config.to_dict(),
        train=asdict(config),
        **extra,
    )
    os.chmod(path, 0o644)  # mkstemp creates 0600; the shipped file is world-readable
    digest = sha256_file(path)
    checksum_path(path).write_text(f"{digest}  {Path(path).name}\n")
    return digest


def load_pretrained(
    path: str | Path = DEFAULT_CHECKPOINT, device: torch.device | str = "cpu"
) -> tuple[UNet, dict]:
    """Load the notebook-09 model after checking its SHA-256 against ``path.sha256``.

    Raises :class:`CheckpointError` (saying how to rebuild it) when the file or its checksum
    is missing or they disagree. Returns (EMA model in eval mode, checkpoint payload).
    """
    path = Path(path)
    how = f"Rebuild it with `python -m course_lib.diffusion train --out {path.name}` (see docs)."
    if not path.exists():
        raise CheckpointError(f"No diffusion checkpoint at data/{path.name}. {how}")
    sums = checksum_path(path)
    if not sums.exists():
        raise CheckpointError(
            f"Checksum file {sums.name} is missing, so {path.name} is unverified. {how}"
        )
    expected = sums.read_text().split()[0] if sums.read_text().split() else ""
    actual = sha256_file(path)
    if actual != expected:
        raise CheckpointError(
            f"{path.name} is corrupt: SHA-256 {actual[:12]}... != {expected[:12]}... in "
            f"{sums.name}. It was not loaded. {how}"
        )
    payload = load_checkpoint(path)
    unet_cfg = dict(payload["extra"]["unet"])
    unet_cfg["channels"] = tuple(unet_cfg["channels"])
    model = UNet(UNetConfig(**unet_cfg))
    model.load_state_dict(payload["state"]["model"])
    return model.to(device).eval(), payload


def training_stages(payload: dict) -> list[dict]:
    """The training runs behind a checkpoint, oldest first: each ``--init`` continuation
    records the run it started from under ``extra["stages"]``. Items: ``train`` (the
    TrainConfig as a dict) and ``train_seconds``."""
    extra = payload["extra"]
    last = {"train": extra["train"], "train_seconds": extra.get("train_seconds")}
    return [*extra.get("stages", []), last]


def describe_training(payload: dict) -> str:
    """One line for a checkpoint's provenance, e.g. "5250 steps in 2 stages (2250 at lr
    0.001, 3000 at lr 0.0003), 53 min on cpu"."""
    stages = training_stages(payload)
    steps = sum(s["train"]["num_steps"] for s in stages)
    seconds = sum(s["train_seconds"] or 0 for s in stages)
    text = f"{steps} steps"
    if len(stages) > 1:
        parts = ", ".join(f"{s['train']['num_steps']} at lr {s['train']['lr']:g}" for s in stages)
        text += f" in {len(stages)} stages ({parts})"
    device = payload["extra"].get("device", "?")
    return f"{text}, {seconds / 60:.0f} min on {device}"


# ---------------------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m course_lib.diffusion", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    tr = sub.add_parser("train", help="train the notebook-09 U-Net on mnist5k and save it")
    tr.add_argument("--out", default=str(DEFAULT_CHECKPOINT))
    d = TrainConfig()
    tr.add_argument("--steps", type=int, default=d.num_steps)
    tr.add_argument("--batch-size", type=int, default=d.batch_size)
    tr.add_argument("--lr", type=float, default=d.lr)
    tr.add_argument("--schedule", choices=SCHEDULES, default=d.schedule)
    tr.add_argument("--seed", type=int, default=d.seed)
    tr.add_argument("--ema", type=float, default=d.ema_decay, help="EMA decay of the weights")
    tr.add_argument("--device", default="auto", help="cpu | cuda | mps | auto")
    tr.add_argument("--channels", default="32,64,64", help="U-Net widths, e.g. 16,32,64")
    tr.add_argument("--threads", type=int, default=None, help="CPU threads (1 on a busy box)")
    tr.add_argument("--save-every", type=int, default=1000, help="checkpoint every N steps")
    tr.add_argument(
        "--init", default=None, help="continue from this checkpoint's weights (checksum checked)"
    )
    ck = sub.add_parser("check", help="verify a checkpoint's checksum and load it")
    ck.add_argument("path", nargs="?", default=str(DEFAULT_CHECKPOINT))
    args = parser.parse_args(argv)
    if args.command == "check":
        model, payload = load_pretrained(args.path)
        n = sum(p.numel() for p in model.parameters())
        print(f"OK {Path(args.path).name}: step {payload['step']}, {n} parameters")
        return 0
    from .config import get_device
    from .data import load_images
    from .train import cpu_threads

    device = get_device(args.device)
    cfg = TrainConfig(
        args.steps, args.batch_size, args.lr, args.ema, schedule=args.schedule, seed=args.seed
    )
    unet_cfg = UNetConfig(channels=tuple(int(c) for c in args.channels.split(",")))
    init, before = None, {}
    if args.init:  # provenance of the starting weights goes into the new checkpoint
        init, prev = load_pretrained(args.init)
        unet_cfg = init.config
        earlier = prev["extra"].get("stages", [])
        this = {"train": prev["extra"]["train"], "sha256": sha256_file(args.init),
                "train_seconds": prev["extra"].get("train_seconds")}  # fmt: skip
        before = {"stages": [*earlier, this] if earlier else [this]}
    X, _ = load_images("mnist5k", "train")
    start = time.perf_counter()

    def save(step: int, ema: UNet, history: History) -> str:
        seconds = round(time.perf_counter() - start, 1)
        done = TrainConfig(**{**asdict(cfg), "num_steps": step})
        ema_cpu = copy.deepcopy(ema).cpu()
        return save_pretrained(args.out, ema_cpu, done, history, device=device.type,
                               train_seconds=seconds, planned_steps=cfg.num_steps,
                               **before)  # fmt: skip

    with cpu_threads(args.threads):
        _, ema, history = train_ddpm(
            X, cfg, unet_cfg, device=device, callback=save, callback_every=args.save_every,
            init=init,
        )  # fmt: skip
    seconds = time.perf_counter() - start
    digest = sha256_file(args.out)  # written by the callback after the last step
    print(f"saved {args.out} ({seconds:.0f} s on {device.type}), sha256 {digest}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
