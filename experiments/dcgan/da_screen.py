"""Does D over-fit the 4,500 digits in a long run, and does DiffAugment help? (issue 19, item 2)

DiffAugment made every *short* run worse (this folder's README, 2026-12-01), when D showed no
over-fitting up to 6,000 steps. The shipped generator trains 40,000 steps at Adam 2e-3 and
plateaus at FID 50-60: the regime where Zhao et al. report their gains. This script runs the
shipped recipe (``course_lib.dcgan_train.train_dcgan``'s calls: Adam 2e-3, notebook 02's
precision and layout, batch 64, one thread) on one selection seed, optionally with D wrapped
in :class:`augment.DiffAugment`, and at each checkpoint records, in the one protocol, the raw G
and the 0.999 moving average (the shipped one), and D's over-fitting signal: its mean logit on
500 training digits and on the 500 held-out test digits (no augmentation, BatchNorm on batch
statistics as in training, on a copy of D so training is untouched) and the AUC between the
two (0.5: D cannot tell them apart). One JSON line per checkpoint on stdout.

    PYTHONPATH=../.. python da_screen.py --seed 0 --policy translation,cutout   # seeds 0-2
    PYTHONPATH=../.. python da_screen.py --seed 0 --policy none    # the shipped recipe
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import sys
from unittest import mock

import torch
from augment import DiffAugment, InstanceNoise, diff_augment, with_dropout
from recipe import CheckpointLog, scores, train_recipe

from course_lib import dcgan_train, gan
from course_lib.config import seeded
from course_lib.data import load_images
from course_lib.dcgan import DCGANDiscriminator, DCGANGenerator
from course_lib.overfit import discriminator_gap
from course_lib.train import ema_update

ADA_EVERY, ADA_STEP = 100, 0.02  # p can go from 0 to 1 in 5,000 steps


def hinge_d_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """loss_rule.md: mean relu(1 - D(x)) + mean relu(1 + D(G(z))) on D's raw outputs."""
    return torch.relu(1 - real_logits).mean() + torch.relu(1 + fake_logits).mean()


def hinge_g_loss(fake_logits: torch.Tensor, kind: str | None = None) -> torch.Tensor:
    """loss_rule.md: -mean D(G(z)) (``kind`` ignored: the hinge game has one G loss)."""
    return -fake_logits.mean()


def hinge_losses() -> contextlib.ExitStack:
    """Swap course_lib.gan's two BCE losses for the hinge pair while the stack is open."""
    stack = contextlib.ExitStack()
    stack.enter_context(mock.patch.object(gan, "discriminator_loss", hinge_d_loss))
    stack.enter_context(mock.patch.object(gan, "generator_loss", hinge_g_loss))
    return stack


class AdaptiveAugment(DiffAugment):
    """DiffAugment applied to each image with probability ``p`` (ADA's idea, Karras et al.
    2020): every image D sees, real or fake, is transformed with probability p, else passed
    as it is. ``p`` is set from outside (:func:`run` steers it by ADA's r_t on training digits)."""

    p: float = 0.0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training and self.p > 0:
            aug = diff_augment(x, self.policy, generator=self.generator, **self.kwargs)
            keep = torch.rand(len(x), generator=self.generator) >= self.p
            x = torch.where(keep.view(-1, 1, 1, 1).to(x.device), x, aug)
        return self.net(x)


def d_gap(net_D: torch.nn.Module, X_train: torch.Tensor, X_test: torch.Tensor) -> dict:
    """D's mean logit on training and test digits and the AUC between them
    (``course_lib.overfit.discriminator_gap``), rounded."""
    gap = discriminator_gap(net_D, X_train, X_test)
    return {"train": round(gap["train"], 3), "test": round(gap["held_out"], 3),
            "auc": round(gap["auc"], 4)}  # fmt: skip


def run(seed: int, steps: int, checkpoints: list[int], policy: tuple[str, ...],
        ada_target: float = 0.0, dropout: float = 0.0, noise: float = 0.0,
        loss: str = "bce") -> None:  # fmt: skip
    X, _ = load_images("mnist5k", "train")
    X_test, _ = load_images("mnist5k", "test")
    X_probe = X[torch.randperm(len(X), generator=torch.Generator().manual_seed(11))[:500]]
    with seeded(seed) as g:  # as train_dcgan
        net_G = DCGANGenerator(dcgan_train.LATENT_DIM, 32)
        net_D = DCGANDiscriminator(32)
    if dropout:  # reg_rule.md: Dropout after each LeakyReLU of D (global RNG, seeded here)
        net_D = with_dropout(net_D, dropout)
        torch.manual_seed(2000 + seed)
    inner_D = net_D
    if noise:  # reg_rule.md: instance noise on every image D sees in training
        noise_g = torch.Generator().manual_seed(3000 + seed)
        net_D = InstanceNoise(net_D, noise, generator=noise_g)
    if policy:
        aug_g = torch.Generator().manual_seed(1000 + seed)
        net_D = (AdaptiveAugment if ada_target else DiffAugment)(net_D, policy, generator=aug_g)
    ema = copy.deepcopy(net_G)
    log = CheckpointLog()

    def score() -> dict:
        rec = {"raw": scores(net_G), "ema0.999": scores(ema), "D": d_gap(inner_D, X_probe, X_test)}
        if ada_target:
            rec["ada"] = {"target": ada_target, "p": round(net_D.p, 3)}
        return rec

    def callback(step: int, _history: dict | None = None) -> None:
        ema_update(ema, net_G, 0.999)
        if ada_target and step % ADA_EVERY == 0:  # ADA's r_t on 500 training digits
            with torch.no_grad():
                r_t = torch.sign(copy.deepcopy(inner_D).train()(X_probe)).mean().item()
            net_D.p = min(1.0, max(0.0, net_D.p + ADA_STEP * (1 if r_t > ada_target else -1)))
        if step in checkpoints:
            head = {"seed": seed, "policy": ",".join(policy) or "none", "step": step}
            head.update({k: v for k, v in (("dropout", dropout), ("noise", noise)) if v})
            if loss != "bce":
                head["loss"] = loss
            log.write(head, score)

    with hinge_losses() if loss == "hinge" else contextlib.nullcontext():
        train_recipe(X, steps, net_G, net_D, g, callback)


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--steps", type=int, default=20000)
    p.add_argument("--checkpoints", default="4000,8000,12000,16000,20000")
    p.add_argument("--policy", default="translation,cutout", help="comma-separated, or none")
    p.add_argument(
        "--ada-target",
        type=float,
        default=0.0,
        help="> 0: apply the policy with a probability p steered towards this r_t",
    )
    p.add_argument("--dropout", type=float, default=0.0, help="Dropout(p) after D's LeakyReLUs")
    p.add_argument("--noise", type=float, default=0.0, help="instance noise sigma on D's inputs")
    p.add_argument("--loss", choices=("bce", "hinge"), default="bce", help="hinge: loss_rule.md")
    a = p.parse_args()
    if a.seed > 2:
        raise SystemExit("selection seeds 0-2 only: seeds 3-5 are held out")
    policy = () if a.policy == "none" else tuple(a.policy.split(","))
    cps = [int(c) for c in a.checkpoints.split(",")]
    run(a.seed, a.steps, cps, policy, a.ada_target, a.dropout, a.noise, a.loss)
    return 0


if __name__ == "__main__":
    sys.exit(main())
