"""course_lib.overfit: the discriminator's train / held-out gap (notebook 02, section 4)."""

import pytest
import torch
from torch import nn

from course_lib import dcgan
from course_lib.overfit import discriminator_gap


class MeanPixel(nn.Module):
    """A 'discriminator' whose logit is the image's mean pixel."""

    def forward(self, x):
        return x.mean(dim=(1, 2, 3))


def test_separable_sets_score_auc_one_and_their_means():
    bright, dark = torch.full((10, 1, 4, 4), 0.5), torch.full((7, 1, 4, 4), -0.25)
    gap = discriminator_gap(MeanPixel(), bright, dark, batch_size=3)
    assert gap["auc"] == pytest.approx(1.0)
    assert gap["train"] == pytest.approx(0.5) and gap["held_out"] == pytest.approx(-0.25)
    assert discriminator_gap(MeanPixel(), dark, bright)["auc"] == pytest.approx(0.0)


def test_the_same_images_score_auc_one_half():
    X = torch.randn(20, 1, 4, 4, generator=torch.Generator().manual_seed(0))
    assert discriminator_gap(MeanPixel(), X, X.clone())["auc"] == pytest.approx(0.5)


def test_leaves_the_discriminator_as_it_was():
    """A BatchNorm D: weights, running statistics and eval mode unchanged by the measurement."""
    net_D = dcgan.DCGANDiscriminator(8).eval()
    before = {k: v.clone() for k, v in net_D.state_dict().items()}
    X = torch.rand(12, 1, 28, 28, generator=torch.Generator().manual_seed(1)) * 2 - 1
    gap = discriminator_gap(net_D, X[:6], X[6:], batch_size=4)
    assert 0.0 <= gap["auc"] <= 1.0
    assert not net_D.training
    for k, v in net_D.state_dict().items():
        assert torch.equal(v, before[k]), k


def test_empty_sets_and_bad_batch_size_are_refused():
    X = torch.zeros(3, 1, 4, 4)
    with pytest.raises(ValueError, match="at least one"):
        discriminator_gap(MeanPixel(), X[:0], X)
    with pytest.raises(ValueError, match="batch_size"):
        discriminator_gap(MeanPixel(), X, X, batch_size=0)
