"""Measured answers to notebook 11's exercises 2 (part memoriser) and 3 (DDIM speed), with the
solutions' code and the notebook's way of loading the U-Net; CPU, one torch thread.
Results: experiments/side_by_side/README.md.

    OMP_NUM_THREADS=1 HF_HUB_OFFLINE=1 COURSE_PROFILE=fast \
        .venv/bin/python experiments/side_by_side/solutions.py speed    # exercise 3
    OMP_NUM_THREADS=1 HF_HUB_OFFLINE=1 COURSE_PROFILE=fast \
        .venv/bin/python experiments/side_by_side/solutions.py copies   # exercise 2
"""

from __future__ import annotations

import statistics
import sys
import time

import numpy as np
import torch

from course_lib import compare, metrics
from course_lib import ddpm_train as DT
from course_lib import diffusion as D
from course_lib import diffusion_samplers as DS
from course_lib.config import setup

torch.set_num_threads(1)


def speed(rounds: int = 3, n: int = 16) -> None:
    """Exercise 3: solution 3's ``compare.seconds_per_image`` of ``DS.ddim_sample`` at 5, 10, 20
    and 50 steps with 16 images, ``rounds`` times (each round times every step count once, so
    a change in machine load hits all of them); the median per step count and a least-squares
    line through the medians. For comparison: one bare U-Net call on a batch of 16, per image."""
    cfg = setup("11_side_by_side", verbose=False)
    device = cfg.device
    unet, info = DT.load_pretrained(device=device)  # as notebook 11's cell 10
    sched = D.make_schedule(info["config"]["schedule"], info["config"]["timesteps"])
    steps = (5, 10, 20, 50)
    ms = {s: [] for s in steps}
    for r in range(rounds):
        for s in steps:
            t = compare.seconds_per_image(lambda k, s=s: DS.ddim_sample(unet, sched, k, s), n)
            ms[s].append(t * 1e3)
        print(f"round {r + 1}: " + "  ".join(f"{s}: {ms[s][-1]:.1f}" for s in steps), flush=True)
    med = [statistics.median(ms[s]) for s in steps]
    slope, intercept = np.polyfit(steps, med, 1)
    print("steps, ms per image (3 timings), median, line's value, residual")
    for s, m in zip(steps, med):
        fit = slope * s + intercept
        runs = " ".join(f"{v:.1f}" for v in ms[s])
        print(f"{s:5d}  {runs}  median {m:.1f}  line {fit:.1f}  residual {m - fit:+.1f}")
    print(f"least squares: {slope:.2f} ms per image per step, intercept {intercept:.1f} ms")
    x = torch.randn(n, 1, 28, 28, device=device)
    t = torch.full((n,), 500, dtype=torch.long, device=device)
    calls = []
    with torch.no_grad():
        unet(x, t)  # warm-up
        for _ in range(rounds):
            start = time.perf_counter()
            for _ in range(20):
                unet(x, t)
            calls.append((time.perf_counter() - start) / 20 / n * 1e3)
    runs = " ".join(f"{v:.2f}" for v in calls)
    print(f"bare U-Net call, batch {n}: {runs} ms per image, median {statistics.median(calls):.2f}")


def copies() -> None:
    """Exercise 2: solution 2's ``half`` (200 training digits of ``compare.memory_digits()``
    and 300 of ``metrics.floor_images()``), its copy ratio, and the fraction of samples whose
    nearest training digit (``compare.nearest_distances``, the distances of ``copy_ratio``) is
    closer than the 5th percentile of the 500 test digits' nearest-neighbour distances; the
    same fraction for the 500 floor digits (new digits) and the test digits themselves."""
    # the code printed in solution 2 (the distances of compare.copy_ratio)
    half = torch.cat([compare.memory_digits()[:200], metrics.floor_images()[:300]])
    print(compare.copy_ratio(half))
    nearest = compare.nearest_distances  # the distances copy_ratio takes the median of
    cut = nearest(metrics.reference_images()).quantile(0.05)
    frac = lambda x: float((nearest(x) < cut).float().mean())  # noqa: E731
    print(cut, frac(half), frac(metrics.floor_images()))
    # the same, in detail
    sets = {
        "half (200 copies + 300 floor digits)": half,
        "  its 200 copies": half[:200],
        "  its 300 floor digits": half[200:],
        "floor_images() (500 new digits)": metrics.floor_images(),
        "test digits (the reference)": metrics.reference_images(),
    }
    for name, x in sets.items():
        d = nearest(x)
        print(f"{name:>38}: fraction below {frac(x):.3f}, "
              f"median distance {float(d.median()):.3f}")  # fmt: skip
    below = nearest(metrics.floor_images()) < cut  # the floor is sorted by class
    labels = metrics.floor_labels()
    print("floor digits below the cut, per class:",
          " ".join(f"{c}: {int(below[labels == c].sum())}/{int((labels == c).sum())}"
                   for c in range(10)))  # fmt: skip
    print("classes of half's 300 floor digits:", sorted(set(labels[:300].tolist())))


if __name__ == "__main__":
    {"speed": speed, "copies": copies}[sys.argv[1]]()
