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
        # d_star_*: discriminator steps / batch against a fixed G on the 1-D mixture.
        # saturation_steps: generator steps per loss in the saturating vs non-saturating demo.
        # mnist_*: MLP GAN on mnist5k (Adam lr, betas (0.5, 0.999)); snapshots: grids kept.
        "smoke": dict(
            d_star_steps=300, d_star_batch=512, saturation_steps=300,
            mnist_steps=300, mnist_lr=1e-3, batch_size=64, snapshots=3,
        ),
        "fast": dict(
            d_star_steps=3000, d_star_batch=4096, saturation_steps=1000,
            mnist_steps=20000, mnist_lr=1e-3, batch_size=64, snapshots=4,
        ),
        "full": dict(
            d_star_steps=6000, d_star_batch=4096, saturation_steps=1000,
            mnist_steps=60000, mnist_lr=1e-3, batch_size=64, snapshots=6,
        ),
    },  # fmt: skip
    "metrics": {
        # fid_samples: generated images scored against real ones by course_lib.metrics.
        # The classifier behind the metrics is profile-independent on purpose (recipe in
        # course_lib/classifier.py, `python -m course_lib.metrics train-classifier`), so the
        # shipped weights are the same everywhere.
        "smoke": dict(fid_samples=500),
        "fast": dict(fid_samples=2000),
        "full": dict(fid_samples=5000),
    },
    "04_vae": {
        # num_steps: Adam steps (batch 100) of the z=20 VAE; num_steps_2d: the z=2 VAE;
        # pitfall_*: the two KL-weight runs of the posterior-collapse section (beta, warm-up);
        # iwae_k / iwae_images: importance samples and test images of the NLL estimate;
        # elbo_samples: z draws per test image for the test ELBO.
        "smoke": dict(
            num_steps=150,
            num_steps_2d=150,
            pitfall_steps=100,
            pitfall_warmup=50,
            pitfall_beta=8.0,
            latent_dim=20,
            hidden=400,
            batch_size=100,
            lr=1e-3,
            iwae_k=500,
            iwae_images=20,
            elbo_samples=1,
        ),
        "fast": dict(
            num_steps=6000,
            num_steps_2d=3000,
            pitfall_steps=2000,
            pitfall_warmup=1000,
            pitfall_beta=8.0,
            latent_dim=20,
            hidden=400,
            batch_size=100,
            lr=1e-3,
            iwae_k=1000,
            iwae_images=500,
            elbo_samples=10,
        ),
        "full": dict(
            num_steps=60000,
            num_steps_2d=20000,
            pitfall_steps=20000,
            pitfall_warmup=10000,
            pitfall_beta=8.0,
            latent_dim=20,
            hidden=400,
            batch_size=100,
            lr=1e-3,
            iwae_k=5000,
            iwae_images=500,
            elbo_samples=10,
        ),
    },
    "02_dcgan": {
        # num_steps: generator steps (batch_size digits each) of the 28x28 DCGAN with
        # `channels` maps in its 14x14 layer (Adam 2e-4, betas (0.5, 0.999)); snapshots:
        # fixed-latent grids kept; fid_samples: generated digits scored against mnist5k train
        # (the test split has 500, so 500 keeps the real-data floor comparable);
        # threads: CPU threads while training (1 is fastest on a busy 2-core machine).
        "smoke": dict(num_steps=20, batch_size=64, channels=32, snapshots=2,
                      fid_samples=500, threads=1),
        "fast": dict(num_steps=1000, batch_size=64, channels=32, snapshots=4,
                     fid_samples=500, threads=1),
        "full": dict(num_steps=10000, batch_size=128, channels=64, snapshots=6,
                     fid_samples=500, threads=None),
    },  # fmt: skip
    "03_mode_collapse": {
        # Toy GANs (course_lib.mode_collapse): num_steps generator steps per run of the
        # method table, every run trains len(seeds) seeds at once; long_steps: the table's
        # best method retrained longer; batch_size samples per seed and step; hidden/depth
        # of G and D; n_critic: WGAN-GP critic steps per G step; eval_samples: samples per
        # seed for mode_coverage. mnist_*: the MLP GAN collapse demo on mnist5k (two lrs).
        # categorical_*: the disconnected-latent fix (method categorical_latent): G steps,
        # values of the discrete code, lambda of its information term (fast: the setting
        # notebook 03 and the bench measure; full: not measured).
        "smoke": dict(num_steps=60, long_steps=90, batch_size=64, hidden=32, depth=3, lr=1e-3,
                      n_critic=2, snapshots=2, eval_samples=500, seeds=(0, 1, 2),
                      mnist_steps=100, mnist_lr_good=1e-3, mnist_lr_bad=1e-2, mnist_d_steps=1,
                      categorical_steps=90, categories=50, info_weight=1.0),
        "fast": dict(num_steps=800, long_steps=4000, batch_size=256, hidden=64, depth=3,
                     lr=2e-3, n_critic=2, snapshots=5, eval_samples=2500, seeds=(0, 1, 2),
                     mnist_steps=1500, mnist_lr_good=1e-3, mnist_lr_bad=1e-2, mnist_d_steps=1,
                     categorical_steps=10000, categories=50, info_weight=1.0),
        "full": dict(num_steps=10000, long_steps=30000, batch_size=256, hidden=128, depth=3,
                     lr=1e-3, n_critic=5, snapshots=10, eval_samples=2500, seeds=(0, 1, 2, 3, 4),
                     mnist_steps=10000, mnist_lr_good=1e-3, mnist_lr_bad=1e-2, mnist_d_steps=1,
                     categorical_steps=30000, categories=50, info_weight=1.0),
    },  # fmt: skip
    "05_denoising_vae": {
        # num_steps: Adam steps (batch 100) for each of the four models (plain VAE and the
        # denoising VAEs at sweep_factors); noise_factor: the default training corruption.
        "smoke": dict(
            num_steps=120,
            latent_dim=20,
            hidden=400,
            batch_size=100,
            lr=1e-3,
            noise_factor=0.25,
            sweep_factors=(0.1, 0.25, 0.5),
        ),
        "fast": dict(
            num_steps=3000,
            latent_dim=20,
            hidden=400,
            batch_size=100,
            lr=1e-3,
            noise_factor=0.25,
            sweep_factors=(0.1, 0.25, 0.5),
        ),
        "full": dict(
            num_steps=30000,
            latent_dim=20,
            hidden=400,
            batch_size=100,
            lr=1e-3,
            noise_factor=0.25,
            sweep_factors=(0.1, 0.25, 0.5),
        ),
    },
}


BUDGETS["06_rbm_gibbsnet"] = {
    # rbm_*: binary RBM on binarised mnist5k, SGD (lr decayed linearly to 0), batch 100, the
    # same number of updates for CD-1, CD-k (k = cd_k) and PCD. PCD: pcd_chains persistent
    # chains, learning rate pcd_lr and momentum pcd_momentum (fast, measured: 500 chains at
    # lr 0.1 / momentum 0.5 gave AIS LL -118 vs -128 for 100 chains at lr 0.05; momentum 0.9
    # made the chains oscillate and left AIS with ESS ~1 and runs 4-9 nats apart); pitfall_steps:
    # the CD-1 run whose sampler ignores the biases. ais_betas / ais_chains / ais_runs:
    # intermediate distributions, chains and repeated runs of the AIS estimate of log Z.
    # gibbsnet_*: steps (batch 64); arch ("conv": DCGAN-style E/G/D, "mlp"); hidden: channels
    # of the 14x14 conv layer (MLP width for "mlp"); chain: the unclamped chain length N in
    # training, drawn uniformly from 1..chain per update when random_chain (fast, measured:
    # 1..5 kept the chain nearer digits on seed 0, FID 227 at N = 3 vs 580 with 1..3; seeds
    # 1 and 2 drifted sooner, 787 and 359 at N = 3); min_std: noise
    # floor of q(z | x); lr / lr_GE: Adam rates of D and of G/E (betas 0.5, 0.999); latent_dim;
    # fid_samples: samples per N for the classifier-FID-versus-N curve (N = 1..max_chain),
    # scored against all 4,500 mnist5k training digits (the first ones are sorted by class).
    "smoke": dict(
        rbm_hidden=100, rbm_steps=100, cd_k=10, rbm_lr=0.05, rbm_batch=100,
        rbm_momentum=0.9, pcd_momentum=0.5, pcd_lr=0.1, pitfall_steps=100,
        ais_betas=200, ais_chains=20, ais_runs=2, pcd_chains=100,
        gibbsnet_steps=100, gibbsnet_arch="conv", gibbsnet_hidden=8, gibbsnet_chain=5,
        gibbsnet_random_chain=True, gibbsnet_min_std=0.3, gibbsnet_lr=2e-4, gibbsnet_lr_GE=5e-4,
        latent_dim=16,
        fid_samples=200, max_chain=10,
    ),
    "fast": dict(
        rbm_hidden=500, rbm_steps=600, cd_k=10, rbm_lr=0.05, rbm_batch=100,
        rbm_momentum=0.9, pcd_momentum=0.5, pcd_lr=0.1, pitfall_steps=600,
        ais_betas=3000, ais_chains=100, ais_runs=2, pcd_chains=500,
        gibbsnet_steps=2500, gibbsnet_arch="conv", gibbsnet_hidden=16, gibbsnet_chain=5,
        gibbsnet_random_chain=True, gibbsnet_min_std=0.3, gibbsnet_lr=2e-4, gibbsnet_lr_GE=5e-4,
        latent_dim=16,
        fid_samples=1000, max_chain=10,
    ),
    "full": dict(
        rbm_hidden=500, rbm_steps=20000, cd_k=10, rbm_lr=0.05, rbm_batch=100,
        rbm_momentum=0.9, pcd_momentum=0.5, pcd_lr=0.1, pitfall_steps=5000,
        ais_betas=14500, ais_chains=100, ais_runs=3, pcd_chains=500,
        gibbsnet_steps=30000, gibbsnet_arch="conv", gibbsnet_hidden=32, gibbsnet_chain=5,
        gibbsnet_random_chain=True, gibbsnet_min_std=0.3, gibbsnet_lr=2e-4, gibbsnet_lr_GE=5e-4,
        latent_dim=16,
        fid_samples=5000, max_chain=10,
    ),
}  # fmt: skip


BUDGETS["07_infogan"] = {
    # InfoGAN on mnist5k (course_lib.infogan): num_steps G steps of batch_size; noise_dim z;
    # arch: "mlp" or "conv" (the paper's layout) networks of width hidden and conv channels
    # (fast uses conv: in our CPU runs it beat the MLP at equal time, 0.67 vs 0.46 on seed 0);
    # lr for D/Q and lr_G for G (Adam, both decayed to 0; in fast, lr_G 2e-3 made the
    # categorical split happen earlier and scored higher on seeds 0-2 than the paper's 1e-3;
    # full keeps the paper's 1e-3, not measured at 2e-3);
    # z_scale: factor on G's noise input; info_weight lambda for the categorical code
    # (continuous codes get cont_weight); real_info_weight: Q's label-free information on
    # real digits (0 = plain InfoGAN; notebook 07 reports what 1.0 did);
    # cluster_weight: the anchored run of section 7 (Q also gives each real digit the code of
    # its label-free cluster, infogan.digit_clusters; the plain InfoGAN runs use 0);
    # eval_per_code: generated digits per category for the code-accuracy score; seeds: the
    # runs averaged for the score (the notebook trains the first one for its figures);
    # threads: torch CPU threads per training run in the notebook (fast: 2, which trained
    # 1.6x faster than 1 and lets the notebook fit both runs in 5 min; the benchmark trains
    # with 1 thread beside other modules, and the thread count changes a run's
    # floating-point path, so its seed 0 differs from the notebook's).
    "smoke": dict(num_steps=40, batch_size=64, noise_dim=62, arch="conv", hidden=256,
                  channels=32, lr=2e-4, lr_G=2e-3, z_scale=1.0, info_weight=1.0,
                  cont_weight=0.1, real_info_weight=0.0, cluster_weight=1.0, eval_per_code=50,
                  seeds=(0,), threads=1),
    "fast": dict(num_steps=1600, batch_size=64, noise_dim=62, arch="conv", hidden=256,
                 channels=32, lr=2e-4, lr_G=2e-3, z_scale=1.0, info_weight=1.0,
                 cont_weight=0.1, real_info_weight=0.0, cluster_weight=1.0, eval_per_code=200,
                 seeds=(0,), threads=2),
    "full": dict(num_steps=20000, batch_size=64, noise_dim=62, arch="conv", hidden=512,
                 channels=64, lr=2e-4, lr_G=1e-3, z_scale=1.0, info_weight=1.0,
                 cont_weight=0.1, real_info_weight=0.0, cluster_weight=1.0, eval_per_code=500,
                 seeds=(0, 1, 2), threads=None),
}  # fmt: skip

BUDGETS["08_wgan_gp"] = {
    # toy_*: G steps, per-seed batch, MLP width of the toy runs (course_lib.wgan.train_toy,
    # vanilla / weight clipping / WGAN-GP on grid25, every seed in toy_seeds at once);
    # mnist_*: G steps of each MLP run on mnist5k (batch 64), evals: classifier-FID and
    # W-estimate measurements during training; fid_samples: digits scored per measurement.
    # n_critic / gp_weight: Gulrajani et al.'s 5 and 10.
    "smoke": dict(toy_steps=30, toy_batch=64, toy_hidden=32, toy_seeds=(0, 1, 2),
                  mnist_steps=20, mnist_lr=2e-4, mnist_evals=2, fid_samples=200,
                  n_critic=5, gp_weight=10.0),
    "fast": dict(toy_steps=1000, toy_batch=128, toy_hidden=64, toy_seeds=(0, 1, 2),
                 mnist_steps=800, mnist_lr=2e-4, mnist_evals=4, fid_samples=500,
                 n_critic=5, gp_weight=10.0),
    "full": dict(toy_steps=5000, toy_batch=256, toy_hidden=128, toy_seeds=(0, 1, 2, 3, 4),
                 mnist_steps=10000, mnist_lr=1e-4, mnist_evals=10, fid_samples=500,
                 n_critic=5, gp_weight=10.0),
}  # fmt: skip


BUDGETS["09_ddpm"] = {
    # The U-Net is loaded from data/ddpm_mnist5k.pt when present (trained by
    # `python -m course_lib.diffusion train`, see notebook 09); train_* only apply when it is
    # missing or corrupt (in-notebook fallback: batch train_batch, Adam train_lr).
    # fid_samples: digits per sampler for classifier-FID; ddim_steps: DDIM runs of the
    # speed table; ddpm_images: digits drawn with all T = 1000 ancestral steps (wall time and
    # the trajectory viewer; 0 skips it); traj_images: digits in the trajectory viewer.
    "smoke": dict(train_steps=30, train_batch=64, train_lr=1e-3, fid_samples=100,
                  ddim_steps=(10,), ddpm_images=0, traj_images=6, threads=1),
    "fast": dict(train_steps=400, train_batch=64, train_lr=1e-3, fid_samples=200,
                 ddim_steps=(10, 20, 50), ddpm_images=8, traj_images=8, threads=1),
    "full": dict(train_steps=20000, train_batch=128, train_lr=2e-4, fid_samples=500,
                 ddim_steps=(10, 20, 50, 100), ddpm_images=500, traj_images=8, threads=None),
}  # fmt: skip

BUDGETS["10_diffusers_pipelines"] = {
    # The pipeline is loaded from data/ddpm_diffusers_mnist5k/ when present (trained by
    # `python -m course_lib.diffusers_utils train`); train_* only apply when it is missing
    # (UNet2DModel, AdamW, EMA 0.995, batch train_batch). fid_samples: digits per scheduler
    # run; runs: (scheduler, inference steps) rows of the scheduler-swap table.
    "smoke": dict(train_steps=20, train_batch=64, train_lr=1e-3, fid_samples=50,
                  runs=(("DDIM", 10), ("DPM-Solver++", 10)), threads=1),
    "fast": dict(train_steps=300, train_batch=64, train_lr=1e-3, fid_samples=200,
                 runs=(("DDPM", 50), ("DDIM", 20), ("DDIM", 50), ("DPM-Solver++", 10),
                       ("DPM-Solver++", 20), ("DPM-Solver single-step", 10)), threads=1),
    "full": dict(train_steps=5000, train_batch=128, train_lr=1e-3, fid_samples=500,
                 runs=(("DDPM", 1000), ("DDIM", 20), ("DDIM", 50), ("DPM-Solver++", 10),
                       ("DPM-Solver++", 20), ("DPM-Solver single-step", 10)), threads=None),
}  # fmt: skip
