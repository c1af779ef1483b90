"""Screen label-free clusterings of the t-SNE map of deskewed mnist5k training digits
(course_lib.digit_clusters' pipeline up to the map), scored against the true labels.

    cd experiments/infogan && PYTHONPATH=../.. python cluster_screen.py --seeds 0,1,2

One JSON line per (seed, method): cluster accuracy (best one-to-one mapping). The map is
computed once per seed with the library's settings (PCA 50, perplexity 30, init "pca")."""

from __future__ import annotations

import argparse
import json
import time

import torch

from course_lib.data import load_images
from course_lib.digit_clusters import match_accuracy, tsne_map


def methods(seed: int):
    from sklearn.cluster import AgglomerativeClustering, KMeans
    from sklearn.mixture import GaussianMixture

    return {
        "kmeans": lambda E: KMeans(10, n_init=10, random_state=seed).fit_predict(E),
        "gmm_full": lambda E: GaussianMixture(10, covariance_type="full", n_init=5,
                                              random_state=seed).fit_predict(E),
        "ward": lambda E: AgglomerativeClustering(10, linkage="ward").fit_predict(E),
    }  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--perplexity", type=float, default=30.0)
    args = ap.parse_args()
    X, labels = load_images("mnist5k", "train")
    for seed in map(int, args.seeds.split(",")):
        t0 = time.perf_counter()
        E = tsne_map(X, seed, perplexity=args.perplexity)
        t_map = time.perf_counter() - t0
        for name, fit in methods(seed).items():
            ids = torch.as_tensor(fit(E), dtype=torch.long)
            acc = match_accuracy(ids, labels)["accuracy"]
            print(json.dumps({"seed": seed, "perplexity": args.perplexity, "method": name,
                              "accuracy": round(acc, 4), "map_s": round(t_map, 1)}), flush=True)


if __name__ == "__main__":
    main()
