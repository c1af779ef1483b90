"""GAN losses written on logits (numerically stable), and the WGAN-GP gradient penalty.

With D(x) = sigmoid(l(x)) and the value function (Goodfellow et al. 2014, eq. 1)

    V(D, G) = E_x[log D(x)] + E_z[log(1 - D(G(z)))],

- the discriminator maximises V, i.e. minimises BCE(l(x), 1) + BCE(l(G(z)), 0);
- the *saturating* (minimax) generator minimises log(1 - D(G(z))) = -softplus(l);
- the *non-saturating* generator minimises -log D(G(z)) = softplus(-l) (same fixed point,
  strong gradients when D rejects the fakes; paper section 3).
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F

from .config import check_choice
from .train import to_device

GeneratorLoss = Literal["saturating", "non_saturating", "wasserstein"]
GENERATOR_LOSSES: tuple[str, ...] = ("saturating", "non_saturating", "wasserstein")


def discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """-V(D, G) estimated on a batch: -mean log D(x) - mean log(1 - D(G(z)))."""
    return F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()


def generator_loss(
    fake_logits: torch.Tensor, kind: GeneratorLoss = "non_saturating"
) -> torch.Tensor:
    """Generator loss on the discriminator's outputs for fakes.

    saturating: mean log(1 - D(G(z))) = -mean softplus(l); gradient wrt l is -D, which
    vanishes when D(G(z)) -> 0 (early training). non_saturating: -mean log D(G(z)) =
    mean softplus(-l); gradient wrt l is D - 1, close to -1 exactly when G is losing.
    wasserstein: -mean f(G(z)) for a WGAN critic f, whose outputs are scores, not logits
    (Arjovsky et al. 2017, Algorithm 1; notebook 08).
    """
    check_choice("generator loss", kind, GENERATOR_LOSSES)
    if kind == "saturating":
        return -F.softplus(fake_logits).mean()
    if kind == "non_saturating":
        return F.softplus(-fake_logits).mean()
    return -fake_logits.mean()


def gradient_penalty(
    critic: torch.nn.Module,
    real: torch.Tensor,
    fake: torch.Tensor,
    weight: float = 10.0,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """WGAN-GP penalty (Gulrajani et al. 2017, eq. 3): weight * E[(||grad D(x_hat)||_2 - 1)^2]
    at x_hat = eps x + (1 - eps) x_fake, eps ~ U[0, 1] per sample (notebooks 03 and 08).

    ``create_graph=True`` so the penalty itself can be backpropagated into the critic.
    """
    if real.shape != fake.shape:
        raise ValueError(f"real {tuple(real.shape)} and fake {tuple(fake.shape)} must match")
    eps_shape = (real.shape[0],) + (1,) * (real.dim() - 1)
    eps = to_device(torch.rand(eps_shape, generator=generator), real.device).to(real.dtype)
    x_hat = (eps * real.detach() + (1 - eps) * fake.detach()).requires_grad_(True)
    out = critic(x_hat)
    (grad,) = torch.autograd.grad(out.sum(), x_hat, create_graph=True)
    norm = grad.flatten(1).norm(2, dim=1)
    return weight * (norm - 1).pow(2).mean()
