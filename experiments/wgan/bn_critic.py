"""Notebook 08, exercise 3, measured: WGAN-GP on mnist5k with BatchNorm after the critic's
first hidden layer, then the gradient norms at the penalty's interpolates in train mode
(batch statistics) and in eval mode (running statistics), beside the same run without
BatchNorm. fast budget of notebook 08 (mnist_steps G steps, batch 64, n_critic 5, lambda 10,
Adam lr_mnist = 2e-4 with the paper's betas (0, 0.9); the notebook uses (0.5, 0.9)), seed 0,
one thread. Results: README.md, "BatchNorm in the critic".

    .venv/bin/python experiments/wgan/bn_critic.py
"""

from __future__ import annotations

import time

import torch
from torch import nn

from course_lib import wgan
from course_lib.config import budget, seeded
from course_lib.data import batches, load_images
from course_lib.gan import generator_step
from course_lib.metrics import classifier_fid
from course_lib.noise import sample_latent
from course_lib.train import adam

torch.set_num_threads(1)
B = budget("08_wgan_gp", "fast")
X, _ = load_images("mnist5k", "train")
X_test, _ = load_images("mnist5k", "test")


def train(batchnorm: bool):
    with seeded(0) as g:
        net_G, net_D = wgan.MLPGenerator(), wgan.MLPCritic()
        if batchnorm:  # Linear -> BatchNorm1d -> LeakyReLU -> ...
            layers = list(net_D.net)
            net_D.net = nn.Sequential(layers[0], nn.BatchNorm1d(layers[0].out_features),
                                      *layers[1:])  # fmt: skip
        opt_D, opt_G = adam(net_D.parameters(), B["lr_mnist"], (0.0, 0.9)), adam(
            net_G.parameters(), B["lr_mnist"], (0.0, 0.9))
        real = batches(X, 64, generator=g)
        for _ in range(B["mnist_steps"]):
            for _ in range(5):
                wgan.critic_step(next(real), sample_latent(64, 64, "gaussian", g), net_D, net_G,
                                 opt_D, gp_weight=10.0, generator=g)  # fmt: skip
            generator_step(sample_latent(64, 64, "gaussian", g), net_D, net_G, opt_G,
                           kind="wasserstein")  # fmt: skip
        return net_G, net_D


def summary(norms: torch.Tensor) -> str:
    q = norms.quantile(torch.tensor([0.1, 0.5, 0.9]))
    near = ((norms - 1).abs() <= 0.1).float().mean()
    return (f"median {q[1]:.3f}, 10-90% [{q[0]:.3f}, {q[2]:.3f}], within 0.1 of 1: "
            f"{near:.0%}")


if __name__ == "__main__":
    for bn in (False, True):
        start = time.perf_counter()
        net_G, net_D = train(bn)
        with torch.no_grad():
            fake = net_G(wgan.eval_latents(0, 500))
        real = X_test[:500]
        fid = classifier_fid(fake, X_test)
        print(f"\ncritic {'with' if bn else 'without'} BatchNorm: {B['mnist_steps']} G steps "
              f"in {time.perf_counter() - start:.0f} s, FID {fid:.1f}")
        for mode in ("eval", "train"):  # eval first: train mode updates running statistics
            net_D.train(mode == "train")
            norms = wgan.interpolate_grad_norms(net_D, real, fake,
                                                torch.Generator().manual_seed(1))  # fmt: skip
            print(f"  {mode:5s} mode: ||grad f(x_hat)|| {summary(norms)}")
