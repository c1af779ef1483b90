"""Measured answers to notebook 06's exercises (fast budget, seed 0, CPU, one torch thread).
Results and what they show: experiments/rbm_gibbsnet/README.md.

    .venv/bin/python experiments/rbm_gibbsnet/solutions.py ais        # exercise 1
    .venv/bin/python experiments/rbm_gibbsnet/solutions.py compute    # exercise 2
    .venv/bin/python experiments/rbm_gibbsnet/solutions.py buggy      # exercise 3
    .venv/bin/python experiments/rbm_gibbsnet/solutions.py order      # exercise 4
"""

from __future__ import annotations

import sys
import time

import torch

from course_lib import gibbsnet as GN
from course_lib import rbm as R
from course_lib import rbm_eval as RE
from course_lib.config import budget, seeded
from course_lib.data import load_images

torch.set_num_threads(1)
B = budget("06_rbm_gibbsnet", "fast")
images_train, _ = load_images("mnist5k", "train")
images_test, _ = load_images("mnist5k", "test")
X_train = ((images_train + 1) / 2).flatten(1)
X_test = R.binarize_images(images_test, torch.Generator().manual_seed(0))
base_bias = RE.base_rate_bias(X_train)
CD = dict(method="cd", n_hidden=B["rbm_hidden"], lr=0.05, momentum=0.9, seed=0, progress=False)


def evaluate(name: str, rbm: R.RBM) -> None:
    r = RE.evaluate_rbm(rbm, X_test, base_bias, B["ais_betas"], B["ais_chains"], B["ais_runs"])
    runs = ", ".join(f"{z:.1f}" for z in r["log_z_runs"])
    print(f"{name}: test LL {r['test_ll_ais']:.2f} (spread {r['ais_spread']:.2f}, log Z runs "
          f"{runs}, ESS {r['ess']:.1f})", flush=True)  # fmt: skip


def ais() -> None:
    rbm, _ = R.train_rbm(X_train, B["num_steps"], k=1, **CD)
    for K in (100, 500, 2000, B["ais_betas"]):
        lz = [RE.ais_log_partition(rbm, base_bias, K, 100, torch.Generator().manual_seed(s))
              ["log_z"] for s in (0, 1)]  # fmt: skip
        lls = [RE.average_log_likelihood(rbm, X_test, z) for z in lz]
        print(
            f"K={K}: log Z {lz[0]:.1f}, {lz[1]:.1f}; test LL {lls[0]:.1f}, {lls[1]:.1f}", flush=True
        )


def compute() -> None:
    for name, k, steps in (("CD-1, 10x updates", 1, 10 * B["num_steps"]),
                           ("CD-10", 10, B["num_steps"])):  # fmt: skip
        t0 = time.perf_counter()
        rbm, _ = R.train_rbm(X_train, steps, k=k, **CD)
        print(f"{name}: {steps} updates, {time.perf_counter() - t0:.0f} s", flush=True)
        evaluate(name, rbm)


def buggy() -> None:
    rbm, _ = R.train_rbm(X_train, B["pitfall_steps"], k=1, use_biases=False, **CD)
    evaluate("buggy, read with its biases", rbm)
    with torch.no_grad():
        rbm.b.zero_()
        rbm.c.zero_()
    evaluate("buggy, biases set to zero (the model it sampled)", rbm)


def broken_step(pairs, model, trainer_D, trainer_GE):
    """Exercise 4: D's loss through un-detached pairs, and no trainer_GE.zero_grad()."""
    trainer_D.zero_grad(set_to_none=True)
    x_c, z_c, x_u, z_u = pairs
    d_c, d_u = model.net_D(x_c, z_c), model.net_D(x_u, z_u)
    bce = torch.nn.functional.binary_cross_entropy_with_logits
    loss_D = bce(d_c, torch.ones_like(d_c)) + bce(d_u, torch.zeros_like(d_u))
    loss_D.backward(retain_graph=True)  # also leaves D's gradients on G and E
    trainer_D.step()
    loss_G = GN.joint_generator_loss(pairs, model.net_D)
    cycle = GN.cycle_loss(model.net_G, x_c, z_c)  # the recipe's cycle term, as in the correct step
    (loss_G + cycle).backward()  # added to what is already there
    trainer_GE.step()
    return loss_D.item(), loss_G.item()


def order(num_steps: int = 400, variants=(False, True)) -> None:
    for broken in variants:
        with seeded(0) as gen:
            model = GN.GibbsNet(16, B["gibbsnet_hidden"])
            trainer_D, trainer_GE = GN.make_trainers(model, 1e-3, 1e-3)  # notebook 06's rates
            log = []
            for _step in range(num_steps):
                X = images_train[torch.randint(0, len(images_train), (64,), generator=gen)]
                n = int(torch.randint(1, 6, (1,), generator=gen))
                pairs = GN.joint_pairs(model, X, n)
                if broken:
                    log.append(broken_step(pairs, model, trainer_D, trainer_GE))
                else:
                    d = GN.discriminator_step(pairs, model.net_D, trainer_D)["loss_D"].item()
                    g = GN.generator_step(pairs, model.net_D, model.net_G, trainer_GE,
                                          cycle_weight=1.0)["loss_G"].item()  # fmt: skip
                    log.append((d, g))
        means = [tuple(sum(v) / 50 for v in zip(*log[i : i + 50])) for i in range(0, num_steps, 50)]
        print("broken" if broken else "correct", "loss_D / loss_G per 50 updates:",
              ", ".join(f"{d:.2f}/{g:.2f}" for d, g in means), flush=True)  # fmt: skip


if __name__ == "__main__":
    for name in sys.argv[1:]:
        {
            "ais": ais,
            "compute": compute,
            "buggy": buggy,
            "order": order,
            "order_broken": lambda: order(variants=(True,)),
        }[name]()
