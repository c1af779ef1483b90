"""Mode statistics of 2-D toy GANs (notebooks 03, 08): the VEEGAN / PacGAN protocol.

- :func:`mode_coverage`: modes captured, fraction of high-quality samples, reverse KL;
- :func:`far_fraction`: samples between modes (bridges);
- :func:`nearest_modes`: each sample's nearest mean and whether it is high quality (the
  rule both use; :func:`course_lib.toy_diagnostics.code_usage` too).

The first two are re-exported by :mod:`course_lib.metrics` (``course_lib.metrics.mode_coverage`` is
the name the benchmarks and DESIGN.md use).
"""

from __future__ import annotations

import math

import torch

from .data import toy_distribution


def _nearest(samples: torch.Tensor, name: str, caller: str, k_sigma: float = 3.0):
    """(toy distribution ``name``, distance (N,) of each checked 2-D sample to its nearest
    mean, that mean's index (N,), mask (N,) of the samples within ``k_sigma`` sigma of it)."""
    dist = toy_distribution(name)
    x = torch.as_tensor(samples).detach().float().cpu()
    if x.dim() != 2 or x.shape[1] != 2 or len(x) == 0:
        raise ValueError(
            f"{caller} expects samples of shape (N, 2) with N >= 1, got {tuple(x.shape)}. "
            "Pass generator outputs for the 2-D toy sets, e.g. net_G(Z) with Z of shape (N, d)."
        )
    if not torch.isfinite(x).all():
        raise ValueError("samples contain NaN or inf: the generator diverged; retrain it.")
    d_min, nearest = torch.cdist(x, dist.means).min(dim=1)
    return dist, d_min, nearest, d_min <= k_sigma * dist.std


def nearest_modes(samples: torch.Tensor, name: str) -> tuple[torch.Tensor, ...]:
    """For 2-D ``samples`` (N, 2) of the toy mixture ``name``: the distance (N,) of each
    sample to its nearest mean, that mean's index (N,), and the high-quality mask (N,)
    (within 3 sigma of it), all on the CPU. The rule of :func:`mode_coverage` (notebook 03)."""
    return _nearest(samples, name, "nearest_modes")[1:]


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
    dist, _, nearest, good = _nearest(samples, name, "mode_coverage")
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
    near = _nearest(samples, name, "far_fraction", k_sigma)[3]
    return float((~near).double().mean())
