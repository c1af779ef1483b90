"""course_lib.gibbsnet (notebook 06, section 6): shapes, chains, the update order, input
checks, seeding without side effects and device consistency."""

import math

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


def _images(n: int = 16, seed: int = 0) -> torch.Tensor:
    return torch.rand(n, 1, 28, 28, generator=torch.Generator().manual_seed(seed)) * 2 - 1


def _setup():
    torch.manual_seed(0)
    model = GN.GibbsNet(latent_dim=8, hidden=4)
    return model, _images(), *GN.make_trainers(model, lr=1e-2)


def test_shapes_and_chains():
    model, X, _, _ = _setup()
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


def test_sample_is_a_step_of_samples_per_step():
    """sample(N) and samples_per_step share z_0 and the encoder noise for a seed."""
    model, _, _, _ = _setup()
    chain = GN.samples_per_step(model, 3, max_steps=3, seed=4)
    torch.manual_seed(123)  # the caller's RNG state does not matter
    for n in (1, 2, 3):
        assert torch.allclose(GN.sample(model, 3, n, seed=4), chain[n])
    assert not torch.allclose(chain[1], chain[3])
    assert model.training  # restored after the eval-mode sampling


def test_samplers_are_seeded_without_side_effects():
    model, X, _, _ = _setup()
    state = torch.get_rng_state()
    a = GN.sample(model, 3, 2, seed=1)
    b = GN.samples_per_step(model, 3, max_steps=2, seed=1)
    d = GN.latent_diagnostics(model, X, max_steps=3, seed=1)
    assert torch.equal(torch.get_rng_state(), state)
    torch.rand(7)
    assert torch.equal(a, GN.sample(model, 3, 2, seed=1))
    assert not torch.equal(a, GN.sample(model, 3, 2, seed=2))
    assert torch.equal(b[2], GN.samples_per_step(model, 3, max_steps=2, seed=1)[2])
    assert d == GN.latent_diagnostics(model, X, max_steps=3, seed=1)


def test_joint_discriminator_loss_gives_no_gradient_to_G_or_E():
    model, X, _, _ = _setup()
    GN.joint_discriminator_loss(GN.joint_pairs(model, X, 3), model.net_D).backward()
    assert all(p.grad is None for p in [*model.net_G.parameters(), *model.net_E.parameters()])
    assert all(p.grad is not None for p in model.net_D.parameters())


def test_joint_generator_loss_reaches_both_G_and_E():
    model, X, _, _ = _setup()
    GN.joint_generator_loss(GN.joint_pairs(model, X, 3), model.net_D).backward()
    assert all(p.grad is not None for p in model.net_G.parameters())
    assert all(p.grad is not None for p in model.net_E.parameters())


def test_losses_match_their_closed_form_at_chance():
    """A discriminator that outputs 0 (D = 1/2) gives each loss 2 log 2."""
    model, X, _, _ = _setup()
    pairs = GN.joint_pairs(model, X, 2)
    zero_D = lambda x, z: torch.zeros(len(x))  # noqa: E731
    two_log_2 = 2 * torch.log(torch.tensor(2.0))
    assert torch.allclose(GN.joint_discriminator_loss(pairs, zero_D), two_log_2)
    assert torch.allclose(GN.joint_generator_loss(pairs, zero_D), two_log_2)


def test_trainers_own_disjoint_parameters_with_their_own_rates():
    model, _, trainer_D, trainer_GE = _setup()
    ids_D = {id(p) for g in trainer_D.param_groups for p in g["params"]}
    ids_GE = {id(p) for g in trainer_GE.param_groups for p in g["params"]}
    assert ids_D == {id(p) for p in model.net_D.parameters()}
    assert not ids_D & ids_GE
    assert ids_GE == {id(p) for p in [*model.net_G.parameters(), *model.net_E.parameters()]}
    t_D, t_GE = GN.make_trainers(model, lr=2e-4, lr_GE=5e-4)
    assert t_D.param_groups[0]["lr"] == 2e-4 and t_GE.param_groups[0]["lr"] == 5e-4
    assert t_D.param_groups[0]["betas"] == (0.5, 0.999)


def test_each_step_moves_only_its_own_networks():
    model, X, trainer_D, trainer_GE = _setup()
    D0, G0, E0 = _params(model.net_D), _params(model.net_G), _params(model.net_E)
    pairs = GN.joint_pairs(model, X, 3)
    out_D = GN.discriminator_step(pairs, model.net_D, trainer_D)
    D1, G1, E1 = _params(model.net_D), _params(model.net_G), _params(model.net_E)
    assert not _same(D0, D1) and _same(G0, G1) and _same(E0, E1)  # D's step touched only D
    out_G = GN.generator_step(pairs, model.net_D, None, trainer_GE)
    D2, G2, E2 = _params(model.net_D), _params(model.net_G), _params(model.net_E)
    assert _same(D1, D2) and not _same(G1, G2) and not _same(E1, E2)  # G/E step: not D
    assert set(out_D) == {"loss_D"} and set(out_G) == {"loss_G"}
    assert all(v.dim() == 0 and not v.requires_grad for v in (*out_D.values(), *out_G.values()))


def test_generator_step_scores_the_pairs_with_the_updated_discriminator():
    model, X, trainer_D, trainer_GE = _setup()
    pairs = GN.joint_pairs(model, X, 2)
    GN.discriminator_step(pairs, model.net_D, trainer_D)
    torch.manual_seed(5)  # the same dropout masks for the expected value and the step
    with torch.no_grad():
        expected = GN.joint_generator_loss(pairs, model.net_D)
    torch.manual_seed(5)
    out = GN.generator_step(pairs, model.net_D, None, trainer_GE)
    assert torch.equal(out["loss_G"], expected)


def test_stale_discriminator_gradients_never_reach_G_or_E():
    """Gradients left on G/E by anything before the step are cleared by trainer_GE.zero_grad."""
    model, X, trainer_D, trainer_GE = _setup()
    for p in [*model.net_G.parameters(), *model.net_E.parameters()]:
        p.grad = torch.full_like(p, float("nan"))  # stands for gradients of the D loss
    pairs = GN.joint_pairs(model, X, 3)
    GN.discriminator_step(pairs, model.net_D, trainer_D)
    GN.generator_step(pairs, model.net_D, None, trainer_GE)
    assert all(torch.isfinite(p).all() for p in [*model.net_G.parameters(),
                                                 *model.net_E.parameters()])  # fmt: skip


def test_train_gibbsnet_runs_the_update_in_order():
    """train_gibbsnet = joint_pairs, discriminator_step, generator_step per update, with the
    batches and chain lengths drawn from the seed's CPU generator (same weights bit for bit;
    swapping the two steps gives other weights)."""
    X = _images(32)
    model, hist = GN.train_gibbsnet(X, 3, latent_dim=4, hidden=2, batch_size=8, seed=7,
                                    log_every=1, progress=False)  # fmt: skip

    def by_hand(order):
        with torch.random.fork_rng():
            torch.manual_seed(7)
            gen = torch.Generator().manual_seed(7)  # what config.seeded(7) yields
            net = GN.GibbsNet(4, 2, 0.2, 0.3)
            trainer_D, trainer_GE = GN.make_trainers(net, 1e-3, 1e-3)
            losses = []
            for _ in range(3):
                batch = X[torch.randint(0, len(X), (8,), generator=gen)]
                n = int(torch.randint(1, 6, (1,), generator=gen))
                pairs = GN.joint_pairs(net, batch, n)
                out = {}
                for s in order:
                    if s == "D":
                        out |= GN.discriminator_step(pairs, net.net_D, trainer_D)
                    else:  # the default recipe adds the cycle term with weight 1
                        out |= GN.generator_step(pairs, net.net_D, net.net_G, trainer_GE,
                                                  cycle_weight=1.0)
                losses.append({k: float(v) for k, v in out.items()})
        return net, losses

    net, losses = by_hand("DG")
    assert _same(_params(model), _params(net))
    assert hist["loss_D"] == [d["loss_D"] for d in losses]
    assert hist["cycle"] == [d["cycle"] for d in losses]
    assert not _same(_params(model), _params(by_hand("GD")[0]))


def test_steps_and_samplers_stay_on_the_model_device():
    """Meta-device test: a CPU tensor anywhere in the steps or a sampler would raise (the old
    samplers' device="cpu" default drew z_0 on the CPU)."""
    model, X, _, _ = _setup()
    model = model.to("meta")
    trainer_D, trainer_GE = GN.make_trainers(model)
    pairs = GN.joint_pairs(model, X.to("meta"), 2)
    out = {**GN.discriminator_step(pairs, model.net_D, trainer_D),
           **GN.generator_step(pairs, model.net_D, None, trainer_GE)}  # fmt: skip
    assert all(v.device.type == "meta" for v in out.values())
    assert GN.sample(model, 2, 3).device.type == "meta"
    assert GN.samples_per_step(model, 2, max_steps=2)[2].device.type == "meta"


def test_train_gibbsnet_bf16_autocasts_its_steps():
    """bf16=True runs every update under bf16 autocast (here on the CPU): finite losses,
    fp32 weights, and weights that differ from the fp32 run's."""
    X = _images(32)
    kw = dict(latent_dim=4, hidden=2, batch_size=8, log_every=5, progress=False)
    fp32, _ = GN.train_gibbsnet(X, 5, **kw)
    bf16, hist = GN.train_gibbsnet(X, 5, bf16=True, **kw)
    assert all(math.isfinite(v) for v in hist["loss_D"] + hist["loss_G"])
    assert all(p.dtype == torch.float32 for p in bf16.parameters())
    assert not _same(_params(fp32), _params(bf16))


def test_train_gibbsnet_runs_and_samples_chain_lengths():
    X = _images(64)
    model, hist = GN.train_gibbsnet(X, 20, hidden=4, latent_dim=4, batch_size=16,
                                    chain_steps=3, random_chain=False, log_every=5,
                                    progress=False)  # fmt: skip
    assert len(hist["loss_D"]) == 4 and len(hist["loss_G"]) == 4
    assert hist["chain"] == [3.0] * 4  # fixed N
    _, hist = GN.train_gibbsnet(X, 40, hidden=4, latent_dim=4, batch_size=16, chain_steps=3,
                                log_every=40, progress=False)  # fmt: skip
    assert 1.5 < hist["chain"][0] < 2.5  # mean of N drawn uniformly from 1..3


def test_random_chain_draws_every_length_up_to_chain_steps():
    # notebook 06 trains with N ~ uniform{1..5} (the default): every length must occur, none above
    _, hist = GN.train_gibbsnet(_images(64), 40, latent_dim=4, hidden=2, batch_size=8,
                                log_every=1, progress=False)  # fmt: skip
    assert set(hist["chain"]) == {1.0, 2.0, 3.0, 4.0, 5.0}


def test_train_gibbsnet_is_seeded_and_leaves_the_global_rng_alone():
    X = _images(32)
    kw = dict(latent_dim=4, hidden=2, batch_size=8, log_every=5, progress=False)
    state = torch.get_rng_state()
    a, ha = GN.train_gibbsnet(X, 5, **kw)
    assert torch.equal(torch.get_rng_state(), state)
    torch.rand(3)
    b, hb = GN.train_gibbsnet(X, 5, **kw)
    c, _ = GN.train_gibbsnet(X, 5, seed=1, **kw)
    assert ha == hb and _same(_params(a), _params(b)) and not _same(_params(a), _params(c))


def test_train_gibbsnet_takes_a_batch_iterator():
    X = _images(32)
    used = []

    def stream():
        for i in range(100):
            used.append(i)
            yield X[i % 4 * 8 : i % 4 * 8 + 8]

    _, hist = GN.train_gibbsnet(stream(), 6, latent_dim=4, hidden=2, log_every=3,
                                progress=False)  # fmt: skip
    assert used == list(range(6)) and hist["step"] == [3, 6]


@pytest.mark.parametrize(
    "bad, match",
    [
        (lambda X: (X + 1) / 2, r"\[-1, 1\].*2 \* x - 1"),  # [0, 1] images
        (lambda X: X * 3, r"\[-1, 1\]"),
        (lambda X: X.flatten(1), r"\(N, 1, 28, 28\)"),
        (lambda X: X.masked_fill(X > 0.5, float("nan")), r"\[-1, 1\]"),
        (lambda X: iter([(X + 1) / 2]), r"\[-1, 1\]"),
        (lambda X: iter([]), "empty"),
    ],
)
def test_train_gibbsnet_rejects_bad_images(bad, match):
    with pytest.raises(ValueError, match=match):
        GN.train_gibbsnet(bad(_images()), 1, progress=False)


def test_train_gibbsnet_rejects_bad_chain_steps():
    with pytest.raises(ValueError, match="chain_steps"):
        GN.train_gibbsnet(_images(), 1, chain_steps=0, progress=False)


def test_encoder_noise_floor():
    """min_std keeps q(z | x) stochastic: z - mu never has a smaller spread than min_std."""
    torch.manual_seed(0)
    enc = GN.Encoder(latent_dim=8, hidden=4, min_std=0.5)
    with torch.no_grad():
        enc.net[-1].bias[8:] = -10.0  # a network that asks for sigma = e^-10
        X = _images(2000)
        mu = enc.net(X).chunk(2, dim=1)[0]
        spread = (enc(X) - mu).std()
    assert 0.45 < spread < 0.55
    assert GN.Encoder(latent_dim=8, hidden=4).min_log_std == -5.0


def test_latent_diagnostics():
    model, X, _, _ = _setup()
    d = GN.latent_diagnostics(model, X, max_steps=3)
    assert set(d) == {"sigma", "mu_spread", "z_mean", "z_std", "chain_move"}
    assert d["sigma"] > 0 and d["chain_move"] > 0 and model.training
    with torch.no_grad():  # an encoder that ignores x: mu does not vary across images
        model.net_E.net[-1].weight.zero_()
    assert GN.latent_diagnostics(model, X, max_steps=3)["mu_spread"] == 0
    with torch.no_grad():  # a decoder that ignores z: the chain cannot move
        model.net_G.net.net[0].weight.zero_()
    assert GN.latent_diagnostics(model, X, max_steps=3)["chain_move"] == 0


def test_cycle_loss_is_the_clamped_pairs_reconstruction_error():
    model, X, _, _ = _setup()
    z = torch.randn(len(X), 8)
    expected = ((model.net_G(z) - X) ** 2).mean()
    assert torch.allclose(GN.cycle_loss(model.net_G, X, z), expected)
    with torch.no_grad():
        assert float(GN.cycle_loss(model.net_G, model.net_G(z), z)) == 0.0


def test_generator_step_adds_the_cycle_term_to_G_and_E_only():
    """With cycle_weight the G/E update follows eq. 5 plus the cycle term: it reports both,
    moves G and E differently from eq. 5 alone, and D's step is unchanged by it."""
    moved = {}
    for weight in (0.0, 1.0):
        model, X, trainer_D, trainer_GE = _setup()
        torch.manual_seed(1)
        pairs = GN.joint_pairs(model, X, 2)
        GN.discriminator_step(pairs, model.net_D, trainer_D)
        out = GN.generator_step(pairs, model.net_D, model.net_G, trainer_GE, cycle_weight=weight)
        assert ("cycle" in out) == bool(weight) and torch.isfinite(out["loss_G"])
        moved[weight] = (_params(model.net_E), _params(model.net_G), _params(model.net_D))
    assert not _same(moved[0.0][0], moved[1.0][0])  # E: through z ~ q(z | x)
    assert not _same(moved[0.0][1], moved[1.0][1])  # G: through G(z)
    assert _same(moved[0.0][2], moved[1.0][2])  # D: stepped before, on eq. 5 alone


def test_cycle_weight_is_checked():
    model, X, _, trainer_GE = _setup()
    pairs = GN.joint_pairs(model, X, 1)
    with pytest.raises(ValueError, match="needs net_G"):
        GN.generator_step(pairs, model.net_D, None, trainer_GE, cycle_weight=1.0)
    for bad in (-1.0, float("nan")):
        with pytest.raises(ValueError, match="cycle_weight"):
            GN.generator_step(pairs, model.net_D, model.net_G, trainer_GE, cycle_weight=bad)
        with pytest.raises(ValueError, match="cycle_weight"):
            GN.train_gibbsnet(X, 1, cycle_weight=bad, progress=False)


class _CopyChain(torch.nn.Module):
    """A stand-in GibbsNet whose Gibbs step returns its input (E flattens, G reshapes)."""

    def __init__(self):
        super().__init__()
        self.net_E, self.net_G = torch.nn.Flatten(), torch.nn.Unflatten(1, (1, 28, 28))
        self.anchor = torch.nn.Parameter(torch.zeros(1))  # gives the model a device


def test_step_from_data_measures_what_one_step_keeps():
    from course_lib.data import load_images

    X = load_images("mnist5k", "test")[0][::3]  # every digit (the file is sorted by class)
    still = GN.step_from_data(_CopyChain(), X)
    assert still["keeps_digit"] == 1.0 and still["pixel_change"] == 0.0
    assert still["classes"] > 9.5  # the test digits' mix
    model, _, _, _ = _setup()  # untrained: one step forgets the digit and its class mix
    fresh = GN.step_from_data(model, X)
    assert fresh["keeps_digit"] < 0.5 and fresh["pixel_change"] > 0.1
