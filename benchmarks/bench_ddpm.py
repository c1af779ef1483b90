"""Notebook 09: the from-scratch DDPM on mnist5k, sampled with DDPM (1000 ancestral steps)
and DDIM (eta = 0, 20 steps), in the one image protocol; wall time per image of each sampler.

The model is the shipped artefact ``data/ddpm_mnist5k/`` (``python -m course_lib.ddpm_train
train``, checksums verified by ``course_lib.ddpm_train.load_pretrained``).

- ``quality.ddpm.{fid,kid,precision,recall}`` (DDPM, all 1000 steps) and
  ``quality.ddim20.*`` (DDIM, eta = 0, 20 steps, x0 clipped like DDPM): 500 digits each,
  from sampling seed 3, scored by ``course_lib.metrics.score_images`` against the 500
  mnist5k test digits (floor: ``quality.real.*``). Held out: the shipped model's training
  stages were compared on the FIDs of seed-0 samples, so the rows use another seed.
- The DDPM-1000 scores and their wall time (18 min of one core) are reused while none of
  their inputs changes (``benchmarks/reuse.py``: checkpoint, classifier, sources, versions,
  settings); the notes say when and where they were measured. ``BENCH_REUSE=0`` measures.
- ``ddpm.<sampler><steps>.s_per_image``: wall time per image on this machine with the
  runner's torch thread count (one per worker in `make bench`, which runs modules side by
  side), so only indicative; DDPM-1000 and DDIM-20 from the 500-digit runs above, DDIM at
  10, 50 and 100 steps from 100 digits each (not scored).

Anchor: DDIM paper (Song et al. 2021) Table 1, CIFAR-10: DDIM (eta = 0) FID 6.84 at 20 steps;
DDPM with sigma_t^2 = beta-tilde_t (eta = 1, our ancestral sampler) 4.73 at 1000 steps
(Inception-FID, not comparable in absolute value; compare DDIM-20 / DDPM-1000, 1.45 there).
In the smoke profile a 10-step strided ancestral chain (DDIM with eta = 1)
stands in for DDPM's 1000 steps (15 min of one CPU thread): plumbing only.

Development record (an earlier protocol: 200 digits from seed 0 against the 500 test digits,
not comparable with the ``quality.*`` rows): classifier-FID after each training stage of the
shipped model, DDPM-1000 / DDIM-20: 48.6 / 87.3 after stage 1 (2250 steps at lr 1e-3), 40.3 /
55.9 after stage 2 (+3000 at 3e-4), 37.0 / 50.8 after stage 3 (+3000 at 1e-4). On the stage-1
model DDIM scored about 150 at every step count (DDPM 49), and DDIM-20 without clipping x0 to
[-1, 1] scored 154 against 87 with it.
"""

from __future__ import annotations

import time
from pathlib import Path

import torch

from benchmarks import quality, reuse
from benchmarks.run import machine
from benchmarks.run import record as _record
from course_lib import ddpm_train as DT
from course_lib import diffusion as D
from course_lib import diffusion_samplers as DS
from course_lib import metrics
from course_lib.config import DEFAULT_SEED, get_device, set_seed
from course_lib.train import cpu_threads

NOTES = __doc__.split("\n\n", 1)[1]
PAPER = {10: 13.36, 20: 6.84, 50: 4.67, 100: 4.16}  # Table 1, DDIM (eta = 0)
PAPER_DDPM_1000 = 4.73  # Table 1, eta = 1 (sigma^2 = beta-tilde, as our DDPM) at 1000 steps
SEED = 3  # sampling seed of every row (held out: the training stages were judged on seed 0)
TIMING_IMAGES = 100  # digits per timing-only DDIM run


def _sample(model, sched, steps: int, n: int, eta: float = 0.0) -> tuple[torch.Tensor, float]:
    """n digits (on the CPU) from sampling seed SEED and the wall time per digit: DDPM when
    ``steps`` is the schedule's length, else DDIM with ``eta``."""
    kw = dict(model=model, schedule=sched, generator=torch.Generator().manual_seed(SEED))
    start = time.perf_counter()
    if steps == sched.timesteps:
        x = DS.sample_in_batches(DS.ddpm_sample, n, **kw)
    else:
        x = DS.sample_in_batches(DS.ddim_sample, n, num_steps=steps, eta=eta, **kw)
    x = x.cpu()  # waits for queued GPU work before the clock stops
    return x, (time.perf_counter() - start) / n


def run(profile: str) -> dict[str, dict]:
    set_seed(DEFAULT_SEED)
    device = get_device()
    n = metrics.PROTOCOL["n"]
    model, info = DT.load_pretrained(device=device)
    sched = D.make_schedule(info["config"]["schedule"], info["config"]["timesteps"])
    ckpt = f"data/ddpm_mnist5k/ ({DT.describe_training(info)}, {sched.kind} schedule)"
    threads = torch.get_num_threads()
    smoke = profile == "smoke"
    out: dict[str, dict] = {}
    seconds = {}
    with cpu_threads(None):  # the runner decides (one thread per parallel worker)
        if smoke:  # a strided ancestral chain stands in for DDPM-1000
            fake, seconds[1000] = _sample(model, sched, 10, n, eta=1.0)
            what = "smoke stand-in for DDPM: 10 strided ancestral steps (DDIM eta = 1)"
            scores = {"ddpm": quality.score(fake)}
        else:  # 18 min of one core: measured again only when one of its inputs changes
            def ddpm1000() -> dict:
                fake, s = _sample(model, sched, sched.timesteps, n)
                return {"scores": quality.score(fake), "s_per_image": s,
                        "threads": torch.get_num_threads()}  # fmt: skip

            settings = {"seed": SEED, "n": n, "steps": sched.timesteps, "profile": profile,
                        "device": device.type}  # fmt: skip
            parts = reuse.inputs(Path(__file__), [DT.DEFAULT_CHECKPOINT], settings)
            got, reused = reuse.measured("ddpm1000", parts, ddpm1000, machine())
            scores, seconds[1000] = {"ddpm": got["scores"]}, got["s_per_image"]
            what = f"DDPM, all {sched.timesteps} ancestral steps ({reused})"
        fake, seconds[20] = _sample(model, sched, 20, n)
        scores["ddim20"] = quality.score(fake)
        for steps in (10, 50, 100):
            seconds[steps] = _sample(model, sched, steps, TIMING_IMAGES)[1]
    held_out = f"held-out sampling seed {SEED} (the training stages were judged on seed 0)"
    ratio = scores["ddim20"]["fid"] / scores["ddpm"]["fid"]
    out |= quality.rows(
        "ddpm",
        [scores["ddpm"]],
        profile,
        [SEED],
        f"{what}; {ckpt}",
        held_out,
        f"DDIM Table 1 CIFAR-10, eta = 1 (DDPM), 1000 steps: {PAPER_DDPM_1000} Inception-FID",
    )
    out |= quality.rows(
        "ddim20",
        [scores["ddim20"]],
        profile,
        [SEED],
        f"DDIM, eta = 0, 20 steps, x0 clipped; FID {ratio:.2f}x the quality.ddpm row's "
        f"(paper {PAPER[20]} / {PAPER_DDPM_1000} = {PAPER[20] / PAPER_DDPM_1000:.2f}); {ckpt}",
        held_out,
        f"DDIM Table 1 CIFAR-10, eta = 0, 20 steps: {PAPER[20]} Inception-FID",
    )
    for steps, s in seconds.items():
        name = f"ddpm.ddpm{steps}" if steps == 1000 else f"ddpm.ddim{steps}"
        digits = n if steps in (20, 1000) else TIMING_IMAGES
        notes = f"wall time per image, {digits} digits, {device.type}, {threads} torch threads" + (
            "; smoke: the 10-step stand-in" if smoke and steps == 1000 else ""
        )
        out[f"{name}.s_per_image"] = _record(s, "s", profile, notes, seeds=[SEED])
    return out


if __name__ == "__main__":
    import json
    import sys

    print(json.dumps(run(sys.argv[1] if len(sys.argv) > 1 else "fast"), indent=1))
