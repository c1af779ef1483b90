"""The shipped DCGAN recipe's training call, scores and checkpoint lines, for the screens here.

``course_lib.dcgan_train.train_dcgan`` runs ``gan.train_gan`` with notebook 02's settings (Adam
2e-3 for both players, betas (0.5, 0.999), batch 64, Gaussian z, the notebook's precision and
layout) but owns its per-step callback; the screens here need their own callback on the same
networks and batches, so they call :func:`train_recipe` (the same arguments, one thread).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable

import torch

from course_lib import dcgan_train
from course_lib.gan import train_gan


def scores(G: torch.nn.Module) -> dict:
    """G's FID, KID, precision and recall in the one protocol (notebook 02's latents), rounded."""
    s = dcgan_train.protocol_scores(G)
    return {k: round(s[k], 4) for k in ("fid", "kid", "precision", "recall")}


class CheckpointLog:
    """One JSON line per checkpoint on stdout, with ``train_s``: seconds since the log was made,
    not counting the time spent scoring at earlier checkpoints."""

    def __init__(self) -> None:
        self.t0, self.scoring = time.perf_counter(), 0.0

    def write(self, head: dict, score: Callable[[], dict]) -> None:
        """Print ``head``, ``train_s`` and what ``score()`` returns (timed as scoring)."""
        s0 = time.perf_counter()
        rec = {**head, "train_s": round(s0 - self.t0 - self.scoring, 1), **score()}
        self.scoring += time.perf_counter() - s0
        print(json.dumps(rec), flush=True)


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
