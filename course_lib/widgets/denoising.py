"""Noise-factor widget (notebook 05): noisy input, denoising VAE and plain VAE side by side."""

from __future__ import annotations

from collections.abc import Callable

import ipywidgets as W
import matplotlib.pyplot as plt
import torch

from ..viz import show_images
from .base import MAX_SEED, ControlsWidget

NOISE_FACTOR_RANGE = (0.0, 0.6)


@torch.no_grad()
def render_denoising(
    clean: torch.Tensor,
    noise_factor: float,
    reconstructors: dict[str, Callable[[torch.Tensor], torch.Tensor]],
    seed: int = 0,
) -> dict[str, object]:
    """Corrupt ``clean`` at ``noise_factor`` and reconstruct it with each model (notebook 05).

    clean: (B, 1, H, W) in [0, 1]; ``noise_factor`` in [0, 0.6]; ``reconstructors`` maps a
    name (e.g. "denoising VAE") to a function images in [0, 1] -> images in [0, 1] (such as
    ``VAE.reconstruct``, which takes the CPU images and computes on its model's device). The
    noise is drawn on the CPU from ``seed``, so every model sees the same corrupted input.
    Returns ``noisy`` (B, 1, H, W), ``recons`` {name: (B, 1, H, W)}, both on the CPU, and
    ``psnr`` {"noisy input" or name: mean PSNR in dB against ``clean``}.
    """
    from ..vae import corrupt  # local imports: widgets stays importable on its own
    from ..vae_eval import psnr

    lo, hi = NOISE_FACTOR_RANGE
    if not isinstance(noise_factor, (int, float)) or not lo <= float(noise_factor) <= hi:
        raise ValueError(f"noise_factor must be a number in [{lo}, {hi}], got {noise_factor!r}")
    if not reconstructors:
        raise ValueError(
            "reconstructors must name at least one model, e.g. {'VAE': net.reconstruct}"
        )
    clean = clean.detach().float().cpu()
    noisy = corrupt(clean, float(noise_factor), torch.Generator().manual_seed(seed))
    recons = {name: fn(noisy).float().cpu() for name, fn in reconstructors.items()}
    scores = {"noisy input": float(psnr(noisy, clean).mean())}
    scores.update({name: float(psnr(r, clean).mean()) for name, r in recons.items()})
    return {"noisy": noisy, "recons": recons, "psnr": scores}


class NoiseFactorWidget(ControlsWidget):
    """A noise-factor slider (0 to 0.6) over clean, noisy and reconstructed digits (nb 05).

    Rows: the clean images, their corruption at the slider's noise factor, then one row per
    entry of ``reconstructors``, each titled with its mean PSNR. Set ``.noise_factor.value``
    (or ``.seed.value``) from code to drive it; ``.result`` holds the last render.
    """

    def __init__(self, clean: torch.Tensor, reconstructors: dict, noise_factor: float = 0.25):
        self.clean, self.reconstructors = clean, reconstructors
        lo, hi = NOISE_FACTOR_RANGE
        self.noise_factor = W.FloatSlider(
            value=noise_factor, min=lo, max=hi, step=0.05, description="noise factor"
        )
        self.seed = W.BoundedIntText(value=0, min=0, max=MAX_SEED, description="noise seed")
        self._wire((self.noise_factor, self.seed), [W.HBox([self.noise_factor, self.seed])])

    def render(self) -> dict[str, object]:
        nf = self.noise_factor.value
        self.result = render_denoising(self.clean, nf, self.reconstructors, self.seed.value)
        rows = {"clean": self.clean.detach().float().cpu(), "noisy input": self.result["noisy"]}
        rows.update(self.result["recons"])
        with self.output:
            self.output.clear_output(wait=True)
            fig, axes = plt.subplots(len(rows), 1, figsize=(9, 1.45 * len(rows)), squeeze=False)
            for ax, (name, images) in zip(axes[:, 0], rows.items()):
                score = self.result["psnr"].get(name)
                title = name if score is None else f"{name}: PSNR {score:.1f} dB"
                show_images(images, nrow=len(images), title=title, ax=ax, value_range=(0.0, 1.0))
            fig.suptitle(f"noise factor {nf:.2f}")
            fig.tight_layout()
            plt.show()
        return self.result
