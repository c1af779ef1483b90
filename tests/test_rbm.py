"""course_lib.rbm (notebook 06): energy, free energy and conditionals against brute-force
enumeration on a tiny RBM; AIS against the exact log Z; CD/PCD step shapes; the pitfall."""

import itertools

import pytest
import torch

from course_lib import rbm as R
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


def test_free_energy_matches_enumeration():
    rbm = _tiny()
    log_joint, V, _ = _joint_log_probs(rbm)
    with torch.no_grad():
        E = torch.stack([rbm.energy(V, h.expand(len(V), -1)) for h in _all_states(4)], 1)
        assert torch.allclose(rbm.free_energy(V), -torch.logsumexp(-E, 1), atol=1e-10)


def test_exact_log_partition_matches_enumeration_both_ways():
    for D, H in ((6, 4), (4, 6)):
        rbm = _tiny(D, H)
        V, Hs = _all_states(D), _all_states(H)
        with torch.no_grad():
            E = torch.stack([rbm.energy(V, h.expand(len(V), -1)) for h in Hs], 1)
        assert R.exact_log_partition(rbm) == pytest.approx(float(torch.logsumexp(-E.flatten(), 0)))


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


def test_ais_matches_exact_log_partition():
    rbm = _tiny(10, 6, scale=0.8, seed=1).float()
    exact = R.exact_log_partition(rbm)
    base = torch.sigmoid(torch.randn(10, generator=torch.Generator().manual_seed(0)))
    out = R.ais_log_partition(rbm, base.logit(), 1000, 200, torch.Generator().manual_seed(0))
    assert out["log_z"] == pytest.approx(exact, abs=0.1)
    assert 0 < out["ess"] <= 200
    # the base rate's own log Z is exact at beta = 0
    assert out["log_z0"] == pytest.approx(6 * 0.6931471805599453 + float(
        torch.nn.functional.softplus(base.logit().double()).sum()), abs=1e-6)  # fmt: skip


def test_ais_betas_schedule():
    betas = R.ais_betas(1450)
    assert betas[0] == 0 and betas[-1] == 1 and len(betas) == 1451
    assert (betas.diff() > 0).all()
    with pytest.raises(ValueError, match="num_betas"):
        R.ais_betas(3)


def test_cd_gradients_shapes_and_sign():
    rbm = R.RBM(12, 5)
    v0 = (torch.rand(7, 12) < 0.5).float()
    vk, pk = R.cd_gradients(rbm, v0, v0, k=3, generator=torch.Generator().manual_seed(0))
    assert vk.shape == pk.shape == (7, 12)
    assert rbm.W.grad.shape == (12, 5) and rbm.b.grad.shape == (12,) and rbm.c.grad.shape == (5,)
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


def test_train_rbm_pcd_num_chains():
    X = (torch.rand(200, 16) < torch.linspace(0.1, 0.9, 16)).float()
    rbm, hist = R.train_rbm(X, 20, "pcd", 1, n_hidden=8, batch_size=20, num_chains=50,
                            log_every=10, progress=False)  # fmt: skip
    assert len(hist["recon"]) == 2 and torch.isfinite(rbm.W).all()
    for bad in (0, 2.5):
        with pytest.raises(ValueError, match="num_chains"):
            R.train_rbm(X, 2, "pcd", num_chains=bad, progress=False)


def test_train_rbm_cd_and_pcd_run_and_reduce_reconstruction():
    X = (torch.rand(200, 16) < torch.linspace(0.1, 0.9, 16)).float()
    for method, k in (("cd", 1), ("cd", 3), ("pcd", 1)):
        rbm, hist = R.train_rbm(X, 60, method, k, n_hidden=8, batch_size=20, lr=0.1,
                                log_every=10, progress=False)  # fmt: skip
        assert len(hist["recon"]) == 6 and rbm.W.shape == (16, 8)


def test_pseudo_likelihood_and_average_ll():
    rbm = _tiny(6, 4).float()
    V = _all_states(6).float()
    log_z = R.exact_log_partition(rbm)
    ll = R.average_log_likelihood(rbm, V, log_z)
    with torch.no_grad():
        probs = (-rbm.free_energy(V).double() - log_z).exp()
    assert float(probs.sum()) == pytest.approx(1.0, abs=1e-5)
    assert ll < 0
    assert R.pseudo_log_likelihood(rbm, V, torch.Generator().manual_seed(0)) < 0


def test_gibbs_from_and_errors():
    rbm = R.RBM(784, 10)
    data = (torch.rand(5, 784) < 0.3).float()
    assert R.gibbs_from(rbm, "data", 2, data, num_chains=4).shape == (4, 1, 28, 28)
    out = R.gibbs_from(rbm, "noise", 0, num_chains=3)
    assert out.shape == (3, 1, 28, 28) and out.min() >= -1 and out.max() <= 1
    with pytest.raises(ValueError, match="data, noise"):
        R.gibbs_from(rbm, "zeros", 1, data)
    with pytest.raises(ValueError, match=">= 0"):
        rbm.gibbs(data, -1)
    with pytest.raises(ValueError, match="cd, pcd"):
        R.train_rbm(data, 1, method="cd10")
    assert R.filters(rbm, 6).shape == (6, 1, 28, 28)


def test_gibbs_widget_render_and_controls():
    from course_lib.widgets import GibbsStepsWidget, render_gibbs_chain

    rbm = R.RBM(784, 10)
    data = (torch.rand(8, 784) < 0.3).float()
    out = render_gibbs_chain(rbm, 5, "noise", data, num_chains=4)
    assert out["samples"].shape == out["start_images"].shape == (4, 1, 28, 28)
    with pytest.raises(ValueError, match="0..1000"):
        render_gibbs_chain(rbm, 5000, "data", data)
    with pytest.raises(ValueError, match="data, noise"):
        render_gibbs_chain(rbm, 1, "blank", data)
    w = GibbsStepsWidget(rbm, data, num_chains=4)
    w.k.value = 10
    w.start.value = "noise"
    assert w.result["samples"].shape == (4, 1, 28, 28)
