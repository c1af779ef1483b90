"""GibbsNet (Lamb, Hjelm, Ganin, Cohen, Courville & Bengio 2017, "GibbsNet: Iterative
Adversarial Inference for Deep Graphical Models", NeurIPS) -- notebook 06, part 2.

An encoder q(z|x), a decoder p(x|z) and a discriminator D(x, z) on joint pairs.

- unclamped chain (paper sec. 3, eq. 3): z_0 ~ N(0, I); x_n = G(z_{n-1}), z_n ~ q(z | x_n)
  for n = 1..N; the pair it hands to D is (x_N, z_{N-1}) -- "the model's joint".
- clamped chain (eq. 4): x ~ data, z ~ q(z | x) -- "the data's joint".
- adversarial loss (eq. 5, the ALI/BiGAN loss on the two joints): D labels clamped pairs 1
  and unclamped pairs 0; G and E are trained to swap the labels. As in the paper, gradients
  flow only through the last step of the unclamped chain.

The training step keeps two optimisers and a strict order (:func:`train_step`):
1. D: zero D's grads, D loss on detached pairs, backward, step D only;
2. G, E: zero G/E grads, fresh forward through the *updated* D, backward, step G/E only.
A widely read implementation lets the G/E optimiser step on gradients left by the D loss
(it never zeroes them, or backpropagates the D loss into G/E): the two losses then push the
same parameters in opposite directions and blow up. tests/test_gibbsnet.py checks the order.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.functional import binary_cross_entropy_with_logits as bce

from .train import adam, train_loop


class Encoder(nn.Module):
    """q(z | x): Gaussian with a diagonal covariance; x (B, 1, 28, 28) in [-1, 1] -> z (B, d)."""

    def __init__(self, latent_dim: int = 32, hidden: int = 512):
        super().__init__()
        self.net = nn.Sequential(
            nn.Flatten(),
            nn.Linear(784, hidden),
            nn.LeakyReLU(0.2),
            nn.Linear(hidden, 2 * latent_dim),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mu, log_std = self.net(x).chunk(2, dim=1)
        return mu + log_std.clamp(-5, 2).exp() * torch.randn_like(mu)


class Decoder(nn.Module):
    """p(x | z) as a deterministic map z (B, d) -> x (B, 1, 28, 28) in [-1, 1] (tanh)."""

    def __init__(self, latent_dim: int = 32, hidden: int = 512):
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(latent_dim, hidden),
            nn.LeakyReLU(0.2),
            nn.Linear(hidden, 784),
            nn.Tanh(),
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z).view(-1, 1, 28, 28)


class JointDiscriminator(nn.Module):
    """D(x, z): one logit per (image, latent) pair (paper sec. 3); dropout as in ALI."""

    def __init__(self, latent_dim: int = 32, hidden: int = 512, dropout: float = 0.2):
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(784 + latent_dim, hidden),
            nn.LeakyReLU(0.2),
            nn.Dropout(dropout),
            nn.Linear(hidden, hidden),
            nn.LeakyReLU(0.2),
            nn.Dropout(dropout),
            nn.Linear(hidden, 1),
        )

    def forward(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat([x.flatten(1), z], dim=1)).squeeze(1)


class GibbsNet(nn.Module):
    """The three networks of notebook 06, part 2: ``net_E``, ``net_G``, ``net_D``."""

    def __init__(self, latent_dim: int = 32, hidden: int = 512):
        super().__init__()
        self.latent_dim = latent_dim
        self.net_E = Encoder(latent_dim, hidden)
        self.net_G = Decoder(latent_dim, hidden)
        self.net_D = JointDiscriminator(latent_dim, hidden)


def clamped_pair(model: GibbsNet, X: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The data's joint (eq. 4): (x, z) with x from the data and z ~ q(z | x)."""
    return X, model.net_E(X)


def unclamped_pair(
    model: GibbsNet, batch_size: int, num_steps: int, device: torch.device | str = "cpu"
) -> tuple[torch.Tensor, torch.Tensor]:
    """The model's joint (eq. 3): N steps of the unclamped chain from z_0 ~ N(0, I).

    Steps 1..N-1 run without gradients; the last step x_N = G(z_{N-1}) keeps them. Returns
    (x_N, z_{N-1}).
    """
    if not isinstance(num_steps, int) or num_steps < 1:
        raise ValueError(f"num_steps (unclamped chain length N) must be an integer >= 1, "
                         f"got {num_steps!r}")  # fmt: skip
    z = torch.randn(batch_size, model.latent_dim, device=device)
    with torch.no_grad():
        for _ in range(num_steps - 1):
            z = model.net_E(model.net_G(z))
    return model.net_G(z), z


def discriminator_loss(model: GibbsNet, X: torch.Tensor, num_steps: int) -> torch.Tensor:
    """Eq. 5 for D: BCE(D(clamped), 1) + BCE(D(unclamped), 0), with both pairs detached so
    no gradient reaches the encoder or the decoder."""
    with torch.no_grad():
        x_c, z_c = clamped_pair(model, X)
        x_u, z_u = unclamped_pair(model, len(X), num_steps, X.device)
    d_c, d_u = model.net_D(x_c, z_c), model.net_D(x_u, z_u)
    return bce(d_c, torch.ones_like(d_c)) + bce(d_u, torch.zeros_like(d_u))


def generator_loss(model: GibbsNet, X: torch.Tensor, num_steps: int) -> torch.Tensor:
    """Eq. 5 for G and E with swapped labels (non-saturating): BCE(D(clamped), 0) +
    BCE(D(unclamped), 1). Gradients reach E through z_c and G through x_N."""
    x_c, z_c = clamped_pair(model, X)
    x_u, z_u = unclamped_pair(model, len(X), num_steps, X.device)
    d_c, d_u = model.net_D(x_c, z_c), model.net_D(x_u, z_u)
    return bce(d_c, torch.zeros_like(d_c)) + bce(d_u, torch.ones_like(d_u))


def make_optimizers(
    model: GibbsNet,
    lr: float = 2e-4,
    betas=(0.5, 0.999),
    device="cpu",
    lr_GE: float | None = None,
) -> tuple[torch.optim.Optimizer, torch.optim.Optimizer]:
    """Two optimisers: ``opt_D`` over D only (learning rate ``lr``) and ``opt_GE`` over G and
    E only (``lr_GE``, default ``lr``)."""
    lr_GE = lr if lr_GE is None else lr_GE
    opt_D = adam(model.net_D.parameters(), lr, betas, device)
    opt_GE = adam([*model.net_G.parameters(), *model.net_E.parameters()], lr_GE, betas, device)
    return opt_D, opt_GE


def train_step(
    model: GibbsNet,
    X: torch.Tensor,
    opt_D: torch.optim.Optimizer,
    opt_GE: torch.optim.Optimizer,
    num_steps: int = 3,
) -> dict[str, torch.Tensor]:
    """One GibbsNet update in the correct order (notebook 06, part 2):

    1. ``opt_D.zero_grad()``; D loss on detached pairs; backward; ``opt_D.step()``.
    2. ``opt_GE.zero_grad()``; G/E loss through the updated D; backward; ``opt_GE.step()``.
       (This backward also leaves gradients on D's parameters; step 1 of the next update
       zeroes them before they are ever used.)
    """
    opt_D.zero_grad(set_to_none=True)
    loss_D = discriminator_loss(model, X, num_steps)
    loss_D.backward()
    opt_D.step()

    opt_GE.zero_grad(set_to_none=True)
    loss_G = generator_loss(model, X, num_steps)
    loss_G.backward()
    opt_GE.step()
    return {"loss_D": loss_D.detach(), "loss_G": loss_G.detach()}


def train_gibbsnet(
    X: torch.Tensor,
    num_steps: int,
    latent_dim: int = 32,
    hidden: int = 512,
    chain_steps: int = 3,
    batch_size: int = 64,
    lr: float = 2e-4,
    lr_GE: float = 1e-3,
    seed: int = 0,
    device: torch.device | str = "cpu",
    log_every: int = 50,
    progress: bool = True,
) -> tuple[GibbsNet, dict[str, list[float]]]:
    """Train GibbsNet on images X (N, 1, 28, 28) in [-1, 1] with N = ``chain_steps``
    unclamped steps during training (the paper uses 3). D learns at ``lr``, G and E at the
    larger ``lr_GE``: with equal rates (2e-4) the joint discriminator won outright on mnist5k
    (G/E loss climbing to ~8 while D's fell to ~0.5); 1e-3 for G/E kept the two balanced.
    Returns (model, history with ``loss_D`` and ``loss_G``)."""
    device = torch.device(device)
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    X = X.to(device)
    model = GibbsNet(latent_dim, hidden).to(device)
    opt_D, opt_GE = make_optimizers(model, lr, device=device, lr_GE=lr_GE)

    def step_fn(step: int) -> dict[str, torch.Tensor]:
        idx = torch.randint(0, len(X), (batch_size,), generator=gen).to(device)
        return train_step(model, X[idx], opt_D, opt_GE, chain_steps)

    history = train_loop(step_fn, num_steps, log_every=log_every, desc="GibbsNet",
                         progress=progress)  # fmt: skip
    return model, history


@torch.no_grad()
def sample(
    model: GibbsNet, n: int, num_steps: int, seed: int = 0, device: torch.device | str = "cpu"
) -> torch.Tensor:
    """Images x_N after N unclamped steps (eq. 3), (n, 1, 28, 28) in [-1, 1]; eval mode."""
    was_training = model.training
    model.eval()
    torch.manual_seed(seed)
    x, _ = unclamped_pair(model, n, num_steps, device)
    model.train(was_training)
    return x.cpu()


@torch.no_grad()
def samples_per_step(
    model: GibbsNet, n: int, max_steps: int = 10, seed: int = 0, device="cpu"
) -> dict[int, torch.Tensor]:
    """{N: x_N} for N = 1..max_steps along *one* set of chains (the same z_0 for every N)."""
    was_training = model.training
    model.eval()
    torch.manual_seed(seed)
    z = torch.randn(n, model.latent_dim, device=device)
    out = {}
    for step in range(1, max_steps + 1):
        x = model.net_G(z)
        out[step] = x.cpu()
        z = model.net_E(x)
    model.train(was_training)
    return out
