"""A small time-conditioned U-Net for 28x28 digits (notebooks 09 and 10).

The network predicts the noise eps in x_t = sqrt(abar_t) x_0 + sqrt(1 - abar_t) eps (Ho et
al. 2020, eq. 4) from x_t and the timestep t. It is the DDPM U-Net (Ho et al., appendix B,
after PixelCNN++ and Ronneberger et al. 2015) shrunk for MNIST on a CPU:

- the timestep t becomes a sinusoidal vector (Vaswani et al. 2017, section 3.5), then an MLP;
- every residual block adds a projection of that vector to its feature maps, so one set of
  weights denoises at every noise level;
- resolution 28 -> 14 -> 7 and back, with skip connections between matching resolutions;
- GroupNorm + SiLU, no attention (at 7x7 it buys little for digits and costs time).

Shapes: x (B, 1, 28, 28) in roughly [-1, 1] (noisier at large t), t (B,) long in [0, T);
output (B, 1, 28, 28). Any H, W divisible by 2 ** (len(channels) - 1) works.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn


@dataclass(frozen=True)
class UNetConfig:
    """Hyper-parameters of :class:`UNet` (stored in checkpoints so a loader can rebuild it)."""

    in_channels: int = 1  # image channels (1 for MNIST)
    channels: tuple[int, ...] = (32, 64, 64)  # feature maps at 28x28, 14x14, 7x7
    time_dim: int = 128  # width of the time embedding
    groups: int = 8  # GroupNorm groups (must divide every entry of channels)
    dropout: float = 0.0  # inside residual blocks

    def to_dict(self) -> dict:
        return {**asdict(self), "channels": list(self.channels)}


def timestep_embedding(t: torch.Tensor, dim: int, max_period: float = 10000.0) -> torch.Tensor:
    """Sinusoidal embedding of integer timesteps: (B,) -> (B, dim).

    emb[:, i] = sin(t / max_period^(i / half)) and emb[:, half + i] = cos(...), i < dim / 2
    (Vaswani et al. 2017, section 3.5; used for t by Ho et al. 2020, appendix B).
    """
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, device=t.device) / half)
    args = t.float()[:, None] * freqs[None]
    return torch.cat([torch.sin(args), torch.cos(args)], dim=1)


class ResBlock(nn.Module):
    """GroupNorm-SiLU-conv twice, plus the time embedding added in between, plus a skip."""

    def __init__(self, c_in: int, c_out: int, time_dim: int, groups: int, dropout: float = 0.0):
        super().__init__()
        self.norm1 = nn.GroupNorm(groups, c_in)
        self.conv1 = nn.Conv2d(c_in, c_out, 3, padding=1)
        self.time = nn.Linear(time_dim, c_out)
        self.norm2 = nn.GroupNorm(groups, c_out)
        self.dropout = nn.Dropout(dropout)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1)
        self.skip = nn.Conv2d(c_in, c_out, 1) if c_in != c_out else nn.Identity()

    def forward(self, x: torch.Tensor, temb: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        h = h + self.time(temb)[:, :, None, None]  # the same shift at every pixel
        h = self.conv2(self.dropout(F.silu(self.norm2(h))))
        return h + self.skip(x)


class UNet(nn.Module):
    """eps_theta(x_t, t): the noise-prediction network of notebooks 09 (and 10's comparison).

    ``UNet()`` builds the course default (channels 32/64/64, about 0.6 M parameters);
    ``UNet(UNetConfig(channels=(64, 128, 128)))`` a wider one.
    """

    def __init__(self, config: UNetConfig | None = None):
        super().__init__()
        self.config = cfg = config or UNetConfig()
        chs, tdim, g = cfg.channels, cfg.time_dim, cfg.groups
        self.time_mlp = nn.Sequential(nn.Linear(tdim, tdim), nn.SiLU(), nn.Linear(tdim, tdim))
        self.inc = nn.Conv2d(cfg.in_channels, chs[0], 3, padding=1)
        # Encoder: one residual block per resolution, then a stride-2 conv (not after the last).
        self.down = nn.ModuleList()
        self.downsample = nn.ModuleList()
        c_prev = chs[0]
        for i, c in enumerate(chs):
            self.down.append(ResBlock(c_prev, c, tdim, g, cfg.dropout))
            last = i == len(chs) - 1
            self.downsample.append(nn.Identity() if last else nn.Conv2d(c, c, 3, 2, padding=1))
            c_prev = c
        self.mid = nn.ModuleList([ResBlock(c_prev, c_prev, tdim, g, cfg.dropout) for _ in range(2)])
        # Decoder: concatenate the encoder's feature map at the same resolution, then upsample.
        self.up = nn.ModuleList()
        self.upsample = nn.ModuleList()
        for i in reversed(range(len(chs))):
            self.up.append(ResBlock(c_prev + chs[i], chs[i], tdim, g, cfg.dropout))
            c_prev = chs[i]
            first = i == 0
            self.upsample.append(
                nn.Identity()
                if first
                else nn.Sequential(
                    nn.Upsample(scale_factor=2, mode="nearest"),
                    nn.Conv2d(chs[i], chs[i - 1], 3, padding=1),
                )
            )
            c_prev = chs[i] if first else chs[i - 1]
        self.out = nn.Sequential(
            nn.GroupNorm(g, chs[0]), nn.SiLU(), nn.Conv2d(chs[0], cfg.in_channels, 3, padding=1)
        )
        nn.init.zeros_(self.out[-1].weight)  # start by predicting eps = 0: a stable first step
        nn.init.zeros_(self.out[-1].bias)

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        if t.dim() == 0:
            t = t.expand(x.shape[0])
        temb = self.time_mlp(timestep_embedding(t, self.config.time_dim))
        h = self.inc(x)
        skips = []
        for block, down in zip(self.down, self.downsample):
            h = block(h, temb)
            skips.append(h)
            h = down(h)
        for block in self.mid:
            h = block(h, temb)
        for block, up in zip(self.up, self.upsample):
            h = block(torch.cat([h, skips.pop()], dim=1), temb)
            h = up(h)
        return self.out(h)
