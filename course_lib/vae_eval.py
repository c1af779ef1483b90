"""Evaluating the VAEs of notebooks 04 and 05: test ELBO, importance-weighted NLL, active
units, KL per latent dimension and PSNR.

- :func:`evaluate_elbo` (the ELBO of eq. 04.2 / 05.2 on a fixed test set) and
  :func:`evaluate_iwae` (the bound L_k of eq. 04.6, the usual test NLL estimate), notebook 04;
- :func:`active_units` and :func:`kl_per_dim`, the posterior-collapse diagnostics of
  notebook 04;
- :func:`psnr` and :func:`evaluate_psnr`, denoising quality in dB (notebook 05).

Each runs on the model's device (``train.model_device``); X may live on any device. The
model, the ELBO terms and training live in :mod:`course_lib.vae`. Images are in [0, 1];
bounds are in nats per image (negative: the notebooks print their negation).
"""

from __future__ import annotations

import torch

from .train import eval_mode, model_device, to_device
from .vae import VAE, corrupt, elbo, gaussian_kl, iwae_bound


# ---------------------------------------------------------------------------------------
# Image quality (notebook 05)
# ---------------------------------------------------------------------------------------
def psnr(X_hat: torch.Tensor, X: torch.Tensor, max_val: float = 1.0) -> torch.Tensor:
    """Peak signal-to-noise ratio per image, in dB: 10 log10(max_val^2 / MSE) (notebook 05).

    X_hat, X: (B, ...) on the same scale, whose peak is ``max_val`` (1 for [0, 1] images;
    use 2 for [-1, 1]). Returns (B,); MSE is floored at 1e-10 (PSNR <= 100 dB for max 1).
    """
    if X_hat.shape != X.shape:
        raise ValueError(f"psnr needs equal shapes, got {tuple(X_hat.shape)}, {tuple(X.shape)}")
    mse = (X_hat - X).pow(2).flatten(1).mean(dim=1).clamp_min(1e-10)
    return 10 * torch.log10(max_val**2 / mse)


# ---------------------------------------------------------------------------------------
# Test-set evaluation (on the model's device; X may live anywhere)
# ---------------------------------------------------------------------------------------
def _chunks(X: torch.Tensor, batch_size: int):
    return (X[i : i + batch_size] for i in range(0, len(X), batch_size))


@torch.no_grad()
def evaluate_elbo(
    model: VAE,
    X: torch.Tensor,
    num_samples: int = 10,
    X_input: torch.Tensor | None = None,
    seed: int = 0,
    batch_size: int = 500,
) -> dict[str, float]:
    """Test ELBO and its two terms, averaged over images and ``num_samples`` draws of z
    (notebooks 04, 05). X: fixed targets in [0, 1] (a binarised test set in notebook 04).

    Returns ``elbo`` (negative; papers print -ELBO), ``rec`` and ``kl`` in nats per image.
    """
    device = model_device(model)
    gen = torch.Generator().manual_seed(seed)
    X_input = X if X_input is None else X_input
    sums = {"elbo": 0.0, "rec": 0.0, "kl": 0.0}
    with eval_mode(model):
        for xb, xi in zip(_chunks(X, batch_size), _chunks(X_input, batch_size)):
            xb, xi = to_device(xb, device), to_device(xi, device)
            for _ in range(num_samples):
                terms = elbo(model, xb, xi, gen)
                for key in sums:
                    sums[key] += float(terms[key].sum())
    return {key: v / (len(X) * num_samples) for key, v in sums.items()}


@torch.no_grad()
def evaluate_iwae(
    model: VAE, X: torch.Tensor, k: int = 5000, seed: int = 0, batch_size: int = 100
) -> float:
    """Mean importance-weighted bound L_k over the images X (notebook 04). -L_k for large k
    (Burda et al. use k = 5000) is the usual test NLL estimate, in nats."""
    gen = torch.Generator().manual_seed(seed)
    with eval_mode(model):
        total = sum(float(iwae_bound(model, xb, k, gen).sum()) for xb in _chunks(X, batch_size))
    return total / len(X)


@torch.no_grad()
def active_units(model: VAE, X: torch.Tensor, threshold: float = 0.01) -> tuple[int, torch.Tensor]:
    """Burda et al. (2016) activity: A_u = Cov_x(E_q(z|x)[z_u]) per latent dim (notebook 04).

    A unit is active when A_u > ``threshold`` (0.01 in the paper). Returns the count and the
    (latent_dim,) activities on the CPU. Inactive units are collapsed: q(z_u|x) = p(z_u) for
    every x.
    """
    with eval_mode(model):
        mu = torch.cat([model.encode(xb)[0] for xb in _chunks(X, 500)])
    activity = mu.var(dim=0).cpu()
    return int((activity > threshold).sum()), activity


@torch.no_grad()
def kl_per_dim(model: VAE, X: torch.Tensor) -> torch.Tensor:
    """Mean KL(q(z_u|x) || N(0, 1)) over the images X, per latent dim (latent_dim,), on the
    CPU (notebook 04). The entries sum to the mean of :func:`gaussian_kl`."""
    total = torch.zeros(model.latent_dim)
    with eval_mode(model):
        for xb in _chunks(X, 500):
            total += gaussian_kl(*model.encode(xb), per_dim=True).sum(0).cpu()
    return total / len(X)


@torch.no_grad()
def evaluate_psnr(
    model: VAE, X: torch.Tensor, noise_factor: float, seed: int = 0, batch_size: int = 500
) -> float:
    """Mean PSNR (dB) of ``model.reconstruct(corrupt(X, noise_factor))`` against the clean X
    (notebook 05). X in [0, 1]; the corruption is seeded, so every model sees the same noise.
    """
    gen = torch.Generator().manual_seed(seed)
    with eval_mode(model):
        scores = [psnr(model.reconstruct(corrupt(xb, noise_factor, gen)).cpu(), xb.cpu())
                  for xb in _chunks(X, batch_size)]  # fmt: skip
    return float(torch.cat(scores).mean())
