"""Plots used across the notebooks: image grids, training curves, 2-D samples over a density.

Every function draws on a matplotlib ``Axes`` (created if not given), sets a title and axis
labels, and returns the Axes, so notebook cells stay one line long.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from torchvision.utils import make_grid


def _axes(ax: plt.Axes | None, figsize=(5, 5)) -> plt.Axes:
    if ax is None:
        _, ax = plt.subplots(figsize=figsize)
    return ax


def image_grid(images: torch.Tensor, nrow: int = 8, value_range=(-1.0, 1.0)) -> np.ndarray:
    """(B, C, H, W) images in ``value_range`` -> one (H', W', C) grid in [0, 1] for imshow."""
    grid = make_grid(
        images.detach().float().cpu(),
        nrow=nrow,
        padding=2,
        normalize=True,
        value_range=value_range,
        pad_value=1.0,
    )
    return grid.permute(1, 2, 0).numpy()


def show_images(
    images: torch.Tensor,
    nrow: int = 8,
    title: str = "",
    ax: plt.Axes | None = None,
    value_range=(-1.0, 1.0),
) -> plt.Axes:
    """Show a batch of images as a grid (torchvision ``make_grid``)."""
    ax = _axes(ax)
    ax.imshow(image_grid(images, nrow, value_range), cmap="gray", interpolation="nearest")
    ax.set_title(title)
    ax.axis("off")
    return ax


def show_snapshots(
    snapshots: Mapping[int, torch.Tensor],
    nrow: int = 4,
    title: str = "Samples during training",
) -> plt.Figure:
    """One grid per training step, side by side: ``{step: images}``."""
    n = len(snapshots)
    fig, axes = plt.subplots(1, n, figsize=(2.6 * n, 2.9), squeeze=False)
    for ax, (step, imgs) in zip(axes[0], sorted(snapshots.items())):
        show_images(imgs, nrow=nrow, title=f"step {step}", ax=ax)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_history(
    history: Mapping[str, Sequence[float]],
    keys: Sequence[str],
    title: str = "Training curves",
    ylabel: str = "value",
    ax: plt.Axes | None = None,
    labels: Sequence[str] | None = None,
) -> plt.Axes:
    """Curves of ``history[key]`` against ``history["step"]`` for each key."""
    ax = _axes(ax, figsize=(6, 3.5))
    for key, label in zip(keys, labels or keys):
        ax.plot(history["step"], history[key], label=label)
    ax.set_xlabel("training step")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend()
    ax.grid(alpha=0.3)
    return ax


def plot_score_curves(
    provenance: Mapping, reference: float | None = None, ax: plt.Axes | None = None,
    title: str = "The shipped run, scored while it trained",
    reference_label: str = "real digits + noise σ=0.25", ymax: float | None = None,
) -> plt.Axes:
    """FID of a shipped GAN's raw G and of the moving average of its weights against the
    step, from the ``history`` of its provenance (``score_step``, ``fid_raw``, ``fid_ema``;
    written by ``course_lib.dcgan_train`` and ``course_lib.wgan_train``), with a dotted line
    at ``reference`` labelled ``reference_label``; ``ymax`` cuts the axis (an average that
    starts from the initial weights scores far above the rest at its first checkpoint)."""
    h, decay = provenance["history"], provenance.get("ema_decay")
    ax = _axes(ax, figsize=(7, 3.2))
    ax.plot(h["score_step"], h["fid_raw"], "o-", label="raw G")
    if "fid_ema" in h:
        ax.plot(h["score_step"], h["fid_ema"], "s-", label=f"moving average of G (decay {decay})")
    if reference is not None:
        ax.axhline(reference, color="k", ls=":", label=reference_label)
    ax.set(xlabel="generator steps", ylabel="FID (protocol)", ylim=(0, ymax), title=title)
    ax.legend(fontsize=8)
    return ax


def scatter_2d(
    samples: torch.Tensor,
    dist=None,
    title: str = "Samples",
    ax: plt.Axes | None = None,
    lim: float | None = None,
    n_contour: int = 200,
) -> plt.Axes:
    """Scatter (N, 2) samples; with a toy ``dist`` draw its means and density contours."""
    ax = _axes(ax)
    pts = samples.detach().float().cpu()
    if lim is None:
        lim = 1.5 if dist is None else float(dist.means.abs().max()) * 1.25 + 0.25
    if dist is not None:
        g = torch.linspace(-lim, lim, n_contour)
        xx, yy = torch.meshgrid(g, g, indexing="xy")
        logp = dist.log_prob(torch.stack([xx.flatten(), yy.flatten()], 1)).view_as(xx)
        ax.contourf(xx, yy, logp.clamp_min(-20).exp(), levels=8, cmap="Blues", alpha=0.6)
        ax.scatter(*dist.means.T, marker="x", c="k", s=25, label="modes")
    ax.scatter(pts[:, 0], pts[:, 1], s=3, c="tab:red", alpha=0.5, label="samples")
    ax.set_xlim(-lim, lim)
    ax.set_ylim(-lim, lim)
    ax.set_aspect("equal")
    ax.set_xlabel("$x_1$")
    ax.set_ylabel("$x_2$")
    ax.set_title(title)
    ax.legend(loc="upper right", fontsize=7)
    return ax
