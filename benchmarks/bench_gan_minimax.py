"""Notebook 01: the optimal-discriminator check and the MLP GAN on mnist5k.

Keys: ``gan_minimax.d_star.max_error`` (max |D - D*| where the 1-D mixture density >= 0.02;
the issue's acceptance is <= 0.05 in the fast profile) and ``quality.mlp_gan.{fid,kid,
precision,recall}``: the MLP GAN trained as notebook 01 trains it (batch 64, Adam 1e-3 with
betas (0.5, 0.999), uniform z of size 100, seed 0), 500 samples (latents from seed 2, as in
the notebook) scored in the protocol of ``course_lib.metrics.score_images`` (floor:
``quality.real.*``).
"""

from __future__ import annotations

import torch

from benchmarks import quality
from course_lib import config, gan, metrics
from course_lib.data import load_images
from course_lib.noise import sample_latent

SEEDS = [0, 1, 2]


def run(profile: str) -> dict[str, dict]:
    b = config.budget("01_gan_minimax", profile)
    errors = [gan.d_star_experiment(b["d_star_steps"], b["d_star_batch_size"], seed=s,
                                    progress=False)["max_error"] for s in SEEDS]  # fmt: skip
    X, _ = load_images("mnist5k", "train")
    with config.seeded(0) as g:  # the nets' initialisation; g: batch order and latents
        net_G, net_D = gan.Generator(100, 128), gan.Discriminator(128)
    gan.train_gan(
        X, b["num_steps"], net_G=net_G, net_D=net_D, latent_dim=100, latent_kind="uniform",
        batch_size=64, lr=1e-3, generator=g, progress=False, threads=1,
    )  # fmt: skip
    n = metrics.PROTOCOL["n"]
    with torch.no_grad():
        fake = net_G(sample_latent(n, 100, "uniform", torch.Generator().manual_seed(2)))
    return {
        "gan_minimax.d_star.max_error": {
            "value": max(errors), "seeds": SEEDS, "anchor": "issue goal: <= 0.05 (fast)",
            "profile": profile, "unit": "",
            "notes": "worst of 3 seeds; per seed " + ", ".join(f"{e:.3f}" for e in errors),
        },
        **quality.rows(
            "mlp_gan", [quality.score(fake)], profile, [0],
            f"100-128-784 MLP GAN of notebook 01, {b['num_steps']} steps, uniform latents from "
            "seed 2", "seed 0, the notebook's run (not a held-out seed; the recipe was not "
            "tuned on seeds)",
        ),
    }  # fmt: skip
