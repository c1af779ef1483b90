"""DCGAN for 28x28 digits (Radford et al. 2016), sized for a CPU (notebook 02).

The paper's guidelines (section 3), which both networks follow:

- no pooling: strided convolutions in D, transposed (fractionally strided) convolutions in G;
- BatchNorm in both networks, except G's output layer and D's input layer;
- ReLU in G with Tanh on the output, LeakyReLU(0.2) in D;
- weights drawn from N(0, 0.02) (BatchNorm scales from N(1, 0.02), biases 0).

Shapes: G maps Z (B, latent_dim) to images (B, 1, 28, 28) in [-1, 1] through 7x7 -> 14x14
-> 28x28 feature maps; D maps images to one logit each, shape (B,) (use it with the losses in
:mod:`course_lib.losses` and the step functions in :mod:`course_lib.gan`, which work for any
``net_G`` / ``net_D`` with these shapes).
"""

from __future__ import annotations

import torch
from torch import nn

from .config import check_choice
from .train import model_device


def dcgan_init(module: nn.Module) -> nn.Module:
    """DCGAN initialisation (paper section 4): conv weights ~ N(0, 0.02), BatchNorm weights
    ~ N(1, 0.02), biases 0. Applied in place to every submodule; returns ``module``."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.normal_(m.weight, 0.0, 0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)
    return module


class DCGANGenerator(nn.Module):
    """DCGAN generator: Z (B, latent_dim) -> images (B, 1, 28, 28) in [-1, 1].

    ConvTranspose2d 7x7 projects z to a (2 * channels) x 7 x 7 map, then two stride-2
    ConvTranspose2d (kernel 4, padding 1) double the size: 7 -> 14 -> 28. BatchNorm + ReLU
    after every layer but the last, which is Tanh (Radford et al. 2016, Fig. 1 scaled to
    MNIST). ``channels`` = 64 gives about 0.5 M parameters.

    Args:
        latent_dim: size of z (100 in the paper).
        channels: width of the 14x14 layer; the 7x7 layer has twice as many.
    """

    def __init__(self, latent_dim: int = 100, channels: int = 64) -> None:
        super().__init__()
        self.latent_dim = latent_dim
        c = channels
        self.net = nn.Sequential(
            nn.ConvTranspose2d(latent_dim, 2 * c, 7, 1, 0, bias=False),  # 1x1 -> 7x7
            nn.BatchNorm2d(2 * c),
            nn.ReLU(True),
            nn.ConvTranspose2d(2 * c, c, 4, 2, 1, bias=False),  # 7x7 -> 14x14
            nn.BatchNorm2d(c),
            nn.ReLU(True),
            nn.ConvTranspose2d(c, 1, 4, 2, 1),  # 14x14 -> 28x28
            nn.Tanh(),
        )
        dcgan_init(self)

    def forward(self, Z: torch.Tensor) -> torch.Tensor:
        """Z: (B, latent_dim) -> (B, 1, 28, 28) in [-1, 1]."""
        return self.net(Z.view(Z.shape[0], self.latent_dim, 1, 1))


class DCGANDiscriminator(nn.Module):
    """DCGAN discriminator: images (B, 1, 28, 28) in [-1, 1] -> logits (B,).

    Two stride-2 Conv2d (kernel 4, padding 1): 28 -> 14 -> 7, LeakyReLU(0.2) after each,
    BatchNorm on the second only (not on the input layer), then a 7x7 convolution to one
    logit. No sigmoid: D(x) = sigmoid(logit), applied inside the losses for stability.

    Args:
        channels: width of the 14x14 layer; the 7x7 layer has twice as many.
        norm: "batch" (BatchNorm2d, the DCGAN paper) or "layer" (``GroupNorm(1, C)``, which
            normalises each sample on its own: a WGAN-GP critic, whose gradient penalty is
            per sample, must not mix samples through batch statistics; Gulrajani et al.
            2017, section 4).
    """

    def __init__(self, channels: int = 64, norm: str = "batch") -> None:
        super().__init__()
        check_choice("norm", norm, ("batch", "layer"))
        c = channels
        self.net = nn.Sequential(
            nn.Conv2d(1, c, 4, 2, 1),  # 28 -> 14
            nn.LeakyReLU(0.2, True),
            nn.Conv2d(c, 2 * c, 4, 2, 1, bias=False),  # 14 -> 7
            nn.BatchNorm2d(2 * c) if norm == "batch" else nn.GroupNorm(1, 2 * c),
            nn.LeakyReLU(0.2, True),
            nn.Conv2d(2 * c, 1, 7, 1, 0),  # 7 -> 1
        )
        dcgan_init(self)

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        """X: (B, 1, 28, 28) -> logits (B,)."""
        return self.net(X).flatten()


# ---------------------------------------------------------------------------------------
# Notebook 02, pitfall: where each layer's size comes from
# ---------------------------------------------------------------------------------------
def conv_out_size(size: int, kernel: int, stride: int = 1, padding: int = 0) -> int:
    """Output side of Conv2d: floor((size + 2 padding - kernel) / stride) + 1."""
    return (size + 2 * padding - kernel) // stride + 1


def conv_transpose_out_size(
    size: int, kernel: int, stride: int = 1, padding: int = 0, output_padding: int = 0
) -> int:
    """Output side of ConvTranspose2d: (size - 1) stride - 2 padding + kernel + output_padding.

    With kernel 4, stride 2, padding 1 this is exactly 2 * size (7 -> 14 -> 28 in notebook 02).
    """
    return (size - 1) * stride - 2 * padding + kernel + output_padding


def copied_32x32_generator(latent_dim: int = 100) -> nn.Sequential:
    """The widely copied DCGAN generator 100 -> 512@4x4 -> 256@8x8 -> 128@16x16 -> 1@32x32.

    Often labelled "for MNIST 28x28" in comments, it makes 32x32 images (notebook 02's
    pitfall): 1 -> 4 (kernel 4, stride 1, padding 0), then three doublings 4 -> 8 -> 16 -> 32
    (kernel 4, stride 2, padding 1). Takes Z shaped (B, latent_dim, 1, 1).
    """
    return nn.Sequential(
        nn.ConvTranspose2d(latent_dim, 512, 4, 1, 0, bias=False),  # 1 -> 4
        nn.BatchNorm2d(512),
        nn.ReLU(True),
        nn.ConvTranspose2d(512, 256, 4, 2, 1, bias=False),  # 4 -> 8
        nn.BatchNorm2d(256),
        nn.ReLU(True),
        nn.ConvTranspose2d(256, 128, 4, 2, 1, bias=False),  # 8 -> 16
        nn.BatchNorm2d(128),
        nn.ReLU(True),
        nn.ConvTranspose2d(128, 1, 4, 2, 1),  # 16 -> 32, not 28
        nn.Tanh(),
    )


@torch.no_grad()
def layer_shapes(net: nn.Module, x: torch.Tensor) -> list[tuple[str, tuple[int, ...]]]:
    """Run ``x`` through ``net`` (an ``nn.Sequential`` or a module with ``.net``) layer by
    layer, on the net's device, and return ``[(layer name, output shape), ...]`` (notebook
    02's shape tables)."""
    seq = net.net if hasattr(net, "net") else net
    x = x.to(model_device(seq))
    was_training = seq.training
    seq.eval()
    out = []
    for layer in seq:
        x = layer(x)
        if isinstance(layer, (nn.Conv2d, nn.ConvTranspose2d)):
            k, s, p = layer.kernel_size[0], layer.stride[0], layer.padding[0]
            out.append((f"{type(layer).__name__}(k={k}, s={s}, p={p})", tuple(x.shape)))
    seq.train(was_training)
    return out
