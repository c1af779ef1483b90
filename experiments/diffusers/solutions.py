"""Measured answers to notebook 10's exercises 1 and 4, with the solutions' code, on the
shipped pipeline (data/ddpm_diffusers_mnist5k/), 500 digits from seed 0 as in section 4,
two torch threads. Results: experiments/diffusers/README.md.

    .venv/bin/python experiments/diffusers/solutions.py
"""

from __future__ import annotations

import time

import torch
from diffusers import DDIMScheduler, DPMSolverMultistepScheduler

from course_lib import diffusers_utils as DU
from course_lib import metrics

torch.set_num_threads(2)
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
