"""Training budgets: one table per notebook, one row per profile (smoke | fast | full).

Notebooks read ``cfg.budget[...]`` (``cfg = course_lib.config.setup(...)``); they never
hard-code a step count. Key names follow one convention: ``num_steps`` and ``batch_size``
for the notebook's main run, ``lr`` / ``lr_*`` for learning rates, ``<run>_steps`` only for
a second run in the same notebook. A value that no profile changes is not a budget key: it
is a default of the library function or an argument written in the notebook. Fast budgets
were sized on 2 CPU cores (benchmarks/RESULTS.md has the measured times).
"""

from __future__ import annotations

from typing import Any

BUDGETS: dict[str, dict[str, dict[str, Any]]] = {
    "01_gan_minimax": {
        # num_steps: Adam steps of the MLP GAN on mnist5k (batch 64, lr 1e-3, betas (0.5,
        # 0.999)); snapshots: fixed-latent grids kept during that run. d_star_steps /
        # d_star_batch_size: discriminator steps and batch against a fixed G on the 1-D
        # mixture. saturation_steps: G steps per loss in the saturating vs non-saturating demo.
        "smoke": dict(num_steps=300, snapshots=3, d_star_steps=300, d_star_batch_size=512,
                      saturation_steps=300),
        "fast": dict(num_steps=20000, snapshots=4, d_star_steps=3000, d_star_batch_size=4096,
                     saturation_steps=1000),
        "full": dict(num_steps=60000, snapshots=6, d_star_steps=6000, d_star_batch_size=4096,
                     saturation_steps=1000),
    },  # fmt: skip
    "04_vae": {
        # num_steps: Adam steps of the z=20 VAE (batch 100; sizes and lr are train_vae's
        # defaults); z2_steps: the z=2 VAE of the manifold plots; pitfall_steps: each of the
        # three KL-weight runs of the posterior-collapse section; pitfall_warmup: the KL
        # warm-up of the third; iwae_k / iwae_images: importance samples and test images of
        # the NLL estimate; elbo_samples: z draws per test image for the test ELBO.
        "smoke": dict(
            num_steps=150, z2_steps=150, pitfall_steps=100, pitfall_warmup=50,
            iwae_k=500, iwae_images=20, elbo_samples=1,
        ),
        "fast": dict(
            num_steps=6000, z2_steps=3000, pitfall_steps=2000, pitfall_warmup=1000,
            iwae_k=1000, iwae_images=500, elbo_samples=10,
        ),
        "full": dict(
            num_steps=60000, z2_steps=20000, pitfall_steps=20000, pitfall_warmup=10000,
            iwae_k=5000, iwae_images=500, elbo_samples=10,
        ),
    },  # fmt: skip
    "02_dcgan": {
        # num_steps: generator steps (batch_size digits each) of the 28x28 DCGAN with
        # `channels` maps in its 14x14 layer (Adam dcgan_train.LR = 2e-3 for both players,
        # betas (0.5, 0.999)); snapshots: fixed-latent grids kept; threads: CPU threads while
        # training (2: 25 steps/s on a quiet 2-core Intel Xeon against 15.5 for 1, 12 on an
        # AMD EPYC; None: torch's default, ignored on a GPU). fast's 4,000 steps: chosen on
        # seeds 0-2 (experiments/dcgan/README.md: mean FID 84.9 / 82.3 / 74.3 / 73.2 after
        # 2,000 / 3,000 / 4,000 / 5,000 steps).
        "smoke": dict(num_steps=20, batch_size=64, channels=32, snapshots=2, threads=1),
        "fast": dict(num_steps=4000, batch_size=64, channels=32, snapshots=4, threads=2),
        "full": dict(num_steps=10000, batch_size=128, channels=64, snapshots=6, threads=None),
    },  # fmt: skip
    "03_mode_collapse": {
        # Toy GANs (course_lib.toy_protocol, trained by course_lib.toy_train): num_steps
        # generator steps per run of the method table, every run trains len(seeds) seeds at
        # once; seeds: the selection seeds (methods are compared and chosen on them);
        # long_steps: the chosen method retrained longer, from scratch, on heldout_seeds (the
        # reported numbers; no seed in common with seeds); categorical_steps: the
        # disconnected-latent lesson run (fast: the setting notebook 03 and the bench measure;
        # full: not measured); batch_size samples per seed and step; hidden: width of G and D;
        # n_critic: WGAN-GP critic steps per G step; snapshots: coverage measurements;
        # eval_samples: samples per seed for mode_coverage. mnist_steps: the MLP GAN collapse
        # demo on mnist5k.
        "smoke": dict(num_steps=60, long_steps=90, categorical_steps=90, batch_size=64,
                      hidden=32, lr=1e-3, n_critic=2, snapshots=2, eval_samples=500,
                      seeds=(0, 1, 2), heldout_seeds=(3, 4, 5), mnist_steps=100),
        "fast": dict(num_steps=800, long_steps=4000, categorical_steps=10000, batch_size=256,
                     hidden=64, lr=2e-3, n_critic=2, snapshots=5, eval_samples=2500,
                     seeds=(0, 1, 2), heldout_seeds=(3, 4, 5), mnist_steps=1500),
        "full": dict(num_steps=10000, long_steps=30000, categorical_steps=30000, batch_size=256,
                     hidden=128, lr=1e-3, n_critic=5, snapshots=10, eval_samples=2500,
                     seeds=(0, 1, 2, 3, 4), heldout_seeds=(5, 6, 7, 8, 9), mnist_steps=10000),
    },  # fmt: skip
    "05_denoising_vae": {
        # num_steps: Adam steps (batch 100, train_vae's default sizes) for each of the four
        # models: the plain VAE and the denoising VAEs the notebook trains.
        "smoke": dict(num_steps=120),
        "fast": dict(num_steps=3000),
        "full": dict(num_steps=30000),
    },
}


BUDGETS["06_rbm_gibbsnet"] = {
    # num_steps: SGD updates (batch 100, lr decayed linearly to 0) of each binary RBM on
    # binarised mnist5k, the same for CD-1, CD-10 and PCD; rbm_hidden: hidden units;
    # pcd_chains: PCD's persistent chains (fast, measured: 500 chains at lr 0.1 / momentum
    # 0.5 gave AIS LL -118 vs -128 for 100 chains at lr 0.05; momentum 0.9 made the chains
    # oscillate and left AIS with ESS ~1 and runs 4-9 nats apart); pitfall_steps: the CD-1
    # run whose sampler ignores the biases. ais_betas / ais_chains / ais_runs: intermediate
    # distributions, chains and repeated runs of the AIS estimate of log Z.
    # gibbsnet_steps: GibbsNet updates (batch 64; the recipe is train_gibbsnet's defaults:
    # N drawn from 1..5 per update, encoder sigma >= 0.3, z = 16, ALICE's cycle term, Adam
    # 1e-3 for D and G/E); gibbsnet_hidden: channels of its 14x14 layers; gibbsnet_threads:
    # torch CPU threads for GibbsNet (the RBMs use 1: their matmuls give other sums on 2 threads;
    # GibbsNet's conv nets train to the same weights bit for bit, 1.4x faster on 2). Samples
    # are scored in the one protocol (500 digits per N).
    "smoke": dict(
        num_steps=100, rbm_hidden=100, pcd_chains=100, pitfall_steps=100,
        ais_betas=200, ais_chains=20, ais_runs=2,
        gibbsnet_steps=100, gibbsnet_hidden=8, gibbsnet_threads=1,
    ),
    "fast": dict(
        num_steps=600, rbm_hidden=500, pcd_chains=500, pitfall_steps=600,
        ais_betas=3000, ais_chains=100, ais_runs=2,
        gibbsnet_steps=2500, gibbsnet_hidden=16, gibbsnet_threads=2,
    ),
    "full": dict(
        num_steps=20000, rbm_hidden=500, pcd_chains=500, pitfall_steps=5000,
        ais_betas=14500, ais_chains=100, ais_runs=3,
        gibbsnet_steps=30000, gibbsnet_hidden=32, gibbsnet_threads=2,
    ),
}  # fmt: skip


BUDGETS["07_infogan"] = {
    # InfoGAN on mnist5k (course_lib.infogan.train_infogan; batch 64, latent_dim 62 (the
    # noise z; G's input adds the 12 code values), D/Q's lr 2e-4, lambda 1 (continuous codes 0.1)
    # and cluster_weight 1 are its defaults):
    # num_steps G steps; hidden / channels: width of the conv networks (full: the paper's
    # 64/128 channels); lr_G: G's Adam rate (in fast, 2e-3 made the categorical split happen
    # earlier and scored higher on seeds 0-2 than the paper's 1e-3; full keeps 1e-3, not
    # measured at 2e-3); eval_per_code: generated digits per category in each of the two
    # sets of the code-accuracy score (mapping fitted on one, scored on the other);
    # The notebook trains the plain run on torch's threads and loads the anchored run, shipped
    # by course_lib.infogan_train (trained on one thread like the benchmark, so its seed 0 is
    # what the bench would give for seed 0).
    "smoke": dict(num_steps=40, hidden=256, channels=32, lr_G=2e-3, eval_per_code=50),
    "fast": dict(num_steps=1600, hidden=256, channels=32, lr_G=2e-3, eval_per_code=200),
    "full": dict(num_steps=20000, hidden=512, channels=64, lr_G=1e-3, eval_per_code=500),
}  # fmt: skip

BUDGETS["08_wgan_gp"] = {
    # num_steps, batch_size (per seed), hidden: the toy runs (course_lib.toy_protocol.wgan_runs:
    # vanilla / weight clipping / WGAN-GP on grid25, every seed in seeds at once);
    # mnist_steps, lr_mnist: each MLP run on mnist5k (course_lib.wgan.train_wgan, batch 64);
    # mnist_evals: classifier-FID (500 digits, the protocol's N) and W-estimate measurements
    # during training. n_critic 5 and lambda 10 (Gulrajani et al.) are defaults.
    # conv_steps: the convolutional WGAN-GP on mnist5k (course_lib.wgan_train.train_wgan_gp,
    # its learning rate 2e-3, no moving average), trained beside the MLP runs.
    "smoke": dict(num_steps=30, batch_size=64, hidden=32, seeds=(0, 1, 2),
                  mnist_steps=20, lr_mnist=2e-4, mnist_evals=2, conv_steps=10),
    "fast": dict(num_steps=1000, batch_size=128, hidden=64, seeds=(0, 1, 2),
                 mnist_steps=800, lr_mnist=2e-4, mnist_evals=4, conv_steps=750),
    "full": dict(num_steps=5000, batch_size=256, hidden=128, seeds=(0, 1, 2, 3, 4),
                 mnist_steps=10000, lr_mnist=1e-4, mnist_evals=10, conv_steps=10000),
}  # fmt: skip


BUDGETS["09_ddpm"] = {
    # The U-Net is loaded from data/ddpm_mnist5k/ when present (trained by
    # `python -m course_lib.ddpm_train train`, see notebook 09); num_steps, batch_size and lr
    # only apply when it is missing or corrupt (the in-notebook fallback, Adam).
    # ddim_steps: DDIM runs of the speed table (500 digits each, scored in the protocol);
    # ddpm_images: digits drawn with all T = 1000 ancestral steps (wall time and the
    # trajectory viewer; 0 skips it; 500 adds DDPM to the table); traj_images: digits in the
    # trajectory viewer.
    "smoke": dict(num_steps=30, batch_size=64, lr=1e-3,
                  ddim_steps=(10,), ddpm_images=0, traj_images=6, threads=1),
    "fast": dict(num_steps=400, batch_size=64, lr=1e-3,
                 ddim_steps=(10, 20, 50), ddpm_images=8, traj_images=8, threads=1),
    "full": dict(num_steps=20000, batch_size=128, lr=2e-4,
                 ddim_steps=(10, 20, 50, 100), ddpm_images=500, traj_images=8, threads=None),
}  # fmt: skip

BUDGETS["10_diffusers_pipelines"] = {
    # The pipeline is loaded from data/ddpm_diffusers_mnist5k/ when present (4,500 steps by
    # `python -m course_lib.diffusers_utils train`); num_steps and batch_size only apply
    # when it is missing (UNet2DModel, AdamW at train_unet's lr 1e-3, EMA 0.995). runs:
    # (scheduler, inference steps) rows of the swap table, 500 digits each (the protocol's N,
    # so rows are dropped rather than N shrunk to fit a profile); the first DDIM row's step
    # count also samples notebook 09's U-Net for scale. fast: DDPM, DDIM and DPM-Solver++ at
    # the same 20 steps, and the two DPM-Solvers at 10. threads: torch CPU threads while
    # sampling (fast: 2, which sampled the same digits bit for bit 3x faster than 1 on a quiet
    # 2-core machine).
    "smoke": dict(num_steps=20, batch_size=64,
                  runs=(("DDIM", 10), ("DPM-Solver++", 10)), threads=1),
    "fast": dict(num_steps=300, batch_size=64,
                 runs=(("DDPM", 20), ("DDIM", 20), ("DPM-Solver++", 20), ("DPM-Solver++", 10),
                       ("DPM-Solver single-step", 10)), threads=2),
    "full": dict(num_steps=5000, batch_size=128,
                 runs=(("DDPM", 1000), ("DDPM", 20), ("DDIM", 20), ("DDIM", 50),
                       ("DPM-Solver++", 20), ("DPM-Solver++", 10), ("DPM-Solver single-step", 10)),
                 threads=None),
}  # fmt: skip

BUDGETS["11_side_by_side"] = {
    # failures: the failure sets of course_lib.compare scored in the protocol (each ~2-4 s on
    # one core; smoke keeps the two that make the point); timing_images: images per sampler
    # when timing sampling; ddim_steps: DDIM step counts timed on notebook 09's U-Net;
    # ddpm_timing: also time DDPM's 1000 steps (slow on a CPU: about 1.5 s per image).
    "smoke": dict(failures=("real digits (floor)", "memoriser (copies training digits)",
                            "one prototype per digit"),
                  timing_images=2, ddim_steps=(10,), ddpm_timing=False),
    "fast": dict(failures=None, timing_images=16, ddim_steps=(10, 20, 50), ddpm_timing=True),
    "full": dict(failures=None, timing_images=64, ddim_steps=(10, 20, 50, 100), ddpm_timing=True),
}  # fmt: skip
