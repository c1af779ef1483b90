"""Notebook 01: the optimal-discriminator check and the MLP GAN on mnist5k.

Keys: ``gan_minimax.d_star.max_error`` (max |D - D*| where the 1-D mixture density >= 0.02;
the issue's acceptance is <= 0.05 in the fast profile) and ``mlp_gan.fid`` /
``mlp_gan.fid_floor`` (classifier-FID of 500 samples vs the 500 mnist5k test digits, and of
500 real training digits vs the same test digits). Trained as notebook 01 trains it (batch
64, Adam 1e-3 with betas (0.5, 0.999), uniform z of size 100, seed 0).
"""

from __future__ import annotations

import torch

from course_lib import config, gan, metrics
from course_lib.data import load_images
from course_lib.noise import sample_latent

SEEDS = [0, 1, 2]


def run(profile: str) -> dict[str, dict]:
    b = config.budget("01_gan_minimax", profile)
    errors = [gan.d_star_experiment(b["d_star_steps"], b["d_star_batch_size"], seed=s,
                                    progress=False)["max_error"] for s in SEEDS]  # fmt: skip
    X, _ = load_images("mnist5k", "train")
    X_test, _ = load_images("mnist5k", "test")
    with config.seeded(0) as g:  # the nets' initialisation; g: batch order and latents
        net_G, net_D = gan.Generator(100, 128), gan.Discriminator(128)
    gan.train_gan(
        X, b["num_steps"], net_G=net_G, net_D=net_D, latent_dim=100, latent_kind="uniform",
        batch_size=64, lr=1e-3, generator=g, progress=False, threads=1,
    )  # fmt: skip
    with torch.no_grad():
        fake = net_G(sample_latent(len(X_test), 100, "uniform", torch.Generator().manual_seed(2)))
    real = X[torch.randperm(len(X), generator=torch.Generator().manual_seed(3))[: len(X_test)]]
    fid, floor = metrics.classifier_fid(fake, X_test), metrics.classifier_fid(real, X_test)
    common = {"profile": profile, "unit": ""}
    return {
        "gan_minimax.d_star.max_error": common | {
            "value": max(errors), "seeds": SEEDS, "anchor": "issue goal: <= 0.05 (fast)",
            "notes": "worst of 3 seeds; per seed " + ", ".join(f"{e:.3f}" for e in errors),
        },
        "mlp_gan.fid": common | {
            "value": fid, "seeds": [0], "anchor": None,
            "notes": f"100-128-784 MLP GAN, {b['num_steps']} steps; 500 samples vs 500 test",
        },
        "mlp_gan.fid_floor": common | {
            "value": floor, "seeds": [3], "anchor": None,
            "notes": "500 real training digits vs the 500 test digits",
        },
    }  # fmt: skip
