"""Notebook 02's exercises 2 and 3, measured: section 3's training cell as the notebook runs it
on the fast profile (its budget, Adam ``dcgan_train.LR`` for both players, batch 64, Gaussian
z, ``log_every=10``, the fast path's precision and layout for this CPU), scored as section 4
scores it (500 latents from seed 2, ``metrics.score_images``: FID, KID, precision, recall).
Three variants on seeds 0 and 1, one thread each:

- ``recipe``: the cell unchanged (betas (0.5, 0.999), BatchNorm in G);
- ``no_bn``: Solution 2's code: every ``BatchNorm2d`` in ``net_G.net`` replaced by
  ``torch.nn.Identity()`` after the networks are built (D and the initial weights unchanged);
- ``beta1_09``: Solution 3: ``betas=(0.9, 0.999)``.

Each run prints one JSON line: the scores, and from the history (means over 10 steps, 400
logged points) the mean and standard deviation of D(G(z)) (``D_fake``) over the last quarter
of training (steps 3,001-4,000), its standard deviation over the whole run, and the fraction
of logged points with D_fake < 0.1.

    cd /work/main && OMP_NUM_THREADS=1 COURSE_PROFILE=fast HF_HUB_OFFLINE=1 \
        .venv/bin/python experiments/dcgan/solutions23.py VARIANT SEED   # about 3 min each

Output of 2026-12-03 (2-core AMD EPYC with bf16 units, one thread): the last section of
``experiments/dcgan/README.md``. ``--threads 2`` (the notebook's fast budget) reproduces
section 4's saved scores on seed 0.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time

import torch
from recipe import scores

from course_lib import dcgan, dcgan_train, gan
from course_lib.config import budget
from course_lib.data import load_images
from course_lib.noise import sample_latent

VARIANTS = ("recipe", "no_bn", "beta1_09")


def build(seed: int, b: dict, no_bn: bool) -> tuple[torch.nn.Module, torch.nn.Module]:
    """Section 1's networks (``torch.manual_seed(seed)``, G then D); with ``no_bn``, Solution
    2's replacement of G's BatchNorm layers by Identity."""
    torch.manual_seed(seed)
    net_G = dcgan.DCGANGenerator(latent_dim=100, channels=b["channels"])
    net_D = dcgan.DCGANDiscriminator(channels=b["channels"])
    if no_bn:
        for i, layer in enumerate(net_G.net):
            if isinstance(layer, torch.nn.BatchNorm2d):
                net_G.net[i] = torch.nn.Identity()
    return net_G, net_D


def d_fake_summary(history: dict) -> dict:
    """D(G(z)) over the logged points: last quarter's mean and standard deviation, the whole
    run's standard deviation, and the fraction of points below 0.1."""
    steps, d_fake = history["step"], history["D_fake"]
    last = [v for s, v in zip(steps, d_fake) if s > 0.75 * steps[-1]]
    return {
        "d_fake_last_quarter_mean": round(statistics.fmean(last), 4),
        "d_fake_last_quarter_std": round(statistics.pstdev(last), 4),
        "d_fake_std_all": round(statistics.pstdev(d_fake), 4),
        "frac_d_fake_below_0.1": round(sum(v < 0.1 for v in d_fake) / len(d_fake), 4),
        "logged_points": len(d_fake),
    }


def run(variant: str, seed: int, threads: int = 1, snapshot_file: str | None = None) -> dict:
    """Section 3's training cell with ``variant`` on ``seed`` (``threads`` CPU threads: the
    notebook's fast budget has 2); section 4's scores."""
    torch.set_num_threads(threads)
    b = budget("02_dcgan", "fast")
    device = torch.device("cpu")
    X, _ = load_images("mnist5k", "train")
    net_G, net_D = build(seed, b, no_bn=variant == "no_bn")
    g = torch.Generator().manual_seed(seed)
    fixed_Z = sample_latent(16, 100, "gaussian", torch.Generator().manual_seed(1), device)
    snapshots = {}

    @torch.no_grad()
    def keep_snapshot(step, history=None):  # the notebook's callback (G in eval mode)
        net_G.eval()
        snapshots[step] = net_G(fixed_Z).cpu()
        net_G.train()

    keep_snapshot(0)
    betas = (0.9, 0.999) if variant == "beta1_09" else (0.5, 0.999)
    t0 = time.perf_counter()
    (net_G, net_D), history = gan.train_gan(
        X, b["num_steps"], net_G=net_G, net_D=net_D, latent_dim=100, latent_kind="gaussian",
        batch_size=b["batch_size"], lr=dcgan_train.LR, betas=betas, generator=g, device=device,
        log_every=10, callback=keep_snapshot, desc="DCGAN", threads=threads,
        bf16=dcgan_train.fast_bf16(device), channels_last=dcgan_train.fast_channels_last(device),
        callback_every=max(1, b["num_steps"] // b["snapshots"]), progress=False,
    )  # fmt: skip
    train_s = time.perf_counter() - t0
    if snapshot_file:  # the fixed-latent grids, for inspection
        torch.save(snapshots, snapshot_file)
    return {
        "variant": variant, "seed": seed, "steps": b["num_steps"], "threads": threads,
        "bf16": repr(dcgan_train.fast_bf16(device)), "train_s": round(train_s, 1),
        **scores(net_G), **d_fake_summary(history),
    }  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("variant", choices=VARIANTS)
    parser.add_argument("seed", type=int)
    parser.add_argument("snapshots", nargs="?", help="save the fixed-latent grids here (.pt)")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    out = run(args.variant, args.seed, args.threads, args.snapshots)
    print(json.dumps(out), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
