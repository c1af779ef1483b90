"""Wasserstein GANs: weight clipping and gradient penalty (notebook 08).

- Arjovsky, Chintala & Bottou 2017, "Wasserstein GAN" (WGAN): the critic f maximises
  E_x f(x) - E_z f(G(z)) over 1-Lipschitz functions (Kantorovich-Rubinstein duality, eq. 2),
  enforced by clipping every weight to [-c, c] (Algorithm 1, c = 0.01, RMSProp 5e-5).
- Gulrajani et al. 2017, "Improved training of Wasserstein GANs" (WGAN-GP): replace clipping
  by the penalty lambda E[(||grad f(x_hat)||_2 - 1)^2] at x_hat = eps x + (1 - eps) x_fake,
  eps ~ U[0, 1] (eq. 3, :func:`course_lib.losses.gradient_penalty`), lambda = 10,
  n_critic = 5, Adam lr 1e-4, betas (0, 0.9) (Algorithm 1; their image code uses (0.5, 0.9)).

The critic has no sigmoid (its output is a score, not a probability) and no BatchNorm (the
penalty is per sample; BatchNorm couples samples in a batch, so the gradient with respect to
one input is no longer that of a function of that input alone).

:func:`critic_step` is the one critic update of the course (clipping and/or penalty); the
generator's update is :func:`course_lib.gan.generator_step` with ``kind="wasserstein"``.
:func:`train_wgan` trains MLPs on digits; the 2-D toys train with
:func:`course_lib.toy_train.train_toy_gan` (methods ``wgan_clip`` and ``wgan_gp``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch
from torch import nn

from .config import check_choice, seeded
from .data import batches, training_data
from .gan import discriminator_step, generator_step, mlp, xavier_init
from .losses import generator_loss, gradient_penalty
from .noise import sample_latent
from .parallel import GLOBAL_RNG
from .train import (
    History,
    adam,
    autocast,
    cpu_threads,
    eval_mode,
    model_device,
    to_device,
    train_loop,
)

METHODS: tuple[str, ...] = ("vanilla", "wgan_clip", "wgan_gp")
DEFAULT_LR: dict[str, float] = {"vanilla": 2e-4, "wgan_clip": 5e-5, "wgan_gp": 1e-4}


# ---------------------------------------------------------------------------------------
# Section 1 of notebook 08: JS vs Wasserstein on disjoint supports (WGAN paper, Example 1)
# ---------------------------------------------------------------------------------------
def parallel_lines(thetas: torch.Tensor) -> dict[str, torch.Tensor]:
    """Distances between P_0 = (0, U[0, 1]) and P_theta = (theta, U[0, 1]) (WGAN, Example 1).

    The supports are disjoint for theta != 0, so JS(P_0, P_theta) = log 2 (flat: no gradient
    to follow), KL = inf, while W(P_0, P_theta) = |theta| (gradient sign(theta) everywhere).
    Returns ``js``, ``w1`` and ``kl`` tensors shaped like ``thetas`` (notebook 08).
    """
    thetas = torch.as_tensor(thetas, dtype=torch.float64)
    same = thetas == 0
    js = torch.where(same, 0.0, math.log(2)).to(thetas.dtype)
    kl = torch.where(same, 0.0, math.inf).to(thetas.dtype)
    return {"js": js, "w1": thetas.abs(), "kl": kl}


def optimal_d_gradient(theta: float, sharpness: float = 20.0) -> dict[str, float]:
    """|d loss_G / d theta| through a near-optimal sigmoid discriminator on P_0 vs P_theta.

    D(x) = sigmoid(s (theta/2 - x) sign(theta)) separates the two lines (it tends to D* as
    s -> inf). The minimax loss log(1 - D(G)) (the one whose optimum is JS) has gradient
    s D(theta) ~ s exp(-s |theta| / 2): it vanishes exponentially as the supports move apart.
    The critic f(x) = -x sign(theta) (1-Lipschitz, optimal for W) gives gradient 1 at every
    distance. Returns ``{"js": ..., "wasserstein": 1.0}`` (notebook 08).
    """
    t = torch.tensor(float(theta), dtype=torch.float64, requires_grad=True)
    sign = 1.0 if theta >= 0 else -1.0
    logit = sharpness * (theta / 2 - t) * sign  # D's logit at the generator's x = theta
    loss = -torch.nn.functional.softplus(logit)  # log(1 - D(G)) = -softplus(logit)
    (grad,) = torch.autograd.grad(loss, t)
    return {"js": float(grad.abs()), "wasserstein": 1.0}


# ---------------------------------------------------------------------------------------
# Networks
# ---------------------------------------------------------------------------------------
class MLPCritic(nn.Module):
    """WGAN critic x -> f(x) (B,): LeakyReLU(0.2) MLP, no sigmoid and no BatchNorm.

    ``in_features`` 2 for the toys, 784 for digits (inputs are flattened). Notebook 08.
    """

    def __init__(self, in_features: int = 784, hidden: int = 256, depth: int = 2):
        super().__init__()
        sizes = [in_features] + [hidden] * depth + [1]
        self.net = xavier_init(mlp(sizes, lambda: nn.LeakyReLU(0.2)))

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        return self.net(X.flatten(1)).squeeze(1)


class MLPGenerator(nn.Module):
    """Generator Z (B, latent_dim) -> samples ``out_shape``: ReLU MLP, Tanh for images
    (notebook 08's digits)."""

    def __init__(
        self, latent_dim: int = 64, hidden: int = 256, depth: int = 2, out_shape=(1, 28, 28),
        tanh: bool = True,
    ):  # fmt: skip
        super().__init__()
        self.latent_dim, self.out_shape = latent_dim, tuple(out_shape)
        sizes = [latent_dim] + [hidden] * depth + [math.prod(self.out_shape)]
        self.net = xavier_init(mlp(sizes, nn.ReLU, nn.Tanh() if tanh else None))

    def forward(self, Z: torch.Tensor) -> torch.Tensor:
        return self.net(Z).view(-1, *self.out_shape)


# ---------------------------------------------------------------------------------------
# The critic step (Gulrajani et al. 2017, Algorithm 1; Arjovsky et al. 2017, Algorithm 1)
# ---------------------------------------------------------------------------------------
def critic_step(
    X, Z, net_D, net_G, trainer_D, *, gp_weight: float = 10.0, clip: float | None = None,
    generator: torch.Generator | None = None, scale: float = 1.0,
) -> dict[str, torch.Tensor]:  # fmt: skip
    """One critic update (notebook 08): minimise E f(G(z)) - E f(x) + GP, then clip.

    ``gp_weight`` > 0 adds the gradient penalty (WGAN-GP, eq. 3); ``clip`` = c clamps every
    critic weight to [-c, c] after the step (WGAN); weight clipping uses ``gp_weight=0``.
    ``w_estimate`` = E f(x) - E f(G(z)) is the critic's estimate of the Wasserstein distance
    (up to the Lipschitz constant; exact for an optimal 1-Lipschitz critic). ``scale``
    multiplies the loss before ``backward``: an ensemble of S toy critics passes S, so each
    member gets exactly the gradient of its own loss (see :mod:`course_lib.toy_train`).
    """
    trainer_D.zero_grad(set_to_none=True)
    fake = net_G(Z).detach()
    w_est = net_D(X).mean() - net_D(fake).mean()
    loss_D = -w_est
    out = {"w_estimate": w_est.detach()}
    if gp_weight > 0:
        gp = gradient_penalty(net_D, X, fake, gp_weight, generator=generator)
        loss_D = loss_D + gp
        out["gp"] = gp.detach()
    (loss_D * scale).backward()
    trainer_D.step()
    if clip is not None:
        with torch.no_grad():
            for p in net_D.parameters():
                p.clamp_(-clip, clip)
    out["loss_D"] = loss_D.detach()
    return out


# ---------------------------------------------------------------------------------------
# Digits (notebook 08, section 6): MLPs on mnist5k, classifier-FID and W estimate
# ---------------------------------------------------------------------------------------
def eval_latents(seed: int, n: int = 500, latent_dim: int = 64,
                 device: torch.device | str | None = None) -> torch.Tensor:  # fmt: skip
    """The fixed latents (n, latent_dim) on which :func:`train_wgan` scores its generator
    (notebook 08 draws its digit grids from them): N(0, I) from a CPU generator seeded with
    ``seed + 1000``; the first rows do not depend on ``n``."""
    return sample_latent(n, latent_dim, "gaussian", torch.Generator().manual_seed(seed + 1000),
                         device)  # fmt: skip


def train_wgan(
    data: torch.Tensor | Iterable[torch.Tensor], num_steps: int, *, method: str = "wgan_gp",
    X_test: torch.Tensor | None = None, evals: int = 4, fid_samples: int = 500, seed: int = 0,
    batch_size: int = 64, hidden: int = 256, latent_dim: int = 64, lr: float | None = None,
    n_critic: int = 5, gp_weight: float = 10.0, clip: float = 0.01,
    betas: tuple[float, float] = (0.0, 0.9), device: torch.device | str | None = None,
    bf16: bool | None = None, threads: int | None = 1, progress: bool = True,
) -> tuple[tuple[nn.Module, nn.Module], History]:  # fmt: skip
    """Train an MLP generator and an MLP critic on digits with ``method`` (notebook 08).

    Args:
        data: training images (N, 1, 28, 28) in [-1, 1], e.g. ``load_images("mnist5k")[0]``
            (shuffled into batches of ``batch_size``), or an endless iterator of such batches.
        num_steps: generator steps; each follows ``n_critic`` critic steps (1 for vanilla).
        method: "vanilla" (non-saturating GAN, :func:`course_lib.gan.discriminator_step`,
            Adam betas (0.5, 0.999)), "wgan_clip" (RMSProp, weights clipped to [-clip, clip])
            or "wgan_gp" (Adam with ``betas``, penalty weight ``gp_weight``).
        X_test: held-out images; ``evals`` times during training (and at the end) the
            classifier-FID of ``fid_samples`` digits made from :func:`eval_latents` against
            ``X_test`` and the critic's W estimate E f(x) - E f(G(z)) on 500 held-out real
            and fake digits are measured.
        seed: initial weights (drawn inside :func:`course_lib.config.seeded`, so the caller's
            global RNG is untouched), batch order, latents and penalty points.
        lr: default 2e-4 vanilla, 5e-5 clipping (WGAN paper), 1e-4 WGAN-GP (its paper).
        device: default the device of ``data``; bf16: autocast, None = on CUDA only.

    Returns ``((net_G, net_D), history)``: the loss log (``loss_D``, ``loss_G``;
    ``w_estimate`` and ``gp`` for WGANs, ``D_real`` / ``D_fake`` for vanilla) and, with
    ``X_test``, the evaluation curve: ``score_step``, ``fid``, ``score_w_estimate`` and
    :func:`generator_signal`'s measures with the prefix ``score_`` (``score_diversity``,
    ``score_grad_norm``, ``score_grad_alignment``; for vanilla also ``score_D_acc_real`` and
    ``score_D_acc_fake``). The evaluation draws no random numbers: the trained weights are
    the same with or without it.
    """
    from .metrics import classifier_fid

    check_choice("method", method, METHODS)
    X, stream = training_data(data, "train_wgan", why="G ends in Tanh")
    lr = lr if lr is not None else DEFAULT_LR[method]
    device = torch.device(device) if device is not None else X.device
    g = torch.Generator().manual_seed(seed)
    with GLOBAL_RNG, seeded(seed):  # one build at a time when runs train side by side
        net_G = MLPGenerator(latent_dim, hidden, 2).to(device)
        net_D = MLPCritic(784, hidden, 2).to(device)
    if method == "wgan_clip":
        trainer_D = torch.optim.RMSprop(net_D.parameters(), lr=lr)
        trainer_G = torch.optim.RMSprop(net_G.parameters(), lr=lr)
    else:
        opt_betas = (0.5, 0.999) if method == "vanilla" else betas
        trainer_D = adam(net_D.parameters(), lr, opt_betas)
        trainer_G = adam(net_G.parameters(), lr, opt_betas)
    eval_Z = eval_latents(seed, max(fid_samples, 500), latent_dim, device)
    if stream is None:
        real = batches(X, batch_size, generator=g, device=device)
    else:
        real = (to_device(b, device) for b in stream)

    def next_real() -> torch.Tensor:
        try:
            return next(real)
        except StopIteration:
            raise ValueError(
                "train_wgan's data ran out of batches: pass the digits as a "
                "tensor or an endless iterator (course_lib.data.batches)"
            ) from None

    def latents(n: int) -> torch.Tensor:
        return sample_latent(n, latent_dim, "gaussian", g, device)

    def step_fn(step: int) -> dict[str, torch.Tensor]:
        with autocast(device, bf16):
            for _ in range(1 if method == "vanilla" else n_critic):
                X_real = next_real()
                if method == "vanilla":
                    out = discriminator_step(X_real, latents(len(X_real)), net_D, net_G, trainer_D)
                else:
                    out = critic_step(X_real, latents(len(X_real)), net_D, net_G, trainer_D,
                                      gp_weight=gp_weight if method == "wgan_gp" else 0.0,
                                      clip=clip if method == "wgan_clip" else None,
                                      generator=g)  # fmt: skip
            kind = "non_saturating" if method == "vanilla" else "wasserstein"
            return out | generator_step(latents(len(X_real)), net_D, net_G, trainer_G, kind=kind)

    history: History = {"step": []}
    X_eval = to_device(X_test[:500], device) if X_test is not None else None

    @torch.no_grad()
    def evaluate(step: int, _history=None) -> None:
        with eval_mode(net_G):
            fake = net_G(eval_Z)
        w = float(net_D(X_eval).mean() - net_D(fake[:500]).mean())
        history.setdefault("score_step", []).append(step)
        history.setdefault("fid", []).append(classifier_fid(fake[:fid_samples].cpu(), X_test))
        history.setdefault("score_w_estimate", []).append(w)
        kind = "non_saturating" if method == "vanilla" else "wasserstein"
        for k, v in generator_signal(net_D, fake[:500], X_eval, kind).items():
            history.setdefault(f"score_{k}", []).append(v)

    every = max(1, num_steps // max(1, evals)) if X_test is not None and evals > 0 else 0
    with cpu_threads(threads if device.type == "cpu" else None):
        train_loop(step_fn, num_steps, history=history, log_every=25,
                   callback=evaluate if every else None, callback_every=every,
                   desc=f"{method} on digits", progress=progress)  # fmt: skip
    return (net_G, net_D), history


# ---------------------------------------------------------------------------------------
# Diagnostics
# ---------------------------------------------------------------------------------------
def _device_of(net_D, x: torch.Tensor) -> torch.device:
    """The critic's device (a plain function, as in the tests' closed forms: ``x``'s)."""
    return model_device(net_D) if isinstance(net_D, nn.Module) else x.device


def interpolate_grad_norms(
    net_D: nn.Module, real: torch.Tensor, fake: torch.Tensor,
    generator: torch.Generator | None = None,
) -> torch.Tensor:  # fmt: skip
    """||grad f(x_hat)||_2 (N,) at the random interpolates of eq. 3 (the GP's target is 1;
    notebook 08's histograms).

    eps ~ U[0, 1] per sample is drawn on the CPU from ``generator`` (the same numbers on
    every device) and moved, with ``real`` and ``fake``, to the critic's device.
    """
    device = _device_of(net_D, real)
    real, fake = to_device(real, device), to_device(fake, device)
    eps = torch.rand((len(real),) + (1,) * (real.dim() - 1), generator=generator)
    eps = to_device(eps, real.device).to(real.dtype)
    x_hat = (eps * real + (1 - eps) * fake).detach().requires_grad_(True)
    with torch.enable_grad():
        (grad,) = torch.autograd.grad(net_D(x_hat).sum(), x_hat)
    return grad.flatten(1).norm(dim=1).detach()


def generator_signal(
    net_D: nn.Module, fake: torch.Tensor, real: torch.Tensor,
    kind: str = "wasserstein",
) -> dict[str, float]:  # fmt: skip
    """What G's loss tells G about ``fake`` (N >= 2 samples), and how varied ``fake`` is
    (notebook 08, section 6: why a vanilla GAN collapses on digits).

    - ``diversity``: mean pairwise L2 distance between the fakes over that between the
      ``real`` samples (about 1 for samples as varied as real digits, 0 when every sample is
      the same image).
    - ``grad_norm``: median over fakes of the norm of the gradient of that sample's own
      generator loss (``kind``, :func:`course_lib.losses.generator_loss`) with respect to
      the sample, the signal back-propagated into G.
    - ``grad_alignment``: mean cosine similarity of these per-sample gradients over all
      pairs of distinct fakes: 0 for unrelated directions, 1 when D pushes every fake the
      same way (then G's step moves all samples together, and nothing keeps them apart).
    - for ``kind`` "non_saturating" (a GAN discriminator with logits): ``D_acc_real`` and
      ``D_acc_fake``, the fractions of real and fake samples that D classifies correctly
      (logit > 0 means "real").
    """
    if len(fake) < 2 or len(real) < 2:
        raise ValueError(f"generator_signal needs >= 2 fake and real samples, got "
                         f"{len(fake)} and {len(real)}")  # fmt: skip
    device = _device_of(net_D, fake)
    fake, real = to_device(fake, device), to_device(real, device)
    x = fake.detach().clone().requires_grad_(True)
    with torch.enable_grad():
        logits = net_D(x).flatten()
        # the sum of per-sample losses: row i of the gradient is d loss_i / d x_i
        (grad,) = torch.autograd.grad(generator_loss(logits, kind) * len(x), x)
    g = grad.flatten(1).double()
    norms = g.norm(dim=1)
    u = g / norms.clamp_min(1e-30)[:, None]
    n = len(u)
    alignment = (u.sum(0).square().sum() - (norms > 0).sum()) / (n * (n - 1))

    def spread(v: torch.Tensor) -> float:
        v = v.detach().flatten(1).double()
        return float(torch.pdist(v).mean())

    out = {"diversity": spread(fake) / spread(real), "grad_norm": float(norms.median()),
           "grad_alignment": float(alignment)}  # fmt: skip
    if kind == "non_saturating":
        with torch.no_grad():
            out["D_acc_real"] = float((net_D(real).flatten() > 0).double().mean())
        out["D_acc_fake"] = float((logits.detach() < 0).double().mean())
    return out


def critic_weights(net_D: nn.Module) -> torch.Tensor:
    """All weight-matrix entries of the critic (biases excluded), flattened (notebook 08's
    histograms)."""
    return torch.cat([p.detach().flatten() for n, p in net_D.named_parameters() if "weight" in n])
