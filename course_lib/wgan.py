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

Shapes: any ``net_G`` mapping Z (B, latent_dim) to samples and any ``net_D`` mapping samples
to scores (B,) work: MLPs on 2-D toys (B, 2) or on digits (B, 1, 28, 28) in [-1, 1].
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import nn

from .data import sample_batches, toy_distribution
from .gan import discriminator_step, generator_step, mlp, xavier_init
from .losses import gradient_penalty
from .metrics import mode_coverage
from .noise import sample_latent
from .train import adam, cpu_threads, train_loop

METHODS: tuple[str, ...] = ("vanilla", "wgan_clip", "wgan_gp")


def check_method(method: str) -> str:
    """Return ``method`` if known, else raise a ValueError listing the allowed values."""
    if method not in METHODS:
        raise ValueError(f"Unknown method {method!r}. Allowed values: {', '.join(METHODS)}")
    return method


# ---------------------------------------------------------------------------------------
# Section 1 of notebook 08: JS vs Wasserstein on disjoint supports (WGAN paper, Example 1)
# ---------------------------------------------------------------------------------------
def parallel_lines(thetas: torch.Tensor) -> dict[str, torch.Tensor]:
    """Distances between P_0 = (0, U[0, 1]) and P_theta = (theta, U[0, 1]) (WGAN, Example 1).

    The supports are disjoint for theta != 0, so JS(P_0, P_theta) = log 2 (flat: no gradient
    to follow), KL = inf, while W(P_0, P_theta) = |theta| (gradient sign(theta) everywhere).
    Returns ``js``, ``w1`` and ``kl`` tensors shaped like ``thetas``.
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
    distance. Returns ``{"js": ..., "wasserstein": 1.0}``.
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

    ``in_features`` 2 for the toys, 784 for digits (inputs are flattened).
    """

    def __init__(self, in_features: int = 784, hidden: int = 256, depth: int = 2):
        super().__init__()
        sizes = [in_features] + [hidden] * depth + [1]
        self.net = xavier_init(mlp(sizes, lambda: nn.LeakyReLU(0.2)))

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        return self.net(X.flatten(1)).squeeze(1)


class MLPGenerator(nn.Module):
    """Generator Z (B, latent_dim) -> samples ``out_shape``: ReLU MLP, Tanh for images."""

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
# Step functions (Gulrajani et al. 2017, Algorithm 1; Arjovsky et al. 2017, Algorithm 1)
# ---------------------------------------------------------------------------------------
def critic_step(
    X, Z, net_D, net_G, trainer_D, *, method: str = "wgan_gp", gp_weight: float = 10.0,
    clip: float = 0.01, generator: torch.Generator | None = None,
) -> dict[str, torch.Tensor]:  # fmt: skip
    """One critic update (notebook 08): minimise E f(G(z)) - E f(x) [+ GP], or clip after.

    ``w_estimate`` = E f(x) - E f(G(z)) is the critic's estimate of the Wasserstein distance
    (up to the Lipschitz constant; exact for an optimal 1-Lipschitz critic).
    """
    trainer_D.zero_grad(set_to_none=True)
    fake = net_G(Z).detach()
    w_est = net_D(X).mean() - net_D(fake).mean()
    loss_D = -w_est
    out = {"w_estimate": w_est.detach()}
    if method == "wgan_gp":
        gp = gradient_penalty(net_D, X, fake, gp_weight, generator=generator)
        loss_D = loss_D + gp
        out["gp"] = gp.detach()
    loss_D.backward()
    trainer_D.step()
    if method == "wgan_clip":
        with torch.no_grad():
            for p in net_D.parameters():
                p.clamp_(-clip, clip)
    out["loss_D"] = loss_D.detach()
    return out


def wgan_generator_step(Z, net_D, net_G, trainer_G) -> dict[str, torch.Tensor]:
    """One generator update: minimise -E f(G(z)) (notebook 08)."""
    trainer_G.zero_grad(set_to_none=True)
    loss_G = -net_D(net_G(Z)).mean()
    loss_G.backward()
    trainer_G.step()
    return {"loss_G": loss_G.detach()}


@dataclass(frozen=True)
class WGANConfig:
    """Hyper-parameters of one run of :func:`train_wgan` (defaults: the WGAN-GP paper's)."""

    method: str = "wgan_gp"  # vanilla | wgan_clip | wgan_gp
    n_critic: int = 5  # critic steps per generator step (1 for vanilla)
    gp_weight: float = 10.0  # lambda of eq. 3
    clip: float = 0.01  # weight-clipping bound c (WGAN)
    lr: float = 1e-4  # Adam learning rate (RMSProp for wgan_clip, as in the WGAN paper)
    betas: tuple[float, float] = (0.0, 0.9)  # Adam betas (vanilla uses (0.5, 0.999))
    latent_dim: int = 64
    latent_kind: str = "gaussian"


def train_wgan(
    net_G: nn.Module,
    net_D: nn.Module,
    real_batches,
    num_steps: int,
    cfg: WGANConfig = WGANConfig(),
    *,
    generator: torch.Generator | None = None,
    callback: Callable | None = None,
    callback_every: int = 0,
    log_every: int = 25,
    desc: str = "WGAN",
    progress: bool = True,
    threads: int | None = None,
) -> dict[str, list[float]]:
    """Train G and a critic with ``cfg.method`` for ``num_steps`` generator steps (nb 08).

    vanilla: :func:`course_lib.gan.discriminator_step` / ``generator_step`` (non-saturating,
    Adam betas (0.5, 0.999)); wgan_clip: RMSProp, clip weights to [-c, c] after each critic
    step; wgan_gp: Adam with ``cfg.betas`` and the gradient penalty. History keys: loss_D,
    loss_G, and for WGANs w_estimate (and gp).
    """
    check_method(cfg.method)
    device = next(net_D.parameters()).device
    if cfg.method == "wgan_clip":
        trainer_D = torch.optim.RMSprop(net_D.parameters(), lr=cfg.lr)
        trainer_G = torch.optim.RMSprop(net_G.parameters(), lr=cfg.lr)
    else:
        betas = (0.5, 0.999) if cfg.method == "vanilla" else cfg.betas
        trainer_D = adam(net_D.parameters(), cfg.lr, betas, device)
        trainer_G = adam(net_G.parameters(), cfg.lr, betas, device)
    n_critic = 1 if cfg.method == "vanilla" else cfg.n_critic

    def latents(n: int) -> torch.Tensor:
        return sample_latent(n, cfg.latent_dim, cfg.latent_kind, generator, device)

    def step_fn(step: int) -> dict[str, torch.Tensor]:
        for _ in range(n_critic):
            X = next(real_batches)
            if cfg.method == "vanilla":
                out = discriminator_step(X, latents(len(X)), net_D, net_G, trainer_D)
            else:
                out = critic_step(X, latents(len(X)), net_D, net_G, trainer_D,
                                  method=cfg.method, gp_weight=cfg.gp_weight, clip=cfg.clip,
                                  generator=generator)  # fmt: skip
        if cfg.method == "vanilla":
            out |= generator_step(latents(len(X)), net_D, net_G, trainer_G)
        else:
            out |= wgan_generator_step(latents(len(X)), net_D, net_G, trainer_G)
        return out

    with cpu_threads(threads if device.type == "cpu" else None):
        return train_loop(step_fn, num_steps, log_every=log_every, callback=callback,
                          callback_every=callback_every, desc=desc, progress=progress)  # fmt: skip


# ---------------------------------------------------------------------------------------
# Diagnostics
# ---------------------------------------------------------------------------------------
def interpolate_grad_norms(
    net_D: nn.Module, real: torch.Tensor, fake: torch.Tensor,
    generator: torch.Generator | None = None,
) -> torch.Tensor:  # fmt: skip
    """||grad f(x_hat)||_2 (N,) at the random interpolates of eq. 3 (the GP's target is 1)."""
    eps = torch.rand((len(real),) + (1,) * (real.dim() - 1), generator=generator)
    x_hat = (eps * real + (1 - eps) * fake).detach().requires_grad_(True)
    (grad,) = torch.autograd.grad(net_D(x_hat).sum(), x_hat)
    return grad.flatten(1).norm(dim=1).detach()


def critic_weights(net_D: nn.Module) -> torch.Tensor:
    """All weight-matrix entries of the critic (biases excluded), flattened (histograms)."""
    return torch.cat([p.detach().flatten() for n, p in net_D.named_parameters() if "weight" in n])


@torch.no_grad()
def critic_surface(net_D: nn.Module, lim: float, n: int = 80) -> dict[str, torch.Tensor]:
    """Critic values on an n x n grid over [-lim, lim]^2: ``xx``, ``yy``, ``f`` (n, n)."""
    g = torch.linspace(-lim, lim, n)
    xx, yy = torch.meshgrid(g, g, indexing="xy")
    f = net_D(torch.stack([xx.flatten(), yy.flatten()], 1)).view(n, n)
    return {"xx": xx, "yy": yy, "f": f}


# ---------------------------------------------------------------------------------------
# Toy comparison (notebook 08, section 5; compare notebook 03)
# ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ToyWGANConfig:
    """One toy run: ``method`` on ``data`` with MLPs of ``depth`` x ``hidden`` (G and D)."""

    data: str = "grid25"  # ring8 | grid25
    num_steps: int = 1000  # generator steps
    batch_size: int = 256
    hidden: int = 64
    depth: int = 3
    latent_dim: int = 2
    eval_samples: int = 2500  # PacGAN / VEEGAN protocol
    snapshots: int = 4  # critic surfaces and samples kept during training
    lr: dict = field(default_factory=lambda: {"vanilla": 1e-3, "wgan_clip": 5e-4,
                                              "wgan_gp": 1e-3})  # fmt: skip
    n_critic: int = 5
    gp_weight: float = 10.0
    clip: float = 0.01
    betas: tuple[float, float] = (0.5, 0.9)


class FlatEnsemble(nn.Module):
    """Run an ensemble net of notebook 03 (:mod:`course_lib.mode_collapse`, shapes (S, B, d))
    on flat member-major batches (S * B, d): every step function here then trains S
    independent seeds at once, each member seeing its own B rows."""

    def __init__(self, net: nn.Module, members: int):
        super().__init__()
        self.net, self.members = net, members

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.net(x.reshape(self.members, -1, x.shape[-1]))
        return out.reshape(-1) if out.dim() == 2 else out.reshape(-1, out.shape[-1])


def train_toy(
    method: str, seeds: tuple[int, ...] = (0, 1, 2), cfg: ToyWGANConfig = ToyWGANConfig(),
    progress: bool = True, **overrides,
) -> dict:  # fmt: skip
    """Train ``len(seeds)`` independent toy GANs/WGANs at once (one CPU thread), notebook 08.

    G and D are notebook 03's ensemble MLPs (:class:`course_lib.mode_collapse.ToyGenerator`,
    ``ToyDiscriminator``), so architectures match that notebook. ``overrides`` change
    :class:`WGANConfig` fields (``gp_weight``, ``n_critic``) for a sweep. Losses are means
    over all members' samples (each member's gradient is scaled by 1/S, which Adam and
    RMSProp ignore). Returns ``coverage`` (one mode_coverage dict per seed), ``samples``
    (S, eval_samples, 2), ``history``, ``snapshots`` {step: {"samples", "surface"}} for the
    first seed, ``net_G``, ``net_D`` (flat wrappers), ``lim``.
    """
    from .mode_collapse import ToyDiscriminator, ToyGenerator

    check_method(method)
    dist = toy_distribution(cfg.data)
    lim = float(dist.means.abs().max()) * 1.3 + 0.3
    S, seeds = len(seeds), list(seeds)
    torch.manual_seed(seeds[0])
    g = torch.Generator().manual_seed(seeds[0])
    net_G = FlatEnsemble(ToyGenerator(seeds, cfg.latent_dim, cfg.hidden, cfg.depth), S)
    net_D = FlatEnsemble(ToyDiscriminator(seeds, cfg.hidden, cfg.depth), S)
    wcfg = WGANConfig(method=method, n_critic=cfg.n_critic, gp_weight=cfg.gp_weight,
                      clip=cfg.clip, lr=cfg.lr[method], betas=cfg.betas,
                      latent_dim=cfg.latent_dim)  # fmt: skip
    wcfg = WGANConfig(**(wcfg.__dict__ | overrides))
    eval_Z = sample_latent(S * cfg.eval_samples, cfg.latent_dim, "gaussian",
                           torch.Generator().manual_seed(12345))  # fmt: skip
    snapshots: dict[int, dict] = {}

    @torch.no_grad()
    def keep(step: int, _history=None) -> None:
        x = net_G(eval_Z).view(S, -1, 2)[0, :500].clone()
        gx = torch.linspace(-lim, lim, 60)
        xx, yy = torch.meshgrid(gx, gx, indexing="xy")
        grid = torch.stack([xx.flatten(), yy.flatten()], 1)
        f = net_D(grid.repeat(S, 1)).view(S, -1)[0].view(60, 60)
        snapshots[step] = {"samples": x, "surface": {"xx": xx, "yy": yy, "f": f}}

    keep(0)
    every = max(1, cfg.num_steps // max(1, cfg.snapshots))
    history = train_wgan(
        net_G, net_D, sample_batches(dist, S * cfg.batch_size, g), cfg.num_steps, wcfg,
        generator=g, callback=keep, callback_every=every, log_every=50,
        desc=f"{method} on {cfg.data}", progress=progress, threads=1,
    )  # fmt: skip
    with torch.no_grad():
        samples = net_G(eval_Z).view(S, -1, 2)
    return {"coverage": [mode_coverage(x, cfg.data) for x in samples], "samples": samples,
            "lim": lim, "history": history, "snapshots": snapshots, "net_G": net_G,
            "net_D": net_D, "method": method, "seeds": seeds, "config": wcfg}  # fmt: skip


def compare_toy(
    seeds: tuple[int, ...], cfg: ToyWGANConfig = ToyWGANConfig(),
    methods: tuple[str, ...] = METHODS, progress: bool = True,
) -> dict[str, list[dict]]:  # fmt: skip
    """{method: train_toy result (all seeds)} for notebook 08's comparison table."""
    return {m: train_toy(m, seeds, cfg, progress) for m in methods}


def summarise(run: dict) -> dict[str, float]:
    """Mean and min/max over seeds of modes and high_quality (and mean reverse_kl)."""
    cov = run["coverage"]
    modes = [c["modes"] for c in cov]
    hq = [c["high_quality"] for c in cov]
    kl = [c["reverse_kl"] for c in cov]
    return {"modes": sum(modes) / len(modes), "modes_min": min(modes), "modes_max": max(modes),
            "high_quality": sum(hq) / len(hq), "hq_min": min(hq), "hq_max": max(hq),
            "reverse_kl": sum(kl) / len(kl), "seeds": len(cov)}  # fmt: skip


# ---------------------------------------------------------------------------------------
# Digits (notebook 08, section 6): classifier-FID and the critic's W estimate over training
# ---------------------------------------------------------------------------------------
def train_mnist(
    method: str, num_steps: int, *, seed: int = 0, batch_size: int = 64, hidden: int = 256,
    latent_dim: int = 64, lr: float | None = None, n_critic: int = 5, gp_weight: float = 10.0,
    betas: tuple[float, float] = (0.0, 0.9), evals: int = 4, fid_samples: int = 500,
    device: torch.device | str = "cpu", threads: int | None = 1, progress: bool = True,
) -> dict:  # fmt: skip
    """Train an MLP G and MLP critic on mnist5k with ``method`` (notebook 08 and its bench).

    ``evals`` times during training (and at the end) the classifier-FID of ``fid_samples``
    digits against the mnist5k test split is measured together with the critic's Wasserstein
    estimate E f(x) - E f(G(z)) on 500 held-out real and fake digits. Default lr: 1e-4 for
    WGAN-GP (the paper), 5e-5 for clipping (WGAN paper), 2e-4 for vanilla.
    Returns ``history``, ``curve`` (list of dicts step/fid/w_estimate), ``fid`` (final),
    ``net_G``, ``net_D``, ``config``.
    """
    from .data import batches, load_images
    from .metrics import classifier_fid

    check_method(method)
    lr = lr if lr is not None else {"vanilla": 2e-4, "wgan_clip": 5e-5, "wgan_gp": 1e-4}[method]
    device = torch.device(device)
    X, _ = load_images("mnist5k", "train")
    X_test, _ = load_images("mnist5k", "test")
    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed)
    net_G = MLPGenerator(latent_dim, hidden, 2).to(device)
    net_D = MLPCritic(784, hidden, 2).to(device)
    cfg = WGANConfig(method=method, n_critic=n_critic, gp_weight=gp_weight, lr=lr,
                     betas=betas, latent_dim=latent_dim)  # fmt: skip
    eval_Z = sample_latent(max(fid_samples, 500), latent_dim, "gaussian",
                           torch.Generator().manual_seed(seed + 1000), device)  # fmt: skip
    curve: list[dict] = []

    @torch.no_grad()
    def evaluate(step: int, _history=None) -> None:
        net_G.eval()
        fake = net_G(eval_Z)
        w = float(net_D(X_test[:500].to(device)).mean() - net_D(fake[:500]).mean())
        fid = classifier_fid(fake[:fid_samples].cpu(), X_test)
        curve.append({"step": step, "fid": fid, "w_estimate": w})
        net_G.train()

    history = train_wgan(
        net_G, net_D, batches(X, batch_size, generator=g, device=device), num_steps, cfg,
        generator=g, callback=evaluate, callback_every=max(1, num_steps // max(1, evals)),
        log_every=25, desc=f"{method} on mnist5k", progress=progress, threads=threads,
    )  # fmt: skip
    return {"history": history, "curve": curve, "fid": curve[-1]["fid"], "net_G": net_G,
            "net_D": net_D, "config": cfg, "eval_Z": eval_Z}  # fmt: skip
