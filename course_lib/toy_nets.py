"""Ensemble MLPs for the 2-D toy GANs (notebooks 03 and 08): S seeds in one network.

Every network here is ``members`` independent copies of a small MLP (one per seed) stacked
along a leading dimension and run with batched matrix products (``torch.baddbmm``). Each
member has its own initial weights (from its own seed), so S seeds train at about the cost
of one on a CPU, which is what lets the notebooks average every number over >= 3 seeds.

Shapes: member-major (S, B, d), or the same rows flattened, (S * B, d) (member i owns rows
i * B to (i + 1) * B - 1). The flat form lets code written for one network (step functions,
:func:`course_lib.losses.gradient_penalty`, per-sample gradient norms) train an ensemble
unchanged; outputs keep the form of the input.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def _generators(seeds: list[int], salt: int) -> list[torch.Generator]:
    """One CPU generator per seed; ``salt`` separates the networks built for the same seeds."""
    return [torch.Generator().manual_seed(1000 * s + salt) for s in seeds]


class EnsembleLinear(nn.Module):
    """``len(generators)`` independent Linear layers: x (S, B, fan_in) -> (S, B, fan_out).

    Member ``i`` is initialised like ``nn.Linear`` (U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for
    weights and biases) from ``generators[i]``.
    """

    def __init__(self, fan_in: int, fan_out: int, generators: list[torch.Generator]):
        super().__init__()
        bound = 1 / math.sqrt(fan_in)
        w = [torch.rand(fan_in, fan_out, generator=g) * 2 - 1 for g in generators]
        b = [torch.rand(1, fan_out, generator=g) * 2 - 1 for g in generators]
        self.weight = nn.Parameter(torch.stack(w) * bound)  # (S, fan_in, fan_out)
        self.bias = nn.Parameter(torch.stack(b) * bound)  # (S, 1, fan_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.baddbmm(self.bias, x, self.weight)


class EnsembleBatchNorm(nn.Module):
    """BatchNorm1d for ensembles: h (S, B, H) normalised over B, separately per member.

    Training mode uses the batch statistics and updates running averages (momentum 0.1, as
    ``nn.BatchNorm1d``); eval mode uses the running averages. Affine scale 1, shift 0 at init.
    """

    def __init__(self, members: int, features: int, momentum: float = 0.1, eps: float = 1e-5):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(members, 1, features))
        self.bias = nn.Parameter(torch.zeros(members, 1, features))
        self.register_buffer("running_mean", torch.zeros(members, 1, features))
        self.register_buffer("running_var", torch.ones(members, 1, features))
        self.momentum, self.eps = momentum, eps

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        if self.training:
            mean, var = h.mean(dim=1, keepdim=True), h.var(dim=1, unbiased=False, keepdim=True)
            with torch.no_grad():
                n = h.shape[1]
                self.running_mean.lerp_(mean, self.momentum)
                self.running_var.lerp_(var * n / max(n - 1, 1), self.momentum)
        else:
            mean, var = self.running_mean, self.running_var
        return (h - mean) * torch.rsqrt(var + self.eps) * self.weight + self.bias


class _Ensemble(nn.Module):
    """Accept member-major (S, B, d) or flat (S * B, d) inputs; outputs keep the form."""

    members: int

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() == 3:
            return self.body(x)
        if x.dim() != 2 or len(x) % self.members:
            raise ValueError(f"expected (S, B, d) or (S * B, d) inputs with S = {self.members} "
                             f"members, got {tuple(x.shape)}")  # fmt: skip
        out = self.body(x.view(self.members, -1, x.shape[-1]))
        return out.reshape(-1) if out.dim() == 2 else out.reshape(-1, out.shape[-1])

    def body(self, x: torch.Tensor) -> torch.Tensor:  # pragma: no cover - subclasses
        raise NotImplementedError


class ToyGenerator(_Ensemble):
    """MLP generator z (S, B, latent_dim) -> x (S, B, 2): ``depth`` ReLU layers of ``hidden``.

    ``batchnorm`` puts :class:`EnsembleBatchNorm` before every ReLU (PacGAN's toy generator,
    Lin et al. 2018, appendix).
    """

    def __init__(self, seeds: list[int], latent_dim: int = 2, hidden: int = 128, depth: int = 3,
                 batchnorm: bool = False):  # fmt: skip
        super().__init__()
        gens = _generators(seeds, 1)
        sizes = [latent_dim] + [hidden] * depth + [2]
        self.layers = nn.ModuleList(
            EnsembleLinear(a, b, gens) for a, b in zip(sizes[:-1], sizes[1:])
        )
        self.norms = nn.ModuleList(
            EnsembleBatchNorm(len(seeds), hidden) for _ in range(depth if batchnorm else 0)
        )
        self.members, self.latent_dim = len(seeds), latent_dim

    def body(self, Z: torch.Tensor) -> torch.Tensor:
        h = Z
        for i, layer in enumerate(self.layers):
            h = layer(h)
            if i < len(self.layers) - 1:
                if self.norms:
                    h = self.norms[i](h)
                h = F.relu(h)
        return h


@torch.no_grad()
def precise_batchnorm(net: nn.Module, Z: torch.Tensor) -> None:
    """Set every :class:`EnsembleBatchNorm` of ``net`` to the exact statistics of ``net(Z)``.

    "Precise BN" (Wu & Johnson 2021, "Rethinking batch in BatchNorm", section 3): the running
    averages of the last few training batches are noisy, and on the toy sets that noise shifts
    every sample of a mode by a few sigma; one large batch (``Z``: (S, N, latent_dim), N in the
    thousands) fixes the population statistics before sampling in eval mode.
    """
    norms = [m for m in net.modules() if isinstance(m, EnsembleBatchNorm)]
    momenta = [m.momentum for m in norms]
    was_training = net.training
    net.train()
    for m in norms:
        m.momentum = 1.0
    net(Z)
    for m, momentum in zip(norms, momenta):
        m.momentum = momentum
    net.train(was_training)


def minibatch_stddev(h: torch.Tensor, group_size: int = 4) -> torch.Tensor:
    """Append the minibatch standard-deviation feature (Karras et al. 2018, section 3).

    h: (S, B, H). Samples are split into groups of ``group_size`` (B must be divisible);
    within a group, the std of each feature over the group is averaged over features, and
    that one number is appended to every sample of the group. Returns (S, B, H + 1).
    """
    S, B, H = h.shape
    if B % group_size:
        raise ValueError(f"batch size {B} must be divisible by group_size {group_size}")
    g = h.view(S, B // group_size, group_size, H)
    stat = g.var(dim=2, unbiased=False).add(1e-8).sqrt().mean(dim=2, keepdim=True)  # (S, G, 1)
    stat = stat.unsqueeze(2).expand(S, B // group_size, group_size, 1).reshape(S, B, 1)
    return torch.cat([h, stat], dim=2)


def pack_samples(x: torch.Tensor, pack: int) -> torch.Tensor:
    """PacGAN packing (Lin et al. 2018): x (S, B, d) -> (S, B // pack, pack * d).

    Consecutive samples are concatenated; B must be divisible by ``pack``. Real batches are
    packed with real, fake with fake, so D judges ``pack`` samples at once.
    """
    S, B, d = x.shape
    if B % pack:
        raise ValueError(f"batch size {B} must be divisible by pack {pack}")
    return x.reshape(S, B // pack, pack * d)


class ToyDiscriminator(_Ensemble):
    """MLP discriminator (or WGAN critic) x (S, B, 2) -> logits (S, B // pack).

    ``depth`` LeakyReLU(0.2) layers of ``hidden``. ``pack`` > 1 packs samples (PacGAN);
    ``stddev_group`` > 0 appends the minibatch-stddev feature after the first hidden layer.
    ``out_features`` > 1 gives (S, B // pack, out_features) logits (the Q network of the
    categorical latent); ``salt`` separates the initial weights of networks built for the
    same seeds.
    """

    def __init__(
        self, seeds: list[int], hidden: int = 128, depth: int = 3, pack: int = 1,
        stddev_group: int = 0, out_features: int = 1, salt: int = 2,
    ):  # fmt: skip
        super().__init__()
        gens = _generators(seeds, salt)
        self.members, self.pack, self.stddev_group = len(seeds), pack, stddev_group
        extra = 1 if stddev_group else 0
        sizes = [2 * pack, hidden] + [hidden] * (depth - 1) + [out_features]
        fan_in = [a + (extra if i == 1 else 0) for i, a in enumerate(sizes[:-1])]
        self.layers = nn.ModuleList(EnsembleLinear(a, b, gens) for a, b in zip(fan_in, sizes[1:]))

    def body(self, X: torch.Tensor) -> torch.Tensor:
        h = pack_samples(X, self.pack) if self.pack > 1 else X
        for i, layer in enumerate(self.layers):
            h = layer(h)
            if i < len(self.layers) - 1:
                h = F.leaky_relu(h, 0.2)
                if i == 0 and self.stddev_group:
                    h = minibatch_stddev(h, self.stddev_group)
        return h.squeeze(-1) if h.shape[-1] == 1 else h
