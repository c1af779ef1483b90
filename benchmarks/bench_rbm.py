"""RBMs and GibbsNet (notebook 06) on mnist5k, with the notebook's budgets and functions.

- ``rbm.cd1.test_ll_ais`` / ``rbm.cd10.test_ll_ais`` / ``rbm.pcd.test_ll_ais``: binary RBMs
  (784 visible, ``rbm_hidden`` hidden units) trained by ``course_lib.rbm.train_rbm`` with
  CD-1, CD-10 and PCD for the same number of updates (batch 100, SGD, lr decayed linearly
  to 0; CD with lr 0.05 and momentum 0.9, PCD with lr 0.1, momentum 0.5 and ``pcd_chains``
  persistent chains), on training digits binarised afresh for every batch. Value: mean
  log-likelihood of the 500 mnist5k test digits binarised once (seed 0), -F(v) - log Z, with
  log Z the mean of ``ais_runs`` independent AIS runs from the base-rate model
  (``course_lib.rbm_eval.evaluate_rbm``,
  S&M's temperature spacing with ``ais_betas`` distributions and ``ais_chains`` chains).
  Notes give the run-to-run spread, the ESS, the pseudo-log-likelihood and the reconstruction
  error. Anchor: Salakhutdinov & Murray (2008), Table 1: -86.34 nats for CD-25 with 500
  hidden units, trained on the full 60,000 MNIST digits and scored on the 10,000 test digits
  (we train on 4,500 digits for far fewer updates, so expect lower numbers). AIS is a
  stochastic lower bound on log Z in expectation: a short schedule makes LL look better.
- ``quality.gibbsnet.{fid,kid,precision,recall}``: GibbsNet trained as notebook 06 trains it
  (``course_lib.gibbsnet.train_gibbsnet``'s defaults are the notebook's recipe; ``BUDGETS[
  "06_rbm_gibbsnet"]`` steps and width), 500 samples after N = 3 unclamped steps (the
  paper's training chain length; issue 19 asks for recognisable samples at N <= 3), scored
  by ``course_lib.metrics.score_images`` (floor: ``quality.real.*``). Held out: the recipe
  (chains of random length 1..5, encoder sigma >= 0.3, z = 16, ALICE's cycle term with
  weight 1, Adam 1e-3) was chosen by comparing seeds 0-2, so the row is the mean over
  training seeds 3, 4 and 5 (each seed's numbers, the FID at N = 1, 2, 5 and 10 and
  ``course_lib.gibbsnet.latent_diagnostics`` on the test digits are in the notes).
- ``gibbsnet.recognisable``: share of the N = 3 samples to which the course classifier gives
  one digit a probability >= 0.9 (``metrics.recognisable``; the 500 test digits: 0.97),
  reported beside ``gibbsnet.effective_digits``, exp(entropy) of their predicted-digit
  histogram (``metrics.effective_classes``; test digits 10.0, one repeated digit 1.0), which
  a chain that collapses onto one clean digit fails. Same held-out seeds.
- ``gibbsnet.long_chain.fid``: FID after N = 10 steps, twice the longest training chain:
  how far the chain drifts when run longer than it was trained.
- ``gibbsnet.keeps_digit``: one chain step started at the 500 test digits (x -> G(z),
  z ~ q(z | x), ``gibbsnet.step_from_data``): the share that keeps its classifier label.
  Notebook 06 uses it to explain why chains trained on eq. 5 alone collapse (experiments/
  rbm_gibbsnet/README.md has the paper-loss runs on seeds 0-2).
"""

from __future__ import annotations

import time

import torch

from benchmarks import quality
from benchmarks.run import record as _record
from course_lib import gibbsnet as GN
from course_lib import metrics
from course_lib import rbm as R
from course_lib import rbm_eval as RE
from course_lib.config import DEFAULT_SEED, budget, get_device, set_seed
from course_lib.data import load_images
from course_lib.train import cpu_threads

NOTES = __doc__.split("\n\n", 1)[1]
SM2008 = "Salakhutdinov & Murray 2008 Table 1: CD-25, 500 hidden, full MNIST: -86.34 nats"
CD_K = 10  # the longer CD chain of notebook 06
CHAIN = 5  # GibbsNet: training chains of length N drawn from 1..CHAIN
SCORED_N = 3  # the samples scored: N = 3 unclamped steps (the paper's training length)
LONG_N = 10  # the long chain: twice the longest training chain
HELD_OUT = (3, 4, 5)  # GibbsNet's recipe was chosen on seeds 0-2


def run(profile: str) -> dict[str, dict]:
    device = get_device()
    seed = DEFAULT_SEED
    set_seed(seed)
    b = budget("06_rbm_gibbsnet", profile)
    images_train, _ = load_images("mnist5k", "train")
    images_test, _ = load_images("mnist5k", "test")
    X_train = ((images_train + 1) / 2).flatten(1).to(device)
    X_test = R.binarize_images(images_test, torch.Generator().manual_seed(0)).to(device)
    base_bias = RE.base_rate_bias(X_train.cpu()).to(device)
    threads = 1 if device.type == "cpu" else None  # measured: 1 thread is faster on 2 cores
    out: dict[str, dict] = {}
    settings = {  # key: (method, k, learning rate, momentum, persistent chains)
        "cd1": ("cd", 1, 0.05, 0.9, None),
        f"cd{CD_K}": ("cd", CD_K, 0.05, 0.9, None),
        "pcd": ("pcd", 1, 0.1, 0.5, b["pcd_chains"]),
    }
    for key, (method, k, lr, momentum, chains) in settings.items():
        t0 = time.perf_counter()
        with cpu_threads(threads):
            rbm, _ = R.train_rbm(
                X_train, b["num_steps"], method=method, k=k, n_hidden=b["rbm_hidden"],
                lr=lr, momentum=momentum, num_chains=chains, seed=seed, device=device,
                progress=False,
            )  # fmt: skip
            t1 = time.perf_counter()
            r = RE.evaluate_rbm(rbm, X_test, base_bias, b["ais_betas"], b["ais_chains"],
                                b["ais_runs"], seed=seed)  # fmt: skip
        t2 = time.perf_counter()
        runs = ", ".join(f"{z:.2f}" for z in r["log_z_runs"])
        out[f"rbm.{key}.test_ll_ais"] = _record(
            r["test_ll_ais"],
            "nats (test log-likelihood, higher is better)",
            profile,
            f"{method.upper()}{'-' + str(k) if method == 'cd' else f' ({chains} chains)'}, "
            f"{b['rbm_hidden']} hidden, {b['num_steps']} updates of batch 100, lr {lr}, "
            f"momentum {momentum} ({t1 - t0:.0f} s); AIS {b['ais_betas']} "
            f"betas x {b['ais_chains']} chains x {b['ais_runs']} runs ({t2 - t1:.0f} s): "
            f"log Z runs [{runs}], LL spread {r['ais_spread']:.2f} nats, min ESS "
            f"{r['ess']:.1f}; PLL {r['pll']:.1f}; recon error {r['recon']:.1f}; 500 mnist5k "
            "test digits binarised with seed 0",
            SM2008,
        )

    scores, details, extra = [], [], {"recognisable": [], "effective": [], "long": [], "keeps": []}
    for gseed in HELD_OUT:
        t0 = time.perf_counter()
        with cpu_threads(threads):
            # train_gibbsnet's defaults are notebook 06's recipe: z = 16, encoder sigma >= 0.3,
            # ALICE's cycle term (weight 1), Adam 1e-3 for D and for G/E, batch 64.
            model, hist = GN.train_gibbsnet(
                images_train, b["gibbsnet_steps"], hidden=b["gibbsnet_hidden"],
                chain_steps=CHAIN, random_chain=True, seed=gseed, device=device,
                log_every=max(1, b["gibbsnet_steps"] // 60), progress=False,
            )  # fmt: skip
            train_s = time.perf_counter() - t0
            chain = GN.samples_per_step(model, metrics.PROTOCOL["n"], LONG_N, gseed)
            diag = GN.latent_diagnostics(model, images_test, LONG_N, gseed)  # as notebook 06
            step = GN.step_from_data(model, images_test, gseed)
        scored = {n: quality.score(chain[n]) for n in (1, 2, SCORED_N, CHAIN, LONG_N)}
        scores.append(scored[SCORED_N])
        x = chain[SCORED_N].cpu()
        extra["recognisable"].append(metrics.recognisable(x))
        extra["effective"].append(metrics.effective_classes(x))
        extra["long"].append(scored[LONG_N]["fid"])
        extra["keeps"].append(step["keeps_digit"])
        details.append(
            f"seed {gseed}: FID at N=1/2/{CHAIN}/{LONG_N} "
            + "/".join(f"{scored[n]['fid']:.1f}" for n in (1, 2, CHAIN, LONG_N))
            + ", recognisable at N=1/2/3 "
            + "/".join(f"{metrics.recognisable(chain[n].cpu()):.2f}" for n in (1, 2, 3))
            + f", final losses D {hist['loss_D'][-1]:.2f}, G/E {hist['loss_G'][-1]:.2f}, "
            f"cycle {hist['cycle'][-1]:.3f}, latents on test digits "
            + ", ".join(f"{k} {v:.2f}" for k, v in diag.items())
            + f", one step from test digits keeps {step['keeps_digit']:.2f} of labels "
            f"({train_s:.0f} s)"
        )  # fmt: skip
    what = (f"GibbsNet conv of notebook 06 (width {b['gibbsnet_hidden']}), z={model.latent_dim}, "
            f"{b['gibbsnet_steps']} steps of batch 64 with N drawn from 1..{CHAIN}, encoder "
            f"sigma >= 0.3, cycle term weight 1, Adam 1e-3")  # fmt: skip
    held = "held-out seeds 3-5 (the recipe was chosen on seeds 0-2)"
    out |= quality.rows(
        "gibbsnet", scores, profile, list(HELD_OUT),
        f"{what}; samples after N={SCORED_N} unclamped steps; " + "; ".join(details), held,
    )  # fmt: skip

    rows = (  # key, values, unit, digits per seed, what the row measures
        ("recognisable", "recognisable", "fraction (classifier >= 0.9 on one digit)", 3,
         f"N={SCORED_N}; the 500 test digits: {metrics.recognisable(images_test):.3f}; read "
         "beside gibbsnet.effective_digits"),
        ("effective_digits", "effective", "digits (exp entropy of the class histogram)", 2,
         f"N={SCORED_N}; the test digits: {metrics.effective_classes(images_test):.2f}"),
        ("long_chain.fid", "long", "classifier-FID (protocol, lower is better)", 1,
         f"N={LONG_N} (twice the longest training chain)"),
        ("keeps_digit", "keeps", "fraction of test digits", 3,
         "one chain step from each of the 500 test digits keeps its classifier label "
         "(gibbsnet.step_from_data)"),
    )  # fmt: skip
    for name, key, unit, digits, note in rows:
        values = extra[key]
        per_seed = ", ".join(f"{v:.{digits}f}" for v in values)
        out[f"gibbsnet.{name}"] = _record(
            sum(values) / len(values), unit, profile,
            f"{what}; {note}; per seed {per_seed}; {held}", seeds=list(HELD_OUT),
        )  # fmt: skip
    return out


if __name__ == "__main__":
    import json
    import sys

    print(json.dumps(run(sys.argv[1] if len(sys.argv) > 1 else "fast"), indent=1))
