"""GibbsNet with one-hidden-layer MLPs and the paper's fixed chain length N = 3: the variant
that notebook 06 (section 6, "What it took") reports it started from, and that
course_lib.gibbsnet no longer carries (the course trains the DCGAN-style networks).

Reproduces the notebook's statement "An earlier version of this section (MLPs, the paper's
fixed N = 3) ended with every row of the chain identical from N = 2 on": it trains the MLP
GibbsNet on mnist5k with course_lib's own update (``joint_pairs``, ``discriminator_step``,
``generator_step``), then prints
``latent_diagnostics`` (chain_move ~ 0 means the chain has stopped) and the classifier-FID
of x_N for N = 1..10, and saves the chain rows to ``--out``.

    python experiments/latent/gibbsnet_mlp.py                   # the development setting
    python experiments/latent/gibbsnet_mlp.py --steps 20 --tiny  # a plumbing check
"""

from __future__ import annotations

import argparse
import math

import torch
from torch import nn

from course_lib import gibbsnet as GN
from course_lib.config import seeded
from course_lib.data import load_images
from course_lib.metrics import classifier_fid
from course_lib.train import train_loop


class MLPEncoder(nn.Module):
    """q(z | x) with one hidden layer: x (B, 1, 28, 28) -> z (B, d), sigma >= e^-5."""

    def __init__(self, latent_dim: int, hidden: int, min_std: float = 0.0):
        super().__init__()
        self.min_log_std = math.log(min_std) if min_std > 0 else -5.0
        self.net = nn.Sequential(
            nn.Flatten(),
            nn.Linear(784, hidden),
            nn.LeakyReLU(0.2),
            nn.Linear(hidden, 2 * latent_dim),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mu, log_std = self.net(x).chunk(2, dim=1)
        return mu + log_std.clamp(self.min_log_std, 2).exp() * torch.randn_like(mu)


class MLPDiscriminator(nn.Module):
    """D(x, z): an x branch and a z branch (one layer each), a joint MLP, dropout (ALI)."""

    def __init__(self, latent_dim: int, hidden: int, dropout: float = 0.2):
        super().__init__()
        act = [nn.LeakyReLU(0.2), nn.Dropout(dropout)]
        self.x_net = nn.Sequential(nn.Flatten(), nn.Linear(784, hidden), *act)
        self.z_net = nn.Sequential(nn.Linear(latent_dim, hidden), *act)
        self.joint = nn.Sequential(nn.Linear(2 * hidden, hidden), *act, nn.Linear(hidden, 1))

    def forward(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        return self.joint(torch.cat([self.x_net(x), self.z_net(z)], dim=1)).squeeze(1)


class MLPGibbsNet(nn.Module):
    """net_E, net_G, net_D as one-hidden-layer MLPs (the decoder ends in tanh)."""

    def __init__(self, latent_dim: int = 32, hidden: int = 512):
        super().__init__()
        self.latent_dim = latent_dim
        self.net_E = MLPEncoder(latent_dim, hidden)
        self.net_G = nn.Sequential(
            nn.Linear(latent_dim, hidden), nn.LeakyReLU(0.2), nn.Linear(hidden, 784), nn.Tanh(),
            nn.Unflatten(1, (1, 28, 28)),
        )  # fmt: skip
        self.net_D = MLPDiscriminator(latent_dim, hidden)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=2500)
    parser.add_argument("--tiny", action="store_true", help="width 32, 200 FID samples")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="gibbsnet_mlp_chain.pt")
    args = parser.parse_args()
    hidden, samples = (32, 200) if args.tiny else (512, 500)
    images, _ = load_images("mnist5k", "train")
    with seeded(args.seed) as gen:
        model = MLPGibbsNet(hidden=hidden)
        trainer_D, trainer_GE = GN.make_trainers(model, lr=2e-4)

        def step_fn(step: int) -> dict[str, torch.Tensor]:
            X = images[torch.randint(0, len(images), (64,), generator=gen)]
            pairs = GN.joint_pairs(model, X, chain_steps=3)
            out_D = GN.discriminator_step(pairs, model.net_D, trainer_D)
            return {**out_D, **GN.generator_step(pairs, model.net_D, trainer_GE)}

        history = train_loop(step_fn, args.steps, log_every=max(1, args.steps // 10), desc="MLP")
    print(
        "final losses: D", round(history["loss_D"][-1], 2), "G/E", round(history["loss_G"][-1], 2)
    )
    test, _ = load_images("mnist5k", "test")
    print("diagnostics:", {k: round(v, 3) for k, v in GN.latent_diagnostics(model, test).items()})
    chain = GN.samples_per_step(model, samples, max_steps=10, seed=args.seed)
    fid = {n: round(classifier_fid(x, images), 1) for n, x in chain.items()}
    print("classifier-FID by N:", fid)
    torch.save({n: x[:10] for n, x in chain.items()}, args.out)


if __name__ == "__main__":
    main()
