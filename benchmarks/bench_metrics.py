"""Calibration of course_lib.metrics: do the metrics say what they should on known inputs?

- the shipped classifier's accuracy on mnist5k test, and whether retraining it reproduces
  the shipped weights bit for bit;
- the one image-quality protocol (``course_lib.metrics.score_images``: 500 images against the
  500 mnist5k test digits; FID, KID, precision, recall, density, coverage): the real-data
  floor (``quality.real.*``: 500 real training digits) and the calibration rows
  (``quality.calibration.*``: the same digits with Gaussian noise or blur), so any model's
  score reads as "as good as real digits with this much noise"; FID must rise strictly with
  the level;
- the Inception-Score analogue and class histogram of real digits;
- mode_coverage on exact samples of ring8 / grid25 (all modes, 1 - exp(-9/2) high quality).
"""

from __future__ import annotations

import math

import torch

from course_lib import classifier as clf
from course_lib import metrics
from course_lib.data import load_images, toy_distribution


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

    train = load_images("mnist5k", "train")  # (images, labels): the classifier's retraining
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
            model, stats = clf.train_classifier(train, (X_test, y_test), verbose=False)
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
        f"mnist5k test vs itself ({n_test}); should be ~0 (a sanity check, not the protocol)",
    )
    # The one protocol (course_lib.metrics.score_images): 500 images vs the 500 test digits.
    protocol = f"protocol: {metrics.PROTOCOL['n']} images vs {metrics.PROTOCOL['reference']}"
    rows = {"real": (metrics.real_floor(), "500 real training digits (50 per class): the floor")}
    for kind, levels in metrics.CALIBRATION.items():
        what = "N(0, s^2) noise, clipped, s =" if kind == "noise" else "Gaussian blur, sigma px ="
        for level in levels:
            rows[f"calibration.{kind}_{level}"] = (
                metrics.calibration(kind, level), f"the floor's digits + {what} {level:g}")
    for name, (scores, what) in rows.items():
        for key, unit in (("fid", "classifier-FID"), ("kid", "KID x 10^3"),
                          ("precision", "fraction"), ("recall", "fraction")):  # fmt: skip
            extra = f" (std over subsets {scores['kid_std']:.1f})" if key == "kid" else ""
            rec(f"quality.{name}.{key}", scores[key], unit, f"{what}; {protocol}{extra}")
    for kind, levels in metrics.CALIBRATION.items():
        values = [rows["real"][0]["fid"]] + [rows[f"calibration.{kind}_{v}"][0]["fid"]
                                             for v in levels]  # fmt: skip
        rec(f"metrics.fid.{kind}_monotone", float(all(a < b for a, b in zip(values, values[1:]))),
            "bool", "1 = FID rises strictly with the level, from the floor: "
            + " < ".join(f"{v:.1f}" for v in values))  # fmt: skip
    scores = metrics.real_floor()
    for k, anchor in (
        ("density", "Naeem et al. 2020, k=5: ~1 for identical distributions"),
        ("coverage", "Naeem et al. 2020, k=5: 1 - 2^-k = 0.97 expected for identical sets"),
    ):
        rec(f"quality.real.{k}", scores[k], "ratio" if k == "density" else "fraction",
            f"500 real training digits; {protocol}", anchor=anchor)  # fmt: skip
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
    """Markdown table of the protocol's floor and calibration rows (RESULTS.md section)."""
    v = lambda key: out[key]["value"]  # noqa: E731
    rows = ["| real digits scored in the protocol | FID | KID x10^3 | precision | recall |",
            "|---|---|---|---|---|"]  # fmt: skip
    names = {"real": "as they are (the floor)"}
    for kind, levels in metrics.CALIBRATION.items():
        for level in levels:
            names[f"calibration.{kind}_{level}"] = (
                f"+ Gaussian noise, sigma {level}" if kind == "noise" else f"+ blur, {level} px")
    for key, label in names.items():
        fid, kid = v(f"quality.{key}.fid"), v(f"quality.{key}.kid")
        prec, rec = v(f"quality.{key}.precision"), v(f"quality.{key}.recall")
        rows.append(f"| {label} | {fid:.1f} | {kid:.1f} | {prec:.3f} | {rec:.3f} |")
    mono = {k: "yes" if v(f"metrics.fid.{k}_monotone") else "**no**" for k in ("noise", "blur")}
    rows += ["", f"FID monotone in the level: noise {mono['noise']}, blur {mono['blur']}."]
    return "### Calibration (read any model's score against these rows)\n\n" + "\n".join(rows)
