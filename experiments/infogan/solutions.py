"""Measurements behind notebook 07's solutions to exercises 1 and 9.

- ``ex1``: exercise 1, section 4's plain InfoGAN (``infogan.train_infogan`` with the ``fast``
  budget, seed 0) retrained with ``info_weight=0``. Prints the final ``mi_cat`` (the last
  logged value, a mean over the last 50 steps) and section 6/7's scores: code accuracy
  (mapping fitted on samples of seed 321, scored on seed 123), code recall and Q's accuracy
  on the 500 test digits.
- ``ex9``: exercise 9, the code as written in the notebook,
  ``infogan_train.train(X_train, y_train, infogan_train.recipe(B, y_train, seed=cfg.seed))``
  (the true labels in place of the clusters: the AC-GAN loss), scored like section 7's
  anchored run.

The notebook trains section 4 with torch's default threads (2 on its machine); every run
here uses one thread (``infogan_train.train`` always does). Run from the repository root,
one subcommand at a time (about 2-4 min each)::

    OMP_NUM_THREADS=1 HF_HUB_OFFLINE=1 COURSE_PROFILE=fast \\
        .venv/bin/python experiments/infogan/solutions.py ex1
    OMP_NUM_THREADS=1 HF_HUB_OFFLINE=1 COURSE_PROFILE=fast \\
        .venv/bin/python experiments/infogan/solutions.py ex9
"""

from __future__ import annotations

import argparse
import math
import time

import torch

from course_lib import infogan, infogan_eval, infogan_train
from course_lib.config import budget, set_seed
from course_lib.data import load_images

NOTEBOOK, SEED = "07_infogan", 0


def scores(net_G, net_D, per_code: int) -> dict:
    """Code accuracy, code recall and Q's test accuracy as notebook 07 computes them."""
    codes = infogan_eval.code_accuracy(net_G, per_code=per_code, seed=123, fit_seed=321)
    recall = infogan_eval.code_recall(net_G, codes["mapping"])
    q = infogan_eval.q_test_accuracy(net_D)
    return {"code_accuracy": codes["accuracy"], "fit_accuracy": codes["fit_accuracy"],
            "mapping": codes["mapping"], "code_recall": recall["recall"],
            "real_recall": recall["real_recall"], "q_test_accuracy": q["accuracy"]}  # fmt: skip


def report(name: str, seconds: float, history: dict, s: dict) -> None:
    last = {k: history[k][-1] for k in ("mi_cat", "mi_real", "D_real", "D_fake")}
    print(f"{name}: trained {seconds:.0f} s on 1 thread; final (mean of the last 50 steps): "
          + ", ".join(f"{k} {v:.4f}" for k, v in last.items())
          + f"; log 10 = {math.log(10):.4f}")  # fmt: skip
    print(
        f"{name}: code accuracy {s['code_accuracy']:.4f} (on its fit samples "
        f"{s['fit_accuracy']:.4f}), code recall {s['code_recall']:.4f} (real digits "
        f"{s['real_recall']:.4f}), Q on the test digits {s['q_test_accuracy']:.4f}"
    )
    print(f"{name}: code -> digit {dict(enumerate(s['mapping']))}", flush=True)


def timed(name: str, train) -> None:
    """Seed as the notebook does, train with ``train(B, X_train, y_train)``, print the scores."""
    B = budget(NOTEBOOK, "fast")
    set_seed(SEED)
    X_train, y_train = load_images("mnist5k", "train")
    start = time.perf_counter()
    (net_G, net_D), history = train(B, X_train, y_train)
    seconds = time.perf_counter() - start
    report(name, seconds, history, scores(net_G, net_D, B["eval_per_code"]))


def ex1() -> None:
    """Exercise 1: section 4's plain InfoGAN with info_weight=0."""
    timed("info_weight=0", lambda B, X, y: infogan.train_infogan(
        X, B["num_steps"], seed=SEED, hidden=B["hidden"], channels=B["channels"],
        lr_G=B["lr_G"], device="cpu", threads=1, info_weight=0.0,
    ))  # fmt: skip


def ex9() -> None:
    """Exercise 9: the recipe anchored to the true labels, as the exercise writes it."""
    timed(
        "true labels (AC-GAN)",
        lambda B, X, y: infogan_train.train(X, y, infogan_train.recipe(B, y, seed=SEED)),
    )


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("exercise", choices=["ex1", "ex9"])
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    {"ex1": ex1, "ex9": ex9}[args.exercise]()


if __name__ == "__main__":
    main()
