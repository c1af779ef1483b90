"""course_lib.toy_nets (notebooks 03, 08): ensemble layers and networks, PacGAN packing,
minibatch stddev, ensemble BatchNorm and its precise statistics."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from course_lib import toy_nets


def test_ensemble_linear_members_are_independent_linears():
    gens = [torch.Generator().manual_seed(s) for s in (0, 1, 2)]
    layer = toy_nets.EnsembleLinear(3, 5, gens)
    x = torch.randn(3, 7, 3)
    out = layer(x)
    assert out.shape == (3, 7, 5)
    for i in range(3):
        ref = x[i] @ layer.weight[i] + layer.bias[i]
        torch.testing.assert_close(out[i], ref)
    assert not torch.equal(layer.weight[0], layer.weight[1])  # different seeds
    bound = 1 / 3**0.5  # nn.Linear's initial range for fan_in 3
    assert layer.weight.abs().max() <= bound and layer.weight.abs().max() > 0.5 * bound


def test_member_weights_depend_only_on_their_own_seed():
    a = toy_nets.ToyGenerator([0, 1], hidden=8, depth=2)
    b = toy_nets.ToyGenerator([1, 7], hidden=8, depth=2)
    torch.testing.assert_close(a.layers[0].weight[1], b.layers[0].weight[0])
    d, q = (
        toy_nets.ToyDiscriminator([0], hidden=8),
        toy_nets.ToyDiscriminator([0], hidden=8, salt=3),
    )
    assert not torch.equal(d.layers[0].weight, q.layers[0].weight)  # salt separates nets


def test_member_gradients_do_not_mix():
    net = toy_nets.ToyGenerator([0, 1], latent_dim=2, hidden=8, depth=2)
    net(torch.randn(2, 4, 2))[0].sum().backward()  # loss of member 0 only
    for p in net.parameters():
        assert p.grad[1].abs().max() == 0 and p.grad[0].abs().max() > 0


@pytest.mark.parametrize("net", [
    toy_nets.ToyGenerator([0, 1, 2], latent_dim=3, hidden=8, depth=2, batchnorm=True),
    toy_nets.ToyDiscriminator([0, 1, 2], hidden=8, pack=2, stddev_group=2),
    toy_nets.ToyDiscriminator([0, 1, 2], hidden=8, out_features=5),
])  # fmt: skip
def test_flat_member_major_rows_equal_the_stacked_form(net):
    d = net.layers[0].weight.shape[1] // getattr(net, "pack", 1)
    x = torch.randn(3, 8, d)
    stacked, flat = net(x), net(x.reshape(24, d))
    assert flat.shape[0] == stacked.shape[0] * stacked.shape[1]
    torch.testing.assert_close(flat, stacked.reshape(flat.shape))
    with pytest.raises(ValueError, match="S = 3 members"):
        net(torch.randn(7, d))


def test_pack_samples_concatenates_consecutive_samples():
    x = torch.arange(2 * 8 * 2, dtype=torch.float32).view(2, 8, 2)
    packed = toy_nets.pack_samples(x, 4)
    assert packed.shape == (2, 2, 8)
    torch.testing.assert_close(packed[0, 0], x[0, :4].flatten())
    torch.testing.assert_close(packed[1, 1], x[1, 4:].flatten())
    with pytest.raises(ValueError, match="divisible"):
        toy_nets.pack_samples(x, 3)


def test_minibatch_stddev_matches_definition():
    h = torch.randn(2, 8, 5)
    out = toy_nets.minibatch_stddev(h, group_size=4)
    assert out.shape == (2, 8, 6)
    torch.testing.assert_close(out[..., :5], h)
    expected = h[1, 4:8].std(dim=0, unbiased=False).mean()
    torch.testing.assert_close(out[1, 5, 5], expected, atol=1e-5, rtol=1e-5)
    same = torch.ones(1, 4, 3)  # a collapsed batch has zero spread
    assert toy_nets.minibatch_stddev(same, 4)[0, 0, 3] < 1e-3


def test_packed_discriminator_judges_each_pack_alone():
    D = toy_nets.ToyDiscriminator([0], hidden=8, depth=3, pack=4)
    X = torch.randn(1, 16, 2)
    out = D(X)
    assert out.shape == (1, 4)
    for j in range(4):  # one logit per pack of 4 consecutive samples, independent of the rest
        torch.testing.assert_close(out[0, j], D(X[:, 4 * j : 4 * j + 4])[0, 0])
    swapped = X.clone()
    swapped[0, [0, 1]] = X[0, [1, 0]]  # order inside a pack is part of the input
    assert not torch.allclose(D(swapped)[0, 0], out[0, 0])


def test_stddev_feature_sees_only_its_group():
    D = toy_nets.ToyDiscriminator([0], hidden=8, depth=2, stddev_group=4)
    X = torch.randn(1, 8, 2)
    other = X.clone()
    other[0, 4:] *= 10  # a wider second group
    out, out_other = D(X), D(other)
    torch.testing.assert_close(out[0, :4], out_other[0, :4])  # first group unchanged
    assert not torch.allclose(out[0, 4:], out_other[0, 4:])


def test_ensemble_batchnorm_matches_batchnorm1d_per_member():
    bn = toy_nets.EnsembleBatchNorm(2, 3)
    h = torch.randn(2, 16, 3) * 4 + 1
    out = bn(h)
    for i in range(2):
        ref = nn.BatchNorm1d(3)
        torch.testing.assert_close(out[i], ref(h[i]), atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(bn.running_mean[i, 0], ref.running_mean)
        torch.testing.assert_close(bn.running_var[i, 0], ref.running_var)
    bn.eval()  # eval uses the running statistics, so one sample alone is fine
    torch.testing.assert_close(
        bn(h[:, :1]), (h[:, :1] - bn.running_mean) / (bn.running_var + bn.eps).sqrt()
    )


def test_precise_batchnorm_sets_exact_population_statistics():
    G = toy_nets.ToyGenerator([0, 1], latent_dim=2, hidden=8, depth=2, batchnorm=True)
    assert len(G.norms) == 2
    Z = torch.randn(2, 500, 2)
    toy_nets.precise_batchnorm(G, Z)
    assert G.training and G.norms[0].momentum == 0.1  # mode and momentum restored
    h = G.layers[0](Z)
    torch.testing.assert_close(G.norms[0].running_mean, h.mean(dim=1, keepdim=True))
    torch.testing.assert_close(G.norms[0].running_var, h.var(dim=1, keepdim=True))
    G.eval()
    with torch.no_grad():  # eval with exact statistics == train mode on that same batch
        ev = G(Z)  # (up to the unbiased variance of the running estimate, 500 / 499)
        G.train()
        torch.testing.assert_close(ev, G(Z), atol=1e-2, rtol=1e-2)
