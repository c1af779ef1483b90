"""Mode collapse on the 2-D toy mixtures, measured and fixed (notebook 03).

Everything here trains *ensembles*: ``members`` independent copies of a small MLP GAN (one
per seed) stacked along a leading dimension and run with batched matrix products
(``torch.baddbmm``). Each member has its own initial weights (from its own seed), its own
Adam state and its own losses, so it is exactly an independent GAN; training three seeds
costs about as much as one on a CPU, which is what lets notebook 03 average every number
over >= 3 seeds within its time budget. Shapes: latents (S, B, latent_dim), samples and
real batches (S, B, 2), logits (S, B), with S = number of members (seeds).

Methods (``METHODS``), all on the same generator:

- ``vanilla``: non-saturating GAN (Goodfellow et al. 2014), the baseline that collapses.
- ``minibatch_stddev``: D sees, as one extra feature, the standard deviation of its hidden
  features over groups of samples (Karras et al. 2018, "Progressive growing of GANs",
  section 3), so a batch with too little variety looks fake.
- ``pacgan``: D judges ``pack`` samples jointly, concatenated into one input (Lin et al.
  2018, "PacGAN", section 3); pack = 4 is their PacGAN4 row.
- ``wgan_gp``: Wasserstein critic with gradient penalty (Gulrajani et al. 2017, Algorithm 1,
  eq. 3) via :func:`course_lib.losses.gradient_penalty`, ``n_critic`` critic steps per G step.
- ``categorical_latent``: a *disconnected* latent space. G's input is z plus a one-hot code c
  of ``categories`` equally likely values, and an auxiliary network Q (its own MLP) learns to
  read c back from G(z, c); the cross-entropy -E log Q(c | G(z, c)) is InfoGAN's bound on the
  mutual information I(c; G(z, c)) (Chen et al. 2016, eq. 4-6) and is added to G's loss,
  updating G and Q (not D). A continuous G maps a connected latent onto a connected set, so
  the first four methods must leave samples on bridges between modes (Tanielian et al. 2020);
  with a discrete c, G(z, c) is a union of ``categories`` connected pieces that can sit on
  separate modes, and the information term makes the pieces distinguishable, i.e. apart.
  Multiple-generator GANs use the same idea (Khayatkhoei et al. 2018, "Disconnected manifold
  learning for GANs": several generators plus a mutual-information term).

Every method can use PacGAN's generator architecture, BatchNorm before each ReLU
(``batchnorm=True``, :class:`EnsembleBatchNorm`, population statistics recomputed on a large
batch before sampling by :func:`precise_batchnorm`). Notebook 03's protocol
(:func:`table_runs`, :func:`best_method`, :func:`retrain_longer`): the plain vanilla GAN and
every method with the BatchNorm generator for ``num_steps``, then the best of them retrained
for ``long_steps``. ``categorical_latent`` is not in that table (:data:`TABLE_METHODS`): it
needs many more steps (``categorical_steps``) and notebook 03 trains it after diagnosing the
bridges. :func:`train_parallel` runs independent configs in two threads (each run is exactly
as deterministic as alone: its random numbers come from its own ``torch.Generator``).

Metrics come from :func:`course_lib.metrics.mode_coverage` (VEEGAN / PacGAN definitions).
"""

from __future__ import annotations

import contextlib
import math
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace

import torch
import torch.nn.functional as F
from torch import nn

from .data import toy_distribution
from .losses import discriminator_loss, generator_loss, gradient_penalty
from .metrics import far_fraction, mode_coverage, precision_recall  # noqa: F401 (mc.far_fraction)
from .noise import sample_latent
from .train import cpu_threads, train_loop

TABLE_METHODS: tuple[str, ...] = ("vanilla", "minibatch_stddev", "pacgan", "wgan_gp")
METHODS: tuple[str, ...] = TABLE_METHODS + ("categorical_latent",)


def check_method(method: str) -> str:
    """Return ``method`` if known, else raise a ValueError listing the allowed values."""
    if method not in METHODS:
        raise ValueError(f"Unknown method {method!r}. Allowed values: {', '.join(METHODS)}")
    return method


# ---------------------------------------------------------------------------------------
# Ensemble networks
# ---------------------------------------------------------------------------------------
class EnsembleLinear(nn.Module):
    """``members`` independent Linear layers: x (S, B, fan_in) -> (S, B, fan_out).

    Member ``i`` is initialised like ``nn.Linear`` (U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for
    weights and biases) from ``torch.Generator().manual_seed(seeds[i])``.
    """

    def __init__(self, fan_in: int, fan_out: int, seeds: list[torch.Generator]):
        super().__init__()
        bound = 1 / math.sqrt(fan_in)
        w = [torch.rand(fan_in, fan_out, generator=g) * 2 - 1 for g in seeds]
        b = [torch.rand(1, fan_out, generator=g) * 2 - 1 for g in seeds]
        self.weight = nn.Parameter(torch.stack(w) * bound)  # (S, fan_in, fan_out)
        self.bias = nn.Parameter(torch.stack(b) * bound)  # (S, 1, fan_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.baddbmm(self.bias, x, self.weight)


def _generators(seeds: list[int], salt: int) -> list[torch.Generator]:
    return [torch.Generator().manual_seed(1000 * s + salt) for s in seeds]


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


class ToyGenerator(nn.Module):
    """MLP generator z (S, B, latent_dim) -> x (S, B, 2): ``depth`` ReLU layers of ``hidden``.

    ``batchnorm`` puts :class:`EnsembleBatchNorm` before every ReLU (PacGAN's toy generator,
    Lin et al. 2018, appendix). ``input_noise`` > 0 adds N(0, input_noise^2) to z before the
    first layer (one of the folk remedies notebook 03 measures).
    """

    def __init__(
        self, seeds: list[int], latent_dim: int = 2, hidden: int = 128, depth: int = 3,
        input_noise: float = 0.0, batchnorm: bool = False,
    ):  # fmt: skip
        super().__init__()
        gens = _generators(seeds, 1)
        sizes = [latent_dim] + [hidden] * depth + [2]
        self.layers = nn.ModuleList(
            EnsembleLinear(a, b, gens) for a, b in zip(sizes[:-1], sizes[1:])
        )
        self.norms = nn.ModuleList(
            EnsembleBatchNorm(len(seeds), hidden) for _ in range(depth if batchnorm else 0)
        )
        self.latent_dim, self.input_noise = latent_dim, input_noise

    def forward(self, Z: torch.Tensor) -> torch.Tensor:
        if self.input_noise > 0 and self.training:
            Z = Z + self.input_noise * torch.randn_like(Z)
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
    saved = [(m.momentum, m.training) for m in norms]
    was_training = net.training
    net.train()
    for m in norms:
        m.momentum = 1.0
    net(Z)
    for m, (momentum, _) in zip(norms, saved):
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


class ToyDiscriminator(nn.Module):
    """MLP discriminator (or WGAN critic) x (S, B, 2) -> logits (S, B // pack).

    ``depth`` LeakyReLU(0.2) layers of ``hidden``. ``pack`` > 1 packs samples (PacGAN);
    ``stddev_group`` > 0 appends the minibatch-stddev feature after the first hidden layer.
    ``out_features`` > 1 gives (S, B // pack, out_features) logits (the Q network of
    ``categorical_latent``); ``salt`` separates the initial weights of networks built for the
    same seeds.
    """

    def __init__(
        self, seeds: list[int], hidden: int = 128, depth: int = 3, pack: int = 1,
        stddev_group: int = 0, out_features: int = 1, salt: int = 2,
    ):  # fmt: skip
        super().__init__()
        gens = _generators(seeds, salt)
        self.pack, self.stddev_group = pack, stddev_group
        extra = 1 if stddev_group else 0
        sizes = [2 * pack, hidden] + [hidden] * (depth - 1) + [out_features]
        fan_in = [a + (extra if i == 1 else 0) for i, a in enumerate(sizes[:-1])]
        self.layers = nn.ModuleList(EnsembleLinear(a, b, gens) for a, b in zip(fan_in, sizes[1:]))

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        h = pack_samples(X, self.pack) if self.pack > 1 else X
        for i, layer in enumerate(self.layers):
            h = layer(h)
            if i < len(self.layers) - 1:
                h = F.leaky_relu(h, 0.2)
                if i == 0 and self.stddev_group:
                    h = minibatch_stddev(h, self.stddev_group)
        return h.squeeze(-1) if h.shape[-1] == 1 else h


# ---------------------------------------------------------------------------------------
# Training
# ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ToyConfig:
    """One toy experiment of notebook 03 (every seed in ``seeds`` trains the same config)."""

    data: str = "ring8"  # toy mixture: ring8 | grid25
    method: str = "vanilla"  # one of METHODS
    num_steps: int = 2000  # generator steps
    batch_size: int = 256  # real and fake samples per step (per seed)
    latent_dim: int = 2  # size of z
    latent_kind: str = "uniform"  # uniform on [-latent_scale, latent_scale] or gaussian
    latent_scale: float = 1.0  # range of the uniform latent (std of the Gaussian one)
    input_noise: float = 0.0  # std of Gaussian noise added to z inside G (folk remedy)
    batchnorm: bool = False  # BatchNorm before every ReLU of G (PacGAN's generator)
    hidden: int = 128  # width of every hidden layer, G and D
    depth: int = 3  # hidden layers, G and D
    lr: float = 1e-3  # Adam learning rate, both players
    lr_decay: bool = True  # linear decay of both learning rates to 0 over training
    pack: int = 4  # PacGAN: samples per packed D input
    stddev_group: int = 4  # minibatch stddev: group size
    n_critic: int = 5  # WGAN-GP: critic steps per generator step
    gp_weight: float = 0.1  # WGAN-GP: penalty weight lambda (scale of our toy data is ~1)
    categories: int = 50  # categorical_latent: number of values of the discrete code c
    info_weight: float = 1.0  # categorical_latent: lambda of the information term
    snapshots: int = 5  # coverage measured this many times during training
    eval_samples: int = 2500  # samples per seed for mode_coverage (PacGAN uses 2500)
    seeds: tuple[int, ...] = (0, 1, 2)


@dataclass
class ToyResult:
    """What :func:`train_toy_gan` returns.

    ``samples[step]`` (S, eval_samples, 2) generator samples per seed at that step;
    ``coverage[step]`` one ``mode_coverage`` dict per seed; ``history`` the loss log.
    """

    config: ToyConfig
    history: dict
    samples: dict[int, torch.Tensor] = field(default_factory=dict)
    coverage: dict[int, list[dict]] = field(default_factory=dict)
    net_G: nn.Module | None = None
    net_D: nn.Module | None = None
    net_Q: nn.Module | None = None  # categorical_latent only

    @property
    def final(self) -> dict[str, float]:
        """Mean over seeds of modes, high_quality, reverse_kl at the last step (+ per seed)."""
        cov = self.coverage[max(self.coverage)]
        out = {
            k: sum(c[k] for c in cov) / len(cov) for k in ("modes", "high_quality", "reverse_kl")
        }
        out["per_seed"] = cov
        return out


def _input_dim(cfg: ToyConfig) -> int:
    return cfg.latent_dim + (cfg.categories if cfg.method == "categorical_latent" else 0)


def _latents_and_codes(cfg: ToyConfig, S: int, n: int, g: torch.Generator):
    """G's input (S, n, input_dim) and the codes c (S, n) (None unless categorical_latent)."""
    Z = sample_latent(S * n, cfg.latent_dim, cfg.latent_kind, g, scale=cfg.latent_scale)
    Z = Z.view(S, n, cfg.latent_dim)
    if cfg.method != "categorical_latent":
        return Z, None
    c = torch.randint(0, cfg.categories, (S, n), generator=g)
    return torch.cat([Z, F.one_hot(c, cfg.categories).to(Z.dtype)], dim=-1), c


def _latents(cfg: ToyConfig, S: int, n: int, g: torch.Generator) -> torch.Tensor:
    return _latents_and_codes(cfg, S, n, g)[0]


def train_toy_gan(cfg: ToyConfig, progress: bool = True, threads: int | None = 1) -> ToyResult:
    """Train ``len(cfg.seeds)`` independent toy GANs with ``cfg.method`` (notebook 03).

    GAN methods minimise the discriminator loss -V(D, G) and the non-saturating generator loss
    (:mod:`course_lib.losses`); ``wgan_gp`` minimises E f(G(z)) - E f(x) + GP for the critic
    and -E f(G(z)) for G (Gulrajani et al. 2017, Algorithm 1). Losses are summed over seeds so
    each member gets exactly its own gradient. Adam, betas (0.5, 0.999) for GANs and
    (0.5, 0.9) for WGAN-GP as in its paper. Coverage is measured on ``cfg.eval_samples``
    fresh samples per seed ``cfg.snapshots`` times, the last at the end.
    ``categorical_latent`` adds ``info_weight`` * -E log Q(c | G(z, c)) to G's loss and
    trains Q with G's optimizer (history: ``info``, and ``mi_cat`` = log K - info, the bound
    on I(c; G(z, c)) in nats).
    """
    check_method(cfg.method)
    if cfg.method == "categorical_latent" and cfg.categories < 2:
        raise ValueError(f"categories must be >= 2, got {cfg.categories}")
    dist = toy_distribution(cfg.data)
    seeds = list(cfg.seeds)
    S = len(seeds)
    torch.manual_seed(seeds[0])
    g = torch.Generator().manual_seed(seeds[0])
    net_G = ToyGenerator(seeds, _input_dim(cfg), cfg.hidden, cfg.depth, cfg.input_noise,
                         cfg.batchnorm)  # fmt: skip
    net_D = ToyDiscriminator(
        seeds, cfg.hidden, cfg.depth,
        pack=cfg.pack if cfg.method == "pacgan" else 1,
        stddev_group=cfg.stddev_group if cfg.method == "minibatch_stddev" else 0,
    )  # fmt: skip
    net_Q = None
    if cfg.method == "categorical_latent":
        net_Q = ToyDiscriminator(seeds, cfg.hidden, cfg.depth, out_features=cfg.categories,
                                 salt=3)  # fmt: skip
    wgan = cfg.method == "wgan_gp"
    betas = (0.5, 0.9) if wgan else (0.5, 0.999)
    trainer_D = torch.optim.Adam(net_D.parameters(), lr=cfg.lr, betas=betas)
    g_params = list(net_G.parameters()) + (list(net_Q.parameters()) if net_Q else [])
    trainer_G = torch.optim.Adam(g_params, lr=cfg.lr, betas=betas)
    scheds = []
    if cfg.lr_decay:
        decay = lambda step: max(0.0, 1 - step / cfg.num_steps)  # noqa: E731
        scheds = [torch.optim.lr_scheduler.LambdaLR(t, decay) for t in (trainer_D, trainer_G)]
    B = cfg.batch_size

    def critic_flat(x_flat: torch.Tensor) -> torch.Tensor:  # (S*B, 2) -> (S*B,)
        return net_D(x_flat.view(S, -1, 2)).reshape(-1)

    def step_fn(step: int) -> dict[str, torch.Tensor]:
        for _ in range(cfg.n_critic if wgan else 1):
            X = dist.sample(S * B, generator=g).view(S, B, 2)
            fake = net_G(_latents(cfg, S, B, g)).detach()
            trainer_D.zero_grad(set_to_none=True)
            real_out, fake_out = net_D(X), net_D(fake)
            if wgan:
                gp = gradient_penalty(critic_flat, X.reshape(-1, 2), fake.reshape(-1, 2),
                                      cfg.gp_weight, generator=g)  # fmt: skip
                loss_D = S * (fake_out.mean() - real_out.mean()) + S * gp
            else:
                loss_D = S * discriminator_loss(real_out, fake_out)
            loss_D.backward()
            trainer_D.step()
        trainer_G.zero_grad(set_to_none=True)
        Z, c = _latents_and_codes(cfg, S, B, g)
        x = net_G(Z)
        fake_out_G = net_D(x)
        loss_G = -fake_out_G.mean() if wgan else generator_loss(fake_out_G)
        info = None
        if net_Q is not None:  # InfoGAN's term: G and Q make c recoverable from G(z, c)
            info = F.cross_entropy(net_Q(x).reshape(-1, cfg.categories), c.reshape(-1))
            loss_G = loss_G + cfg.info_weight * info
        (S * loss_G).backward()
        trainer_G.step()
        for s in scheds:
            s.step()
        out = {"loss_D": loss_D.detach() / S, "loss_G": loss_G.detach()}
        if not wgan:
            out["D_real"] = torch.sigmoid(real_out).mean().detach()
            out["D_fake"] = torch.sigmoid(fake_out).mean().detach()
        if info is not None:
            out["info"] = info.detach()
            out["mi_cat"] = math.log(cfg.categories) - info.detach()
        return out

    result = ToyResult(cfg, {}, net_G=net_G, net_D=net_D, net_Q=net_Q)
    eval_g = torch.Generator().manual_seed(12345)

    @torch.no_grad()
    def measure(step: int, _history=None) -> None:
        if cfg.batchnorm:
            precise_batchnorm(net_G, _latents(cfg, S, 4096, eval_g))
        net_G.eval()
        x = net_G(_latents(cfg, S, cfg.eval_samples, eval_g))
        net_G.train()
        result.samples[step] = x
        result.coverage[step] = [mode_coverage(x[i], cfg.data) for i in range(S)]

    measure(0)
    every = max(1, cfg.num_steps // max(1, cfg.snapshots))
    with cpu_threads(threads):
        result.history = train_loop(
            step_fn, cfg.num_steps, log_every=50, callback=measure, callback_every=every,
            desc=f"{cfg.method} on {cfg.data}", progress=progress,
        )  # fmt: skip
    return result


def train_parallel(configs: dict[str, ToyConfig], workers: int = 2,
                   progress: bool = True) -> dict[str, ToyResult]:  # fmt: skip
    """:func:`train_toy_gan` on every config of ``configs`` (label -> config), ``workers`` runs
    at a time in threads, one torch thread each; returns label -> result in the same order.

    The toy networks are too small for torch's intra-op threads to help (see
    :func:`course_lib.train.cpu_threads`), so on a 2-core machine two runs side by side take
    about the time of one. Every run draws its random numbers from its own generator, so its
    result is the same as alone; ``input_noise`` > 0 draws from torch's global generator and is
    refused here (train those runs one by one).
    """
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    for label, cfg in configs.items():
        if cfg.input_noise > 0:
            raise ValueError(f"{label}: input_noise uses torch's global random generator, "
                             "so its runs cannot share a process; train it with train_toy_gan")
        check_method(cfg.method)
    with cpu_threads(1), ThreadPoolExecutor(max_workers=workers) as pool:
        futures = {k: pool.submit(train_toy_gan, cfg, progress, 1) for k, cfg in configs.items()}
        return {k: f.result() for k, f in futures.items()}


def run_methods(
    base: ToyConfig, methods: tuple[str, ...] = METHODS, progress: bool = True, **overrides
) -> dict[str, ToyResult]:
    """Train ``base`` once per method (each over all of ``base.seeds``); notebook 03's table.

    ``overrides`` maps a method to a dict of config changes for it (e.g. WGAN-GP's ``lr``).
    """
    out = {}
    for m in methods:
        out[m] = train_toy_gan(replace(base, method=check_method(m), **overrides.get(m, {})),
                               progress=progress)  # fmt: skip
    return out


def coverage_table(results: dict[str, ToyResult]) -> list[dict]:
    """Rows {name, modes, high_quality, reverse_kl, seeds} of seed-averaged final coverage."""
    rows = []
    for name, r in results.items():
        f = r.final
        rows.append({"name": name, "modes": f["modes"], "high_quality": f["high_quality"],
                     "reverse_kl": f["reverse_kl"], "seeds": len(r.config.seeds)})  # fmt: skip
    return rows


BN_SUFFIX = " + BN G"  # table label suffix of the runs with the BatchNorm generator


def table_runs(budget, data: str, progress: bool = True, vanilla: ToyResult | None = None,
               workers: int = 2) -> dict[str, ToyResult]:  # fmt: skip
    """Notebook 03's method table on ``data``: the plain vanilla GAN, then every method of
    ``TABLE_METHODS`` with the BatchNorm generator (labels ``method + BN G``), all with the
    config of ``budget`` (``BUDGETS["03_mode_collapse"][profile]``), ``workers`` runs at a time
    (:func:`train_parallel`). ``vanilla`` reuses an existing plain vanilla run (it must be on
    ``data``) instead of training it again."""
    if vanilla is not None and vanilla.config.data != data:
        raise ValueError(f"vanilla run is on {vanilla.config.data!r}, table is on {data!r}")
    configs = {} if vanilla else {"vanilla": config_from_budget(budget, data)}
    for m in TABLE_METHODS:
        configs[m + BN_SUFFIX] = config_from_budget(budget, data, m, batchnorm=True)
    runs = train_parallel(configs, workers, progress)
    return {"vanilla": vanilla or runs.pop("vanilla"), **runs}


def best_method(results: dict[str, ToyResult]) -> str:
    """Label of the run with the largest modes x high-quality fraction (means over seeds).

    Both numbers must be high: a mode count alone rewards generators that spread noise over
    the square (uniform noise touches 22 of grid25's 25 modes at 2% high quality), a
    high-quality fraction alone rewards collapse onto one mode. Ties: more modes.
    """
    if not results:
        raise ValueError("results is empty: train at least one method first")

    def score(k: str) -> tuple[float, float]:
        f = results[k].final
        return f["modes"] * f["high_quality"], f["modes"]

    return max(results, key=score)


def longer_config(budget, result: ToyResult) -> ToyConfig:
    """``result``'s config with ``budget["long_steps"]`` steps (see :func:`retrain_longer`)."""
    steps = int(budget["long_steps"])
    if steps < 1:
        raise ValueError(f"long_steps must be >= 1, got {steps}")
    return replace(result.config, num_steps=steps)


def retrain_longer(budget, result: ToyResult, progress: bool = True) -> ToyResult:
    """Train ``result``'s config again from scratch for ``budget["long_steps"]`` steps."""
    return train_toy_gan(longer_config(budget, result), progress=progress)


def categorical_config(budget, data: str, **changes) -> ToyConfig:
    """``categorical_latent`` with the budget's ``categorical_steps``, ``categories`` and
    ``info_weight`` (plain G, no BatchNorm: that is how it was measured); ``changes`` override
    any field."""
    base = dict(num_steps=int(budget["categorical_steps"]), categories=int(budget["categories"]),
                info_weight=float(budget["info_weight"]))  # fmt: skip
    return config_from_budget(budget, data, "categorical_latent", **(base | changes))


# ---------------------------------------------------------------------------------------
# Bridges between modes: where the last non-high-quality samples go (how many there are:
# course_lib.metrics.far_fraction, re-exported here as mc.far_fraction)
# ---------------------------------------------------------------------------------------
def jacobian_norm(net_G: nn.Module, Z: torch.Tensor) -> torch.Tensor:
    """Frobenius norm of dG/dz at every latent: Z (S, N, d) -> (S, N).

    Each output coordinate is one backward pass (G outputs 2-D points); in eval mode every
    sample depends only on its own z, so summing over samples gives each sample's gradient.
    """
    Z = Z.detach().requires_grad_(True)
    with torch.enable_grad():
        x = net_G(Z)
        rows = [torch.autograd.grad(x[..., j].sum(), Z, retain_graph=j + 1 < x.shape[-1])[0]
                for j in range(x.shape[-1])]  # fmt: skip
    return torch.stack(rows, dim=-1).pow(2).sum(dim=(-2, -1)).sqrt()


def toy_precision_recall(samples: torch.Tensor, data: str, seed: int = 5) -> list[dict]:
    """Improved precision / recall (:func:`course_lib.metrics.precision_recall`, k = 3) of each
    seed's samples (S, N, 2) against N fresh samples of the mixture ``data`` (``seed``).

    Recall is what :func:`mode_coverage` cannot see: a generator that puts each mode's mass
    on a few points scores every mode at 100% high quality, but its recall is near 0.
    """
    if samples.ndim != 3 or samples.shape[-1] != 2:
        raise ValueError(f"samples must be (S, N, 2), got {tuple(samples.shape)}")
    g = torch.Generator().manual_seed(seed)
    real = toy_distribution(data).sample(samples.shape[1], generator=g)
    return [precision_recall(x, real) for x in samples]


def code_usage(samples: torch.Tensor, codes: torch.Tensor, data: str, categories: int) -> dict:
    """How a ``categorical_latent`` generator's codes share the modes of ``data`` (one seed).

    ``samples`` (N, 2) and the ``codes`` (N,) that made them. Only high-quality samples (within
    3 sigma of their nearest mean) count. Returns per-mode tensors of length n_modes:
    ``codes_per_mode`` (each code belongs to the mode where most of its high-quality samples
    fall), ``distinct_codes`` (codes with at least one high-quality sample there) and
    ``samples_per_mode`` (high-quality samples there).
    """
    if samples.ndim != 2 or codes.shape != samples.shape[:1]:
        raise ValueError(f"samples (N, 2) and codes (N,) expected, got {tuple(samples.shape)} "
                         f"and {tuple(codes.shape)}")  # fmt: skip
    dist = toy_distribution(data)
    d = torch.cdist(samples, dist.means).min(dim=1)
    good = d.values <= 3 * dist.std
    M = len(dist.means)
    owner = torch.full((categories,), -1)
    distinct = torch.zeros(M, dtype=torch.long)
    for code in codes[good].unique():
        modes = d.indices[good & (codes == code)]
        owner[code] = torch.mode(modes).values
        distinct[modes.unique()] += 1
    return {"codes_per_mode": torch.bincount(owner[owner >= 0], minlength=M),
            "distinct_codes": distinct,
            "samples_per_mode": torch.bincount(d.indices[good], minlength=M)}  # fmt: skip


@contextlib.contextmanager
def _eval_generator(result: ToyResult):
    """``result.net_G`` in eval mode (how every sample is measured), its mode restored after."""
    G = result.net_G
    if G is None:
        raise ValueError("result has no generator (net_G is None)")
    was_training = G.training
    G.eval()
    try:
        yield G
    finally:
        G.train(was_training)


@torch.no_grad()
def generate(result: ToyResult, n: int, generator: torch.Generator | None = None,
             codes: bool = False):  # fmt: skip
    """(S, n, 2) samples of ``result``'s generator (eval mode, as measured), one row per seed.

    ``codes=True`` returns (samples, c) with c (S, n) the categorical codes that made them
    (``categorical_latent`` runs only).
    """
    cfg = result.config
    if codes and cfg.method != "categorical_latent":
        raise ValueError(f"codes=True needs a categorical_latent run, not {cfg.method!r}")
    g = generator or torch.Generator().manual_seed(0)
    with _eval_generator(result) as G:
        Z, c = _latents_and_codes(cfg, len(cfg.seeds), n, g)
        return (G(Z), c) if codes else G(Z)


@torch.no_grad()
def jacobian_rejection(result: ToyResult, reject: float = 0.1, n: int | None = None,
                       seed: int = 0) -> dict:  # fmt: skip
    """Sample ``result``'s generator, dropping the ``reject`` fraction of latents with the
    largest Jacobian norm (Tanielian et al. 2020, "Learning disconnected manifolds: a no
    GAN's land", their JBOP rejection); returns {"samples": (S, n, 2), "coverage": [...]}.

    A continuous G maps the connected latent space onto a connected set, so some latent mass
    must land on the bridges between modes; there G stretches space, i.e. ||dG/dz|| is
    large. Dropping those latents removes the bridges without a discriminator. ``n`` kept
    samples per seed (default ``eval_samples``) after drawing n / (1 - reject) latents;
    ``drawn`` (S, drawn, 2) and ``norms`` (S, drawn) are every drawn sample and its norm.
    """
    if not 0 <= reject < 1:
        raise ValueError(f"reject must be in [0, 1), got {reject!r}")
    cfg = result.config
    n = n or cfg.eval_samples
    S, drawn = len(cfg.seeds), math.ceil(n / (1 - reject))
    Z = _latents(cfg, S, drawn, torch.Generator().manual_seed(seed))
    with _eval_generator(result) as G:
        norms = jacobian_norm(G, Z)
        drawn_x = G(Z)
    # the n latents with the smallest norms, per seed, kept in the order they were drawn
    keep = norms.argsort(dim=1)[:, :n].sort(dim=1).values
    x = torch.gather(drawn_x, 1, keep.unsqueeze(-1).expand(S, n, 2))
    return {"samples": x, "coverage": [mode_coverage(x[i], cfg.data) for i in range(S)],
            "drawn": drawn_x, "norms": norms}  # fmt: skip


# Published rows (2,500 samples, PacGAN/VEEGAN protocol): (modes, high-quality fraction).
PUBLISHED: dict[str, dict[str, tuple[float, float]]] = {
    "ring8": {
        "GAN (VEEGAN Table 1)": (1.0, 0.993),
        "PacGAN4 (PacGAN Table 1)": (7.8, 0.959),
    },
    "grid25": {
        "GAN (VEEGAN Table 1)": (3.3, 0.005),
        "PacGAN4 (PacGAN Table 1)": (24.8, 0.936),
        "GDPP (GDPP paper)": (24.8, 0.685),
        "WGAN-GP (GDPP paper)": (24.2, 0.287),
    },
}


# ---------------------------------------------------------------------------------------
# Budgets -> configs
# ---------------------------------------------------------------------------------------
def config_from_budget(budget, data: str, method: str = "vanilla", **changes) -> ToyConfig:
    """The notebook's :class:`ToyConfig` from ``BUDGETS["03_mode_collapse"][profile]``."""
    keys = ("num_steps", "batch_size", "hidden", "depth", "lr", "n_critic", "snapshots",
            "eval_samples", "seeds")  # fmt: skip
    kw = {k: budget[k] for k in keys if k in budget}
    kw["seeds"] = tuple(kw.get("seeds", (0, 1, 2)))
    return replace(ToyConfig(data=data, method=check_method(method), **kw), **changes)
