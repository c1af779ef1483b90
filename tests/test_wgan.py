"""Tests for course_lib.wgan (notebook 08) and the gradient penalty it relies on."""

import math

import pytest
import torch
from torch import nn

from course_lib import wgan
from course_lib.losses import gradient_penalty


class Linear1(nn.Module):
    """f(x) = a . x: the gradient norm is |a| at every input."""

    def __init__(self, a):
        super().__init__()
        self.a = nn.Parameter(torch.tensor(a))

    def forward(self, x):
        return x.flatten(1) @ self.a


@pytest.mark.parametrize("a, expected", [([0.6, 0.8], 0.0), ([3.0, 4.0], 10.0 * 16.0)])
def test_gradient_penalty_known_norm(a, expected):
    critic = Linear1(a)
    real, fake = torch.randn(32, 2), torch.randn(32, 2)
    gp = gradient_penalty(critic, real, fake, weight=10.0)
    assert float(gp) == pytest.approx(expected, rel=1e-5, abs=1e-6)


def test_gradient_penalty_backpropagates_into_critic():
    critic = Linear1([3.0, 4.0])  # ||a|| = 5: GP = 10 (||a|| - 1)^2, d/da = 20 (5 - 1) a / 5
    gp = gradient_penalty(critic, torch.randn(8, 2), torch.randn(8, 2), weight=10.0)
    gp.backward()
    assert torch.allclose(critic.a.grad, 16 * torch.tensor([3.0, 4.0]), atol=1e-4)


def test_quadratic_critic_norm_at_interpolates():
    # f(x) = 0.5 ||x||^2 has grad x; with real = fake = x the interpolate is x itself.
    x = torch.tensor([[3.0, 4.0], [0.0, 2.0]])
    norms = wgan.interpolate_grad_norms(lambda v: 0.5 * v.pow(2).sum(1), x, x.clone())
    assert torch.allclose(norms, torch.tensor([5.0, 2.0]))
    gp = gradient_penalty(lambda v: 0.5 * v.pow(2).sum(1), x, x.clone(), weight=1.0)
    assert float(gp) == pytest.approx(((5 - 1) ** 2 + (2 - 1) ** 2) / 2)


def test_parallel_lines_closed_form():
    out = wgan.parallel_lines(torch.tensor([-1.0, 0.0, 0.5]))
    assert out["js"].tolist() == pytest.approx([math.log(2), 0.0, math.log(2)])
    assert out["w1"].tolist() == pytest.approx([1.0, 0.0, 0.5])
    g_near, g_far = wgan.optimal_d_gradient(0.1)["js"], wgan.optimal_d_gradient(2.0)["js"]
    assert g_far < 1e-6 < 1 < g_near


def test_critic_has_no_sigmoid_or_batchnorm():
    net = wgan.MLPCritic(784, 32, 2)
    kinds = {type(m) for m in net.modules()}
    assert nn.BatchNorm1d not in kinds and nn.Sigmoid not in kinds
    assert net(torch.randn(5, 1, 28, 28)).shape == (5,)


def test_clipping_keeps_weights_in_range():
    torch.manual_seed(0)
    G, D = wgan.MLPGenerator(4, 16, 1, out_shape=(2,), tanh=False), wgan.MLPCritic(2, 16, 1)
    opt = torch.optim.RMSprop(D.parameters(), lr=0.5)
    wgan.critic_step(torch.randn(16, 2), torch.randn(16, 4), D, G, opt, method="wgan_clip",
                     clip=0.01)  # fmt: skip
    assert all(p.abs().max() <= 0.01 + 1e-9 for p in D.parameters())


def test_train_wgan_runs_every_method():
    from course_lib.data import sample_batches, toy_distribution

    g = torch.Generator().manual_seed(0)
    for method in wgan.METHODS:
        G = wgan.MLPGenerator(2, 16, 1, out_shape=(2,), tanh=False)
        D = wgan.MLPCritic(2, 16, 1)
        cfg = wgan.WGANConfig(method=method, n_critic=2, latent_dim=2)
        h = wgan.train_wgan(G, D, sample_batches(toy_distribution("ring8"), 32, g), 4, cfg,
                            generator=g, log_every=2, progress=False, threads=1)  # fmt: skip
        assert len(h["loss_G"]) == 2
        assert ("w_estimate" in h) == (method != "vanilla")


def test_train_toy_small():
    cfg = wgan.ToyWGANConfig(num_steps=4, batch_size=16, hidden=8, eval_samples=50, snapshots=2)
    out = wgan.train_toy("wgan_gp", (0, 1), cfg, progress=False)
    assert out["samples"].shape == (2, 50, 2) and len(out["coverage"]) == 2
    assert set(out["snapshots"]) == {0, 2, 4}
    s = wgan.summarise(out)
    assert s["seeds"] == 2 and 0 <= s["high_quality"] <= 1


def test_unknown_method_lists_allowed():
    with pytest.raises(ValueError, match="wgan_gp"):
        wgan.check_method("wgan")


def test_critic_contour_widget():
    from course_lib.widgets import CriticContourWidget, render_critic_snapshot

    cfg = wgan.ToyWGANConfig(num_steps=2, batch_size=8, hidden=8, eval_samples=20, snapshots=2)
    runs = {"gp": wgan.train_toy("wgan_gp", (0,), cfg, progress=False)}
    out = render_critic_snapshot(runs, "gp", 2)
    assert out["surface"]["f"].shape == (60, 60) and out["f_range"] >= 0
    with pytest.raises(ValueError, match="gp"):
        render_critic_snapshot(runs, "clip", 2)
    with pytest.raises(ValueError, match=r"\[0, 1, 2\]"):
        render_critic_snapshot(runs, "gp", 5)
    w = CriticContourWidget(runs)
    w.step.value = 0
    assert w.result["samples"].shape[1] == 2
