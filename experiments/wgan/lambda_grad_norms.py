"""WGAN-GP on grid25: the critic's gradient norm at interpolates against lambda (notebook 08,
exercise 2, the histogram part; its mode counts are ``lambda_ncritic.py``'s table).

The solution's sweep as written in notebook 08 (``toy_protocol.wgan_runs(B, gp_weight=lam)
["wgan_gp"]`` for lambda 0.1, 1, 10, 100, trained together by ``toy_train.train_parallel``;
the ``fast`` budget: 1,000 generator steps, seeds 0-2 at once), then section 4's histogram
cell with ``for m in sweep:``: one ``torch.Generator`` seeded with the notebook's seed, 2,000
grid25 points repeated once per seed, fresh fakes, ``wgan.interpolate_grad_norms``. Prints,
per lambda, the median and quartiles of the 6,000 norms (all seeds pooled, as the histogram
is), each seed's median, and the modes covered (``toy_diagnostics.summarise``).

    COURSE_PROFILE=fast PYTHONPATH=. .venv/bin/python experiments/wgan/lambda_grad_norms.py
"""

from __future__ import annotations

import time

import torch

from course_lib import toy_diagnostics, toy_protocol, toy_train, wgan
from course_lib.config import setup
from course_lib.data import toy_distribution

LAMBDAS = (0.1, 1.0, 10.0, 100.0)


def main() -> None:
    torch.set_num_threads(1)
    cfg = setup("08_wgan_gp")
    B, device = cfg.budget, cfg.device
    sweep = {f"λ={lam}": toy_protocol.wgan_runs(B, gp_weight=lam)["wgan_gp"] for lam in LAMBDAS}
    start = time.perf_counter()
    sweep = toy_train.train_parallel(sweep, device=device, progress=False)
    print(f"{len(sweep)} runs, {B['num_steps']} G steps, seeds {tuple(B['seeds'])}: "
          f"{time.perf_counter() - start:.0f} s\n")  # fmt: skip
    # Section 4's histogram cell, with `for m in sweep:` and `sweep[m]` for `toy[m]`.
    grid = toy_distribution("grid25")
    g_hist = torch.Generator().manual_seed(cfg.seed)
    real = grid.sample(2000, generator=g_hist).repeat(len(B["seeds"]), 1).to(device)
    print("| λ | median | quartiles (IQR) | median per seed | modes |")
    print("|---|---|---|---|---|")
    for m in sweep:
        fake = sweep[m].net_G(torch.randn(len(real), 2, generator=g_hist).to(device)).detach()
        norms = wgan.interpolate_grad_norms(sweep[m].net_D, real, fake, g_hist).cpu()
        med = norms.median().item()  # the histogram label's median (torch's lower middle)
        q1, q3 = torch.quantile(norms, torch.tensor([0.25, 0.75])).tolist()
        per_seed = ", ".join(f"{v:.2f}" for v in norms.view(len(B["seeds"]), -1).median(1).values)
        modes = toy_diagnostics.summarise(sweep[m])["modes"]
        print(
            f"| {m[2:]} | {med:.2f} | {q1:.2f}–{q3:.2f} ({q3 - q1:.2f}) | {per_seed} | "
            f"{modes:.1f} |"
        )


if __name__ == "__main__":
    main()
