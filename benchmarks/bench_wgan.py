"""WGAN-GP of notebook 08: mode coverage on grid25 and the image protocol on mnist5k.

Trained exactly as the notebook trains them, with ``BUDGETS["08_wgan_gp"]``:

- ``wgan_gp.grid25.modes`` / ``.high_quality``: ``course_lib.toy_protocol.wgan_runs``
  trained by ``course_lib.toy_train.train_toy_gan`` (ensemble MLPs, all ``seeds`` at once,
  lambda = 10, n_critic = 5, Adam 1e-3 with betas (0.5, 0.9)), scored by
  ``course_lib.metrics.mode_coverage`` on 2,500 samples per seed (PacGAN / VEEGAN
  protocol), mean over seeds. The vanilla GAN, weight-clipping WGAN and lambda = 0.1 rows use
  the same networks and steps.
- ``quality.wgan_gp.{fid,kid,precision,recall}``: ``course_lib.wgan.train_wgan(method=
  "wgan_gp")`` on the mnist5k train split as notebook 08 trains it (MLP G and critic, Adam
  ``lr_mnist``, betas (0.5, 0.9), batch 64, seed 0), 500 digits from
  ``course_lib.wgan.eval_latents`` scored by ``course_lib.metrics.score_images`` (floor:
  ``quality.real.*``). The notes add the FID and W-estimate curve that ``train_wgan``
  measures during training on the same 500 latents (its last FID is the row's FID).
"""

from __future__ import annotations

from dataclasses import replace

import torch

from benchmarks import quality
from course_lib import toy_diagnostics, toy_train, wgan
from course_lib import toy_protocol as tp
from course_lib.config import DEFAULT_SEED, budget, get_device, set_seed
from course_lib.data import load_images

NOTES = __doc__.split("\n\n", 1)[1]
ANCHORS = {
    "vanilla": "GAN on grid25: 3.3 modes, 0.5% high quality (VEEGAN Table 1)",
    "wgan_gp": "WGAN-GP on grid25: 24.2 modes, 28.7% high quality (GDPP paper)",
}


def run(profile: str) -> dict[str, dict]:
    set_seed(DEFAULT_SEED)
    b = budget("08_wgan_gp", profile)
    seeds = list(b["seeds"])
    runs = tp.wgan_runs(b)
    gp = runs["wgan_gp"]
    runs["wgan_gp_lambda0.1"] = replace(gp, config=replace(gp.config, gp_weight=0.1))
    toy = toy_train.train_parallel(runs, workers=1, progress=False)
    out: dict[str, dict] = {}
    size = f"{b['num_steps']} G steps, batch {b['batch_size']}, width {b['hidden']}"
    for name, r in toy.items():
        s = toy_diagnostics.summarise(r)
        per = [c["modes"] for c in r.final["per_seed"]]
        common = {"profile": profile, "seeds": seeds}
        anchor = ANCHORS.get(name)
        key = "wgan_gp" if name == "wgan_gp" else f"wgan_gp.compare.{name}"
        out[f"{key}.grid25.modes"] = {
            "value": s["modes"], "anchor": anchor, "unit": "modes of 25 (mean over seeds)",
            "notes": f"per seed {per}; {size}", **common,
        }  # fmt: skip
        out[f"{key}.grid25.high_quality"] = {
            "value": s["high_quality"], "anchor": anchor, "unit": "fraction within 3 sigma",
            "notes": f"range [{s['hq_min']:.3f}, {s['hq_max']:.3f}]; {size}", **common,
        }  # fmt: skip
    X, _ = load_images("mnist5k", "train")
    X_test, _ = load_images("mnist5k", "test")
    device = get_device()
    (net_G, _), h = wgan.train_wgan(X, b["mnist_steps"], method="wgan_gp", X_test=X_test,
                                    seed=DEFAULT_SEED, lr=b["lr_mnist"], betas=(0.5, 0.9),
                                    evals=b["mnist_evals"], device=device,
                                    progress=False)  # fmt: skip
    with torch.no_grad():
        fake = net_G.eval()(wgan.eval_latents(DEFAULT_SEED, device=device))
    w, f = torch.tensor(h["eval_w_estimate"]), torch.tensor(h["fid"])
    corr = float(torch.corrcoef(torch.stack([w, f]))[0, 1]) if len(w) > 2 else float("nan")
    out |= quality.rows(
        "wgan_gp", [quality.score(fake)], profile, [DEFAULT_SEED],
        f"WGAN-GP MLPs of notebook 08 after {b['mnist_steps']} G steps (n_critic 5); FID curve "
        f"at steps {h['eval_step']}: {[round(x) for x in h['fid']]}, W estimate "
        f"{[round(x, 2) for x in h['eval_w_estimate']]} (correlation {corr:.2f})",
        "seed 0, the notebook's run (not a held-out seed; Gulrajani et al.'s recipe, not tuned "
        "on seeds)",
    )  # fmt: skip
    return out
