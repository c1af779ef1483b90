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
authors' code: the discriminator step adds lambda * info loss on detached fakes (Q and body),
the generator step adds it on fresh fakes (G). Continuous codes use a factored Gaussian Q
with unit variance, so their -log Q is 0.5 (c - mu(x))^2 + const, weighted by
``cont_weight`` (the paper uses a smaller lambda for continuous codes).

``train_infogan(cluster_weight=...)`` anchors the categorical code to the data: the real
training digits are first grouped without labels (:func:`digit_clusters`: :func:`deskew`,
PCA, t-SNE, k-means) and Q is also trained to give each real digit its group's code, so G's
code k must produce digits that Q files under group k. Notebook 07, section 7: in the
``fast`` budget the anchored code matched digit identity for 98.7% of generated digits
(benchmark, mean of seeds 0-2, one torch thread; 98.8% with two), plain InfoGAN for 74%
(70% with two threads).

Two more label-free additions (notebook 07, section 6 measures them; neither held up):
- ``z_scale``: the generator multiplies its noise input by a small factor (ClusterGAN,
  Mukherjee et al. 2019, use noise of standard deviation 0.1 for the same reason), so the
  code c, not z, has to carry the large changes between digits;
- ``real_info_weight``: Q is also asked to sort *real* digits into confident and balanced
  groups, maximising I(x; c_hat) = H(E_x Q(c | x)) - E_x H(Q(c | x)) on each real batch
  (the CatGAN / IMSAT objective; Springenberg 2016, Hu et al. 2017). This ties the codes to
  groups that exist in the data rather than to any style that G and Q happen to agree on.

``train_infogan(info_warp=(rotation, scale, shift))`` makes Q read the categorical code from
a :func:`random_warp` of each fake, so the code must survive small rotations, scalings and
shifts (which digit identity survives and slant or width do not); notebook 07 measured it
within the seed-to-seed spread, so the recipe leaves it off.

``train_infogan(separate_q=True)`` replaces the shared Q by a network of its own
(:class:`InfoQ`, trained with G by the information loss; D keeps the plain GAN loss). It
worked better on notebook 03's 2-D toy problem; on digits it scored lower (notebook 07).

Shapes: z (B, noise_dim), categorical code as indices (B,) in 0..9, continuous codes (B, 2)
in [-1, 1]; images (B, 1, 28, 28) in [-1, 1].
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .data import affine_resample
from .losses import discriminator_loss, generator_loss

N_CAT = 10


# ---------------------------------------------------------------------------------------
# Codes
# ---------------------------------------------------------------------------------------
def sample_codes(
    n: int, n_cat: int = N_CAT, n_cont: int = 2, generator: torch.Generator | None = None,
    device: torch.device | str | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:  # fmt: skip
    """Draw c: categorical indices (n,) uniform on 0..n_cat-1, continuous (n, n_cont) U[-1, 1]."""
    cat = torch.randint(n_cat, (n,), generator=generator)
    cont = torch.rand(n, n_cont, generator=generator) * 2 - 1
    return (cat.to(device), cont.to(device)) if device is not None else (cat, cont)


def make_latent(z: torch.Tensor, cat: torch.Tensor, cont: torch.Tensor, n_cat: int = N_CAT):
    """Generator input [z, one_hot(cat), cont], shape (B, noise_dim + n_cat + n_cont)."""
    if cat.min() < 0 or cat.max() >= n_cat:
        raise ValueError(f"category indices must lie in 0..{n_cat - 1}, got {cat.tolist()[:10]}")
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
    under the empirical distribution, in [0, log K] (CatGAN / IMSAT; notebook 07). Needs no
    labels: a Q whose codes mean digit identity should score near log 10 on real digits.
    """
    probs = cat_logits.softmax(1)
    marginal = probs.mean(0)
    h_marginal = -(marginal * marginal.clamp_min(1e-12).log()).sum()
    h_conditional = -(probs * cat_logits.log_softmax(1)).sum(1).mean()
    return {"mi": h_marginal - h_conditional, "marginal_entropy": h_marginal,
            "conditional_entropy": h_conditional}  # fmt: skip


def _check_warp(rotation: float, scale: float, shift: float) -> None:
    if not (0 <= rotation <= 180 and 0 <= scale < 1 and shift >= 0):
        raise ValueError(f"warp needs 0 <= rotation <= 180 degrees, 0 <= scale < 1 and "
                         f"shift >= 0 pixels; got {rotation}, {scale}, {shift}")  # fmt: skip


def random_warp(
    x: torch.Tensor, generator: torch.Generator | None = None, rotation: float = 15.0,
    scale: float = 0.1, shift: float = 2.0,
) -> torch.Tensor:  # fmt: skip
    """A random affine warp of every image: x (B, 1, H, W) in [-1, 1] -> same shape.

    Each image gets its own rotation (uniform in +-``rotation`` degrees), isotropic scale
    (1 +- ``scale``) and translation (+- ``shift`` pixels in each direction), resampled
    bilinearly with a background of -1; differentiable in x. Hand-written with
    ``F.affine_grid`` / ``F.grid_sample`` because torchvision's ``RandomAffine`` draws one warp
    per call, and the information term needs one per sample and a gradient to G.
    """
    if x.ndim != 4:
        raise ValueError(f"x must be images (B, C, H, W), got {tuple(x.shape)}")
    _check_warp(rotation, scale, shift)
    n, _, h, w = x.shape
    u = torch.rand(n, 4, generator=generator).to(x.device, x.dtype) * 2 - 1
    a, s = u[:, 0] * math.radians(rotation), 1 + u[:, 1] * scale
    cos, sin = s * torch.cos(a), s * torch.sin(a)
    # affine_grid works in [-1, 1] coordinates: one pixel is 2 / size.
    theta = torch.stack([torch.stack([cos, -sin, u[:, 2] * shift * 2 / w], 1),
                         torch.stack([sin, cos, u[:, 3] * shift * 2 / h], 1)], 1)  # fmt: skip
    return affine_resample(x, theta)


# ---------------------------------------------------------------------------------------
# Label-free clusters of real digits (the code anchor)
# ---------------------------------------------------------------------------------------
def deskew(x: torch.Tensor) -> torch.Tensor:
    """Remove each digit's slant and centre it: x (B, 1, H, W) in [-1, 1] -> same shape.

    From the image moments of the ink (x + 1): centroid (m_r, m_c), row variance v_rr and
    covariance v_rc; the slant is alpha = v_rc / v_rr columns per row (clamped to +-1).
    Output pixel (r, c) reads input (m_r + r - r0, m_c + c - c0 + alpha (r - r0)) around the
    centre (r0, c0), so the ink's centroid moves to the centre and its row-column covariance
    becomes 0 (the classic MNIST deskewing). Hand-written with ``F.affine_grid`` /
    ``F.grid_sample``: neither torchvision nor scipy has a moment-based deskew, and this
    form is one batched call.
    """
    if x.ndim != 4:
        raise ValueError(f"x must be images (B, C, H, W), got {tuple(x.shape)}")
    n, _, h, w = x.shape
    ink = (x + 1).sum(1)  # (B, H, W), background 0
    mass = ink.sum((1, 2)).clamp_min(1e-8)
    rows = torch.arange(h, dtype=x.dtype, device=x.device).view(1, h, 1)
    cols = torch.arange(w, dtype=x.dtype, device=x.device).view(1, 1, w)
    m_r = (ink * rows).sum((1, 2)) / mass
    m_c = (ink * cols).sum((1, 2)) / mass
    v_rr = (ink * (rows - m_r.view(-1, 1, 1)) ** 2).sum((1, 2)) / mass
    v_rc = (ink * (rows - m_r.view(-1, 1, 1)) * (cols - m_c.view(-1, 1, 1))).sum((1, 2)) / mass
    # Clamped to 45 degrees: a nearly flat image (tiny row variance) has no meaningful slant.
    alpha = (v_rc / v_rr.clamp_min(1e-8)).clamp(-1.0, 1.0)
    # affine_grid's coordinates run over [-1, 1]: column u = (c - c0) * 2 / w, row v likewise.
    one, zero = torch.ones_like(alpha), torch.zeros_like(alpha)
    theta = torch.stack([torch.stack([one, alpha * h / w, (m_c - (w - 1) / 2) * 2 / w], 1),
                         torch.stack([zero, one, (m_r - (h - 1) / 2) * 2 / h], 1)], 1)  # fmt: skip
    return affine_resample(x, theta)


def digit_clusters(
    X: torch.Tensor, n_clusters: int = N_CAT, seed: int = 0, pca_dim: int = 50,
    perplexity: float = 30.0, deskew_first: bool = True,
) -> torch.Tensor:  # fmt: skip
    """Label-free cluster ids (N,) in 0..n_clusters-1 for real digits X (N, 1, H, W).

    :func:`deskew` (slant and position vary within a digit class and say nothing about its
    identity), PCA to ``pca_dim`` dimensions, a 2-D t-SNE map (van der Maaten & Hinton 2008;
    ``init="pca"``) and k-means with ``n_clusters`` centres, all from scikit-learn and
    seeded by ``seed`` (``deskew_first=False`` skips the deskewing, for comparison). No
    labels are used.
    ``train_infogan(cluster_weight=...)`` asks Q to give each real digit its cluster's code,
    which anchors the categorical code to groups that exist in the data (notebook 07,
    section 7, measures how well these clusters and the anchored codes match the digits).
    """
    from sklearn.cluster import KMeans
    from sklearn.decomposition import PCA
    from sklearn.manifold import TSNE

    if X.ndim != 4:
        raise ValueError(f"X must be images (N, C, H, W), got {tuple(X.shape)}")
    n, dim = len(X), X[0].numel()
    if not 2 <= n_clusters <= n:
        raise ValueError(f"n_clusters must be in 2..{n} (the number of images), got {n_clusters}")
    if not 2 <= pca_dim <= min(n, dim):
        raise ValueError(f"pca_dim must be in 2..{min(n, dim)}, got {pca_dim}")
    if not 0 < perplexity < n:
        raise ValueError(f"perplexity must be in (0, {n}), got {perplexity}")
    X = X.float().cpu()
    flat = ((deskew(X) if deskew_first else X) + 1).reshape(n, dim).numpy() / 2
    feats = PCA(pca_dim, random_state=seed).fit_transform(flat)
    embedded = TSNE(2, perplexity=perplexity, init="pca", random_state=seed).fit_transform(feats)
    ids = KMeans(n_clusters, n_init=10, random_state=seed).fit_predict(embedded)
    return torch.as_tensor(ids, dtype=torch.long)


# ---------------------------------------------------------------------------------------
# Networks (the paper's Table 1 layout for MNIST, narrowed for a CPU)
# ---------------------------------------------------------------------------------------
def _input_scale(noise_dim: int, n_cont: int, z_scale: float) -> torch.Tensor:
    """(noise_dim + N_CAT + n_cont,) factors for G's input: z_scale on z, 1 on the codes."""
    if not z_scale > 0:
        raise ValueError(f"z_scale must be a positive number, got {z_scale!r}")
    scale = torch.ones(noise_dim + N_CAT + n_cont)
    scale[:noise_dim] = z_scale
    return scale


class InfoGenerator(nn.Module):
    """G: [z, c] (B, noise_dim + 12) -> images (B, 1, 28, 28) in [-1, 1].

    FC -> BN -> ReLU to a (2 * channels) x 7 x 7 map, then two ConvTranspose2d (kernel 4,
    stride 2): 7 -> 14 -> 28, BatchNorm + ReLU between, Tanh last (Chen et al. 2016, Table 1).
    The noise part of the input is multiplied by ``z_scale`` first (callers keep drawing
    z ~ U[-1, 1]; the network sees U[-z_scale, z_scale], a weaker noise next to the code).
    """

    def __init__(
        self, noise_dim: int = 62, n_cont: int = 2, hidden: int = 256, channels: int = 32,
        z_scale: float = 1.0,
    ):  # fmt: skip
        super().__init__()
        self.noise_dim, self.n_cont, c = noise_dim, n_cont, channels
        self.register_buffer("input_scale", _input_scale(noise_dim, n_cont, z_scale))
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
        h = self.fc(latent * self.input_scale).view(-1, 2 * self.channels, 7, 7)
        return self.conv(h)

    def generate(self, z, cat, cont) -> torch.Tensor:
        """Images for noise z (B, noise_dim), category indices (B,) and continuous codes."""
        return self(make_latent(z, cat, cont))


def _q_head(hidden: int, n_cont: int) -> nn.Sequential:
    """Q's head on the shared body: FC 128 -> BN -> LeakyReLU -> FC to the code parameters."""
    return nn.Sequential(
        nn.Linear(hidden, 128), nn.BatchNorm1d(128), nn.LeakyReLU(0.1, True),
        nn.Linear(128, N_CAT + n_cont),
    )  # fmt: skip


def _conv_body(hidden: int, channels: int) -> nn.Sequential:
    """Conv(4, s2) -> LeakyReLU -> Conv(4, s2) -> BN -> LeakyReLU -> FC ``hidden`` -> BN ->
    LeakyReLU: the body of D (and of the separate Q), 28x28 images -> (B, hidden)."""
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


class InfoQ(nn.Module):
    """A separate Q network (``separate_q=True`` in :func:`train_infogan`): D's conv body
    layout with its own weights and ``channels`` (fewer than D's to save time), then Q's
    head. ``forward`` returns (cat_logits (B, N_CAT), cont_mean (B, n_cont))."""

    def __init__(self, n_cont: int = 2, hidden: int = 256, channels: int = 16):
        super().__init__()
        self.body = _conv_body(hidden, channels)
        self.q_head = _q_head(hidden, n_cont)

    def forward(self, X: torch.Tensor):
        q = self.q_head(self.body(X))
        return q[:, :N_CAT], q[:, N_CAT:]


class MLPInfoGenerator(InfoGenerator):
    """MLP variant of :class:`InfoGenerator` (about 3x faster per training step on a CPU; in
    notebook 07's runs it scored lower than the conv nets at equal time): [z, c] -> FC
    ``hidden`` -> BN -> ReLU -> FC 2*hidden -> BN -> ReLU -> FC 784 -> Tanh, reshaped to
    (B, 1, 28, 28)."""

    def __init__(self, noise_dim: int = 62, n_cont: int = 2, hidden: int = 256,
                 z_scale: float = 1.0):  # fmt: skip
        nn.Module.__init__(self)
        self.noise_dim, self.n_cont = noise_dim, n_cont
        self.register_buffer("input_scale", _input_scale(noise_dim, n_cont, z_scale))
        self.fc = nn.Sequential(
            nn.Linear(noise_dim + N_CAT + n_cont, hidden), nn.BatchNorm1d(hidden), nn.ReLU(True),
            nn.Linear(hidden, 2 * hidden), nn.BatchNorm1d(2 * hidden), nn.ReLU(True),
            nn.Linear(2 * hidden, 784), nn.Tanh(),
        )  # fmt: skip

    def forward(self, latent: torch.Tensor) -> torch.Tensor:
        return self.fc(latent * self.input_scale).view(-1, 1, 28, 28)


class MLPInfoDiscriminator(InfoDiscriminator):
    """MLP variant of :class:`InfoDiscriminator`: body 784 -> 2*hidden -> hidden (LeakyReLU
    0.1, no BatchNorm: with it the MLP discriminator overpowered G after ~1,000 steps in our
    runs), the same D and Q heads."""

    def __init__(self, n_cont: int = 2, hidden: int = 256):
        nn.Module.__init__(self)
        self.body = nn.Sequential(
            nn.Flatten(), nn.Linear(784, 2 * hidden), nn.LeakyReLU(0.1, True),
            nn.Linear(2 * hidden, hidden), nn.LeakyReLU(0.1, True),
        )  # fmt: skip
        self.d_head = nn.Linear(hidden, 1)
        self.q_head = _q_head(hidden, n_cont)


ARCHS: tuple[str, ...] = ("mlp", "conv")


def build(
    arch: str = "conv", noise_dim: int = 62, hidden: int = 256, channels: int = 32,
    z_scale: float = 1.0,
):  # fmt: skip
    """(net_G, net_D) for ``arch``: "conv" (the paper's Table 1 layout) or "mlp"; G scales
    its noise input by ``z_scale``."""
    if arch == "conv":
        G = InfoGenerator(noise_dim, 2, hidden, channels, z_scale)
        return G, InfoDiscriminator(2, hidden, channels)
    if arch == "mlp":
        return MLPInfoGenerator(noise_dim, 2, hidden, z_scale), MLPInfoDiscriminator(2, hidden)
    raise ValueError(f"Unknown architecture {arch!r}. Allowed values: {', '.join(ARCHS)}")


# ---------------------------------------------------------------------------------------
# Step functions (Chen et al. 2016, eq. 6)
# ---------------------------------------------------------------------------------------
def discriminator_step(
    X, latent_parts, net_D, net_G, trainer_D, info_weight: float = 1.0, cont_weight: float = 0.1,
    real_info_weight: float = 0.0, warp=None, real_codes=None, cluster_weight: float = 0.0,
) -> dict[str, torch.Tensor]:  # fmt: skip
    """One step for D and Q (shared body): GAN loss -V + info_weight * (-L_I on fakes)
    - real_info_weight * I(x; c_hat) on the real batch (:func:`real_code_information`)
    + cluster_weight * cross-entropy of Q on the real batch against ``real_codes``, the real
    digits' label-free cluster ids (:func:`digit_clusters`; logged as ``cluster_ce``).

    ``latent_parts`` = (z, cat, cont). Fakes are detached: G is not updated here. The
    history gets ``mi_real``, Q's information on the real batch, whatever the weight.
    ``warp`` (e.g. :func:`random_warp`): Q reads the *categorical* code from warp(fake)
    instead of fake (one more pass through D's body); the continuous codes from fake.
    """
    z, cat, cont = latent_parts
    trainer_D.zero_grad(set_to_none=True)
    fake = net_G.generate(z, cat, cont).detach()
    real_logits, real_cat_logits, _ = net_D.forward_all(X)
    fake_logits, cat_logits, cont_mean = net_D.forward_all(fake)
    if warp is not None:
        cat_logits = net_D.forward_all(warp(fake))[1]
    info = info_loss(cat_logits, cont_mean, cat, cont, cont_weight)
    real_info = real_code_information(real_cat_logits)
    loss_D = discriminator_loss(real_logits, fake_logits) + info_weight * info["loss"]
    if real_info_weight:
        loss_D = loss_D - real_info_weight * real_info["mi"]
    out = {}
    if real_codes is not None:
        cluster_ce = F.cross_entropy(real_cat_logits, real_codes)
        loss_D = loss_D + cluster_weight * cluster_ce
        out["cluster_ce"] = cluster_ce.detach()
    loss_D.backward()
    trainer_D.step()
    return {"loss_D": loss_D.detach(), "D_real": torch.sigmoid(real_logits).mean().detach(),
            "D_fake": torch.sigmoid(fake_logits).mean().detach(),
            "mi_cat": info["mi_cat"].detach(), "info_cont": info["cont"].detach(),
            "mi_real": real_info["mi"].detach()} | out  # fmt: skip


def generator_step(
    latent_parts, net_D, net_G, trainer_G, info_weight: float = 1.0, cont_weight: float = 0.1,
    warp=None,
) -> dict[str, torch.Tensor]:  # fmt: skip
    """One step for G: non-saturating loss + info_weight * (-L_I): G makes c recoverable
    (from warp(G(z, c)) for the categorical code when ``warp`` is given, as in D's step)."""
    z, cat, cont = latent_parts
    trainer_G.zero_grad(set_to_none=True)
    fake = net_G.generate(z, cat, cont)
    fake_logits, cat_logits, cont_mean = net_D.forward_all(fake)
    if warp is not None:
        cat_logits = net_D.forward_all(warp(fake))[1]
    info = info_loss(cat_logits, cont_mean, cat, cont, cont_weight)
    loss_G = generator_loss(fake_logits) + info_weight * info["loss"]
    loss_G.backward()
    trainer_G.step()
    return {"loss_G": loss_G.detach()}


def discriminator_step_separate_q(
    X, latent_parts, net_D, net_G, net_Q, trainer_D, trainer_Q=None, info_weight: float = 1.0,
    cont_weight: float = 0.1,
) -> dict[str, torch.Tensor]:  # fmt: skip
    """D's step when Q is its own network (:class:`InfoQ`): D gets the plain GAN loss only.

    If ``trainer_Q`` is given, Q is also updated here from info_weight * (-L_I) on the same
    detached fakes; otherwise it learns on the generator step alone. Returns the same
    history keys as :func:`discriminator_step` (``mi_real`` measured without gradient).
    """
    z, cat, cont = latent_parts
    trainer_D.zero_grad(set_to_none=True)
    fake = net_G.generate(z, cat, cont).detach()
    real_logits, fake_logits = net_D(X), net_D(fake)
    loss_D = discriminator_loss(real_logits, fake_logits)
    loss_D.backward()
    trainer_D.step()
    with torch.set_grad_enabled(trainer_Q is not None):
        info = info_loss(*net_Q(fake), cat, cont, cont_weight)
    if trainer_Q is not None:
        trainer_Q.zero_grad(set_to_none=True)
        (info_weight * info["loss"]).backward()
        trainer_Q.step()
    with torch.no_grad():
        real_info = real_code_information(net_Q(X)[0])
    return {"loss_D": loss_D.detach(), "D_real": torch.sigmoid(real_logits).mean().detach(),
            "D_fake": torch.sigmoid(fake_logits).mean().detach(),
            "mi_cat": info["mi_cat"].detach(), "info_cont": info["cont"].detach(),
            "mi_real": real_info["mi"].detach()}  # fmt: skip


def generator_step_separate_q(
    latent_parts, net_D, net_G, net_Q, trainer_G, trainer_Q, info_weight: float = 1.0,
    cont_weight: float = 0.1,
) -> dict[str, torch.Tensor]:  # fmt: skip
    """G's step with a separate Q: GAN loss through D + info_weight * (-L_I) through Q; the
    information term updates G and Q (``trainer_G`` and ``trainer_Q`` step together)."""
    z, cat, cont = latent_parts
    trainer_G.zero_grad(set_to_none=True)
    trainer_Q.zero_grad(set_to_none=True)
    fake = net_G.generate(z, cat, cont)
    info = info_loss(*net_Q(fake), cat, cont, cont_weight)
    loss_G = generator_loss(net_D(fake)) + info_weight * info["loss"]
    loss_G.backward()
    trainer_G.step()
    trainer_Q.step()
    return {"loss_G": loss_G.detach()}


def train_infogan(
    num_steps: int, *, seed: int = 0, batch_size: int = 64, noise_dim: int = 62,
    hidden: int = 256, channels: int = 32, arch: str = "conv", lr: float = 2e-4,
    lr_G: float = 1e-3, lr_decay: bool = True, z_scale: float = 1.0,
    info_weight: float = 1.0, cont_weight: float = 0.1, real_info_weight: float = 0.0,
    separate_q: bool = False, q_channels: int = 16, q_in_d_step: bool = False,
    lr_Q: float | None = None, info_warp: tuple[float, float, float] | None = None,
    cluster_weight: float = 0.0, device: torch.device | str = "cpu", threads: int | None = 1,
    callback=None, callback_every: int = 0, progress: bool = True,
) -> dict:  # fmt: skip
    """Train InfoGAN on mnist5k (notebook 07 and benchmarks/bench_infogan.py).

    ``arch`` picks the networks (:func:`build`). Adam betas (0.5, 0.999), lr 2e-4 for D/Q and
    1e-3 for G (the paper's section 7 setting), decayed linearly to 0 when ``lr_decay``.
    ``z_scale`` weakens G's noise input; ``real_info_weight`` > 0 adds Q's information on
    real digits to the D/Q loss (module docstring). ``separate_q``: Q is its own network
    (:class:`InfoQ` with ``q_channels``, conv only) with its own Adam at ``lr_Q`` (default
    ``lr_G``), trained by the information loss on G's step (and also on detached fakes in
    D's step when ``q_in_d_step``); D's loss is then the plain GAN loss. ``info_warp`` =
    (rotation in degrees, scale, shift in pixels): Q reads the categorical code from a
    :func:`random_warp` of each fake (shared Q only; its own random stream, seeded from
    ``seed``). ``cluster_weight`` > 0: the training digits are first grouped by
    :func:`digit_clusters` (seeded by ``seed``, label-free) and Q also learns to give each
    real digit its group's code (shared Q only). Labels are never used. Returns ``history``
    (loss_D, loss_G, D_real, D_fake, mi_cat, info_cont, mi_real, and cluster_ce when
    anchored), ``net_G``, ``net_D`` and ``net_Q`` (None unless ``separate_q``), all in eval
    mode, and ``clusters``, the cluster id of every training digit (None unless anchored).
    """
    from .data import batches, load_images
    from .noise import sample_latent
    from .train import adam, cpu_threads, train_loop

    device = torch.device(device)
    X, _ = load_images("mnist5k", "train")
    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed)
    net_G, net_D = build(arch, noise_dim, hidden, channels, z_scale)
    net_G, net_D = net_G.to(device), net_D.to(device)
    trainer_D = adam(net_D.parameters(), lr, (0.5, 0.999), device)
    trainer_G = adam(net_G.parameters(), lr_G, (0.5, 0.999), device)
    net_Q = trainer_Q = None
    if separate_q:
        if arch != "conv":
            raise ValueError(f"separate_q needs arch='conv', got {arch!r}")
        net_Q = InfoQ(2, hidden, q_channels).to(device)
        trainer_Q = adam(net_Q.parameters(), lr_G if lr_Q is None else lr_Q, (0.5, 0.999), device)
        if real_info_weight:
            raise ValueError("real_info_weight needs Q on D's body; use it without separate_q")
        if info_warp:
            raise ValueError("info_warp applies to the shared Q; use it without separate_q")
        if cluster_weight:
            raise ValueError("cluster_weight applies to the shared Q; use it without separate_q")
    elif q_in_d_step:
        raise ValueError("q_in_d_step applies only with separate_q=True")
    warp = None
    if info_warp:
        rotation, scale, shift = info_warp
        _check_warp(rotation, scale, shift)
        g_warp = torch.Generator().manual_seed(seed + 7919)
        warp = lambda x: random_warp(x, g_warp, rotation, scale, shift)  # noqa: E731
    if not cluster_weight >= 0:
        raise ValueError(f"cluster_weight must be >= 0, got {cluster_weight}")
    clusters = digit_clusters(X, N_CAT, seed) if cluster_weight else None
    # With clusters, each batch also carries its digits' ids; the permutations are the same.
    real = batches(X, batch_size, *([clusters] if cluster_weight else []), generator=g,
                   device=device)  # fmt: skip
    scheds = []
    if lr_decay:  # linear decay to 0: the code -> digit assignment drifts less late in training
        decay = lambda step: max(0.0, 1 - step / num_steps)  # noqa: E731
        trainers = [t for t in (trainer_D, trainer_G, trainer_Q) if t is not None]
        scheds = [torch.optim.lr_scheduler.LambdaLR(t, decay) for t in trainers]

    def parts(n: int):
        z = sample_latent(n, noise_dim, "uniform", g, device)
        return (z, *sample_codes(n, generator=g, device=device))

    def step_fn(step: int) -> dict[str, torch.Tensor]:
        if separate_q:
            out = discriminator_step_separate_q(
                next(real), parts(batch_size), net_D, net_G, net_Q, trainer_D,
                trainer_Q if q_in_d_step else None, info_weight, cont_weight,
            )  # fmt: skip
            out |= generator_step_separate_q(parts(batch_size), net_D, net_G, net_Q, trainer_G,
                                             trainer_Q, info_weight, cont_weight)  # fmt: skip
        else:
            X_b, codes_b = next(real) if cluster_weight else (next(real), None)
            out = discriminator_step(X_b, parts(batch_size), net_D, net_G, trainer_D,
                                     info_weight, cont_weight, real_info_weight, warp, codes_b,
                                     cluster_weight)  # fmt: skip
            out |= generator_step(parts(batch_size), net_D, net_G, trainer_G, info_weight,
                                  cont_weight, warp)  # fmt: skip
        for sched in scheds:
            sched.step()
        return out

    with cpu_threads(threads if device.type == "cpu" else None):
        history = train_loop(
            step_fn, num_steps, log_every=50, callback=callback,
            callback_every=callback_every, desc="InfoGAN", progress=progress,
        )  # fmt: skip
    return {"history": history, "net_G": net_G.eval(), "net_D": net_D.eval(),
            "net_Q": net_Q.eval() if net_Q is not None else None, "noise_dim": noise_dim,
            "seed": seed, "clusters": clusters}  # fmt: skip


# ---------------------------------------------------------------------------------------
# Evaluation and figures
# ---------------------------------------------------------------------------------------
@torch.no_grad()
def category_sheet(
    net_G, noise_dim: int, per_row: int = 10, cont=(0.0, 0.0), seed: int = 0,
) -> torch.Tensor:  # fmt: skip
    """The classic sheet: row k = category k, columns = the same ``per_row`` noise vectors.

    Returns images (10 * per_row, 1, 28, 28), row-major (use nrow=per_row).
    """
    device = next(net_G.parameters()).device
    g = torch.Generator().manual_seed(seed)
    z = (torch.rand(per_row, noise_dim, generator=g) * 2 - 1).repeat(N_CAT, 1).to(device)
    cat = torch.arange(N_CAT).repeat_interleave(per_row).to(device)
    c = torch.tensor(cont, dtype=torch.float32).expand(len(z), -1).to(device)
    return net_G.generate(z, cat, c).cpu()


@torch.no_grad()
def continuous_sweep(
    net_G, noise_dim: int, code: int, values: torch.Tensor, cat: int | None = None,
    seed: int = 0,
) -> torch.Tensor:  # fmt: skip
    """Sweep continuous code ``code`` (0 or 1) over ``values`` (V,), the other held at 0.

    One row per category (or only ``cat``), the same noise in every cell of a row. Returns
    (rows * V, 1, 28, 28), row-major (use nrow=V).
    """
    if code not in (0, 1):
        raise ValueError(f"code must be 0 or 1 (the two continuous codes), got {code!r}")
    device = next(net_G.parameters()).device
    cats = list(range(N_CAT)) if cat is None else [cat]
    g = torch.Generator().manual_seed(seed)
    z = (torch.rand(len(cats), noise_dim, generator=g) * 2 - 1).repeat_interleave(len(values), 0)
    cat_idx = torch.tensor(cats).repeat_interleave(len(values))
    cont = torch.zeros(len(z), 2)
    cont[:, code] = values.float().repeat(len(cats))
    return net_G.generate(z.to(device), cat_idx.to(device), cont.to(device)).cpu()


@torch.no_grad()
def code_accuracy(net_G, noise_dim: int, per_code: int = 200, seed: int = 123) -> dict:
    """How well the categorical code captures digit identity, without labels (notebook 07).

    Generates ``per_code`` digits per category (random z, continuous codes U[-1, 1]),
    classifies them with the course classifier (:func:`course_lib.metrics.classifier_probs`),
    and finds the one-to-one mapping code -> digit that maximises agreement (Hungarian
    assignment, ``scipy.optimize.linear_sum_assignment``). Returns ``accuracy`` (fraction of
    samples whose predicted digit is their code's mapped digit), ``mapping`` (list: code k ->
    digit), ``confusion`` (10 x 10 counts, rows = codes, columns = predicted digits).
    """
    from .metrics import classifier_probs

    device = next(net_G.parameters()).device
    g = torch.Generator().manual_seed(seed)
    n = per_code * N_CAT
    z = torch.rand(n, noise_dim, generator=g) * 2 - 1
    cat = torch.arange(N_CAT).repeat_interleave(per_code)
    cont = torch.rand(n, 2, generator=g) * 2 - 1
    images = net_G.generate(z.to(device), cat.to(device), cont.to(device)).cpu()
    return match_accuracy(cat, classifier_probs(images).argmax(1))


def match_accuracy(codes: torch.Tensor, labels: torch.Tensor, k: int = N_CAT) -> dict:
    """Best one-to-one mapping between ``codes`` (N,) and ``labels`` (N,), both in 0..k-1:
    the (k, k) count matrix (rows = codes) scored by :func:`assignment_accuracy`. Used for
    generated digits (code vs classified digit) and for :func:`digit_clusters` (cluster vs
    true label, evaluation only)."""
    codes, labels = codes.long().cpu(), labels.long().cpu()
    if codes.shape != labels.shape or codes.ndim != 1:
        raise ValueError(f"codes and labels must be (N,) each, got {tuple(codes.shape)} and "
                         f"{tuple(labels.shape)}")  # fmt: skip
    if min(codes.min(), labels.min()) < 0 or max(codes.max(), labels.max()) >= k:
        raise ValueError(f"codes and labels must lie in 0..{k - 1}")
    confusion = torch.zeros(k, k, dtype=torch.long)
    confusion.index_put_((codes, labels), torch.ones(len(codes), dtype=torch.long),
                         accumulate=True)  # fmt: skip
    return assignment_accuracy(confusion)


def assignment_accuracy(confusion: torch.Tensor) -> dict:
    """Best one-to-one code -> class mapping of a (K, K) count matrix (Hungarian algorithm)."""
    from scipy.optimize import linear_sum_assignment

    rows, cols = linear_sum_assignment(-confusion.numpy())
    acc = float(confusion[rows, cols].sum()) / float(confusion.sum())
    return {"accuracy": acc, "mapping": cols.tolist(), "confusion": confusion}
