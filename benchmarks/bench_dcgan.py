"""Quality of the 28x28 DCGAN of notebook 02 on mnist5k, in the one image protocol.

Trained exactly as the notebook trains it (``course_lib.dcgan_train.train_dcgan``, tested to
equal the notebook's calls): ``course_lib.dcgan.DCGANGenerator`` / ``DCGANDiscriminator``
with ``channels`` from ``BUDGETS["02_dcgan"]``, ``course_lib.gan.train_gan`` (one D step per
G step, non-saturating loss, Adam ``dcgan_train.LR`` = 2e-3 for both players with betas
(0.5, 0.999), Gaussian z of size 100, the notebook's precision and layout
``dcgan_train.fast_bf16`` and ``fast_channels_last``: bf16 autocast on D's forward passes
and both networks in channels_last on a CPU with native bf16 (the machine column says
whether it has them), fp32 and the default layout on other CPUs), on one thread per bench
worker (the notebook uses two: the same recipe, another floating-point summation order). The
learning rate and the number of steps were chosen on seeds 0-2
(``experiments/dcgan/README.md``), so the rows are the mean over the held-out seeds 3, 4 and
5. ``quality.dcgan.{fid,kid,precision,recall}``: 500 samples (latents from seed 2, generator
in eval mode, as in the notebook) scored by ``course_lib.metrics.score_images`` against the
500 mnist5k test digits; the real-data floor and the calibration rows are ``quality.real.*``
and ``quality.calibration.*`` (bench_metrics). Classifier features, so no number compares
with Inception-FID in papers.

``quality.dcgan_shipped.*``: the generator shipped in ``data/dcgan_mnist5k/`` (the same
networks trained for 40,000 steps at Adam 2e-3 on notebook 02's precision and layout by
``python -m course_lib.dcgan_train train``, the moving average of G's weights; see its
MANIFEST.json), loaded with its checksums and
scored on the same 500 latents. Issue
19's goal: FID <= ``quality.calibration.noise_0.25.fid``.
"""

from __future__ import annotations

import torch

from benchmarks import quality
from course_lib import dcgan_train, metrics
from course_lib.config import budget, get_device
from course_lib.data import load_images

NOTES = __doc__.split("\n\n", 1)[1]
HELD_OUT_SEEDS = [3, 4, 5]


def run(profile: str) -> dict[str, dict]:
    device = get_device()
    b = budget("02_dcgan", profile)
    X, _ = load_images("mnist5k", "train")
    Z = dcgan_train.protocol_latents(device)  # the notebook's latents
    scores, hists = [], []
    for seed in HELD_OUT_SEEDS:
        (net_G, _), _ = dcgan_train.train_dcgan(  # the notebook's recipe and calls (tested)
            X, b["num_steps"], channels=b["channels"], batch_size=b["batch_size"], seed=seed,
            device=device, threads=1, progress=False,
        )  # fmt: skip
        with torch.no_grad():
            fake = net_G(Z).float().cpu()
        scores.append(quality.score(fake))
        hists.append(metrics.class_histogram(fake))
    shipped, info = dcgan_train.load_pretrained(device=device)  # checksums checked
    with torch.no_grad():
        fake_shipped = shipped(Z).float().cpu()
    out = quality.rows(
        "dcgan_shipped", [quality.score(fake_shipped)], profile,
        [info["provenance"].get("seed", 0)],
        f"notebook 02's DCGAN trained longer, shipped in data/dcgan_mnist5k: "
        f"{dcgan_train.describe(info)}, weights sha256 {info['files']['model.safetensors'][:12]}",
        f"trained on seed {info['provenance'].get('seed', '?')} (held out: the recipe was "
        "chosen on seeds 0-2), scored on the notebook's latents",
    )  # fmt: skip
    largest = max(float(h.max()) for h in hists)
    smallest = min(float(h.min()) for h in hists)
    return out | quality.rows(
        "dcgan", scores, profile, HELD_OUT_SEEDS,
        f"DCGAN of notebook 02, {b['num_steps']} steps of batch {b['batch_size']}, channels "
        f"{b['channels']}, Adam {dcgan_train.LR:g}; largest predicted class over the seeds "
        f"{largest:.0%}, smallest {smallest:.0%}",
        "held-out seeds 3-5 (the learning rate and the steps were chosen on seeds 0-2)",
    )  # fmt: skip
