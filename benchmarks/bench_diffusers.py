"""Notebook 10: the diffusers UNet2DModel pipeline on mnist5k with swapped schedulers.

The pipeline is the shipped folder ``data/ddpm_diffusers_mnist5k/`` (``python -m
course_lib.diffusers_utils train``), checked against its MANIFEST.json and loaded offline
with ``DDPMPipeline.from_pretrained``.
``diffusers.fid``: its own DDPMScheduler with all 1000 steps; ``diffusers.dpm20_fid``:
DPMSolverMultistepScheduler (DPM-Solver++, 2nd order) with 20 steps on the same UNet. Each
draws ``fid_samples`` digits (``BUDGETS["10_diffusers_pipelines"]``) from seed 0; classifier-FID
against the 500 mnist5k test digits; the floor (as many training digits vs the test digits)
is in the notes. The runner's torch thread count (one per worker in `make bench`).
"""

from __future__ import annotations

import time

import torch

from benchmarks.run import record as _record
from course_lib import diffusers_utils as DU
from course_lib.config import DEFAULT_SEED, budget, get_device, set_seed
from course_lib.data import load_images
from course_lib.metrics import classifier_fid
from course_lib.train import cpu_threads

NOTES = __doc__.split("\n\n", 1)[1]


def run(profile: str) -> dict[str, dict]:
    set_seed(DEFAULT_SEED)
    b = budget("10_diffusers_pipelines", profile)
    n = b["fid_samples"]
    X, _ = load_images("mnist5k", "train")
    X_test, _ = load_images("mnist5k", "test")
    pipe = DU.load_pipeline().to(get_device())  # checksums checked (MANIFEST.json)
    real = X[torch.randperm(len(X), generator=torch.Generator().manual_seed(3))[:n]]
    floor = classifier_fid(real, X_test)
    out = {}
    with cpu_threads(None):  # the runner decides (one thread per parallel worker)
        for key, name, steps in (("diffusers.fid", "DDPM", 1000),
                                 ("diffusers.dpm20_fid", "DPM-Solver++", 20)):  # fmt: skip
            start = time.perf_counter()
            fake = DU.generate(DU.swap_scheduler(pipe, name), n, steps, seed=0)
            seconds = time.perf_counter() - start
            fid = classifier_fid(fake, X_test)
            out[key] = _record(fid, "classifier-FID", profile,
                               f"{name} {steps} steps, {n} samples vs 500 test digits, "
                               f"{seconds / n:.3f} s/image ({torch.get_num_threads()} threads); "
                               f"floor {floor:.2f}")  # fmt: skip
    return out


if __name__ == "__main__":
    import json
    import sys

    print(json.dumps(run(sys.argv[1] if len(sys.argv) > 1 else "fast"), indent=1))
