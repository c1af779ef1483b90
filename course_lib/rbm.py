"""Binary restricted Boltzmann machines (notebook 06): energy, Gibbs sampling, CD-k / PCD
training, pseudo-likelihood and an annealed-importance-sampling (AIS) estimate of log Z.

Notation (Hinton 2002; Salakhutdinov & Murray 2008, "On the quantitative analysis of deep
belief networks", ICML): visible units v in {0,1}^D, hidden units h in {0,1}^H, weights
W (D, H), visible bias b (D,), hidden bias c (H,).

- energy (eq. 1 of notebook 06):   E(v, h) = -b.v - c.h - v W h
- free energy (eq. 2):             F(v) = -b.v - sum_j softplus(c_j + (v W)_j)
- conditionals (eq. 3):            p(h_j = 1 | v) = sigmoid(c_j + (v W)_j),
                                   p(v_i = 1 | h) = sigmoid(b_i + (W h)_i)
- CD-k / PCD gradient (eq. 4):     dW = <v h>_data - <v h>_chain

Every function works on batches of flattened binary images (B, D) with values in {0, 1}
and on any device (the notebook trains on CPU, the full profile on a GPU).
"""

from __future__ import annotations

import math
from typing import Literal

import torch
from torch import nn
from torch.nn.functional import softplus

from .train import train_loop
from .vae import dynamic_binarize

Method = Literal["cd", "pcd"]
METHODS: tuple[str, ...] = ("cd", "pcd")
CHAIN_STARTS: tuple[str, ...] = ("data", "noise")


def _bernoulli(p: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    """Binary sample of Bernoulli(p), drawn on p's device (generator must live there too)."""
    return (torch.rand(p.shape, generator=generator, device=p.device) < p).to(p.dtype)


def binarize_images(X: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Images (N, 1, 28, 28) in [-1, 1] -> stochastically binarised flat vectors (N, 784).

    Pixel intensities become Bernoulli probabilities, as in Salakhutdinov & Murray (2008);
    with a seeded generator this makes a fixed binary test set (notebook 06).
    """
    return dynamic_binarize(((X + 1) / 2).flatten(1), generator)


class RBM(nn.Module):
    """Binary-binary RBM with D visible and H hidden units (notebook 06, eqs. 1-3).

    ``use_biases=False`` in the conditionals reproduces the pitfall of notebook 06: a
    widely copied implementation learns b and c but samples with sigmoid(v W) and
    sigmoid(W h), i.e. as if the biases were zero.
    """

    def __init__(self, n_visible: int = 784, n_hidden: int = 500, init_std: float = 0.01):
        super().__init__()
        self.W = nn.Parameter(init_std * torch.randn(n_visible, n_hidden))
        self.b = nn.Parameter(torch.zeros(n_visible))  # visible bias
        self.c = nn.Parameter(torch.zeros(n_hidden))  # hidden bias

    @property
    def n_visible(self) -> int:
        return self.W.shape[0]

    @property
    def n_hidden(self) -> int:
        return self.W.shape[1]

    def energy(self, v: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        """E(v, h) = -b.v - c.h - v W h (eq. 1); v (B, D), h (B, H) -> (B,)."""
        return -(v @ self.b) - (h @ self.c) - ((v @ self.W) * h).sum(1)

    def free_energy(self, v: torch.Tensor) -> torch.Tensor:
        """F(v) = -log sum_h exp(-E(v, h)) = -b.v - sum_j softplus(c_j + (vW)_j) (eq. 2)."""
        return -(v @ self.b) - softplus(v @ self.W + self.c).sum(1)

    def p_h_given_v(self, v: torch.Tensor, use_biases: bool = True) -> torch.Tensor:
        """p(h_j = 1 | v) = sigmoid(c_j + (v W)_j) (eq. 3); (B, D) -> (B, H)."""
        return torch.sigmoid(v @ self.W + self.c if use_biases else v @ self.W)

    def p_v_given_h(self, h: torch.Tensor, use_biases: bool = True) -> torch.Tensor:
        """p(v_i = 1 | h) = sigmoid(b_i + (W h)_i) (eq. 3); (B, H) -> (B, D)."""
        return torch.sigmoid(h @ self.W.T + self.b if use_biases else h @ self.W.T)

    def sample_h(self, v, generator=None, use_biases: bool = True) -> torch.Tensor:
        return _bernoulli(self.p_h_given_v(v, use_biases), generator)

    def sample_v(self, h, generator=None, use_biases: bool = True) -> torch.Tensor:
        return _bernoulli(self.p_v_given_h(h, use_biases), generator)

    @torch.no_grad()
    def gibbs(
        self,
        v: torch.Tensor,
        k: int = 1,
        generator: torch.Generator | None = None,
        use_biases: bool = True,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """k steps of block Gibbs sampling v -> h -> v (notebook 06, section 2).

        Returns ``(v_k, p_k)``: the binary state after k steps and p(v | h_{k-1}), the mean
        image of the last step (nicer to look at). k = 0 returns (v, v).
        """
        if not isinstance(k, int) or k < 0:
            raise ValueError(f"k (Gibbs steps) must be an integer >= 0, got {k!r}")
        p = v
        for _ in range(k):
            h = self.sample_h(v, generator, use_biases)
            p = self.p_v_given_h(h, use_biases)
            v = _bernoulli(p, generator)
        return v, p


# ---------------------------------------------------------------------------------------
# Training: CD-k (Hinton 2002) and persistent CD (Tieleman 2008)
# ---------------------------------------------------------------------------------------
def init_visible_bias(rbm: RBM, X: torch.Tensor, eps: float = 1e-3) -> None:
    """b_i = log(p_i / (1 - p_i)) with p_i the mean of pixel i (Hinton's practical guide)."""
    p = X.float().mean(0).clamp(eps, 1 - eps)
    with torch.no_grad():
        rbm.b.copy_((p / (1 - p)).log())


def cd_gradients(
    rbm: RBM,
    v0: torch.Tensor,
    v_neg_start: torch.Tensor,
    k: int,
    generator: torch.Generator | None = None,
    use_biases: bool = True,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Set ``.grad`` of W, b, c to minus the CD-k estimate of d log p / d theta (eq. 4).

    Positive phase: <v h> with v = data v0 and h = p(h | v0). Negative phase: start a chain
    at ``v_neg_start`` (the data for CD-k, the persistent fantasy particles for PCD), run k
    Gibbs steps, use <v_k p(h | v_k)>. Returns ``(v_k, p(v | h_{k-1}))``; the caller keeps
    v_k as the next persistent state for PCD. Each phase is averaged over its own rows, so
    PCD may keep more chains than the batch has images. ``.grad`` holds minus the gradient,
    so an ordinary torch optimiser *ascends* the log-likelihood.
    """
    with torch.no_grad():
        ph0 = rbm.p_h_given_v(v0, use_biases)
        vk, pvk = rbm.gibbs(v_neg_start, k, generator, use_biases)
        phk = rbm.p_h_given_v(vk, use_biases)
        # The two phases are averages over their own rows: PCD may keep more fantasy
        # particles than there are data vectors in the batch.
        rbm.W.grad = -(v0.T @ ph0 / len(v0) - vk.T @ phk / len(vk))
        rbm.b.grad = -(v0.mean(0) - vk.mean(0))
        rbm.c.grad = -(ph0.mean(0) - phk.mean(0))
    return vk, pvk


@torch.no_grad()
def reconstruction_error(rbm: RBM, v: torch.Tensor, use_biases: bool = True) -> torch.Tensor:
    """Mean over images of ||v - p(v | h)||^2 with h ~ p(h | v) replaced by its mean (B,)->()."""
    p = rbm.p_v_given_h(rbm.p_h_given_v(v, use_biases), use_biases)
    return ((v - p) ** 2).sum(1).mean()


def train_rbm(
    X: torch.Tensor,
    num_steps: int,
    method: Method = "cd",
    k: int = 1,
    n_hidden: int = 500,
    batch_size: int = 100,
    lr: float = 0.05,
    momentum: float = 0.9,
    weight_decay: float = 2e-4,
    use_biases: bool = True,
    num_chains: int | None = None,
    seed: int = 0,
    device: torch.device | str = "cpu",
    log_every: int = 50,
    desc: str | None = None,
    progress: bool = True,
) -> tuple[RBM, dict[str, list[float]]]:
    """Train an RBM on binary data X (N, D) in {0,1}... or [0, 1] (notebook 06, section 3).

    Grey-level X is binarised afresh for every batch (``dynamic_binarize``). ``method="cd"``
    restarts the negative chain at the data (CD-k); ``"pcd"`` keeps ``num_chains`` fantasy
    particles (default ``batch_size``) from step to step, each advanced by k Gibbs steps per
    update (Tieleman 2008; more particles give a less noisy negative phase). SGD with
    momentum (0.5 for the first 5% of steps, then ``momentum``), L2 weight decay on W only,
    learning rate decayed linearly to 0. ``use_biases=False`` trains with the pitfall's
    sampler (biases learned, never used).
    History: ``recon`` (reconstruction error per image, eq. 5) every ``log_every`` steps.
    """
    if method not in METHODS:
        raise ValueError(f"Unknown method {method!r}. Allowed values: {', '.join(METHODS)}")
    if not isinstance(k, int) or k < 1:
        raise ValueError(f"k (Gibbs steps per update) must be an integer >= 1, got {k!r}")
    device = torch.device(device)
    torch.manual_seed(seed)
    gen = torch.Generator(device=device).manual_seed(seed)
    X = X.to(device).flatten(1)
    rbm = RBM(X.shape[1], n_hidden).to(device)
    init_visible_bias(rbm, X)
    opt = torch.optim.SGD(
        [
            {"params": [rbm.W], "weight_decay": weight_decay},
            {"params": [rbm.b, rbm.c], "weight_decay": 0.0},
        ],
        lr=lr,
        momentum=0.5,
    )
    num_chains = batch_size if num_chains is None else num_chains
    if not isinstance(num_chains, int) or num_chains < 1:
        raise ValueError(f"num_chains (PCD fantasy particles) must be an integer >= 1, "
                         f"got {num_chains!r}")  # fmt: skip
    persistent = _bernoulli(torch.full((num_chains, X.shape[1]), 0.5, device=device), gen)
    n = len(X)

    def step_fn(step: int) -> dict[str, torch.Tensor]:
        nonlocal persistent
        idx = torch.randint(0, n, (batch_size,), generator=gen, device=device)
        v0 = _bernoulli(X[idx], gen)  # dynamic binarisation (binary X is unchanged)
        for group in opt.param_groups:
            group["lr"] = lr * (1 - step / num_steps)
            group["momentum"] = 0.5 if step < 0.05 * num_steps else momentum
        start = v0 if method == "cd" else persistent
        vk, _ = cd_gradients(rbm, v0, start, k, gen, use_biases)
        if method == "pcd":
            persistent = vk
        opt.step()
        return {"recon": reconstruction_error(rbm, v0, use_biases)}

    name = desc or (f"{method.upper()}-{k}" if method == "cd" else "PCD")
    history = train_loop(step_fn, num_steps, log_every=log_every, desc=name, progress=progress)
    return rbm, history


# ---------------------------------------------------------------------------------------
# Evaluation: pseudo-likelihood, AIS estimate of log Z, test log-likelihood
# ---------------------------------------------------------------------------------------
@torch.no_grad()
def pseudo_log_likelihood(
    rbm: RBM, v: torch.Tensor, generator: torch.Generator | None = None
) -> float:
    """Stochastic pseudo-log-likelihood per image (eq. 6), in nats (higher is better).

    PLL(v) = sum_i log p(v_i | v_-i) ~= D * log sigmoid(F(v~) - F(v)), with v~ equal to v
    with one randomly chosen bit flipped (one bit per image; the scikit-learn estimator).
    """
    idx = torch.randint(0, v.shape[1], (v.shape[0],), generator=generator, device=v.device)
    flipped = v.clone()
    rows = torch.arange(v.shape[0], device=v.device)
    flipped[rows, idx] = 1 - flipped[rows, idx]
    delta = rbm.free_energy(flipped) - rbm.free_energy(v)
    return float(v.shape[1] * torch.nn.functional.logsigmoid(delta).mean())


@torch.no_grad()
def exact_log_partition(rbm: RBM) -> float:
    """log Z by enumerating all 2^min(D, H) states of the smaller layer (tests, tiny RBMs)."""
    D, H = rbm.n_visible, rbm.n_hidden
    if min(D, H) > 24:
        raise ValueError(f"exact log Z enumerates 2^{min(D, H)} states; use ais_log_partition")
    W, b, c = rbm.W.double(), rbm.b.double(), rbm.c.double()
    n = min(D, H)
    states = ((torch.arange(2**n, device=W.device)[:, None] >> torch.arange(n, device=W.device))
              & 1).double()  # fmt: skip
    if H <= D:  # sum over h analytically over v: log sum_h exp(c.h) prod_i (1 + e^{b_i + W h})
        terms = states @ c + softplus(states @ W.T + b).sum(1)
    else:
        terms = states @ b + softplus(states @ W + c).sum(1)
    return float(torch.logsumexp(terms, 0))


def base_rate_bias(X: torch.Tensor, pseudocount: float = 5.0) -> torch.Tensor:
    """Visible biases of the base-rate model p_A(v) = prod_i Bernoulli(p_i) (S&M 2008 sec 4.1).

    p_i is the smoothed mean of pixel i over the training set (``pseudocount`` pseudo-images
    of probability 1/2 keep p_i away from 0 and 1); returns b_A = log(p_i / (1 - p_i)).
    """
    X = X.flatten(1).double()
    p = (X.sum(0) + 0.5 * pseudocount) / (len(X) + pseudocount)
    return (p / (1 - p)).log().float()


def ais_betas(num_betas: int) -> torch.Tensor:
    """Inverse temperatures 0 = beta_0 < ... < beta_K = 1, spaced as in Salakhutdinov &
    Murray (2008): 500/14500 of them in [0, 0.5), 4000/14500 in [0.5, 0.9), the rest in
    [0.9, 1] (more where the distributions change fastest)."""
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
    rbm: RBM,
    base_bias: torch.Tensor | None = None,
    num_betas: int = 14500,
    num_chains: int = 100,
    generator: torch.Generator | None = None,
) -> dict[str, float]:
    """Annealed importance sampling estimate of log Z (Neal 2001; S&M 2008, eqs. 7-9).

    Intermediate distributions p_k(v) ∝ p*_k(v), with h summed out analytically:
        log p*_k(v) = (1 - beta_k) b_A.v + beta_k b.v + sum_j softplus(beta_k (c_j + (vW)_j))
    so p_0 is the base-rate model (log Z_0 = H log 2 + sum_i softplus(b_A,i)) and p_K the RBM.
    Each chain starts with v ~ p_0 and moves by one Gibbs sweep per beta; its log importance
    weight is sum_k [log p*_k(v_k) - log p*_{k-1}(v_k)]. Returns ``log_z`` = log Z_0 +
    log mean exp(w), the spread ``log_z_std`` (std of log of bootstrap means, nats) and
    ``ess`` (effective sample size of the weights).
    """
    device = rbm.W.device
    W, b, c = rbm.W, rbm.b, rbm.c
    D, H = rbm.n_visible, rbm.n_hidden
    b_A = torch.zeros(D, device=device) if base_bias is None else base_bias.to(device).float()
    betas = ais_betas(num_betas).tolist()
    log_z0 = H * math.log(2) + float(softplus(b_A.double()).sum())

    def log_p_star(v: torch.Tensor, vW: torch.Tensor, beta: float) -> torch.Tensor:
        return ((1 - beta) * (v @ b_A) + beta * (v @ b) + softplus(beta * (vW + c)).sum(1)).double()

    v = _bernoulli(torch.sigmoid(b_A).expand(num_chains, D), generator)
    log_w = torch.zeros(num_chains, dtype=torch.float64, device=device)
    for beta_prev, beta in zip(betas[:-1], betas[1:]):
        vW = v @ W
        log_w += log_p_star(v, vW, beta) - log_p_star(v, vW, beta_prev)
        if beta == 1.0:
            break
        # One Gibbs sweep that leaves p_k invariant: h ~ p_k(h | v), v ~ p_k(v | h).
        h = _bernoulli(torch.sigmoid(beta * (vW + c)), generator)
        v = _bernoulli(torch.sigmoid((1 - beta) * b_A + beta * (h @ W.T + b)), generator)
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
def average_log_likelihood(rbm: RBM, v: torch.Tensor, log_z: float) -> float:
    """Mean log p(v) = -F(v) - log Z over the rows of v (eq. 10), in nats."""
    return float((-rbm.free_energy(v)).double().mean()) - log_z


def evaluate_rbm(
    rbm: RBM,
    X_test: torch.Tensor,
    base_bias: torch.Tensor,
    num_betas: int,
    num_chains: int,
    ais_runs: int = 2,
    seed: int = 0,
) -> dict[str, float]:
    """Everything notebook 06 and benchmarks/bench_rbm.py report for one trained RBM.

    X_test: binary (N, D) on the RBM's device. ``ais_runs`` independent AIS runs (seeds
    seed, seed+1, ...) give log Z; ``test_ll_ais`` uses their mean and ``ais_spread`` is
    max - min of the runs' test log-likelihoods (how far repeated runs disagree, nats).
    """
    device = rbm.W.device
    runs = []
    for r in range(ais_runs):
        gen = torch.Generator(device=device).manual_seed(seed + r)
        runs.append(ais_log_partition(rbm, base_bias, num_betas, num_chains, gen))
    log_zs = [r["log_z"] for r in runs]
    lls = [average_log_likelihood(rbm, X_test, lz) for lz in log_zs]
    gen = torch.Generator(device=device).manual_seed(seed)
    return {
        "test_ll_ais": sum(lls) / len(lls),
        "ais_spread": max(lls) - min(lls),
        "log_z": sum(log_zs) / len(log_zs),
        "log_z_runs": log_zs,
        "ess": min(r["ess"] for r in runs),
        "pll": pseudo_log_likelihood(rbm, X_test, gen),
        "recon": float(reconstruction_error(rbm, X_test)),
    }


def gibbs_from(
    rbm: RBM,
    start: str,
    k: int,
    data: torch.Tensor | None = None,
    num_chains: int = 8,
    seed: int = 0,
    use_biases: bool = True,
) -> torch.Tensor:
    """Mean images p(v | h) after k Gibbs steps from ``start`` ("data" or "noise")
    (notebook 06: chains from data and from noise; the Gibbs-steps widget).

    data: binary (N, D); the first ``num_chains`` rows start the chains when start="data".
    Noise chains start from v ~ Bernoulli(1/2). Returns (num_chains, 1, 28, 28) in [-1, 1].
    """
    if start not in CHAIN_STARTS:
        allowed = ", ".join(CHAIN_STARTS)
        raise ValueError(f"Unknown chain start {start!r}. Allowed values: {allowed}")
    device = rbm.W.device
    gen = torch.Generator(device=device).manual_seed(seed)
    if start == "data":
        if data is None:
            raise ValueError("start='data' needs data: binary images (N, 784)")
        v0 = data[:num_chains].to(device).float()
    else:
        v0 = _bernoulli(torch.full((num_chains, rbm.n_visible), 0.5, device=device), gen)
    _, p = rbm.gibbs(v0, k, gen, use_biases)
    side = int(math.isqrt(rbm.n_visible))
    return (p * 2 - 1).view(-1, 1, side, side).cpu()


def filters(rbm: RBM, n: int = 64) -> torch.Tensor:
    """The first n columns of W as images (n, 1, 28, 28), each scaled to [-1, 1]."""
    w = rbm.W.detach().T[:n].cpu()
    w = w / w.abs().amax(1, keepdim=True).clamp_min(1e-8)
    side = int(math.isqrt(rbm.n_visible))
    return w.view(-1, 1, side, side)
