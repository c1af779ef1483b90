"""Notebook 09, exercise 3: DDIM-10 and DDIM-50 from one x_T on the shipped U-Net.

100 start noises x_T from seed 0 (``torch.randn`` on a ``torch.Generator().manual_seed(0)``,
as ``DS.ddim_sample`` draws them), passed to both samplers with ``x_T=``. Each pair of final
images is compared by the course's MNIST classifier (``classifier.load_classifier``: same
predicted digit?) and per pixel on the [0, 1] scale (mean absolute difference, PSNR with
peak 1, averaged over images). Contrasts: DDIM-20 vs DDIM-50 from the same x_T, DDIM-50 from
two independent x_T (seeds 0 and 1), and eta = 1 (DDPM-like ancestral noise, per-step z from
seed 2) with 10 vs 50 steps from the same x_T. One torch thread. One JSON line per pair.

    PYTHONPATH=. python experiments/ddpm/solution3.py
"""

import json

import torch

from course_lib import ddpm_train as DT
from course_lib import diffusion as D
from course_lib import diffusion_samplers as DS
from course_lib.classifier import load_classifier

N = 100
torch.set_num_threads(1)
model, info = DT.load_pretrained(device="cpu")
sched = D.make_schedule(info["config"]["schedule"], info["config"]["timesteps"])
clf = load_classifier()


def x_T(seed: int) -> torch.Tensor:
    return torch.randn((N, 1, 28, 28), generator=torch.Generator().manual_seed(seed))


def ddim(steps: int, start: torch.Tensor, eta: float = 0.0) -> torch.Tensor:
    g = torch.Generator().manual_seed(2)  # only used for eta > 0 (per-step z)
    return DS.ddim_sample(model, sched, N, steps, eta=eta, x_T=start, generator=g)[0]


@torch.no_grad()
def compare(name: str, a: torch.Tensor, b: torch.Tensor) -> None:
    la, lb = clf(a).argmax(1), clf(b).argmax(1)
    a01, b01 = (a + 1) / 2, (b + 1) / 2
    mse = ((a01 - b01) ** 2).flatten(1).mean(1)
    row = {
        "pair": name,
        "n": N,
        "same_label": (la == lb).float().mean().item(),
        "mean_abs_diff": (a01 - b01).abs().mean().item(),
        "psnr_db": (-10 * torch.log10(mse.clamp_min(1e-10))).mean().item(),
    }
    print(json.dumps({k: round(v, 4) if isinstance(v, float) else v for k, v in row.items()}))


x0, x1 = x_T(0), x_T(1)
d10, d20, d50 = ddim(10, x0), ddim(20, x0), ddim(50, x0)
compare("eta=0: DDIM-10 vs DDIM-50, same x_T", d10, d50)
compare("eta=0: DDIM-20 vs DDIM-50, same x_T", d20, d50)
compare("eta=0: DDIM-50 vs DDIM-50, independent x_T", d50, ddim(50, x1))
compare("eta=1: DDIM-10 vs DDIM-50, same x_T", ddim(10, x0, 1.0), ddim(50, x0, 1.0))
