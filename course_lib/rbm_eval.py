"""Measuring an RBM (notebook 06, section 3): reconstruction error is in :mod:`course_lib.rbm`;
here are the pseudo-log-likelihood, the exact log Z of tiny RBMs, annealed importance
sampling (AIS) of log Z from a base-rate model, and the test log-likelihood.

- pseudo-log-likelihood (eq. 6):   PLL(v) = sum_i log p(v_i | v_-i)
- AIS (eqs. 7-9, Neal 2001; Salakhutdinov & Murray 2008): walk from the base-rate model
  p_A, whose log Z_0 is known, to the RBM through p_k(v) ∝ p*_k(v), 0 = beta_0 < ... < 1
- test log-likelihood (eq. 10):    log p(v) = -F(v) - log Z

Every function runs on the RBM's device; results are Python floats (one host sync each).
"""

from __future__ import annotations

import math

import torch
from torch.nn.functional import logsigmoid, softplus

from .rbm import RBM, reconstruction_error
from .vae import sample_bernoulli


@torch.no_grad()
def pseudo_log_likelihood(
    model: RBM, v: torch.Tensor, generator: torch.Generator | None = None
) -> float:
    """Stochastic pseudo-log-likelihood per image (eq. 6, notebook 06), in nats (higher is
    better).

    PLL(v) = sum_i log p(v_i | v_-i) ~= D * log sigmoid(F(v~) - F(v)), with v~ equal to v
    with one randomly chosen bit flipped (one bit per image; the scikit-learn estimator).
    For D = 1 it is exactly log p(v). v is moved to the model's device; ``generator``
    lives there too.
    """
    v = v.to(model.W.device)
    idx = torch.randint(0, v.shape[1], (v.shape[0],), generator=generator, device=v.device)
    flipped = v.clone()
    rows = torch.arange(v.shape[0], device=v.device)
    flipped[rows, idx] = 1 - flipped[rows, idx]
    delta = model.free_energy(flipped) - model.free_energy(v)
    return float(v.shape[1] * logsigmoid(delta).mean())


@torch.no_grad()
def exact_log_partition(model: RBM) -> float:
    """log Z by enumerating all 2^min(D, H) states of the smaller layer (tiny RBMs: notebook
    06's check of eq. 2, and the tests)."""
    D, H = model.n_visible, model.n_hidden
    if min(D, H) > 24:
        raise ValueError(f"exact log Z enumerates 2^{min(D, H)} states; use ais_log_partition")
    W, b, c = model.W.double(), model.b.double(), model.c.double()
    n = min(D, H)
    states = ((torch.arange(2**n, device=W.device)[:, None] >> torch.arange(n, device=W.device))
              & 1).double()  # fmt: skip
    if H <= D:  # sum over h analytically over v: log sum_h exp(c.h) prod_i (1 + e^{b_i + W h})
        terms = states @ c + softplus(states @ W.T + b).sum(1)
    else:
        terms = states @ b + softplus(states @ W + c).sum(1)
    return float(torch.logsumexp(terms, 0))


def base_rate_bias(X: torch.Tensor, pseudocount: float = 5.0) -> torch.Tensor:
    """Visible biases of the base-rate model p_A(v) = prod_i Bernoulli(p_i) (S&M 2008 sec 4.1;
    the start of AIS in notebook 06).

    p_i = (sum_n x_ni + pseudocount / 2) / (N + pseudocount): the mean of pixel i over the
    training set X (N, D) or (N, 1, 28, 28), smoothed by ``pseudocount`` pseudo-images of
    probability 1/2 that keep p_i away from 0 and 1. Returns b_A = log(p_i / (1 - p_i)) (D,).
    """
    X = X.flatten(1).double()
    p = (X.sum(0) + 0.5 * pseudocount) / (len(X) + pseudocount)
    return (p / (1 - p)).log().float()


def ais_betas(num_betas: int) -> torch.Tensor:
    """Inverse temperatures 0 = beta_0 < ... < beta_K = 1, spaced as in Salakhutdinov &
    Murray (2008): 500/14500 of them in [0, 0.5), 4000/14500 in [0.5, 0.9), the rest in
    [0.9, 1] (more where the distributions change fastest). AIS schedule of notebook 06."""
    if num_betas < 10:
        raise ValueError(f"num_betas must be >= 10, got {num_betas}")
    n1 = max(1, round(num_betas * 500 / 14500))
    n2 = max(1, round(num_betas * 4000 / 14500))
    n3 = num_betas - n1 - n2
    return torch.cat(
        [
            torch.linspace(0, 0.5, n1 + 1)[:-1],
            torch.linspace(0.5, 0.9, n2 + 1)[:-1],
            torch.linspace(0.9, 1.0, n3 + 1),
        ]
    ).double()


@torch.no_grad()
def ais_log_partition(
    model: RBM,
    base_bias: torch.Tensor | None = None,
    num_betas: int = 14500,
    num_chains: int = 100,
    generator: torch.Generator | None = None,
) -> dict[str, float]:
    """Annealed importance sampling estimate of log Z (Neal 2001; S&M 2008, eqs. 7-9 of
    notebook 06).

    Intermediate distributions p_k(v) ∝ p*_k(v), with h summed out analytically:
        log p*_k(v) = (1 - beta_k) b_A.v + beta_k b.v + sum_j softplus(beta_k (c_j + (vW)_j))
    so p_0 is the base-rate model (log Z_0 = H log 2 + sum_i softplus(b_A,i)) and p_K the RBM.
    Each chain starts with v ~ p_0 and moves by one Gibbs sweep per beta; its log importance
    weight is sum_k [log p*_k(v_k) - log p*_{k-1}(v_k)]. Returns ``log_z`` = log Z_0 +
    log mean exp(w), the spread ``log_z_std`` (std of log of bootstrap means, nats),
    ``ess`` (effective sample size of the weights) and ``log_z0``. ``generator`` must live
    on the model's device.
    """
    W, b, c = model.W, model.b, model.c
    device = W.device
    D, H = model.n_visible, model.n_hidden
    b_A = torch.zeros(D, device=device) if base_bias is None else base_bias.to(device).float()
    betas = ais_betas(num_betas).tolist()
    log_z0 = H * math.log(2) + float(softplus(b_A.double()).sum())

    def log_p_star(v: torch.Tensor, vW: torch.Tensor, beta: float) -> torch.Tensor:
        return ((1 - beta) * (v @ b_A) + beta * (v @ b) + softplus(beta * (vW + c)).sum(1)).double()

    v = sample_bernoulli(torch.sigmoid(b_A).expand(num_chains, D), generator)
    log_w = torch.zeros(num_chains, dtype=torch.float64, device=device)
    for beta_prev, beta in zip(betas[:-1], betas[1:]):
        vW = v @ W
        log_w += log_p_star(v, vW, beta) - log_p_star(v, vW, beta_prev)
        if beta == 1.0:
            break
        # One Gibbs sweep that leaves p_k invariant: h ~ p_k(h | v), v ~ p_k(v | h).
        h = sample_bernoulli(torch.sigmoid(beta * (vW + c)), generator)
        v = sample_bernoulli(torch.sigmoid((1 - beta) * b_A + beta * (h @ W.T + b)), generator)
    log_mean_w = float(torch.logsumexp(log_w, 0)) - math.log(num_chains)
    weights = torch.softmax(log_w, 0)
    boot = torch.randint(0, num_chains, (200, num_chains), generator=generator, device=device)
    boot_lz = torch.logsumexp(log_w[boot], 1) - math.log(num_chains)
    return {
        "log_z": log_z0 + log_mean_w,
        "log_z_std": float(boot_lz.std()),
        "ess": float(1.0 / (weights**2).sum()),
        "log_z0": log_z0,
    }


@torch.no_grad()
def average_log_likelihood(model: RBM, v: torch.Tensor, log_z: float) -> float:
    """Mean log p(v) = -F(v) - log Z over the rows of v (eq. 10, notebook 06), in nats."""
    return float((-model.free_energy(v.to(model.W.device))).double().mean()) - log_z


def evaluate_rbm(
    model: RBM,
    X_test: torch.Tensor,
    base_bias: torch.Tensor,
    num_betas: int,
    num_chains: int,
    ais_runs: int = 2,
    seed: int = 0,
) -> dict[str, float]:
    """Everything notebook 06 and benchmarks/bench_rbm.py report for one trained RBM.

    X_test: binary (N, D), moved to the RBM's device. ``ais_runs`` independent AIS runs
    (seeds seed, seed+1, ...) give log Z; ``test_ll_ais`` uses their mean and ``ais_spread``
    is max - min of the runs' test log-likelihoods (how far repeated runs disagree, nats).
    Also ``log_z``, ``log_z_runs``, ``ess`` (the smallest of the runs), ``pll`` (eq. 6,
    seeded by ``seed``) and ``recon`` (eq. 5).
    """
    device = model.W.device
    X_test = X_test.to(device)
    runs = []
    for r in range(ais_runs):
        gen = torch.Generator(device=device).manual_seed(seed + r)
        runs.append(ais_log_partition(model, base_bias, num_betas, num_chains, gen))
    log_zs = [r["log_z"] for r in runs]
    lls = [average_log_likelihood(model, X_test, lz) for lz in log_zs]
    gen = torch.Generator(device=device).manual_seed(seed)
    return {
        "test_ll_ais": sum(lls) / len(lls),
        "ais_spread": max(lls) - min(lls),
        "log_z": sum(log_zs) / len(log_zs),
        "log_z_runs": log_zs,
        "ess": min(r["ess"] for r in runs),
        "pll": pseudo_log_likelihood(model, X_test, gen),
        "recon": float(reconstruction_error(model, X_test)),
    }
