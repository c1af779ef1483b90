"""The shipped DCGAN recipe's training call, for this folder's screens.

``course_lib.dcgan_train.train_dcgan`` runs ``gan.train_gan`` with notebook 02's settings (Adam
2e-3 for both players, betas (0.5, 0.999), batch 64, Gaussian z, the notebook's precision and
layout) but owns its per-step callback; the screens here need their own callback on the same
networks and batches, so they call :func:`train_recipe` (the same arguments, one thread).
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from course_lib import dcgan_train
from course_lib.gan import train_gan


def train_recipe(
    X: torch.Tensor, steps: int, net_G: torch.nn.Module, net_D: torch.nn.Module,
    g: torch.Generator, callback: Callable[[int, dict | None], None],
) -> None:  # fmt: skip
    """Train ``net_G`` and ``net_D`` in place for ``steps`` G steps on ``X`` with batch order
    and latents from ``g`` (as ``train_dcgan``), calling ``callback(step, history)`` after
    every step."""
    device = torch.device("cpu")
    train_gan(
        X, steps, net_G=net_G, net_D=net_D, latent_dim=dcgan_train.LATENT_DIM,
        latent_kind="gaussian", batch_size=64, lr=dcgan_train.LR, betas=(0.5, 0.999),
        generator=g, device=device, log_every=50, desc="DCGAN", threads=1,
        bf16=dcgan_train.fast_bf16(device), channels_last=dcgan_train.fast_channels_last(device),
        progress=False, callback=callback, callback_every=1,
    )  # fmt: skip
