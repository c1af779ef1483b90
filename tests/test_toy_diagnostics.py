"""course_lib.toy_diagnostics (notebooks 03, 08): bridges between modes, Jacobian-norm
rejection, precision / recall per seed, the within-mode spread and the six-number scorecard,
code usage of the categorical latent, seed spread; and the bridge count
course_lib.metrics.far_fraction."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest
import torch

from course_lib import metrics, toy_diagnostics, toy_nets, toy_train
from course_lib.data import toy_distribution
from course_lib.toy_train import ToyConfig, ToyEnsemble


def test_far_fraction_counts_bridges_not_wide_modes():
    dist = toy_distribution("grid25")
    exact = dist.sample(5000, generator=torch.Generator().manual_seed(0))
    assert metrics.far_fraction(exact, "grid25") == 0.0
    means = dist.means[:4]
    wide = means + torch.tensor([4.5 * dist.std, 0.0])  # outside 3 sigma, inside 6 sigma
    bridge = means + torch.tensor([1.0, 0.0])  # halfway between two grid modes
    x = torch.cat([wide, bridge])
    assert metrics.far_fraction(x, "grid25") == pytest.approx(0.5)
    assert metrics.far_fraction(x, "grid25", k_sigma=3.0) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="shape"):
        metrics.far_fraction(torch.zeros(3), "grid25")
    with pytest.raises(ValueError, match="k_sigma"):
        metrics.far_fraction(x, "grid25", k_sigma=0)


def test_jacobian_norm_of_a_linear_generator_is_its_weight_norm():
    G = toy_nets.ToyGenerator([0, 1], latent_dim=3, hidden=8, depth=0)  # x = z W + b per member
    Z = torch.randn(2, 5, 3)
    norms = toy_diagnostics.jacobian_norm(G, Z)
    assert norms.shape == (2, 5)
    expected = G.layers[0].weight.detach().flatten(1).norm(dim=1)  # (S,)
    assert torch.allclose(norms, expected[:, None].expand(2, 5), atol=1e-6)


def test_jacobian_norm_matches_autograd_jacobian_per_sample():
    G = toy_nets.ToyGenerator([3], latent_dim=2, hidden=16, depth=2).eval()
    Z = torch.rand(1, 4, 2) * 2 - 1
    norms = toy_diagnostics.jacobian_norm(G, Z)
    for i in range(4):
        J = torch.autograd.functional.jacobian(lambda z: G(z.view(1, 1, 2)).view(2), Z[0, i])
        assert norms[0, i].item() == pytest.approx(J.norm().item(), rel=1e-5)


def test_jacobian_rejection_drops_the_stretchiest_latents():
    cfg = ToyConfig(batch_size=32, hidden=16, snapshots=1, eval_samples=200, seeds=(0, 1),
                    batchnorm=True)  # fmt: skip
    r = toy_train.train_toy_gan("grid25", 5, config=cfg, progress=False)[0]
    out = toy_diagnostics.jacobian_rejection(r, reject=0.5, n=100, seed=1)
    assert r.net_G.training  # left in the mode it was found in
    assert out["samples"].shape == (2, 100, 2)
    assert out["coverage"] == [metrics.mode_coverage(x, "grid25") for x in out["samples"]]
    # the kept samples are the G outputs of the 100 smallest-norm latents among 200 drawn
    Z = toy_train.toy_latents(cfg, 200, torch.Generator().manual_seed(1))[0].view(2, 200, 2)
    r.net_G.eval()
    norms = toy_diagnostics.jacobian_norm(r.net_G, Z)
    with torch.no_grad():
        x = r.net_G(Z)
    r.net_G.train()
    assert torch.allclose(out["norms"], norms) and torch.allclose(out["drawn"], x, atol=1e-6)
    for i in range(2):
        kept = x[i][norms[i].argsort()[:100].sort().values]  # drawing order preserved
        assert torch.allclose(out["samples"][i], kept, atol=1e-6)
        assert out["norms"][i][norms[i].argsort()[:100]].max() <= norms[i].median()
    with pytest.raises(ValueError, match="reject"):
        toy_diagnostics.jacobian_rejection(r, reject=1.0)
    # generate() draws the same latents from the same generator state, in eval mode
    assert torch.allclose(toy_train.generate(r, 200, torch.Generator().manual_seed(1)), x,
                          atol=1e-6)  # fmt: skip


def test_jacobian_sample_on_the_meta_device():
    cfg = ToyConfig(hidden=8, depth=2, seeds=(0, 1), batchnorm=True)
    net_G = toy_train.build_toy_nets(cfg, "meta")[0]
    seen = set()
    net_G.register_forward_pre_hook(lambda m, args: seen.update(a.device.type for a in args))
    Z = toy_train.toy_latents(cfg, 6, torch.Generator().manual_seed(0), "meta")[0]
    out = toy_diagnostics.jacobian_sample(net_G, Z.view(2, 6, 2), 3)
    assert {v.device.type for v in out.values()} == {"meta"} and seen == {"meta"}
    # jacobian_rejection draws its latents for the generator's device
    r = toy_train.ToyEnsemble("grid25", 1, cfg, net_G)
    with pytest.raises(NotImplementedError):  # coverage needs real numbers: the CPU copy of meta
        toy_diagnostics.jacobian_rejection(r, n=3)
    assert seen == {"meta"}
    assert out["samples"].shape == (2, 3, 2) and out["norms"].shape == (2, 6)


def test_toy_precision_recall_scores_each_seed():
    dist = toy_distribution("ring8")
    exact = dist.sample(1000, generator=torch.Generator().manual_seed(0))
    points = dist.means.repeat(125, 1)
    rows = toy_diagnostics.toy_precision_recall(torch.stack([exact, points]), "ring8")
    assert len(rows) == 2 and rows[0]["recall"] > 0.85 and rows[1]["recall"] < 0.1
    assert rows[1]["precision"] > 0.95  # the points sit on the modes: precise, not diverse
    with pytest.raises(ValueError, match="S, N, 2"):
        toy_diagnostics.toy_precision_recall(exact, "ring8")


def test_within_mode_std_ratio_closed_forms():
    dist = toy_distribution("grid25")
    g = torch.Generator().manual_seed(0)
    exact = dist.sample(200_000, generator=g)
    # a 2-D Gaussian truncated to the 3-sigma disc: per-coordinate variance
    # sigma^2 (1 - 4.5 e^-4.5 / (1 - e^-4.5)), i.e. std 0.9744 sigma
    truncated = math.sqrt(1 - 4.5 * math.exp(-4.5) / (1 - math.exp(-4.5)))
    assert toy_diagnostics.within_mode_std_ratio(exact, "grid25") == pytest.approx(truncated,
                                                                                   abs=0.004)
    # half the spread around every mean: half the ratio
    k = torch.randint(25, (50_000,), generator=g)
    half = dist.means[k] + 0.5 * dist.std * torch.randn(50_000, 2, generator=g)
    assert toy_diagnostics.within_mode_std_ratio(half, "grid25") == pytest.approx(0.5, abs=0.01)
    # uniform on the 3-sigma disc: per-coordinate std R / 2 = 1.5 sigma
    r, a = 3 * dist.std * torch.rand(50_000, generator=g).sqrt(), torch.rand(50_000, generator=g)
    disc = dist.means[k] + r[:, None] * torch.stack([(2 * math.pi * a).cos(),
                                                      (2 * math.pi * a).sin()], 1)  # fmt: skip
    assert toy_diagnostics.within_mode_std_ratio(disc, "grid25") == pytest.approx(1.5, abs=0.01)
    # collapse: each mode on one point (every mode captured, 100% high quality) scores 0
    points = dist.means.repeat(100, 1) + 0.5 * dist.std
    assert metrics.mode_coverage(points, "grid25")["high_quality"] == 1.0
    assert toy_diagnostics.within_mode_std_ratio(points, "grid25") == 0.0
    # two points per mode, +-d on one axis: population std d on that axis, 0 on the other
    pair = torch.cat([dist.means + torch.tensor([dist.std, 0.0]),
                      dist.means - torch.tensor([dist.std, 0.0])])  # fmt: skip
    assert toy_diagnostics.within_mode_std_ratio(pair, "grid25") == pytest.approx(0.5)
    assert math.isnan(toy_diagnostics.within_mode_std_ratio(dist.means[:3] + 1.0, "grid25"))


def test_toy_scores_are_the_six_numbers_per_seed_and_their_means():
    dist = toy_distribution("ring8")
    exact = dist.sample(1000, generator=torch.Generator().manual_seed(0))
    points = dist.means.repeat(125, 1)
    out = toy_diagnostics.toy_scores(torch.stack([exact, points]), "ring8")
    per = out["per_seed"]
    assert [set(p) for p in per] == [set(toy_diagnostics.SCORES)] * 2
    for k in toy_diagnostics.SCORES:
        assert out[k] == pytest.approx((per[0][k] + per[1][k]) / 2)
    assert per[0]["modes"] == per[1]["modes"] == 8
    assert per[1]["high_quality"] == 1.0 and per[1]["reverse_kl"] == pytest.approx(0.0)
    assert per[1]["recall"] < 0.1 and per[1]["within_mode_std_ratio"] == 0.0  # collapse shows
    assert per[0]["recall"] > 0.85 and 0.9 < per[0]["within_mode_std_ratio"] < 1.05
    pr = toy_diagnostics.toy_precision_recall(torch.stack([exact, points]), "ring8")
    assert [p["recall"] for p in per] == [p["recall"] for p in pr]


def test_nearest_modes_is_the_high_quality_rule():
    """toy_metrics.nearest_modes: the 3-sigma rule that mode_coverage and code_usage share."""
    from course_lib.toy_metrics import nearest_modes

    dist = toy_distribution("grid25")
    sd = dist.std
    x = dist.means[[0, 1, 2]] + torch.tensor([[0.0, 0.0], [2 * sd, 0.0], [0.0, -4 * sd]])
    d, idx, good = nearest_modes(x, "grid25")
    torch.testing.assert_close(d, torch.tensor([0.0, 2 * sd, 4 * sd]), atol=1e-6, rtol=1e-5)
    assert idx.tolist() == [0, 1, 2] and good.tolist() == [True, True, False]
    assert metrics.mode_coverage(x, "grid25")["high_quality"] == pytest.approx(2 / 3)
    with pytest.raises(ValueError, match="nearest_modes expects samples of shape"):
        nearest_modes(torch.zeros(3, 3), "grid25")


def test_code_usage_assigns_codes_to_modes():
    means = toy_distribution("ring8").means
    # codes 0 and 1 on mode 0, code 2 on mode 3 (one stray sample of code 2 on mode 0),
    # code 3 only far from every mode
    x = torch.cat([means[[0, 0, 0]], means[[3, 3, 0]], torch.zeros(2, 2)])
    codes = torch.tensor([0, 0, 1, 2, 2, 2, 3, 3])
    u = toy_diagnostics.code_usage(x, codes, "ring8", categories=5)
    assert u["codes_per_mode"].tolist() == [2, 0, 0, 1, 0, 0, 0, 0]
    assert u["distinct_codes"].tolist() == [3, 0, 0, 1, 0, 0, 0, 0]
    assert u["samples_per_mode"].tolist() == [4, 0, 0, 2, 0, 0, 0, 0]
    with pytest.raises(ValueError, match="codes"):
        toy_diagnostics.code_usage(x, codes[:3], "ring8", 5)


def test_summarise_gives_mean_and_range_over_seeds():
    r = ToyEnsemble("grid25", 1, replace(ToyConfig(), seeds=(0, 1, 2)))
    r.coverage[0] = [{"modes": 1, "high_quality": 0.0, "reverse_kl": 0.0}]  # not the last step
    r.coverage[5] = [{"modes": m, "high_quality": q, "reverse_kl": k}
                     for m, q, k in ((20, 0.1, 0.3), (25, 0.4, 0.1), (21, 0.1, 0.2))]  # fmt: skip
    s = toy_diagnostics.summarise(r)
    assert (s["modes"], s["modes_min"], s["modes_max"], s["seeds"]) == (22, 20, 25, 3)
    assert s["high_quality"] == pytest.approx(0.2) and (s["hq_min"], s["hq_max"]) == (0.1, 0.4)
    assert s["reverse_kl"] == pytest.approx(0.2)
