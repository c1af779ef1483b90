"""course_lib.wgan (notebook 08): the gradient penalty it relies on, the closed forms of
section 1, the critic step, the digits trainer and the gradient-norm diagnostic."""

import math

import pytest
import torch
from torch import nn

from course_lib import gan, wgan
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
    assert float(gp.detach()) == pytest.approx(expected, rel=1e-5, abs=1e-6)


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
    assert float(gp.detach()) == pytest.approx(((5 - 1) ** 2 + (2 - 1) ** 2) / 2)


def test_parallel_lines_closed_form():
    out = wgan.parallel_lines(torch.tensor([-1.0, 0.0, 0.5]))
    assert out["js"].tolist() == pytest.approx([math.log(2), 0.0, math.log(2)])
    assert out["w1"].tolist() == pytest.approx([1.0, 0.0, 0.5])
    assert out["kl"].tolist() == [math.inf, 0.0, math.inf]
    g_near, g_far = wgan.optimal_d_gradient(0.1)["js"], wgan.optimal_d_gradient(2.0)["js"]
    assert g_far < 1e-6 < 1 < g_near
    # s D(theta) with D(theta) = sigmoid(-s |theta| / 2): s = 20, theta = 2 -> 20 sigmoid(-20)
    assert g_far == pytest.approx(20 / (1 + math.exp(20)), rel=1e-6)


def test_critic_has_no_sigmoid_or_batchnorm():
    net = wgan.MLPCritic(784, 32, 2)
    kinds = {type(m) for m in net.modules()}
    assert nn.BatchNorm1d not in kinds and nn.Sigmoid not in kinds
    out = net(torch.randn(5, 1, 28, 28) * 100)
    assert out.shape == (5,) and out.abs().max() > 1  # a score, not a probability


def _toy_pair():
    with torch.random.fork_rng():
        torch.manual_seed(0)
        return wgan.MLPGenerator(4, 16, 1, out_shape=(2,), tanh=False), wgan.MLPCritic(2, 16, 1)


def test_clipping_keeps_weights_in_range():
    G, D = _toy_pair()
    trainer_D = torch.optim.RMSprop(D.parameters(), lr=0.5)
    out = wgan.critic_step(torch.randn(16, 2), torch.randn(16, 4), D, G, trainer_D, gp_weight=0,
                           clip=0.01)  # fmt: skip
    assert all(p.abs().max() <= 0.01 + 1e-9 for p in D.parameters())
    assert (torch.cat([p.flatten() for p in D.parameters()]).abs() > 0.0099).any()
    assert "gp" not in out and torch.equal(out["loss_D"], -out["w_estimate"])


def test_critic_step_loss_penalty_and_scale():
    G, D = _toy_pair()
    X, Z = torch.randn(16, 2), torch.randn(16, 4)
    sgd = torch.optim.SGD(D.parameters(), lr=0.0)
    out = wgan.critic_step(
        X, Z, D, G, sgd, gp_weight=10.0, generator=torch.Generator().manual_seed(3)
    )
    with torch.no_grad():
        w = D(X).mean() - D(G(Z)).mean()
    gp = gradient_penalty(D, X, G(Z).detach(), 10.0, generator=torch.Generator().manual_seed(3))
    torch.testing.assert_close(out["w_estimate"], w)
    torch.testing.assert_close(out["gp"], gp.detach())
    torch.testing.assert_close(out["loss_D"], (-w + gp).detach())
    grads = [p.grad.clone() for p in D.parameters()]
    wgan.critic_step(X, Z, D, G, sgd, gp_weight=10.0, generator=torch.Generator().manual_seed(3),
                     scale=3)  # fmt: skip
    for g1, g3 in zip(grads, (p.grad for p in D.parameters())):
        torch.testing.assert_close(g3, 3 * g1)


def test_critic_and_generator_steps_on_the_meta_device():
    G, D = (net.to("meta") for net in _toy_pair())
    X, Z = torch.randn(8, 2).to("meta"), torch.randn(8, 4).to("meta")
    out = wgan.critic_step(X, Z, D, G, torch.optim.Adam(D.parameters()),
                           generator=torch.Generator().manual_seed(0))  # fmt: skip
    out |= gan.generator_step(Z, D, G, torch.optim.Adam(G.parameters()), kind="wasserstein")
    assert {v.device.type for v in out.values()} == {"meta"} and set(out) == {
        "w_estimate",
        "gp",
        "loss_D",
        "loss_G",
    }
    norms = wgan.interpolate_grad_norms(D, X, X, torch.Generator().manual_seed(0))
    assert norms.device.type == "meta" and norms.shape == (8,)


@pytest.fixture(scope="module")
def digits():
    from course_lib import metrics
    from course_lib.data import load_images

    metrics.get_classifier()  # load (and cache) the FID classifier before the RNG checks
    X, _ = load_images("mnist5k", "train")
    X_test, _ = load_images("mnist5k", "test")
    return X[::20], X_test  # 225 training digits: enough for a few steps


def _train(digits, method, **kw):
    X, X_test = digits
    kw = dict(method=method, X_test=X_test, evals=1, fid_samples=50, hidden=32, latent_dim=8,
              batch_size=32, n_critic=2, progress=False) | kw  # fmt: skip
    return wgan.train_wgan(X, 4, **kw)


def test_train_wgan_methods_measure_their_own_nets(digits):
    """((net_G, net_D), history); the evaluation curve (score_step, fid, score_w_estimate) in
    the history is measured on the returned nets and eval_latents."""
    from course_lib.metrics import classifier_fid

    for method in wgan.METHODS:
        torch.manual_seed(7)
        expected = torch.rand(2)
        torch.manual_seed(7)
        (net_G, net_D), history = _train(digits, method)
        assert torch.equal(torch.rand(2), expected)  # the caller's RNG is untouched
        assert history["step"] == [4] and ("w_estimate" in history) == (method != "vanilla")
        assert ("gp" in history) == (method == "wgan_gp")
        assert history["score_step"] == [4]  # one measurement, after the last step
        with torch.no_grad():
            fake = net_G.eval()(wgan.eval_latents(0, 500, 8))
            w = float(net_D(digits[1][:500]).mean() - net_D(fake).mean())
        assert history["score_w_estimate"] == [pytest.approx(w, rel=1e-6)]
        assert history["fid"] == [pytest.approx(classifier_fid(fake[:50], digits[1]), rel=1e-6)]
        if method == "wgan_clip":
            assert all(p.abs().max() <= 0.01 + 1e-9 for p in net_D.parameters())


def test_train_wgan_is_seeded_and_checks_its_inputs(digits):
    (a, _), h = _train(digits, "wgan_gp", X_test=None)
    (b, _), _ = _train(digits, "wgan_gp", X_test=None)
    (c, _), _ = _train(digits, "wgan_gp", X_test=None, seed=1)
    for p, q, s in zip(a.parameters(), b.parameters(), c.parameters()):
        assert torch.equal(p, q) and not torch.equal(p, s)
    assert "fid" not in h and "score_step" not in h  # no X_test: no evaluation
    with pytest.raises(ValueError, match=r"\[-1, 1\].*2 \* x - 1"):
        _train((digits[0] * 0.5 + 0.5, digits[1]), "wgan_gp")
    with pytest.raises(ValueError, match="Allowed values: vanilla, wgan_clip, wgan_gp"):
        _train(digits, "wgan")


def test_train_wgan_takes_a_batch_iterator(digits):
    """Batches from the caller: checked once (first batch), used in order; a finite iterator
    that runs dry is a clear error."""
    from course_lib.data import batches

    X = digits[0]
    stream = lambda: batches(X, 32, generator=torch.Generator().manual_seed(5))  # noqa: E731
    (a, _), h = _train((stream(), None), "vanilla", X_test=None)
    (b, _), _ = _train((stream(), None), "vanilla", X_test=None)
    (c, _), _ = _train(digits, "vanilla", X_test=None)  # tensor: batches drawn from seed 0
    for p, q, r in zip(a.parameters(), b.parameters(), c.parameters()):
        assert torch.equal(p, q) and not torch.equal(p, r)
    assert len(h["loss_D"]) == 1 and math.isfinite(h["loss_D"][0])
    with pytest.raises(ValueError, match=r"\[-1, 1\]"):
        _train(((x * 0.5 + 0.5 for x in stream()), None), "vanilla", X_test=None)
    with pytest.raises(ValueError, match="ran out of batches"):
        _train((iter([X[:32], X[32:64]]), None), "vanilla", X_test=None)


def test_generator_signal_sees_collapse_and_aligned_gradients():
    """Identical fakes: diversity 0; a linear critic pushes every sample the same way
    (alignment 1, norm |a|); a critic whose gradient differs per sample does not."""
    torch.manual_seed(0)
    real = torch.randn(64, 1, 2, 2)
    a = [1.0, 2.0, 2.0, 0.0]  # |a| = 3
    same = real[:1].expand(32, -1, -1, -1)
    s = wgan.generator_signal(Linear1(a), same, real)
    assert s["diversity"] == 0.0
    assert s["grad_alignment"] == pytest.approx(1.0, abs=1e-9)
    assert s["grad_norm"] == pytest.approx(3.0, rel=1e-6)
    assert "D_acc_real" not in s  # a WGAN critic has no "real" class
    assert wgan.generator_signal(Linear1(a), real[32:], real[:32])["diversity"] == pytest.approx(
        1.0, abs=0.3)  # fmt: skip

    class Quadratic(nn.Module):  # f(x) = -|x|^2 / 2: gradient of -f at x is x itself
        def forward(self, x):
            return -0.5 * x.flatten(1).square().sum(1)

    fake = torch.randn(200, 1, 2, 2)
    q = wgan.generator_signal(Quadratic(), fake, real)
    assert abs(q["grad_alignment"]) < 0.05  # random directions: mean cosine ~ 0
    assert q["grad_norm"] == pytest.approx(float(fake.flatten(1).norm(dim=1).median()), rel=1e-6)
    with pytest.raises(ValueError, match=">= 2 fake and real samples"):
        wgan.generator_signal(Quadratic(), fake[:1], real)


def test_generator_signal_discriminator_accuracy():
    """Non-saturating loss: D's logits > 0 mean "real"; the gradient of softplus(-l) w.r.t.
    the sample is -(1 - D) a, so the norm shrinks as D is fooled."""
    real = torch.tensor([[1.0, 0.0]] * 3 + [[-1.0, 0.0]]).view(4, 1, 1, 2)  # logits 1,1,1,-1
    fake = torch.tensor([[-2.0, 0.0], [-1.0, 0.0], [3.0, 0.0]]).view(3, 1, 1, 2)  # -2,-1,3
    s = wgan.generator_signal(Linear1([1.0, 0.0]), fake, real, kind="non_saturating")
    assert s["D_acc_real"] == pytest.approx(0.75) and s["D_acc_fake"] == pytest.approx(2 / 3)
    expected = torch.sigmoid(-torch.tensor([-2.0, -1.0, 3.0])).median()
    assert s["grad_norm"] == pytest.approx(float(expected), rel=1e-6)
    assert s["grad_alignment"] == pytest.approx(1.0)


def test_train_wgan_evaluation_does_not_change_training(digits):
    """The evaluation curve (FID, W estimate, generator_signal) draws no random numbers and
    leaves no gradients behind: the weights match a run without evaluation."""
    for method in ("vanilla", "wgan_gp"):
        (a, da), h = _train(digits, method, evals=2)
        (b, db), _ = _train(digits, method, X_test=None)
        for p, q in zip([*a.parameters(), *da.parameters()], [*b.parameters(), *db.parameters()]):
            assert torch.equal(p, q)
        keys = {"score_diversity", "score_grad_norm", "score_grad_alignment"}
        keys |= {"score_D_acc_real", "score_D_acc_fake"} if method == "vanilla" else set()
        assert keys <= set(h) and all(len(h[k]) == len(h["score_step"]) == 2 for k in keys)
        assert all(0.0 <= v <= 1.0 for k in keys if "acc" in k for v in h[k])


def test_interpolate_grad_norms_follow_the_critic_s_device():
    """A critic on 'meta' (a stand-in for a GPU) and CPU samples: the samples go to the
    critic's device (a CPU tensor meeting the meta weights would raise)."""
    net_D = nn.Linear(2, 1).to("meta")
    x = torch.zeros(4, 2)
    assert wgan.interpolate_grad_norms(net_D, x, x.clone()).device.type == "meta"
