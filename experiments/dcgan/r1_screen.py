"""Screen: notebook 02's DCGAN with an R1 gradient penalty on real digits (issue 19 item 1).

The convolutional WGAN-GP of notebook 08 reaches FID about 70 on mnist5k in 750 generator
steps where the DCGAN reaches about 90 in 2,000. Is it the penalty rather than the
Wasserstein loss? R1 (Mescheder et al. 2018) keeps the non-saturating GAN and adds
gamma/2 * E ||grad_x D(x)||^2 on real digits to D's loss. Everything else is notebook 02's
recipe (``dcgan_train.train_dcgan``: channels 32, batch 64, Adam 2e-3 with betas (0.5,
0.999), one D step per G step, nets initialised under ``seeded(seed)``); D keeps its
BatchNorm unless ``--d-norm layer``. Scores: the one protocol on notebook 02's latents at
each checkpoint, one JSON line each.

    cd experiments/dcgan && PYTHONPATH=../.. python r1_screen.py --seeds 0 --gamma 10

For the shipped model's length (issue 19 item 2): ``--every 16`` applies the penalty every 16th
D step with gamma x 16 (StyleGAN2's lazy regularisation, about the cost of the plain step), and
``--ema 0.999`` also scores the moving average of G's weights (``course_lib.train.ema_update``,
as ``dcgan_train`` ships it).
"""

from __future__ import annotations

import argparse
import copy
import json
import time

import torch

from course_lib import dcgan, dcgan_train, gan
from course_lib.config import seeded
from course_lib.data import batches, load_images
from course_lib.noise import sample_latent
from course_lib.train import ema_update


def run(seed: int, gamma: float, steps: int, checkpoints: set[int], lr: float, norm: str,
        every: int = 1, ema_decay: float = 0.0) -> None:  # fmt: skip
    X, _ = load_images("mnist5k", "train")
    with seeded(seed) as g:
        G, D = dcgan.DCGANGenerator(100, 32), dcgan.DCGANDiscriminator(32, norm=norm)
    ema = copy.deepcopy(G) if ema_decay else None
    opt_G = torch.optim.Adam(G.parameters(), lr, betas=(0.5, 0.999))
    opt_D = torch.optim.Adam(D.parameters(), lr, betas=(0.5, 0.999))
    real = batches(X, 64, generator=g)
    t0, scoring = time.perf_counter(), 0.0
    for step in range(1, steps + 1):
        x = next(real).requires_grad_(True)
        opt_D.zero_grad(set_to_none=True)
        real_logits = D(x)
        fake_logits = D(G(sample_latent(64, 100, "gaussian", g, "cpu")).detach())
        loss = gan.discriminator_loss(real_logits, fake_logits)
        if gamma > 0 and step % every == 0:
            (grad,) = torch.autograd.grad(real_logits.sum(), x, create_graph=True)
            loss = loss + every * gamma / 2 * grad.pow(2).flatten(1).sum(1).mean()
        loss.backward()
        opt_D.step()
        gan.generator_step(sample_latent(64, 100, "gaussian", g, "cpu"), D, G, opt_G)
        if ema is not None:
            ema_update(ema, G, ema_decay)
        if step in checkpoints:
            s0 = time.perf_counter()
            rec = {
                "seed": seed,
                "gamma": gamma,
                "every": every,
                "lr": lr,
                "d_norm": norm,
                "step": step,
            }
            for name, net in (("", G), ("ema_", ema)):
                if net is None:
                    continue
                s = dcgan_train.protocol_scores(net)  # eval mode on notebook 02's latents
                rec |= {
                    f"{name}{k}": round(s[k], 3 if k in ("precision", "recall") else 1)
                    for k in ("fid", "kid", "precision", "recall")
                }
            scoring += time.perf_counter() - s0
            rec["train_s"] = round(time.perf_counter() - t0 - scoring)
            print(json.dumps(rec), flush=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", default="0")
    ap.add_argument("--gamma", type=float, default=10.0)
    ap.add_argument("--steps", type=int, default=2000)
    ap.add_argument("--checkpoints", default="1000,2000")
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--d-norm", default="batch")
    ap.add_argument("--every", type=int, default=1, help="lazy R1: penalty every N D steps")
    ap.add_argument("--ema", type=float, default=0.0, help="also score G's moving average")
    a = ap.parse_args()
    torch.set_num_threads(1)
    for seed in (int(s) for s in a.seeds.split(",")):
        checkpoints = {int(c) for c in a.checkpoints.split(",")}
        run(seed, a.gamma, a.steps, checkpoints, a.lr, a.d_norm, a.every, a.ema)


if __name__ == "__main__":
    main()
