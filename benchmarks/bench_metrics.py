"""Calibration of course_lib.metrics: do the metrics say what they should on known inputs?

- the shipped classifier's accuracy on mnist5k test, and whether retraining it reproduces
  the shipped weights bit for bit;
- classifier FID: identical sets (0), real test vs real train (the floor a perfect generator
  would reach with these sample sizes), and real test under Gaussian noise and blur, which
  must rise monotonically with the corruption;
- precision / recall / density / coverage of two real sets of equal size (all near their
  ideal values: 1, 1, 1, 1 up to finite-sample effects);
- the Inception-Score analogue and class histogram of real digits;
- mode_coverage on exact samples of ring8 / grid25 (all modes, 1 - exp(-9/2) high quality).
"""

from __future__ import annotations

import math
import statistics

import torch

from course_lib import classifier as clf
from course_lib import metrics
from course_lib.data import load_images, toy_distribution

NOISE_LEVELS = (0.1, 0.25, 0.5)
BLUR_LEVELS = (0.5, 1.0, 2.0)
SUBSET_SEEDS = (0, 1, 2)


def run(profile: str) -> dict[str, dict]:
    """Benchmark entry point (see benchmarks/run.py)."""
    out: dict[str, dict] = {}

    def rec(key, value, unit, notes, anchor=None, seeds=(0,)):
        out[key] = dict(
            value=float(value),
            anchor=anchor,
            unit=unit,
            profile=profile,
            seeds=list(seeds),
            notes=notes,
        )

    X_train, _ = load_images("mnist5k", "train")
    X_test, y_test = load_images("mnist5k", "test")
    net = metrics.get_classifier()
    rec(
        "metrics.classifier.test_accuracy",
        clf.accuracy(net, X_test, y_test),
        "fraction",
        "shipped data/classifier/ on mnist5k test (500 digits); issue goal >= 0.97",
    )
    if profile != "smoke":  # retrain exactly as `python -m course_lib.metrics train-classifier`
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            model, stats = clf.train_classifier(verbose=False)
        finally:
            torch.set_num_threads(threads)
        rec(
            "metrics.classifier.retrain_matches_checksum",
            float(clf.same_weights(model, clf.load_classifier())),
            "bool",
            f"retrained in {stats['seconds']:.0f} s on 1 thread; 1 = every tensor bit-identical "
            "to the shipped data/classifier/",
        )

    n_test = len(X_test)
    rec(
        "metrics.fid.identical",
        metrics.classifier_fid(X_test, X_test),
        "FID",
        f"mnist5k test vs itself ({n_test}); should be ~0",
    )
    floor = metrics.classifier_fid(X_test, X_train)
    rec(
        "metrics.fid.test_vs_train",
        floor,
        "FID",
        f"real test ({n_test}) vs real train ({len(X_train)}): the floor for these sizes",
    )
    gen = torch.Generator().manual_seed(0)
    for kind, levels in (("noise", NOISE_LEVELS), ("blur", BLUR_LEVELS)):
        values = [floor]
        for level in levels:
            fid = metrics.classifier_fid(metrics.corrupt(X_test, kind, level, gen), X_train)
            values.append(fid)
            what = "N(0, s^2) noise, clipped" if kind == "noise" else "Gaussian blur, sigma px"
            rec(
                f"metrics.fid.{kind}_{level}",
                fid,
                "FID",
                f"test + {what} = {level:g} vs train",
            )
        monotone = all(a < b for a, b in zip(values, values[1:]))
        rec(
            f"metrics.fid.{kind}_monotone",
            float(monotone),
            "bool",
            "1 = FID rises strictly with the level, starting from the floor: "
            + " < ".join(f"{v:.1f}" for v in values),
        )

    # two real sets of equal size: test vs a random subset of train (3 subsets, mean)
    f_test = metrics.classifier_features(X_test)
    f_train = metrics.classifier_features(X_train)
    scores: dict[str, list[float]] = {}
    for seed in SUBSET_SEEDS:
        idx = torch.randperm(len(f_train), generator=torch.Generator().manual_seed(seed))
        f_sub = f_train[idx[:n_test]]
        both = {
            **metrics.precision_recall(f_test, f_sub),
            **metrics.density_coverage(f_test, f_sub),
        }
        for k, v in both.items():
            scores.setdefault(k, []).append(v)
    anchors = {
        "precision": "Kynkäänniemi et al. 2019, k=3: 1 in the limit; below 1 at N=500",
        "recall": "Kynkäänniemi et al. 2019, k=3: 1 in the limit; below 1 at N=500",
        "density": "Naeem et al. 2020, k=5: ~1 for identical distributions",
        "coverage": "Naeem et al. 2020, k=5: 1 - 2^-k = 0.97 expected for identical distributions",
    }
    for k, vals in scores.items():
        rec(
            f"metrics.real.{k}",
            statistics.mean(vals),
            "fraction" if k != "density" else "ratio",
            f"fake = mnist5k test ({n_test}), real = {n_test} random train digits; mean of "
            f"{len(vals)} subsets (spread {min(vals):.3f}-{max(vals):.3f})",
            anchor=anchors[k],
            seeds=SUBSET_SEEDS,
        )
    rec(
        "metrics.real.classifier_score",
        metrics.classifier_score(X_test),
        "score",
        "Inception-Score analogue on mnist5k test; 10 = confident and balanced",
        anchor="upper bound 10 (number of classes)",
    )
    hist = metrics.class_histogram(X_test)
    rec(
        "metrics.real.class_histogram_max_dev",
        float((hist - 0.1).abs().max()),
        "fraction",
        "max |predicted class share - 0.1| on mnist5k test (50 per class): "
        + " ".join(f"{v:.3f}" for v in hist.tolist()),
    )

    out["_notes"] = _calibration_table(out)
    for name in ("ring8", "grid25"):
        dist = toy_distribution(name)
        samples = dist.sample(10_000, generator=torch.Generator().manual_seed(0))
        cov = metrics.mode_coverage(samples, name)
        K = len(dist.means)
        rec(
            f"metrics.toy.{name}.exact.modes",
            cov["modes"],
            "modes",
            "10,000 exact samples",
            anchor=f"all {K} (PacGAN definition)",
        )
        rec(
            f"metrics.toy.{name}.exact.high_quality",
            cov["high_quality"],
            "fraction",
            "10,000 exact samples",
            anchor=f"1 - exp(-9/2) = {1 - math.exp(-4.5):.4f} (3-sigma disc in 2-D)",
        )
        rec(
            f"metrics.toy.{name}.exact.reverse_kl",
            cov["reverse_kl"],
            "nats",
            "10,000 exact samples",
            anchor="~0 (uniform over modes)",
        )
    return out


def _calibration_table(out: dict[str, dict]) -> str:
    """Markdown table of the FID calibration (for the RESULTS.md section)."""
    v = lambda key: out[key]["value"]  # noqa: E731
    rows = ["| corruption of real test | level | classifier FID vs real train |", "|---|---|---|"]
    rows.append(f"| none (identical sets: test vs test) | - | {v('metrics.fid.identical'):.3g} |")
    rows.append(f"| none (floor: test vs train) | - | {v('metrics.fid.test_vs_train'):.2f} |")
    for level in NOISE_LEVELS:
        rows.append(f"| Gaussian noise | sigma = {level} | {v(f'metrics.fid.noise_{level}'):.2f} |")
    for level in BLUR_LEVELS:
        rows.append(
            f"| Gaussian blur | sigma = {level} px | {v(f'metrics.fid.blur_{level}'):.2f} |"
        )
    mono = {k: "yes" if v(f"metrics.fid.{k}_monotone") else "**no**" for k in ("noise", "blur")}
    rows.append("")
    rows.append(f"Monotone in the level: noise {mono['noise']}, blur {mono['blur']}.")
    rows.append("")
    rows.append("| two real sets (test vs 500 train digits, mean of 3 draws) | value |")
    rows.append("|---|---|")
    for k in ("precision", "recall", "density", "coverage"):
        rows.append(f"| {k} | {v(f'metrics.real.{k}'):.3f} |")
    return "### Calibration\n\n" + "\n".join(rows)


NOTES = """\
Image metrics live in the 128-d penultimate features of the course's LeNet-style classifier
(`course_lib.classifier`, shipped as the verified artefact folder `data/classifier/`), not
Inception-v3: the values are comparable with each other, not with published Inception-FIDs. FID is
computed by torchmetrics' `FrechetInceptionDistance` with that classifier as a custom
feature extractor. All calibrations use mnist5k (test 500, train 4,500). FID is biased
upward for small sample sizes, so the test-vs-train floor is the number to compare a
generator's FID with (same sizes)."""
