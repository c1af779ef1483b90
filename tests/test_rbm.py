"""course_lib.rbm and course_lib.rbm_eval (notebook 06): energy, free energy, conditionals,
log Z, likelihoods and CD gradients against brute-force enumeration on tiny RBMs; AIS
against the exact log Z; training behaviour, input checks, seeding and devices; the
Gibbs-steps widget."""

import itertools
import math

import pytest
import torch

from course_lib import rbm as R
from course_lib import rbm_eval as RE
from course_lib.train import cpu_threads


@pytest.fixture(autouse=True)
def _one_thread():
    with cpu_threads(1):  # tiny tensors: one thread is much faster on a busy machine
        yield


def _tiny(n_visible=6, n_hidden=4, scale=1.0, seed=0) -> R.RBM:
    torch.manual_seed(seed)
    rbm = R.RBM(n_visible, n_hidden, init_std=scale).double()
    with torch.no_grad():
        rbm.b.normal_()
        rbm.c.normal_()
    return rbm


def _all_states(n: int) -> torch.Tensor:
    return torch.tensor(list(itertools.product([0.0, 1.0], repeat=n)), dtype=torch.float64)


def _joint_log_probs(rbm: R.RBM) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """log p(v, h) for every (v, h) pair, shape (2^D, 2^H), by enumeration of eq. 1."""
    V, H = _all_states(rbm.n_visible), _all_states(rbm.n_hidden)
    with torch.no_grad():
        E = torch.stack([rbm.energy(V, h.expand(len(V), -1)) for h in H], 1)
    return -E - torch.logsumexp(-E.flatten(), 0), V, H


def _structured_data(n=200, seed=0) -> torch.Tensor:
    """Binary 16-pixel images: two complementary stripe patterns with 5% of pixels flipped."""
    g = torch.Generator().manual_seed(seed)
    proto = torch.tensor([[1.0, 0.0] * 8, [0.0, 1.0] * 8])
    X = proto[torch.randint(0, 2, (n,), generator=g)]
    flip = torch.rand(X.shape, generator=g) < 0.05
    return torch.where(flip, 1 - X, X)


# ---------------------------------------------------------------------------------------
# The model: eqs. 1-3 against enumeration
# ---------------------------------------------------------------------------------------
def test_free_energy_matches_enumeration():
    rbm = _tiny()
    _, V, Hs = _joint_log_probs(rbm)
    with torch.no_grad():
        E = torch.stack([rbm.energy(V, h.expand(len(V), -1)) for h in Hs], 1)
        assert torch.allclose(rbm.free_energy(V), -torch.logsumexp(-E, 1), atol=1e-10)


def test_exact_log_partition_matches_enumeration_both_ways():
    for D, H in ((6, 4), (4, 6)):
        rbm = _tiny(D, H)
        V, Hs = _all_states(D), _all_states(H)
        with torch.no_grad():
            E = torch.stack([rbm.energy(V, h.expand(len(V), -1)) for h in Hs], 1)
        assert RE.exact_log_partition(rbm) == pytest.approx(float(torch.logsumexp(-E.flatten(), 0)))
    with pytest.raises(ValueError, match="ais_log_partition"):
        RE.exact_log_partition(R.RBM(30, 30))


def test_conditionals_match_enumeration():
    rbm = _tiny()
    log_joint, V, Hs = _joint_log_probs(rbm)
    p = log_joint.exp()  # (2^D, 2^H)
    p_h_given_v = p / p.sum(1, keepdim=True)
    p_v_given_h = p / p.sum(0, keepdim=True)
    with torch.no_grad():
        # P(h_j = 1 | v) = sum over h with h_j = 1
        assert torch.allclose(rbm.p_h_given_v(V), p_h_given_v @ Hs, atol=1e-10)
        assert torch.allclose(rbm.p_v_given_h(Hs), p_v_given_h.T @ V, atol=1e-10)


def test_pitfall_conditionals_ignore_biases():
    rbm = _tiny()
    v = _all_states(6)[:5]
    with torch.no_grad():
        assert torch.allclose(rbm.p_h_given_v(v, use_biases=False), torch.sigmoid(v @ rbm.W))
        assert not torch.allclose(rbm.p_h_given_v(v, use_biases=False), rbm.p_h_given_v(v))


def test_gibbs_chain_reaches_the_model_distribution():
    """Long block-Gibbs chains from noise visit each v with probability p(v) (eq. 3)."""
    rbm = _tiny(3, 2, scale=1.5)
    log_joint, V, _ = _joint_log_probs(rbm)
    p_v = log_joint.exp().sum(1)  # (8,), in itertools.product order
    start = torch.randint(0, 2, (20000, 3), generator=torch.Generator().manual_seed(0)).double()
    v, _ = rbm.gibbs(start, 30, torch.Generator().manual_seed(1))
    index = (v @ torch.tensor([4.0, 2.0, 1.0], dtype=torch.float64)).long()
    freq = torch.bincount(index, minlength=8).double() / len(v)
    assert torch.allclose(freq, p_v, atol=0.015)
    assert p_v.max() > 2 * p_v.min() + 0.015  # far from uniform: the test can fail


# ---------------------------------------------------------------------------------------
# Measuring: log Z, log-likelihood, pseudo-likelihood, AIS, base rate, evaluate_rbm
# ---------------------------------------------------------------------------------------
def test_average_log_likelihood_matches_enumeration():
    rbm = _tiny(6, 4)
    log_joint, V, _ = _joint_log_probs(rbm)
    log_p_v = torch.logsumexp(log_joint, 1)  # marginal log p(v) by brute force
    log_z = RE.exact_log_partition(rbm)
    rows = [0, 5, 17, 42, 63]
    ll = RE.average_log_likelihood(rbm, V[rows], log_z)
    assert ll == pytest.approx(float(log_p_v[rows].mean()), abs=1e-9)
    # the probabilities of all 2^6 images sum to 1
    all_ll = [RE.average_log_likelihood(rbm, V[i : i + 1], log_z) for i in range(64)]
    assert sum(math.exp(x) for x in all_ll) == pytest.approx(1.0, abs=1e-5)


def test_pseudo_log_likelihood_with_one_pixel_is_the_log_likelihood():
    # D = 1: PLL(v) = log p(v | nothing) = log p(v), whatever bit the estimator picks
    rbm = _tiny(1, 3).float()
    V = torch.tensor([[0.0], [1.0], [1.0]])
    exact = RE.average_log_likelihood(rbm, V, RE.exact_log_partition(rbm))
    assert RE.pseudo_log_likelihood(rbm, V) == pytest.approx(exact, abs=1e-5)


def test_pseudo_log_likelihood_estimates_the_sum_of_conditionals():
    rbm = _tiny(6, 4)
    log_joint, V, _ = _joint_log_probs(rbm)
    log_p = torch.logsumexp(log_joint, 1)  # (64,)
    v = V[[3, 44]]
    exact = 0.0  # mean over the two images of sum_i log p(v_i | v_-i), by enumeration
    for row in (3, 44):
        for i in range(6):
            flipped = int(row) ^ (1 << (5 - i))  # V is in itertools.product order
            exact += float(log_p[row] - torch.logaddexp(log_p[row], log_p[flipped])) / 2
    estimate = RE.pseudo_log_likelihood(rbm, v.repeat(50000, 1), torch.Generator().manual_seed(0))
    assert estimate == pytest.approx(exact, abs=0.05)


def test_base_rate_bias_closed_form():
    X = torch.tensor([[1.0, 0.0, 1.0], [1.0, 1.0, 1.0], [0.0, 0.0, 1.0]])
    # pseudocount 2: p = (counts + 1) / 5 = (3/5, 2/5, 4/5)
    expected = torch.tensor([math.log(1.5), math.log(2 / 3), math.log(4.0)])
    assert torch.allclose(RE.base_rate_bias(X, pseudocount=2.0), expected, atol=1e-6)
    # images are flattened; pseudocount 0 gives the plain logit of the pixel means
    images = torch.tensor([[[[1.0, 0.0], [1.0, 1.0]]], [[[0.0, 0.0], [1.0, 0.0]]]])
    b = RE.base_rate_bias(images.repeat(2, 1, 1, 1) * 0.5 + 0.25, pseudocount=0.0)
    assert torch.allclose(b, torch.tensor([0.0, math.log(1 / 3), math.log(3.0), 0.0]), atol=1e-6)


def test_ais_matches_exact_log_partition():
    rbm = _tiny(10, 6, scale=0.8, seed=1).float()
    exact = RE.exact_log_partition(rbm)
    base = torch.sigmoid(torch.randn(10, generator=torch.Generator().manual_seed(0)))
    out = RE.ais_log_partition(rbm, base.logit(), 1000, 200, torch.Generator().manual_seed(0))
    assert out["log_z"] == pytest.approx(exact, abs=0.1)
    assert 1 < out["ess"] <= 200 and out["log_z_std"] < 0.1
    # the base rate's own log Z is exact at beta = 0
    assert out["log_z0"] == pytest.approx(6 * math.log(2) + float(
        torch.nn.functional.softplus(base.logit().double()).sum()), abs=1e-6)  # fmt: skip


def test_ais_is_exact_when_the_base_rate_model_is_the_rbm():
    # W = 0, c = 0: the RBM is the base-rate model with b_A = b, every importance weight is 1
    rbm = R.RBM(8, 3)
    with torch.no_grad():
        rbm.W.zero_()
        rbm.b.copy_(torch.linspace(-2, 2, 8))
    out = RE.ais_log_partition(rbm, rbm.b.detach().clone(), 50, 30, torch.Generator())
    assert out["log_z"] == pytest.approx(RE.exact_log_partition(rbm), abs=1e-4)
    assert out["ess"] == pytest.approx(30.0) and out["log_z_std"] == pytest.approx(0.0, abs=1e-5)


def test_ais_betas_schedule():
    betas = RE.ais_betas(1450)
    assert betas[0] == 0 and betas[-1] == 1 and len(betas) == 1451
    assert (betas.diff() > 0).all()
    assert int((betas < 0.5).sum()) == 50 and int((betas < 0.9 - 1e-6).sum()) == 450  # S&M
    with pytest.raises(ValueError, match="num_betas"):
        RE.ais_betas(3)


def test_evaluate_rbm_on_a_tiny_rbm_against_closed_forms():
    rbm = _tiny(8, 5, scale=0.5, seed=2).float()
    X = (torch.rand(40, 8, generator=torch.Generator().manual_seed(3)) < 0.4).float()
    base = RE.base_rate_bias(X)
    r = RE.evaluate_rbm(rbm, X, base, num_betas=2000, num_chains=100, ais_runs=3, seed=5)
    log_z = RE.exact_log_partition(rbm)
    exact_ll = RE.average_log_likelihood(rbm, X, log_z)
    assert len(r["log_z_runs"]) == 3 and len(set(r["log_z_runs"])) == 3  # seeds 5, 6, 7
    assert r["log_z"] == pytest.approx(sum(r["log_z_runs"]) / 3)
    assert r["log_z"] == pytest.approx(log_z, abs=0.05)
    assert r["test_ll_ais"] == pytest.approx(exact_ll, abs=0.05)
    lls = [RE.average_log_likelihood(rbm, X, z) for z in r["log_z_runs"]]
    assert r["test_ll_ais"] == pytest.approx(sum(lls) / 3)  # the mean over the runs
    assert r["ais_spread"] == pytest.approx(max(lls) - min(lls)) and r["ais_spread"] > 0
    assert r["pll"] == RE.pseudo_log_likelihood(rbm, X, torch.Generator().manual_seed(5))
    assert r["recon"] == pytest.approx(float(R.reconstruction_error(rbm, X)))


# ---------------------------------------------------------------------------------------
# CD-k / PCD
# ---------------------------------------------------------------------------------------
def test_cd_gradients_shapes_sign_and_value():
    rbm = _tiny(4, 3, scale=0.7)
    v0 = torch.tensor([[1.0, 0.0, 1.0, 1.0], [0.0, 0.0, 1.0, 0.0], [1.0, 1.0, 0.0, 0.0]]).double()
    # negative phase = the data itself: positive and negative statistics cancel exactly
    vk, pk = R.cd_gradients(rbm, v0, v0, k=0)
    assert vk.shape == pk.shape == (3, 4)
    assert all(float(p.grad.abs().max()) == 0 for p in (rbm.W, rbm.b, rbm.c))
    # negative phase = many exact samples of the model: .grad ~ -d mean log p(v0) / d theta
    log_joint, V, _ = _joint_log_probs(rbm)
    p_v = log_joint.exp().sum(1)
    g = torch.Generator().manual_seed(0)
    samples = V[torch.multinomial(p_v, 400_000, replacement=True, generator=g)]
    R.cd_gradients(rbm, v0, samples, k=0)
    cd = [p.grad.clone() for p in (rbm.W, rbm.b, rbm.c)]
    for p in (rbm.W, rbm.b, rbm.c):
        p.grad = None
    log_z = torch.logsumexp(-rbm.free_energy(V), 0)  # differentiable log Z by enumeration
    (-(-rbm.free_energy(v0) - log_z).mean()).backward()
    for est, exact in zip(cd, (rbm.W.grad, rbm.b.grad, rbm.c.grad)):
        assert est.shape == exact.shape
        assert torch.allclose(est, exact, atol=5e-3)  # same sign and size: SGD ascends log p
    vk, _ = R.cd_gradients(rbm, v0, v0, k=3, generator=torch.Generator().manual_seed(0))
    assert set(vk.unique().tolist()) <= {0.0, 1.0}


def test_cd_gradients_average_each_phase_over_its_own_rows():
    # PCD may keep more fantasy particles than the batch has images: repeating the negative
    # set must not change the gradient, and each phase is a mean over its own rows.
    rbm = _tiny(6, 4)
    v0 = (torch.rand(4, 6, generator=torch.Generator().manual_seed(1)) < 0.5).double()
    neg = (torch.rand(3, 6, generator=torch.Generator().manual_seed(2)) < 0.5).double()
    R.cd_gradients(rbm, v0, neg, k=0)
    grads = [p.grad.clone() for p in (rbm.W, rbm.b, rbm.c)]
    with torch.no_grad():
        ph0, phn = rbm.p_h_given_v(v0), rbm.p_h_given_v(neg)
    assert torch.allclose(grads[0], -(v0.T @ ph0 / 4 - neg.T @ phn / 3))
    assert torch.allclose(grads[1], -(v0.mean(0) - neg.mean(0)))
    R.cd_gradients(rbm, v0, neg.repeat(5, 1), k=0)
    for g, p in zip(grads, (rbm.W, rbm.b, rbm.c)):
        assert torch.allclose(g, p.grad)


def test_rbm_step_updates_parameters_and_advances_pcd_chains_in_place():
    rbm = _tiny(6, 4).float()
    trainer = torch.optim.SGD(rbm.parameters(), lr=0.1)
    v = (torch.rand(5, 6, generator=torch.Generator().manual_seed(0)) < 0.5).float()
    chains = torch.zeros(7, 6)
    before = rbm.W.detach().clone()
    out = R.rbm_step(v, rbm, trainer, method="pcd", k=2, chains=chains,
                     generator=torch.Generator())  # fmt: skip
    assert chains.sum() > 0  # the persistent particles moved (from all-zero images)
    assert not torch.equal(before, rbm.W)
    assert float(out["recon"]) == pytest.approx(float(R.reconstruction_error(rbm, v)))
    assert out["recon"].dim() == 0


def test_rbm_step_is_one_sgd_step_on_the_cd_gradients():
    """CD-k: W <- W - lr * grad with grad the cd_gradients of the same chain noise."""
    rbm, ref = _tiny(6, 4).float(), _tiny(6, 4).float()
    v = (torch.rand(5, 6, generator=torch.Generator().manual_seed(0)) < 0.5).float()
    R.rbm_step(v, rbm, torch.optim.SGD(rbm.parameters(), lr=0.1), k=3,
               generator=torch.Generator().manual_seed(1))  # fmt: skip
    R.cd_gradients(ref, v, v, 3, torch.Generator().manual_seed(1))
    with torch.no_grad():
        for p in ref.parameters():
            p -= 0.1 * p.grad
    assert all(torch.allclose(a, b) for a, b in zip(rbm.parameters(), ref.parameters()))


def test_rbm_step_checks_method_against_chains():
    rbm = _tiny(6, 4).float()
    trainer = torch.optim.SGD(rbm.parameters(), lr=0.1)
    v = torch.ones(2, 6)
    with pytest.raises(ValueError, match="pcd.*needs chains"):
        R.rbm_step(v, rbm, trainer, method="pcd")
    with pytest.raises(ValueError, match="chains=None"):
        R.rbm_step(v, rbm, trainer, method="cd", chains=torch.zeros(3, 6))
    with pytest.raises(ValueError, match="Unknown method 'cd1'. Allowed values: cd, pcd"):
        R.rbm_step(v, rbm, trainer, method="cd1")


def test_train_rbm_bf16_autocasts_its_steps():
    """bf16=True runs every update under bf16 autocast (here on the CPU): the gradients are
    cast back to the fp32 parameters, training still works, and the weights differ from
    the fp32 run's (the matmuls really ran in bfloat16)."""
    X = _structured_data()
    kw = dict(n_hidden=8, batch_size=20, lr=0.1, log_every=10, progress=False)
    fp32, _ = R.train_rbm(X, 60, **kw)
    for method in ("cd", "pcd"):
        bf16, hist = R.train_rbm(X, 60, method=method, bf16=True, **kw)
        assert bf16.W.dtype == torch.float32 and bf16.W.grad.dtype == torch.float32
        assert hist["recon"][-1] < 0.6 * hist["recon"][0], (method, hist["recon"])
    assert not torch.equal(fp32.W, R.train_rbm(X, 60, bf16=True, **kw)[0].W)


def test_train_rbm_cd_and_pcd_reduce_reconstruction():
    X = _structured_data()
    for method, k in (("cd", 1), ("cd", 3), ("pcd", 1)):
        rbm, hist = R.train_rbm(X, 60, method=method, k=k, n_hidden=8, batch_size=20, lr=0.1,
                                log_every=10, progress=False)  # fmt: skip
        assert len(hist["recon"]) == 6 and rbm.W.shape == (16, 8)
        assert hist["recon"][-1] < 0.6 * hist["recon"][0], (method, k, hist["recon"])


def test_train_rbm_pcd_num_chains():
    X = _structured_data()
    rbm, hist = R.train_rbm(X, 20, method="pcd", n_hidden=8, batch_size=20, num_chains=50,
                            log_every=10, progress=False)  # fmt: skip
    assert len(hist["recon"]) == 2 and torch.isfinite(rbm.W).all()
    for bad in (0, 2.5):
        with pytest.raises(ValueError, match="num_chains"):
            R.train_rbm(X, 2, method="pcd", num_chains=bad, progress=False)


def test_train_rbm_is_seeded_and_leaves_the_global_rng_alone():
    X = _structured_data()
    state = torch.get_rng_state()
    a, _ = R.train_rbm(X, 10, n_hidden=4, batch_size=10, progress=False)
    assert torch.equal(torch.get_rng_state(), state)
    torch.rand(3)
    b, _ = R.train_rbm(X, 10, n_hidden=4, batch_size=10, progress=False)
    c, _ = R.train_rbm(X, 10, n_hidden=4, batch_size=10, seed=1, progress=False)
    assert torch.equal(a.W, b.W) and not torch.equal(a.W, c.W)


def test_train_rbm_takes_images_and_a_batch_iterator():
    images = _structured_data().view(-1, 1, 4, 4)
    rbm, _ = R.train_rbm(images, 5, n_hidden=4, batch_size=10, progress=False)
    assert rbm.n_visible == 16
    batches = (images[i % 20 * 10 : i % 20 * 10 + 10] for i in range(100))
    rbm, hist = R.train_rbm(batches, 30, n_hidden=4, lr=0.1, log_every=10, progress=False)
    assert rbm.n_visible == 16 and hist["recon"][-1] < hist["recon"][0]


@pytest.mark.parametrize(
    "bad, match",
    [
        (lambda X: X * 2 - 1, r"\[0, 1\].*got values in \[-1, 1\].*to_unit.*binarize_images"),
        (lambda X: X * 255, r"needs values in \[0, 1\] \(binary"),
        (lambda X: X.masked_fill(X > 0.5, float("nan")), r"\[0, 1\]"),
        (lambda X: iter([X * 2 - 1]), r"\[0, 1\]"),
        (lambda X: iter([]), "empty"),
    ],
)
def test_train_rbm_rejects_data_outside_0_1(bad, match):
    with pytest.raises(ValueError, match=match):
        R.train_rbm(bad(_structured_data()), 2, progress=False)


def test_train_rbm_rejects_bad_options():
    X = _structured_data()
    with pytest.raises(ValueError, match="Unknown method 'cd10'. Allowed values: cd, pcd"):
        R.train_rbm(X, 1, method="cd10")
    with pytest.raises(ValueError, match="k"):
        R.train_rbm(X, 1, k=0)


def test_rbm_step_and_gibbs_from_stay_on_the_model_device():
    """Meta-device test: a CPU tensor anywhere in the step or sampler would raise."""
    rbm = R.RBM(784, 10).to("meta")
    trainer = torch.optim.SGD(rbm.parameters(), lr=0.1, momentum=0.5)
    v = torch.ones(4, 784, device="meta")
    for method, chains in (("cd", None), ("pcd", torch.zeros(6, 784, device="meta"))):
        out = R.rbm_step(v, rbm, trainer, method=method, k=2, chains=chains)
        assert out["recon"].device.type == "meta" and out["recon"].dim() == 0
    for start in ("data", "noise"):
        out = R.gibbs_from(rbm, start, 3, torch.ones(5, 784), num_chains=4)  # data on the CPU
        assert out.shape == (4, 1, 28, 28) and out.device.type == "meta"


# ---------------------------------------------------------------------------------------
# Looking at an RBM: chains, filters, the widget
# ---------------------------------------------------------------------------------------
def test_gibbs_from_is_seeded_without_side_effects_and_checks_its_arguments():
    rbm = R.RBM(784, 10)
    data = (torch.rand(5, 784) < 0.3).float()
    out = R.gibbs_from(rbm, "data", 0, data, num_chains=4)
    assert torch.equal(out, (data[:4] * 2 - 1).view(4, 1, 28, 28))  # k = 0: the start itself
    state = torch.get_rng_state()
    a = R.gibbs_from(rbm, "noise", 3, num_chains=3, seed=7)
    assert torch.equal(torch.get_rng_state(), state)
    assert torch.equal(a, R.gibbs_from(rbm, "noise", 3, num_chains=3, seed=7))
    assert not torch.equal(a, R.gibbs_from(rbm, "noise", 3, num_chains=3, seed=8))
    assert a.min() >= -1 and a.max() <= 1
    with pytest.raises(
        ValueError, match="Unknown chain start 'zeros'. Allowed values: data, noise"
    ):
        R.gibbs_from(rbm, "zeros", 1, data)
    with pytest.raises(ValueError, match="needs data"):
        R.gibbs_from(rbm, "data", 1)
    with pytest.raises(ValueError, match=">= 0"):
        rbm.gibbs(data, -1)


def test_filters_are_columns_of_W_scaled_to_unit_range():
    rbm = R.RBM(784, 10)
    f = R.filters(rbm, 6)
    assert f.shape == (6, 1, 28, 28)
    w = rbm.W.detach()[:, 2]
    assert torch.allclose(f[2].flatten(), w / w.abs().max())


def test_gibbs_widget_render_and_controls():
    from course_lib.widgets import GibbsStepsWidget, render_gibbs_chain

    rbm = R.RBM(784, 10)
    data = (torch.rand(8, 784) < 0.3).float()
    out = render_gibbs_chain(rbm, 5, "noise", data, num_chains=4)
    assert out["samples"].shape == out["start_images"].shape == (4, 1, 28, 28)
    assert torch.equal(out["samples"], R.gibbs_from(rbm, "noise", 5, num_chains=4))
    v = ((out["samples"].flatten(1) + 1) / 2 > 0.5).float()
    assert out["free_energy"] == pytest.approx(float(rbm.free_energy(v).mean().detach()))
    with pytest.raises(ValueError, match="0..1000"):
        render_gibbs_chain(rbm, 5000, "data", data)
    with pytest.raises(ValueError, match="data, noise"):
        render_gibbs_chain(rbm, 1, "blank", data)
    w = GibbsStepsWidget(rbm, data, num_chains=4)
    w.k.value = 10
    w.start.value = "noise"
    assert torch.equal(w.result["samples"], R.gibbs_from(rbm, "noise", 10, num_chains=4))
