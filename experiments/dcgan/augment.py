"""Differentiable augmentation for GANs on small data (DiffAugment, Zhao et al. 2020).

A discriminator trained on 4,500 digits memorises them: its accuracy on the training digits
climbs while its feedback to G stops meaning "looks like a digit" and starts meaning "is one
of these 4,500". DiffAugment applies the same random, differentiable transform T to every
image D sees, real or fake, in D's step and in G's step: D learns on T(real) vs T(G(z)), and
because T is differentiable, G's gradient flows through it. G is never trained to produce
augmented images: T(G(z)) matches T(x) only if G(z) matches x in distribution (for
transforms that are invertible in distribution, such as translation).

:class:`DiffAugment` wraps a discriminator, so every trainer and step function of the course
uses it unchanged (``net_D = DiffAugment(net_D)``); the wrapped net is ``.net``.

Transforms (Zhao et al., section 3, on images in [-1, 1] with background ``fill``):

- ``translation``: shift each image by up to ``translation`` x its side (integer pixels),
  filling the border with the background;
- ``cutout``: paint a square of side ``cutout`` x the image side, at a random place, with
  the background;
- ``brightness`` / ``contrast``: add U(-0.5, 0.5) / scale around the image mean by U(0.5,
  1.5) (the grey-scale half of the paper's ``color`` policy).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from course_lib.config import check_choice

POLICIES: tuple[str, ...] = ("translation", "cutout", "brightness", "contrast")


def _uniform(n: int, generator: torch.Generator | None, device: torch.device) -> torch.Tensor:
    """n numbers in [0, 1), drawn on the CPU (the same on every device)."""
    return torch.rand(n, generator=generator).to(device)


def translate(x: torch.Tensor, ratio: float, generator=None, fill: float = -1.0) -> torch.Tensor:
    """Shift each image of ``x`` (B, C, H, W) by a random whole number of pixels in
    [-ratio * side, ratio * side] along each axis; uncovered pixels take ``fill``."""
    B, _, H, W = x.shape
    sy, sx = int(ratio * H + 0.5), int(ratio * W + 0.5)
    dy = (_uniform(B, generator, x.device) * (2 * sy + 1)).long() - sy
    dx = (_uniform(B, generator, x.device) * (2 * sx + 1)).long() - sx
    padded = F.pad(x, (sx, sx, sy, sy), value=fill)
    rows = torch.arange(H, device=x.device).view(1, H, 1) + sy - dy.view(B, 1, 1)
    cols = torch.arange(W, device=x.device).view(1, 1, W) + sx - dx.view(B, 1, 1)
    idx = (rows * (W + 2 * sx) + cols).view(B, 1, H * W).expand(-1, x.shape[1], -1)
    return padded.flatten(2).gather(2, idx).view_as(x)


def cutout(x: torch.Tensor, ratio: float, generator=None, fill: float = -1.0) -> torch.Tensor:
    """Paint one square of side ``ratio`` x the image side per image with ``fill``; its
    centre is uniform over the image (the square may be clipped at the border)."""
    B, _, H, W = x.shape
    h, w = int(ratio * H + 0.5), int(ratio * W + 0.5)
    cy = (_uniform(B, generator, x.device) * H).long().view(B, 1, 1)
    cx = (_uniform(B, generator, x.device) * W).long().view(B, 1, 1)
    ys = torch.arange(H, device=x.device).view(1, H, 1)
    xs = torch.arange(W, device=x.device).view(1, 1, W)
    inside = ((ys - cy).abs() <= h // 2) & ((xs - cx).abs() <= w // 2)
    return torch.where(inside.unsqueeze(1), torch.full_like(x, fill), x)


def brightness(x: torch.Tensor, generator=None) -> torch.Tensor:
    """Add one U(-0.5, 0.5) per image."""
    return x + (_uniform(len(x), generator, x.device) - 0.5).view(-1, 1, 1, 1).to(x.dtype)


def contrast(x: torch.Tensor, generator=None) -> torch.Tensor:
    """Scale each image around its mean by U(0.5, 1.5)."""
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    scale = (_uniform(len(x), generator, x.device) + 0.5).view(-1, 1, 1, 1).to(x.dtype)
    return (x - mean) * scale + mean


def diff_augment(
    x: torch.Tensor, policy: Sequence[str] = ("translation", "cutout"), *,
    translation: float = 0.125, cutout_ratio: float = 0.5, fill: float = -1.0,
    generator: torch.Generator | None = None,
) -> torch.Tensor:  # fmt: skip
    """Apply the transforms of ``policy`` in order to a batch ``x`` (B, C, H, W); each image
    gets its own random draw. Differentiable in ``x``. Defaults: the paper's ratios."""
    if x.dim() != 4:
        raise ValueError(f"diff_augment takes images (B, C, H, W), got shape {tuple(x.shape)}")
    for name in policy:
        check_choice("DiffAugment policy", name, POLICIES)
        if name == "translation":
            x = translate(x, translation, generator, fill)
        elif name == "cutout":
            x = cutout(x, cutout_ratio, generator, fill)
        elif name == "brightness":
            x = brightness(x, generator)
        else:
            x = contrast(x, generator)
    return x


class DiffAugment(nn.Module):
    """A discriminator that sees ``diff_augment(x)`` in training mode and ``x`` in eval mode.

    ``DiffAugment(net_D)`` drops into any trainer of the course in place of ``net_D``; its
    parameters are the wrapped net's (``.net``), so optimisers and checkpoints see the same
    weights. ``generator`` (CPU) makes the augmentation repeat exactly; default: the global
    RNG.
    """

    def __init__(
        self, net: nn.Module, policy: Sequence[str] = ("translation", "cutout"), *,
        translation: float = 0.125, cutout_ratio: float = 0.5, fill: float = -1.0,
        generator: torch.Generator | None = None,
    ) -> None:  # fmt: skip
        super().__init__()
        for name in policy:
            check_choice("DiffAugment policy", name, POLICIES)
        self.net = net
        self.policy = tuple(policy)
        self.kwargs = dict(translation=translation, cutout_ratio=cutout_ratio, fill=fill)
        self.generator = generator

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training and self.policy:
            x = diff_augment(x, self.policy, generator=self.generator, **self.kwargs)
        return self.net(x)


class InstanceNoise(nn.Module):
    """A discriminator that sees ``x + sigma * N(0, I)`` in training mode and ``x`` in eval mode
    (instance noise: Sonderby et al. 2017, Arjovsky and Bottou 2017). The same noise law on real
    and fake images keeps the optimum p_g = p_data (a Gaussian convolution is invertible in
    distribution); it blurs what D can tell apart. The wrapped net is ``.net``."""

    def __init__(
        self, net: nn.Module, sigma: float, *, generator: torch.Generator | None = None
    ) -> None:
        super().__init__()
        if not sigma >= 0:
            raise ValueError(f"instance noise sigma must be >= 0, got {sigma}")
        self.net, self.sigma, self.generator = net, float(sigma), generator

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training and self.sigma > 0:
            noise = torch.randn(x.shape, generator=self.generator, dtype=x.dtype)
            x = x + self.sigma * noise.to(x.device)
        return self.net(x)


def with_dropout(net_D: nn.Module, p: float) -> nn.Module:
    """``net_D`` (a :class:`course_lib.dcgan.DCGANDiscriminator`) with ``Dropout(p)`` after each
    LeakyReLU of its ``.net``, in place (same parameters); returns it."""
    if not 0 <= p < 1:
        raise ValueError(f"dropout p must be in [0, 1), got {p}")
    layers: list[nn.Module] = []
    for layer in net_D.net:
        layers.append(layer)
        if isinstance(layer, nn.LeakyReLU):
            layers.append(nn.Dropout(p))
    net_D.net = nn.Sequential(*layers)
    return net_D
