"""The small MNIST classifier behind the image metrics ("classifier FID" practice).

Inception-v3 weights cannot be downloaded offline, so, like many MNIST GAN papers, the course
measures generated digits in the feature space of a small LeNet-style network of its own,
trained on mnist5k train (4,500 real digits). The weights ship as the artefact folder
``data/classifier/`` (``model.safetensors``, < 1 MB, with ``MANIFEST.json``: checksums and
provenance, the convention of :mod:`course_lib.io`); :func:`load_classifier` verifies it every
time and refuses a missing or altered file with an error that names the command that
regenerates it::

    python -m course_lib.metrics train-classifier          # rewrite data/classifier/
    python -m course_lib.metrics train-classifier --check  # retrain in memory, compare

Training is seeded (initial weights, batch order, augmentation) and takes well under two
minutes on one CPU core. It is bit-for-bit repeatable with the same torch version and CPU
type; another CPU may round differently in the last bits, which ``--check`` reports.
"""

from __future__ import annotations

import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from . import io
from .config import seeded
from .data import affine_resample, data_dir
from .train import adam

ARTEFACT_NAME = "classifier"
TRAIN_COMMAND = "python -m course_lib.metrics train-classifier"

# Training recipe (profile-independent on purpose: every learner gets the same weights).
SEED = 0
EPOCHS = 12
BATCH_SIZE = 64
LR = 2e-3
MAX_SHIFT = 2.0  # pixels; random translations make the features robust to GAN jitter


class ClassifierError(RuntimeError):
    """The shipped classifier weights are missing, altered or not ours."""


class MnistClassifier(nn.Module):
    """LeNet-style digit classifier: (B, 1, 28, 28) in [-1, 1] -> logits (B, 10).

    conv5x5(1->16) ReLU maxpool -> conv5x5(16->32) ReLU maxpool -> linear 1568->128 ReLU
    (the 128-d penultimate *features* used by FID, precision/recall, density/coverage)
    -> linear 128->10. About 215k parameters (LeCun et al. 1998 layout, ReLU and max-pool).
    """

    num_features = 128  # read by torchmetrics' FID for a custom feature extractor

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Sequential(
            nn.Conv2d(1, 16, 5, padding=2),
            nn.ReLU(),
            nn.MaxPool2d(2),  # 14x14
            nn.Conv2d(16, 32, 5, padding=2),
            nn.ReLU(),
            nn.MaxPool2d(2),  # 7x7
            nn.Flatten(),
        )
        self.fc = nn.Sequential(nn.Linear(32 * 7 * 7, self.num_features), nn.ReLU())
        self.head = nn.Linear(self.num_features, 10)

    def features(self, X: torch.Tensor) -> torch.Tensor:
        """Penultimate activations, shape (B, 128), for images (B, 1, 28, 28) in [-1, 1]."""
        return self.fc(self.conv(X))

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        """Class logits, shape (B, 10)."""
        return self.head(self.features(X))


def weights_path() -> Path:
    """Where the shipped weights live: ``data/classifier/`` (or under ``COURSE_DATA_DIR``)."""
    return data_dir() / ARTEFACT_NAME


def _random_shift(X: torch.Tensor, max_shift: float, generator: torch.Generator) -> torch.Tensor:
    """Translate each image by a random (dx, dy) in [-max_shift, max_shift] pixels."""
    n = X.shape[0]
    shift = (torch.rand(n, 2, generator=generator) * 2 - 1) * max_shift * (2 / X.shape[-1])
    theta = torch.zeros(n, 2, 3)
    theta[:, 0, 0] = theta[:, 1, 1] = 1.0
    theta[:, :, 2] = shift
    return affine_resample(X, theta)


@torch.no_grad()
def accuracy(model: nn.Module, images: torch.Tensor, labels: torch.Tensor) -> float:
    """Fraction of ``images`` (N, 1, 28, 28) in [-1, 1] whose argmax logit equals ``labels``."""
    model.eval()
    preds = torch.cat([model(x).argmax(1) for x in images.split(500)])
    return float((preds == labels).float().mean())


def train_classifier(
    train: tuple[torch.Tensor, torch.Tensor],
    test: tuple[torch.Tensor, torch.Tensor],
    *,
    epochs: int = EPOCHS,
    seed: int = SEED,
    verbose: bool = True,
) -> tuple[MnistClassifier, dict[str, float]]:
    """Train :class:`MnistClassifier` on ``train`` = (images (N, 1, 28, 28) in [-1, 1],
    labels) with Adam and random shifts (CPU); the shipped one is trained on mnist5k train
    (``python -m course_lib.metrics train-classifier``).

    Returns the model (eval mode) and ``{"train_accuracy", "test_accuracy", "seconds"}``,
    accuracies measured on the un-augmented ``train`` and on ``test``.
    """
    start = time.perf_counter()
    gen = torch.Generator().manual_seed(seed)
    with seeded(seed):
        model = MnistClassifier()
    (X, y), (X_test, y_test) = train, test
    trainer = adam(model.parameters(), lr=LR)
    steps_per_epoch = len(X) // BATCH_SIZE
    sched = torch.optim.lr_scheduler.OneCycleLR(
        trainer, max_lr=LR, total_steps=epochs * steps_per_epoch
    )
    for epoch in range(epochs):
        model.train()
        perm = torch.randperm(len(X), generator=gen)
        for i in range(steps_per_epoch):
            idx = perm[i * BATCH_SIZE : (i + 1) * BATCH_SIZE]
            loss = F.cross_entropy(model(_random_shift(X[idx], MAX_SHIFT, gen)), y[idx])
            trainer.zero_grad(set_to_none=True)
            loss.backward()
            trainer.step()
            sched.step()
        if verbose:
            print(f"epoch {epoch + 1}/{epochs}: last batch loss {loss.item():.3f}")
    stats = {
        "train_accuracy": accuracy(model, X, y),
        "test_accuracy": accuracy(model, X_test, y_test),
        "seconds": time.perf_counter() - start,
    }
    return model.eval(), stats


def save_classifier(
    model: nn.Module, stats: dict[str, float], path: str | Path | None = None
) -> Path:
    """Ship ``model`` as the artefact folder ``data/classifier/`` (atomically): safetensors
    weights, the recipe, and provenance (command, steps, seed, wall time, commit)."""
    path = weights_path() if path is None else Path(path)
    steps = EPOCHS * (4500 // BATCH_SIZE)
    recipe = dict(epochs=EPOCHS, batch_size=BATCH_SIZE, lr=LR, max_shift=MAX_SHIFT,
                  architecture="MnistClassifier")  # fmt: skip
    record = io.provenance(TRAIN_COMMAND, steps, SEED, stats["seconds"], threads=1,
                           test_accuracy=round(stats["test_accuracy"], 4))  # fmt: skip
    return io.save_weights(path, model.state_dict(), recipe, record)


def same_weights(a: nn.Module, b: nn.Module) -> bool:
    """Whether two classifiers hold bit-identical tensors (``train-classifier --check``)."""
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def load_classifier(
    path: str | Path | None = None, device: torch.device | str = "cpu"
) -> MnistClassifier:
    """Load the shipped classifier after verifying its artefact folder; eval mode, on
    ``device``.

    Raises :class:`ClassifierError` (naming the command that regenerates it) when a file is
    missing, altered or truncated, or the weights do not fit :class:`MnistClassifier`.
    """
    path = weights_path() if path is None else Path(path)
    fix = f"Regenerate it with `{TRAIN_COMMAND}` (about a minute on CPU)."
    try:
        state, _, _ = io.load_weights(path, TRAIN_COMMAND)
    except io.CheckpointError as err:
        raise ClassifierError(f"The metrics classifier was not used: {err}") from err
    with seeded(0):  # initial weights are overwritten: keep the caller's RNG stream untouched
        model = MnistClassifier()
    try:
        model.load_state_dict(state)
    except Exception as err:
        raise ClassifierError(
            f"{path} does not hold MnistClassifier weights ({err}). {fix}"
        ) from err
    return model.eval().to(device)
