"""DDPM and DDIM sampling loops, and notebook 09's sampler table (image scores, wall time).

Built on the single reverse steps of :mod:`course_lib.diffusion`: ``ddpm_step`` (Ho et al.
2020, Algorithm 2) and ``ddim_step`` (Song et al. 2021, eq. 12).

- :func:`ddpm_sample`: ancestral sampling, T model calls;
- :func:`ddim_timesteps` and :func:`ddim_sample`: DDIM on a sub-sequence of the timesteps;
- :func:`sample_in_batches` and :func:`sampler_table`: many images in chunks, and the
  wall-time table of notebook 09 with each sampler's scores in the course's image protocol
  (:func:`course_lib.metrics.score_images`).

Devices: the samplers run on the model's device (``train.infer_device``); their noise is
drawn on the CPU from the caller's ``generator`` and moved there with ``train.to_device``
(no host sync per step), so a seed gives the same digits on every machine.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable

import torch

from .diffusion import EpsModel, Schedule, ddim_step, ddpm_step
from .train import eval_mode, infer_device, progress_bar, to_device


def ddim_timesteps(timesteps: int, num_steps: int) -> list[int]:
    """The sub-sequence tau of DDIM (Song et al. 2021, section 4.2; notebook 09), diffusers'
    "leading" spacing: [(S-1) k, ..., k, 0] with k = T // S."""
    if not 1 <= num_steps <= timesteps:
        raise ValueError(f"num_steps must be in 1..{timesteps}, got {num_steps}")
    k = timesteps // num_steps
    return [i * k for i in reversed(range(num_steps))]


def _device(model: EpsModel, device: torch.device | str | None) -> torch.device:
    """``device`` if given, else the model's (``train.infer_device``: a module or a bound
    method of one). A plain function such as ``lambda x, t: unet(x, t).sample`` has no
    device and runs on the CPU: pass ``device``."""
    return torch.device(device) if device is not None else infer_device(model)


def _eval(model: EpsModel) -> contextlib.AbstractContextManager:
    """``train.eval_mode`` for a module (or a bound method of one); nothing for a function."""
    module = getattr(model, "__self__", model)
    return eval_mode(module) if isinstance(module, torch.nn.Module) else contextlib.nullcontext()


def _batched_t(t: int, n: int, device: torch.device) -> torch.Tensor:
    return torch.full((n,), t, dtype=torch.long, device=device)


@torch.no_grad()
def ddpm_sample(
    model: EpsModel,
    schedule: Schedule,
    num_images: int,
    shape: tuple[int, ...] = (1, 28, 28),
    *,
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
    keep: int = 0,
    progress: bool = False,
) -> tuple[torch.Tensor, list[tuple[int, torch.Tensor]]]:
    """Ancestral sampling, T model calls (Algorithm 2), on the model's device (notebook 09).

    Returns (x_0 in [-1, 1] (N, *shape) on that device, trajectory): ``keep`` > 0 stores
    ``keep`` evenly spaced (t, x_t) pairs (CPU) for plots. Noise is drawn on the CPU from
    ``generator`` and moved (``train.to_device``, no host sync per step), so results do not
    depend on the device. ``device``: default the model's (``train.infer_device``); a plain
    function needs it. A module runs in eval mode (``train.eval_mode``).
    """
    device = _device(model, device)
    T = schedule.timesteps
    sched = schedule.to(device)

    def randn():
        return to_device(torch.randn((num_images, *shape), generator=generator), device)

    x = randn()
    marks = set(torch.linspace(T - 1, 0, keep).round().long().tolist()) if keep else set()
    traj = []
    with _eval(model):
        for t in progress_bar(range(T - 1, -1, -1), desc="DDPM", disable=not progress):
            eps = model(x, _batched_t(t, num_images, device))
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
    *,
    eta: float = 0.0,
    shape: tuple[int, ...] = (1, 28, 28),
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
    x_T: torch.Tensor | None = None,
    keep: bool = False,
    progress: bool = False,
    clip_x0: bool = True,
) -> tuple[torch.Tensor, list[tuple[int, torch.Tensor]]]:
    """DDIM sampling with ``num_steps`` model calls (Song et al. 2021, eq. 12), on the
    model's device (notebook 09).

    ``x_T``: start noise (drawn on the CPU from ``generator`` when None), so DDPM and DDIM
    runs can share it; ``clip_x0`` clips x0_hat to [-1, 1] in every step (diffusers'
    ``clip_sample``, True by default in its DDIMScheduler as in our DDPM sampler, so the two
    samplers are compared alike). With ``eta`` > 0 each step's z is drawn on the CPU and
    moved (``train.to_device``). ``device``: default the model's (``train.infer_device``); a
    plain function such as ``lambda x, t: unet(x, t).sample`` (notebook 10) needs it.
    Returns (x_0 in [-1, 1], trajectory of (t, x_t) on the CPU after each step when ``keep``;
    t counts as in the paper, as :func:`ddpm_sample`'s marks do: the state after the step to
    timestep index tau_{i-1} has t = tau_{i-1} + 1, and the final, clean x_0 has t = 0).
    """
    device = _device(model, device)
    sched = schedule.to(device)
    x = torch.randn((num_images, *shape), generator=generator) if x_T is None else x_T.clone()
    x = to_device(x, device)
    taus = ddim_timesteps(schedule.timesteps, num_steps)
    traj = []
    bar = progress_bar(taus, desc=f"DDIM-{num_steps}", disable=not progress)
    with _eval(model):
        for i, t in enumerate(bar):
            t_prev = taus[i + 1] if i + 1 < len(taus) else -1
            eps = model(x, _batched_t(t, num_images, device))
            z = to_device(torch.randn(x.shape, generator=generator), device) if eta > 0 else None
            x = ddim_step(eps, t, t_prev, x, sched, eta=eta, noise=z, clip_x0=clip_x0)
            if keep:
                traj.append((t_prev + 1, x.detach().cpu()))  # paper's t: 0 = clean
    return x.clamp(-1, 1), traj


@torch.no_grad()
def sample_in_batches(sampler: Callable[..., tuple], num_images: int, batch_size: int = 500, **kw):
    """Call ``sampler(num_images=b, **kw)`` in chunks of ``batch_size``; concatenate x_0
    (on the sampler's device). Used by :func:`sampler_table` (notebook 09)."""
    out = []
    for start in range(0, num_images, batch_size):
        out.append(sampler(num_images=min(batch_size, num_images - start), **kw)[0])
    return torch.cat(out)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":  # wall times must include the queued GPU work
        torch.cuda.synchronize(device)


def sampler_table(
    model: torch.nn.Module,
    schedule: Schedule,
    ddim_steps: tuple[int, ...] = (10, 20, 50, 100),
    *,
    num_images: int = 500,
    ddpm: bool = True,
    seed: int = 0,
    batch_size: int = 500,
    score: bool = True,
) -> list[dict]:
    """Wall time and image scores of DDPM (T steps) and DDIM (eta = 0) at ``ddim_steps``
    (notebook 09's "how do we speed up sampling?" table), on the model's device.

    Every sampler draws ``num_images`` digits starting from
    ``torch.Generator().manual_seed(seed)``. Rows, in that order: {"sampler": "DDPM" |
    "DDIM", "steps", "seconds"} plus, with ``score``, the keys of
    :func:`course_lib.metrics.score_images` (``fid``, ``kid``, ``precision``, ``recall``, ...;
    the protocol needs ``num_images`` >= 500).
    """
    from . import metrics

    device = infer_device(model)
    rows = []
    runs = [("DDPM", schedule.timesteps)] if ddpm else []
    runs += [("DDIM", s) for s in ddim_steps]
    for name, steps in runs:
        kw = dict(model=model, schedule=schedule, generator=torch.Generator().manual_seed(seed))
        _sync(device)
        start = time.perf_counter()
        if name == "DDPM":
            x = sample_in_batches(ddpm_sample, num_images, batch_size, **kw)
        else:
            x = sample_in_batches(ddim_sample, num_images, batch_size, num_steps=steps, **kw)
        _sync(device)
        row = dict(sampler=name, steps=steps, seconds=time.perf_counter() - start)
        rows.append(row | (metrics.score_images(x) if score else {}))
    return rows
