"""Measured answers to notebook 03's exercises 1, 2 and 4 (fast budget, selection seeds 0-2,
num_steps G steps, two runs at a time on one thread each). Results: README.md, "Exercises".

    .venv/bin/python experiments/mode_collapse/solutions.py
"""

from __future__ import annotations

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
        print(ROW.format(label, s["modes"], s["high_quality"], s["reverse_kl"], s["precision"],
                         s["recall"], s["within_mode_std_ratio"], per))


if __name__ == "__main__":
    show("Exercise 1: PacGAN + BN G on grid25, pack m",
         {f"pack={m}": tp.run_from_budget(B, "grid25", "pacgan", pack=m, batchnorm=True)
          for m in (2, 4, 8)})
    show("Exercise 2: vanilla + BN G, learning-rate decay on / off",
         {f"{name}, lr_decay={d}": tp.run_from_budget(B, name, "vanilla", batchnorm=True,
                                                      lr_decay=d)
          for name in ("ring8", "grid25") for d in (True, False)})
    show("Exercise 4: WGAN-GP + BN G on grid25, penalty weight",
         {f"gp_weight={w}": tp.run_from_budget(B, "grid25", "wgan_gp", batchnorm=True,
                                               gp_weight=w)
          for w in (0.01, 0.1, 1.0, 10.0)})
