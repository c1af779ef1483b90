"""PacGAN with the paper's maxout discriminator, on the selection seeds 0-2 (issue 19 item 4).

Lin et al. 2018 (PacGAN) reach 24.8 modes and 93.6% high quality on grid25 with a maxout
discriminator (hidden layers of 200 units, 5 pieces each) judging 4 packed samples, and a
BatchNorm ReLU generator. Notebook 03's PacGAN row uses the course's LeakyReLU MLP D (64
units) and was the worst row of its table. This screen swaps in a maxout D (prototype code,
not in the library: ``toy_train.build_toy_nets`` is patched for this process) and trains
with notebook 03's fast budget otherwise (batch 256, G width 64, Adam 2e-3 decayed to 0),
scored by ``toy_protocol.score_run`` (the notebook's six numbers).

    cd experiments/mode_collapse && OMP_NUM_THREADS=1 PYTHONPATH=../.. python maxout_screen.py \
        --data grid25 --steps 4000 --units 200 --pieces 5
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from course_lib import toy_protocol, toy_train
from course_lib.budgets import BUDGETS
from course_lib.toy_nets import EnsembleLinear, _Ensemble, _generators, pack_samples


class MaxoutToyD(_Ensemble):
    """x (S, B, 2) -> logits (S, B // pack): ``depth`` maxout layers of ``units`` x ``pieces``."""

    def __init__(self, seeds, units: int = 200, pieces: int = 5, depth: int = 3, pack: int = 4):
        super().__init__()
        gens = _generators(list(seeds), 2)
        self.members, self.pack, self.pieces = len(seeds), pack, pieces
        sizes = [2 * pack] + [units] * depth
        self.layers = torch.nn.ModuleList(EnsembleLinear(a, b * pieces, gens)
                                          for a, b in zip(sizes[:-1], sizes[1:]))  # fmt: skip
        self.out = EnsembleLinear(units, 1, gens)

    def body(self, X: torch.Tensor) -> torch.Tensor:
        h = pack_samples(X, self.pack) if self.pack > 1 else X
        for layer in self.layers:
            h = layer(h)
            h = h.view(*h.shape[:-1], -1, self.pieces).amax(-1)
        return self.out(h).squeeze(-1)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default="grid25")
    ap.add_argument("--steps", type=int, default=4000)
    ap.add_argument("--units", type=int, default=200)
    ap.add_argument("--pieces", type=int, default=5)
    ap.add_argument("--lr", type=float, default=None)
    ap.add_argument("--seeds", default="0,1,2")
    args = ap.parse_args()
    build = toy_train.build_toy_nets

    def patched(config, device="cpu"):
        net_G, _, net_Q = build(config, device)
        return net_G, MaxoutToyD(config.seeds, args.units, args.pieces, pack=config.pack).to(device), net_Q

    toy_train.build_toy_nets = patched
    b = dict(BUDGETS["03_mode_collapse"]["fast"], seeds=tuple(map(int, args.seeds.split(","))))
    extra = {"lr": args.lr} if args.lr else {}
    run = toy_protocol.run_from_budget(b, args.data, "pacgan", batchnorm=True,
                                       num_steps=args.steps, **extra)  # fmt: skip
    t0 = time.perf_counter()
    model, _ = toy_train.train_toy_gan(run.data, run.num_steps, config=run.config,
                                       progress=False)  # fmt: skip
    s = toy_protocol.score_run(model)
    print(json.dumps({"data": args.data, "steps": args.steps, "units": args.units,
                      "pieces": args.pieces, "lr": run.config.lr, "seeds": args.seeds,
                      "s": round(time.perf_counter() - t0, 1),
                      **{k: v for k, v in s.items() if k != "per_seed"},
                      "per_seed": s.get("per_seed")}, default=str), flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
