"""Measured answers to notebook 10's exercises, with the solutions' code, 500 digits from
seed 0 as in section 4, two torch threads. Results: experiments/diffusers/README.md.

    .venv/bin/python experiments/diffusers/solutions.py        # exercises 1 and 4 (shipped pipeline)
    .venv/bin/python experiments/diffusers/solutions.py ema    # exercise 2 (trains for num_steps)
"""

from __future__ import annotations

import sys
import time

import torch
from diffusers import DDIMScheduler, DPMSolverMultistepScheduler

from course_lib import diffusers_utils as DU
from course_lib import metrics

torch.set_num_threads(2)


def ema() -> None:
    """Exercise 2: one run of fast's num_steps (the notebook's fallback training) gives the
    raw weights and their EMA at the same step; both sampled with DDIM 20 from seed 0."""
    from course_lib.config import budget
    from course_lib.data import load_images

    B = budget("10_diffusers_pipelines", "fast")
    X, _ = load_images("mnist5k", "train")
    t0 = time.perf_counter()
    (raw, averaged), _ = DU.train_unet(X, B["num_steps"], model=DU.build_unet(), progress=False)
    print(f"{B['num_steps']} steps in {time.perf_counter() - t0:.0f} s", flush=True)
    scores = {}
    for name, unet in (("raw weights", raw), ("EMA 0.995", averaged)):
        sched = DU.swap_scheduler(DU.make_pipeline(unet, DU.build_scheduler()), "DDIM").scheduler
        fake = DU.generate(DU.make_pipeline(unet, sched), 500, 20, seed=0)
        scores[f"{name}, {B['num_steps']} steps, DDIM 20"] = metrics.score_images(fake)
    print(metrics.score_table(scores))


if sys.argv[1:] == ["ema"]:
    ema()
    sys.exit()
pipe = DU.load_pipeline()  # checksums checked
scores = {}
for spacing in ("leading", "trailing"):  # exercise 1
    t0 = time.perf_counter()
    sched = DDIMScheduler.from_config(pipe.scheduler.config, timestep_spacing=spacing)
    fake = DU.generate(DU.make_pipeline(pipe.unet, sched), 500, 10, seed=0)
    scores[f"DDIM 10, {spacing}"] = metrics.score_images(fake)
    print(f"DDIM 10 {spacing}: {time.perf_counter() - t0:.0f} s", flush=True)
for name, sched in (  # exercise 4, beside the thresholded row of section 4
    ("DPM-Solver++ 20, thresholded (section 4)", DU.swap_scheduler(pipe, "DPM-Solver++").scheduler),
    ("DPM-Solver++ 20, no thresholding", DPMSolverMultistepScheduler.from_config(pipe.scheduler.config)),
):  # fmt: skip
    fake = DU.generate(DU.make_pipeline(pipe.unet, sched), 500, 20, seed=0)
    scores[name] = metrics.score_images(fake)
    print(f"{name}: done", flush=True)
print(metrics.score_table(scores))
