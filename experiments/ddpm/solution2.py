"""Notebook 09, exercise 2: DDIM-20 with eta = 0, 0.5 and 1 on the shipped U-Net.

500 digits per eta from sampling seed 0 (as the exercise's code), scored in the one image
protocol (``metrics.score_images``), one torch thread. Prints one JSON line per eta.

    PYTHONPATH=. python experiments/ddpm/solution2.py
"""

import json

import torch

from course_lib import ddpm_train as DT
from course_lib import diffusion as D
from course_lib import diffusion_samplers as DS
from course_lib import metrics

torch.set_num_threads(1)
model, info = DT.load_pretrained(device="cpu")
sched = D.make_schedule(info["config"]["schedule"], info["config"]["timesteps"])
for eta in (0.0, 0.5, 1.0):
    g = torch.Generator().manual_seed(0)
    x = DS.ddim_sample(model, sched, 500, 20, eta=eta, generator=g)[0]
    s = metrics.score_images(x)
    print(json.dumps({"eta": eta, **{k: round(float(v), 4) for k, v in s.items()}}), flush=True)
