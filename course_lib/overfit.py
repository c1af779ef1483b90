"""Does a GAN's discriminator memorise its training images? (notebook 02, section 4)

A discriminator trained on 4,500 digits can learn to tell *these* digits from everything
else, including real digits it has never seen. :func:`discriminator_gap` measures it: D's
logits on training images and on held-out images of the same distribution, and the AUC
between the two sets (Karras et al. 2020, section 2, watch the same gap to decide how much to
augment). An AUC of 0.5 means D treats unseen real digits exactly like its training digits; 1.0
means every training digit scores above every held-out one.

The measurement runs on a deep copy of D in training mode (BatchNorm on batch statistics,
as D saw its inputs in training), so D's weights, running statistics and mode are left as
they were. It uses no random numbers.
"""

from __future__ import annotations

import copy

import torch
from torch import nn
from torchmetrics.functional.classification import binary_auroc

from .train import model_device


@torch.no_grad()
def discriminator_gap(
    net_D: nn.Module, X_train: torch.Tensor, X_held_out: torch.Tensor, batch_size: int = 64
) -> dict[str, float]:
    """D's mean logit on ``X_train`` and on ``X_held_out`` (images shaped as D's input,
    e.g. (N, 1, 28, 28) in [-1, 1]), in batches of ``batch_size``, and the AUC of the logits
    between the two sets. Returns {"train": mean logit, "held_out": mean logit, "auc": in
    [0, 1]}; both sets must be non-empty."""
    if len(X_train) == 0 or len(X_held_out) == 0:
        raise ValueError("discriminator_gap needs at least one training and one held-out image")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    D = copy.deepcopy(net_D).train()
    device = model_device(D)

    def logits(X: torch.Tensor) -> torch.Tensor:
        return torch.cat([D(X[i : i + batch_size].to(device)).float().flatten().cpu()
                          for i in range(0, len(X), batch_size)])  # fmt: skip

    train, held_out = logits(X_train), logits(X_held_out)
    target = torch.cat([torch.ones(len(train)), torch.zeros(len(held_out))]).long()
    auc = binary_auroc(torch.cat([train, held_out]), target).item()
    return {"train": train.mean().item(), "held_out": held_out.mean().item(), "auc": auc}
