import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from course_lib import data, gan, losses
from course_lib.config import seeded
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
    with pytest.raises(
        ValueError,
        match="Unknown generator loss 'hinge'. Allowed values: "
        "saturating, non_saturating, wasserstein.",
    ):
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


def test_discriminator_step_updates_only_D_and_reports_the_loss_before_the_step():
    with seeded(0):
        G, D = gan.Generator(8, 16), gan.Discriminator(16)
        X, Z = torch.rand(4, 1, 28, 28) * 2 - 1, torch.rand(4, 8) * 2 - 1
    g_before = [p.clone() for p in G.parameters()]
    d_before = [p.clone() for p in D.parameters()]
    with torch.no_grad():
        real, fake = D(X), D(G(Z))
    out = gan.discriminator_step(X, Z, D, G, adam(D.parameters(), 1e-3))
    assert torch.allclose(out["loss_D"], losses.discriminator_loss(real, fake))
    assert torch.allclose(out["D_real"], torch.sigmoid(real).mean())
    assert torch.allclose(out["D_fake"], torch.sigmoid(fake).mean())
    assert all(not v.requires_grad and v.dim() == 0 for v in out.values())
    assert all(torch.equal(a, b) for a, b in zip(g_before, G.parameters()))
    assert any(not torch.equal(a, b) for a, b in zip(d_before, D.parameters()))


def test_generator_step_updates_only_G_and_reports_the_loss_before_the_step():
    with seeded(0):
        G, D = gan.Generator(8, 16), gan.Discriminator(16)
        Z = torch.rand(4, 8) * 2 - 1
    d_before = [p.clone() for p in D.parameters()]
    g_before = [p.clone() for p in G.parameters()]
    with torch.no_grad():
        expected = losses.generator_loss(D(G(Z)), "saturating")
    out = gan.generator_step(Z, D, G, adam(G.parameters(), 1e-3), kind="saturating")
    assert torch.allclose(out["loss_G"], expected) and not out["loss_G"].requires_grad
    assert all(torch.equal(a, b) for a, b in zip(d_before, D.parameters()))
    assert any(not torch.equal(a, b) for a, b in zip(g_before, G.parameters()))


def test_grad_norm_is_the_l2_norm_of_all_gradients():
    net = nn.Linear(2, 1)
    assert gan.grad_norm(net) == 0  # no gradients yet
    net.weight.grad, net.bias.grad = torch.tensor([[3.0, 0.0]]), torch.tensor([4.0])
    assert gan.grad_norm(net) == pytest.approx(5.0)


def test_discriminator_learns_d_star_against_fixed_generator():
    """A short run already puts D within 0.1 of D* where the data live."""
    p = data.GaussianMixture1D()
    G = gan.AffineGenerator(0.5, 1.0).requires_grad_(False)
    with seeded(0) as g:
        D = gan.xavier_init(gan.mlp([1, 64, 64, 1], nn.LeakyReLU))
    (G_out, D_out), hist = gan.train_gan(
        data.sample_batches(p, 512, g), 400, net_G=G, net_D=D, latent_dim=1,
        latent_kind="gaussian", lr=1e-3, betas=(0.9, 0.999), train_G=False, generator=g,
        progress=False,
    )  # fmt: skip
    assert G_out is G and D_out is D  # trained in place, returned as (net_G, net_D)
    assert "loss_G" not in hist and hist["step"] == list(range(25, 401, 25))
    x = torch.linspace(-2.5, 2.5, 201).unsqueeze(1)
    d_star = gan.optimal_discriminator(p.pdf(x), data.gaussian_pdf(x, 0.5, 1.0))
    with torch.no_grad():
        err = (torch.sigmoid(D(x)) - d_star).abs().max().item()
    assert err < 0.1
    assert all(p.grad is None or torch.all(p.grad == 0) for p in G.parameters())


def test_train_gan_moves_generator_towards_data():
    dist = data.GaussianMixture1D(means=(0.0,), stds=(0.5,), weights=(1.0,))
    G = gan.AffineGenerator(4.0, 0.5)
    with seeded(1) as g:
        D = gan.xavier_init(gan.mlp([1, 32, 32, 1], nn.LeakyReLU))
    _, hist = gan.train_gan(
        data.sample_batches(dist, 256, g), 600, net_G=G, net_D=D, latent_dim=1,
        latent_kind="gaussian", lr=5e-3, generator=g, progress=False,
    )  # fmt: skip
    assert abs(G.shift.item()) < 1.5
    assert {"step", "loss_D", "loss_G", "grad_G", "D_real", "D_fake"} == set(hist)


def _tiny_gan(seed: int = 0):
    with seeded(seed):
        return gan.Generator(8, 16), gan.Discriminator(16)


def _digits(n: int = 128) -> torch.Tensor:
    X, _ = data.load_images("mnist5k", "train")
    return X[:n]


def test_train_gan_is_seeded_by_its_generator_and_leaves_the_global_rng_alone():
    X = _digits()
    runs = []
    for _ in range(2):
        net_G, net_D = _tiny_gan()
        state = torch.get_rng_state()
        (net_G, _), hist = gan.train_gan(
            X, 30, net_G=net_G, net_D=net_D, latent_dim=8, batch_size=32, lr=1e-3,
            generator=torch.Generator().manual_seed(5), log_every=10, progress=False,
        )  # fmt: skip
        assert torch.equal(torch.get_rng_state(), state)  # neither used nor reseeded
        runs.append((hist, [p.detach().clone() for p in net_G.parameters()]))
    (h1, w1), (h2, w2) = runs
    assert h1 == h2 and all(torch.equal(a, b) for a, b in zip(w1, w2))
    net_G, net_D = _tiny_gan()
    _, h3 = gan.train_gan(X, 30, net_G=net_G, net_D=net_D, latent_dim=8, batch_size=32,
                          lr=1e-3, generator=torch.Generator().manual_seed(6), log_every=10,
                          progress=False)  # fmt: skip
    assert h3["loss_D"] != h1["loss_D"]  # another seed, another run


def test_train_gan_tensor_data_equals_the_batches_iterator():
    """Passing the tensor is the same run as passing data.batches with the same generator."""
    X = _digits()
    hists = []
    for as_tensor in (True, False):
        net_G, net_D = _tiny_gan()
        g = torch.Generator().manual_seed(3)
        real = X if as_tensor else data.batches(X, 32, generator=g)
        _, hist = gan.train_gan(
            real, 20, net_G=net_G, net_D=net_D, latent_dim=8, batch_size=32, generator=g,
            log_every=5, progress=False,
        )  # fmt: skip
        hists.append(hist)
    assert hists[0] == hists[1]


def test_train_gan_bf16_flag_reaches_autocast():
    """bf16=True runs the steps under bf16 autocast (CPU too): the numbers change; the
    default on a CPU is plain fp32."""
    X = _digits()
    hists = {}
    for bf16 in (None, False, True):
        net_G, net_D = _tiny_gan()
        _, hists[bf16] = gan.train_gan(X, 5, net_G=net_G, net_D=net_D, latent_dim=8,
                                       batch_size=32, generator=torch.Generator().manual_seed(0),
                                       bf16=bf16, log_every=5, progress=False)  # fmt: skip
    assert hists[None] == hists[False]
    assert hists[True]["loss_D"] != hists[False]["loss_D"]
    assert abs(hists[True]["loss_D"][0] - hists[False]["loss_D"][0]) < 0.05


def test_train_gan_bf16_on_d_only_autocasts_ds_forward_and_not_gs():
    """bf16="D": D's layers compute in bf16, G's in fp32 (both keep fp32 weights), and the
    run differs from fp32 but stays close to it."""
    X = _digits()
    seen: dict[str, set] = {"G": set(), "D": set()}
    hists = {}
    for bf16 in (False, "D"):
        net_G, net_D = _tiny_gan()
        for name, net in (("G", net_G), ("D", net_D)):
            lin = next(m for m in net.modules() if isinstance(m, nn.Linear))
            lin.register_forward_hook(
                lambda m, i, out, name=name, bf16=bf16: seen[name].add((bf16, out.dtype)))
        (net_G, net_D), hists[bf16] = gan.train_gan(
            X, 5, net_G=net_G, net_D=net_D, latent_dim=8, batch_size=32, bf16=bf16,
            generator=torch.Generator().manual_seed(0), log_every=5, progress=False,
        )  # fmt: skip
        assert all(p.dtype == torch.float32 for p in [*net_G.parameters(), *net_D.parameters()])
    assert seen["D"] == {(False, torch.float32), ("D", torch.bfloat16)}
    assert seen["G"] == {(False, torch.float32), ("D", torch.float32)}
    assert hists["D"]["loss_D"] != hists[False]["loss_D"]
    assert abs(hists["D"]["loss_D"][0] - hists[False]["loss_D"][0]) < 0.05


@pytest.mark.parametrize(
    "change,match",
    [
        (dict(bf16="G"), "Unknown bf16 'G'. Allowed values: None, True, False, D"),
        (dict(latent_dim=9), "latent_dim=9, but net_G takes latents of size 8"),
        (dict(data=torch.zeros(0, 1, 28, 28)), "train_gan got no data"),
        (dict(data=iter([])), "train_gan got an empty batch iterator"),
        (dict(data=torch.rand(64, 1, 28, 28)), r"needs images in \[-1, 1\].*2 \* x - 1"),
        (dict(data=torch.rand(64, 1, 28, 28) * 4 - 2), r"got values in \[-2"),
        (
            dict(kind="wasserstein"),
            "Unknown generator loss 'wasserstein'. Allowed values: saturating, non_saturating.",
        ),  # fmt: skip
        (dict(latent_kind="cauchy"), "Unknown latent kind 'cauchy'"),
        (dict(d_steps=0), "d_steps must be >= 1"),
    ],
)
def test_train_gan_refuses_bad_input(change, match):
    net_G, net_D = _tiny_gan()
    kwargs = dict(data=_digits(), num_steps=2, net_G=net_G, net_D=net_D, latent_dim=8,
                  batch_size=32, progress=False) | change  # fmt: skip
    with pytest.raises(ValueError, match=match):
        gan.train_gan(**kwargs)


def test_train_gan_reports_a_finite_iterator_running_out():
    net_G, net_D = _tiny_gan()
    X = _digits(64)
    with pytest.raises(ValueError, match="ran out of batches"):
        gan.train_gan([X[:32], X[32:]], 5, net_G=net_G, net_D=net_D, latent_dim=8,
                      progress=False)  # fmt: skip


def test_one_train_gan_iteration_keeps_every_tensor_on_the_model_device(monkeypatch):
    """With the nets on ``meta``, any CPU tensor in the trainer's step (latents, batches, the
    gradient norm) raises; train_loop's one host sync per log cannot run on meta, so the loop
    is replaced by one that just calls the step function."""
    outs = []

    def one_step_loop(step_fn, num_steps, **kwargs):
        outs.append(step_fn(0))
        return {}

    monkeypatch.setattr(gan, "train_loop", one_step_loop)
    net_G, net_D = _tiny_gan()
    gan.train_gan(_digits(), 1, net_G=net_G, net_D=net_D, latent_dim=8, batch_size=32,
                  device="meta", d_steps=2, progress=False)  # fmt: skip
    assert set(outs[0]) == {"loss_D", "D_real", "D_fake", "loss_G", "grad_G"}
    assert all(v.device.type == "meta" for v in outs[0].values())
    assert next(net_G.parameters()).device.type == "meta"


def test_step_functions_on_meta_device():
    net_G, net_D = (net.to("meta") for net in _tiny_gan())
    trainer_D, trainer_G = adam(net_D.parameters(), 1e-3), adam(net_G.parameters(), 1e-3)
    X, Z = torch.empty(4, 1, 28, 28, device="meta"), torch.empty(4, 8, device="meta")
    out = gan.discriminator_step(X, Z, net_D, net_G, trainer_D)
    out |= gan.generator_step(Z, net_D, net_G, trainer_G)
    assert all(v.device.type == "meta" for v in out.values())
    assert gan.grad_norm(nn.Linear(2, 2).to("meta")).device.type == "meta"
    with pytest.raises(RuntimeError, match="device"):  # a stray CPU latent is caught
        gan.generator_step(torch.rand(4, 8), net_D, net_G, trainer_G)


def test_latent_interpolation_render_uses_the_generator_device():
    """Latents go to the decoder's device (here meta): a CPU latent fed to a meta generator
    would raise, as a GPU generator would with CPU latents."""
    from course_lib.widgets import render_interpolation
    from course_lib.widgets.latent import decoder_device

    net_G = gan.Generator(8, 16).to("meta")
    out = render_interpolation(net_G, 8, seed_a=0, seed_b=1, t=0.5, frames=4)
    assert out["images"].device.type == "meta" and out["images"].shape == (3, 1, 28, 28)
    assert out["walk"].shape == (4, 1, 28, 28) and out["z_t"].shape == (8,)

    class Decoder(nn.Module):
        def __init__(self):
            super().__init__()
            self.net_G = gan.Generator(8, 16)

        def decode_images(self, Z):
            return self.net_G(Z)

    dec = Decoder().to("meta")
    assert decoder_device(dec.decode_images).type == "meta"  # a bound method of a module
    assert decoder_device(lambda z: z).type == "cpu"


def test_saturation_experiment_saturating_loss_stalls():
    """Against a D warmed up on its own, the saturating generator's gradient ~ D(G(z)) ~ 0:
    on the same budget its mean moves far less than with the non-saturating loss."""
    state = torch.get_rng_state()
    runs = {kind: gan.saturation_experiment(kind, 100, warmup_steps=200, progress=False)
            for kind in ("saturating", "non_saturating")}  # fmt: skip
    assert torch.equal(torch.get_rng_state(), state)  # no global reseeding
    moved = {k: abs(r["shift"][-1][1] - r["shift"][0][1]) for k, r in runs.items()}
    assert runs["saturating"]["shift"][0] == (0, 6.0) and runs["saturating"]["shift"][-1][0] == 100
    assert moved["saturating"] < 0.5 and moved["non_saturating"] > 3.0
    assert moved["non_saturating"] > 10 * moved["saturating"]
    sat, ns = runs["saturating"]["history"], runs["non_saturating"]["history"]
    assert sat["D_fake"][0] < 0.05 and sat["grad_G"][0] < 0.1 * ns["grad_G"][0]
    again = gan.saturation_experiment("saturating", 100, warmup_steps=200, progress=False)
    assert again["shift"] == runs["saturating"]["shift"]  # seeded
    with pytest.raises(ValueError, match="Allowed values: saturating, non_saturating"):
        gan.saturation_experiment("wasserstein", 10, progress=False)


def test_saturation_experiment_with_adam_moves_the_saturating_generator():
    """Adam rescales G's tiny saturating gradient to steps of about lr: in the two-parameter
    model the saturating generator leaves its start (notebook 01, exercise 1)."""
    sgd = gan.saturation_experiment("saturating", 100, warmup_steps=200, progress=False)
    adam = gan.saturation_experiment("saturating", 100, warmup_steps=200, optimizer_G="adam",
                                     progress=False)  # fmt: skip
    assert adam["shift"][0] == sgd["shift"][0] == (0, 6.0)
    moved = {k: abs(r["shift"][-1][1] - 6.0) for k, r in (("sgd", sgd), ("adam", adam))}
    assert moved["adam"] > 1.0 and moved["adam"] > 5 * moved["sgd"]
    with pytest.raises(ValueError, match="Allowed values: sgd, adam"):
        gan.saturation_experiment("saturating", 10, optimizer_G="rmsprop", progress=False)


def test_js_divergence_survives_float32_underflow_in_the_tails():
    """Densities far in the tails underflow in float32; JSD must stay finite (log 2 here)."""
    x = torch.linspace(-10, 30, 8001)
    dx = (x[1] - x[0]).item()
    jsd = gan.js_divergence(data.GaussianMixture1D().pdf(x), data.gaussian_pdf(x, 20.0, 1.0), dx)
    assert math.isfinite(jsd) and abs(jsd - math.log(2)) < 1e-3


def test_d_star_experiment_reports_error_on_the_covered_region():
    state = torch.get_rng_state()
    out = gan.d_star_experiment(200, 256, seed=0, progress=False)
    assert torch.equal(torch.get_rng_state(), state)  # no global reseeding
    assert {"x", "d", "d_star", "mask", "max_error", "mass_covered", "history"} <= set(out)
    assert 0.98 < out["mass_covered"] < 1.0  # m >= 0.02 holds ~99% of the mass
    err = (out["d"] - out["d_star"]).abs()
    assert out["max_error"] == pytest.approx(err[out["mask"]].max().item())
    assert out["max_error"] < 0.5 and err[out["mask"]].mean() < 0.1
