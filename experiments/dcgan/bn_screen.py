"""Does the moving average of G need its own BatchNorm statistics? (issue 19, item 2)

``course_lib.train.ema_update`` averages G's weights but *copies* G's BatchNorm buffers, so
the averaged generator normalises with running statistics measured on the raw weights'
activations. ``torch.optim.swa_utils.update_bn`` re-estimates them for the averaged weights
(a cumulative average over latent batches in train mode; BigGAN's "standing statistics").

This script runs the shipped recipe (``course_lib.dcgan_train.train_dcgan``'s calls: Adam 2e-3,
notebook 02's precision and layout, batch 64, one thread) on one seed and, at each checkpoint,
scores in the one protocol: the raw G, the average with decay 0.999 (the shipped one) with
copied and with re-estimated statistics, and the same for decay 0.9999. One JSON line per
checkpoint on stdout. Selection seeds 0-2 only; seed 0's raw / 0.999-copied columns must equal
``shipped_const40k_seed0_manifest.json`` (the same calls).

    PYTHONPATH=../.. python bn_screen.py --seed 0 --steps 20000 --checkpoints 4000,8000,...
"""

from __future__ import annotations

import argparse
import copy
import sys

import torch
from recipe import CheckpointLog, scores, train_recipe
from torch.optim.swa_utils import update_bn

from course_lib import dcgan_train
from course_lib.config import seeded
from course_lib.data import load_images
from course_lib.dcgan import DCGANDiscriminator, DCGANGenerator
from course_lib.noise import sample_latent
from course_lib.train import ema_update


def restandardise(G: torch.nn.Module, batches: int = 50, seed: int = 7) -> torch.nn.Module:
    """A copy of G whose BatchNorm statistics are re-estimated on ``batches`` x 64 latents."""
    G = copy.deepcopy(G)
    g = torch.Generator().manual_seed(seed)
    Z = [sample_latent(64, dcgan_train.LATENT_DIM, "gaussian", g, "cpu") for _ in range(batches)]
    with torch.no_grad():
        update_bn(Z, G)
    return G


def run(seed: int, steps: int, checkpoints: list[int]) -> None:
    X, _ = load_images("mnist5k", "train")
    with seeded(seed) as g:  # as train_dcgan
        net_G = DCGANGenerator(dcgan_train.LATENT_DIM, 32)
        net_D = DCGANDiscriminator(32)
    emas = {0.999: copy.deepcopy(net_G), 0.9999: copy.deepcopy(net_G)}
    log = CheckpointLog()

    def score() -> dict:
        rec = {"raw": scores(net_G), "raw_bn": scores(restandardise(net_G))}
        for decay, ema in emas.items():
            rec[f"ema{decay}"] = scores(ema)
            rec[f"ema{decay}_bn"] = scores(restandardise(ema))
        return rec

    def callback(step: int, _history: dict | None = None) -> None:
        for decay, ema in emas.items():
            ema_update(ema, net_G, decay)
        if step in checkpoints:
            log.write({"seed": seed, "step": step}, score)

    train_recipe(X, steps, net_G, net_D, g, callback)


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--steps", type=int, default=20000)
    p.add_argument("--checkpoints", default="4000,8000,12000,16000,20000")
    a = p.parse_args()
    if a.seed > 2:
        raise SystemExit("selection seeds 0-2 only: seeds 3-5 are held out")
    run(a.seed, a.steps, [int(c) for c in a.checkpoints.split(",")])
    return 0


if __name__ == "__main__":
    sys.exit(main())
