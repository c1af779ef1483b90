"""Screen GibbsNet recipes for notebook 06 on the selection seeds (issue 19, item 5).

Every variant trains notebook 06's networks and recipe (``gibbsnet_train.recipe`` of the
``fast`` budget: 2,500 updates, z = 16, N drawn from 1..5, encoder sigma >= 0.3, Adam 2e-4
for D and 5e-4 for G/E) and adds, at most, one extra term to the G/E loss:

- ``xrec``: ALICE's cycle consistency on real digits (Li et al. 2017, "ALICE: Towards
  Understanding Adversarial Learning for Joint Distribution Matching"): weight x
  mean((G(z) - x)^2) with z ~ q(z | x), so that x -> G(E(x)) stays near a real digit;
- ``zrec``: the encoder recovers the code a generated image came from: weight x
  mean((mu(G(z_{N-1})) - z_{N-1})^2) on the unclamped chain's last code.

Each run is scored along one set of chains (500 chains, N = 1..10) in the one protocol
(``metrics.score_images``) and by two classifier measures: ``recognisable``, the share of
samples to which the course classifier gives one digit probability >= 0.9, and
``classes``, exp(entropy) of the predicted-digit histogram (10 for a balanced set, 1 when
every sample is the same digit). Output: one JSON line per (variant, seed, N) on stdout.

    PYTHONPATH=. python experiments/rbm_gibbsnet/screen.py --variants base,xrec1 --seeds 0,1,2
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import torch
from torch.nn.functional import mse_loss

from course_lib import gibbsnet as GN
from course_lib import gibbsnet_train as GNT
from course_lib import metrics
from course_lib.budgets import BUDGETS
from course_lib.config import seeded
from course_lib.data import load_images
from course_lib.train import train_loop

VARIANTS = {
    "base": {},
    "xrec1": {"xrec": 1.0},
    "xrec10": {"xrec": 10.0},
    "xrec03": {"xrec": 0.3},
    "xrec3": {"xrec": 3.0},
    "zrec1": {"zrec": 1.0},
    "xz1": {"xrec": 1.0, "zrec": 1.0},
    # learning rates (notebook 02's DCGAN gained most from faster Adam rates for both players)
    "lr10": {"recipe": {"lr": 1e-3, "lr_GE": 1e-3}},
    "lr5": {"recipe": {"lr": 5e-4, "lr_GE": 5e-4}},
    "lr5_20": {"recipe": {"lr": 5e-4, "lr_GE": 2e-3}},
    "lr10_xrec1": {"recipe": {"lr": 1e-3, "lr_GE": 1e-3}, "xrec": 1.0},
}
CONFIDENT = 0.9  # a sample is "recognisable" when the classifier gives one digit >= 0.9


@torch.no_grad()
def classifier_measures(images: torch.Tensor) -> dict[str, float]:
    """Share of confidently classified samples and the effective number of digits."""
    p = metrics.classifier_probs(images)
    hist = torch.bincount(p.argmax(1), minlength=10).double() / len(p)
    entropy = -(hist[hist > 0] * hist[hist > 0].log()).sum()
    return {"recognisable": float((p.max(1).values >= CONFIDENT).float().mean()),
            "classes": float(entropy.exp())}  # fmt: skip


def train(X: torch.Tensor, settings: dict, xrec: float = 0.0, zrec: float = 0.0):
    """``train_gibbsnet``'s update (same RNG use, same order) with the extra G/E terms."""
    kw = dict(settings)
    steps, seed = kw.pop("num_steps"), kw.pop("seed")
    with seeded(seed) as gen:
        model = GN.GibbsNet(kw["latent_dim"], kw["hidden"], kw["dropout"], kw["min_std"])
        trainer_D, trainer_GE = GN.make_trainers(model, kw["lr"], kw["lr_GE"])

        def step_fn(step: int) -> dict[str, torch.Tensor]:
            batch = X[torch.randint(0, len(X), (kw["batch_size"],), generator=gen)]
            n = int(torch.randint(1, kw["chain_steps"] + 1, (1,), generator=gen))
            pairs = GN.joint_pairs(model, batch, n)
            out = GN.discriminator_step(pairs, model.net_D, trainer_D)
            trainer_GE.zero_grad(set_to_none=True)
            loss = GN.joint_generator_loss(pairs, model.net_D)
            out["loss_G"] = loss.detach()
            if xrec:
                x_c, z_c = pairs[0], pairs[1]
                out["xrec"] = mse_loss(model.net_G(z_c), x_c)
                loss = loss + xrec * out["xrec"]
            if zrec:
                x_u, z_u = pairs[2], pairs[3]
                mu = model.net_E.net(x_u).chunk(2, dim=1)[0]
                out["zrec"] = mse_loss(mu, z_u)
                loss = loss + zrec * out["zrec"]
            loss.backward()
            trainer_GE.step()
            return {k: v.detach() for k, v in out.items()}

        history = train_loop(step_fn, steps, log_every=max(1, steps // 60), progress=False)
    return model, history


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--variants", default="base")
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--steps", type=int, default=None, help="default: the fast budget")
    ap.add_argument("--max-chain", type=int, default=10)
    ap.add_argument("--grid", default="", help="folder for a PNG of 10 chains per run")
    a = ap.parse_args(argv)
    torch.set_num_threads(1)
    X, _ = load_images("mnist5k", "train")
    X_test, _ = load_images("mnist5k", "test")
    budget = dict(BUDGETS["06_rbm_gibbsnet"]["fast"])
    if a.steps:
        budget["gibbsnet_steps"] = a.steps
    for name in a.variants.split(","):
        for seed in (int(s) for s in a.seeds.split(",")):
            v = dict(VARIANTS[name])
            settings = GNT.recipe(budget, seed=seed, **v.pop("recipe", {}))
            t0 = time.time()
            model, hist = train(X, settings, **v)
            seconds = time.time() - t0
            model.eval()
            diag = GN.latent_diagnostics(model, X_test, a.max_chain, seed)
            diag |= {f"step_{k}": v for k, v in GN.step_from_data(model, X_test, seed).items()}
            chain = GN.samples_per_step(model, metrics.PROTOCOL["n"], a.max_chain, seed)
            if a.grid:  # rows N = 1..max_chain, columns: chains
                from torchvision.utils import save_image

                grid = torch.cat([x[:10] for x in chain.values()])
                save_image(grid * 0.5 + 0.5, f"{a.grid}/{name}_seed{seed}.png", nrow=10)
            for n, x in chain.items():
                row = {"variant": name, "seed": seed, "N": n, "steps": settings["num_steps"],
                       "train_s": round(seconds, 1), "lr": settings["lr"],
                       "lr_GE": settings["lr_GE"], **metrics.score_images(x),
                       **classifier_measures(x), **(diag if n == a.max_chain else {})}  # fmt: skip
                print(json.dumps(row), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
