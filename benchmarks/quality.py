"""The four protocol rows every image model's benchmark writes (not a benchmark itself).

``quality.<model>.{fid,kid,precision,recall}``: :func:`course_lib.metrics.score_images` of
500 generated digits against the 500 mnist5k test digits (the protocol that
``benchmarks/bench_metrics.py`` states once, with the real-data floor ``quality.real.*`` and
the calibration rows). Several seeds are averaged; each seed's numbers go in the notes.
"""

from __future__ import annotations

import torch

from course_lib import metrics

UNITS = {
    "fid": "classifier-FID (protocol, lower is better)",
    "kid": "KID x 10^3 (protocol, lower is better)",
    "precision": "fraction (protocol, k = 3)",
    "recall": "fraction (protocol, k = 3)",
}


def score(fake: torch.Tensor) -> dict[str, float]:
    """:func:`course_lib.metrics.score_images` of ``fake`` moved to the CPU."""
    return metrics.score_images(fake.detach().float().cpu())


def rows(
    model: str, scores: list[dict[str, float]], profile: str, seeds: list[int], what: str,
    selection: str, anchor: str | None = None,
) -> dict[str, dict]:  # fmt: skip
    """The four records of ``model`` from one :func:`score` per seed (their mean).

    ``what``: the model and its sampler; ``selection``: whether the row is scored on the
    seeds its recipe was chosen on or on held-out ones (issue 17); ``anchor``: a published
    FID, set on the FID row only.
    """
    mean = {k: sum(s[k] for s in scores) / len(scores) for k in scores[0]}
    per_seed = "; ".join(
        f"seed {seed}: FID {s['fid']:.1f}, KID {s['kid']:.1f}, precision {s['precision']:.3f}, "
        f"recall {s['recall']:.3f}, density {s['density']:.2f}, coverage {s['coverage']:.2f}"
        for seed, s in zip(seeds, scores)
    )
    notes = (f"{what}; {selection}; {metrics.PROTOCOL['n']} samples vs the 500 mnist5k test "
             f"digits (compare with quality.real.*); {per_seed}")  # fmt: skip
    return {
        f"quality.{model}.{key}": {
            "value": float(mean[key]), "anchor": anchor if key == "fid" else None,
            "unit": unit, "profile": profile,
            "seeds": list(seeds), "notes": notes,
        }
        for key, unit in UNITS.items()
    }  # fmt: skip
