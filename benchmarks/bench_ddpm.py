"""Notebook 09: the from-scratch DDPM on mnist5k, sampled with DDPM (1000 ancestral steps)
and DDIM (eta = 0) at 10/20/50/100 steps.

The model is the shipped artefact ``data/ddpm_mnist5k/`` (``python -m course_lib.ddpm_train
train``, checksums verified by ``course_lib.ddpm_train.load_pretrained``). Each sampler draws
``fid_samples`` digits (``BUDGETS["09_ddpm"]``) from seeds 0 and 1 and the FIDs are averaged
(200-digit FIDs move by several points from seed to seed; each seed's value is in the row's
notes); classifier-FID is against the 500
mnist5k test digits. The real-data floor is the FID of as many training digits (seed 3) against
the same test digits, so ``ddpm.fid_ratio_to_floor`` = 1 would be a perfect generator. Wall
times are on this machine with the runner's torch thread count (one per worker in `make bench`,
which runs modules side by side), so they are only indicative.
Anchor: DDIM paper (Song et al. 2021) Table 1, CIFAR-10, eta = 0: FID 13.36 at 10 steps, 6.84
at 20, 4.67 at 50, 4.16 at 100, 4.04 at 1000 (Inception-FID, not comparable in absolute value;
compare the trend). Goals (fast profile): ddpm.fid_ratio_to_floor <= 2 and
ddpm.ddim20_fid_ratio_to_ddpm <= 1.5.
"""

from __future__ import annotations

import torch

from benchmarks.run import record as _record
from course_lib import ddpm_train as DT
from course_lib import diffusion as D
from course_lib import diffusion_samplers as DS
from course_lib.config import DEFAULT_SEED, budget, get_device, set_seed
from course_lib.data import load_images
from course_lib.metrics import classifier_fid
from course_lib.train import cpu_threads

NOTES = __doc__.split("\n\n", 1)[1]
PAPER = {10: 13.36, 20: 6.84, 50: 4.67, 100: 4.16, 1000: 4.04}
SEEDS = (0, 1)  # sampling seeds; every FID below is their mean


def run(profile: str) -> dict[str, dict]:
    set_seed(DEFAULT_SEED)
    device = get_device()
    b = budget("09_ddpm", profile)
    n = b["fid_samples"]
    X, _ = load_images("mnist5k", "train")
    X_test, _ = load_images("mnist5k", "test")
    model, info = DT.load_pretrained(device=device)
    sched = D.make_schedule(info["config"]["schedule"], info["config"]["timesteps"])
    real = X[torch.randperm(len(X), generator=torch.Generator().manual_seed(3))[:n]]
    floor = classifier_fid(real, X_test)
    threads = torch.get_num_threads()
    seeds = SEEDS
    with cpu_threads(None):  # the runner decides (one thread per parallel worker)
        tables = {seed: DS.sampler_table(model, sched, X_test, n, (10, 20, 50, 100), seed=seed)
                  for seed in seeds}  # fmt: skip
    ckpt = f"data/ddpm_mnist5k/ ({DT.describe_training(info)}, {sched.kind} schedule)"
    per_seed = {s: {(r["sampler"], r["steps"]): r for r in rows} for s, rows in tables.items()}
    runs = list(per_seed[seeds[0]])
    fid = {run: sum(per_seed[s][run]["fid"] for s in seeds) / len(seeds) for run in runs}
    sec = {run: sum(per_seed[s][run]["seconds"] for s in seeds) / len(seeds) for run in runs}

    def each(run: tuple[str, int]) -> str:
        return ", ".join(f"seed {s}: {per_seed[s][run]['fid']:.1f}" for s in seeds)

    ddpm, ddim20 = ("DDPM", sched.timesteps), ("DDIM", 20)
    ratios = {s: per_seed[s][ddim20]["fid"] / per_seed[s][ddpm]["fid"] for s in seeds}
    mean_of = f"mean over seeds {', '.join(map(str, seeds))} ({n} samples each vs 500 test digits)"
    out = {
        "ddpm.fid": _record(fid[ddpm], "classifier-FID", profile,
                            f"DDPM 1000 steps, {mean_of}; {each(ddpm)}; {ckpt}",
                            "DDIM Table 1 CIFAR-10 (eta=0, 1000 steps): 4.04 Inception-FID",
                            seeds),
        "ddpm.fid_ratio_to_floor": _record(fid[ddpm] / floor, "ratio", profile,
                                           f"floor {floor:.2f} ({n} train vs 500 test); goal <= 2",
                                           seeds=seeds),
        "ddpm.ddim20_fid_ratio_to_ddpm": _record(
            fid[ddim20] / fid[ddpm], "ratio", profile,
            f"DDIM-20 FID / DDPM-1000 FID, both {mean_of}; per seed "
            + ", ".join(f"{s}: {r:.2f}" for s, r in ratios.items()) + "; goal <= 1.5",
            "DDIM Table 1 CIFAR-10: 6.84 / 4.04 = 1.69", seeds),
    }  # fmt: skip
    for run in runs:
        name = f"ddpm.{run[0].lower()}{run[1]}"
        anchor = f"DDIM Table 1 CIFAR-10: {PAPER.get(run[1])}"
        notes = f"{mean_of}; {each(run)}; {ckpt}"
        out[f"{name}.fid"] = _record(fid[run], "classifier-FID", profile, notes, anchor, seeds)
        per_image = f"wall time per image, {device.type}, {threads} torch threads"
        out[f"{name}.s_per_image"] = _record(sec[run] / n, "s", profile, per_image, seeds=seeds)
    return out


if __name__ == "__main__":
    import json
    import sys

    print(json.dumps(run(sys.argv[1] if len(sys.argv) > 1 else "fast"), indent=1))
