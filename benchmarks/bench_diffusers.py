"""Notebook 10: the diffusers UNet2DModel pipeline on mnist5k with swapped schedulers, in the
one image protocol.

The pipeline is the shipped folder ``data/ddpm_diffusers_mnist5k/`` (``python -m
course_lib.diffusers_utils train``), checked against its MANIFEST.json and loaded offline
with ``DDPMPipeline.from_pretrained``.

- ``quality.diffusers.{fid,kid,precision,recall}``: its own DDPMScheduler with all 1000
  steps; ``quality.diffusers_dpm20.*``: DPMSolverMultistepScheduler (DPM-Solver++, 2nd order,
  x0 thresholded to [-1, 1] by ``course_lib.diffusers_utils.swap_scheduler``) with 20 steps
  on the same UNet. Each draws 500 digits from sampling seed 3 (held out: the thresholding
  was chosen by looking at seed-0 samples, which notebook 10's table also uses), scored by
  ``course_lib.metrics.score_images`` against the 500 mnist5k test digits (floor:
  ``quality.real.*``). Wall time per image is in the notes (the runner's torch thread
  count: one per worker in `make bench`). In the smoke profile DDPMScheduler runs 10
  strided inference steps instead of 1000 (plumbing only). The DDPM-1000 row (about an hour of one
  core) is reused while none of its inputs changes (``benchmarks/reuse.py``: pipeline files,
  classifier, sources, versions, settings); its notes say when and where it was measured.
  ``BENCH_REUSE=0`` measures it again.
"""

from __future__ import annotations

import time
from pathlib import Path

import torch

from benchmarks import quality, reuse
from benchmarks.run import machine
from course_lib import diffusers_utils as DU
from course_lib import metrics
from course_lib.config import DEFAULT_SEED, get_device, set_seed
from course_lib.train import cpu_threads

NOTES = __doc__.split("\n\n", 1)[1]
SEED = 3  # sampling seed (held out: the DPM-Solver thresholding was judged on seed 0)


def run(profile: str) -> dict[str, dict]:
    set_seed(DEFAULT_SEED)
    n = metrics.PROTOCOL["n"]
    pipe = DU.load_pipeline().to(get_device())  # checksums checked (MANIFEST.json)
    ddpm_steps = 10 if profile == "smoke" else 1000
    out = {}
    with cpu_threads(None):  # the runner decides (one thread per parallel worker)
        for model, name, steps in (("diffusers", "DDPM", ddpm_steps),
                                   ("diffusers_dpm20", "DPM-Solver++", 20)):  # fmt: skip
            def measure(name=name, steps=steps) -> dict:
                start = time.perf_counter()
                fake = DU.generate(DU.swap_scheduler(pipe, name), n, steps, seed=SEED)
                return {"scores": quality.score(fake), "threads": torch.get_num_threads(),
                        "s_per_image": (time.perf_counter() - start) / n}  # fmt: skip

            if steps == 1000:  # ~1 h of one core: measured again only when an input changes
                settings = {"seed": SEED, "n": n, "scheduler": name, "steps": steps,
                            "profile": profile, "device": str(pipe.device.type)}  # fmt: skip
                parts = reuse.inputs(Path(__file__), [DU.DEFAULT_PIPELINE], settings)
                got, how = reuse.measured("diffusers_ddpm1000", parts, measure, machine())
                how = f"; {how}"
            else:
                got, how = measure(), ""
            out |= quality.rows(
                model, [got["scores"]], profile, [SEED],
                f"{name} {steps} steps on the shipped UNet2DModel, {got['s_per_image']:.3f} "
                f"s/image ({got['threads']} threads){how}",
                f"held-out sampling seed {SEED} (DPM-Solver's thresholding was chosen on seed 0)",
            )  # fmt: skip
    return out


if __name__ == "__main__":
    import json
    import sys

    print(json.dumps(run(sys.argv[1] if len(sys.argv) > 1 else "fast"), indent=1))
