"""Mode statistics of 2-D toy GANs (notebooks 03, 08): the VEEGAN / PacGAN protocol.

- :func:`mode_coverage`: modes captured, fraction of high-quality samples, reverse KL;
- :func:`far_fraction`: samples between modes (bridges).

Both are re-exported by :mod:`course_lib.metrics` (``course_lib.metrics.mode_coverage`` is
the name the benchmarks and DESIGN.md use).
"""

from __future__ import annotations

import math

import torch

from .data import toy_distribution


def _toy_distances(samples: torch.Tensor, name: str, caller: str):
    """(toy distribution ``name``, distances (N, K) of the checked 2-D ``samples`` to its means)."""
    dist = toy_distribution(name)
    x = torch.as_tensor(samples).detach().float().cpu()
    if x.dim() != 2 or x.shape[1] != 2 or len(x) == 0:
        raise ValueError(
            f"{caller} expects samples of shape (N, 2) with N >= 1, got {tuple(x.shape)}. "
            "Pass generator outputs for the 2-D toy sets, e.g. net_G(Z) with Z of shape (N, d)."
        )
    if not torch.isfinite(x).all():
        raise ValueError("samples contain NaN or inf: the generator diverged; retrain it.")
    return dist, torch.cdist(x, dist.means)


def mode_coverage(samples: torch.Tensor, name: str) -> dict[str, float | int]:
    """Mode statistics of 2-D ``samples`` (N, 2) against the toy mixture ``name``.

    PacGAN / VEEGAN definitions (``name`` is ``ring8`` or ``grid25``, see
    :func:`course_lib.data.toy_distribution`):

    - a sample is *high quality* when it lies within 3 sigma of its nearest mean;
    - a mode is *captured* when it is the nearest mean of at least one high-quality sample;
    - ``reverse_kl`` = KL(p || u) = sum_k p_k log(K p_k), where p is the histogram of the
      high-quality samples over the K modes and u is uniform (0 for perfect balance,
      log K when every good sample sits on one mode; ``inf`` when there is none).

    Returns ``dict(modes=int, high_quality=float in [0, 1], reverse_kl=float >= 0)``. Exact
    samples of the mixture give every mode and high_quality ~ 1 - exp(-9/2) = 0.9889.
    Used in notebooks 03 (mode collapse) and 08.
    """
    dist, d = _toy_distances(samples, name, "mode_coverage")
    d_min, nearest = d.min(dim=1)
    good = d_min <= 3 * dist.std
    counts = torch.bincount(nearest[good], minlength=len(dist.means)).double()
    if counts.sum() == 0:
        reverse_kl = math.inf
    else:
        p = counts / counts.sum()
        p = p[p > 0]
        reverse_kl = float((p * (p * len(dist.means)).log()).sum())
    return {
        "modes": int((counts > 0).sum()),
        "high_quality": float(good.double().mean()),
        "reverse_kl": reverse_kl,
    }


def far_fraction(samples: torch.Tensor, name: str, k_sigma: float = 6.0) -> float:
    """Fraction of ``samples`` (N, 2) farther than ``k_sigma`` sigma from every mean of ``name``.

    Exact samples of the mixture almost never are (exp(-k^2 / 2) in 2-D: 1.5e-8 at k = 6), so
    this counts samples *between* modes (bridges), as opposed to samples slightly too wide
    around a mode (3 to 6 sigma) that :func:`mode_coverage` also counts as not high quality.
    Used in notebook 03.
    """
    if not k_sigma > 0:
        raise ValueError(f"k_sigma must be > 0, got {k_sigma!r}")
    dist, d = _toy_distances(samples, name, "far_fraction")
    return float((d.min(dim=1).values > k_sigma * dist.std).double().mean())
