"""Notebook 11: the course's models side by side, and which metric catches which failure.

- :func:`failure_sets`: the course's failures built from real digits, 500 images each, so
  each is a known answer: a memoriser (training digits returned as they are), blur, noise,
  mode dropping (five of the ten digits), collapse inside each class (one prototype per digit).
- :func:`failure_table`: each of them scored in the one protocol
  (:func:`course_lib.metrics.score_images`) plus :func:`copy_ratio`, the check a memoriser
  fails; :func:`caught` marks which metric flags which failure (:data:`CATCH_RULES`).
- :func:`toy_collapse`: the collapsed-inside-each-mode toy generator of notebook 03 next to
  exact samples, in the toy scorecard.
- :func:`seconds_per_image`: sampling cost of any sampler, measured here.
- :func:`load_results` / :func:`quality_rows`: the benchmark's protocol rows
  (``benchmarks/results.json``, written by ``make bench``).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from pathlib import Path

import torch

from . import metrics
from .config import check_choice
from .data import load_images, toy_distribution
from .toy_diagnostics import toy_scores

RESULTS = Path(__file__).resolve().parent.parent / "benchmarks" / "results.json"
MODELS = {  # bench key -> what it is (notebook)
    "mlp_gan": "MLP GAN (01)", "dcgan": "DCGAN (02)", "dcgan_shipped": "DCGAN shipped (02)",
    "vae": "VAE, prior samples (04)", "gibbsnet": "GibbsNet (06)",
    "wgan_gp_mlp": "WGAN-GP MLP (08)", "wgan_gp": "WGAN-GP conv (08)",
    "wgan_gp_shipped": "WGAN-GP conv shipped (08)", "ddpm": "DDPM-1000 (09)",
    "ddim20": "DDIM-20 (09)", "diffusers": "diffusers DDPM-1000 (10)",
    "diffusers_dpm20": "diffusers DPM-Solver++ 20 (10)",
}  # fmt: skip


def memory_digits() -> torch.Tensor:
    """The training digits a memoriser could copy: mnist5k's train split without the 500
    digits of :func:`course_lib.metrics.floor_images` (4,000 digits), so that the floor and
    the failures built from it count as new digits."""
    X, _ = load_images("mnist5k", "train")
    keep = torch.ones(len(X), dtype=torch.bool)
    keep[metrics._floor_index()] = False
    return X[keep]


def nearest_distances(images: torch.Tensor, memory: torch.Tensor | None = None) -> torch.Tensor:
    """Distance (pixels, Euclidean over the 784 values in [-1, 1]) from each of ``images``
    (N, 1, 28, 28) to its nearest digit of ``memory`` (default :func:`memory_digits`): the
    distances :func:`copy_ratio` takes the median of. Returns (N,); 0 (up to rounding) for a
    copy of a memory digit."""
    memory = (memory_digits() if memory is None else memory).flatten(1).float()
    x = metrics._check_images(images, "images").flatten(1)
    return torch.cdist(x, memory.to(x.device)).min(dim=1).values  # on the images' device


def copy_ratio(fake: torch.Tensor, memory: torch.Tensor | None = None) -> float:
    """Median distance (pixels) from each image of ``fake`` to its nearest digit of ``memory``
    (default :func:`memory_digits`), over the same median for the 500 real test digits:
    about 1 for new digits, 0 for copies.

    FID, KID, precision and recall compare *distributions*: a generator that returns its
    training digits scores like real data on all of them. This is the check that sees it.
    """
    memory = memory_digits() if memory is None else memory
    fake = metrics._check_images(fake, "fake")
    real = nearest_distances(metrics.reference_images(), memory)
    return float(nearest_distances(fake, memory).median()) / float(real.median())


def failure_sets(seed: int = 0) -> dict[str, torch.Tensor]:
    """500 images per failure, built from real digits (known answers; notebook 11). All but
    the memoriser start from the floor's 500 training digits, which :func:`memory_digits`
    leaves out; the memoriser returns 500 digits of that memory."""
    floor, g = metrics.floor_images(), torch.Generator().manual_seed(seed)
    labels = metrics.floor_labels()
    memory = memory_digits()
    first_five = floor[labels < 5]  # 250 digits of classes 0-4, each used twice
    protos = torch.cat([floor[labels == c][:1].expand(50, -1, -1, -1) for c in range(10)])
    copied = torch.randperm(len(memory), generator=g)[:500]
    return {
        "real digits (floor)": floor,
        "memoriser (copies training digits)": memory[copied],
        "blur 1 px": metrics.corrupt(floor, "blur", 1.0),
        "noise sigma 0.25": metrics.corrupt(floor, "noise", 0.25, generator=g),
        "noise sigma 0.5": metrics.corrupt(floor, "noise", 0.5, generator=g),
        "mode dropping (digits 0-4 only)": torch.cat([first_five, first_five]),
        "one prototype per digit": protos,
    }


# When a metric "catches" a failure: it scores it clearly worse than the real-data floor.
# FID: more than twice the floor's; KID: more than 3 of its standard errors above the floor's;
# precision, recall, coverage: 0.05 or more below the floor's; copy_ratio: below 0.5.
CATCH_RULES = {"fid": "> 2 x floor", "kid": "> floor + 3 std", "precision": "< floor - 0.05",
               "recall": "< floor - 0.05", "coverage": "< floor - 0.05", "copy_ratio": "< 0.5"}


def failure_table(names=None, seed: int = 0) -> dict[str, dict[str, float]]:
    """:func:`failure_sets` (those in ``names``, all when None) scored in the one protocol,
    with :func:`copy_ratio`."""
    sets, memory = failure_sets(seed), memory_digits()
    for name in names or ():
        check_choice("failure", name, sets)
    return {name: metrics.score_images(x) | {"copy_ratio": copy_ratio(x, memory)}
            for name, x in sets.items() if names is None or name in names}  # fmt: skip


def caught(row: dict[str, float], floor: dict[str, float]) -> dict[str, bool]:
    """Which metrics flag ``row`` as clearly worse than ``floor`` (:data:`CATCH_RULES`)."""
    return {
        "fid": row["fid"] > 2 * floor["fid"],
        "kid": row["kid"] > floor["kid"] + 3 * max(row["kid_std"], floor["kid_std"]),
        **{k: row[k] < floor[k] - 0.05 for k in ("precision", "recall", "coverage")},
        "copy_ratio": row["copy_ratio"] < 0.5,
    }


def toy_collapse(data: str = "ring8", n: int = 2500, spread: float = 0.05, seed: int = 0) -> dict:
    """Toy scorecards of exact samples of ``data`` and of a generator that puts each mode's
    samples within ``spread`` sigma of its mean (what notebook 03's categorical latent
    learns): {"exact": toy_scores, "collapsed inside each mode": toy_scores}."""
    if not 0 < spread < 1:
        raise ValueError(f"spread must be in (0, 1) (a fraction of sigma), got {spread}")
    dist, g = toy_distribution(data), torch.Generator().manual_seed(seed)
    exact = dist.sample(n, g)
    means = dist.means[torch.randint(len(dist.means), (n,), generator=g)]
    collapsed = means + spread * dist.std * torch.randn(n, 2, generator=g)
    return {"exact": toy_scores(exact[None], data),
            "collapsed inside each mode": toy_scores(collapsed[None], data)}


def seconds_per_image(sample: Callable[[int], object], num_images: int, repeats: int = 1) -> float:
    """Best wall time of ``repeats`` calls of ``sample(num_images)``, per image (a warm-up
    call of one image first, so lazy initialisation is not timed)."""
    if num_images < 1 or repeats < 1:
        raise ValueError(f"num_images and repeats must be >= 1, got {num_images}, {repeats}")
    sample(1)
    best = math.inf
    for _ in range(repeats):
        start = time.perf_counter()
        sample(num_images)
        best = min(best, time.perf_counter() - start)
    return best / num_images


def load_results(path: str | Path = RESULTS) -> dict:
    """``benchmarks/results.json`` (empty dict when it is missing: run ``make bench``)."""
    path = Path(path)
    if not path.exists():
        return {}
    return json.loads(path.read_text())


def quality_rows(results: dict, models: dict[str, str] = MODELS) -> dict[str, dict]:
    """Label -> {fid, kid, precision, recall, profile, seeds} for every model of ``models``
    that the benchmark has scored (the others are left out)."""
    rows = {}
    for key, label in models.items():
        recs = [results.get(f"quality.{key}.{m}") for m in ("fid", "kid", "precision", "recall")]
        if all(recs):
            keys = ("fid", "kid", "precision", "recall")
            rows[label] = {m: r["value"] for m, r in zip(keys, recs)}
            rows[label] |= {"profile": recs[0]["profile"], "seeds": recs[0]["seeds"]}
    return rows
