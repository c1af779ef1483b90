"""course_lib.vae and the noise-factor widget (notebooks 04, 05): maths against closed forms
and Monte Carlo estimates, bound orderings, corruption statistics, PSNR values, shapes."""

from __future__ import annotations

import math

import pytest
import torch

from course_lib import vae as V
from course_lib.widgets import NOISE_FACTOR_RANGE, NoiseFactorWidget, render_denoising


@pytest.fixture(scope="module")
def net() -> V.VAE:
    torch.manual_seed(0)
    return V.VAE(latent_dim=4, hidden=32).eval()


@pytest.fixture(scope="module")
def images() -> torch.Tensor:
    g = torch.Generator().manual_seed(1)
    return torch.rand(6, 1, 28, 28, generator=g)


def test_shapes(net, images):
    mu, logvar = net.encode(images)
    assert mu.shape == logvar.shape == (6, 4)
    logits, mu2, _ = net(images, torch.Generator().manual_seed(0))
    assert logits.shape == images.shape and torch.equal(mu, mu2)
    assert net.reconstruct(images).shape == images.shape
    imgs = net.decode_images(torch.randn(3, 4))
    assert imgs.shape == (3, 1, 28, 28) and imgs.min() >= -1 and imgs.max() <= 1
    terms = V.elbo(net, images)
    assert all(t.shape == (6,) for t in terms.values())
    assert torch.allclose(terms["elbo"], terms["rec"] - terms["kl"])


def test_vae_rejects_bad_sizes():
    with pytest.raises(ValueError, match="latent_dim"):
        V.VAE(latent_dim=0)


def test_gaussian_kl_matches_monte_carlo_and_torch():
    g = torch.Generator().manual_seed(0)
    mu, logvar = torch.randn(3, 5, generator=g), torch.randn(3, 5, generator=g) * 0.5
    analytic = V.gaussian_kl(mu, logvar)
    # Monte Carlo: E_q[log q(z) - log p(z)] with 200k samples per row.
    z = V.reparameterize(mu.expand(200_000, 3, 5), logvar.expand(200_000, 3, 5), g)
    log_q = V.log_normal(z, mu, logvar)
    log_p = V.log_normal(z, torch.zeros_like(z), torch.zeros_like(z))
    mc = (log_q - log_p).mean(0)
    assert torch.allclose(analytic, mc, atol=0.03)
    q = torch.distributions.Normal(mu, (0.5 * logvar).exp())
    p = torch.distributions.Normal(torch.zeros_like(mu), torch.ones_like(mu))
    assert torch.allclose(analytic, torch.distributions.kl_divergence(q, p).sum(-1), atol=1e-5)
    assert torch.allclose(V.gaussian_kl(torch.zeros(2, 3), torch.zeros(2, 3)), torch.zeros(2))


def test_reparameterize_statistics_and_gradients():
    mu = torch.tensor([1.0, -2.0], requires_grad=True)
    logvar = torch.tensor([0.0, math.log(4.0)], requires_grad=True)
    z = V.reparameterize(mu.expand(100_000, 2), logvar.expand(100_000, 2))
    assert torch.allclose(z.mean(0), mu.detach(), atol=0.03)
    assert torch.allclose(z.std(0), torch.tensor([1.0, 2.0]), atol=0.03)
    z.sum().backward()  # gradients reach both parameters through the sample
    assert mu.grad is not None and logvar.grad is not None
    assert torch.allclose(mu.grad, torch.full((2,), 100_000.0))


def test_bernoulli_log_likelihood_closed_form():
    logits = torch.tensor([[0.0, 2.0, -1.0]])
    x = torch.tensor([[1.0, 0.0, 1.0]])
    p = torch.sigmoid(logits)
    expected = (x * p.log() + (1 - x) * (1 - p).log()).sum(1)
    assert torch.allclose(V.bernoulli_log_likelihood(logits, x), expected, atol=1e-6)
    # stable where sigmoid saturates
    assert torch.isfinite(V.bernoulli_log_likelihood(torch.tensor([[200.0]]), torch.zeros(1, 1)))


def test_iwae_bound_above_elbo_and_increasing_in_k(net, images):
    X = V.dynamic_binarize(images, torch.Generator().manual_seed(0))
    elbo = V.evaluate_elbo(net, X, num_samples=200, seed=1)["elbo"]
    bounds = {k: V.evaluate_iwae(net, X, k=k, seed=2) for k in (1, 10, 100, 1000)}
    assert abs(bounds[1] - elbo) < 0.5  # L_1 is the ELBO (up to Monte Carlo error)
    assert bounds[1] < bounds[10] < bounds[100] < bounds[1000]
    assert bounds[1000] > elbo
    # per image too, with k = 500 against a well-averaged ELBO
    per_image = V.iwae_bound(net, X, 500, torch.Generator().manual_seed(3))
    elbos = torch.stack([V.elbo(net, X)["elbo"] for _ in range(200)]).mean(0)
    assert per_image.shape == (6,) and (per_image >= elbos).all()


def test_iwae_chunking_gives_same_result(net, images):
    X = V.dynamic_binarize(images, torch.Generator().manual_seed(0))
    a = V.iwae_bound(net, X, 50, torch.Generator().manual_seed(0))
    b = V.iwae_bound(net, X, 50, torch.Generator().manual_seed(0), max_elements=6 * 784 * 7)
    assert torch.allclose(a, b, atol=1e-4)
    with pytest.raises(ValueError, match="k must be"):
        V.iwae_bound(net, X, 0)


def test_dynamic_binarize_is_bernoulli():
    X = torch.full((200_000,), 0.3)
    b = V.dynamic_binarize(X, torch.Generator().manual_seed(0))
    assert set(b.unique().tolist()) <= {0.0, 1.0}
    assert abs(b.mean().item() - 0.3) < 0.005
    g1, g2 = torch.Generator().manual_seed(5), torch.Generator().manual_seed(5)
    assert torch.equal(V.dynamic_binarize(X[:100], g1), V.dynamic_binarize(X[:100], g2))


def test_corruption_statistics_and_clamping():
    g = torch.Generator().manual_seed(0)
    mid = torch.full((200_000,), 0.5)
    noisy = V.corrupt(mid, 0.1, g)
    assert abs((noisy - mid).mean().item()) < 1e-3  # far from the edges: zero-mean noise
    assert abs((noisy - mid).std().item() - 0.1) < 1e-3
    black = V.corrupt(torch.zeros(200_000), 0.25, g)
    assert black.min() >= 0 and black.max() <= 1
    # clamped at 0: half the pixels stay black, the mean rises to 0.25 / sqrt(2 pi)
    assert abs((black == 0).float().mean().item() - 0.5) < 0.005
    assert abs(black.mean().item() - 0.25 / math.sqrt(2 * math.pi)) < 2e-3
    assert V.corrupt(torch.ones(1000), 5.0, g).max() <= 1
    x = torch.rand(10)
    assert torch.equal(V.corrupt(x, 0.0), x)
    for bad in (-0.1, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="noise_factor"):
            V.corrupt(x, bad)


def test_psnr_known_values():
    x = torch.zeros(2, 1, 4, 4)
    assert torch.allclose(V.psnr(x + 0.1, x), torch.full((2,), 20.0))  # MSE 0.01 -> 20 dB
    assert torch.allclose(V.psnr(x + 0.01, x), torch.full((2,), 40.0))
    assert torch.allclose(V.psnr(x + 0.2, x, max_val=2.0), torch.full((2,), 20.0))
    assert torch.allclose(V.psnr(x, x), torch.full((2,), 100.0))  # MSE floor
    with pytest.raises(ValueError, match="equal shapes"):
        V.psnr(x, x[:1])


def test_kl_weight_warmup():
    assert V.kl_weight(0) == 1.0
    assert [V.kl_weight(s, 100) for s in (0, 50, 100, 500)] == [0.0, 0.5, 1.0, 1.0]


def test_train_vae_learns_and_evaluates(images):
    X = images.repeat(10, 1, 1, 1)
    net, history = V.train_vae(X, 30, latent_dim=3, hidden=32, batch_size=20, progress=False)
    assert history["step"][-1] == 30 and history["neg_elbo"][-1] < history["neg_elbo"][0]
    again, _ = V.train_vae(X, 30, latent_dim=3, hidden=32, batch_size=20, progress=False)
    assert torch.equal(net.decoder[0].weight, again.decoder[0].weight)  # seeded
    dvae, h = V.train_vae(X, 5, 3, 32, 20, binarize=False, noise_factor=0.25, progress=False)
    assert set(h) >= {"loss", "neg_elbo", "kl"}
    count, activity = V.active_units(net, X)
    assert 0 <= count <= 3 and activity.shape == (3,)
    assert V.kl_per_dim(net, X).shape == (3,)
    assert math.isfinite(V.evaluate_psnr(dvae, X, 0.25))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        V.train_vae(X * 2 - 1, 5, progress=False)


def test_render_denoising(net, images):
    out = render_denoising(images, 0.25, {"VAE": net.reconstruct, "identity": lambda x: x})
    assert out["noisy"].shape == images.shape
    assert set(out["recons"]) == {"VAE", "identity"}
    assert out["psnr"]["identity"] == pytest.approx(out["psnr"]["noisy input"])
    clean = render_denoising(images, 0.0, {"identity": lambda x: x})
    assert clean["psnr"]["identity"] == pytest.approx(100.0)
    again = render_denoising(images, 0.25, {"identity": lambda x: x})
    assert torch.equal(again["noisy"], out["noisy"])  # same seed, same noise


@pytest.mark.parametrize("bad", [-0.05, 0.61, 1.0, "0.3", None])
def test_render_denoising_rejects_out_of_range(net, images, bad):
    lo, hi = NOISE_FACTOR_RANGE
    with pytest.raises(ValueError, match=rf"\[{lo}, {hi}\]"):
        render_denoising(images, bad, {"VAE": net.reconstruct})


def test_noise_factor_widget_callback(net, images):
    import matplotlib

    matplotlib.use("Agg")
    w = NoiseFactorWidget(images[:4], {"VAE": net.reconstruct})
    first = w.result["psnr"]["noisy input"]
    w.noise_factor.value = 0.5  # what a slider drag does
    assert w.result["psnr"]["noisy input"] < first
    assert w.noise_factor.max == 0.6 and w.noise_factor.min == 0.0
