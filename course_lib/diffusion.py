"""Denoising diffusion from scratch: schedules, the forward process, the loss, one training
step, and one reverse step of DDPM and of DDIM (notebook 09; notebook 10 compares with
diffusers). The full samplers and the sampler table live in
:mod:`course_lib.diffusion_samplers`; training the shipped model, its artefact and the
command line in :mod:`course_lib.ddpm_train`.

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

Devices: the training step's t and eps are drawn on the CPU from the caller's ``generator``
and moved to the data's device with ``train.to_device`` (no host sync per step), so a seed
gives the same numbers on every machine. bf16 autocast is the trainer's choice
(``train_ddpm(bf16=...)``), not the step's.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F

from .config import check_choice
from .train import to_device

ScheduleKind = Literal["linear", "cosine"]
SCHEDULES: tuple[str, ...] = ("linear", "cosine")
DIFFUSERS_NAMES = {"linear": "linear", "cosine": "squaredcos_cap_v2"}
EpsModel = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


# ---------------------------------------------------------------------------------------
# Noise schedules
# ---------------------------------------------------------------------------------------
def linear_beta_schedule(
    timesteps: int, beta_start: float = 1e-4, beta_end: float = 0.02
) -> torch.Tensor:
    """beta_t linear from 1e-4 to 0.02 over T = 1000 steps (Ho et al. 2020, section 4;
    notebook 09).

    Returns (T,) float32, like ``DDPMScheduler(beta_schedule="linear")``.
    """
    return torch.linspace(beta_start, beta_end, timesteps, dtype=torch.float32)


def cosine_beta_schedule(timesteps: int, s: float = 0.008, max_beta: float = 0.999) -> torch.Tensor:
    """Cosine schedule (Nichol & Dhariwal 2021, eq. 17; notebook 09):
    abar(t) = cos^2(((t/T + s)/(1 + s)) pi/2),
    beta_t = min(1 - abar((t+1)/T) / abar(t/T), 0.999).
    Returns (T,) float32, like ``DDPMScheduler(beta_schedule="squaredcos_cap_v2")``. Noise is
    added more slowly than with the linear schedule, so fewer steps are wasted on nearly pure
    noise.
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
    check_choice("schedule", kind, SCHEDULES)
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
    """values[t] shaped to broadcast against ``like`` (B, C, H, W). ``t``: a Python int, or a
    long tensor indexed as 1-D (indexing with a 0-d tensor would read it back to the host)."""
    index = t.to(values.device).long().reshape(-1) if isinstance(t, torch.Tensor) else int(t)
    out = values[index].to(like.device, like.dtype)
    return out.reshape(-1, *([1] * (like.dim() - 1)))


# ---------------------------------------------------------------------------------------
# Forward process and loss
# ---------------------------------------------------------------------------------------
def q_sample(
    x0: torch.Tensor, t: torch.Tensor | int, schedule: Schedule, noise: torch.Tensor | None = None
) -> torch.Tensor:
    """Draw x_t ~ q(x_t | x_0) = N(sqrt(abar_t) x_0, (1 - abar_t) I)  (Ho et al., eq. 4;
    notebook 09).

    x0: (B, C, H, W) in [-1, 1]; t: int or (B,) long; noise: eps of the same shape as x0
    (drawn when None). Same as diffusers' ``scheduler.add_noise(x0, noise, t)``.
    """
    noise = torch.randn_like(x0) if noise is None else noise
    abar = _at(schedule.alphas_cumprod, t, x0)
    return abar.sqrt() * x0 + (1 - abar).sqrt() * noise


def diffusion_loss(
    model: EpsModel, x0: torch.Tensor, schedule: Schedule, generator: torch.Generator | None = None
) -> torch.Tensor:
    """L_simple (Ho et al., eq. 14; notebook 09): MSE between eps and eps_theta(x_t, t),
    t ~ U{0..T-1}; t and eps are drawn on the CPU from ``generator``, then moved to x0's device."""
    B = x0.shape[0]
    t = to_device(torch.randint(0, schedule.timesteps, (B,), generator=generator), x0.device)
    noise = to_device(torch.randn(x0.shape, generator=generator), x0.device)
    return F.mse_loss(model(q_sample(x0, t, schedule, noise), t), noise)


def diffusion_step(
    x0: torch.Tensor,
    model: torch.nn.Module,
    trainer: torch.optim.Optimizer,
    schedule: Schedule,
    *,
    generator: torch.Generator | None = None,
) -> dict[str, torch.Tensor]:
    """One training step of eps_theta on a batch x0 (B, C, H, W) in [-1, 1] (notebook 09).

    1. L_simple (eq. 14) with t and eps drawn from ``generator`` (:func:`diffusion_loss`);
    2. one optimiser step of ``trainer`` on ``model``.
    Returns {"loss": detached 0-d tensor} (no host sync). The schedule is moved to x0's
    device (a no-op when it is there already). bf16: the caller's ``train.autocast`` around
    the call (``train_ddpm`` does it on CUDA).
    """
    schedule = schedule.to(x0.device)
    loss = diffusion_loss(model, x0, schedule, generator)
    trainer.zero_grad(set_to_none=True)
    loss.backward()
    trainer.step()
    return {"loss": loss.detach()}


# ---------------------------------------------------------------------------------------
# Single reverse steps (the samplers' building blocks)
# ---------------------------------------------------------------------------------------
def predict_x0(x_t: torch.Tensor, eps: torch.Tensor, abar_t: torch.Tensor) -> torch.Tensor:
    """x0_hat = (x_t - sqrt(1 - abar_t) eps) / sqrt(abar_t): eq. 4 solved for x_0 (DDPM eq. 15;
    notebook 09)."""
    return (x_t - (1 - abar_t).sqrt() * eps) / abar_t.sqrt()


def ddpm_step(
    eps: torch.Tensor,
    t: int,
    x_t: torch.Tensor,
    schedule: Schedule,
    noise: torch.Tensor | None = None,
    clip_x0: bool = True,
) -> torch.Tensor:
    """One ancestral step x_t -> x_{t-1} (Ho et al. 2020, Algorithm 2, line 4; notebook 09).

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
    """One DDIM step x_t -> x_{t_prev} (Song et al. 2021, eq. 12; notebook 09); t_prev < 0
    means abar = 1.

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
