"""Measurement behind notebook 01's solution to exercise 4 (a stronger discriminator).

Section 5's MLP GAN on mnist5k, trained exactly as the notebook's cells do in ``fast``
(20,000 iterations of batch 64, Adam at 1e-3, uniform z of size 100, non-saturating loss,
seed 0, one thread, history logged every 100 steps, the same snapshot callback), once with
``d_steps=1`` (the notebook's run) and once with ``d_steps=5``: five discriminator updates
per generator update, so both runs take 20,000 generator steps. For each run it prints the
mean D(G(z)) and D(x) of the history the notebook plots over the last 4,000 steps (the last
40 logged means) and at the end, the wall time of ``gan.train_gan``, and section 5's score
cell: ``metrics.score_images`` of 500 samples from ``torch.Generator().manual_seed(2)``.

Run from the repository root (about 1.5 + 5 min on one thread)::

    OMP_NUM_THREADS=1 HF_HUB_OFFLINE=1 COURSE_PROFILE=fast \\
        .venv/bin/python experiments/gan_minimax/solutions.py --d-steps 1 5
"""

from __future__ import annotations

import argparse
import time

import torch

from course_lib import gan, metrics
from course_lib.config import budget, set_seed
from course_lib.data import load_images
from course_lib.noise import sample_latent

NOTEBOOK, SEED = "01_gan_minimax", 0
LAST_LOGS = 40  # history is logged every 100 steps: the last 4,000 steps


def run(d_steps: int) -> None:
    B = budget(NOTEBOOK, "fast")
    device = torch.device("cpu")
    set_seed(SEED)  # what setup() does
    X, _ = load_images("mnist5k", "train")
    torch.manual_seed(SEED)  # section 5's cells from here on
    net_G = gan.Generator(latent_dim=100, hidden=128).to(device)
    net_D = gan.Discriminator(hidden=128).to(device)
    g = torch.Generator().manual_seed(SEED)
    fixed_Z = sample_latent(16, 100, "uniform", torch.Generator().manual_seed(1), device)
    snapshots = {0: net_G(fixed_Z).detach().cpu()}

    def keep_snapshot(step, history):
        with torch.no_grad():
            snapshots[step] = net_G(fixed_Z).cpu()

    start = time.perf_counter()
    (net_G, net_D), history = gan.train_gan(
        X, B["num_steps"], net_G=net_G, net_D=net_D, latent_dim=100, latent_kind="uniform",
        batch_size=64, lr=1e-3, generator=g, device=device, log_every=100,
        callback=keep_snapshot, callback_every=B["num_steps"] // B["snapshots"],
        desc=f"MLP GAN d_steps={d_steps}", threads=1, d_steps=d_steps,
    )  # fmt: skip
    seconds = time.perf_counter() - start
    with torch.no_grad():
        fake = net_G(sample_latent(500, 100, "uniform", torch.Generator().manual_seed(2),
                                   device)).cpu()  # fmt: skip
    s = metrics.score_images(fake)
    tail = {k: sum(history[k][-LAST_LOGS:]) / LAST_LOGS for k in ("D_fake", "D_real")}
    print(f"d_steps={d_steps}: {B['num_steps']} G steps, train_gan {seconds:.0f} s on 1 thread; "
          f"mean D(G(z)) over the last {LAST_LOGS * 100} steps {tail['D_fake']:.4f} (last log "
          f"{history['D_fake'][-1]:.4f}), mean D(x) {tail['D_real']:.4f} (last log "
          f"{history['D_real'][-1]:.4f})")  # fmt: skip
    print(
        f"d_steps={d_steps}: FID {s['fid']:.1f}, KID x1e3 {s['kid']:.1f}, precision "
        f"{s['precision']:.3f}, recall {s['recall']:.3f}",
        flush=True,
    )


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--d-steps", type=int, nargs="+", default=[1, 5], dest="d_steps")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    for d in args.d_steps:
        run(d)


if __name__ == "__main__":
    main()
