"""course_lib.toy_train (notebooks 03, 08): the toy-GAN trainer, the gan steps on ensembles,
the categorical latent's G step, the sampler, and their device handling (meta device)."""

from __future__ import annotations

import copy
from dataclasses import replace

import pytest
import torch

from course_lib import gan, toy_train
from course_lib.data import toy_distribution
from course_lib.metrics import mode_coverage
from course_lib.toy_train import ToyConfig

TINY = ToyConfig(batch_size=16, hidden=8, depth=2, snapshots=2, eval_samples=50, n_critic=2,
                 seeds=(0, 1))  # fmt: skip


def train(config=TINY, data="ring8", num_steps=6):
    return toy_train.train_toy_gan(data, num_steps, config=config, progress=False)


@pytest.mark.parametrize("method", toy_train.METHODS)
def test_every_method_trains_and_measures_its_own_samples(method):
    cfg = replace(TINY, method=method, categories=4)
    r, history = train(cfg, "grid25")
    assert isinstance(r, toy_train.ToyEnsemble) and r.history is history
    assert r.data == "grid25" and r.num_steps == 6
    assert sorted(r.samples) == [0, 3, 6] and r.samples[6].shape == (2, 50, 2)
    for step in r.samples:  # coverage is that of the recorded samples, seed by seed
        assert r.coverage[step] == [mode_coverage(x, "grid25") for x in r.samples[step]]
    assert not torch.equal(r.samples[0], r.samples[6])  # training moved the generator
    # the evaluation curve in the history: means over seeds at every snapshot
    assert history["score_step"] == [0, 3, 6]
    for i, step in enumerate(history["score_step"]):
        for k in ("modes", "high_quality", "reverse_kl"):
            assert history[k][i] == pytest.approx(sum(c[k] for c in r.coverage[step]) / 2)
    keys = {"loss_D", "loss_G", "step", "score_step", "modes", "high_quality", "reverse_kl"} | (
        {"w_estimate"} if method in toy_train.WASSERSTEIN else {"D_real", "D_fake"}
    )
    keys |= {"gp"} if method == "wgan_gp" else set()
    keys |= {"info", "mi_cat"} if method == "categorical_latent" else set()
    assert set(history) == keys and history["step"] == [6]


def test_seeded_runs_repeat_and_leave_the_global_rng_alone():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    a = train()[0]
    assert torch.equal(torch.rand(3), expected)  # no global draw, no reseeding
    b = train()[0]
    torch.testing.assert_close(a.samples[6], b.samples[6], rtol=0, atol=0)
    c = train(replace(TINY, seeds=(2, 1)))[0]
    assert not torch.allclose(a.samples[6][0], c.samples[6][0])


def test_golden_samples_of_a_tiny_vanilla_run():
    """Pins the numbers (measured with the pre-rebuild mode_collapse trainer, which gave the
    same bits): a change of draw order, loss scale or initialisation moves them."""
    r = train(replace(TINY, seeds=(0,)), num_steps=4)[0]
    golden = torch.tensor([[0.52486074, -0.22719724], [0.46948850, -0.23766966]])
    torch.testing.assert_close(r.samples[4][0, :2], golden, atol=1e-5, rtol=1e-4)


def _nets_and_batch(method, scale_seeds=(0, 1)):
    cfg = replace(TINY, method=method, seeds=scale_seeds, categories=4)
    nets = toy_train.build_toy_nets(cfg)
    g = torch.Generator().manual_seed(0)
    X = toy_distribution("ring8").sample(len(scale_seeds) * 16, generator=g)
    Z, codes = toy_train.toy_latents(cfg, 16, g)
    return cfg, nets, X, Z, codes


def _grads(module):
    return [p.grad.clone() for p in module.parameters()]


def test_summed_seed_loss_gives_each_member_its_own_gradient():
    """gan.discriminator_step with scale = S on an ensemble: member 0's gradient is that of a
    GAN trained alone."""
    cfg, (net_G, net_D, _), X, Z, _ = _nets_and_batch("vanilla")
    sgd = torch.optim.SGD(net_D.parameters(), lr=0.0)
    out = gan.discriminator_step(X, Z, net_D, net_G, sgd, scale=2)
    ensemble = _grads(net_D)
    # member 0 alone: its rows of the batch, its loss, no factor
    alone = copy.deepcopy(net_D)
    alone.zero_grad()
    from course_lib.losses import discriminator_loss

    real, fake = alone(X.view(2, 16, 2)), alone(net_G(Z).detach().view(2, 16, 2))
    discriminator_loss(real[0], fake[0]).backward()
    for e, a in zip(ensemble, _grads(alone)):
        torch.testing.assert_close(e[0], a[0])
    assert out["loss_D"].shape == () and not out["loss_D"].requires_grad
    gan.discriminator_step(X, Z, net_D, net_G, sgd, scale=1)  # "mean": 1/S of it
    for e, m in zip(ensemble, _grads(net_D)):
        torch.testing.assert_close(m, e / 2)


def test_info_generator_step_adds_the_information_term_and_trains_q():
    cfg, (net_G, net_D, net_Q), X, Z, codes = _nets_and_batch("categorical_latent")
    params = list(net_G.parameters()) + list(net_Q.parameters())
    trainer = torch.optim.SGD(params, lr=0.0)
    out = toy_train.info_generator_step(Z, codes, net_D, net_G, net_Q, trainer, info_weight=0.5)
    logits = net_Q(net_G(Z))
    info = torch.nn.functional.cross_entropy(logits, codes)
    torch.testing.assert_close(out["info"], info.detach())
    torch.testing.assert_close(out["mi_cat"], torch.log(torch.tensor(4.0)) - info.detach())
    nonsat = torch.nn.functional.softplus(-net_D(net_G(Z))).mean()
    torch.testing.assert_close(out["loss_G"], (nonsat + 0.5 * info).detach())
    assert all(p.grad is not None for p in net_Q.parameters())
    g_grads = _grads(net_G)  # scale multiplies every gradient, not the returned loss
    out3 = toy_train.info_generator_step(Z, codes, net_D, net_G, net_Q, trainer, info_weight=0.5,
                                         scale=3)  # fmt: skip
    torch.testing.assert_close(out3["loss_G"], out["loss_G"])
    for g1, g3 in zip(g_grads, _grads(net_G)):
        torch.testing.assert_close(g3, 3 * g1)
    # with the trainers the trainer builds, G's step moves G and Q, never D
    trainer_D, trainer_G = toy_train.toy_trainers((net_G, net_D, net_Q), cfg)
    before = [copy.deepcopy(list(n.parameters())) for n in (net_G, net_D, net_Q)]
    toy_train.info_generator_step(Z, codes, net_D, net_G, net_Q, trainer_G)
    after = [list(n.parameters()) for n in (net_G, net_D, net_Q)]
    moved = [any(not torch.equal(a, b) for a, b in zip(x, y)) for x, y in zip(before, after)]
    assert moved == [True, False, True]


def test_weight_clipping_run_keeps_the_critic_in_range():
    r, history = train(replace(TINY, method="wgan_clip", lr=0.05, clip=0.02))
    weights = torch.cat([p.detach().flatten() for p in r.net_D.parameters()])
    assert weights.abs().max() <= 0.02 + 1e-9
    assert (weights.abs() > 0.019).float().mean() > 0.2  # lr 0.05 pushes many to the bound
    assert "gp" not in history


def test_fixed_eval_latents_and_critic_surfaces():
    cfg = replace(TINY, method="wgan_gp", eval_latents="fixed", critic_grid=5, lr_decay=False)
    r = train(cfg, "grid25")[0]
    Z = toy_train.toy_latents(cfg, cfg.eval_samples, torch.Generator().manual_seed(12345))[0]
    with torch.no_grad():
        torch.testing.assert_close(r.samples[6], r.net_G(Z).view(2, -1, 2))  # same latents
        s = r.surfaces[6]
        assert s["f"].shape == (2, 5, 5) and s["xx"].shape == (5, 5)
        lim = toy_train.plot_limit(toy_distribution("grid25"))
        assert s["xx"][0, 0] == -lim and s["yy"][-1, 0] == pytest.approx(lim)
        point = torch.tensor([[s["xx"][2, 3], s["yy"][2, 3]]])
        member1 = r.net_D(point.repeat(2, 1).view(2, 1, 2))[1, 0]
        torch.testing.assert_close(s["f"][1, 2, 3], member1)
    assert sorted(r.surfaces) == [0, 3, 6]


def test_train_parallel_matches_sequential_runs():
    runs = {"a": toy_train.ToyRun("ring8", 6, TINY),
            "b": toy_train.ToyRun("grid25", 6, replace(TINY, method="pacgan"))}  # fmt: skip
    par = toy_train.train_parallel(runs, workers=2, progress=False)
    assert list(par) == ["a", "b"]
    for k, run in runs.items():
        alone = train(run.config, run.data, run.num_steps)[0]
        torch.testing.assert_close(par[k].samples[6], alone.samples[6], rtol=0, atol=0)
        assert par[k].run == run
    with pytest.raises(ValueError, match="workers"):
        toy_train.train_parallel(runs, workers=0, progress=False)


def test_generate_samples_in_eval_mode_from_the_given_generator():
    cfg = replace(TINY, batchnorm=True)
    r = train(cfg)[0]
    x = toy_train.generate(r, 30, torch.Generator().manual_seed(4))
    Z = toy_train.toy_latents(cfg, 30, torch.Generator().manual_seed(4))[0]
    r.net_G.eval()
    with torch.no_grad():
        torch.testing.assert_close(x, r.net_G(Z).view(2, 30, 2))
    r.net_G.train()
    toy_train.generate(r, 5)
    assert r.net_G.training  # mode restored
    with pytest.raises(ValueError, match="categorical_latent run"):
        toy_train.generate(r, 5, codes=True)


def test_categorical_latent_q_reads_the_code_and_d_is_untouched_by_it():
    cfg = replace(TINY, method="categorical_latent", categories=4, hidden=16, batch_size=64,
                  lr=3e-3)  # fmt: skip
    r, history = train(cfg, "ring8", 300)
    assert r.net_Q is not None and r.net_G.layers[0].weight.shape[1] == 2 + 4
    x, c = toy_train.generate(r, 500, torch.Generator().manual_seed(7), codes=True)
    with torch.no_grad():  # Q recovers c from G(z, c) far above chance (1/4)
        acc = (r.net_Q(x).argmax(-1) == c).float().mean()
    assert acc > 0.9 and c.shape == (2, 500) and int(c.max()) < 4
    assert history["mi_cat"][-1] > 1.0  # nats, of at most log 4 = 1.39


def test_bf16_is_the_callers_choice():
    """Off by default (the modes are finer than bf16 resolves); bf16=True runs the steps under
    autocast, which on a CPU changes the numbers."""
    cfg = replace(TINY, seeds=(0,))
    plain = train(cfg, num_steps=4)[0]
    again = toy_train.train_toy_gan("ring8", 4, config=cfg, progress=False, bf16=None)[0]
    torch.testing.assert_close(plain.samples[4], again.samples[4], rtol=0, atol=0)  # CPU: fp32
    low = toy_train.train_toy_gan("ring8", 4, config=cfg, progress=False, bf16=True)[0]
    assert not torch.equal(plain.samples[4], low.samples[4])


def test_bad_settings_are_refused_with_the_allowed_values():
    with pytest.raises(ValueError, match="Allowed values: vanilla, minibatch_stddev"):
        train(replace(TINY, method="unrolled"))
    with pytest.raises(ValueError, match="Allowed values: sum, mean"):
        train(replace(TINY, seed_loss="total"))
    with pytest.raises(ValueError, match="categories must be >= 2"):
        train(replace(TINY, method="categorical_latent", categories=1))
    with pytest.raises(ValueError, match="Allowed values: ring8, grid25"):
        train(data="ring9")


# ---------------------------------------------------------------------------------------
# Devices: every tensor of a step or a sampler lives on the networks' device. On ``meta`` most
# ops with a stray CPU tensor raise "Tensor on device cpu is not on the expected device
# meta!"; some (baddbmm) accept it, so the networks' inputs are also checked by a hook.
# ---------------------------------------------------------------------------------------
def _record_input_devices(*nets):
    seen = set()
    for net in nets:
        if net is not None:
            net.register_forward_pre_hook(lambda m, args: seen.update(a.device.type for a in args))
    return seen


@pytest.mark.parametrize("method", toy_train.METHODS)
def test_one_training_step_on_the_meta_device(method):
    """The trainer's iteration takes its device from the nets (no device argument)."""
    cfg = replace(TINY, method=method, categories=4, batchnorm=method == "vanilla")
    nets = toy_train.build_toy_nets(cfg, "meta")
    seen = _record_input_devices(*nets)
    trainers = toy_train.toy_trainers(nets, cfg)
    out = toy_train._toy_step(nets, trainers, toy_distribution("grid25"), cfg,
                              torch.Generator().manual_seed(0))  # fmt: skip
    assert {v.device.type for v in out.values()} == {"meta"} and seen == {"meta"}
    assert all(v.shape == () for v in out.values())


def test_samplers_on_the_meta_device():
    cfg = replace(TINY, method="categorical_latent", categories=4)
    r = toy_train.ToyEnsemble("ring8", 1, cfg, *toy_train.build_toy_nets(cfg, "meta"))
    seen = _record_input_devices(r.net_G)
    x, c = toy_train.generate(r, 5, codes=True)
    assert x.device.type == c.device.type == "meta" and x.shape == (2, 5, 2)
    assert seen == {"meta"}  # the latents were moved to the generator's device
