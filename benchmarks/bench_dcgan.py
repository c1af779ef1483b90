"""Quality of the 28x28 DCGAN of notebook 02 on mnist5k, in the one image protocol.

Trained exactly as the notebook trains it (``course_lib.dcgan_train.train_dcgan``, tested to
equal the notebook's calls): ``course_lib.dcgan.DCGANGenerator`` / ``DCGANDiscriminator``
with ``channels`` from ``BUDGETS["02_dcgan"]``, ``course_lib.gan.train_gan`` (one D step
per G step, non-saturating loss, Adam 2e-4 with betas (0.5, 0.999), Gaussian z of size
100, seed 0). ``quality.dcgan.{fid,kid,precision,recall}``: 500 samples (latents
from seed 2, generator in eval mode, as in the notebook) scored by
``course_lib.metrics.score_images`` against the 500 mnist5k test digits; the real-data floor
and the calibration rows are ``quality.real.*`` and ``quality.calibration.*``
(bench_metrics). Classifier features, so no number compares with Inception-FID in papers.

``quality.dcgan_shipped.*``: the generator shipped in ``data/dcgan_mnist5k/`` (the same
networks and recipe trained for longer by ``python -m course_lib.dcgan_train train``, see
its MANIFEST.json), loaded with its checksums and scored on the same 500 latents. Issue
19's goal: FID <= ``quality.calibration.noise_0.25.fid``.
"""

from __future__ import annotations

import torch

from benchmarks import quality
from course_lib import dcgan_train, metrics
from course_lib.config import DEFAULT_SEED, budget, get_device
from course_lib.data import load_images
from course_lib.noise import sample_latent

NOTES = __doc__.split("\n\n", 1)[1]


def run(profile: str) -> dict[str, dict]:
    device = get_device()
    seed = DEFAULT_SEED
    b = budget("02_dcgan", profile)
    X, _ = load_images("mnist5k", "train")
    (net_G, _), _ = dcgan_train.train_dcgan(  # the notebook's recipe and calls (tested)
        X, b["num_steps"], channels=b["channels"], batch_size=b["batch_size"], seed=seed,
        device=device, threads=b["threads"], progress=False,
    )  # fmt: skip
    with torch.no_grad():
        Z = sample_latent(metrics.PROTOCOL["n"], dcgan_train.LATENT_DIM, "gaussian",
                          torch.Generator().manual_seed(2), device)  # fmt: skip
        fake = net_G(Z).float().cpu()
    hist = metrics.class_histogram(fake)
    shipped, info = dcgan_train.load_pretrained(device=device)  # checksums checked
    with torch.no_grad():
        fake_shipped = shipped(Z).float().cpu()
    out = quality.rows(
        "dcgan_shipped", [quality.score(fake_shipped)], profile, [seed],
        f"notebook 02's DCGAN trained longer, shipped in data/dcgan_mnist5k: "
        f"{dcgan_train.describe(info)}, weights sha256 {info['files']['model.safetensors'][:12]}",
        "seed 0, the notebook's latents (nothing selected on seeds)",
    )  # fmt: skip
    return out | quality.rows(
        "dcgan", [quality.score(fake)], profile, [seed],
        f"DCGAN of notebook 02, {b['num_steps']} steps of batch {b['batch_size']}, channels "
        f"{b['channels']}; largest predicted class {float(hist.max()):.0%}, smallest "
        f"{float(hist.min()):.0%}",
        "seed 0, the notebook's run (not a held-out seed; the recipe, Radford et al.'s, was not "
        "tuned on seeds)",
    )  # fmt: skip
