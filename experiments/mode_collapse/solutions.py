"""Measured answers to notebook 03's exercises 1-4 (fast budget, num_steps G steps, two runs
at a time on one thread each; seeds 0-2, exercise 3 seeds 0-4). Results: README.md, "Exercises".

    .venv/bin/python experiments/mode_collapse/solutions.py        # exercises 1, 2, 4
    .venv/bin/python experiments/mode_collapse/solutions.py 3      # exercise 3 only
"""

from __future__ import annotations

import math
import statistics
import sys
import time

from course_lib import toy_protocol as tp
from course_lib import toy_train
from course_lib.config import budget

B = budget("03_mode_collapse", "fast")
ROW = "{:<34}{:6.1f}{:8.1%}{:8.2f}{:7.2f}{:7.2f}{:10.2f}  per seed {}"


def show(title: str, runs: dict) -> None:
    start = time.perf_counter()
    trained = toy_train.train_parallel(runs, progress=False)
    print(f"\n{title} ({time.perf_counter() - start:.0f} s)")
    print(f"{'':<34}{'modes':>6}{'HQ':>8}{'rev KL':>8}{'prec':>7}{'recall':>7}{'std ratio':>10}")
    for label, r in trained.items():
        s = tp.score_run(r)
        per = " ".join(f"{p['modes']}/{p['high_quality']:.0%}" for p in s["per_seed"])
        print(
            ROW.format(
                label,
                s["modes"],
                s["high_quality"],
                s["reverse_kl"],
                s["precision"],
                s["recall"],
                s["within_mode_std_ratio"],
                per,
            )
        )


def folk_seeds(seeds: tuple[int, ...] = (0, 1, 2, 3, 4)) -> None:
    """Exercise 3: section 6's folk-advice rows with more seeds; each row's mean modes against
    the baseline's, in units of the standard error of the difference (sample std / sqrt(n))."""
    folk = {
        "baseline: U[-1,1]^2": {},
        "latent_dim 128": dict(latent_dim=128),
        "U[-0.8, 0.8]^2": dict(latent_scale=0.8),
        "Gaussian N(0, I_2)": dict(latent_kind="gaussian"),
    }
    runs = {
        k: tp.run_from_budget(B, "grid25", "vanilla", seeds=seeds, **v) for k, v in folk.items()
    }
    start = time.perf_counter()
    modes = {
        k: [c["modes"] for c in tp.score_run(r)["per_seed"]]
        for k, r in toy_train.train_parallel(runs, progress=False).items()
    }
    print(
        f"\nExercise 3: folk advice on grid25, seeds {seeds} ({time.perf_counter() - start:.0f} s)"
    )
    base = modes["baseline: U[-1,1]^2"]
    for k, m in modes.items():
        diff = statistics.mean(m) - statistics.mean(base)
        se_diff = math.hypot(standard_error(m), standard_error(base))
        z = diff / se_diff if m is not base else float("nan")
        print(
            f"{k:<22} modes {statistics.mean(m):5.1f} +- {standard_error(m):.1f} (SE)  "
            f"difference {diff:+5.1f} = {z:+.1f} SE  per seed {m}"
        )


def standard_error(values: list[float]) -> float:
    """Sample standard deviation / sqrt(n)."""
    return statistics.stdev(values) / math.sqrt(len(values))


if __name__ == "__main__":
    if sys.argv[1:] == ["3"]:
        folk_seeds()
        sys.exit()
    show(
        "Exercise 1: PacGAN + BN G on grid25, pack m",
        {
            f"pack={m}": tp.run_from_budget(B, "grid25", "pacgan", pack=m, batchnorm=True)
            for m in (2, 4, 8)
        },
    )
    show(
        "Exercise 2: vanilla + BN G, learning-rate decay on / off",
        {
            f"{name}, lr_decay={d}": tp.run_from_budget(
                B, name, "vanilla", batchnorm=True, lr_decay=d
            )
            for name in ("ring8", "grid25")
            for d in (True, False)
        },
    )
    show(
        "Exercise 4: WGAN-GP + BN G on grid25, penalty weight",
        {
            f"gp_weight={w}": tp.run_from_budget(
                B, "grid25", "wgan_gp", batchnorm=True, gp_weight=w
            )
            for w in (0.01, 0.1, 1.0, 10.0)
        },
    )
