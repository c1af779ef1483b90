"""Helpers added to course_lib.dcgan for notebook 02: size formulas, the copied 32x32
layout of the pitfall section, and the per-layer shape table."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from course_lib import dcgan


@pytest.mark.parametrize("size,k,s,p,o", [(1, 7, 1, 0, 0), (7, 4, 2, 1, 0), (16, 4, 2, 3, 0),
                                          (5, 3, 2, 1, 1)])  # fmt: skip
def test_conv_transpose_formula_matches_pytorch(size, k, s, p, o):
    layer = nn.ConvTranspose2d(1, 1, k, s, p, output_padding=o)
    out = layer(torch.zeros(1, 1, size, size)).shape[-1]
    assert dcgan.conv_transpose_out_size(size, k, s, p, o) == out


@pytest.mark.parametrize("size,k,s,p", [(28, 4, 2, 1), (14, 4, 2, 1), (7, 7, 1, 0), (8, 7, 1, 0)])
def test_conv_formula_matches_pytorch(size, k, s, p):
    out = nn.Conv2d(1, 1, k, s, p)(torch.zeros(1, 1, size, size)).shape[-1]
    assert dcgan.conv_out_size(size, k, s, p) == out


def test_copied_layout_makes_32x32_and_breaks_the_28x28_discriminator():
    G = dcgan.copied_32x32_generator(100)
    sizes = [shape[-1] for _, shape in dcgan.layer_shapes(G, torch.zeros(2, 100, 1, 1))]
    assert sizes == [4, 8, 16, 32]
    logits = dcgan.DCGANDiscriminator(8)(G(torch.randn(3, 100, 1, 1)))
    assert logits.shape == (12,)  # 4 logits per image, not 1


def test_padding_three_gives_28():
    assert dcgan.conv_transpose_out_size(16, 4, 2, 3) == 28


def test_layer_shapes_of_course_models_and_mode_restored():
    G = dcgan.DCGANGenerator(100, 8)
    G.train()
    shapes = dcgan.layer_shapes(G, torch.zeros(2, 100, 1, 1))
    assert [s[-1] for _, s in shapes] == [7, 14, 28]
    assert G.training
    D = dcgan.DCGANDiscriminator(8)
    assert [s[-1] for _, s in dcgan.layer_shapes(D, torch.zeros(2, 1, 28, 28))] == [14, 7, 1]


def test_layer_shapes_runs_on_the_net_device():
    """A CPU probe is moved to the net's device (meta here: a CPU tensor would raise)."""
    G = dcgan.DCGANGenerator(100, 8).to("meta")
    assert [s for _, s in dcgan.layer_shapes(G, torch.zeros(2, 100, 1, 1))] == [
        (2, 16, 7, 7), (2, 8, 14, 14), (2, 1, 28, 28)]  # fmt: skip
