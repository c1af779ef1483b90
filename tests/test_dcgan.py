"""course_lib.dcgan: shapes, ranges, the DCGAN initialisation, and one training step."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from course_lib import gan, train
from course_lib.config import seeded
from course_lib.data import load_images
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
    with seeded(0):
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
    with seeded(0):
        G, D = DCGANGenerator(100, 8), DCGANDiscriminator(8)
        X, Z = torch.rand(8, 1, 28, 28) * 2 - 1, torch.randn(8, 100)
    trainer_G = train.adam(G.parameters(), 2e-4, (0.5, 0.999))
    trainer_D = train.adam(D.parameters(), 2e-4, (0.5, 0.999))
    before = [p.clone() for p in G.parameters()]
    out = gan.discriminator_step(X, Z, D, G, trainer_D)
    out |= gan.generator_step(Z, D, G, trainer_G)
    assert all(torch.isfinite(v) for v in out.values())
    assert 0 < out["D_real"] < 1 and 0 < out["D_fake"] < 1
    assert any(not torch.equal(a, b) for a, b in zip(before, G.parameters()))


def test_dcgan_steps_on_meta_device():
    """Conv nets on ``meta``: a stray CPU tensor anywhere in either step would raise."""
    G, D = DCGANGenerator(100, 8).to("meta"), DCGANDiscriminator(8).to("meta")
    trainer_G = train.adam(G.parameters(), 2e-4, (0.5, 0.999))
    trainer_D = train.adam(D.parameters(), 2e-4, (0.5, 0.999))
    X, Z = torch.empty(4, 1, 28, 28, device="meta"), torch.empty(4, 100, device="meta")
    out = gan.discriminator_step(X, Z, D, G, trainer_D) | gan.generator_step(Z, D, G, trainer_G)
    assert {k: v.device.type for k, v in out.items()} == dict.fromkeys(out, "meta")


def test_train_gan_trains_the_dcgan_and_tracks_batchnorm():
    X, _ = load_images("mnist5k", "train")
    with seeded(0) as g:
        G, D = DCGANGenerator(100, 8), DCGANDiscriminator(8)
    before = [p.clone() for p in G.parameters()]
    (G_out, D_out), hist = gan.train_gan(
        X[:256], 3, net_G=G, net_D=D, latent_dim=100, latent_kind="gaussian", batch_size=32,
        generator=g, log_every=1, progress=False,
    )  # fmt: skip
    assert (G_out, D_out) == (G, D) and hist["step"] == [1, 2, 3]
    assert any(not torch.equal(a, b) for a, b in zip(before, G.parameters()))
    assert G.net[1].num_batches_tracked == 6  # 3 D steps + 3 G steps ran G in train mode
    if torch.cuda.is_available():  # channels_last for conv nets on CUDA (train.prepare)
        G.to("cuda")
        gan.train_gan(X[:256], 1, net_G=G, net_D=D, latent_dim=100, batch_size=32,
                      device="cuda", progress=False)  # fmt: skip
        assert G.net[3].weight.is_contiguous(memory_format=torch.channels_last)
