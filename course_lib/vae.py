"""Variational auto-encoders (notebook 04) and denoising VAEs (notebook 05).

Everything the two notebooks compute lives here, in small functions whose docstrings name
the equation they implement:

- the model: :class:`VAE`, the classic MLP layout 784-h-z (Kingma & Welling 2014) with a
  diagonal-Gaussian encoder q(z|x) and a Bernoulli decoder p(x|z) given by logits;
- the pieces of the ELBO: :func:`reparameterize` (eq. 04.3), :func:`gaussian_kl` (the
  analytic KL of eq. 04.4), :func:`bernoulli_log_likelihood` (eq. 04.5) and :func:`elbo`;
- the importance-weighted bound of Burda et al. (2016): :func:`iwae_bound` (eq. 04.6);
- data handling: :func:`sample_bernoulli` (dynamic binarisation in notebook 04; the RBM's
  Gibbs sampler in notebook 06) and :func:`corrupt` (the denoising corruption of notebook 05,
  eq. 05.1);
- training: :func:`vae_step` (one gradient step, small enough to print), :func:`kl_weight`
  (KL warm-up) and :func:`train_vae` (the loop, through :func:`course_lib.train.train_loop`).

Evaluating a trained model (test ELBO, IWAE NLL, active units, PSNR) lives in
:mod:`course_lib.vae_eval`.

The model's methods take inputs on any device and compute on the model's
(``train.model_device``); random draws made from a CPU generator reach the model's device
through ``train.to_device`` (no host sync per step on a GPU).

Conventions: images enter these functions in [0, 1] (use :func:`course_lib.data.to_unit`
on the course's [-1, 1] tensors), shape (B, 1, 28, 28). Log-likelihoods and bounds are in
nats per image; a *bound* is a log-likelihood (negative), and the notebooks print its
negation ("-ELBO", "NLL") the way papers report them.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch
from torch import nn
from torch.nn import functional as F

from .config import seeded
from .data import batches, training_data
from .gan import mlp
from .train import (
    History,
    adam,
    autocast,
    model_device,
    prepare,
    to_device,
    train_loop,
)

LOG_2PI = math.log(2 * math.pi)


# ---------------------------------------------------------------------------------------
# Model
# ---------------------------------------------------------------------------------------
class VAE(nn.Module):
    """MLP VAE, 784-h-z (notebooks 04, 05).

    Encoder: x (B, 1, 28, 28) in [0, 1] -> hidden (ReLU) -> (mu, logvar), each (B, latent_dim),
    the mean and log-variance of q(z|x) = N(mu, diag(exp(logvar))).
    Decoder: z (B, latent_dim) -> hidden (ReLU) -> 784 logits of p(x|z) = Bernoulli(sigmoid).

    Args:
        latent_dim: size of z (2 for the manifold plots, 20 for reconstructions and NLL).
        hidden: width of the single hidden layer of the encoder and of the decoder.
        image_shape: shape of one image; the input size is its product.
    """

    def __init__(self, latent_dim: int = 20, hidden: int = 400, image_shape=(1, 28, 28)):
        super().__init__()
        if latent_dim < 1 or hidden < 1:
            raise ValueError(f"latent_dim and hidden must be >= 1, got {latent_dim}, {hidden}")
        self.latent_dim, self.image_shape = latent_dim, tuple(image_shape)
        size = math.prod(self.image_shape)
        self.encoder = mlp([size, hidden, 2 * latent_dim])
        self.decoder = mlp([latent_dim, hidden, size])

    def encode(self, X: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """q(z|x): ``(mu, logvar)``, each (B, latent_dim), for X (B, 1, 28, 28) in [0, 1]
        (notebook 04). X may live on any device; the result is on the model's."""
        X = to_device(X, model_device(self))
        mu, logvar = self.encoder(X.flatten(1)).chunk(2, dim=1)
        return mu, logvar

    def decode(self, Z: torch.Tensor) -> torch.Tensor:
        """p(x|z): Bernoulli logits (B, 1, 28, 28) for Z (B, latent_dim) (notebook 04). Z may
        live on any device; the result is on the model's."""
        return self.decoder(to_device(Z, model_device(self))).view(-1, *self.image_shape)

    def forward(self, X: torch.Tensor, generator: torch.Generator | None = None):
        """Encode, sample z by reparameterisation, decode: ``(logits, mu, logvar)``."""
        mu, logvar = self.encode(X)
        return self.decode(reparameterize(mu, logvar, generator)), mu, logvar

    @torch.no_grad()
    def reconstruct(self, X: torch.Tensor) -> torch.Tensor:
        """Mean reconstruction sigmoid(decode(mu(x))) in [0, 1], shape of X, on the model's
        device (notebooks 04, 05)."""
        return torch.sigmoid(self.decode(self.encode(X)[0]))

    @torch.no_grad()
    def decode_images(self, Z: torch.Tensor) -> torch.Tensor:
        """Decoder means as images in [-1, 1], on the model's device: the course's convention
        for ``show_images`` and ``LatentInterpolationWidget`` (notebook 04)."""
        return torch.sigmoid(self.decode(Z)) * 2 - 1


# ---------------------------------------------------------------------------------------
# The ELBO, term by term (notebook 04)
# ---------------------------------------------------------------------------------------
def _randn(shape, like: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    if generator is None:
        return torch.randn(shape, device=like.device, dtype=like.dtype)
    eps = torch.randn(shape, generator=generator, device=generator.device)
    return to_device(eps, like.device).to(like.dtype)


def reparameterize(
    mu: torch.Tensor, logvar: torch.Tensor, generator: torch.Generator | None = None
) -> torch.Tensor:
    """z = mu + sigma * eps, eps ~ N(0, I), sigma = exp(logvar / 2)  (eq. 04.3, notebook 04).

    The randomness sits in eps, outside the parameters, so dz/dmu = 1 and dz/dsigma = eps:
    gradients flow through the sample.
    """
    return mu + torch.exp(0.5 * logvar) * _randn(mu.shape, mu, generator)


def gaussian_kl(mu: torch.Tensor, logvar: torch.Tensor, per_dim: bool = False) -> torch.Tensor:
    """KL(N(mu, diag sigma^2) || N(0, I)) per row, in nats  (eq. 04.4, notebook 04).

    KL = 1/2 * sum_j (mu_j^2 + sigma_j^2 - log sigma_j^2 - 1). mu, logvar: (B, D) -> (B,);
    with ``per_dim`` the terms of the sum, (B, D) (:func:`course_lib.vae_eval.kl_per_dim`).
    """
    terms = mu.pow(2) + logvar.exp() - logvar - 1
    return 0.5 * terms if per_dim else 0.5 * terms.sum(dim=-1)


def bernoulli_log_likelihood(logits: torch.Tensor, X: torch.Tensor) -> torch.Tensor:
    """log p(x|z) = sum_i [x_i log p_i + (1 - x_i) log(1 - p_i)], p = sigmoid(logits)
    (eq. 04.5, notebooks 04, 05). Per image: (B, ...) -> (B,).

    Computed from logits (``binary_cross_entropy_with_logits``), which is stable where
    sigmoid saturates. For binary x it is a true log-probability; for grey levels in [0, 1]
    (notebook 05) it is the usual cross-entropy objective, not a normalised density.
    """
    bce = F.binary_cross_entropy_with_logits(logits, X, reduction="none")
    return -bce.flatten(1).sum(dim=1)


def log_normal(z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """log N(z; mu, diag exp(logvar)), summed over the last dimension (notebook 04)."""
    return -0.5 * (LOG_2PI + logvar + (z - mu).pow(2) * torch.exp(-logvar)).sum(dim=-1)


def elbo(
    model: VAE,
    X: torch.Tensor,
    X_input: torch.Tensor | None = None,
    generator: torch.Generator | None = None,
) -> dict[str, torch.Tensor]:
    """One-sample ELBO with the analytic KL  (eq. 04.2; eq. 05.2 with ``X_input``).

    ELBO(x) = E_q(z|x)[log p(x|z)] - KL(q(z|x) || p(z)). ``X`` is the target; the encoder
    sees ``X_input`` (default ``X``): passing a corrupted copy gives the denoising ELBO of
    notebook 05. Returns per-image tensors (B,): ``elbo``, ``rec`` (log p(x|z)), ``kl``.
    """
    mu, logvar = model.encode(X if X_input is None else X_input)
    logits = model.decode(reparameterize(mu, logvar, generator))
    rec, kl = bernoulli_log_likelihood(logits, X), gaussian_kl(mu, logvar)
    return {"elbo": rec - kl, "rec": rec, "kl": kl}


@torch.no_grad()
def iwae_bound(
    model: VAE,
    X: torch.Tensor,
    k: int,
    generator: torch.Generator | None = None,
    max_elements: int = 2**23,
) -> torch.Tensor:
    """Importance-weighted bound L_k(x) per image, shape (B,)  (eq. 04.6, notebook 04).

    L_k = log (1/k) sum_i p(x, z_i) / q(z_i|x), z_i ~ q(z|x) (Burda et al. 2016), computed
    with ``logsumexp`` so the weights never leave log space. L_1 is the ELBO (with a sampled
    KL); L_k increases with k and tends to log p(x). The k samples are processed in chunks
    of at most ``max_elements`` decoder outputs.
    """
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    X = to_device(X, model_device(model))
    mu, logvar = model.encode(X)
    target = X.flatten(1)
    eps = _randn((k, *mu.shape), mu, generator)  # (k, B, D), drawn at once: chunk-independent
    chunk = max(1, max_elements // (len(X) * target.shape[1]))
    log_w = []
    for start in range(0, k, chunk):
        Z = mu + torch.exp(0.5 * logvar) * eps[start : start + chunk]  # (c, B, D)
        c = len(Z)
        logits = model.decode(Z.flatten(0, 1)).view(c, len(X), -1)
        log_px = -F.binary_cross_entropy_with_logits(
            logits, target.expand_as(logits), reduction="none"
        ).sum(-1)
        log_pz = log_normal(Z, torch.zeros_like(Z), torch.zeros_like(Z))
        log_w.append(log_px + log_pz - log_normal(Z, mu, logvar))
    return torch.logsumexp(torch.cat(log_w), dim=0) - math.log(k)


# ---------------------------------------------------------------------------------------
# Data: binarisation and corruption
# ---------------------------------------------------------------------------------------
def sample_bernoulli(p: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Binary sample x ~ Bernoulli(p), p in [0, 1], same shape, dtype and device as p
    (notebooks 04, 06).

    Notebook 04 calls it afresh on every batch ("dynamic" binarisation: the model never sees
    the same binary image twice) and, with a seeded generator, once to make a fixed binarised
    test set; notebook 06's RBM samples its units with it. The uniforms are drawn where the
    generator lives: a CPU generator gives the same numbers on every machine (then moved with
    ``train.to_device``); a generator on p's device, or none (that device's global RNG), draws
    there without a copy, as the RBM's Gibbs chains do. No range check, to keep training
    steps free of host syncs (the trainers check their data once).
    """
    device = p.device if generator is None else generator.device
    u = to_device(torch.rand(p.shape, generator=generator, device=device), p.device)
    return (u < p).to(p.dtype)


def corrupt(
    X: torch.Tensor, noise_factor: float, generator: torch.Generator | None = None
) -> torch.Tensor:
    """x~ = clamp(x + noise_factor * eps, 0, 1), eps ~ N(0, I)  (eq. 05.1, notebook 05).

    X in [0, 1]; ``noise_factor`` >= 0 (0 returns a copy of X). Clamping keeps pixels valid
    but makes the noise non-zero-mean near 0 and 1 (black background pixels only brighten).
    """
    noise_factor = float(noise_factor)
    if not math.isfinite(noise_factor) or noise_factor < 0:
        raise ValueError(f"noise_factor must be a finite number >= 0, got {noise_factor}")
    noise = to_device(torch.randn(X.shape, generator=generator), X.device)  # CPU generator
    return (X + noise_factor * noise).clamp(0.0, 1.0)


# ---------------------------------------------------------------------------------------
# Training
# ---------------------------------------------------------------------------------------
def kl_weight(step: int, warmup_steps: int = 0) -> float:
    """KL warm-up beta(step) = min(1, step / warmup_steps); 1 without warm-up (notebook 04).

    Bowman et al. (2016) and Sønderby et al. (2016) anneal the KL weight from 0 to 1 so the
    decoder learns to use z before the KL term can switch latent dimensions off.
    """
    return 1.0 if warmup_steps <= 0 else min(1.0, step / warmup_steps)


def vae_step(
    X: torch.Tensor,
    model: VAE,
    trainer: torch.optim.Optimizer,
    *,
    beta: float = 1.0,
    binarize: bool = True,
    noise_factor: float = 0.0,
    generator: torch.Generator | None = None,
) -> dict[str, torch.Tensor]:
    """One gradient step on -ELBO (notebooks 04, 05). X: (B, 1, 28, 28) in [0, 1].

    1. target x: a fresh binarisation of X (``binarize``) or the grey levels themselves;
    2. encoder input: x, or its corruption x~ (eq. 05.1) when ``noise_factor`` > 0;
    3. loss = -(log p(x|z) - beta * KL) averaged over the batch (eq. 04.2 / 05.2).
    Returns the loss, the plain -ELBO (beta = 1) and the KL, detached. ``generator``: a CPU
    generator (the binarisation, the corruption and eps are drawn from it).
    """
    target = sample_bernoulli(X, generator) if binarize else X
    X_input = corrupt(target, noise_factor, generator) if noise_factor > 0 else target
    trainer.zero_grad(set_to_none=True)
    terms = elbo(model, target, X_input, generator)
    loss = -(terms["rec"] - beta * terms["kl"]).mean()
    loss.backward()
    trainer.step()
    neg_elbo, kl = -terms["elbo"].mean().detach(), terms["kl"].mean().detach()
    return {"loss": loss.detach(), "neg_elbo": neg_elbo, "kl": kl}


def train_vae(
    data: torch.Tensor | Iterable[torch.Tensor],
    num_steps: int,
    *,
    latent_dim: int = 20,
    hidden: int = 400,
    batch_size: int = 100,
    lr: float = 1e-3,
    warmup_steps: int = 0,
    beta: float = 1.0,
    binarize: bool = True,
    noise_factor: float = 0.0,
    seed: int = 0,
    device: torch.device | str | None = None,
    bf16: bool | None = None,
    log_every: int = 25,
    desc: str = "VAE",
    progress: bool = True,
) -> tuple[VAE, History]:
    """Build a :class:`VAE` and train it with :func:`vae_step` and Adam (notebooks 04, 05).

    data: images (N, 1, 28, 28) in [0, 1] (``course_lib.data.to_unit`` maps the course's
    [-1, 1] images), shuffled into batches of ``batch_size``, or an endless iterator of such
    batches (the first one is checked). The KL weight is ``beta * kl_weight(step,
    warmup_steps)``; ``binarize`` trains on a fresh binarisation of every batch (notebook 04),
    ``noise_factor`` > 0 corrupts the encoder's input (eq. 05.1, notebook 05). ``seed`` seeds
    the initialisation, batches, binarisation and corruption (the caller's global RNG is left
    as it was); ``device`` defaults to the data's, ``bf16`` autocast to CUDA only. Returns
    ``(model, history)``, the model in eval mode, history keys ``step``, ``loss``,
    ``neg_elbo``, ``kl`` (nats per image, means over ``log_every`` steps).
    """
    if num_steps < 1 or not beta >= 0 or warmup_steps < 0:
        raise ValueError(f"need num_steps >= 1, beta >= 0, warmup_steps >= 0; got {num_steps}, "
                         f"{beta}, {warmup_steps}")  # fmt: skip
    if not 0 <= noise_factor <= 1:  # also catches NaN
        raise ValueError(
            f"noise_factor is the std of the noise added to [0, 1] pixels: use a "
            f"value in [0, 1] (notebook 05: 0.25; 0 = none), got {noise_factor}"
        )
    data, it = training_data(data, "train_vae", "unit")
    device = torch.device(device) if device is not None else data.device
    with seeded(seed) as gen:  # gen: batches, binarisation and corruption
        model = VAE(latent_dim, hidden)
    model = prepare(model, device)
    trainer = adam(model.parameters(), lr=lr, device=device)
    if it is None:
        stream = batches(data, batch_size, generator=gen, device=device)
    else:
        stream = (to_device(X, device) for X in it)

    def step_fn(step: int) -> dict[str, torch.Tensor]:
        b = beta * kl_weight(step, warmup_steps)
        with autocast(device, bf16):
            return vae_step(next(stream), model, trainer, beta=b, binarize=binarize,
                            noise_factor=noise_factor, generator=gen)  # fmt: skip

    history = train_loop(step_fn, num_steps, log_every=log_every, desc=desc, progress=progress)
    return model.eval(), history
