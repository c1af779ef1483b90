"""Quality of the 28x28 DCGAN of notebook 02 on mnist5k.

Trained exactly as the notebook trains it: ``course_lib.dcgan.DCGANGenerator`` /
``DCGANDiscriminator`` with ``channels`` from ``BUDGETS["02_dcgan"]``, ``course_lib.gan.train_gan``
(one D step per G step, non-saturating loss, Adam 2e-4 with betas (0.5, 0.999), Gaussian
z of size 100, seed 0), then scored with ``course_lib.metrics.classifier_fid``.

- ``dcgan.fid``: classifier-FID of ``FID_SAMPLES`` (500) generated digits (latents from
  seed 2, generator in eval mode) against the 4,500 mnist5k training digits.
- ``dcgan.fid_floor``: the same distance for the 500 real mnist5k test digits: what a
  perfect generator would score at this sample size. Classifier-FID uses the course's own
  MNIST classifier, so neither number compares with Inception-FID in papers.
"""

from __future__ import annotations

import torch

from course_lib import dcgan, gan, metrics
from course_lib.config import DEFAULT_SEED, budget, get_device, seeded
from course_lib.data import load_images
from course_lib.noise import sample_latent

NOTES = __doc__.split("\n\n", 1)[1]
FID_SAMPLES = 500  # the test split has 500 digits: the real-data floor at the same size


def run(profile: str) -> dict[str, dict]:
    device = get_device()
    seed = DEFAULT_SEED
    b = budget("02_dcgan", profile)
    X, _ = load_images("mnist5k", "train")
    X_test, _ = load_images("mnist5k", "test")
    with seeded(seed) as g:  # the nets' initialisation; g: batch order and latents
        net_G = dcgan.DCGANGenerator(100, b["channels"])
        net_D = dcgan.DCGANDiscriminator(b["channels"])
    (net_G, net_D), _ = gan.train_gan(
        X, b["num_steps"], net_G=net_G, net_D=net_D, latent_dim=100, latent_kind="gaussian",
        batch_size=b["batch_size"], lr=2e-4, betas=(0.5, 0.999), generator=g, device=device,
        log_every=10, desc="bench DCGAN", threads=b["threads"], progress=False,
    )  # fmt: skip
    net_G.eval()
    with torch.no_grad():
        Z = sample_latent(FID_SAMPLES, 100, "gaussian", torch.Generator().manual_seed(2), device)
        fake = net_G(Z).float().cpu()
    n_real = min(FID_SAMPLES, len(X_test))
    fid = metrics.classifier_fid(fake, X)
    floor = metrics.classifier_fid(X_test[:n_real], X)
    hist = metrics.class_histogram(fake)
    size = f"{b['num_steps']} steps of batch {b['batch_size']}, channels {b['channels']}"
    common = {"unit": "classifier-FID (lower is better)", "profile": profile, "seeds": [seed]}
    return {
        "dcgan.fid": {
            "value": fid, "anchor": None, **common,
            "notes": f"{len(fake)} DCGAN samples vs mnist5k train; {size}; largest predicted "
            f"class {float(hist.max()):.0%}, smallest {float(hist.min()):.0%}",
        },
        "dcgan.fid_floor": {
            "value": floor, "anchor": None, **common,
            "notes": f"{n_real} real mnist5k test digits vs train (the floor at this size)",
        },
    }  # fmt: skip
