"""Binary restricted Boltzmann machines (notebook 06): energy, Gibbs sampling, CD-k / PCD
training. Measuring them (pseudo-likelihood, AIS estimates of log Z, test log-likelihood)
lives in :mod:`course_lib.rbm_eval`.

Notation (Hinton 2002; Salakhutdinov & Murray 2008, "On the quantitative analysis of deep
belief networks", ICML): visible units v in {0,1}^D, hidden units h in {0,1}^H, weights
W (D, H), visible bias b (D,), hidden bias c (H,).

- energy (eq. 1 of notebook 06):   E(v, h) = -b.v - c.h - v W h
- free energy (eq. 2):             F(v) = -b.v - sum_j softplus(c_j + (v W)_j)
- conditionals (eq. 3):            p(h_j = 1 | v) = sigmoid(c_j + (v W)_j),
                                   p(v_i = 1 | h) = sigmoid(b_i + (W h)_i)
- CD-k / PCD gradient (eq. 4):     dW = <v h>_data - <v h>_chain

Every function works on batches of flattened binary images (B, D) with values in {0, 1}
and on the model's device (the notebook trains on CPU, the full profile on a GPU). Units are
sampled with :func:`course_lib.vae.sample_bernoulli` on the model's device, from a generator
that lives there (or that device's global RNG): no copy per Gibbs step.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Literal

import torch
from torch import nn
from torch.nn.functional import softplus

from .config import check_choice, seeded
from .data import training_data
from .parallel import GLOBAL_RNG
from .train import History, autocast, linear_decay, model_device, to_device, train_loop
from .vae import sample_bernoulli

Method = Literal["cd", "pcd"]
METHODS: tuple[str, ...] = ("cd", "pcd")
CHAIN_STARTS: tuple[str, ...] = ("data", "noise")


def binarize_images(X: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Images (N, 1, 28, 28) in [-1, 1] -> stochastically binarised flat vectors (N, 784).

    Pixel intensities become Bernoulli probabilities, as in Salakhutdinov & Murray (2008);
    with a seeded generator this makes a fixed binary test set (notebook 06).
    """
    return sample_bernoulli(((X + 1) / 2).flatten(1), generator)


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
        """E(v, h) = -b.v - c.h - v W h (eq. 1, notebook 06); v (B, D), h (B, H) -> (B,)."""
        return -(v @ self.b) - (h @ self.c) - ((v @ self.W) * h).sum(1)

    def free_energy(self, v: torch.Tensor) -> torch.Tensor:
        """F(v) = -log sum_h exp(-E(v, h)) = -b.v - sum_j softplus(c_j + (vW)_j) (eq. 2,
        notebook 06); (B, D) -> (B,)."""
        return -(v @ self.b) - softplus(v @ self.W + self.c).sum(1)

    def p_h_given_v(self, v: torch.Tensor, use_biases: bool = True) -> torch.Tensor:
        """p(h_j = 1 | v) = sigmoid(c_j + (v W)_j) (eq. 3, notebook 06); (B, D) -> (B, H)."""
        return torch.sigmoid(v @ self.W + self.c if use_biases else v @ self.W)

    def p_v_given_h(self, h: torch.Tensor, use_biases: bool = True) -> torch.Tensor:
        """p(v_i = 1 | h) = sigmoid(b_i + (W h)_i) (eq. 3, notebook 06); (B, H) -> (B, D)."""
        return torch.sigmoid(h @ self.W.T + self.b if use_biases else h @ self.W.T)

    def sample_h(self, v, generator=None, use_biases: bool = True) -> torch.Tensor:
        """h ~ p(h | v) (eq. 3, notebook 06); ``generator`` on the model's device or None."""
        return sample_bernoulli(self.p_h_given_v(v, use_biases), generator)

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
        image of the last step (nicer to look at). k = 0 returns (v, v). ``generator``: on the
        model's device, or None for that device's global RNG.
        """
        if not isinstance(k, int) or k < 0:
            raise ValueError(f"k (Gibbs steps) must be an integer >= 0, got {k!r}")
        p = v
        for _ in range(k):
            h = self.sample_h(v, generator, use_biases)
            p = self.p_v_given_h(h, use_biases)
            v = sample_bernoulli(p, generator)
        return v, p


# ---------------------------------------------------------------------------------------
# Training: CD-k (Hinton 2002) and persistent CD (Tieleman 2008)
# ---------------------------------------------------------------------------------------
def init_visible_bias(model: RBM, X: torch.Tensor, eps: float = 1e-3) -> None:
    """b_i = log(p_i / (1 - p_i)) with p_i the mean of pixel i (Hinton's practical guide;
    :func:`train_rbm`, notebook 06)."""
    p = X.float().mean(0).clamp(eps, 1 - eps)
    with torch.no_grad():
        model.b.copy_((p / (1 - p)).log())


def cd_gradients(
    model: RBM,
    v0: torch.Tensor,
    v_neg_start: torch.Tensor,
    k: int,
    generator: torch.Generator | None = None,
    use_biases: bool = True,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Set ``.grad`` of W, b, c to minus the CD-k estimate of d log p / d theta (eq. 4,
    notebook 06).

    Positive phase: <v h> with v = data v0 and h = p(h | v0). Negative phase: start a chain
    at ``v_neg_start`` (the data for CD-k, the persistent fantasy particles for PCD), run k
    Gibbs steps, use <v_k p(h | v_k)>. Returns ``(v_k, p(v | h_{k-1}))``; :func:`rbm_step`
    keeps v_k as the next persistent state for PCD. Each phase is averaged over its own rows, so
    PCD may keep more chains than the batch has images. ``.grad`` holds minus the gradient
    (in the parameters' dtype, also under bf16 autocast), so an ordinary torch optimiser
    *ascends* the log-likelihood.
    """
    with torch.no_grad():
        ph0 = model.p_h_given_v(v0, use_biases)
        vk, pvk = model.gibbs(v_neg_start, k, generator, use_biases)
        phk = model.p_h_given_v(vk, use_biases)
        # The two phases are averages over their own rows: PCD may keep more fantasy
        # particles than there are data vectors in the batch.
        dW = v0.T @ ph0 / len(v0) - vk.T @ phk / len(vk)
        db, dc = v0.mean(0) - vk.mean(0), ph0.mean(0) - phk.mean(0)
        for param, grad in ((model.W, dW), (model.b, db), (model.c, dc)):
            param.grad = -grad.to(param.dtype)  # under bf16 autocast, dW is bfloat16
    return vk, pvk


@torch.no_grad()
def reconstruction_error(model: RBM, v: torch.Tensor, use_biases: bool = True) -> torch.Tensor:
    """Mean over images of ||v - p(v | h)||^2 with h ~ p(h | v) replaced by its mean (eq. 5,
    notebook 06); (B, D) -> 0-d tensor on v's device (no host sync)."""
    p = model.p_v_given_h(model.p_h_given_v(v, use_biases), use_biases)
    return ((v - p) ** 2).sum(1).mean()


def rbm_step(
    v: torch.Tensor,
    model: RBM,
    trainer: torch.optim.Optimizer,
    *,
    method: Method = "cd",
    k: int = 1,
    chains: torch.Tensor | None = None,
    generator: torch.Generator | None = None,
    use_biases: bool = True,
) -> dict[str, torch.Tensor]:
    """One CD-k or PCD update of an RBM on a binary batch v (B, D) (notebook 06, eq. 4).

    ``method="cd"``: CD-k, the negative chain starts at the data (``chains`` must be None).
    ``"pcd"``: ``chains`` holds PCD's persistent fantasy particles (M, D); they are advanced
    by k Gibbs steps and overwritten in place with the new state. :func:`cd_gradients` fills
    ``.grad``, the trainer steps. Returns ``{"recon": reconstruction error of v after the
    update}`` (a 0-d tensor, no host sync).
    """
    check_choice("method", method, METHODS, "cd: contrastive divergence, pcd: persistent CD")
    if (chains is None) != (method == "cd"):
        raise ValueError("method='pcd' needs chains (its persistent fantasy particles, (M, D)); "
                         "method='cd' restarts at the data and takes chains=None")  # fmt: skip
    vk, _ = cd_gradients(model, v, v if chains is None else chains, k, generator, use_biases)
    if chains is not None:
        chains.copy_(vk)
    trainer.step()
    return {"recon": reconstruction_error(model, v, use_biases)}


def train_rbm(
    data: torch.Tensor | Iterable[torch.Tensor],
    num_steps: int,
    *,
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
    device: torch.device | str | None = None,
    bf16: bool | None = None,
    log_every: int = 50,
    desc: str | None = None,
    progress: bool = True,
) -> tuple[RBM, History]:
    """Train an RBM with :func:`rbm_step` (notebook 06, section 3); returns ``(model, history)``.

    data: binary or [0, 1] values (N, D) or images (N, 1, 28, 28), flattened; grey levels are
    binarised afresh for every batch of ``batch_size`` rows (drawn with replacement); or an
    endless iterator of such batches (its first batch also sets the initial visible biases).
    ``method="cd"`` restarts the negative chain at the data (CD-k); ``"pcd"`` keeps
    ``num_chains`` fantasy particles (default ``batch_size``) from step to step, each
    advanced by k Gibbs steps per update (Tieleman 2008). SGD with momentum (0.5 for the
    first 5% of steps, then ``momentum``), L2 weight decay on W only, learning rate decayed
    linearly to 0. ``use_biases=False`` trains with the pitfall's sampler (biases learned,
    never used). ``seed`` seeds everything (the caller's global RNG is left as it was);
    ``device`` defaults to the data's, ``bf16`` autocast (the matmuls in bfloat16) to CUDA
    only. History: ``recon`` (eq. 5, the mean over ``log_every`` steps).
    """
    check_choice("method", method, METHODS, "cd: contrastive divergence, pcd: persistent CD")
    if not isinstance(k, int) or k < 1:
        raise ValueError(f"k (Gibbs steps per update) must be an integer >= 1, got {k!r}")
    num_chains = batch_size if num_chains is None else num_chains
    if not isinstance(num_chains, int) or num_chains < 1:
        raise ValueError(f"num_chains (PCD fantasy particles) must be an integer >= 1, "
                         f"got {num_chains!r}")  # fmt: skip
    # the first batch (or all the data) is checked, sets b, then is trained on
    data, it = training_data(data, "train_rbm", "unit", shape=None,
                             why="binary, or probabilities of binary pixels")  # fmt: skip
    device = torch.device(device) if device is not None else data.device
    X = data.to(device).flatten(1)
    with GLOBAL_RNG, seeded(seed):  # the initial weights (one run at a time: side_by_side)
        model = RBM(X.shape[1], n_hidden)
    model = model.to(device)
    init_visible_bias(model, X)
    gen = torch.Generator(device=device).manual_seed(seed)
    trainer = torch.optim.SGD(
        [
            {"params": [model.W], "weight_decay": weight_decay},
            {"params": [model.b, model.c], "weight_decay": 0.0},
        ],
        lr=lr,
        momentum=0.5,
    )
    (schedule,) = linear_decay([trainer], num_steps)
    # Drawn for CD too, so CD-k and PCD runs with the same seed see the same batches.
    chains = sample_bernoulli(torch.full((num_chains, X.shape[1]), 0.5, device=device), gen)
    rest = it  # None: draw rows of X; else the batches, from the first one

    def step_fn(step: int) -> dict[str, torch.Tensor]:
        if rest is None:
            idx = torch.randint(0, len(X), (batch_size,), generator=gen, device=device)
            batch = X[idx]
        else:
            batch = to_device(next(rest), device).flatten(1)
        v = sample_bernoulli(batch, gen)  # dynamic binarisation (binary data is unchanged)
        for group in trainer.param_groups:
            group["momentum"] = 0.5 if step < 0.05 * num_steps else momentum
        with autocast(device, bf16):
            out = rbm_step(v, model, trainer, method=method, k=k,
                           chains=chains if method == "pcd" else None, generator=gen,
                           use_biases=use_biases)  # fmt: skip
        schedule.step()
        return out

    name = desc or (f"{method.upper()}-{k}" if method == "cd" else "PCD")
    history = train_loop(step_fn, num_steps, log_every=log_every, desc=name, progress=progress)
    return model, history


# ---------------------------------------------------------------------------------------
# Looking at an RBM: chains from data or noise, filters
# ---------------------------------------------------------------------------------------
@torch.no_grad()
def gibbs_from(
    model: RBM,
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
    Noise chains start from v ~ Bernoulli(1/2). Runs on the model's device and returns
    (num_chains, 1, 28, 28) in [-1, 1] there. Seeded by ``seed``; the caller's RNG is left
    as it was.
    """
    check_choice("chain start", start, CHAIN_STARTS)
    device = model_device(model)
    if start == "data" and data is None:
        raise ValueError("start='data' needs data: binary images (N, 784)")
    with seeded(seed):  # the same random stream as torch.Generator(device).manual_seed(seed)
        if start == "data":
            v0 = data[:num_chains].to(device).float()
        else:
            v0 = sample_bernoulli(torch.full((num_chains, model.n_visible), 0.5, device=device))
        _, p = model.gibbs(v0, k, None, use_biases)
    side = int(math.isqrt(model.n_visible))
    return (p * 2 - 1).view(-1, 1, side, side)


def filters(model: RBM, n: int = 64) -> torch.Tensor:
    """The first n columns of W as images (n, 1, 28, 28) on the CPU, each scaled to [-1, 1]
    (notebook 06)."""
    w = model.W.detach().T[:n].cpu()
    w = w / w.abs().amax(1, keepdim=True).clamp_min(1e-8)
    side = int(math.isqrt(model.n_visible))
    return w.view(-1, 1, side, side)
