"""Latent samplers and latent-space paths (notebooks 01, 02, 04, 07).

- ``sample_latent(n, dim, kind)``: uniform on [-1, 1]^dim (the original GAN paper) or
  standard Gaussian (DCGAN, VAE prior).
- ``lerp`` / ``slerp``: straight and great-circle interpolation between two latents.
  Slerp (Shoemake 1985; White 2016, "Sampling Generative Networks") keeps the norm near the
  shell where Gaussian latents live, while a straight line cuts through the low-norm middle.
"""

from __future__ import annotations

from typing import Literal

import torch

from .config import check_choice
from .train import to_device

LATENT_KINDS: tuple[str, ...] = ("uniform", "gaussian")
INTERPOLATIONS: tuple[str, ...] = ("lerp", "slerp")


def sample_latent(
    n: int,
    dim: int,
    kind: Literal["uniform", "gaussian"] = "gaussian",
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
    scale: float = 1.0,
) -> torch.Tensor:
    """Draw ``n`` latents of size ``dim``: U[-scale, scale] or N(0, scale^2). Shape (n, dim).

    Random numbers come from the CPU ``generator`` so results match across devices.
    """
    if kind == "uniform":
        z = (torch.rand(n, dim, generator=generator) * 2 - 1) * scale
    elif kind == "gaussian":
        z = torch.randn(n, dim, generator=generator) * scale
    else:
        check_choice("latent kind", kind, LATENT_KINDS)
    return to_device(z, device) if device is not None else z


def lerp(z0: torch.Tensor, z1: torch.Tensor, t: float | torch.Tensor) -> torch.Tensor:
    """Linear interpolation (1 - t) z0 + t z1; ``t`` a float or a tensor of shape (T,).

    With a tensor ``t`` and latents of shape (D,), returns (T, D).
    """
    t = _as_column(t, z0)
    return (1 - t) * z0 + t * z1


def slerp(z0: torch.Tensor, z1: torch.Tensor, t: float | torch.Tensor) -> torch.Tensor:
    """Spherical interpolation along the great circle between ``z0`` and ``z1``.

    slerp(z0, z1; t) = sin((1-t) w)/sin(w) z0 + sin(t w)/sin(w) z1, with w the angle between
    them. Falls back to lerp when the vectors are (anti)parallel, where w or sin(w) is ~0.
    """
    t = _as_column(t, z0)
    a, b = z0.flatten(), z1.flatten()
    cos = torch.dot(a, b) / (a.norm() * b.norm()).clamp_min(1e-12)
    omega = torch.arccos(cos.clamp(-1.0, 1.0))
    so = torch.sin(omega)
    if so.abs() < 1e-6:
        return lerp(z0, z1, t)
    return torch.sin((1 - t) * omega) / so * z0 + torch.sin(t * omega) / so * z1


def interpolate(
    z0: torch.Tensor, z1: torch.Tensor, steps: int, mode: Literal["lerp", "slerp"] = "slerp"
) -> torch.Tensor:
    """``steps`` latents from ``z0`` to ``z1`` inclusive, shape (steps, D)."""
    check_choice("interpolation", mode, INTERPOLATIONS)
    t = torch.linspace(0, 1, steps)
    return (lerp if mode == "lerp" else slerp)(z0, z1, t)


def _as_column(t: float | torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    t = torch.as_tensor(t, dtype=like.dtype, device=like.device)
    if t.dim() == 0:
        return t
    return t.reshape(-1, *([1] * like.dim()))
