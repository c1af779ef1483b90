"""course_lib.mode_collapse (notebook 03): ensemble layers, PacGAN packing, minibatch stddev,
toy training for every method, error messages, the snapshot widget."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch
from torch import nn

from course_lib import mode_collapse as mc
from course_lib import widgets
from course_lib.config import BUDGETS, PROFILES

TINY = mc.ToyConfig(num_steps=6, batch_size=16, hidden=8, depth=2, snapshots=2,
                    eval_samples=50, n_critic=2, seeds=(0, 1))  # fmt: skip


def test_ensemble_linear_members_are_independent_linears():
    gens = [torch.Generator().manual_seed(s) for s in (0, 1, 2)]
    layer = mc.EnsembleLinear(3, 5, gens)
    x = torch.randn(3, 7, 3)
    out = layer(x)
    assert out.shape == (3, 7, 5)
    for i in range(3):
        ref = x[i] @ layer.weight[i] + layer.bias[i]
        torch.testing.assert_close(out[i], ref)
    assert not torch.equal(layer.weight[0], layer.weight[1])  # different seeds


def test_member_gradients_do_not_mix():
    net = mc.ToyGenerator([0, 1], latent_dim=2, hidden=8, depth=2)
    net(torch.randn(2, 4, 2))[0].sum().backward()  # loss of member 0 only
    for p in net.parameters():
        assert p.grad[1].abs().max() == 0


def test_pack_samples_concatenates_consecutive_samples():
    x = torch.arange(2 * 8 * 2, dtype=torch.float32).view(2, 8, 2)
    packed = mc.pack_samples(x, 4)
    assert packed.shape == (2, 2, 8)
    torch.testing.assert_close(packed[0, 0], x[0, :4].flatten())
    with pytest.raises(ValueError, match="divisible"):
        mc.pack_samples(x, 3)


def test_minibatch_stddev_matches_definition():
    h = torch.randn(2, 8, 5)
    out = mc.minibatch_stddev(h, group_size=4)
    assert out.shape == (2, 8, 6)
    torch.testing.assert_close(out[..., :5], h)
    expected = h[1, 4:8].std(dim=0, unbiased=False).mean()
    torch.testing.assert_close(out[1, 5, 5], expected, atol=1e-5, rtol=1e-5)
    same = torch.ones(1, 4, 3)  # a collapsed batch has zero spread
    assert mc.minibatch_stddev(same, 4)[0, 0, 3] < 1e-3


@pytest.mark.parametrize("method", mc.METHODS)
def test_every_method_trains_and_measures(method):
    r = mc.train_toy_gan(replace(TINY, method=method, data="grid25"), progress=False)
    assert sorted(r.samples) == [0, 3, 6]
    assert r.samples[6].shape == (2, 50, 2)
    assert len(r.coverage[6]) == 2
    f = r.final
    assert 0 <= f["high_quality"] <= 1 and 0 <= f["modes"] <= 25
    assert all(len(v) == len(r.history["step"]) for v in r.history.values())


def test_seeds_are_reproducible():
    a = mc.train_toy_gan(TINY, progress=False).samples[6]
    b = mc.train_toy_gan(TINY, progress=False).samples[6]
    torch.testing.assert_close(a, b)


def test_discriminator_shapes_with_pack_and_stddev():
    D = mc.ToyDiscriminator([0], hidden=8, depth=3, pack=4, stddev_group=4)
    assert D(torch.randn(1, 16, 2)).shape == (1, 4)
    assert isinstance(D.layers[0], nn.Module)


def test_bad_method_lists_allowed_values():
    with pytest.raises(ValueError, match="Allowed values: vanilla, minibatch_stddev"):
        mc.train_toy_gan(replace(TINY, method="unrolled"), progress=False)
    with pytest.raises(ValueError, match="Allowed values"):
        mc.config_from_budget(BUDGETS["03_mode_collapse"]["smoke"], "ring8", "bogus")


def test_config_from_budget_and_budget_rows():
    rows = BUDGETS["03_mode_collapse"]
    assert set(rows) == set(PROFILES)
    assert len({tuple(sorted(r)) for r in rows.values()}) == 1  # same keys in every profile
    cfg = mc.config_from_budget(rows["fast"], "grid25", "pacgan", latent_dim=128)
    assert cfg.num_steps == rows["fast"]["num_steps"] and cfg.latent_dim == 128
    assert len(cfg.seeds) >= 3
    dc = BUDGETS["02_dcgan"]
    assert set(dc) == set(PROFILES) and len({tuple(sorted(r)) for r in dc.values()}) == 1


def test_render_snapshot_and_widget():
    import matplotlib

    matplotlib.use("Agg")
    results = {"vanilla": mc.train_toy_gan(TINY, progress=False)}
    ax = widgets.render_toy_snapshot(results, "vanilla", 6, seed_index=1)
    assert "vanilla, step 6" in ax.get_title()
    with pytest.raises(ValueError, match="Allowed values: vanilla"):
        widgets.render_toy_snapshot(results, "pacgan", 6)
    with pytest.raises(ValueError, match="Allowed values: 0, 3, 6"):
        widgets.render_toy_snapshot(results, "vanilla", 5)
    w = widgets.ToySnapshotWidget(results)
    w.step.value = 3
    assert "step 3" in w.ax.get_title()


def test_coverage_table_rows():
    results = {"vanilla": mc.train_toy_gan(TINY, progress=False)}
    (row,) = mc.coverage_table(results)
    assert row["name"] == "vanilla" and row["seeds"] == 2


def test_ensemble_batchnorm_matches_batchnorm1d_per_member():
    bn = mc.EnsembleBatchNorm(2, 3)
    h = torch.randn(2, 16, 3) * 4 + 1
    out = bn(h)
    for i in range(2):
        ref = nn.BatchNorm1d(3)
        torch.testing.assert_close(out[i], ref(h[i]), atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(bn.running_mean[i, 0], ref.running_mean)
        torch.testing.assert_close(bn.running_var[i, 0], ref.running_var)
    bn.eval()  # eval uses the running statistics, so one sample alone is fine
    assert torch.isfinite(bn(h[:, :1])).all()


def test_precise_batchnorm_sets_exact_population_statistics():
    G = mc.ToyGenerator([0, 1], latent_dim=2, hidden=8, depth=2, batchnorm=True)
    assert len(G.norms) == 2
    Z = torch.randn(2, 500, 2)
    mc.precise_batchnorm(G, Z)
    assert G.training and G.norms[0].momentum == 0.1  # mode and momentum restored
    h = G.layers[0](Z)
    torch.testing.assert_close(G.norms[0].running_mean, h.mean(dim=1, keepdim=True))
    torch.testing.assert_close(G.norms[0].running_var, h.var(dim=1, keepdim=True))
    G.eval()
    with torch.no_grad():  # eval with exact statistics == train mode on that same batch
        ev = G(Z)  # (up to the unbiased variance of the running estimate, 500 / 499)
        G.train()
        torch.testing.assert_close(ev, G(Z), atol=1e-2, rtol=1e-2)


def test_batchnorm_generator_trains_and_is_reproducible():
    cfg = replace(TINY, batchnorm=True, data="ring8")
    a, b = (mc.train_toy_gan(cfg, progress=False) for _ in range(2))
    torch.testing.assert_close(a.samples[6], b.samples[6])
    assert any(isinstance(m, mc.EnsembleBatchNorm) for m in a.net_G.modules())


def test_table_runs_best_method_and_retrain_longer():
    b = dict(BUDGETS["03_mode_collapse"]["smoke"], num_steps=4, long_steps=6, batch_size=16,
             hidden=8, snapshots=2, eval_samples=50, seeds=(0, 1))  # fmt: skip
    results = mc.table_runs(b, "grid25", progress=False)
    assert list(results) == ["vanilla"] + [m + mc.BN_SUFFIX for m in mc.TABLE_METHODS]
    assert not results["vanilla"].config.batchnorm
    assert all(r.config.batchnorm for k, r in results.items() if k != "vanilla")
    best = mc.best_method(results)
    score = lambda r: r.final["modes"] * r.final["high_quality"]  # noqa: E731
    assert all(score(results[best]) >= score(r) for r in results.values())
    longer = mc.retrain_longer(b, results[best], progress=False)
    assert longer.config.num_steps == 6 and longer.config.method == results[best].config.method
    with pytest.raises(ValueError, match="table is on 'ring8'"):
        mc.table_runs(b, "ring8", progress=False, vanilla=results["vanilla"])
    with pytest.raises(ValueError, match="empty"):
        mc.best_method({})
    with pytest.raises(ValueError, match="long_steps"):
        mc.retrain_longer(dict(b, long_steps=0), results[best], progress=False)


def test_best_method_needs_modes_and_high_quality():
    def fake(modes, hq):
        r = mc.ToyResult(TINY, {})
        r.coverage[0] = [{"modes": modes, "high_quality": hq, "reverse_kl": 0.0}]
        return r

    spread, collapsed, good = fake(23, 0.02), fake(1, 0.99), fake(20, 0.4)
    assert mc.best_method({"spread": spread, "collapsed": collapsed, "good": good}) == "good"


def test_far_fraction_counts_bridges_not_wide_modes():
    from course_lib.data import toy_distribution

    dist = toy_distribution("grid25")
    exact = dist.sample(5000, generator=torch.Generator().manual_seed(0))
    assert mc.far_fraction(exact, "grid25") == 0.0
    means = dist.means[:4]
    wide = means + torch.tensor([4.5 * dist.std, 0.0])  # outside 3 sigma, inside 6 sigma
    bridge = means + torch.tensor([1.0, 0.0])  # halfway between two grid modes
    x = torch.cat([wide, bridge])
    assert mc.far_fraction(x, "grid25") == pytest.approx(0.5)
    assert mc.far_fraction(x, "grid25", k_sigma=3.0) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="shape"):
        mc.far_fraction(torch.zeros(3), "grid25")
    with pytest.raises(ValueError, match="k_sigma"):
        mc.far_fraction(x, "grid25", k_sigma=0)


def test_jacobian_norm_of_a_linear_generator_is_its_weight_norm():
    G = mc.ToyGenerator([0, 1], latent_dim=3, hidden=8, depth=0)  # x = z W + b per member
    Z = torch.randn(2, 5, 3)
    norms = mc.jacobian_norm(G, Z)
    assert norms.shape == (2, 5)
    expected = G.layers[0].weight.detach().flatten(1).norm(dim=1)  # (S,)
    assert torch.allclose(norms, expected[:, None].expand(2, 5), atol=1e-6)


def test_jacobian_norm_matches_autograd_jacobian_per_sample():
    G = mc.ToyGenerator([3], latent_dim=2, hidden=16, depth=2).eval()
    Z = torch.rand(1, 4, 2) * 2 - 1
    norms = mc.jacobian_norm(G, Z)
    for i in range(4):
        J = torch.autograd.functional.jacobian(lambda z: G(z.view(1, 1, 2)).view(2), Z[0, i])
        assert norms[0, i].item() == pytest.approx(J.norm().item(), rel=1e-5)


def test_jacobian_rejection_drops_the_stretchiest_latents():
    cfg = mc.ToyConfig(data="grid25", num_steps=5, batch_size=32, hidden=16, snapshots=1,
                       eval_samples=200, seeds=(0, 1), batchnorm=True)  # fmt: skip
    r = mc.train_toy_gan(cfg, progress=False)
    out = mc.jacobian_rejection(r, reject=0.5, n=100, seed=1)
    assert r.net_G.training  # left in the mode it was found in
    assert out["samples"].shape == (2, 100, 2)
    assert len(out["coverage"]) == 2 and set(out["coverage"][0]) == {"modes", "high_quality",
                                                                     "reverse_kl"}  # fmt: skip
    # the kept samples are the G outputs of the 100 smallest-norm latents among 200 drawn
    Z = mc._latents(cfg, 2, 200, torch.Generator().manual_seed(1))
    r.net_G.eval()
    norms = mc.jacobian_norm(r.net_G, Z)
    with torch.no_grad():
        x = r.net_G(Z)
    assert torch.allclose(out["norms"], norms) and torch.allclose(out["drawn"], x, atol=1e-6)
    for i in range(2):
        kept = x[i][norms[i].argsort()[:100].sort().values]  # drawing order preserved
        assert torch.allclose(out["samples"][i], kept, atol=1e-6)
    with pytest.raises(ValueError, match="reject"):
        mc.jacobian_rejection(r, reject=1.0)
    # generate() draws the same latents from the same generator state, in eval mode
    r.net_G.train()
    assert torch.allclose(mc.generate(r, 200, torch.Generator().manual_seed(1)), x, atol=1e-6)
    assert r.net_G.training


def test_categorical_latent_q_reads_the_code_and_d_is_untouched_by_it():
    cfg = replace(TINY, method="categorical_latent", data="ring8", categories=4, num_steps=300,
                  hidden=16, batch_size=64, lr=3e-3, info_weight=1.0)  # fmt: skip
    r = mc.train_toy_gan(cfg, progress=False)
    assert r.net_Q is not None and r.net_G.layers[0].weight.shape[1] == 2 + 4
    # Q recovers c from G(z, c) far above chance (1/4) on fresh samples
    Z, c = mc._latents_and_codes(cfg, 2, 500, torch.Generator().manual_seed(7))
    with torch.no_grad():
        r.net_G.eval()
        acc = (r.net_Q(r.net_G(Z)).argmax(-1) == c).float().mean()
    assert acc > 0.9
    assert r.history["mi_cat"][-1] > 1.0  # nats, of at most log 4 = 1.39
    # the information term updates G and Q, never D
    r.net_G.train()
    for net in (r.net_D, r.net_G, r.net_Q):
        net.zero_grad()
    x = r.net_G(Z)
    torch.nn.functional.cross_entropy(r.net_Q(x).reshape(-1, 4), c.reshape(-1)).backward()
    assert all(p.grad is None for p in r.net_D.parameters())
    assert all(p.grad is not None for p in r.net_Q.parameters())
    x, codes = mc.generate(r, 30, codes=True)
    assert x.shape == (2, 30, 2) and codes.shape == (2, 30) and int(codes.max()) < 4
    with pytest.raises(ValueError, match="categorical_latent run"):
        mc.generate(mc.train_toy_gan(TINY, progress=False), 5, codes=True)
    with pytest.raises(ValueError, match="categories must be >= 2"):
        mc.train_toy_gan(replace(cfg, categories=1), progress=False)


def test_train_parallel_matches_sequential_runs():
    configs = {"a": TINY, "b": replace(TINY, method="pacgan", data="grid25", batch_size=16)}
    par = mc.train_parallel(configs, workers=2, progress=False)
    assert list(par) == ["a", "b"]
    for k, cfg in configs.items():
        alone = mc.train_toy_gan(cfg, progress=False)
        torch.testing.assert_close(par[k].samples[6], alone.samples[6])
    with pytest.raises(ValueError, match="input_noise"):
        mc.train_parallel({"n": replace(TINY, input_noise=0.1)}, progress=False)
    with pytest.raises(ValueError, match="workers"):
        mc.train_parallel(configs, workers=0, progress=False)


def test_categorical_config_reads_the_budget():
    for b in BUDGETS["03_mode_collapse"].values():
        cfg = mc.categorical_config(b, "grid25")
        assert cfg.method == "categorical_latent" and not cfg.batchnorm
        assert cfg.num_steps == b["categorical_steps"] and cfg.categories == b["categories"]
    assert mc.categorical_config(b, "ring8", info_weight=0.0, num_steps=7).info_weight == 0.0


def test_toy_precision_recall_scores_each_seed():
    from course_lib.data import toy_distribution

    dist = toy_distribution("ring8")
    exact = dist.sample(1000, generator=torch.Generator().manual_seed(0))
    points = dist.means.repeat(125, 1)
    rows = mc.toy_precision_recall(torch.stack([exact, points]), "ring8")
    assert len(rows) == 2 and rows[0]["recall"] > 0.85 and rows[1]["recall"] < 0.1
    with pytest.raises(ValueError, match="S, N, 2"):
        mc.toy_precision_recall(exact, "ring8")


def test_code_usage_assigns_codes_to_modes():
    from course_lib.data import toy_distribution

    means = toy_distribution("ring8").means
    # codes 0 and 1 on mode 0, code 2 on mode 3 (one stray sample of code 2 on mode 0),
    # code 3 only far from every mode
    x = torch.cat([means[[0, 0, 0]], means[[3, 3, 0]], torch.zeros(2, 2)])
    codes = torch.tensor([0, 0, 1, 2, 2, 2, 3, 3])
    u = mc.code_usage(x, codes, "ring8", categories=5)
    assert u["codes_per_mode"].tolist() == [2, 0, 0, 1, 0, 0, 0, 0]
    assert u["distinct_codes"].tolist() == [3, 0, 0, 1, 0, 0, 0, 0]
    assert u["samples_per_mode"].tolist() == [4, 0, 0, 2, 0, 0, 0, 0]
    with pytest.raises(ValueError, match="codes"):
        mc.code_usage(x, codes[:3], "ring8", 5)
