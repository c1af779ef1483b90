"""Does a GAN's discriminator memorise its training images? (notebook 02, section 4)

A discriminator trained on 4,500 digits can learn to tell *these* digits from everything
else, including real digits it has never seen. :func:`discriminator_gap` measures it: D's
logits on training images and on held-out images of the same distribution, and the AUC
between the two sets. An AUC of 0.5 means D treats unseen real digits exactly like its
training digits; 1.0 means every training digit scores above every held-out one. (Karras et
al. 2020 show this gap in their section 2 and base one of their adaptive heuristics, r_v, on
it in section 3.)

D runs as in training: on a deep copy in training mode, so BatchNorm normalises each batch with
its own statistics and D's weights, running statistics and mode are left as they were. Because
a batch's make-up then moves every logit in it, the two sets are shuffled together (a fixed
permutation) and batches hold a random mix of both: a set sorted by class (mnist5k's test
split is) would otherwise be scored in batches of two or three classes and differ from a
mixed set for that reason alone. Pass the bare discriminator, not a wrapper that behaves
differently in training mode (e.g. one that augments its input).
"""

from __future__ import annotations

import copy

import torch
from torch import nn
from torchmetrics.functional.classification import binary_auroc

from .train import model_device


@torch.no_grad()
def discriminator_gap(
    net_D: nn.Module, X_train: torch.Tensor, X_held_out: torch.Tensor, batch_size: int = 64,
    seed: int = 0,
) -> dict[str, float]:  # fmt: skip
    """D's mean logit on ``X_train`` and on ``X_held_out`` (images shaped as D's input,
    e.g. (N, 1, 28, 28) in [-1, 1]) and the AUC of the logits between the two sets. The two
    sets are shuffled together (``seed``) and scored in batches of ``batch_size`` that hold a
    random mix of both. Returns {"train": mean logit, "held_out": mean logit, "auc": in
    [0, 1]}; both sets must be non-empty."""
    if len(X_train) == 0 or len(X_held_out) == 0:
        raise ValueError("discriminator_gap needs at least one training and one held-out image")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    D = copy.deepcopy(net_D).train()
    device = model_device(D)
    X = torch.cat([X_train, X_held_out])
    is_train = torch.cat([torch.ones(len(X_train)), torch.zeros(len(X_held_out))]).long()
    order = torch.randperm(len(X), generator=torch.Generator().manual_seed(seed))
    logits = torch.empty(len(X), dtype=torch.float64)
    for i in range(0, len(X), batch_size):
        idx = order[i : i + batch_size]
        logits[idx] = D(X[idx].to(device)).flatten().double().cpu()
    auc = binary_auroc(logits, is_train).item()  # float64: no ties from a saturated sigmoid
    return {"train": logits[is_train == 1].mean().item(),
            "held_out": logits[is_train == 0].mean().item(), "auc": auc}  # fmt: skip
