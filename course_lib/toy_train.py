"""The toy-GAN trainer of notebooks 03 and 08: S seeds of one method at once on a 2-D mixture.

:func:`train_toy_gan` trains ``len(config.seeds)`` independent GANs together with the
ensemble networks of :mod:`course_lib.toy_nets` (one member per seed). Batches are flat and
member-major, (S * B, 2) samples and (S * B, d) latents, so the step functions read like those
of every other family; each seed's samples come from its own rows. With
``seed_loss="sum"`` the loss is the sum of the S seeds' losses (``scale`` = S in the step
functions), so each member gets exactly the gradient of an independent GAN. The steps are
:func:`course_lib.gan.discriminator_step` / :func:`course_lib.gan.generator_step` and
:func:`course_lib.wgan.critic_step`; only the categorical latent's G step
(:func:`info_generator_step`) is defined here.

Methods (``METHODS``), all with the same generator:

- ``vanilla``: non-saturating GAN (Goodfellow et al. 2014), the baseline that collapses.
- ``minibatch_stddev``: D sees, as one extra feature, the standard deviation of its hidden
  features over groups of samples (Karras et al. 2018, "Progressive growing of GANs",
  section 3), so a batch with too little variety looks fake.
- ``pacgan``: D judges ``pack`` samples jointly, concatenated into one input (Lin et al.
  2018, "PacGAN", section 3); pack = 4 is their PacGAN4 row.
- ``wgan_gp``: Wasserstein critic with gradient penalty (Gulrajani et al. 2017, Algorithm 1,
  eq. 3), ``n_critic`` critic steps per G step (:func:`course_lib.wgan.critic_step`).
- ``wgan_clip``: Wasserstein critic with weight clipping (Arjovsky et al. 2017), RMSProp.
- ``categorical_latent``: a *disconnected* latent space. G's input is z plus a one-hot code c
  of ``categories`` equally likely values, and an auxiliary network Q (its own MLP) learns to
  read c back from G(z, c); the cross-entropy -E log Q(c | G(z, c)) is InfoGAN's bound on the
  mutual information I(c; G(z, c)) (Chen et al. 2016, eq. 4-6) and is added to G's loss,
  updating G and Q (not D). A continuous G maps a connected latent onto a connected set, so
  the other methods must leave samples on bridges between modes (Tanielian et al. 2020);
  with a discrete c, G(z, c) is a union of ``categories`` connected pieces that can sit on
  separate modes, and the information term makes the pieces distinguishable, i.e. apart
  (multiple-generator GANs use the same idea: Khayatkhoei et al. 2018).

bf16 autocast is off by default (``bf16=False``, also on CUDA): the modes' std is 0.01 on
ring8 (radius 1) and 0.05 on grid25 (up to 4 from the origin), where neighbouring bf16
numbers are 0.008 and 0.03 apart.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from .config import check_choice
from .data import GaussianMixture2D, toy_distribution
from .gan import discriminator_step, generator_step
from .losses import generator_loss
from .metrics import mode_coverage
from .noise import sample_latent
from .parallel import side_by_side
from .toy_nets import ToyDiscriminator, ToyGenerator, precise_batchnorm
from .train import (
    History,
    adam,
    autocast,
    cpu_threads,
    eval_mode,
    linear_decay,
    model_device,
    to_device,
    train_loop,
)
from .wgan import critic_step

METHODS: tuple[str, ...] = (
    "vanilla", "minibatch_stddev", "pacgan", "wgan_gp", "wgan_clip", "categorical_latent",
)  # fmt: skip
WASSERSTEIN: tuple[str, ...] = ("wgan_gp", "wgan_clip")


@dataclass(frozen=True)
class ToyConfig:
    """Settings of one toy run (every seed in ``seeds`` trains the same config)."""

    method: str = "vanilla"  # one of METHODS
    batch_size: int = 256  # real and fake samples per step (per seed)
    latent_dim: int = 2  # size of z
    latent_kind: str = "uniform"  # uniform on [-latent_scale, latent_scale] or gaussian
    latent_scale: float = 1.0  # range of the uniform latent (std of the Gaussian one)
    batchnorm: bool = False  # BatchNorm before every ReLU of G (PacGAN's generator)
    hidden: int = 128  # width of every hidden layer, G and D
    depth: int = 3  # hidden layers, G and D
    lr: float = 1e-3  # learning rate, both players (Adam; RMSProp for wgan_clip)
    lr_decay: bool = True  # linear decay of both learning rates to 0 over training
    pack: int = 4  # pacgan: samples per packed D input
    stddev_group: int = 4  # minibatch_stddev: group size
    n_critic: int = 5  # wgan_*: critic steps per generator step
    gp_weight: float = 10.0  # wgan_gp: penalty weight lambda (the paper's 10)
    clip: float = 0.01  # wgan_clip: weights clipped to [-clip, clip]
    categories: int = 50  # categorical_latent: number of values of the discrete code c
    info_weight: float = 1.0  # categorical_latent: lambda of the information term
    seed_loss: Literal["sum", "mean"] = "sum"  # sum: each seed gets exactly its own gradient;
    # mean: 1/S of it (Adam and RMSProp updates are scale-free up to eps = 1e-8)
    snapshots: int = 5  # samples and coverage recorded this many times (and at step 0)
    eval_samples: int = 2500  # samples per seed for mode_coverage (PacGAN uses 2500)
    eval_latents: Literal["fresh", "fixed"] = "fresh"  # new latents per snapshot, or the same
    critic_grid: int = 0  # > 0: record D on an n x n grid at every snapshot (contour plots)
    seeds: tuple[int, ...] = (0, 1, 2)


@dataclass(frozen=True)
class ToyRun:
    """One run to train: a toy set, a number of generator steps and the settings."""

    data: str
    num_steps: int
    config: ToyConfig = ToyConfig()


@dataclass
class ToyEnsemble:
    """The model :func:`train_toy_gan` trains: S seeds' networks, their run and its snapshots.

    ``net_G``, ``net_D`` (and ``net_Q`` for the categorical latent) hold every seed (one
    member each, :mod:`course_lib.toy_nets`). ``samples[step]`` (S, eval_samples, 2) generator
    samples per seed at that step (CPU); ``coverage[step]`` one ``mode_coverage`` dict per
    seed; ``surfaces[step]`` (with ``critic_grid``) ``xx``, ``yy`` (n, n) and D's values
    ``f`` (S, n, n). ``history`` is the dict :func:`train_toy_gan` also returns.
    """

    data: str
    num_steps: int
    config: ToyConfig
    net_G: nn.Module | None = None
    net_D: nn.Module | None = None
    net_Q: nn.Module | None = None  # categorical_latent only
    history: History = field(default_factory=dict)
    samples: dict[int, torch.Tensor] = field(default_factory=dict)
    coverage: dict[int, list[dict]] = field(default_factory=dict)
    surfaces: dict[int, dict[str, torch.Tensor]] = field(default_factory=dict)

    @property
    def run(self) -> ToyRun:
        return ToyRun(self.data, self.num_steps, self.config)

    @property
    def final(self) -> dict:
        """Mean over seeds of modes, high_quality, reverse_kl at the last step (+ per seed)."""
        cov = self.coverage[max(self.coverage)]
        out = {
            k: sum(c[k] for c in cov) / len(cov) for k in ("modes", "high_quality", "reverse_kl")
        }
        out["per_seed"] = cov
        return out


def build_toy_nets(
    config: ToyConfig, device: torch.device | str = "cpu"
) -> tuple[ToyGenerator, ToyDiscriminator, ToyDiscriminator | None]:
    """(net_G, net_D, net_Q) for ``config`` on ``device``; net_Q is None except for the
    categorical latent. Initial weights come from the seeds, never from the global RNG
    (notebooks 03 and 08 train them with :func:`train_toy_gan`)."""
    seeds, c = list(config.seeds), config
    categorical = c.method == "categorical_latent"
    net_G = ToyGenerator(seeds, c.latent_dim + (c.categories if categorical else 0), c.hidden,
                         c.depth, c.batchnorm)  # fmt: skip
    pack = c.pack if c.method == "pacgan" else 1
    group = c.stddev_group if c.method == "minibatch_stddev" else 0
    net_D = ToyDiscriminator(seeds, c.hidden, c.depth, pack=pack, stddev_group=group)
    net_Q = None
    if categorical:  # Q reads the code back from G's samples: D's shape, K outputs
        net_Q = ToyDiscriminator(seeds, c.hidden, c.depth, out_features=c.categories, salt=3)
    return net_G.to(device), net_D.to(device), None if net_Q is None else net_Q.to(device)


def toy_latents(
    config: ToyConfig, n: int, generator: torch.Generator | None,
    device: torch.device | str | None = None,
) -> tuple[torch.Tensor, torch.Tensor | None]:  # fmt: skip
    """G's input for ``n`` samples per seed, flat (S * n, input_dim), drawn on the CPU from
    ``generator`` and moved to ``device`` (:func:`course_lib.train.to_device`: no host sync),
    and the codes c (S * n,) of the categorical latent (else None)."""
    S = len(config.seeds)
    Z = sample_latent(S * n, config.latent_dim, config.latent_kind, generator,
                      scale=config.latent_scale)  # fmt: skip
    c = None
    if config.method == "categorical_latent":
        c = torch.randint(0, config.categories, (S * n,), generator=generator)
        Z = torch.cat([Z, F.one_hot(c, config.categories).to(Z.dtype)], dim=-1)
    if device is not None:
        Z, c = to_device(Z, device), None if c is None else to_device(c, device)
    return Z, c


def info_generator_step(
    Z, codes, net_D, net_G, net_Q, trainer_G, *, kind: str = "non_saturating",
    info_weight: float = 1.0, scale: float = 1.0,
) -> dict[str, torch.Tensor]:  # fmt: skip
    """G's step for the categorical latent (notebook 03): :func:`course_lib.gan.generator_step`'s
    loss plus ``info_weight`` * -E log Q(c | G(z, c)) (InfoGAN, Chen et al. 2016, eq. 5), on
    one G(z, c), so trainer_G (which also holds Q's parameters) trains G and Q; ``scale`` as
    in the gan steps. ``codes`` (S * B,) are the c in Z. ``mi_cat`` = log K - info is the
    bound on I(c; G(z, c)) in nats."""
    trainer_G.zero_grad(set_to_none=True)
    x = net_G(Z)
    loss_G = generator_loss(net_D(x), kind)
    logits = net_Q(x)
    info = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), codes.reshape(-1))
    loss_G = loss_G + info_weight * info
    (loss_G * scale).backward()
    trainer_G.step()
    return {"loss_G": loss_G.detach(), "info": info.detach(),
            "mi_cat": math.log(logits.shape[-1]) - info.detach()}  # fmt: skip


def toy_trainers(nets, config: ToyConfig) -> tuple[torch.optim.Optimizer, torch.optim.Optimizer]:
    """(trainer_D, trainer_G) for ``nets`` = (net_G, net_D, net_Q), on the nets' device: Adam,
    betas (0.5, 0.999) for GANs and (0.5, 0.9) for WGAN-GP (fused on CUDA); RMSProp for weight
    clipping (WGAN paper). trainer_G also trains Q."""
    net_G, net_D, net_Q = nets
    g_params = list(net_G.parameters()) + (list(net_Q.parameters()) if net_Q is not None else [])
    if config.method == "wgan_clip":
        return (torch.optim.RMSprop(net_D.parameters(), lr=config.lr),
                torch.optim.RMSprop(g_params, lr=config.lr))  # fmt: skip
    betas = (0.5, 0.9) if config.method == "wgan_gp" else (0.5, 0.999)
    return adam(net_D.parameters(), config.lr, betas), adam(g_params, config.lr, betas)


def _toy_step(nets, trainers, dist: GaussianMixture2D, config: ToyConfig,
              generator: torch.Generator | None) -> dict[str, torch.Tensor]:  # fmt: skip
    """One iteration of :func:`train_toy_gan` on the nets' device: ``n_critic`` critic steps
    (1 D step for the GANs) on fresh mixture samples, then one G step."""
    net_G, net_D, net_Q = nets
    trainer_D, trainer_G = trainers
    c, S, B, device = config, len(config.seeds), config.batch_size, model_device(net_G)
    scale = S if c.seed_loss == "sum" else 1
    wasserstein = c.method in WASSERSTEIN
    for _ in range(c.n_critic if wasserstein else 1):
        X = to_device(dist.sample(S * B, generator=generator), device)
        Z = toy_latents(c, B, generator, device)[0]
        if wasserstein:
            out = critic_step(X, Z, net_D, net_G, trainer_D, scale=scale, generator=generator,
                              gp_weight=c.gp_weight if c.method == "wgan_gp" else 0.0,
                              clip=c.clip if c.method == "wgan_clip" else None)  # fmt: skip
        else:
            out = discriminator_step(X, Z, net_D, net_G, trainer_D, scale=scale)
    Z, codes = toy_latents(c, B, generator, device)
    kind = "wasserstein" if wasserstein else "non_saturating"
    if net_Q is None:
        return out | generator_step(Z, net_D, net_G, trainer_G, kind=kind, scale=scale)
    return out | info_generator_step(Z, codes, net_D, net_G, net_Q, trainer_G, kind=kind,
                                     info_weight=c.info_weight, scale=scale)  # fmt: skip


def plot_limit(dist: GaussianMixture2D) -> float:
    """Half-width of the square that shows every mode of ``dist`` with a margin."""
    return float(dist.means.abs().max()) * 1.3 + 0.3


def _check(config: ToyConfig, num_steps: int) -> None:
    check_choice("method", config.method, METHODS)
    check_choice("seed_loss", config.seed_loss, ("sum", "mean"))
    check_choice("eval_latents", config.eval_latents, ("fresh", "fixed"))
    if config.method == "categorical_latent" and config.categories < 2:
        raise ValueError(f"categories must be >= 2, got {config.categories}")
    if not config.seeds or config.n_critic < 1 or num_steps < 1:
        raise ValueError(
            f"need >= 1 seed, n_critic >= 1 and num_steps >= 1; got "
            f"seeds={config.seeds}, n_critic={config.n_critic}, {num_steps=}"
        )


def train_toy_gan(
    data: str | GaussianMixture2D, num_steps: int, *, config: ToyConfig = ToyConfig(),
    device: torch.device | str = "cpu", bf16: bool | None = False, progress: bool = True,
    threads: int | None = 1, desc: str | None = None,
) -> tuple[ToyEnsemble, History]:  # fmt: skip
    """Train ``len(config.seeds)`` independent toy GANs with ``config.method`` on the 2-D
    mixture ``data`` for ``num_steps`` generator steps (notebooks 03 and 08).

    ``data`` is the distribution itself (``"ring8"``, ``"grid25"`` or a
    :func:`course_lib.data.toy_distribution`), not a tensor or a batch iterator as for the
    other ``train_*``: every step draws fresh samples from it (each batch is new data, as in
    the VEEGAN / PacGAN protocol), and the mode statistics need its means and sigma. Samples
    and latents come from one CPU generator seeded with ``seeds[0]``; the global RNG is
    neither used nor reseeded. With ``lr_decay`` both learning rates fall linearly to 0.
    Samples and their coverage (:func:`course_lib.metrics.mode_coverage`, ``eval_samples``
    per seed, in eval mode after precise BatchNorm statistics) are recorded at step 0 and
    ``snapshots`` times, the last at the end. ``bf16``: autocast around the steps (False by
    default, see the module docstring; None = CUDA only). ``threads``: CPU threads (1 suits
    these tiny networks; ignored off CPU). ``desc``: the progress bar's label (default
    "<method> on <data>"; :func:`train_parallel` passes the run's label when it differs).

    Returns ``(model, history)``: the :class:`ToyEnsemble` (nets, config, snapshots) and the
    log: ``loss_D``, ``loss_G``; ``D_real``, ``D_fake`` for GANs; ``w_estimate`` and ``gp``
    for WGANs; ``info`` and ``mi_cat`` for the categorical latent; and at every snapshot
    ``score_step`` with the means over seeds of ``modes``, ``high_quality``, ``reverse_kl``.
    """
    _check(config, num_steps)
    dist = toy_distribution(data) if isinstance(data, str) else data
    device, c, S = torch.device(device), config, len(config.seeds)
    nets = build_toy_nets(c, device)
    trainers = toy_trainers(nets, c)
    schedulers = linear_decay(trainers, num_steps) if c.lr_decay else []
    g = torch.Generator().manual_seed(c.seeds[0])
    history: History = {"step": []}
    model = ToyEnsemble(dist.name, num_steps, c, *nets, history=history)
    net_G, net_D, _ = nets

    def step_fn(step: int) -> dict[str, torch.Tensor]:
        with autocast(device, bf16):
            out = _toy_step(nets, trainers, dist, c, g)
        for s in schedulers:
            s.step()
        return out

    eval_g = torch.Generator().manual_seed(12345)
    fixed = toy_latents(c, c.eval_samples, eval_g, device)[0] if c.eval_latents == "fixed" else None

    @torch.no_grad()
    def measure(step: int, _history=None) -> None:
        if c.batchnorm:
            precise_batchnorm(net_G, toy_latents(c, 4096, eval_g, device)[0])
        with eval_mode(net_G):
            Z = fixed if fixed is not None else toy_latents(c, c.eval_samples, eval_g, device)[0]
            x = net_G(Z).view(S, -1, 2).cpu()
        model.samples[step] = x
        model.coverage[step] = cov = [mode_coverage(x[i], dist.name) for i in range(S)]
        history.setdefault("score_step", []).append(step)
        for k in ("modes", "high_quality", "reverse_kl"):
            history.setdefault(k, []).append(sum(row[k] for row in cov) / S)
        if c.critic_grid:
            model.surfaces[step] = critic_surface(net_D, plot_limit(dist), c.critic_grid)

    measure(0)
    every = max(1, num_steps // max(1, c.snapshots))
    with cpu_threads(threads if device.type == "cpu" else None):
        train_loop(step_fn, num_steps, history=history, log_every=50, callback=measure,
                   callback_every=every, desc=desc or f"{c.method} on {dist.name}",
                   progress=progress)  # fmt: skip
    return model, history


@torch.no_grad()
def critic_surface(net_D: nn.Module, lim: float, n: int = 60) -> dict[str, torch.Tensor]:
    """Every member's D (or critic) on an n x n grid over [-lim, lim]^2: ``xx``, ``yy``
    (n, n) and ``f`` (S, n, n), on the CPU (notebook 08's contour plots)."""
    g = torch.linspace(-lim, lim, n)
    xx, yy = torch.meshgrid(g, g, indexing="xy")
    grid = torch.stack([xx.flatten(), yy.flatten()], 1)
    S = net_D.members
    f = net_D(to_device(grid.repeat(S, 1), model_device(net_D))).view(S, n, n).cpu()
    return {"xx": xx, "yy": yy, "f": f}


def train_parallel(runs: Mapping[str, ToyRun], workers: int = 2, progress: bool = True,
                   device: torch.device | str = "cpu") -> dict[str, ToyEnsemble]:  # fmt: skip
    """:func:`train_toy_gan` on every run of ``runs`` (label -> :class:`ToyRun`), ``workers``
    runs at a time in threads, one torch thread each; returns label -> trained
    :class:`ToyEnsemble` (its ``history`` attached), in order (notebooks 03 and 08).

    The toy networks are too small for torch's intra-op threads to help (see
    :func:`course_lib.train.cpu_threads`), so on a 2-core machine two runs side by side take
    about the time of one. Every run draws its random numbers from its own generators, so
    its result is the same as alone.
    """
    for run in runs.values():
        _check(run.config, run.num_steps)

    def train(run: ToyRun, label: str) -> ToyEnsemble:
        data = getattr(run.data, "name", run.data)
        desc = None if label == run.config.method else f"{label} on {data}"
        return train_toy_gan(run.data, run.num_steps, config=run.config, device=device,
                             progress=progress, threads=None, desc=desc)[0]  # fmt: skip

    return side_by_side(train, {k: {"run": run, "label": k} for k, run in runs.items()},
                        workers)  # fmt: skip


@torch.no_grad()
def generate(model: ToyEnsemble, n: int, generator: torch.Generator | None = None,
             codes: bool = False):  # fmt: skip
    """(S, n, 2) samples of ``model``'s generator (eval mode, as measured), one row per
    seed, on the generator's device; latents from ``generator`` (default seed 0)
    (notebook 03).

    ``codes=True`` returns (samples, c) with c (S, n) the categorical codes that made them
    (``categorical_latent`` runs only).
    """
    cfg = model.config
    if codes and cfg.method != "categorical_latent":
        raise ValueError(f"codes=True needs a categorical_latent run, not {cfg.method!r}")
    if model.net_G is None:
        raise ValueError("the model has no generator (net_G is None): train it first")
    g = generator or torch.Generator().manual_seed(0)
    S = len(cfg.seeds)
    with eval_mode(model.net_G) as G:
        Z, c = toy_latents(cfg, n, g, model_device(G))
        x = G(Z).view(S, n, 2)
    return (x, c.view(S, n)) if codes else x
