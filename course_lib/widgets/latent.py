"""Latent interpolation widget (notebooks 01, 02, 04): lerp and slerp between two seeds."""

from __future__ import annotations

from collections.abc import Callable

import ipywidgets as W
import matplotlib.pyplot as plt
import torch
from torch import nn

from ..config import check_choice
from ..noise import INTERPOLATIONS, LATENT_KINDS, interpolate, lerp, sample_latent, slerp
from ..train import model_device
from ..viz import show_images
from .base import MAX_SEED, ControlsWidget


def decoder_device(decode: Callable) -> torch.device:
    """Where ``decode`` wants its latents: the device of the module it is (``net_G``) or is
    a method of (``vae.decode_images``); CPU for a plain function."""
    owner = decode if isinstance(decode, nn.Module) else getattr(decode, "__self__", None)
    return model_device(owner) if isinstance(owner, nn.Module) else torch.device("cpu")


def latent_pair(
    seed_a: int, seed_b: int, latent_dim: int, kind: str = "gaussian"
) -> tuple[torch.Tensor, torch.Tensor]:
    """The two endpoint latents (each (latent_dim,)) drawn from seeds ``seed_a``, ``seed_b``."""
    for name, s in (("seed_a", seed_a), ("seed_b", seed_b)):
        if not isinstance(s, int) or not 0 <= s <= MAX_SEED:
            raise ValueError(f"{name} must be an integer in 0..{MAX_SEED}, got {s!r}")
    check_choice("latent kind", kind, LATENT_KINDS)
    z = [
        sample_latent(1, latent_dim, kind, torch.Generator().manual_seed(s))[0]
        for s in (seed_a, seed_b)
    ]
    return z[0], z[1]


@torch.no_grad()
def render_interpolation(
    decode: Callable[[torch.Tensor], torch.Tensor],
    latent_dim: int,
    seed_a: int = 0,
    seed_b: int = 1,
    t: float = 0.5,
    mode: str = "slerp",
    kind: str = "gaussian",
    frames: int = 8,
    device: torch.device | str | None = None,
) -> dict[str, torch.Tensor]:
    """Decode the path between two seeded latents (notebooks 01, 02, 04).

    Latents are drawn on the CPU from the two seeds and decoded on ``device`` (default: the
    decoder's own device, see :func:`decoder_device`). Returns ``images`` (3, C, H, W):
    start, the point at ``t``, end; ``walk`` (frames, C, H, W): ``frames`` evenly spaced
    points (both as decoded, on the decoder's device); ``norms`` (frames,): latent norms
    along the walk (slerp keeps them near the Gaussian shell sqrt(latent_dim), lerp dips in
    the middle); ``z_t`` (latent_dim,): the latent at ``t``.
    """
    if not 0.0 <= float(t) <= 1.0:
        raise ValueError(f"t must be in [0, 1], got {t}")
    check_choice("interpolation", mode, INTERPOLATIONS)
    if not 2 <= frames <= 64:
        raise ValueError(f"frames must be in 2..64, got {frames}")
    z0, z1 = latent_pair(seed_a, seed_b, latent_dim, kind)
    zt = (lerp if mode == "lerp" else slerp)(z0, z1, float(t))
    path = interpolate(z0, z1, frames, mode)
    device = torch.device(device) if device is not None else decoder_device(decode)
    images = decode(torch.stack([z0, zt, z1]).to(device)).float()
    walk = decode(path.to(device)).float()
    return {"images": images, "walk": walk, "norms": path.norm(dim=1), "z_t": zt}


class LatentInterpolationWidget(ControlsWidget):
    """Two seeds, a t slider, a lerp/slerp toggle and the 8-frame walk they define.

    ``decode`` maps latents (B, latent_dim) to images (B, C, H, W) in [-1, 1] (a GAN
    generator or a VAE decoder); latents go to ``device``, by default the decoder's. Set
    ``.t.value``, ``.mode.value``, ``.seed_a.value`` from code to drive it; ``.result``
    holds the last render.
    """

    def __init__(
        self, decode, latent_dim: int, kind: str = "gaussian", device=None, frames: int = 8
    ):
        self.decode, self.latent_dim, self.kind, self.device, self.frames = (
            decode,
            latent_dim,
            kind,
            device,
            frames,
        )
        self.seed_a = W.BoundedIntText(value=0, min=0, max=MAX_SEED, description="seed A")
        self.seed_b = W.BoundedIntText(value=1, min=0, max=MAX_SEED, description="seed B")
        self.t = W.FloatSlider(value=0.5, min=0.0, max=1.0, step=0.05, description="t")
        self.mode = W.ToggleButtons(options=["lerp", "slerp"], value="slerp", description="path")
        self._wire(
            (self.seed_a, self.seed_b, self.t, self.mode),
            [W.HBox([self.seed_a, self.seed_b]), W.HBox([self.t, self.mode])],
        )

    def render(self) -> dict[str, torch.Tensor]:
        self.result = render_interpolation(
            self.decode,
            self.latent_dim,
            self.seed_a.value,
            self.seed_b.value,
            self.t.value,
            self.mode.value,
            self.kind,
            self.frames,
            self.device,
        )
        with self.output:
            self.output.clear_output(wait=True)
            fig = plt.figure(figsize=(9, 3.2))
            grid = fig.add_gridspec(2, 3, height_ratios=[1.6, 1])
            titles = (
                "seed A (t = 0)",
                f"{self.mode.value}, t = {self.t.value:.2f}",
                "seed B (t = 1)",
            )
            for i, title in enumerate(titles):
                show_images(
                    self.result["images"][i : i + 1],
                    nrow=1,
                    title=title,
                    ax=fig.add_subplot(grid[0, i]),
                )
            show_images(
                self.result["walk"],
                nrow=self.frames,
                title=f"{self.frames}-frame walk",
                ax=fig.add_subplot(grid[1, :]),
            )
            fig.tight_layout()
            plt.show()
        return self.result
