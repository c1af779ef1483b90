"""GibbsNet (Lamb, Hjelm, Ganin, Cohen, Courville & Bengio 2017, "GibbsNet: Iterative
Adversarial Inference for Deep Graphical Models", NeurIPS) -- notebook 06, section 6.

An encoder q(z|x), a decoder p(x|z) and a discriminator D(x, z) on joint pairs.

- unclamped chain (paper sec. 3, eq. 3): z_0 ~ N(0, I); x_n = G(z_{n-1}), z_n ~ q(z | x_n)
  for n = 1..N; the pair it hands to D is (x_N, z_{N-1}) -- "the model's joint".
- clamped chain (eq. 4): x ~ data, z ~ q(z | x) -- "the data's joint".
- adversarial loss (eq. 5, the ALI/BiGAN loss on the two joints): D labels clamped pairs 1
  and unclamped pairs 0; G and E are trained to swap the labels. As in the paper, gradients
  flow only through the last step of the unclamped chain.

Making it train in a few CPU minutes (notebook 06 shows the diagnosis, measured with
:func:`latent_diagnostics`): small DCGAN-style convolutional networks and a
joint discriminator with separate x and z branches and dropout, as in ALI; the chain length
N drawn uniformly from 1..``chain_steps`` for every update (``random_chain``: the N = 1
updates are ALI updates, the only ones whose model pairs carry z ~ N(0, I), so they tie the
marginal of q(z | x) to the prior the chain starts from; with a fixed N = 3 the encoder's
codes drifted to means of several hundred; notebook 06 draws N from 1..5, because with
1..3 the samples degraded along the chain after N = 3); and a floor on the encoder's
standard deviation (``min_std``: without it sigma(x) shrank to ~0.01, x -> G(E(x))
acquired attracting fixed points and the chain stopped moving); and ALICE's cycle term
(``cycle_weight``, :func:`cycle_loss`: one step from a real digit must return near it; with
eq. 5 alone the chains drifted from N = 2 on and, on some seeds, collapsed onto one or two
shapes, :func:`step_from_data` measures why). The one-hidden-layer MLP
variant with a fixed N = 3 that the notebook started from is experiments/latent/gibbsnet_mlp.py.

One update keeps two optimisers and a strict order (:func:`train_gibbsnet` runs it):
0. both chains once (:func:`joint_pairs`), keeping the graph through E (clamped) and the
   last G step (unclamped);
1. :func:`discriminator_step`: zero D's grads, D loss on the detached pairs, backward, step
   D only;
2. :func:`generator_step`: zero G/E grads, the same pairs through the *updated* D, backward,
   step G/E only.
A widely read implementation lets the G/E optimiser step on gradients left by the D loss
(it never zeroes them, or backpropagates the D loss into G/E): the two losses then push the
same parameters in opposite directions and blow up. tests/test_gibbsnet.py checks the order.
The losses are :func:`joint_discriminator_loss` and :func:`joint_generator_loss` (eq. 5 on
(x, z) pairs; ``course_lib.losses`` holds the image-only GAN losses).
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch
from torch import nn
from torch.nn.functional import binary_cross_entropy_with_logits as bce

from . import metrics
from .config import seeded
from .data import training_data
from .dcgan import DCGANGenerator, dcgan_init
from .train import (
    History,
    adam,
    autocast,
    eval_mode,
    model_device,
    prepare,
    to_device,
    train_loop,
)


class Encoder(nn.Module):
    """q(z | x) of notebook 06: Gaussian with a diagonal covariance; x (B, 1, 28, 28) in
    [-1, 1] -> z (B, d).

    Two stride-2 convolutions with ``hidden`` and 2 * ``hidden`` channels (28 -> 14 -> 7,
    LeakyReLU 0.2) and a linear layer to (mu, log sigma), DCGAN-style without BatchNorm (its
    batch statistics would differ between the clamped and unclamped chains). ``min_std``
    floors sigma (0: a floor of e^-5)."""

    def __init__(self, latent_dim: int = 16, hidden: int = 16, min_std: float = 0.0):
        super().__init__()
        self.min_log_std = math.log(min_std) if min_std > 0 else -5.0
        c = hidden
        self.net = nn.Sequential(
            nn.Conv2d(1, c, 4, 2, 1),  # 28 -> 14
            nn.LeakyReLU(0.2),
            nn.Conv2d(c, 2 * c, 4, 2, 1),  # 14 -> 7
            nn.LeakyReLU(0.2),
            nn.Flatten(),
            nn.Linear(2 * c * 49, 2 * latent_dim),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mu, log_std = self.net(x).chunk(2, dim=1)
        return mu + log_std.clamp(self.min_log_std, 2).exp() * torch.randn_like(mu)


class Decoder(nn.Module):
    """p(x | z) of notebook 06 as a deterministic map z (B, d) -> x (B, 1, 28, 28) in [-1, 1]
    (tanh): the DCGAN generator of notebook 02 (7x7 -> 14x14 -> 28x28 transposed
    convolutions, BatchNorm + ReLU) with ``hidden`` channels in its 14x14 layer."""

    def __init__(self, latent_dim: int = 16, hidden: int = 16):
        super().__init__()
        self.net = DCGANGenerator(latent_dim, hidden)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z).view(-1, 1, 28, 28)


class JointDiscriminator(nn.Module):
    """D(x, z) of notebook 06: one logit per (image, latent) pair (paper sec. 3), built like
    ALI's: an x branch (two stride-2 convolutions) and a z branch (one linear layer)
    processed separately, then a joint MLP on both features; dropout in every layer, as in
    ALI."""

    def __init__(self, latent_dim: int = 16, hidden: int = 16, dropout: float = 0.2):
        super().__init__()
        c = hidden
        self.x_net = nn.Sequential(
            nn.Conv2d(1, c, 4, 2, 1),  # 28 -> 14
            nn.LeakyReLU(0.2),
            nn.Conv2d(c, 2 * c, 4, 2, 1, bias=False),  # 14 -> 7
            nn.BatchNorm2d(2 * c),
            nn.LeakyReLU(0.2),
            nn.Dropout(dropout),
            nn.Flatten(),
        )
        x_features, width = 2 * c * 49, 8 * c
        self.z_net = nn.Sequential(
            nn.Linear(latent_dim, width), nn.LeakyReLU(0.2), nn.Dropout(dropout)
        )
        self.joint = nn.Sequential(
            nn.Linear(x_features + width, width),
            nn.LeakyReLU(0.2),
            nn.Dropout(dropout),
            nn.Linear(width, 1),
        )

    def forward(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        return self.joint(torch.cat([self.x_net(x), self.z_net(z)], dim=1)).squeeze(1)


class GibbsNet(nn.Module):
    """The three networks of notebook 06, section 6: ``net_E``, ``net_G``, ``net_D``, with
    DCGAN's N(0, 0.02) initialisation. ``hidden``: channels of the 14x14 layers."""

    def __init__(self, latent_dim: int = 16, hidden: int = 16, dropout: float = 0.2,
                 min_std: float = 0.3):  # fmt: skip
        super().__init__()
        self.latent_dim = latent_dim
        self.net_E = Encoder(latent_dim, hidden, min_std)
        self.net_G = Decoder(latent_dim, hidden)
        self.net_D = JointDiscriminator(latent_dim, hidden, dropout)
        dcgan_init(self)


def clamped_pair(model: GibbsNet, X: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The data's joint (eq. 4, notebook 06): (x, z) with x from the data and z ~ q(z | x)."""
    return X, model.net_E(X)


def unclamped_pair(
    model: GibbsNet, batch_size: int, chain_steps: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """The model's joint (eq. 3, notebook 06): N = ``chain_steps`` steps of the unclamped
    chain from z_0 ~ N(0, I), drawn on the model's device (its global RNG).

    Steps 1..N-1 run without gradients; the last step x_N = G(z_{N-1}) keeps them. Returns
    (x_N, z_{N-1}).
    """
    if not isinstance(chain_steps, int) or chain_steps < 1:
        raise ValueError(f"chain_steps (unclamped chain length N) must be an integer >= 1, "
                         f"got {chain_steps!r}")  # fmt: skip
    z = torch.randn(batch_size, model.latent_dim, device=model_device(model))
    with torch.no_grad():
        for _ in range(chain_steps - 1):
            z = model.net_E(model.net_G(z))
    return model.net_G(z), z


def joint_pairs(
    model: GibbsNet, X: torch.Tensor, chain_steps: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Both joints for one update (step 0 of notebook 06's update): (x_c, z_c) from the
    clamped chain (eq. 4) and (x_u, z_u) from N unclamped steps (eq. 3), with gradients
    through z_c = E(x) and x_u = G(z_{N-1})."""
    return (*clamped_pair(model, X), *unclamped_pair(model, len(X), chain_steps))


def joint_discriminator_loss(pairs, net_D: nn.Module) -> torch.Tensor:
    """Eq. 5 for D (notebook 06): BCE(D(clamped), 1) + BCE(D(unclamped), 0). The pairs
    (x_c, z_c, x_u, z_u) are detached, so no gradient reaches the encoder or the decoder."""
    x_c, z_c, x_u, z_u = (t.detach() for t in pairs)
    d_c, d_u = net_D(x_c, z_c), net_D(x_u, z_u)
    return bce(d_c, torch.ones_like(d_c)) + bce(d_u, torch.zeros_like(d_u))


def joint_generator_loss(pairs, net_D: nn.Module) -> torch.Tensor:
    """Eq. 5 for G and E with swapped labels (non-saturating, notebook 06): BCE(D(clamped),
    0) + BCE(D(unclamped), 1). Gradients reach E through z_c and G through x_N."""
    x_c, z_c, x_u, z_u = pairs
    d_c, d_u = net_D(x_c, z_c), net_D(x_u, z_u)
    return bce(d_c, torch.zeros_like(d_c)) + bce(d_u, torch.ones_like(d_u))


def make_trainers(
    model: GibbsNet, lr: float = 2e-4, lr_GE: float | None = None, betas=(0.5, 0.999)
) -> tuple[torch.optim.Optimizer, torch.optim.Optimizer]:
    """Two Adam optimisers on the model's device (notebook 06): ``trainer_D`` over D only
    (learning rate ``lr``) and ``trainer_GE`` over G and E only (``lr_GE``, default ``lr``)."""
    lr_GE = lr if lr_GE is None else lr_GE
    trainer_D = adam(model.net_D.parameters(), lr, betas)
    trainer_GE = adam([*model.net_G.parameters(), *model.net_E.parameters()], lr_GE, betas)
    return trainer_D, trainer_GE


def discriminator_step(
    pairs, net_D: nn.Module, trainer_D: torch.optim.Optimizer
) -> dict[str, torch.Tensor]:
    """Step 1 of a GibbsNet update (notebook 06): ``trainer_D.zero_grad()``; D's loss
    (:func:`joint_discriminator_loss`) on the *detached* pairs of :func:`joint_pairs`;
    backward; ``trainer_D.step()``. Only D moves."""
    trainer_D.zero_grad(set_to_none=True)
    loss_D = joint_discriminator_loss(pairs, net_D)
    loss_D.backward()
    trainer_D.step()
    return {"loss_D": loss_D.detach()}


def cycle_loss(net_G: nn.Module, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """ALICE's cycle consistency on real digits (Li et al. 2017, sec. 4; notebook 06):
    mean((G(z) - x)^2) for z ~ q(z | x), the clamped pair. It asks one Gibbs step from a
    real digit to return near that digit; nothing in eq. 5 does (measured by
    :func:`step_from_data`: on notebook 06's seed-0 runs one step keeps the classifier label
    of 91% of the test digits with the term and 42% without it)."""
    return (net_G(z) - x).pow(2).mean()


def generator_step(
    pairs, net_D: nn.Module, net_G: nn.Module | None, trainer_GE: torch.optim.Optimizer, *,
    cycle_weight: float = 0.0,
) -> dict[str, torch.Tensor]:  # fmt: skip
    """Step 2 of a GibbsNet update (notebook 06), after :func:`discriminator_step` on the
    same pairs: ``trainer_GE.zero_grad()``; G/E loss (:func:`joint_generator_loss`) through
    the *updated* D, plus ``cycle_weight`` x :func:`cycle_loss` of the clamped pair (which
    needs ``net_G``; without a cycle term it may be None); backward; ``trainer_GE.step()``.
    Only G and E move. (The backward also leaves gradients on D's parameters; the next
    discriminator step zeroes them before they are ever used.) Returns ``loss_G`` (eq. 5's
    part) and, with a cycle term, ``cycle``."""
    if cycle_weight < 0 or not math.isfinite(cycle_weight):
        raise ValueError(f"cycle_weight must be a finite number >= 0, got {cycle_weight!r}")
    if cycle_weight and net_G is None:
        raise ValueError("a cycle term (cycle_weight > 0) needs net_G")
    trainer_GE.zero_grad(set_to_none=True)
    loss_G = joint_generator_loss(pairs, net_D)
    out = {"loss_G": loss_G.detach()}
    if cycle_weight:
        cycle = cycle_loss(net_G, pairs[0], pairs[1])
        loss_G = loss_G + cycle_weight * cycle
        out["cycle"] = cycle.detach()
    loss_G.backward()
    trainer_GE.step()
    return out


def train_gibbsnet(
    data: torch.Tensor | Iterable[torch.Tensor],
    num_steps: int,
    *,
    latent_dim: int = 16,
    hidden: int = 16,
    chain_steps: int = 5,
    random_chain: bool = True,
    min_std: float = 0.3,
    cycle_weight: float = 1.0,
    dropout: float = 0.2,
    batch_size: int = 64,
    lr: float = 1e-3,
    lr_GE: float | None = 1e-3,
    seed: int = 0,
    device: torch.device | str | None = None,
    bf16: bool | None = None,
    log_every: int = 50,
    progress: bool = True,
) -> tuple[GibbsNet, History]:
    """Train GibbsNet with Adam (betas 0.5, 0.999) (notebook 06): every update runs
    :func:`joint_pairs`, then :func:`discriminator_step`, then :func:`generator_step`.

    data: images (N, 1, 28, 28) in [-1, 1], drawn in batches of ``batch_size`` (with
    replacement), or an endless iterator of such batches (the first one is checked).
    Each update runs ``chain_steps`` unclamped steps (the paper uses 3), or, with
    ``random_chain``, a length drawn uniformly from 1..``chain_steps`` for that update
    (notebook 06: 1..5; on seed 0 the chain then stays near digits beyond N = 3, where with
    1..3 its classifier-FID rose from about 160 at N = 1 to 580 at N = 3; other seeds drift
    sooner).
    D learns at ``lr``, G and E at ``lr_GE`` (None: ``lr``; notebook 06 uses 1e-3 for all
    three, chosen with the cycle term on seeds 0-2; without the cycle term, 5e-4 for G/E
    against 2e-4 for D kept D from winning outright early, see experiments/rbm_gibbsnet).
    ``min_std`` floors the encoder's standard deviation. ``cycle_weight`` weighs
    :func:`cycle_loss` in G/E's loss (notebook 06: 1.0, chosen on seeds 0-2; 0 is the
    paper's loss, whose chains drift and collapse onto a few shapes). ``seed`` seeds
    everything (the caller's global RNG is left as it was); ``device`` defaults to the
    data's, ``bf16`` autocast to CUDA only. Returns (model, history with ``loss_D``,
    ``loss_G``, ``chain``, the mean chain length, and with a cycle term ``cycle``)."""
    if not isinstance(chain_steps, int) or chain_steps < 1:
        raise ValueError(f"chain_steps must be an integer >= 1, got {chain_steps!r}")
    if cycle_weight < 0 or not math.isfinite(cycle_weight):
        raise ValueError(f"cycle_weight must be a finite number >= 0, got {cycle_weight!r}")
    data, rest = training_data(data, "train_gibbsnet", why="the decoder ends in tanh")
    device = torch.device(device) if device is not None else data.device
    X = data.to(device)
    with seeded(seed) as gen:  # the global RNG (nets, chains, dropout) and gen (batches, N)
        model = prepare(GibbsNet(latent_dim, hidden, dropout, min_std), device, conv=True)
        trainer_D, trainer_GE = make_trainers(model, lr, lr_GE)

        def step_fn(step: int) -> dict[str, torch.Tensor]:
            if rest is None:
                idx = torch.randint(0, len(X), (batch_size,), generator=gen)  # CPU generator
                batch = X[to_device(idx, device)]
            else:
                batch = to_device(next(rest), device)
            n = chain_steps
            if random_chain:
                n = int(torch.randint(1, chain_steps + 1, (1,), generator=gen))
            with autocast(device, bf16):
                pairs = joint_pairs(model, batch, n)
                out_D = discriminator_step(pairs, model.net_D, trainer_D)  # D first, then
                out_G = generator_step(pairs, model.net_D, model.net_G,  # G, E through new D
                                       trainer_GE, cycle_weight=cycle_weight)  # fmt: skip
            return {**out_D, **out_G, "chain": float(n)}

        history = train_loop(step_fn, num_steps, log_every=log_every, desc="GibbsNet",
                             progress=progress)  # fmt: skip
    return model, history


# ---------------------------------------------------------------------------------------
# Sampling and diagnostics (eval mode, on the model's device, seeded without side effects)
# ---------------------------------------------------------------------------------------
@torch.no_grad()
def sample(model: GibbsNet, n: int, chain_steps: int, seed: int = 0) -> torch.Tensor:
    """Images x_N after N = ``chain_steps`` unclamped steps (eq. 3, notebook 06),
    (n, 1, 28, 28) in [-1, 1] on the model's device."""
    with eval_mode(model), seeded(seed):
        x, _ = unclamped_pair(model, n, chain_steps)
    return x


@torch.no_grad()
def samples_per_step(
    model: GibbsNet, n: int, max_steps: int = 10, seed: int = 0
) -> dict[int, torch.Tensor]:
    """{N: x_N} for N = 1..max_steps along *one* set of chains (the same z_0 for every N),
    each (n, 1, 28, 28) in [-1, 1] on the model's device (notebook 06)."""
    out = {}
    with eval_mode(model), seeded(seed):
        z = torch.randn(n, model.latent_dim, device=model_device(model))
        for step in range(1, max_steps + 1):
            x = model.net_G(z)
            out[step] = x
            z = model.net_E(x)
    return out


@torch.no_grad()
def latent_diagnostics(model: GibbsNet, X: torch.Tensor, max_steps: int = 10, seed: int = 0):
    """Numbers that tell a working GibbsNet from a stuck one (eval mode; notebook 06):

    - ``sigma``: mean encoder standard deviation of q(z | x) on the data X;
    - ``mu_spread``: standard deviation of the encoder mean across X, averaged over the
      latent dimensions (about 0: the encoder ignores x);
    - ``z_mean``, ``z_std``: mean |mean| and mean standard deviation of z ~ q(z | x) over X
      (the prior N(0, I) has 0 and 1);
    - ``chain_move``: mean absolute pixel change x_N - x_{N-1} at N = ``max_steps`` (about 0:
      the unclamped chain has stopped at fixed points).
    """
    with eval_mode(model):
        with seeded(seed):
            mu, log_std = model.net_E.net(X.to(model_device(model))).chunk(2, dim=1)
            sigma = log_std.clamp(model.net_E.min_log_std, 2).exp()
            z = mu + sigma * torch.randn_like(mu)
        chain = samples_per_step(model, len(X), max_steps, seed)
    return {
        "sigma": float(sigma.mean()),
        "mu_spread": float(mu.std(0).mean()),
        "z_mean": float(z.mean(0).abs().mean()),
        "z_std": float(z.std(0).mean()),
        "chain_move": float((chain[max_steps] - chain[max_steps - 1]).abs().mean()),
    }


@torch.no_grad()
def step_from_data(model: GibbsNet, X: torch.Tensor, seed: int = 0) -> dict[str, float]:
    """One step of the unclamped chain started *at* real digits X (eval mode; notebook 06):
    x -> G(z), z ~ q(z | x). If the chain kept the data distribution, this step would keep
    each digit's class most of the time and the class mix always. Returns ``keeps_digit``
    (share of X whose course-classifier label the step keeps), ``classes`` (effective
    number of digits after the step, :func:`course_lib.metrics.effective_classes`) and
    ``pixel_change`` (mean |G(z) - x|, pixels in [-1, 1])."""
    with eval_mode(model), seeded(seed):
        X = X.to(model_device(model))
        x1 = model.net_G(model.net_E(X))
    before, after = metrics.classifier_probs(X).argmax(1), metrics.classifier_probs(x1).argmax(1)
    return {"keeps_digit": float((before == after).float().mean()),
            "classes": metrics.effective_classes(x1),
            "pixel_change": float((x1 - X).abs().mean())}  # fmt: skip
