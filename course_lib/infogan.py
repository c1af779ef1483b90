"""InfoGAN: interpretable latent codes by maximising mutual information (notebook 07).

Chen et al. 2016, "InfoGAN". The generator's input is split into incompressible noise z and
a structured code c: here one 10-way categorical code and ``n_cont`` continuous codes
uniform on [-1, 1] (the paper's MNIST setting, section 7.1). A GAN alone may ignore c, so
InfoGAN adds the mutual information I(c; G(z, c)), which it cannot compute, through the
variational lower bound (eq. 4-5)

    L_I(G, Q) = E_{c ~ p(c), x ~ G(z, c)}[log Q(c | x)] + H(c) <= I(c; G(z, c)),

with an auxiliary network Q that shares every layer of the discriminator except its last
(section 6) and the game (eq. 6)  min_{G, Q} max_D  V(D, G) - lambda L_I(G, Q).

H(c) is a constant (log 10 for a uniform 10-way code), so only the cross-entropy
-E log Q(c | x) is optimised; it is computed on *generated* samples only (real digits have no
code) and it updates G *and* Q (with the shared discriminator body), exactly like the
authors' code: :func:`discriminator_step` adds lambda * info loss on detached fakes (Q and
body), :func:`generator_step` adds it on fresh fakes (G). Continuous codes use a factored
Gaussian Q with unit variance, so their -log Q is 0.5 (c - mu(x))^2 + const, weighted by
``cont_weight`` (the paper uses a smaller lambda for continuous codes).

The anchored recipe (notebook 07, section 7): the caller groups the real training digits
without labels (:func:`course_lib.digit_clusters.digit_clusters`: deskew, PCA of the pixels
and of their HOG, t-SNE, k-means) and passes the ids as
``train_infogan(X, num_steps, clusters=ids)``; Q is then also trained to give each real digit
its group's code (loss (3) of the notebook), so G's code k must produce digits that Q files
under group k. In the ``fast`` budget the anchored code (with the earlier pixels-only
clusters) matched digit identity for 98.7% of generated digits on seeds 0-2, where the recipe
was chosen (mapping fitted on the scored digits), plain InfoGAN for 74%; benchmarks/RESULTS.md
reports both on held-out seeds 3-5 (``infogan.*``, ``infogan.plain.*``). Variants that were
measured and not adopted (MLP networks, a separate Q, a weaker noise input, Q's information
on real digits as a loss, warped fakes) live in ``experiments/infogan/``.

Figures and scores of a trained model (category sheet, continuous sweeps, code accuracy and
per-code recall, Q as a classifier of the test digits) live in :mod:`course_lib.infogan_eval`.

Shapes: z (B, latent_dim) U[-1, 1], the incompressible noise (``latent_dim`` is the size of
z alone, as in the course's other GANs); categorical code as indices (B,) in 0..9,
continuous codes (B, 2) in [-1, 1]; G's input is z plus the codes, [z, one_hot(cat), cont]
(B, latent_dim + 12); images (B, 1, 28, 28) in [-1, 1].
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch
import torch.nn.functional as F
from torch import nn

from .config import seeded
from .data import batches, training_data
from .losses import discriminator_loss, generator_loss
from .noise import sample_latent
from .parallel import GLOBAL_RNG
from .train import (
    History,
    adam,
    autocast,
    cpu_threads,
    linear_decay,
    prepare,
    to_device,
    train_loop,
)

N_CAT = 10


# ---------------------------------------------------------------------------------------
# Codes and the information loss (Chen et al. 2016, eq. 4-5)
# ---------------------------------------------------------------------------------------
def sample_codes(
    n: int, n_cat: int = N_CAT, n_cont: int = 2, generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:  # fmt: skip
    """Draw c for notebook 07's InfoGAN: categorical indices (n,) uniform on 0..n_cat-1,
    continuous codes (n, n_cont) U[-1, 1].

    Drawn from the CPU ``generator`` (the same numbers on every device), then moved to
    ``device`` with :func:`course_lib.train.to_device` (no host sync on a GPU).
    """
    cat = torch.randint(n_cat, (n,), generator=generator)
    cont = sample_latent(n, n_cont, "uniform", generator)
    return (to_device(cat, device), to_device(cont, device)) if device is not None else (cat, cont)


def check_codes(cat: torch.Tensor, cont: torch.Tensor | None = None, n_cat: int = N_CAT) -> None:
    """Raise a ValueError unless ``cat`` is (B,) integer indices in 0..n_cat-1 (and ``cont``,
    if given, is (B, n_cont)); notebook 07's generator calls it on a user's codes. One host
    sync: for codes from a user, never inside training."""
    if cat.ndim != 1 or cat.dtype.is_floating_point or cat.dtype == torch.bool:
        raise ValueError(f"category codes must be (B,) integers, got {tuple(cat.shape)} "
                         f"{cat.dtype}")  # fmt: skip
    if cont is not None and (cont.ndim != 2 or len(cont) != len(cat)):
        raise ValueError(f"continuous codes must be (B, n_cont) with B = {len(cat)}, got "
                         f"{tuple(cont.shape)}")  # fmt: skip
    if len(cat):
        lo, hi = torch.stack([cat.min(), cat.max()]).tolist()
        if lo < 0 or hi >= n_cat:
            raise ValueError(f"category indices must lie in 0..{n_cat - 1}, got "
                             f"{cat.tolist()[:10]}")  # fmt: skip


def make_latent(z: torch.Tensor, cat: torch.Tensor, cont: torch.Tensor, n_cat: int = N_CAT):
    """G's input in notebook 07: z plus the codes, [z, one_hot(cat), cont], shape
    (B, latent_dim + n_cat + n_cont) for z (B, latent_dim).

    No range check here (it would sync the host every step): indices must lie in
    0..n_cat-1; :func:`check_codes` checks codes that come from a user.
    """
    return torch.cat([z, F.one_hot(cat, n_cat).to(z.dtype), cont.to(z.dtype)], dim=1)


def info_loss(
    cat_logits: torch.Tensor, cont_mean: torch.Tensor, cat: torch.Tensor, cont: torch.Tensor,
    cont_weight: float = 0.1,
) -> dict[str, torch.Tensor]:  # fmt: skip
    """The negative variational bound -L_I without its constant H(c) (Chen et al., eq. 4-5;
    notebook 07, equation (1)).

    cat part: cross-entropy -mean log Q(c_cat | x) from ``cat_logits`` (B, n_cat);
    cont part: Gaussian -log Q with unit variance, mean over batch of 0.5 sum_j (c_j - mu_j)^2.
    Returns ``loss`` = cat + cont_weight * cont, ``cat``, ``cont`` and ``mi_cat`` = log n_cat -
    cat, the lower bound on I(c_cat; G(z, c)) in nats (at most log 10 = 2.303).
    """
    ce = F.cross_entropy(cat_logits, cat)
    gauss = 0.5 * (cont - cont_mean).pow(2).sum(1).mean()
    return {"loss": ce + cont_weight * gauss, "cat": ce, "cont": gauss,
            "mi_cat": math.log(cat_logits.shape[1]) - ce}  # fmt: skip


def real_code_information(cat_logits: torch.Tensor) -> dict[str, torch.Tensor]:
    """How confidently and evenly Q sorts a batch of (real) digits into the K codes.

    ``cat_logits`` (B, K). With p_b = Q(. | x_b) and the batch marginal p_bar = mean_b p_b:
    ``marginal_entropy`` H(p_bar) (log K when the codes are used equally often),
    ``conditional_entropy`` mean_b H(p_b) (0 when every prediction is certain) and
    ``mi`` = H(p_bar) - mean_b H(p_b), the mutual information between a digit and Q's code
    under the empirical distribution, in [0, log K] (CatGAN / IMSAT). Needs no labels; the
    training history logs it on each real batch as ``mi_real`` (notebook 07, section 4).
    """
    probs = cat_logits.softmax(1)
    marginal = probs.mean(0)
    h_marginal = -(marginal * marginal.clamp_min(1e-12).log()).sum()
    h_conditional = -(probs * cat_logits.log_softmax(1)).sum(1).mean()
    return {"mi": h_marginal - h_conditional, "marginal_entropy": h_marginal,
            "conditional_entropy": h_conditional}  # fmt: skip


# ---------------------------------------------------------------------------------------
# Networks (the paper's Table 1 layout for MNIST, narrowed for a CPU)
# ---------------------------------------------------------------------------------------
class InfoGenerator(nn.Module):
    """G of notebook 07: [z, c] (B, latent_dim + 12) -> images (B, 1, 28, 28) in [-1, 1].

    ``latent_dim`` is the size of the incompressible noise z alone; the input adds the codes
    c (10 one-hot categories and ``n_cont`` continuous values), see :func:`make_latent`.

    FC -> BN -> ReLU to a (2 * channels) x 7 x 7 map, then two ConvTranspose2d (kernel 4,
    stride 2): 7 -> 14 -> 28, BatchNorm + ReLU between, Tanh last (Chen et al. 2016, Table 1).
    """

    def __init__(self, latent_dim: int = 62, n_cont: int = 2, hidden: int = 256,
                 channels: int = 32):  # fmt: skip
        super().__init__()
        self.latent_dim, self.n_cont, c = latent_dim, n_cont, channels
        self.fc = nn.Sequential(
            nn.Linear(latent_dim + N_CAT + n_cont, hidden), nn.BatchNorm1d(hidden), nn.ReLU(True),
            nn.Linear(hidden, 2 * c * 49), nn.BatchNorm1d(2 * c * 49), nn.ReLU(True),
        )  # fmt: skip
        self.conv = nn.Sequential(
            nn.ConvTranspose2d(2 * c, c, 4, 2, 1), nn.BatchNorm2d(c), nn.ReLU(True),
            nn.ConvTranspose2d(c, 1, 4, 2, 1), nn.Tanh(),
        )  # fmt: skip
        self.channels = c

    def forward(self, latent: torch.Tensor) -> torch.Tensor:
        return self.conv(self.fc(latent).view(-1, 2 * self.channels, 7, 7))

    def generate(self, z, cat, cont) -> torch.Tensor:
        """Images for noise z (B, latent_dim), category indices (B,) and continuous codes
        (B, n_cont), after :func:`check_codes` (for a user's codes; the training steps call
        ``net_G(make_latent(z, cat, cont))``, which never syncs)."""
        check_codes(cat, cont)
        return self(make_latent(z, cat, cont))


def _q_head(hidden: int, n_cont: int) -> nn.Sequential:
    """Q's head on the shared body: FC 128 -> BN -> LeakyReLU -> FC to the code parameters."""
    return nn.Sequential(
        nn.Linear(hidden, 128), nn.BatchNorm1d(128), nn.LeakyReLU(0.1, True),
        nn.Linear(128, N_CAT + n_cont),
    )  # fmt: skip


def _conv_body(hidden: int, channels: int) -> nn.Sequential:
    """Conv(4, s2) -> LeakyReLU -> Conv(4, s2) -> BN -> LeakyReLU -> FC ``hidden`` -> BN ->
    LeakyReLU: the body that D and Q share, 28x28 images -> (B, hidden)."""
    c = channels
    return nn.Sequential(
        nn.Conv2d(1, c, 4, 2, 1), nn.LeakyReLU(0.1, True),
        nn.Conv2d(c, 2 * c, 4, 2, 1), nn.BatchNorm2d(2 * c), nn.LeakyReLU(0.1, True),
        nn.Flatten(), nn.Linear(2 * c * 49, hidden), nn.BatchNorm1d(hidden),
        nn.LeakyReLU(0.1, True),
    )  # fmt: skip


class InfoDiscriminator(nn.Module):
    """Shared body with two heads: D's logit (B,) and Q's code posterior (notebook 07).

    Body: Conv(4, s2) -> LeakyReLU -> Conv(4, s2) -> BN -> LeakyReLU -> FC ``hidden`` -> BN
    -> LeakyReLU. D head: FC -> 1 logit. Q head: FC 128 -> BN -> LeakyReLU -> FC to
    ``N_CAT`` categorical logits and ``n_cont`` Gaussian means (Chen et al. 2016, Table 1).
    ``forward`` returns only the logit (so the GAN helpers work); ``forward_all`` returns
    (logit, cat_logits, cont_mean).
    """

    def __init__(self, n_cont: int = 2, hidden: int = 256, channels: int = 32):
        super().__init__()
        self.body = _conv_body(hidden, channels)
        self.d_head = nn.Linear(hidden, 1)
        self.q_head = _q_head(hidden, n_cont)

    def forward_all(self, X: torch.Tensor):
        h = self.body(X)
        q = self.q_head(h)
        return self.d_head(h).squeeze(1), q[:, :N_CAT], q[:, N_CAT:]

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        return self.d_head(self.body(X)).squeeze(1)


def build(latent_dim: int = 62, hidden: int = 256, channels: int = 32):
    """(net_G, net_D) of notebook 07: :class:`InfoGenerator` (z of size ``latent_dim`` plus
    the codes) and :class:`InfoDiscriminator` with two continuous codes, initialised from
    torch's global RNG in that order (wrap the call in :func:`course_lib.config.seeded`)."""
    return InfoGenerator(latent_dim, 2, hidden, channels), InfoDiscriminator(2, hidden, channels)


# ---------------------------------------------------------------------------------------
# Step functions (Chen et al. 2016, eq. 6)
# ---------------------------------------------------------------------------------------
def discriminator_step(
    X, latent_parts, net_D, net_G, trainer_D, *, real_codes=None, info_weight: float = 1.0,
    cont_weight: float = 0.1, cluster_weight: float = 1.0,
) -> dict[str, torch.Tensor]:  # fmt: skip
    """One step for D and Q (shared body) in notebook 07: GAN loss -V + info_weight * (-L_I
    on fakes), and, when ``real_codes`` (the real digits' label-free cluster ids, (B,)) are given,
    + cluster_weight * cross-entropy of Q on the real batch against them (loss (3) of
    notebook 07; logged as ``cluster_ce``).

    X (B, 1, 28, 28) real digits; ``latent_parts`` = (z, cat, cont) for the fakes, which are
    made without gradient: G is not updated here. Also logs ``mi_real``, Q's information on
    the real batch (:func:`real_code_information`), which is monitored, not trained. No
    autocast here: the trainer wraps the step in :func:`course_lib.train.autocast`.
    """
    z, cat, cont = latent_parts
    trainer_D.zero_grad(set_to_none=True)
    with torch.no_grad():  # G is not updated here
        fake = net_G(make_latent(z, cat, cont))
    real_logits, real_cat_logits, _ = net_D.forward_all(X)
    fake_logits, cat_logits, cont_mean = net_D.forward_all(fake)
    info = info_loss(cat_logits, cont_mean, cat, cont, cont_weight)
    loss_D = discriminator_loss(real_logits, fake_logits) + info_weight * info["loss"]
    if real_codes is not None:  # the anchor: Q files each real digit under its cluster
        cluster_ce = F.cross_entropy(real_cat_logits, real_codes)
        loss_D = loss_D + cluster_weight * cluster_ce
    loss_D.backward()
    trainer_D.step()
    out = {"loss_D": loss_D.detach(), "D_real": torch.sigmoid(real_logits).mean().detach(),
           "D_fake": torch.sigmoid(fake_logits).mean().detach(),
           "mi_cat": info["mi_cat"].detach(), "info_cont": info["cont"].detach(),
           "mi_real": real_code_information(real_cat_logits.detach().float())["mi"]}  # fmt: skip
    if real_codes is not None:
        out["cluster_ce"] = cluster_ce.detach()
    return out


def generator_step(
    latent_parts, net_D, net_G, trainer_G, *, info_weight: float = 1.0, cont_weight: float = 0.1,
) -> dict[str, torch.Tensor]:  # fmt: skip
    """One step for G in notebook 07: non-saturating loss + info_weight * (-L_I) on fresh
    fakes, so G makes c recoverable by Q. ``latent_parts`` = (z, cat, cont). Returns
    ``loss_G``. No autocast here: the trainer wraps the step in it."""
    z, cat, cont = latent_parts
    trainer_G.zero_grad(set_to_none=True)
    fake_logits, cat_logits, cont_mean = net_D.forward_all(net_G(make_latent(z, cat, cont)))
    info = info_loss(cat_logits, cont_mean, cat, cont, cont_weight)
    loss_G = generator_loss(fake_logits) + info_weight * info["loss"]
    loss_G.backward()
    trainer_G.step()
    return {"loss_G": loss_G.detach()}


# ---------------------------------------------------------------------------------------
# The trainer
# ---------------------------------------------------------------------------------------
def train_infogan(
    data: torch.Tensor | Iterable[torch.Tensor], num_steps: int, *,
    clusters: torch.Tensor | None = None, seed: int = 0, batch_size: int = 64,
    latent_dim: int = 62, hidden: int = 256, channels: int = 32, lr: float = 2e-4,
    lr_G: float = 1e-3, lr_decay: bool = True, info_weight: float = 1.0,
    cont_weight: float = 0.1, cluster_weight: float = 1.0,
    device: torch.device | str | None = None, bf16: bool | None = None,
    threads: int | None = 1, callback=None, callback_every: int = 0, progress: bool = True,
) -> tuple[tuple[InfoGenerator, InfoDiscriminator], History]:  # fmt: skip
    """Train InfoGAN on the caller's digits (notebook 07 and benchmarks/bench_infogan.py).

    Args:
        data: real digits (N, 1, 28, 28) in [-1, 1] (e.g. ``data.load_images("mnist5k")[0]``),
            shuffled into batches of ``batch_size`` by a generator seeded with ``seed``; or an
            endless iterator of such batches (e.g. :func:`course_lib.data.batches`), whose
            batches set their own size.
        num_steps: G steps, each after one D/Q step.
        clusters: None for plain InfoGAN, or the anchored recipe's code of every digit of
            ``data``, (N,) in 0..9, e.g. ``digit_clusters(X, seed=seed)`` (true labels here
            would make it AC-GAN); Q also learns to give each real digit its code, with
            weight ``cluster_weight``. Needs ``data`` as a tensor (one code per digit).
        latent_dim: size of the incompressible noise z ~ U[-1, 1]; G's input is z plus the
            codes c (10 one-hot categories, 2 continuous), ``latent_dim + 12`` values.
        lr, lr_G, lr_decay: Adam betas (0.5, 0.999), ``lr`` for D/Q and ``lr_G`` for G (the
            paper's section 7: 2e-4 and 1e-3), decayed linearly to 0 when ``lr_decay``.
        info_weight, cont_weight: lambda for the categorical and the continuous codes.
        seed: initial weights (inside :func:`course_lib.config.seeded`: torch's global RNG is
            left as it was), batch order and codes (a CPU generator seeded by it).
        device: default the device of ``data`` (of its first batch); ``bf16``: autocast
            around both steps, None = on CUDA only (CPU numbers are plain fp32).
        threads: CPU threads while training (None: unchanged). Fused Adam and channels_last
            on CUDA.

    Returns ``((net_G, net_D), history)``, both nets in eval mode; history (every 50 steps):
    loss_D, D_real, D_fake, mi_cat, info_cont, mi_real (, cluster_ce), loss_G, step.
    """
    if clusters is not None and not isinstance(data, torch.Tensor):
        raise ValueError("train_infogan's clusters need the whole training set as a tensor "
                         "(N, 1, 28, 28), one code per digit: pass data as a tensor, not a "
                         "batch iterator")  # fmt: skip
    X, stream = training_data(data, "train_infogan")
    if clusters is not None:
        if clusters.shape != (len(X),):
            raise ValueError(f"clusters must be ({len(X)},): one code per digit of data; got "
                             f"{tuple(clusters.shape)}")  # fmt: skip
        check_codes(clusters)
    if not cluster_weight >= 0:
        raise ValueError(f"cluster_weight must be >= 0, got {cluster_weight}")
    device = torch.device(device) if device is not None else X.device
    with GLOBAL_RNG, seeded(seed):  # one build at a time when runs train side by side
        net_G, net_D = build(latent_dim, hidden, channels)
    net_G, net_D = prepare(net_G, device, conv=True), prepare(net_D, device, conv=True)
    trainer_D = adam(net_D.parameters(), lr, (0.5, 0.999))
    trainer_G = adam(net_G.parameters(), lr_G, (0.5, 0.999))
    g = torch.Generator().manual_seed(seed)
    # With clusters, each batch also carries its digits' ids; the permutations are the same.
    if stream is not None:
        real = (to_device(b, device) for b in stream)
    elif clusters is None:
        real = batches(X, batch_size, generator=g, device=device)
    else:
        real = batches(X, batch_size, clusters.long(), generator=g, device=device)
    # Linear decay to 0: the code -> digit assignment drifts less late in training.
    scheds = linear_decay([trainer_D, trainer_G], num_steps) if lr_decay else []
    weights = {"info_weight": info_weight, "cont_weight": cont_weight}

    def parts(n: int):
        z = sample_latent(n, latent_dim, "uniform", g, device)
        return (z, *sample_codes(n, generator=g, device=device))

    def next_real():
        try:
            return next(real) if clusters is not None else (next(real), None)
        except StopIteration:
            raise ValueError("train_infogan's data ran out of batches: pass the digits as a "
                             "tensor or an endless iterator such as course_lib.data.batches"
                             ) from None  # fmt: skip

    def step_fn(step: int) -> dict[str, torch.Tensor]:
        X_b, codes_b = next_real()
        with autocast(device, bf16):
            out = discriminator_step(X_b, parts(len(X_b)), net_D, net_G, trainer_D,
                                     real_codes=codes_b, cluster_weight=cluster_weight,
                                     **weights)  # fmt: skip
            out |= generator_step(parts(len(X_b)), net_D, net_G, trainer_G, **weights)
        for sched in scheds:
            sched.step()
        return out

    with cpu_threads(threads if device.type == "cpu" else None):
        history = train_loop(
            step_fn, num_steps, log_every=50, callback=callback,
            callback_every=callback_every, desc="InfoGAN", progress=progress,
        )  # fmt: skip
    return (net_G.eval(), net_D.eval()), history
