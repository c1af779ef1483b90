"""course_lib.vae, course_lib.vae_eval and the noise-factor widget (notebooks 04, 05): maths
against closed forms and Monte Carlo estimates, bound orderings, corruption statistics, PSNR
values, shapes."""

from __future__ import annotations

import math

import pytest
import torch

from course_lib import vae as V
from course_lib import vae_eval as VE
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
    X = V.sample_bernoulli(images, torch.Generator().manual_seed(0))
    elbo = VE.evaluate_elbo(net, X, num_samples=200, seed=1)["elbo"]
    bounds = {k: VE.evaluate_iwae(net, X, k=k, seed=2) for k in (1, 10, 100, 1000)}
    assert abs(bounds[1] - elbo) < 0.5  # L_1 is the ELBO (up to Monte Carlo error)
    assert bounds[1] < bounds[10] < bounds[100] < bounds[1000]
    assert bounds[1000] > elbo
    # per image too, with k = 500 against a well-averaged ELBO
    per_image = V.iwae_bound(net, X, 500, torch.Generator().manual_seed(3))
    elbos = torch.stack([V.elbo(net, X)["elbo"] for _ in range(200)]).mean(0)
    assert per_image.shape == (6,) and (per_image >= elbos).all()


def test_iwae_chunking_gives_same_result(net, images):
    X = V.sample_bernoulli(images, torch.Generator().manual_seed(0))
    a = V.iwae_bound(net, X, 50, torch.Generator().manual_seed(0))
    b = V.iwae_bound(net, X, 50, torch.Generator().manual_seed(0), max_elements=6 * 784 * 7)
    assert torch.allclose(a, b, atol=1e-4)
    with pytest.raises(ValueError, match="k must be"):
        V.iwae_bound(net, X, 0)


def test_sample_bernoulli_is_bernoulli():
    X = torch.full((200_000,), 0.3)
    b = V.sample_bernoulli(X, torch.Generator().manual_seed(0))
    assert set(b.unique().tolist()) <= {0.0, 1.0}
    assert abs(b.mean().item() - 0.3) < 0.005
    g1, g2 = torch.Generator().manual_seed(5), torch.Generator().manual_seed(5)
    assert torch.equal(V.sample_bernoulli(X[:100], g1), V.sample_bernoulli(X[:100], g2))


def test_sample_bernoulli_draws_where_the_generator_lives():
    """A CPU generator: the uniforms of torch.rand(shape, generator) (the same on every
    machine), moved to p's device; no generator: p's device's global RNG; dtype kept."""
    p = torch.rand(4, 50, generator=torch.Generator().manual_seed(1)).double()
    u = torch.rand(p.shape, generator=torch.Generator().manual_seed(2))
    got = V.sample_bernoulli(p, torch.Generator().manual_seed(2))
    assert got.dtype == torch.float64 and torch.equal(got, (u < p).double())
    torch.manual_seed(3)
    expected = (torch.rand(p.shape) < p).double()
    torch.manual_seed(3)
    assert torch.equal(V.sample_bernoulli(p), expected)
    p_meta = p.to("meta")  # a CPU generator's draw is moved; None draws on p's device
    assert V.sample_bernoulli(p_meta, torch.Generator()).device.type == "meta"
    assert V.sample_bernoulli(p_meta).device.type == "meta"


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
    assert torch.allclose(VE.psnr(x + 0.1, x), torch.full((2,), 20.0))  # MSE 0.01 -> 20 dB
    assert torch.allclose(VE.psnr(x + 0.01, x), torch.full((2,), 40.0))
    assert torch.allclose(VE.psnr(x + 0.2, x, max_val=2.0), torch.full((2,), 20.0))
    assert torch.allclose(VE.psnr(x, x), torch.full((2,), 100.0))  # MSE floor
    with pytest.raises(ValueError, match="equal shapes"):
        VE.psnr(x, x[:1])


def test_kl_weight_warmup():
    assert V.kl_weight(0) == 1.0
    assert [V.kl_weight(s, 100) for s in (0, 50, 100, 500)] == [0.0, 0.5, 1.0, 1.0]


def test_train_vae_learns_is_seeded_and_leaves_the_global_rng_alone(images):
    X = images.repeat(10, 1, 1, 1)
    state = torch.get_rng_state()
    net, history = V.train_vae(X, 30, latent_dim=3, hidden=32, batch_size=20, progress=False)
    assert torch.equal(torch.get_rng_state(), state)  # no global reseeding as a side effect
    assert history["step"][-1] == 30 and history["neg_elbo"][-1] < history["neg_elbo"][0]
    torch.rand(5)  # whatever the caller's RNG did in between, the run repeats exactly
    again, _ = V.train_vae(X, 30, latent_dim=3, hidden=32, batch_size=20, progress=False)
    assert torch.equal(net.decoder[0].weight, again.decoder[0].weight)
    other, _ = V.train_vae(X, 30, latent_dim=3, hidden=32, batch_size=20, seed=1,
                           progress=False)  # fmt: skip
    assert not torch.equal(net.decoder[0].weight, other.decoder[0].weight)


def test_train_vae_denoising_and_batch_iterator(images):
    X = images.repeat(10, 1, 1, 1)
    dvae, h = V.train_vae(X, 5, latent_dim=3, hidden=32, batch_size=20, binarize=False,
                          noise_factor=0.25, log_every=5, progress=False)  # fmt: skip
    assert h["step"] == [5] and len(h["loss"]) == len(h["kl"]) == 1
    assert h["loss"][0] == pytest.approx(h["neg_elbo"][0])  # beta = 1: loss is -ELBO
    # an iterator of batches: consumed one batch per step, reproducible with the seed
    used = []

    def stream():
        for i in range(100):
            used.append(i)
            yield X[(torch.arange(20) + 20 * i) % len(X)]

    a, _ = V.train_vae(stream(), 5, latent_dim=3, hidden=32, progress=False)
    assert used == [0, 1, 2, 3, 4]
    b, _ = V.train_vae(stream(), 5, latent_dim=3, hidden=32, progress=False)
    assert torch.equal(a.encoder[0].weight, b.encoder[0].weight)


@pytest.mark.parametrize(
    "bad, match",
    [
        (lambda X: X * 2 - 1, r"\[0, 1\].*to_unit"),  # the course's [-1, 1] images
        (lambda X: X * 255, r"\[0, 1\]"),  # bytes
        (lambda X: X.flatten(1), r"\(N, 1, 28, 28\)"),
        (lambda X: X.masked_fill(X > 0.5, float("nan")), r"\[0, 1\]"),
        (lambda X: iter([X * 2 - 1]), r"\[0, 1\]"),  # the first batch of an iterator
        (lambda X: iter([]), "empty"),
    ],
)
def test_train_vae_rejects_bad_data(images, bad, match):
    with pytest.raises(ValueError, match=match):
        V.train_vae(bad(images), 5, progress=False)


@pytest.mark.parametrize("noise_factor", [25.0, -0.1, float("nan")])
def test_train_vae_rejects_noise_factor_out_of_range(images, noise_factor):
    with pytest.raises(ValueError, match=r"noise_factor .* \[0, 1\]"):
        V.train_vae(images, 5, binarize=False, noise_factor=noise_factor, progress=False)


def test_active_units_counts_the_units_whose_mean_varies(images):
    torch.manual_seed(0)
    model = V.VAE(latent_dim=5, hidden=32).eval()
    last = model.encoder[-1]  # Linear(hidden, 2 * latent_dim): mu rows 0..4, logvar rows 5..9
    with torch.no_grad():
        last.weight[:5] *= 50  # strong dependence of mu on x ...
        last.weight[[1, 3]] = 0.0  # ... except units 1 and 3: mu constant -> inactive
    X = images.repeat(5, 1, 1, 1) * torch.rand(30, 1, 1, 1, generator=torch.Generator())
    count, activity = VE.active_units(model, X)
    with torch.no_grad():
        mu = model.encode(X)[0]
    assert torch.allclose(activity, mu.var(0))  # A_u = Cov_x(E[z_u | x]), unbiased
    assert activity[[1, 3]].max() < 1e-12 and activity[[0, 2, 4]].min() > 0.01
    assert count == 3
    assert VE.active_units(model, X, threshold=float(activity.max()))[0] == 0


def test_gaussian_kl_per_dim_terms():
    mu, logvar = torch.tensor([[1.0, 0.0, -2.0]]), torch.tensor([[0.0, math.log(4.0), 0.0]])
    # 1/2 (mu^2 + sigma^2 - log sigma^2 - 1): 0.5, (4 - log 4 - 1) / 2, 2
    expected = torch.tensor([[0.5, (3 - math.log(4.0)) / 2, 2.0]])
    assert torch.allclose(V.gaussian_kl(mu, logvar, per_dim=True), expected)
    assert torch.allclose(V.gaussian_kl(mu, logvar), expected.sum(1))


def test_kl_per_dim_sums_to_the_mean_kl(net, images):
    per_dim = VE.kl_per_dim(net, images)
    with torch.no_grad():
        mu, logvar = net.encode(images)
    assert per_dim.shape == (4,)
    assert per_dim.sum() == pytest.approx(float(V.gaussian_kl(mu, logvar).mean()), rel=1e-5)


def test_evaluate_psnr_matches_a_hand_computation(net, images):
    noisy = V.corrupt(images, 0.25, torch.Generator().manual_seed(3))
    expected = float(VE.psnr(net.reconstruct(noisy), images).mean())
    assert VE.evaluate_psnr(net, images, 0.25, seed=3) == pytest.approx(expected, rel=1e-6)


def test_evaluate_elbo_matches_elbo_with_the_same_noise(net, images):
    X = V.sample_bernoulli(images, torch.Generator().manual_seed(0))
    out = VE.evaluate_elbo(net, X, num_samples=2, seed=4)
    g = torch.Generator().manual_seed(4)
    terms = [V.elbo(net, X, X, g) for _ in range(2)]
    with torch.no_grad():
        expected = {k: float(torch.stack([t[k] for t in terms]).mean()) for k in terms[0]}
    assert out == pytest.approx(expected, rel=1e-5)


def test_evaluation_leaves_the_models_mode_alone(images):
    model = V.VAE(latent_dim=3, hidden=16)  # in training mode
    X = V.sample_bernoulli(images, torch.Generator().manual_seed(0))
    VE.evaluate_elbo(model, X, 1)
    VE.evaluate_iwae(model, X, 2)
    VE.active_units(model, X)
    VE.kl_per_dim(model, X)
    VE.evaluate_psnr(model, images, 0.25)
    assert model.training
    model.eval()
    VE.evaluate_elbo(model, X, 1)
    assert not model.training


def test_model_methods_take_inputs_on_any_device():
    """Inputs on the CPU, model on meta: encode, decode, reconstruct, decode_images and
    iwae_bound move their input to the model's device and return there (no .to(device) in
    the notebooks)."""
    with torch.device("meta"):
        model = V.VAE(latent_dim=4, hidden=16)
    X, Z = torch.rand(5, 1, 28, 28), torch.randn(5, 4)
    mu, logvar = model.encode(X)
    assert mu.device.type == logvar.device.type == "meta" and mu.shape == (5, 4)
    assert model.decode(Z).device.type == "meta"
    assert model.reconstruct(X).device.type == "meta"
    assert model.decode_images(Z).device.type == "meta"
    assert V.iwae_bound(model, X, 3, torch.Generator()).device.type == "meta"


def test_train_vae_bf16_autocasts_its_steps(images):
    """bf16=True runs every step under bf16 autocast (here on the CPU): it still learns, and
    its weights differ from the fp32 run's (the matmuls really ran in bfloat16)."""
    X = images.repeat(10, 1, 1, 1)
    kw = dict(latent_dim=3, hidden=32, batch_size=20, progress=False)
    fp32, _ = V.train_vae(X, 30, **kw)
    bf16, hist = V.train_vae(X, 30, bf16=True, **kw)
    assert hist["neg_elbo"][-1] < hist["neg_elbo"][0]
    assert bf16.decoder[0].weight.dtype == torch.float32
    assert not torch.equal(fp32.decoder[0].weight, bf16.decoder[0].weight)


def test_vae_step_and_samplers_stay_on_the_model_device():
    """Meta-device test: a CPU tensor anywhere in a step or sampler would raise."""
    with torch.device("meta"):
        model = V.VAE(latent_dim=4, hidden=16)
    trainer = torch.optim.Adam(model.parameters(), lr=1e-3)
    X = torch.rand(8, 1, 28, 28).to("meta")
    for kwargs in ({}, {"binarize": False, "noise_factor": 0.25}):
        out = V.vae_step(X, model, trainer, generator=torch.Generator().manual_seed(0), **kwargs)
        assert set(out) == {"loss", "neg_elbo", "kl"}
        assert all(v.device.type == "meta" and v.dim() == 0 for v in out.values())
    assert model.decode_images(torch.randn(3, 4).to("meta")).device.type == "meta"
    assert model.reconstruct(X).device.type == "meta"
    assert V.iwae_bound(model, X, 3, torch.Generator()).device.type == "meta"


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
