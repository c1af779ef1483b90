"""Screen: WGAN-GP with notebook 02's convolutional networks on mnist5k (issue 19 item 3).

Notebook 08's three-way comparison trains MLPs on digits (quality.wgan_gp_mlp.fid 299.6).
This asks what the DCGAN networks reach under the WGAN-GP loss and what a generator step
costs on one CPU thread:
G = ``dcgan.DCGANGenerator`` (channels 32, latent 100), the critic = ``DCGANDiscriminator``
with its BatchNorm replaced by a per-sample LayerNorm-like ``GroupNorm(1, C)`` (the penalty
is per sample, so no batch statistics; Gulrajani et al. section 4), ``wgan.critic_step``
(lambda 10, n_critic 5) and the Wasserstein generator step, Adam (lr, (0.5, 0.9)). Scores:
the protocol (``metrics.score_images``, 500 digits from fixed latents) at checkpoints.

    cd experiments/wgan && PYTHONPATH=../.. python conv_screen.py --seed 0 --steps 1500 \
        --checkpoints 250,500,1000,1500 --lr 2e-4

One JSON line per checkpoint (FID, KID, precision, recall, seconds so far).
"""

from __future__ import annotations

import argparse
import json
import time

import torch
from torch import nn

from course_lib import dcgan, metrics, wgan
from course_lib.config import seeded
from course_lib.data import batches, load_images
from course_lib.gan import generator_step


def critic(channels: int) -> nn.Module:
    net = dcgan.DCGANDiscriminator(channels)
    for i, m in enumerate(net.net):
        if isinstance(m, nn.BatchNorm2d):
            net.net[i] = nn.GroupNorm(1, m.num_features)
    return net


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--steps", type=int, default=1500)
    ap.add_argument("--checkpoints", default="250,500,1000,1500")
    ap.add_argument("--lr", type=float, default=2e-4)
    ap.add_argument("--n-critic", type=int, default=5)
    ap.add_argument("--channels", type=int, default=32)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    X, _ = load_images("mnist5k", "train")
    g = torch.Generator().manual_seed(args.seed)
    with seeded(args.seed):
        G, D = dcgan.DCGANGenerator(100, args.channels), critic(args.channels)
    opt_G = torch.optim.Adam(G.parameters(), args.lr, betas=(0.5, 0.9))
    opt_D = torch.optim.Adam(D.parameters(), args.lr, betas=(0.5, 0.9))
    real = batches(X, 64, generator=g)
    Z_eval = torch.randn(500, 100, generator=torch.Generator().manual_seed(2))
    checkpoints = {int(c) for c in args.checkpoints.split(",")}
    t0 = time.perf_counter()
    for step in range(1, args.steps + 1):
        for _ in range(args.n_critic):
            out = wgan.critic_step(next(real), torch.randn(64, 100, generator=g), D, G, opt_D,
                                   gp_weight=10.0, generator=g)  # fmt: skip
        generator_step(torch.randn(64, 100, generator=g), D, G, opt_G, kind="wasserstein")
        if step in checkpoints:
            G.eval()
            with torch.no_grad():
                s = metrics.score_images(G(Z_eval))
            G.train()
            print(json.dumps({"seed": args.seed, "lr": args.lr, "step": step,
                              "fid": round(s["fid"], 1), "kid": round(s["kid"], 1),
                              "precision": round(s["precision"], 3),
                              "recall": round(s["recall"], 3),
                              "w_estimate": round(float(out["w_estimate"]), 3),
                              "seconds": round(time.perf_counter() - t0)}), flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
