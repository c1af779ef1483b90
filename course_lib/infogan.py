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
without labels (:func:`course_lib.digit_clusters.digit_clusters`: deskew, PCA, t-SNE,
k-means) and passes the ids as ``train_infogan(X, ..., clusters=ids)``; Q is then also
trained to give each real digit its group's code (loss (3) of the notebook), so G's code k
must produce digits that Q files under group k. In the ``fast`` budget the anchored code
matched digit identity for 98.7% of generated digits (benchmark, mean of seeds 0-2), plain
InfoGAN for 74%. Variants that were measured and not adopted (MLP networks, a separate Q,
a weaker noise input, Q's information on real digits as a loss, warped fakes) live in
``experiments/infogan/``.

Shapes: z (B, noise_dim), categorical code as indices (B,) in 0..9, continuous codes (B, 2)
in [-1, 1]; images (B, 1, 28, 28) in [-1, 1].
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .config import check_choice, seeded
from .data import check_images
from .digit_clusters import (  # noqa: F401  (re-exported: notebook 07 calls infogan.*)
    assignment_accuracy,
    deskew,
    digit_clusters,
    match_accuracy,
)
from .losses import discriminator_loss, generator_loss
from .train import History, autocast, model_device

N_CAT = 10


# ---------------------------------------------------------------------------------------
# Codes and the information loss (Chen et al. 2016, eq. 4-5)
# ---------------------------------------------------------------------------------------
def sample_codes(
    n: int, n_cat: int = N_CAT, n_cont: int = 2, generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:  # fmt: skip
    """Draw c: categorical indices (n,) uniform on 0..n_cat-1, continuous (n, n_cont) U[-1, 1]."""
    cat = torch.randint(n_cat, (n,), generator=generator)
    cont = torch.rand(n, n_cont, generator=generator) * 2 - 1
    return (cat.to(device), cont.to(device)) if device is not None else (cat, cont)


def check_codes(cat: torch.Tensor, cont: torch.Tensor | None = None, n_cat: int = N_CAT) -> None:
    """Raise a ValueError unless ``cat`` is (B,) integer indices in 0..n_cat-1 (and ``cont``,
    if given, is (B, n_cont)). One host sync: for codes from a user, never inside training."""
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
    """Generator input [z, one_hot(cat), cont], shape (B, noise_dim + n_cat + n_cont).

    No range check here (it would sync the host every step): indices must lie in
    0..n_cat-1; :func:`check_codes` checks codes that come from a user.
    """
    return torch.cat([z, F.one_hot(cat, n_cat).to(z.dtype), cont.to(z.dtype)], dim=1)


def info_loss(
    cat_logits: torch.Tensor, cont_mean: torch.Tensor, cat: torch.Tensor, cont: torch.Tensor,
    cont_weight: float = 0.1,
) -> dict[str, torch.Tensor]:  # fmt: skip
    """The negative variational bound -L_I without its constant H(c) (Chen et al., eq. 4-5).

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
    """G: [z, c] (B, noise_dim + 12) -> images (B, 1, 28, 28) in [-1, 1].

    FC -> BN -> ReLU to a (2 * channels) x 7 x 7 map, then two ConvTranspose2d (kernel 4,
    stride 2): 7 -> 14 -> 28, BatchNorm + ReLU between, Tanh last (Chen et al. 2016, Table 1).
    """

    def __init__(self, noise_dim: int = 62, n_cont: int = 2, hidden: int = 256,
                 channels: int = 32):  # fmt: skip
        super().__init__()
        self.noise_dim, self.n_cont, c = noise_dim, n_cont, channels
        self.fc = nn.Sequential(
            nn.Linear(noise_dim + N_CAT + n_cont, hidden), nn.BatchNorm1d(hidden), nn.ReLU(True),
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
        """Images for noise z (B, noise_dim), category indices (B,) and continuous codes
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


def build(noise_dim: int = 62, hidden: int = 256, channels: int = 32):
    """(net_G, net_D): :class:`InfoGenerator` and :class:`InfoDiscriminator` with two
    continuous codes, initialised from torch's global RNG in that order."""
    return InfoGenerator(noise_dim, 2, hidden, channels), InfoDiscriminator(2, hidden, channels)


# ---------------------------------------------------------------------------------------
# Step functions (Chen et al. 2016, eq. 6)
# ---------------------------------------------------------------------------------------
def discriminator_step(
    X, latent_parts, net_D, net_G, trainer_D, *, real_codes=None, info_weight: float = 1.0,
    cont_weight: float = 0.1, cluster_weight: float = 1.0,
) -> dict[str, torch.Tensor]:  # fmt: skip
    """One step for D and Q (shared body): GAN loss -V + info_weight * (-L_I on fakes), and,
    when ``real_codes`` (the real digits' label-free cluster ids, (B,)) are given,
    + cluster_weight * cross-entropy of Q on the real batch against them (loss (3) of
    notebook 07; logged as ``cluster_ce``).

    X (B, 1, 28, 28) real digits; ``latent_parts`` = (z, cat, cont) for the fakes, which are
    made without gradient: G is not updated here. Also logs ``mi_real``, Q's information on
    the real batch (:func:`real_code_information`), which is monitored, not trained.
    """
    z, cat, cont = latent_parts
    trainer_D.zero_grad(set_to_none=True)
    with autocast(X.device):
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
    """One step for G: non-saturating loss + info_weight * (-L_I) on fresh fakes, so G makes
    c recoverable by Q. ``latent_parts`` = (z, cat, cont). Returns ``loss_G``."""
    z, cat, cont = latent_parts
    trainer_G.zero_grad(set_to_none=True)
    with autocast(z.device):
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
    X: torch.Tensor, num_steps: int, *, clusters: torch.Tensor | None = None, seed: int = 0,
    batch_size: int = 64, noise_dim: int = 62, hidden: int = 256, channels: int = 32,
    lr: float = 2e-4, lr_G: float = 1e-3, lr_decay: bool = True, info_weight: float = 1.0,
    cont_weight: float = 0.1, cluster_weight: float = 1.0,
    device: torch.device | str | None = None, threads: int | None = 1, callback=None,
    callback_every: int = 0, progress: bool = True,
) -> tuple[tuple[InfoGenerator, InfoDiscriminator], History]:  # fmt: skip
    """Train InfoGAN on the caller's digits (notebook 07 and benchmarks/bench_infogan.py).

    X: real digits (N, 1, 28, 28) in [-1, 1] (e.g. ``data.load_images("mnist5k")[0]``).
    ``clusters``: None for plain InfoGAN, or the anchored recipe's code of every digit, (N,)
    in 0..9, e.g. ``digit_clusters(X, seed=seed)`` (true labels here would make it AC-GAN);
    Q also learns to give each real digit its code, with weight ``cluster_weight``. Adam betas
    (0.5, 0.999), ``lr`` for D/Q and ``lr_G`` for G (the paper's section 7: 2e-4 and 1e-3),
    decayed linearly to 0 when ``lr_decay``; lambda = ``info_weight`` for the categorical
    code, ``cont_weight`` for the continuous ones. The networks are initialised from
    ``seed`` and the batches and codes drawn from a generator seeded by it; torch's global
    RNG is left as it was. ``device`` defaults to X's; ``threads`` CPU threads while
    training (None: unchanged). bf16 autocast, fused Adam and channels_last on CUDA.

    Returns ``((net_G, net_D), history)``, both nets in eval mode; history (every 50 steps):
    loss_D, D_real, D_fake, mi_cat, info_cont, mi_real (, cluster_ce), loss_G, step.
    """
    from .data import batches
    from .noise import sample_latent
    from .train import adam, cpu_threads, linear_decay, prepare, train_loop

    check_images(X, "train_infogan")
    if clusters is not None:
        if clusters.shape != (len(X),):
            raise ValueError(f"clusters must be ({len(X)},): one code per digit of X; got "
                             f"{tuple(clusters.shape)}")  # fmt: skip
        check_codes(clusters)
    if not cluster_weight >= 0:
        raise ValueError(f"cluster_weight must be >= 0, got {cluster_weight}")
    device = torch.device(device) if device is not None else X.device
    with seeded(seed):
        net_G, net_D = build(noise_dim, hidden, channels)
    net_G, net_D = prepare(net_G, device, conv=True), prepare(net_D, device, conv=True)
    trainer_D = adam(net_D.parameters(), lr, (0.5, 0.999), device)
    trainer_G = adam(net_G.parameters(), lr_G, (0.5, 0.999), device)
    g = torch.Generator().manual_seed(seed)
    # With clusters, each batch also carries its digits' ids; the permutations are the same.
    extra = [] if clusters is None else [clusters.long()]
    real = batches(X, batch_size, *extra, generator=g, device=device)
    # Linear decay to 0: the code -> digit assignment drifts less late in training.
    scheds = linear_decay([trainer_D, trainer_G], num_steps) if lr_decay else []
    weights = {"info_weight": info_weight, "cont_weight": cont_weight}

    def parts(n: int):
        z = sample_latent(n, noise_dim, "uniform", g, device)
        return (z, *sample_codes(n, generator=g, device=device))

    def step_fn(step: int) -> dict[str, torch.Tensor]:
        X_b, codes_b = next(real) if extra else (next(real), None)
        out = discriminator_step(X_b, parts(batch_size), net_D, net_G, trainer_D,
                                 real_codes=codes_b, cluster_weight=cluster_weight,
                                 **weights)  # fmt: skip
        out |= generator_step(parts(batch_size), net_D, net_G, trainer_G, **weights)
        for sched in scheds:
            sched.step()
        return out

    with cpu_threads(threads if device.type == "cpu" else None):
        history = train_loop(
            step_fn, num_steps, log_every=50, callback=callback,
            callback_every=callback_every, desc="InfoGAN", progress=progress,
        )  # fmt: skip
    return (net_G.eval(), net_D.eval()), history


# ---------------------------------------------------------------------------------------
# Evaluation and figures (on the generator's device; viz.show_images copies to the CPU)
# ---------------------------------------------------------------------------------------
@torch.no_grad()
def category_sheet(net_G, per_row: int = 10, cont=(0.0, 0.0), seed: int = 0) -> torch.Tensor:
    """The classic sheet: row k = category k, columns = the same ``per_row`` noise vectors
    z ~ U[-1, 1] from ``seed``, continuous codes fixed at ``cont``.

    Returns images (10 * per_row, 1, 28, 28) on G's device, row-major (use nrow=per_row).
    """
    device = model_device(net_G)
    g = torch.Generator().manual_seed(seed)
    z = (torch.rand(per_row, net_G.noise_dim, generator=g) * 2 - 1).repeat(N_CAT, 1)
    cat = torch.arange(N_CAT).repeat_interleave(per_row)
    c = torch.tensor(cont, dtype=torch.float32).expand(len(z), -1)
    if c.shape[1] != net_G.n_cont:
        raise ValueError(f"cont must hold {net_G.n_cont} values, got {tuple(cont)}")
    return net_G(make_latent(z, cat, c).to(device))


@torch.no_grad()
def continuous_sweep(
    net_G, code: int, values: torch.Tensor, cat: int | None = None, seed: int = 0,
) -> torch.Tensor:  # fmt: skip
    """Sweep continuous code ``code`` (0 or 1) over ``values`` (V,), the other held at 0.

    One row per category (or only ``cat``), the same noise in every cell of a row. Returns
    (rows * V, 1, 28, 28) on G's device, row-major (use nrow=V).
    """
    check_choice("continuous code", code, range(net_G.n_cont))
    if cat is not None:
        check_choice("category", cat, range(N_CAT))
    device = model_device(net_G)
    cats = list(range(N_CAT)) if cat is None else [int(cat)]
    values = torch.as_tensor(values, dtype=torch.float32).cpu()
    g = torch.Generator().manual_seed(seed)
    z = torch.rand(len(cats), net_G.noise_dim, generator=g) * 2 - 1
    z = z.repeat_interleave(len(values), 0)
    cat_idx = torch.tensor(cats).repeat_interleave(len(values))
    cont = torch.zeros(len(z), net_G.n_cont)
    cont[:, code] = values.repeat(len(cats))
    return net_G(make_latent(z, cat_idx, cont).to(device))


@torch.no_grad()
def sample_per_code(net_G, per_code: int = 200, seed: int = 123):
    """``per_code`` digits for each category (random z and continuous codes U[-1, 1] from
    ``seed``): (images (10 * per_code, 1, 28, 28) on G's device, codes (10 * per_code,))."""
    g = torch.Generator().manual_seed(seed)
    n = per_code * N_CAT
    z = torch.rand(n, net_G.noise_dim, generator=g) * 2 - 1
    cat = torch.arange(N_CAT).repeat_interleave(per_code)
    cont = torch.rand(n, net_G.n_cont, generator=g) * 2 - 1
    return net_G(make_latent(z, cat, cont).to(model_device(net_G))), cat


def code_accuracy(net_G, per_code: int = 200, seed: int = 123) -> dict:
    """How well the categorical code captures digit identity, without labels (notebook 07).

    Generates ``per_code`` digits per category (:func:`sample_per_code`), classifies them
    with the course classifier (:func:`course_lib.metrics.classifier_probs`, on G's device),
    and finds the one-to-one mapping code -> digit that maximises agreement
    (:func:`match_accuracy`). Returns ``accuracy`` (fraction of samples whose predicted
    digit is their code's mapped digit), ``mapping`` (list: code k -> digit), ``confusion``
    (10 x 10 counts, rows = codes, columns = predicted digits).
    """
    from .metrics import classifier_probs

    images, cat = sample_per_code(net_G, per_code, seed)
    with torch.no_grad():
        predicted = classifier_probs(images).argmax(1)
    return match_accuracy(cat, predicted)
