"""Notebook 09: the from-scratch DDPM on mnist5k, sampled with DDPM (1000 ancestral steps)
and DDIM (eta = 0) at 10/20/50/100 steps.

The model is the shipped checkpoint ``data/ddpm_mnist5k.pt`` (``python -m course_lib.diffusion
train``, checksum verified by ``course_lib.diffusion.load_pretrained``). Each sampler draws
``fid_samples`` digits (``BUDGETS["09_ddpm"]``) from seed 0; classifier-FID is against the 500
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
from course_lib import diffusion as D
from course_lib.config import DEFAULT_SEED, budget, get_device, set_seed
from course_lib.data import load_images
from course_lib.metrics import classifier_fid
from course_lib.train import cpu_threads

NOTES = __doc__.split("\n\n", 1)[1]
PAPER = {10: 13.36, 20: 6.84, 50: 4.67, 100: 4.16, 1000: 4.04}


def run(profile: str) -> dict[str, dict]:
    set_seed(DEFAULT_SEED)
    device = get_device()
    b = budget("09_ddpm", profile)
    n = b["fid_samples"]
    X, _ = load_images("mnist5k", "train")
    X_test, _ = load_images("mnist5k", "test")
    model, payload = D.load_pretrained(device=device)
    train = payload["extra"]["train"]
    sched = D.make_schedule(train["schedule"], train["timesteps"])
    real = X[torch.randperm(len(X), generator=torch.Generator().manual_seed(3))[:n]]
    floor = classifier_fid(real, X_test)
    threads = torch.get_num_threads()
    with cpu_threads(None):  # the runner decides (one thread per parallel worker)
        rows = D.sampler_table(model, sched, X_test, n, (10, 20, 50, 100), device=device)
    ckpt = f"data/ddpm_mnist5k.pt ({payload['step']} steps, {train['schedule']} schedule)"
    by = {(r["sampler"], r["steps"]): r for r in rows}
    ddpm = by[("DDPM", sched.timesteps)]
    out = {
        "ddpm.fid": _record(ddpm["fid"], "classifier-FID", profile,
                            f"DDPM 1000 steps, {n} samples vs 500 test digits; {ckpt}",
                            "DDIM Table 1 CIFAR-10 (eta=0, 1000 steps): 4.04 Inception-FID"),
        "ddpm.fid_ratio_to_floor": _record(ddpm["fid"] / floor, "ratio", profile,
                                           f"floor {floor:.2f} ({n} train vs 500 test); goal <= 2"),
        "ddpm.ddim20_fid_ratio_to_ddpm": _record(
            by[("DDIM", 20)]["fid"] / ddpm["fid"], "ratio", profile,
            "DDIM-20 FID / DDPM-1000 FID; goal <= 1.5",
            "DDIM Table 1 CIFAR-10: 6.84 / 4.04 = 1.69"),
    }  # fmt: skip
    for r in rows:
        name = f"ddpm.{r['sampler'].lower()}{r['steps']}"
        out[f"{name}.fid"] = _record(r["fid"], "classifier-FID", profile, f"{n} samples; {ckpt}",
                                     f"DDIM Table 1 CIFAR-10: {PAPER.get(r['steps'])}")  # fmt: skip
        per_image = f"wall time per image, {device.type}, {threads} torch threads"
        out[f"{name}.s_per_image"] = _record(r["seconds"] / n, "s", profile, per_image)
    return out


if __name__ == "__main__":
    import json
    import sys

    print(json.dumps(run(sys.argv[1] if len(sys.argv) > 1 else "fast"), indent=1))
