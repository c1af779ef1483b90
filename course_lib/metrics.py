"""Metrics for generative models, computed offline the way papers compute them.

Toy 2-D mixtures (notebooks 03, 08) -- the VEEGAN / PacGAN protocol:

- :func:`mode_coverage`: modes captured, fraction of high-quality samples, reverse KL.

Images (notebooks 02-10), in the 128-d penultimate features of the course's own MNIST
classifier (:mod:`course_lib.classifier`; "classifier FID", since Inception weights cannot
be downloaded offline). Numbers are comparable with each other, *not* with Inception-FID:

- :func:`classifier_fid`: Fréchet distance between Gaussians fitted to features.
- :func:`precision_recall`: Kynkäänniemi et al. 2019 (k-NN manifolds, k = 3).
- :func:`density_coverage`: Naeem et al. 2020 (k = 5).
- :func:`class_histogram`: predicted-digit frequencies (mode collapse on images).
- :func:`classifier_score`: the Inception Score of Salimans et al. 2016 with our classifier.
- :func:`corrupt`: Gaussian noise or blur, used to calibrate the metrics (benchmarks/).

Image inputs are float tensors (N, 1, 28, 28) in [-1, 1], like ``load_images``. The
classifier is loaded once (checksum verified) and cached. Command line::

    python -m course_lib.metrics train-classifier [--check]
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Literal

import torch
from torch import nn

from . import classifier as _clf
from .data import toy_distribution

# ---------------------------------------------------------------------------------------
# Toy 2-D mixtures: VEEGAN (Srivastava et al. 2017) / PacGAN (Lin et al. 2018)
# ---------------------------------------------------------------------------------------


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


# ---------------------------------------------------------------------------------------
# The classifier's feature space
# ---------------------------------------------------------------------------------------


@lru_cache(maxsize=4)
def _cached_classifier(path: str, device: str) -> _clf.MnistClassifier:
    return _clf.load_classifier(path, device)


def get_classifier(device: torch.device | str = "cpu") -> _clf.MnistClassifier:
    """The shipped MNIST classifier (checksum verified once, then cached), in eval mode."""
    return _cached_classifier(str(_clf.weights_path()), str(torch.device(device)))


def clear_cache() -> None:
    """Forget the cached classifier (after retraining it in the same session)."""
    _cached_classifier.cache_clear()


def _check_images(x: torch.Tensor, what: str) -> torch.Tensor:
    if not isinstance(x, torch.Tensor) or x.dim() != 4 or tuple(x.shape[1:]) != (1, 28, 28):
        shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise ValueError(
            f"{what} must be images of shape (N, 1, 28, 28) in [-1, 1], got {shape}. "
            "Reshape generator outputs with .view(-1, 1, 28, 28)."
        )
    if len(x) < 2:
        raise ValueError(f"{what} needs at least 2 images (a covariance), got {len(x)}.")
    x = x.detach().float()
    lo, hi = float(x.min()), float(x.max())
    if not (math.isfinite(lo) and math.isfinite(hi)) or lo < -1.01 or hi > 1.01:
        raise ValueError(
            f"{what} values must lie in [-1, 1] (found {lo:.3g}..{hi:.3g}). Images in [0, 1] "
            "need x * 2 - 1, images in 0..255 need x / 127.5 - 1; NaN means training diverged."
        )
    return x


@torch.no_grad()
def classifier_features(images: torch.Tensor, batch_size: int = 500) -> torch.Tensor:
    """Penultimate features (N, 128) of the course classifier for images (N, 1, 28, 28)."""
    x = _check_images(images, "images")
    net = get_classifier(x.device)
    return torch.cat([net.features(b) for b in x.split(batch_size)]).float()


@torch.no_grad()
def classifier_probs(images: torch.Tensor, batch_size: int = 500) -> torch.Tensor:
    """Class probabilities p(y | x), shape (N, 10), from the course classifier."""
    x = _check_images(images, "images")
    net = get_classifier(x.device)
    return torch.cat([net(b).softmax(1) for b in x.split(batch_size)]).float()


class _FeatureExtractor(nn.Module):
    """Adapter that lets torchmetrics' FID call our classifier's ``features``."""

    num_features = _clf.MnistClassifier.num_features

    def __init__(self, net: _clf.MnistClassifier) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net.features(x)


def classifier_fid(fake: torch.Tensor, real: torch.Tensor) -> float:
    """Fréchet distance between classifier features of ``fake`` and ``real`` images.

    FID = ||mu_f - mu_r||^2 + Tr(S_f + S_r - 2 (S_f S_r)^(1/2))  (Heusel et al. 2017, eq. 6),
    computed by ``torchmetrics.image.fid.FrechetInceptionDistance`` (float64, its matrix
    square root via eigenvalues) with our classifier as the custom feature extractor.
    fake, real: (N, 1, 28, 28) in [-1, 1]; sizes may differ. 0 for identical sets; FID is
    biased upwards for small N, so compare numbers computed with the same sample sizes.
    """
    from torchmetrics.image.fid import FrechetInceptionDistance

    fake, real = _check_images(fake, "fake"), _check_images(real, "real")
    fid = FrechetInceptionDistance(feature=_FeatureExtractor(get_classifier(fake.device)))
    fid = fid.to(fake.device)
    with torch.no_grad():
        for b in real.split(500):
            fid.update(b.to(fake.device), real=True)
        for b in fake.split(500):
            fid.update(b, real=False)
    return max(float(fid.compute()), 0.0)  # tiny negative round-off for identical sets


def _as_features(x: torch.Tensor, what: str) -> torch.Tensor:
    """Images (N, 1, 28, 28) -> classifier features; 2-D tensors are taken as features."""
    if isinstance(x, torch.Tensor) and x.dim() == 2:
        return x.detach().float()
    return classifier_features(_check_images(x, what))


def _knn_radius(feats: torch.Tensor, k: int) -> torch.Tensor:
    """Distance from each row to its k-th nearest *other* row, shape (N,)."""
    if not 1 <= k < len(feats):
        raise ValueError(f"k must be in 1..{len(feats) - 1} for {len(feats)} points, got {k}")
    d = torch.cdist(feats, feats)
    return d.topk(k + 1, dim=1, largest=False).values[:, k]  # column 0 is the point itself


def precision_recall(fake: torch.Tensor, real: torch.Tensor, k: int = 3) -> dict[str, float]:
    """Improved precision and recall (Kynkäänniemi et al. 2019), k-NN manifolds, k = 3.

    The real manifold is the union of balls around each real feature with radius its
    distance to the k-th nearest real neighbour. precision = fraction of fakes inside the
    real manifold (fidelity); recall = fraction of reals inside the fake manifold (diversity).
    fake, real: images (N, 1, 28, 28) in [-1, 1] or features (N, D). Both in [0, 1].
    """
    f, r = _as_features(fake, "fake"), _as_features(real, "real")
    r_rad, f_rad = _knn_radius(r, k), _knn_radius(f, k)
    d = torch.cdist(f, r)  # (N_fake, N_real)
    precision = (d <= r_rad[None, :]).any(dim=1).double().mean()
    recall = (d <= f_rad[:, None]).any(dim=0).double().mean()
    return {"precision": float(precision), "recall": float(recall)}


def density_coverage(fake: torch.Tensor, real: torch.Tensor, k: int = 5) -> dict[str, float]:
    """Density and coverage (Naeem et al. 2020, eqs. 3-4; their recommended k = 5).

    density = 1/(k M) sum_j sum_i 1[Y_j in B(X_i, NND_k(X_i))]  (about 1 for real-like
    fakes, > 1 when fakes crowd dense regions); coverage = 1/N sum_i 1[some Y_j in
    B(X_i, NND_k(X_i))] in [0, 1], with X the N real and Y the M fake features.
    fake, real: images (N, 1, 28, 28) in [-1, 1] or features (N, D).
    """
    f, r = _as_features(fake, "fake"), _as_features(real, "real")
    inside = torch.cdist(r, f) <= _knn_radius(r, k)[:, None]  # (N_real, M_fake)
    density = inside.double().sum() / (k * len(f))
    coverage = inside.any(dim=1).double().mean()
    return {"density": float(density), "coverage": float(coverage)}


def class_histogram(images: torch.Tensor) -> torch.Tensor:
    """Fraction of ``images`` (N, 1, 28, 28) classified as each digit 0-9, shape (10,).

    Real mnist5k gives ~0.1 everywhere; a collapsed GAN piles up on a few digits.
    """
    preds = classifier_probs(images).argmax(1)
    return torch.bincount(preds, minlength=10).double().div(len(preds)).float()


def classifier_score(images: torch.Tensor, splits: int = 1) -> float:
    """Inception-Score analogue exp(E_x KL(p(y|x) || p(y))) (Salimans et al. 2016, sec. 4).

    Ranges from 1 (every image gets the same class distribution) to 10 (confident and
    balanced over the ten digits). With ``splits`` > 1, the mean over that many chunks.
    """
    p = classifier_probs(images).double().clamp_min(1e-12)
    scores = []
    for chunk in p.chunk(splits):
        marginal = chunk.mean(0, keepdim=True)
        kl = (chunk * (chunk.log() - marginal.log())).sum(1).mean()
        scores.append(float(kl.exp()))
    return sum(scores) / len(scores)


def corrupt(
    images: torch.Tensor,
    kind: Literal["noise", "blur"],
    level: float,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Degrade images (N, 1, 28, 28) in [-1, 1] to calibrate the metrics.

    ``noise``: add N(0, level^2) per pixel, then clip to [-1, 1]. ``blur``: Gaussian blur
    with standard deviation ``level`` pixels (kernel 2*ceil(3*level)+1). level 0 = unchanged.
    """
    if level < 0:
        raise ValueError(f"level must be >= 0, got {level}")
    if kind == "noise":
        noise = torch.randn(images.shape, generator=generator).to(images.device)
        return (images + level * noise).clamp(-1, 1)
    if kind == "blur":
        if level == 0:
            return images.clone()
        from torchvision.transforms.functional import gaussian_blur

        size = 2 * math.ceil(3 * level) + 1
        return gaussian_blur(images, [size, size], [level, level])
    raise ValueError(f"Unknown corruption {kind!r}. Allowed values: noise, blur")


# ---------------------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    """``python -m course_lib.metrics train-classifier [--check]``.

    Without ``--check``: train the classifier and (re)write data/classifier.pt and its
    .sha256. With ``--check``: train in memory and compare with the shipped checksum
    (exit status 1 if they differ). Runs on one thread so the bits do not depend on the
    number of cores.
    """
    import argparse

    parser = argparse.ArgumentParser(prog="python -m course_lib.metrics")
    parser.add_argument("command", choices=["train-classifier"])
    parser.add_argument("--check", action="store_true", help="retrain and compare, write nothing")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    model, stats = _clf.train_classifier()
    print(
        f"train accuracy {stats['train_accuracy']:.4f}, mnist5k test accuracy "
        f"{stats['test_accuracy']:.4f} ({stats['seconds']:.0f} s)"
    )
    digest = _clf.sha256(_clf.serialize(model))
    if args.check:
        sums = _clf.checksum_path()
        shipped = sums.read_text().split()[0] if sums.exists() else "(none)"
        same = digest == shipped
        print(f"retrained {digest}\nshipped   {shipped}\n{'identical' if same else 'DIFFERENT'}")
        return 0 if same else 1
    _clf.save_classifier(model)
    clear_cache()
    print(f"wrote {_clf.weights_path()} (sha256 {digest})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
