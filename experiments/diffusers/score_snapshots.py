"""Score the snapshots of a diffusers training run (``python -m course_lib.diffusers_utils
train``, saved every ``--save-every`` steps and copied aside as they appear), and record the
curve in the final pipeline's MANIFEST.json so notebook 10 can plot what longer training
buys.

    .venv/bin/python experiments/diffusers/score_snapshots.py SNAP_DIR [--write PIPELINE]

SNAP_DIR holds one pipeline folder per snapshot, named by its step (500, 1000, ...). Each is
checked against its MANIFEST.json, sampled with DDIM 20 (``DU.swap_scheduler``) for 500
digits from seed 0 (notebook 10's section-4 seed) and scored in the one protocol
(``metrics.score_images``). One JSON line per snapshot; scores are kept in
SNAP_DIR/scores.json, so a rerun scores only new snapshots. ``--write`` adds the curve to that
pipeline's MANIFEST.json under ``provenance["score_curve"]`` (atomic write; the weights and
their checksums are untouched). One torch thread unless ``--threads``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from course_lib import diffusers_utils as DU
from course_lib import metrics
from course_lib.io import atomic_write_text

SAMPLER, STEPS, N, SEED = "DDIM", 20, 500, 0
KEYS = ("fid", "kid", "precision", "recall")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("snapshots")
    ap.add_argument("--write", default=None, help="pipeline folder whose manifest gets the curve")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    folders = sorted((p for p in Path(args.snapshots).iterdir() if p.name.isdigit()),
                     key=lambda p: int(p.name))  # fmt: skip
    curve = {"sampler": f"{SAMPLER} {STEPS}", "n": N, "seed": SEED, "step": [],
             **{key: [] for key in KEYS}}  # fmt: skip
    cache_file = Path(args.snapshots) / "scores.json"  # scored snapshots are not redone
    cache = json.loads(cache_file.read_text()) if cache_file.exists() else {}
    for folder in folders:
        if folder.name not in cache:
            t0 = time.perf_counter()
            pipe = DU.load_pipeline(folder)
            s = metrics.score_images(DU.generate(DU.swap_scheduler(pipe, SAMPLER), N, STEPS,
                                                 seed=SEED))  # fmt: skip
            cache[folder.name] = {key: round(float(s[key]), 4) for key in KEYS}
            print(json.dumps({"step": int(folder.name), **cache[folder.name],
                              "s": round(time.perf_counter() - t0, 1)}), flush=True)  # fmt: skip
            atomic_write_text(cache_file, json.dumps(cache, indent=1) + "\n")
        curve["step"].append(int(folder.name))
        for key in KEYS:
            curve[key].append(cache[folder.name][key])
    if args.write:
        manifest = Path(args.write) / "MANIFEST.json"
        data = json.loads(manifest.read_text())
        data["provenance"]["score_curve"] = curve
        atomic_write_text(manifest, json.dumps(data, indent=1, sort_keys=True) + "\n")
        print(f"wrote the curve into {manifest}")


if __name__ == "__main__":
    main()
