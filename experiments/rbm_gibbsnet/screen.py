"""Screen GibbsNet recipes for notebook 06 on the selection seeds (issue 19, item 5).

Every variant trains notebook 06's networks (``gibbsnet_train.recipe`` of the ``fast``
budget: 2,500 updates, z = 16, N drawn from 1..5, encoder sigma >= 0.3) with the settings it
names, starting from the recipe *before* this screen (eq. 5 alone, Adam 2e-4 for D and 5e-4
for G/E), so that a variant means the same whatever the current recipe is:

- ``xrec<w>``: ALICE's cycle term on real digits with weight w (Li et al. 2017;
  ``train_gibbsnet(cycle_weight=w)``, ``gibbsnet.cycle_loss``), so that x -> G(E(x)) stays
  near a real digit;
- ``zrec1``: the encoder recovers the code a generated image came from: mean((mu(G(z_{N-1}))
  - z_{N-1})^2) on the unclamped chain's last code (this script's own loop; not in course_lib);
- ``lr*``: other Adam rates; ``lr10_xrec1`` is the recipe adopted (notebook 06's).

Each run is scored along one set of chains (500 chains, N = 1..10) in the one protocol
(``metrics.score_images``) and by ``metrics.recognisable`` and ``metrics.effective_classes``
(``classes``), with ``gibbsnet.step_from_data`` at the last N. Output: one JSON line per
(variant, seed, N) on stdout.

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

BEFORE = {"lr": 2e-4, "lr_GE": 5e-4, "cycle_weight": 0.0}  # the recipe before this screen
VARIANTS = {
    "base": {},
    "xrec1": {"cycle_weight": 1.0},
    "xrec10": {"cycle_weight": 10.0},
    "xrec03": {"cycle_weight": 0.3},
    "xrec3": {"cycle_weight": 3.0},
    "zrec1": {"zrec": 1.0},
    "xz1": {"cycle_weight": 1.0, "zrec": 1.0},
    # learning rates (notebook 02's DCGAN gained most from faster Adam rates for both players)
    "lr10": {"lr": 1e-3, "lr_GE": 1e-3},
    "lr5": {"lr": 5e-4, "lr_GE": 5e-4},
    "lr5_20": {"lr": 5e-4, "lr_GE": 2e-3},
    "lr10_xrec1": {"lr": 1e-3, "lr_GE": 1e-3, "cycle_weight": 1.0},  # adopted
}


def train(X: torch.Tensor, settings: dict, zrec: float = 0.0):
    """``train_gibbsnet`` with ``settings``; with ``zrec``, the same update (same RNG use and
    order) plus the code-recovery term in G/E's loss."""
    if not zrec:
        return GNT.train(X, settings, progress=False)
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
            if kw["cycle_weight"]:
                out["cycle"] = GN.cycle_loss(model.net_G, pairs[0], pairs[1])
                loss = loss + kw["cycle_weight"] * out["cycle"]
            x_u, z_u = pairs[2], pairs[3]
            out["zrec"] = mse_loss(model.net_E.net(x_u).chunk(2, dim=1)[0], z_u)
            (loss + zrec * out["zrec"]).backward()
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
            v = {**BEFORE, **VARIANTS[name]}
            zrec = v.pop("zrec", 0.0)
            settings = GNT.recipe(budget, seed=seed, **v)
            t0 = time.time()
            model, hist = train(X, settings, zrec)
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
                       "recognisable": metrics.recognisable(x),
                       "classes": metrics.effective_classes(x),
                       **(diag if n == a.max_chain else {})}  # fmt: skip
                print(json.dumps(row), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
