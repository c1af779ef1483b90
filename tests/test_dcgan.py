"""course_lib.dcgan: shapes, ranges, the DCGAN initialisation, and one training step."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from course_lib import gan, train
from course_lib.dcgan import DCGANDiscriminator, DCGANGenerator, dcgan_init


@pytest.mark.parametrize("channels", [8, 64])
def test_shapes_and_ranges(channels):
    G, D = DCGANGenerator(100, channels), DCGANDiscriminator(channels)
    X = G(torch.randn(5, 100))
    assert X.shape == (5, 1, 28, 28)
    assert X.min() >= -1 and X.max() <= 1
    assert D(X).shape == (5,)


def test_feature_map_sizes_follow_7_14_28():
    G = DCGANGenerator(100, 16)
    sizes, h = [], torch.randn(2, 100, 1, 1)
    for layer in G.net:
        h = layer(h)
        if isinstance(layer, nn.ConvTranspose2d):
            sizes.append(h.shape[-1])
    assert sizes == [7, 14, 28]


def test_dcgan_initialisation():
    torch.manual_seed(0)
    G = DCGANGenerator(100, 64)
    w = G.net[3].weight.detach()  # 128 x 64 x 4 x 4 transposed conv
    assert abs(float(w.mean())) < 1e-3 and float(w.std()) == pytest.approx(0.02, rel=0.05)
    bn = G.net[1].requires_grad_(False)
    assert (
        float(bn.weight.mean()) == pytest.approx(1.0, abs=0.01) and float(bn.bias.abs().max()) == 0
    )
    D = dcgan_init(DCGANDiscriminator(64)).requires_grad_(False)
    assert float(D.net[0].bias.abs().max()) == 0


def test_discriminator_has_no_batchnorm_on_input_and_leaky_relu():
    D = DCGANDiscriminator(16)
    assert isinstance(D.net[0], nn.Conv2d) and isinstance(D.net[1], nn.LeakyReLU)
    assert D.net[1].negative_slope == 0.2
    assert not any(isinstance(m, nn.Sigmoid) for m in D.modules())


def test_one_training_step_with_course_step_functions():
    torch.manual_seed(0)
    G, D = DCGANGenerator(100, 8), DCGANDiscriminator(8)
    opt_G, opt_D = (
        train.adam(G.parameters(), 2e-4, (0.5, 0.999)),
        train.adam(D.parameters(), 2e-4, (0.5, 0.999)),
    )
    before = [p.clone() for p in G.parameters()]
    X, Z = torch.rand(8, 1, 28, 28) * 2 - 1, torch.randn(8, 100)
    out = {**gan.discriminator_step(X, Z, D, G, opt_D), **gan.generator_step(Z, D, G, opt_G)}
    assert all(torch.isfinite(v) for v in out.values())
    assert any(not torch.equal(a, b) for a, b in zip(before, G.parameters()))
