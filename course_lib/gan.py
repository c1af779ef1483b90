"""The original GAN (Goodfellow et al. 2014): MLP networks, step functions, closed forms,
the trainer ``train_gan`` (notebooks 01, 02, 03) and the 1-D experiments of notebook 01.

Notebook 01 prints ``discriminator_step`` and ``generator_step`` with ``inspect.getsource``:
they are deliberately tiny. Names follow one vocabulary: ``net_G``, ``net_D``, ``X`` (real
batch), ``Z`` (latent batch), ``trainer_D`` / ``trainer_G`` (optimisers).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator
from typing import Literal

import torch
from torch import nn

from .config import check_choice, seeded
from .data import batches, check_images, training_data
from .losses import GeneratorLoss, discriminator_loss, generator_loss
from .noise import LATENT_KINDS, sample_latent
from .train import History, adam, autocast, cpu_threads, model_device, prepare, train_loop


def mlp(
    sizes: list[int], act: type[nn.Module] = nn.ReLU, out_act: nn.Module | None = None
) -> nn.Sequential:
    """Linear layers of the given sizes with ``act`` between them (and ``out_act`` last)."""
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(act())
    if out_act is not None:
        layers.append(out_act)
    return nn.Sequential(*layers)


def xavier_init(module: nn.Module) -> nn.Module:
    """Xavier/Glorot-uniform weights and zero biases for every Linear layer."""
    for m in module.modules():
        if isinstance(m, nn.Linear):
            nn.init.xavier_uniform_(m.weight)
            nn.init.zeros_(m.bias)
    return module


class Generator(nn.Module):
    """MLP generator z (latent_dim) -> image (1, 28, 28) in [-1, 1] (the 100-128-784 layout)."""

    def __init__(self, latent_dim: int = 100, hidden: int = 128, image_shape=(1, 28, 28)):
        super().__init__()
        self.latent_dim, self.image_shape = latent_dim, tuple(image_shape)
        self.net = xavier_init(mlp([latent_dim, hidden, math.prod(image_shape)], out_act=nn.Tanh()))

    def forward(self, Z: torch.Tensor) -> torch.Tensor:
        return self.net(Z).view(-1, *self.image_shape)


class Discriminator(nn.Module):
    """MLP discriminator image -> logit l(x), D(x) = sigmoid(l) (the 784-128-1 layout)."""

    def __init__(self, hidden: int = 128, image_shape=(1, 28, 28)):
        super().__init__()
        self.net = xavier_init(mlp([math.prod(image_shape), hidden, 1]))

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        return self.net(X.flatten(1)).squeeze(1)


def discriminator_step(X, Z, net_D, net_G, trainer_D, *, scale=1.0) -> dict[str, torch.Tensor]:
    """One ascent step of V(D, G) for D (notebook 01); G is held fixed (``detach``).

    ``scale`` multiplies the loss before ``backward`` (1: the plain step; notebook 03's
    ensembles of S seeds pass S so that every member gets exactly its own gradient).
    """
    trainer_D.zero_grad(set_to_none=True)
    real_logits = net_D(X)
    fake_logits = net_D(net_G(Z).detach())
    loss_D = discriminator_loss(real_logits, fake_logits)
    (scale * loss_D).backward()
    trainer_D.step()
    return {
        "loss_D": loss_D.detach(),
        "D_real": torch.sigmoid(real_logits).mean().detach(),
        "D_fake": torch.sigmoid(fake_logits).mean().detach(),
    }


def generator_step(
    Z, net_D, net_G, trainer_G, *, kind: GeneratorLoss = "non_saturating", scale=1.0
) -> dict[str, torch.Tensor]:
    """One step for G with the saturating, non-saturating or Wasserstein loss (notebooks
    01 and 08); ``scale`` as in :func:`discriminator_step`.

    Only ``trainer_G`` steps; D's gradients computed on the way are cleared by its own
    ``zero_grad`` before its next step.
    """
    trainer_G.zero_grad(set_to_none=True)
    loss_G = generator_loss(net_D(net_G(Z)), kind)
    (scale * loss_G).backward()
    trainer_G.step()
    return {"loss_G": loss_G.detach()}


# ---------------------------------------------------------------------------------------
# Closed forms (Goodfellow et al. 2014, Proposition 1 and Theorem 1)
# ---------------------------------------------------------------------------------------
def optimal_discriminator(p_data: torch.Tensor, p_g: torch.Tensor) -> torch.Tensor:
    """D*(x) = p_data(x) / (p_data(x) + p_g(x)), elementwise on densities (Proposition 1).

    Where both densities are 0 D* is undefined; we return 0.5 there.
    """
    total = p_data + p_g
    return torch.where(total > 0, p_data / total.clamp_min(1e-30), torch.full_like(total, 0.5))


def js_divergence(p: torch.Tensor, q: torch.Tensor, dx: float) -> float:
    """Jensen-Shannon divergence (nats) of two densities tabulated on a uniform grid.

    JSD(p || q) = 1/2 KL(p || m) + 1/2 KL(q || m), m = (p + q)/2; trapezoid-free Riemann sum
    is enough on a fine grid. Theorem 1: V(D*, G) = -log 4 + 2 JSD(p_data || p_g).
    """
    p, q = p.double(), q.double()  # float32 tails underflow and give 0 * log(0 / 0)
    m = (p + q) / 2

    def kl(a: torch.Tensor) -> torch.Tensor:
        mask = (a > 0) & (m > 0)
        return (a[mask] * (a[mask] / m[mask]).log()).sum() * dx

    return float(0.5 * kl(p) + 0.5 * kl(q))


def value_function(d: torch.Tensor, p_data: torch.Tensor, p_g: torch.Tensor, dx: float) -> float:
    """V(D, G) = integral p_data log D + p_g log(1 - D) on a grid (eq. 1 written as integrals)."""
    d = d.clamp(1e-7, 1 - 1e-7)
    return float(((p_data * d.log() + p_g * (1 - d).log()) * dx).sum())


# ---------------------------------------------------------------------------------------
# Training (notebooks 01, 02 and 03): alternate k discriminator steps and one generator step.
# ---------------------------------------------------------------------------------------
class AffineGenerator(nn.Module):
    """G(z) = scale * z + shift on 1-D latents: with z ~ N(0, 1), p_g = N(shift, scale^2) is
    known in closed form, so D* can be checked exactly (notebook 01)."""

    def __init__(self, shift: float = 0.0, scale: float = 1.0):
        super().__init__()
        self.shift = nn.Parameter(torch.tensor(float(shift)))
        self.scale = nn.Parameter(torch.tensor(float(scale)))

    def forward(self, Z: torch.Tensor) -> torch.Tensor:
        return self.scale * Z[:, :1] + self.shift


def grad_norm(module: nn.Module) -> torch.Tensor:
    """L2 norm of all parameter gradients of ``module`` (0 if none), as a tensor on the
    module's device (no host sync)."""
    grads = [p.grad.pow(2).sum() for p in module.parameters() if p.grad is not None]
    if not grads:
        return torch.zeros((), device=model_device(module))
    return torch.stack(grads).sum().sqrt()


BCE_LOSSES: tuple[str, ...] = ("saturating", "non_saturating")
EMPTY_DATA = ("train_gan's data ran out of batches: pass the real samples as a tensor (N, ...) "
              "or an endless iterator such as course_lib.data.batches")  # fmt: skip


def _latents(n: int, latent_dim: int, kind: str, generator, device: torch.device) -> torch.Tensor:
    """Latents drawn on the CPU (the same numbers on every device), then moved without
    making the host wait for the GPU (:func:`course_lib.train.to_device`)."""
    return sample_latent(n, latent_dim, kind, generator, device)


def _real_batches(data, batch_size: int, generator, device: torch.device) -> Iterator:
    """An endless iterator of real batches on ``device`` from a tensor or a batch iterator;
    image data (B, C, H, W) must be in [-1, 1], the range of a Tanh generator."""
    X, stream = training_data(data, "train_gan", value_range=None)
    if X.dim() == 4:
        check_images(X, "train_gan", "signed", shape=None, why="the generators end in Tanh")
    if stream is None:
        return batches(X, batch_size, generator=generator, device=device)
    return (b.to(device) for b in stream)


def bf16_forward(net: nn.Module, device: torch.device) -> Callable[[torch.Tensor], torch.Tensor]:
    """``net``'s forward pass under bf16 autocast, its output back in fp32 (for the other
    network and the loss); the parameters and their gradients stay fp32."""

    def forward(X: torch.Tensor) -> torch.Tensor:
        with autocast(device, True):  # CUDA and CPU; fp32 elsewhere
            return net(X).float()

    return forward


def train_gan(
    data: torch.Tensor | Iterable[torch.Tensor],
    num_steps: int,
    *,
    net_G: nn.Module,
    net_D: nn.Module,
    latent_dim: int,
    latent_kind: str = "uniform",
    kind: GeneratorLoss = "non_saturating",
    batch_size: int = 64,
    lr: float = 2e-4,
    betas: tuple[float, float] = (0.5, 0.999),
    d_steps: int = 1,
    train_G: bool = True,
    trainers: tuple[torch.optim.Optimizer, torch.optim.Optimizer] | None = None,
    device: torch.device | str | None = None,
    generator: torch.Generator | None = None,
    bf16: bool | Literal["D"] | None = None,
    channels_last: bool | None = None,
    callback: Callable[[int, History], None] | None = None,
    callback_every: int = 0,
    log_every: int = 25,
    desc: str = "GAN",
    progress: bool = True,
    threads: int | None = None,
) -> tuple[tuple[nn.Module, nn.Module], History]:
    """Train a GAN by alternating ``d_steps`` discriminator steps and one generator step
    (Goodfellow et al. 2014, Algorithm 1; notebooks 01, 02 and 03).

    Args:
        data: the real samples: a tensor (N, ...) (shuffled into batches of ``batch_size``
            with ``generator``) or an endless iterator of batches (e.g.
            :func:`course_lib.data.batches`). Images must be in [-1, 1].
        num_steps: training iterations (each: ``d_steps`` D steps, then one G step).
        net_G, net_D: the networks, trained in place; moved to ``device`` (see
            ``channels_last``).
        latent_dim, latent_kind: z ~ U[-1, 1]^latent_dim ("uniform") or N(0, I) ("gaussian").
        kind: generator loss, "non_saturating" (default) or "saturating".
        lr, betas: Adam for both networks (fused on CUDA), unless ``trainers=(trainer_D,
            trainer_G)`` continues with existing optimisers (built on ``device``).
        train_G: False trains D alone against a fixed G.
        device: where to train; default the device of ``net_D``.
        generator: CPU ``torch.Generator`` for the batch order and the latents (seeded runs
            repeat exactly; the global RNG is neither used nor reseeded when it is given).
        bf16: bf16 autocast; None (default) = on CUDA only, so CPU numbers are plain fp32;
            ``"D"``: the discriminator's forward passes only, G in fp32 (notebook 02's path on
            CPUs with native bf16, :func:`course_lib.dcgan_train.fast_bf16`).
        channels_last: memory format of conv nets (:func:`course_lib.train.prepare`): None
            = on CUDA only; True also on a CPU (notebook 02's path on CPUs with native bf16,
            :func:`course_lib.dcgan_train.fast_channels_last`).
        callback, callback_every, log_every, desc, progress: see
            :func:`course_lib.train.train_loop`.
        threads: CPU threads while training (1 suits tiny 1-D and 2-D models); ignored off CPU.

    Returns ``((net_G, net_D), history)``; history keys ``step``, ``loss_D``, ``D_real``,
    ``D_fake`` (mean D outputs) and, with ``train_G``, ``loss_G`` and ``grad_G`` (norm of the
    generator's gradient).
    """
    check_choice("generator loss", kind, BCE_LOSSES, "train_gan trains with the BCE losses.")
    check_choice("latent kind", latent_kind, LATENT_KINDS)
    expected = getattr(net_G, "latent_dim", latent_dim)  # the course's generators record it
    if expected != latent_dim:
        raise ValueError(f"latent_dim={latent_dim}, but net_G takes latents of size {expected}: "
                         f"pass latent_dim={expected}")  # fmt: skip
    if d_steps < 1:
        raise ValueError(f"d_steps must be >= 1, got {d_steps}")
    check_choice("bf16", bf16, (None, True, False, "D"), "'D': autocast D's forward only.")
    device = torch.device(device) if device is not None else model_device(net_D)
    convs = (nn.Conv2d, nn.ConvTranspose2d)  # channels_last for conv nets (CUDA by default)
    net_G, net_D = (prepare(net, device, conv=any(isinstance(m, convs) for m in net.modules()),
                            channels_last=channels_last)
                    for net in (net_G, net_D))  # fmt: skip
    if trainers is None:
        trainers = (adam(net_D.parameters(), lr, betas, device),
                    adam(net_G.parameters(), lr, betas, device))  # fmt: skip
    trainer_D, trainer_G = trainers
    D = bf16_forward(net_D, device) if bf16 == "D" else net_D
    real = _real_batches(data, batch_size, generator, device)  # checks the data once

    def next_real() -> torch.Tensor:
        try:
            return next(real)
        except StopIteration:
            raise ValueError(EMPTY_DATA) from None

    def step_fn(step: int) -> dict[str, torch.Tensor]:
        with autocast(device, bf16 if bf16 != "D" else False):
            for _ in range(d_steps):
                X = next_real()
                Z = _latents(len(X), latent_dim, latent_kind, generator, device)
                out = discriminator_step(X, Z, D, net_G, trainer_D)
            if train_G:
                Z = _latents(len(X), latent_dim, latent_kind, generator, device)
                out |= generator_step(Z, D, net_G, trainer_G, kind=kind)
        if train_G:
            out["grad_G"] = grad_norm(net_G).detach()
        return out

    with cpu_threads(threads if device.type == "cpu" else None):
        history = train_loop(
            step_fn, num_steps, log_every=log_every, callback=callback,
            callback_every=callback_every, desc=desc, progress=progress,
        )  # fmt: skip
    return (net_G, net_D), history


# ---------------------------------------------------------------------------------------
# 1-D experiments of notebook 01 (tiny models: CPU, one thread)
# ---------------------------------------------------------------------------------------
def discriminator_1d(hidden: int = 64) -> nn.Sequential:
    """A small 1 -> hidden -> hidden -> 1 LeakyReLU MLP discriminator for 1-D data."""
    return xavier_init(mlp([1, hidden, hidden, 1], nn.LeakyReLU))


@torch.no_grad()
def compare_with_optimum(net_D, p_data_pdf, p_g_pdf, x: torch.Tensor, min_density: float = 0.02):
    """Compare a trained D with D* = p_data / (p_data + p_g) on a grid ``x`` (N,) (notebook 01).

    The error is measured where the mixture m = (p_data + p_g)/2 >= ``min_density``: outside the
    region where samples land, neither D nor its training signal is defined. Returns a dict
    with ``x``, ``d``, ``d_star``, ``mask`` (tensors on the CPU) and ``max_error``,
    ``mass_covered``.
    """
    pd, pg = p_data_pdf(x), p_g_pdf(x)
    d = torch.sigmoid(net_D(x.unsqueeze(1).to(model_device(net_D))).squeeze(-1)).cpu()
    d_star = optimal_discriminator(pd, pg)
    mask = (pd + pg) / 2 >= min_density
    dx = float(x[1] - x[0])
    return {
        "x": x, "d": d, "d_star": d_star, "mask": mask,
        "max_error": float((d - d_star).abs()[mask].max()),
        "mass_covered": float(((pd + pg) / 2)[mask].sum() * dx),
    }  # fmt: skip


def saturation_experiment(
    kind: GeneratorLoss,
    num_steps: int,
    *,
    start: float = 6.0,
    warmup_steps: int = 500,
    lr_G: float = 0.05,
    optimizer_G: str = "sgd",
    batch_size: int = 256,
    seed: int = 0,
    progress: bool = True,
) -> dict:
    """Train G(z) = start + 0.5 z against the 1-D mixture after D has had ``warmup_steps`` on
    its own (notebook 01, section 4). ``optimizer_G`` "sgd" is plain SGD without momentum, so
    G's step is proportional to its gradient (Goodfellow et al. 2014 used momentum SGD);
    "adam" (betas (0.5, 0.999), the same ``lr_G``) rescales the step by the gradient's RMS
    (notebook 01, exercise 1).

    Returns ``history`` (loss_D, D_fake, grad_G, ...), ``shift`` (G's mean every 25 steps as
    (step, mean) pairs), ``net_G`` and ``net_D``. With ``kind="saturating"`` the generator's
    gradient is ~D(G(z)) ~ 0 and it stalls. Everything random is seeded by ``seed``; the
    caller's global RNG is left as it was.
    """
    from .data import GaussianMixture1D, sample_batches

    check_choice("generator loss", kind, BCE_LOSSES)
    check_choice("generator optimizer", optimizer_G, ("sgd", "adam"))
    with seeded(seed) as g:  # seeds the nets' initialisation; g: batches and latents
        net_G, net_D = AffineGenerator(start, 0.5), discriminator_1d(32)
    trainer_D = adam(net_D.parameters(), 1e-3, (0.5, 0.999))
    if optimizer_G == "sgd":
        trainer_G = torch.optim.SGD(net_G.parameters(), lr=lr_G)
    else:
        trainer_G = adam(net_G.parameters(), lr_G, (0.5, 0.999))
    real = sample_batches(GaussianMixture1D(), batch_size, g)
    common = dict(net_G=net_G, net_D=net_D, latent_dim=1, latent_kind="gaussian", generator=g,
                  progress=progress, trainers=(trainer_D, trainer_G), threads=1)  # fmt: skip
    train_gan(real, warmup_steps, train_G=False, desc="D warm-up", **common)
    shift = [(0, float(net_G.shift.detach()))]
    _, history = train_gan(
        real, num_steps, kind=kind, desc=kind, log_every=25, callback_every=25,
        callback=lambda step, h: shift.append((step, float(net_G.shift.detach()))), **common,
    )  # fmt: skip
    return {"history": history, "shift": shift, "net_G": net_G, "net_D": net_D}


def d_star_experiment(
    num_steps: int,
    batch_size: int,
    *,
    g_shift: float = 0.5,
    g_scale: float = 1.0,
    seed: int = 0,
    min_density: float = 0.02,
    progress: bool = True,
) -> dict:
    """Train a 1-D discriminator against the fixed G(z) = g_shift + g_scale z, z ~ N(0, 1), on
    the two-Gaussian mixture of :class:`course_lib.data.GaussianMixture1D`, and compare it with
    D* of equation (2) (notebook 01, Goodfellow et al. 2014 Proposition 1).

    Returns :func:`compare_with_optimum`'s dict plus ``history``, ``net_D``, ``p_data`` and
    ``p_g_pdf``. Adam 1e-3, betas (0.9, 0.999), one CPU thread (a tiny model). Seeded by
    ``seed``; the caller's global RNG is left as it was.
    """
    from .data import GaussianMixture1D, gaussian_pdf, sample_batches

    p_data = GaussianMixture1D(means=(-2.0, 2.0), stds=(0.5, 0.5))
    net_G = AffineGenerator(g_shift, g_scale).requires_grad_(False)
    with seeded(seed) as g:  # seeds D's initialisation; g: batches and latents
        net_D = discriminator_1d(hidden=64)
    _, history = train_gan(
        sample_batches(p_data, batch_size, g), num_steps, net_G=net_G, net_D=net_D,
        latent_dim=1, latent_kind="gaussian", lr=1e-3, betas=(0.9, 0.999), train_G=False,
        generator=g, desc="D vs fixed G", progress=progress, threads=1,
    )  # fmt: skip

    def p_g_pdf(x: torch.Tensor) -> torch.Tensor:
        return gaussian_pdf(x, g_shift, g_scale)

    x = torch.linspace(-5, 5, 1001)
    out = compare_with_optimum(net_D, p_data.pdf, p_g_pdf, x, min_density=min_density)
    return out | {"history": history, "net_D": net_D, "p_data": p_data, "p_g_pdf": p_g_pdf}
