"""course_lib.gibbsnet (notebook 06, part 2): shapes, chains and the update order."""

import pytest
import torch

from course_lib import gibbsnet as GN
from course_lib.train import cpu_threads


@pytest.fixture(autouse=True)
def _one_thread():
    with cpu_threads(1):
        yield


def _params(module: torch.nn.Module) -> list[torch.Tensor]:
    return [p.detach().clone() for p in module.parameters()]


def _same(a: list[torch.Tensor], b: list[torch.Tensor]) -> bool:
    return all(torch.equal(x, y) for x, y in zip(a, b))


def _setup(arch="mlp"):
    torch.manual_seed(0)
    model = GN.GibbsNet(latent_dim=8, hidden=32 if arch == "mlp" else 4, arch=arch)
    X = torch.rand(16, 1, 28, 28) * 2 - 1
    return model, X, *GN.make_optimizers(model, lr=1e-2)


@pytest.mark.parametrize("arch", ["mlp", "conv"])
def test_shapes_and_chains(arch):
    model, X, _, _ = _setup(arch)
    x_c, z_c = GN.clamped_pair(model, X)
    assert x_c.shape == (16, 1, 28, 28) and z_c.shape == (16, 8)
    x_u, z_u = GN.unclamped_pair(model, 5, 4)
    assert x_u.shape == (5, 1, 28, 28) and z_u.shape == (5, 8)
    assert model.net_D(x_u, z_u).shape == (5,)
    steps = GN.samples_per_step(model, 3, max_steps=4)
    assert sorted(steps) == [1, 2, 3, 4] and steps[4].shape == (3, 1, 28, 28)
    assert GN.sample(model, 2, 3).abs().max() <= 1
    with pytest.raises(ValueError, match=">= 1"):
        GN.unclamped_pair(model, 5, 0)


def test_discriminator_loss_gives_no_gradient_to_G_or_E():
    model, X, _, _ = _setup()
    GN.discriminator_loss(model.net_D, GN.joint_pairs(model, X, 3)).backward()
    assert all(p.grad is None for p in [*model.net_G.parameters(), *model.net_E.parameters()])
    assert all(p.grad is not None for p in model.net_D.parameters())


def test_generator_loss_reaches_both_G_and_E():
    model, X, _, _ = _setup()
    GN.generator_loss(model.net_D, GN.joint_pairs(model, X, 3)).backward()
    assert all(p.grad is not None for p in model.net_G.parameters())
    assert all(p.grad is not None for p in model.net_E.parameters())


def test_optimisers_own_disjoint_parameters():
    model, _, opt_D, opt_GE = _setup()
    ids_D = {id(p) for g in opt_D.param_groups for p in g["params"]}
    ids_GE = {id(p) for g in opt_GE.param_groups for p in g["params"]}
    assert ids_D == {id(p) for p in model.net_D.parameters()}
    assert not ids_D & ids_GE
    assert ids_GE == {id(p) for p in [*model.net_G.parameters(), *model.net_E.parameters()]}


@pytest.mark.parametrize("arch", ["mlp", "conv"])
def test_each_phase_of_train_step_moves_only_its_own_networks(monkeypatch, arch):
    model, X, opt_D, opt_GE = _setup(arch)
    snapshots = []
    real_step_GE = opt_GE.step

    def step_GE_spy(*args, **kwargs):  # after D's step, before G/E's step
        snapshots.append((_params(model.net_D), _params(model.net_G), _params(model.net_E)))
        return real_step_GE(*args, **kwargs)

    monkeypatch.setattr(opt_GE, "step", step_GE_spy)
    D0, G0, E0 = _params(model.net_D), _params(model.net_G), _params(model.net_E)
    out = GN.train_step(model, X, opt_D, opt_GE, num_steps=3)
    D1, G1, E1 = snapshots[0]
    assert not _same(D0, D1) and _same(G0, G1) and _same(E0, E1)  # D's step touched only D
    D2, G2, E2 = _params(model.net_D), _params(model.net_G), _params(model.net_E)
    assert _same(D1, D2) and not _same(G1, G2) and not _same(E1, E2)  # G/E step: not D
    assert set(out) == {"loss_D", "loss_G"}


def test_stale_discriminator_gradients_never_reach_G_or_E():
    """Gradients left on G/E by anything before the step are cleared by opt_GE.zero_grad."""
    model, X, opt_D, opt_GE = _setup()
    for p in [*model.net_G.parameters(), *model.net_E.parameters()]:
        p.grad = torch.full_like(p, float("nan"))  # stands for gradients of the D loss
    GN.train_step(model, X, opt_D, opt_GE)
    assert all(torch.isfinite(p).all() for p in [*model.net_G.parameters(),
                                                 *model.net_E.parameters()])  # fmt: skip


def test_train_gibbsnet_runs_and_samples_chain_lengths():
    X = torch.rand(64, 1, 28, 28) * 2 - 1
    model, hist = GN.train_gibbsnet(X, 20, latent_dim=4, hidden=16, batch_size=16,
                                    log_every=5, progress=False)  # fmt: skip
    assert len(hist["loss_D"]) == 4 and len(hist["loss_G"]) == 4
    assert hist["chain"] == [3.0] * 4  # fixed N
    _, hist = GN.train_gibbsnet(X, 40, latent_dim=4, hidden=16, batch_size=16, chain_steps=3,
                                random_chain=True, log_every=40, progress=False)  # fmt: skip
    assert 1.5 < hist["chain"][0] < 2.5  # mean of N drawn uniformly from 1..3
    with pytest.raises(ValueError, match="chain_steps"):
        GN.train_gibbsnet(X, 1, chain_steps=0, progress=False)
    with pytest.raises(ValueError, match="images"):
        GN.train_gibbsnet(X.flatten(1), 1, progress=False)
    with pytest.raises(ValueError, match="arch"):
        GN.GibbsNet(arch="resnet")


def test_random_chain_draws_every_length_up_to_chain_steps():
    # notebook 06 trains with N ~ uniform{1..5}: every length must occur, none above 5
    X = torch.rand(64, 1, 28, 28) * 2 - 1
    _, hist = GN.train_gibbsnet(X, 40, latent_dim=4, hidden=8, batch_size=8, chain_steps=5,
                                random_chain=True, log_every=1, progress=False)  # fmt: skip
    assert set(hist["chain"]) == {1.0, 2.0, 3.0, 4.0, 5.0}


def test_encoder_noise_floor():
    """min_std keeps q(z | x) stochastic: z - mu never has a smaller spread than min_std."""
    torch.manual_seed(0)
    enc = GN.Encoder(latent_dim=8, hidden=16, min_std=0.5)
    with torch.no_grad():
        enc.net[-1].bias[8:] = -10.0  # a network that asks for sigma = e^-10
        X = torch.rand(2000, 1, 28, 28) * 2 - 1
        mu = enc.net(X).chunk(2, dim=1)[0]
        spread = (enc(X) - mu).std()
    assert 0.45 < spread < 0.55
    assert GN.Encoder(latent_dim=8, hidden=16).min_log_std == -5.0


def test_latent_diagnostics():
    model, X, _, _ = _setup()
    d = GN.latent_diagnostics(model, X, max_steps=3)
    assert set(d) == {"sigma", "mu_spread", "z_mean", "z_std", "chain_move"}
    assert d["sigma"] > 0 and d["chain_move"] > 0 and model.training
    with torch.no_grad():  # a decoder that ignores z: the chain cannot move
        model.net_G.net[-2].weight.zero_()
    assert GN.latent_diagnostics(model, X, max_steps=3)["chain_move"] == 0
