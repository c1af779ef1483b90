"""What a trained toy GAN does between and within modes (notebooks 03 and 08).

How many samples sit on bridges between modes is :func:`course_lib.metrics.far_fraction`;
here: where they come from (:func:`jacobian_norm`), a sampler that drops them
(:func:`jacobian_rejection`), the diversity that mode counts cannot see
(:func:`toy_precision_recall`, :func:`within_mode_std_ratio`), the six numbers of a run's
scorecard (:func:`toy_scores`), how the codes of a categorical latent share the modes
(:func:`code_usage`), and the seed spread of a run (:func:`summarise`).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from .data import toy_distribution
from .metrics import mode_coverage, precision_recall
from .toy_metrics import nearest_modes
from .toy_train import ToyEnsemble, toy_latents
from .train import eval_mode, model_device

SCORES: tuple[str, ...] = (
    "modes", "high_quality", "reverse_kl", "precision", "recall", "within_mode_std_ratio",
)  # fmt: skip


def jacobian_norm(net_G: nn.Module, Z: torch.Tensor) -> torch.Tensor:
    """Frobenius norm of dG/dz at every latent: Z (S, N, d) -> (S, N).

    Each output coordinate is one backward pass (G outputs 2-D points); in eval mode every
    sample depends only on its own z, so summing over samples gives each sample's gradient.
    """
    Z = Z.detach().requires_grad_(True)
    with torch.enable_grad():
        x = net_G(Z)
        rows = [torch.autograd.grad(x[..., j].sum(), Z, retain_graph=j + 1 < x.shape[-1])[0]
                for j in range(x.shape[-1])]  # fmt: skip
    return torch.stack(rows, dim=-1).pow(2).sum(dim=(-2, -1)).sqrt()


@torch.no_grad()
def jacobian_sample(net_G: nn.Module, Z: torch.Tensor, n: int) -> dict[str, torch.Tensor]:
    """Keep, per seed, the ``n`` of the latents Z (S, drawn, d) with the smallest Jacobian
    norm, in the order they were drawn; G in eval mode. Returns ``samples`` (S, n, 2) and
    every drawn sample ``drawn`` (S, drawn, 2) with its ``norms`` (S, drawn), on G's device.
    """
    S = Z.shape[0]
    with eval_mode(net_G) as G:
        norms = jacobian_norm(G, Z)
        drawn = G(Z)
    keep = norms.argsort(dim=1)[:, :n].sort(dim=1).values
    x = torch.gather(drawn, 1, keep.unsqueeze(-1).expand(S, n, 2))
    return {"samples": x, "drawn": drawn, "norms": norms}


def jacobian_rejection(model: ToyEnsemble, reject: float = 0.1, n: int | None = None,
                       seed: int = 0) -> dict:  # fmt: skip
    """Sample ``model``'s generator, dropping the ``reject`` fraction of latents with the
    largest Jacobian norm (Tanielian et al. 2020, "Learning disconnected manifolds: a no
    GAN's land", their JBOP rejection); :func:`jacobian_sample` plus ``coverage``, one
    ``mode_coverage`` dict per seed (notebook 03).

    A continuous G maps the connected latent space onto a connected set, so some latent mass
    must land on the bridges between modes; there G stretches space, i.e. ||dG/dz|| is
    large. Dropping those latents removes the bridges without a discriminator. ``n`` kept
    samples per seed (default ``eval_samples``) after drawing n / (1 - reject) latents from a
    generator seeded with ``seed``.
    """
    if not 0 <= reject < 1:
        raise ValueError(f"reject must be in [0, 1), got {reject!r}")
    if model.net_G is None:
        raise ValueError("the model has no generator (net_G is None): train it first")
    cfg = model.config
    n = n or cfg.eval_samples
    S, drawn = len(cfg.seeds), math.ceil(n / (1 - reject))
    Z = toy_latents(cfg, drawn, torch.Generator().manual_seed(seed), model_device(model.net_G))[0]
    out = jacobian_sample(model.net_G, Z.view(S, drawn, -1), n)
    out["coverage"] = [mode_coverage(x, model.data) for x in out["samples"]]
    return out


def toy_precision_recall(samples: torch.Tensor, data: str, seed: int = 5) -> list[dict]:
    """Improved precision / recall (:func:`course_lib.metrics.precision_recall`, k = 3) of each
    seed's samples (S, N, 2) against N fresh samples of the mixture ``data`` (``seed``)
    (notebook 03).

    Recall is what :func:`mode_coverage` cannot see: a generator that puts each mode's mass
    on a few points scores every mode at 100% high quality, but its recall is near 0.
    """
    if samples.ndim != 3 or samples.shape[-1] != 2:
        raise ValueError(f"samples must be (S, N, 2), got {tuple(samples.shape)}")
    g = torch.Generator().manual_seed(seed)
    real = toy_distribution(data).sample(samples.shape[1], generator=g)
    return [precision_recall(x, real) for x in samples.cpu()]


def within_mode_std_ratio(samples: torch.Tensor, name: str) -> float:
    """Spread of the samples *inside* the modes, relative to the mixture's: mean over the
    captured modes of (standard deviation of the high-quality samples whose nearest mean is
    that mode, per coordinate, averaged over the 2 coordinates) / sigma (notebook 03).

    ``samples`` (N, 2) of the toy mixture ``name``; the high-quality rule and the captured
    modes are those of :func:`course_lib.metrics.mode_coverage`. Population standard
    deviation, so a mode held by a single sample scores 0. Exact samples of the mixture give
    about 0.97, not 1: the high-quality test keeps only the disc of radius 3 sigma, and a 2-D
    Gaussian truncated there has a per-coordinate std of sqrt(1 - 4.5 e^-4.5 / (1 - e^-4.5))
    = 0.974 sigma (measured: 0.97 on both sets at N = 2,500). A generator that puts each
    mode's samples on one point scores 0; one that spreads them evenly over the 3-sigma disc
    scores 1.5. Returns nan when no mode is captured.
    """
    _, nearest, good = nearest_modes(samples, name)
    x = torch.as_tensor(samples).detach().float().cpu()[good]
    nearest = nearest[good]
    stds = [x[nearest == m].std(dim=0, correction=0).mean() for m in nearest.unique()]
    if not stds:
        return math.nan
    return float(torch.stack(stds).mean()) / toy_distribution(name).std


def toy_scores(samples: torch.Tensor, data: str, seed: int = 5) -> dict:
    """The six numbers of a toy run (notebook 03 and its bench), for each seed's samples
    (S, N, 2) of the mixture ``data``: ``modes``, ``high_quality``, ``reverse_kl``
    (:func:`course_lib.metrics.mode_coverage`), ``precision``, ``recall``
    (:func:`toy_precision_recall` against N fresh mixture samples drawn with ``seed``) and
    ``within_mode_std_ratio``. Returns their means over seeds and ``per_seed``, one dict of
    the six per seed. Modes and high quality alone reward collapse; recall exposes it, and the
    std ratio too when the collapsed samples sit near each mode's mean (a few points spread
    over a mode keep a ratio near 1).
    """
    pr = toy_precision_recall(samples, data, seed)
    per_seed = [mode_coverage(x, data) | p
                | {"within_mode_std_ratio": within_mode_std_ratio(x, data)}
                for x, p in zip(samples.cpu(), pr)]  # fmt: skip
    out = {k: sum(row[k] for row in per_seed) / len(per_seed) for k in SCORES}
    return out | {"per_seed": per_seed}


def code_usage(samples: torch.Tensor, codes: torch.Tensor, data: str, categories: int) -> dict:
    """How a ``categorical_latent`` generator's codes share the modes of ``data`` (one seed;
    notebook 03).

    ``samples`` (N, 2) and the ``codes`` (N,) that made them. Only high-quality samples (within
    3 sigma of their nearest mean) count. Returns per-mode tensors of length n_modes:
    ``codes_per_mode`` (each code belongs to the mode where most of its high-quality samples
    fall), ``distinct_codes`` (codes with at least one high-quality sample there) and
    ``samples_per_mode`` (high-quality samples there).
    """
    if samples.ndim != 2 or codes.shape != samples.shape[:1]:
        raise ValueError(f"samples (N, 2) and codes (N,) expected, got {tuple(samples.shape)} "
                         f"and {tuple(codes.shape)}")  # fmt: skip
    _, nearest, good = nearest_modes(samples, data)
    codes, M = codes.cpu(), len(toy_distribution(data).means)
    owner = torch.full((categories,), -1)
    distinct = torch.zeros(M, dtype=torch.long)
    for code in codes[good].unique():
        modes = nearest[good & (codes == code)]
        owner[code] = torch.mode(modes).values
        distinct[modes.unique()] += 1
    return {"codes_per_mode": torch.bincount(owner[owner >= 0], minlength=M),
            "distinct_codes": distinct,
            "samples_per_mode": torch.bincount(nearest[good], minlength=M)}  # fmt: skip


def summarise(model: ToyEnsemble) -> dict[str, float]:
    """Mean and min/max over seeds of modes and high_quality at the last step, the mean
    reverse_kl and the number of seeds (notebook 08's table)."""
    cov = model.final["per_seed"]
    modes = [c["modes"] for c in cov]
    hq = [c["high_quality"] for c in cov]
    kl = [c["reverse_kl"] for c in cov]
    return {"modes": sum(modes) / len(modes), "modes_min": min(modes), "modes_max": max(modes),
            "high_quality": sum(hq) / len(hq), "hq_min": min(hq), "hq_max": max(hq),
            "reverse_kl": sum(kl) / len(kl), "seeds": len(cov)}  # fmt: skip
