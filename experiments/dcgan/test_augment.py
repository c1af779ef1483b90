"""DiffAugment (experiments/dcgan/augment.py): shifts, cutout squares, gradients, wrapper."""

import augment  # experiments/dcgan/augment.py (not adopted by the course yet)
import pytest
import torch


def _images(n=6, side=8):
    g = torch.Generator().manual_seed(0)
    return torch.rand(n, 1, side, side, generator=g) * 2 - 1


def test_translation_is_an_exact_integer_shift_with_background_fill():
    x = _images()
    y = augment.translate(x, 0.25, torch.Generator().manual_seed(3), fill=-1.0)
    for xi, yi in zip(x, y):
        # some shift (dy, dx) in [-2, 2]^2 reproduces yi exactly from xi padded with -1
        padded = torch.nn.functional.pad(xi, (2, 2, 2, 2), value=-1.0)
        found = any(torch.equal(yi, padded[:, 2 - dy:10 - dy, 2 - dx:10 - dx])
                    for dy in range(-2, 3) for dx in range(-2, 3))  # fmt: skip
        assert found
    assert not torch.equal(x, y)  # with 6 images some shift is non-zero


def test_translation_ratio_zero_is_identity():
    x = _images()
    assert torch.equal(augment.translate(x, 0.0), x)


def test_cutout_paints_one_square_with_the_fill():
    x = _images(n=20, side=12)
    y = augment.cutout(x, 0.25, torch.Generator().manual_seed(1), fill=-5.0)
    changed = y != x
    assert torch.all(y[changed] == -5.0)
    for m in changed[:, 0]:
        rows, cols = m.any(1).nonzero().flatten(), m.any(0).nonzero().flatten()
        assert len(rows) <= 3 and len(cols) <= 3  # side 0.25 * 12 = 3
        assert int(m.sum()) == len(rows) * len(cols)  # a (clipped) rectangle


def test_brightness_and_contrast_change_each_image_differently():
    x = _images()
    b = augment.brightness(x, torch.Generator().manual_seed(0)) - x
    offsets = b.flatten(1)
    assert torch.allclose(offsets, offsets[:, :1].expand_as(offsets))
    assert offsets[:, 0].unique().numel() == len(x)
    c = augment.contrast(x, torch.Generator().manual_seed(0))
    assert torch.allclose(c.mean((1, 2, 3)), x.mean((1, 2, 3)), atol=1e-6)


def test_gradient_flows_through_every_policy():
    x = _images().requires_grad_(True)
    y = augment.diff_augment(x, augment.POLICIES, generator=torch.Generator().manual_seed(0))
    y.sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_same_generator_seed_same_augmentation():
    x = _images()
    a = augment.diff_augment(x, generator=torch.Generator().manual_seed(7))
    b = augment.diff_augment(x, generator=torch.Generator().manual_seed(7))
    assert torch.equal(a, b)


def test_wrapper_augments_in_training_only_and_shares_parameters():
    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 1))
    wrapped = augment.DiffAugment(
        net, ("translation", "cutout"), generator=torch.Generator().manual_seed(0)
    )
    x = _images()
    assert list(wrapped.parameters()) == list(net.parameters())
    assert not torch.equal(wrapped(x), net(x))
    wrapped.eval()
    assert torch.equal(wrapped(x), net(x))


def test_unknown_policy_and_wrong_shape_are_clear_errors():
    with pytest.raises(ValueError, match="rotation"):
        augment.DiffAugment(torch.nn.Identity(), ("rotation",))
    with pytest.raises(ValueError, match="B, C, H, W"):
        augment.diff_augment(torch.zeros(3, 8, 8))


def test_instance_noise_only_in_training_and_with_the_given_sigma():
    seen = []
    net = augment.InstanceNoise(RecordInput(seen), 0.5, generator=torch.Generator().manual_seed(0))
    x = torch.zeros(4000, 1, 2, 2)
    net(x)
    assert abs(seen[-1].std().item() - 0.5) < 0.01
    net.eval()
    net(x)
    assert torch.equal(seen[-1], x)
    with pytest.raises(ValueError):
        augment.InstanceNoise(RecordInput(seen), -0.1)


def test_with_dropout_adds_one_dropout_after_each_leaky_relu_and_keeps_the_weights():
    from course_lib.dcgan import DCGANDiscriminator

    torch.manual_seed(0)
    d = DCGANDiscriminator(8)
    before = [p.clone() for p in d.parameters()]
    augment.with_dropout(d, 0.3)
    kinds = [type(m).__name__ for m in d.net]
    assert kinds.count("Dropout") == 2
    assert [kinds[i + 1] for i, k in enumerate(kinds) if k == "LeakyReLU"] == ["Dropout"] * 2
    assert all(torch.equal(a, b) for a, b in zip(before, d.parameters()))
    x = _images(4, 28)
    d.eval()
    assert torch.equal(d(x), d(x))  # eval: no dropout
    d.train()
    torch.manual_seed(1)
    a = d(x)
    torch.manual_seed(2)
    assert not torch.equal(a, d(x))
    with pytest.raises(ValueError):
        augment.with_dropout(DCGANDiscriminator(8), 1.0)


class RecordInput(torch.nn.Module):
    """Records its input, returns a zero logit per image."""

    def __init__(self, seen):
        super().__init__()
        self.seen = seen

    def forward(self, x):
        self.seen.append(x.clone())
        return x.new_zeros(len(x))


def test_hinge_losses_replace_the_bce_pair_only_while_open():
    import da_screen

    from course_lib import gan

    real, fake = torch.tensor([2.0, 0.5]), torch.tensor([-2.0, 0.5])
    bce = gan.discriminator_loss(real, fake)
    with da_screen.hinge_losses():
        # relu(1 - real) = [0, 0.5], relu(1 + fake) = [0, 1.5]
        assert torch.isclose(gan.discriminator_loss(real, fake), torch.tensor(0.25 + 0.75))
        assert torch.isclose(gan.generator_loss(fake, "non_saturating"), torch.tensor(0.75))
    assert torch.equal(gan.discriminator_loss(real, fake), bce)
