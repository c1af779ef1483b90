"""Notebook 02's exercise 5, measured: the training cell at the paper's rate (2e-4) and at the
notebook's rate (2e-3), with the notebook's exact calls (seed 0, its budget, two threads),
scored on the notebook's 500 latents in the one protocol.

    COURSE_PROFILE=fast python experiments/dcgan/solution5.py [paper] [notebook]   # 3 min each

Output of 2026-12-03 (AMD EPYC with bf16 units, 2 cores; the notebook's path, D in bf16 and
channels_last): solution5.jsonl; with D in bf16 alone (2026-12-02): solution5_bf16D.jsonl;
the Intel Xeon's fp32 run of session 10: solution5_xeon_fp32.jsonl.
"""

from __future__ import annotations

import json
import sys

from course_lib import dcgan_train
from course_lib.config import budget
from course_lib.data import load_images


def run(lr: float, b: dict) -> dict:
    """The notebook's training cell (``dcgan_train.train_dcgan`` makes the same calls: seed 0
    for the networks and the batches) at rate ``lr``; its samples in the one protocol."""
    X, _ = load_images("mnist5k", "train")
    (net_G, _), _ = dcgan_train.train_dcgan(
        X, b["num_steps"], channels=b["channels"], batch_size=b["batch_size"], seed=0,
        device="cpu", threads=b["threads"], progress=False, lr=lr,
    )  # fmt: skip
    return dcgan_train.protocol_scores(net_G)


def main() -> int:
    b = budget("02_dcgan")
    which = sys.argv[1:] or ["paper", "notebook"]
    for name, lr in (("paper", dcgan_train.PAPER_LR), ("notebook", dcgan_train.LR)):
        if name not in which:
            continue
        scores = {k: round(float(v), 3) for k, v in run(lr, b).items()}
        print(json.dumps({"lr": name, "value": lr, "steps": b["num_steps"], **scores}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
