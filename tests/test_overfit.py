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
    assert discriminator_gap(net_D, X[:6], X[6:], batch_size=4) == gap  # a fixed shuffle
    assert not net_D.training
    for k, v in net_D.state_dict().items():
        assert torch.equal(v, before[k]), k


class Spy(nn.Module):
    """Records the batches it sees in a list that survives deepcopy; logit = mean pixel."""

    def __init__(self, seen: list):
        super().__init__()
        self.seen = seen

    def __deepcopy__(self, memo):
        return Spy(self.seen)

    def forward(self, x):
        self.seen.append(x.mean(dim=(1, 2, 3)))
        return x.mean(dim=(1, 2, 3))


def test_every_batch_mixes_the_two_sets():
    """Batch statistics depend on a batch's make-up, so the sets must share batches: a
    training set of +1 images and a held-out set of -1 images never get batches of their own."""
    seen = []
    discriminator_gap(Spy(seen), torch.ones(40, 1, 2, 2), -torch.ones(40, 1, 2, 2), batch_size=16)
    assert sum(len(b) for b in seen) == 80
    mixed = [bool((b > 0).any() and (b < 0).any()) for b in seen]
    assert all(mixed), mixed


def test_large_logits_do_not_tie():
    """Logits far past a float32 sigmoid's saturation still rank (AUC 0, not 0.5)."""
    gap = discriminator_gap(MeanPixel(), torch.full((5, 1, 2, 2), 20.0),
                            torch.full((5, 1, 2, 2), 25.0))  # fmt: skip
    assert gap["auc"] == pytest.approx(0.0)


def test_empty_sets_and_bad_batch_size_are_refused():
    X = torch.zeros(3, 1, 4, 4)
    with pytest.raises(ValueError, match="at least one"):
        discriminator_gap(MeanPixel(), X[:0], X)
    with pytest.raises(ValueError, match="batch_size"):
        discriminator_gap(MeanPixel(), X, X, batch_size=0)
