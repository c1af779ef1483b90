import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from course_lib import data, gan, losses
from course_lib.train import adam


def test_mlp_gan_shapes_and_layout():
    G, D = gan.Generator(100, 128), gan.Discriminator(128)
    z = torch.rand(5, 100) * 2 - 1
    x = G(z)
    assert x.shape == (5, 1, 28, 28) and x.min() >= -1 and x.max() <= 1
    assert D(x).shape == (5,)
    assert [m.out_features for m in G.modules() if isinstance(m, nn.Linear)] == [128, 784]
    assert [m.out_features for m in D.modules() if isinstance(m, nn.Linear)] == [128, 1]


def test_xavier_init_bounds():
    layer = gan.xavier_init(nn.Sequential(nn.Linear(784, 128)))[0]
    bound = math.sqrt(6 / (784 + 128))
    assert layer.weight.abs().max() <= bound and layer.weight.abs().max() > 0.9 * bound
    assert torch.all(layer.bias == 0)


def test_losses_match_hand_computation():
    l_real = torch.tensor([2.0, -1.0])
    l_fake = torch.tensor([0.5, -3.0])
    D = torch.sigmoid
    expected_D = -(torch.log(D(l_real)).mean() + torch.log(1 - D(l_fake)).mean())
    assert torch.allclose(losses.discriminator_loss(l_real, l_fake), expected_D)
    sat = torch.log(1 - D(l_fake)).mean()
    ns = -torch.log(D(l_fake)).mean()
    assert torch.allclose(losses.generator_loss(l_fake, "saturating"), sat)
    assert torch.allclose(losses.generator_loss(l_fake, "non_saturating"), ns)
    assert torch.allclose(
        losses.discriminator_loss(l_real, l_fake),
        F.binary_cross_entropy_with_logits(l_real, torch.ones(2))
        + F.binary_cross_entropy_with_logits(l_fake, torch.zeros(2)),
    )
    assert torch.allclose(losses.generator_loss(l_fake, "wasserstein"), -l_fake.mean())
    with pytest.raises(ValueError, match="Unknown generator loss 'hinge'. Allowed values: "
                       "saturating, non_saturating, wasserstein."):
        losses.generator_loss(l_fake, "hinge")


def test_saturating_gradient_vanishes_when_D_rejects():
    """d/dl of the saturating loss is -D(G(z)); of the non-saturating one D(G(z)) - 1."""
    logit = torch.tensor([-8.0], requires_grad=True)  # D(G(z)) = 3e-4
    (g_sat,) = torch.autograd.grad(losses.generator_loss(logit, "saturating"), logit)
    (g_ns,) = torch.autograd.grad(losses.generator_loss(logit, "non_saturating"), logit)
    d = torch.sigmoid(logit.detach())
    assert torch.allclose(g_sat, -d) and torch.allclose(g_ns, d - 1)
    assert g_sat.abs() < 1e-3 < 0.99 < g_ns.abs()


def test_optimal_discriminator_closed_form():
    pd, pg = torch.tensor([1.0, 0.0, 2.0, 0.0]), torch.tensor([1.0, 3.0, 0.0, 0.0])
    assert torch.allclose(gan.optimal_discriminator(pd, pg), torch.tensor([0.5, 0.0, 1.0, 0.5]))


def test_value_at_optimum_is_minus_log4_plus_2jsd():
    x = torch.linspace(-10, 10, 20001)
    dx = (x[1] - x[0]).item()
    pd = data.GaussianMixture1D().pdf(x)
    for shift in (0.0, 1.0, 4.0):
        pg = data.gaussian_pdf(x, shift, 1.0)
        v = gan.value_function(gan.optimal_discriminator(pd, pg), pd, pg, dx)
        assert abs(v - (-math.log(4) + 2 * gan.js_divergence(pd, pg, dx))) < 1e-3
    assert abs(gan.js_divergence(pd, pd, dx)) < 1e-6
    left, right = data.gaussian_pdf(x, -5.0, 0.5), data.gaussian_pdf(x, 5.0, 0.5)
    assert abs(gan.js_divergence(left, right, dx) - math.log(2)) < 1e-3  # disjoint: log 2


def test_discriminator_step_updates_only_D():
    torch.manual_seed(0)
    G, D = gan.Generator(8, 16), gan.Discriminator(16)
    g_before = [p.clone() for p in G.parameters()]
    d_before = [p.clone() for p in D.parameters()]
    out = gan.discriminator_step(
        torch.rand(4, 1, 28, 28), torch.rand(4, 8), D, G, adam(D.parameters(), 1e-3)
    )
    assert set(out) == {"loss_D", "D_real", "D_fake"}
    assert all(torch.equal(a, b) for a, b in zip(g_before, G.parameters()))
    assert any(not torch.equal(a, b) for a, b in zip(d_before, D.parameters()))


def test_generator_step_updates_only_G():
    torch.manual_seed(0)
    G, D = gan.Generator(8, 16), gan.Discriminator(16)
    d_before = [p.clone() for p in D.parameters()]
    g_before = [p.clone() for p in G.parameters()]
    gan.generator_step(torch.rand(4, 8), D, G, adam(G.parameters(), 1e-3), "saturating")
    assert all(torch.equal(a, b) for a, b in zip(d_before, D.parameters()))
    assert any(not torch.equal(a, b) for a, b in zip(g_before, G.parameters()))


def test_discriminator_learns_d_star_against_fixed_generator():
    """A short run already puts D within 0.1 of D* where the data live."""
    g = torch.Generator().manual_seed(0)
    torch.manual_seed(0)
    p = data.GaussianMixture1D()
    G = gan.AffineGenerator(0.5, 1.0).requires_grad_(False)
    D = gan.xavier_init(gan.mlp([1, 64, 64, 1], nn.LeakyReLU))
    hist = gan.train_gan(
        G,
        D,
        data.sample_batches(p, 512, g),
        400,
        latent_dim=1,
        latent_kind="gaussian",
        lr=1e-3,
        betas=(0.9, 0.999),
        train_G=False,
        generator=g,
        progress=False,
    )
    assert "loss_G" not in hist and len(hist["loss_D"]) > 0
    x = torch.linspace(-2.5, 2.5, 201).unsqueeze(1)
    d_star = gan.optimal_discriminator(p.pdf(x), data.gaussian_pdf(x, 0.5, 1.0))
    with torch.no_grad():
        err = (torch.sigmoid(D(x)) - d_star).abs().max().item()
    assert err < 0.1
    assert all(p.grad is None or torch.all(p.grad == 0) for p in G.parameters())


def test_train_gan_moves_generator_towards_data():
    g = torch.Generator().manual_seed(1)
    torch.manual_seed(1)
    G = gan.AffineGenerator(4.0, 0.5)
    D = gan.xavier_init(gan.mlp([1, 32, 32, 1], nn.LeakyReLU))
    dist = data.GaussianMixture1D(means=(0.0,), stds=(0.5,), weights=(1.0,))
    hist = gan.train_gan(
        G,
        D,
        data.sample_batches(dist, 256, g),
        600,
        latent_dim=1,
        latent_kind="gaussian",
        lr=5e-3,
        generator=g,
        progress=False,
    )
    assert abs(G.shift.item()) < 1.5
    assert {"loss_D", "loss_G", "grad_G", "D_real", "D_fake"} <= set(hist)


def test_js_divergence_survives_float32_underflow_in_the_tails():
    """Densities far in the tails underflow in float32; JSD must stay finite (log 2 here)."""
    x = torch.linspace(-10, 30, 8001)
    dx = (x[1] - x[0]).item()
    jsd = gan.js_divergence(data.GaussianMixture1D().pdf(x), data.gaussian_pdf(x, 20.0, 1.0), dx)
    assert math.isfinite(jsd) and abs(jsd - math.log(2)) < 1e-3


def test_d_star_experiment_reports_error_on_the_covered_region():
    out = gan.d_star_experiment(200, 256, seed=0, progress=False)
    assert {"x", "d", "d_star", "mask", "max_error", "mass_covered", "history"} <= set(out)
    assert 0.98 < out["mass_covered"] < 1.0  # m >= 0.02 holds ~99% of the mass
    err = (out["d"] - out["d_star"]).abs()
    assert out["max_error"] == pytest.approx(err[out["mask"]].max().item())
    assert out["max_error"] < 0.5 and err[out["mask"]].mean() < 0.1
