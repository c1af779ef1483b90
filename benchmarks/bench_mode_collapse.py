"""Mode collapse on ring8 / grid25 (notebook 03): the notebook's runs, seed-averaged.

Same protocol as notebook 03 (``course_lib.toy_protocol``): on each toy set, the plain
vanilla GAN (MLP G, z ~ U[-1, 1]^2) and every table method (vanilla, minibatch_stddev, pacgan,
wgan_gp) with PacGAN's BatchNorm generator are trained for ``num_steps`` with the budget's
config (Adam, linear learning-rate decay to 0); the run with the largest modes x high-quality
fraction (``tp.best_method``) is then retrained from scratch for ``long_steps`` (the
``table_best`` rows). Beside it, ``categorical_latent`` (a disconnected latent: z plus a
50-valued code that an auxiliary network Q must read back, InfoGAN's information term) is
trained for ``categorical_steps`` with the budget's G/D (``tp.categorical_run``). The
``best`` rows are whichever of the two scores higher by the same rule (its name is in the
notes). All seeds in the budget (0, 1, 2 in smoke/fast) are trained and averaged, none
dropped. Metrics are ``course_lib.metrics.mode_coverage`` on 2,500 samples per seed (VEEGAN /
PacGAN protocol: high quality = within 3 sigma of the nearest mean).

Extra rows for both runs: ``bridge_fraction`` (samples farther than 6 sigma from every
mode, ``metrics.far_fraction``) and improved ``precision`` / ``recall`` against fresh
mixture samples (``toy_diagnostics.toy_precision_recall``; recall falls when the samples of
a mode sit on a few points, which modes and high quality cannot see).
``table_best_jacobian_rejection``: the table-best generators sampled with
``toy_diagnostics.jacobian_rejection``, 10% of latents dropped (a sampling-time fix, so it
never counts as a training result).

The issue's goal is ring8 8/8 modes and grid25 >= 24.8 modes, both with >= 95% high quality.
"""

from __future__ import annotations

from course_lib import toy_diagnostics, toy_train
from course_lib import toy_protocol as tp
from course_lib.config import budget
from course_lib.metrics import far_fraction

NOTES = __doc__.split("\n\n", 1)[1]
JBOP_REJECT = 0.1  # fraction of latents dropped by the Jacobian-norm rejection rows
ANCHORS = {
    ("ring8", "modes"): "PacGAN Table 1: PacGAN4 7.8 modes (VEEGAN Table 1 GAN: 1)",
    ("ring8", "high_quality"): "PacGAN Table 1: PacGAN4 95.9% (VEEGAN Table 1 GAN: 99.3%)",
    ("grid25", "modes"): "PacGAN Table 1: PacGAN4 24.8 modes (GDPP 24.8, WGAN-GP 24.2)",
    ("grid25", "high_quality"): "PacGAN Table 1: PacGAN4 93.6% (GDPP 68.5%, WGAN-GP 28.7%)",
}


def run(profile: str) -> dict[str, dict]:
    b = budget("03_mode_collapse", profile)
    out: dict[str, dict] = {}
    lines = ["| data | method | G steps | modes | high quality | reverse KL | per-seed modes |",
             "|---|---|---|---|---|---|---|"]  # fmt: skip

    def line(data: str, label: str, r: toy_train.ToyEnsemble) -> str:
        f = r.final
        per = ", ".join(str(c["modes"]) for c in f["per_seed"])
        return (f"| {data} | {label} | {r.num_steps} | {f['modes']:.1f} | "
                f"{f['high_quality']:.1%} | {f['reverse_kl']:.2f} | {per} |")  # fmt: skip

    def coverage_rows(prefix: str, r: toy_train.ToyEnsemble, note: str) -> None:
        for metric, unit in (("modes", "modes captured (mean over seeds)"),
                             ("high_quality", "fraction within 3 sigma")):  # fmt: skip
            out[f"{prefix}.{metric}"] = {
                "value": float(r.final[metric]), "anchor": ANCHORS[(data, metric)], "unit": unit,
                "profile": profile, "seeds": seeds,
                "notes": f"{note}, {r.num_steps} G steps, mean of {len(seeds)} seeds; "
                         "per seed " + ", ".join(f"{c['modes']}/{c['high_quality']:.3f}"
                                                 for c in r.final["per_seed"]),
            }  # fmt: skip
        x = r.samples[max(r.samples)]
        far = [far_fraction(x[i], data) for i in range(len(x))]
        out[f"{prefix}.bridge_fraction"] = {
            "value": sum(far) / len(far), "anchor": "exact mixture samples: ~1e-8",
            "unit": "fraction of samples > 6 sigma from every mode", "profile": profile,
            "seeds": seeds, "notes": f"{note}; per seed " + ", ".join(f"{f:.3f}" for f in far),
        }  # fmt: skip
        pr = toy_diagnostics.toy_precision_recall(x, data)
        for metric in ("precision", "recall"):
            out[f"{prefix}.{metric}"] = {
                "value": sum(p[metric] for p in pr) / len(pr),
                "anchor": "exact mixture samples: 0.96-0.98 (k = 3, 2,500 samples)",
                "unit": f"improved {metric} (Kynkaanniemi et al. 2019), k = 3",
                "profile": profile, "seeds": seeds,
                "notes": f"{note}; against 2,500 fresh mixture samples; per seed "
                         + ", ".join(f"{p[metric]:.3f}" for p in pr),
            }  # fmt: skip

    for data in ("ring8", "grid25"):
        results = tp.table_runs(b, data, progress=False)
        seeds = list(results["vanilla"].config.seeds)
        lines += [line(data, m, r) for m, r in results.items()]
        table_best = tp.best_method(results)
        runs = toy_train.train_parallel({"table": tp.longer_run(b, results[table_best]),
                                         "categorical": tp.categorical_run(b, data)},
                                        progress=False)  # fmt: skip
        r, cat = runs["table"], runs["categorical"]
        lines.append(line(data, f"{table_best} (table best, retrained longer)", r))
        lines.append(line(data, "categorical_latent", cat))
        coverage_rows(f"mode_collapse.{data}.table_best", r,
                      f"table best: {table_best}, retrained")  # fmt: skip
        coverage_rows(f"mode_collapse.{data}.categorical_latent", cat,
                      f"categorical latent, {cat.config.categories} codes, info weight "
                      f"{cat.config.info_weight}")  # fmt: skip
        candidates = {f"{table_best} (retrained)": r, "categorical_latent": cat}
        overall = tp.best_method(candidates)
        coverage_rows(f"mode_collapse.{data}.best", candidates[overall],
                      f"best fix: {overall} (of {' and '.join(candidates)})")  # fmt: skip
        for extra in ("bridge_fraction", "precision", "recall"):  # copies of existing rows
            del out[f"mode_collapse.{data}.best.{extra}"]
        jb = toy_diagnostics.jacobian_rejection(r, reject=JBOP_REJECT)["coverage"]
        for metric in ("modes", "high_quality"):
            out[f"mode_collapse.{data}.table_best_jacobian_rejection.{metric}"] = {
                "value": sum(c[metric] for c in jb) / len(jb),
                "anchor": ANCHORS[(data, metric)], "unit": "same as the table_best row",
                "profile": profile, "seeds": seeds,
                "notes": f"the table_best generators sampled with Jacobian-norm rejection "
                         f"(Tanielian et al. 2020): the {JBOP_REJECT:.0%} of latents with the "
                         f"largest ||dG/dz|| dropped; changes sampling, not training; per seed "
                         + ", ".join(f"{c['modes']}/{c['high_quality']:.3f}" for c in jb),
            }  # fmt: skip
        lines.append(f"| {data} | {table_best} + Jacobian rejection {JBOP_REJECT:.0%} | "
                     f"{r.num_steps} | {sum(c['modes'] for c in jb) / len(jb):.1f} | "
                     f"{sum(c['high_quality'] for c in jb) / len(jb):.1%} | "
                     f"{sum(c['reverse_kl'] for c in jb) / len(jb):.2f} | "
                     f"{', '.join(str(c['modes']) for c in jb)} |")  # fmt: skip
        if data == "grid25":
            v = results["vanilla"]
            out["mode_collapse.grid25.vanilla.modes"] = {
                "value": float(v.final["modes"]), "anchor": "VEEGAN Table 1: GAN 3.3 modes",
                "unit": "modes captured (mean over seeds)", "profile": profile, "seeds": seeds,
                "notes": f"plain vanilla GAN, {v.num_steps} G steps; high quality "
                         f"{v.final['high_quality']:.1%}",
            }  # fmt: skip
    out["_notes"] = "All runs, seed-averaged:\n\n" + "\n".join(lines)
    return out


if __name__ == "__main__":
    import json
    import sys

    print(json.dumps(run(sys.argv[1] if len(sys.argv) > 1 else "fast"), indent=1))
