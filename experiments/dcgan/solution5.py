"""Notebook 02's exercise 5, measured: the training cell at the paper's rate (2e-4) and at the
notebook's rate (2e-3), with the notebook's exact calls (seed 0, its budget, two threads),
scored on the notebook's 500 latents in the one protocol.

    COURSE_PROFILE=fast python experiments/dcgan/solution5.py   # about 6 min on 2 cores

Output of 2026-12-02 (Intel Xeon, 2 cores): solution5.jsonl.
"""

from __future__ import annotations

import json
import sys

import torch

from course_lib import dcgan, dcgan_train, gan, metrics
from course_lib.config import budget
from course_lib.data import load_images
from course_lib.noise import sample_latent


def run(lr: float, b: dict) -> dict:
    torch.manual_seed(0)  # cfg.seed, as section 1's cell
    net_G = dcgan.DCGANGenerator(latent_dim=100, channels=b["channels"])
    net_D = dcgan.DCGANDiscriminator(channels=b["channels"])
    X, _ = load_images("mnist5k", "train")
    (net_G, _), _ = gan.train_gan(
        X, b["num_steps"], net_G=net_G, net_D=net_D, latent_dim=100, latent_kind="gaussian",
        batch_size=b["batch_size"], lr=lr, betas=(0.5, 0.999),
        generator=torch.Generator().manual_seed(0), device="cpu", log_every=10,
        threads=b["threads"], progress=False,
    )  # fmt: skip
    net_G.eval()
    with torch.no_grad():
        Z = sample_latent(500, 100, "gaussian", torch.Generator().manual_seed(2), "cpu")
        return metrics.score_images(net_G(Z))


def main() -> int:
    b = budget("02_dcgan")
    for name, lr in (("paper", dcgan_train.PAPER_LR), ("notebook", dcgan_train.LR)):
        s = run(lr, b)
        print(json.dumps({"lr": name, "value": lr, "steps": b["num_steps"],
                          **{k: round(float(v), 3) for k, v in s.items()}}), flush=True)  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
