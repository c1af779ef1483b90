"""Metrics for generative models, computed offline the way papers compute them.

Toy 2-D mixtures (notebooks 03, 08) -- the VEEGAN / PacGAN protocol, in
:mod:`course_lib.toy_metrics` and re-exported here: :func:`mode_coverage`, :func:`far_fraction`.

Images (notebooks 02-10), in the 128-d penultimate features of the course's own MNIST
classifier (:mod:`course_lib.classifier`; "classifier FID", since Inception weights cannot
be downloaded offline). Numbers are comparable with each other, *not* with Inception-FID:

- :func:`score_images`: THE protocol every notebook and benchmark row uses to score
  generated digits (below); :func:`real_floor` and :func:`calibration` score real digits
  the same way, so any score reads as "as good as real digits with this much noise".
- :func:`classifier_fid`: Fréchet distance between Gaussians fitted to features.
- :func:`classifier_kid`: kernel inception distance (unbiased at any sample size).
- :func:`precision_recall`: Kynkäänniemi et al. 2019 (k-NN manifolds, k = 3).
- :func:`density_coverage`: Naeem et al. 2020 (k = 5).
- :func:`class_histogram`: predicted-digit frequencies (mode collapse on images).
- :func:`classifier_score`: the Inception Score of Salimans et al. 2016 with our classifier.
- :func:`corrupt`: Gaussian noise or blur, used to calibrate the metrics (benchmarks/).

The protocol (:data:`PROTOCOL`): N = 500 generated digits against one reference set, the
500 digits of the mnist5k test split (no model of the course trains on them); FID and KID
(x 10^3, 100 subsets of 250, seeded) on the classifier's features; precision / recall
(k = 3) and density / coverage (k = 5) on the same features. The real-data floor is 500
training digits (50 per class, fixed) scored the same way; calibration rows add Gaussian
noise (sigma 0.1 / 0.25 / 0.5) or blur (0.5 / 1 / 2 px) to those digits. FID's bias at
N = 500 is large, so compare FIDs only inside this protocol; KID has no such bias.

Image inputs are float tensors (N, 1, 28, 28) in [-1, 1], like ``load_images``. The
classifier is loaded once (checksum verified) and cached. Command line::

    python -m course_lib.metrics train-classifier [--check]
"""

from __future__ import annotations

import math
import warnings
from functools import lru_cache
from typing import Literal

import torch
from torch import nn

from . import classifier as _clf
from .config import check_choice
from .toy_metrics import far_fraction, mode_coverage  # noqa: F401 (the contract's import path)

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
    """Adapter that lets torchmetrics' FID and KID call our classifier's ``features``
    (multiplied by ``scale``: KID's cubic kernel needs features of about unit size)."""

    num_features = _clf.MnistClassifier.num_features

    def __init__(self, net: _clf.MnistClassifier, scale: float = 1.0) -> None:
        super().__init__()
        self.net, self.scale = net, scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net.features(x) * self.scale


@lru_cache(maxsize=1)
def _kid_scale() -> float:
    """1 / RMS of the reference digits' features (4.37 with the shipped classifier): KID's
    kernel (x.y / d + 1)^3 was designed for Inception features of about unit size; ours are
    larger, which would make the kernel's cubic term dominate. One fixed constant for every
    KID the course computes."""
    return 1.0 / float(classifier_features(reference_images()).pow(2).mean().sqrt())


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


def classifier_kid(
    fake: torch.Tensor, real: torch.Tensor, subsets: int = 100, subset_size: int = 250,
    seed: int = 0,
) -> tuple[float, float]:  # fmt: skip
    """Kernel inception distance (Binkowski et al. 2018) on classifier features scaled to
    unit RMS (:func:`_kid_scale`): the unbiased estimate of the squared MMD with the cubic
    polynomial kernel k(x, y) = (x.y / d + 1)^3, averaged over ``subsets`` random subsets
    of ``subset_size`` per set (seeded, so reruns agree). Returns (mean, std) over the
    subsets, both x 10^3 (the usual unit). Unlike FID it is unbiased, so it means the same
    at any N; it can be slightly negative for two samples of one distribution.
    """
    from torchmetrics.image.kid import KernelInceptionDistance

    from .config import seeded

    fake, real = _check_images(fake, "fake"), _check_images(real, "real")
    size = min(subset_size, len(fake), len(real))
    extractor = _FeatureExtractor(get_classifier(fake.device), _kid_scale())
    with warnings.catch_warnings():  # "will save all extracted features": 1,000 x 128 here
        warnings.filterwarnings("ignore", "Metric `Kernel Inception Distance` will save")
        kid = KernelInceptionDistance(feature=extractor, subsets=subsets,
                                      subset_size=size).to(fake.device)  # fmt: skip
    with torch.no_grad():
        for b in real.split(500):
            kid.update(b.to(fake.device), real=True)
        for b in fake.split(500):
            kid.update(b, real=False)
        with seeded(seed):
            mean, std = kid.compute()
    return float(mean) * 1e3, float(std) * 1e3


# ---------------------------------------------------------------------------------------
# The one image-quality protocol (every notebook and benchmark row that scores digits)
# ---------------------------------------------------------------------------------------
PROTOCOL = {
    "n": 500, "reference": "mnist5k test split (500 digits, 50 per class)",
    "floor": "500 mnist5k training digits (50 per class, fixed)",
    "features": "course classifier, 128-d penultimate layer",
    "kid": "x 10^3, features scaled to unit RMS, cubic kernel, 100 subsets of 250, seed 0",
    "precision_recall_k": 3, "density_coverage_k": 5,
}  # fmt: skip
CALIBRATION = {"noise": (0.1, 0.25, 0.5), "blur": (0.5, 1.0, 2.0)}


def reference_images() -> torch.Tensor:
    """The protocol's reference set: the 500 mnist5k test digits, (500, 1, 28, 28)."""
    from .data import load_images

    return load_images("mnist5k", "test")[0]


def _floor_index() -> torch.Tensor:
    import numpy as np

    from .data import load_images

    y = load_images("mnist5k", "train")[1]
    rng = np.random.RandomState(1)
    keep = [rng.choice(np.flatnonzero(y.numpy() == c), 50, replace=False) for c in range(10)]
    return torch.as_tensor(np.sort(np.concatenate(keep)))


def floor_images() -> torch.Tensor:
    """500 real training digits, 50 per class, chosen once with NumPy's frozen RandomState
    stream: the "perfect generator" that the real-data floor scores."""
    from .data import load_images

    return load_images("mnist5k", "train")[0][_floor_index()]


def floor_labels() -> torch.Tensor:
    """The digit of each :func:`floor_images` image (500,)."""
    from .data import load_images

    return load_images("mnist5k", "train")[1][_floor_index()]


def score_images(fake: torch.Tensor, n: int = PROTOCOL["n"]) -> dict[str, float]:
    """Score generated digits in the course's one protocol (:data:`PROTOCOL`).

    ``fake``: at least ``n`` images (N, 1, 28, 28) in [-1, 1]; the first ``n`` are scored
    against :func:`reference_images`. Returns ``fid``, ``kid`` and ``kid_std`` (x 10^3),
    ``precision``, ``recall``, ``density``, ``coverage`` and ``n``. Used by notebooks 01,
    02, 06, 08, 09, 10, 11 and the bench modules (benchmarks/quality.py); compare a score with
    :func:`real_floor` and :func:`calibration`, which use the same protocol.
    """
    fake = _check_images(fake, "fake")
    if len(fake) < n:
        raise ValueError(f"The protocol scores {n} images; got {len(fake)}. Generate at least "
                         f"{n} (a different N would make FIDs incomparable).")  # fmt: skip
    fake, real = fake[:n], reference_images().to(fake.device)
    feats_fake, feats_real = classifier_features(fake), classifier_features(real)
    kid, kid_std = classifier_kid(fake, real)
    return {"fid": classifier_fid(fake, real), "kid": kid, "kid_std": kid_std,
            **precision_recall(feats_fake, feats_real),
            **density_coverage(feats_fake, feats_real), "n": n}  # fmt: skip


@lru_cache(maxsize=1)
def real_floor() -> dict[str, float]:
    """:func:`score_images` of real training digits (:func:`floor_images`): what a perfect
    generator scores in this protocol (FID is not 0 at N = 500)."""
    return score_images(floor_images())


def score_table(scores: dict[str, dict[str, float]], floor: bool = True) -> str:
    """A fixed-width table of protocol scores, one row per ``name -> score_images(...)``,
    with the real-data floor as the last row when ``floor`` (notebooks 01, 02, 08, 09, 10)."""
    rows = dict(scores) | ({"real digits (floor)": real_floor()} if floor else {})
    width = max(20, *(len(name) for name in rows))
    lines = [f"{'':>{width}} {'FID':>7} {'KID x1e3':>9} {'precision':>9} {'recall':>7}"]
    for name, s in rows.items():
        missing = {"fid", "kid", "precision", "recall"} - set(s)
        if missing:
            raise ValueError(f"row {name!r} lacks {sorted(missing)}: pass score_images' output")
        lines.append(f"{name:>{width}} {s['fid']:7.1f} {s['kid']:9.1f} {s['precision']:9.3f} "
                     f"{s['recall']:7.3f}")  # fmt: skip
    return "\n".join(lines)


def calibration(kind: str, level: float, seed: int = 0) -> dict[str, float]:
    """:func:`score_images` of the floor's real digits after :func:`corrupt` (``kind``
    "noise" with sigma ``level``, or "blur" of ``level`` px; noise drawn from ``seed``)."""
    g = torch.Generator().manual_seed(seed)
    return score_images(corrupt(floor_images(), kind, level, generator=g))


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
    r = r.to(f.device)  # GPU samples against CPU reference digits
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
    r = r.to(f.device)  # GPU samples against CPU reference digits
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


RECOGNISABLE = 0.9  # a digit is "recognisable" when the classifier gives one class >= 0.9


def recognisable(images: torch.Tensor, threshold: float = RECOGNISABLE) -> float:
    """Share of ``images`` (N, 1, 28, 28) to which the course classifier gives one digit a
    probability >= ``threshold`` (0.9: the 500 mnist5k test digits score 0.97; with Gaussian
    noise sigma 0.5 added, 0.86). The classifier is over-confident off the data: uniform
    noise scores 0.92 (every image called an 8), and a model that draws one clean digit over
    and over scores high too, so read it beside :func:`effective_classes` (1.0 for both)
    and FID."""
    if not 0 < threshold < 1:
        raise ValueError(f"threshold must be in (0, 1), got {threshold!r}")
    return float((classifier_probs(images).max(1).values >= threshold).float().mean())


def effective_classes(images: torch.Tensor) -> float:
    """exp(entropy) of the predicted-digit histogram (:func:`class_histogram`): 10 when the
    ten digits are equally common (the test digits: 9.997), 1 when every image is the same
    digit; k when k digits share the images equally."""
    hist = class_histogram(images).double()
    hist = hist[hist > 0]
    return float((-(hist * hist.log()).sum()).exp())


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
    check_choice("corruption", kind, tuple(CALIBRATION))
    raise AssertionError("unreachable")  # pragma: no cover


# ---------------------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    """``python -m course_lib.metrics train-classifier [--check]``.

    Without ``--check``: train the classifier and (re)write the artefact folder
    ``data/classifier/`` atomically. With ``--check``: train in memory and compare with the
    shipped weights tensor by tensor (exit status 1 if they differ). Runs on one thread so
    the bits do not depend on the number of cores.
    """
    import argparse

    parser = argparse.ArgumentParser(prog="python -m course_lib.metrics")
    parser.add_argument("command", choices=["train-classifier"])
    parser.add_argument("--check", action="store_true", help="retrain and compare, write nothing")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    from .data import load_images

    mnist5k = [load_images("mnist5k", split) for split in ("train", "test")]
    model, stats = _clf.train_classifier(*mnist5k)
    print(
        f"train accuracy {stats['train_accuracy']:.4f}, mnist5k test accuracy "
        f"{stats['test_accuracy']:.4f} ({stats['seconds']:.0f} s)"
    )
    if args.check:
        same = _clf.same_weights(model, _clf.load_classifier())
        print("retrained weights are " + ("identical to" if same else "DIFFERENT from")
              + f" the shipped {_clf.weights_path()}")  # fmt: skip
        return 0 if same else 1
    _clf.save_classifier(model, stats)
    clear_cache()
    print(f"wrote {_clf.weights_path()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
