"""WGAN-GP on grid25: penalty weight lambda x critic steps per generator step (notebook 08,
exercises 2 and 4).

Every run is notebook 08's toy WGAN-GP (``toy_protocol.wgan_runs``, the ``fast`` budget:
1,000 generator steps, batch 128, 3-layer networks of 64 units, seeds 0-2 at once) with
only ``gp_weight`` and ``n_critic`` changed. The generator steps are equal; the critic's
compute is not (n_critic critic steps per generator step, each with the penalty's second
backward pass), so the four runs of each n_critic train together and their wall time is
printed. Scores: the six numbers of notebook
03 (``toy_protocol.score_run``, means over the three seeds) at the last snapshot.

    .venv/bin/python experiments/wgan/lambda_ncritic.py            # the table of README.md
    .venv/bin/python experiments/wgan/lambda_ncritic.py --smoke    # 20 steps: plumbing only
"""

from __future__ import annotations

import argparse
import time

from course_lib import toy_protocol, toy_train
from course_lib.config import budget

LAMBDAS = (0.1, 1.0, 10.0, 100.0)
N_CRITIC = (1, 2, 5)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--smoke", action="store_true", help="20 generator steps")
    args = parser.parse_args()
    b = dict(budget("08_wgan_gp", "fast"))
    if args.smoke:
        b["num_steps"] = 20
    trained, walls = {}, {}
    for k in N_CRITIC:
        runs = {lam: toy_protocol.wgan_runs(b, gp_weight=lam, n_critic=k)["wgan_gp"]
                for lam in LAMBDAS}  # fmt: skip
        start = time.perf_counter()
        for lam, r in toy_train.train_parallel(runs, progress=False).items():
            trained[lam, k] = r
        walls[k] = time.perf_counter() - start
    print(f"grid25, {b['num_steps']} G steps, seeds {tuple(b['seeds'])}; wall time of the "
          f"{len(LAMBDAS)} runs of each n_critic (2 at a time): "
          + ", ".join(f"n_critic {k}: {w:.0f} s" for k, w in walls.items()) + "\n")
    print("| λ | n_critic | modes | high quality | reverse KL | precision | recall | std ratio |")
    print("|---|---|---|---|---|---|---|---|")
    for (lam, k), run in trained.items():
        s = toy_protocol.score_run(run)
        print(f"| {lam:g} | {k} | {s['modes']:.1f} | {s['high_quality']:.1%} | "
              f"{s['reverse_kl']:.2f} | {s['precision']:.2f} | {s['recall']:.2f} | "
              f"{s['within_mode_std_ratio']:.2f} |")


if __name__ == "__main__":
    main()
