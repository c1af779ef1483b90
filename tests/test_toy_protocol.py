"""course_lib.toy_protocol: notebook 03's table, selection rule, held-out and categorical
runs and exact reference, and notebook 08's toy comparison, read from the budgets."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from course_lib import toy_diagnostics, toy_protocol, toy_train
from course_lib.config import BUDGETS, PROFILES
from course_lib.toy_train import ToyConfig


@pytest.mark.parametrize("notebook", ["03_mode_collapse", "08_wgan_gp"])
def test_budget_rows_have_the_same_keys_and_every_key_varies(notebook):
    rows = BUDGETS[notebook]
    assert set(rows) == set(PROFILES)
    assert len({tuple(sorted(r)) for r in rows.values()}) == 1  # same keys in every profile
    for key in rows["smoke"]:  # a key that no profile changes is not a budget key
        assert len({repr(r[key]) for r in rows.values()}) > 1, key


def test_run_from_budget_reads_the_budget_and_keeps_notebook_03s_penalty():
    b = BUDGETS["03_mode_collapse"]["fast"]
    run = toy_protocol.run_from_budget(b, "grid25", "wgan_gp", latent_dim=128)
    assert run.data == "grid25" and run.num_steps == b["num_steps"]
    c = run.config
    assert (c.method, c.batch_size, c.hidden, c.lr, c.n_critic) == (
        "wgan_gp",
        b["batch_size"],
        b["hidden"],
        b["lr"],
        b["n_critic"],
    )
    assert c.seeds == tuple(b["seeds"]) and c.latent_dim == 128
    assert c.gp_weight == 0.1 and ToyConfig().gp_weight == 10.0  # notebook 03's, not the default
    assert toy_protocol.run_from_budget(b, "ring8", num_steps=7).num_steps == 7
    with pytest.raises(ValueError, match="Allowed values: vanilla"):
        toy_protocol.run_from_budget(b, "ring8", "bogus")
    with pytest.raises(ValueError, match="Unknown ToyConfig field 'input_noise'. Allowed .*steps"):
        toy_protocol.run_from_budget(b, "ring8", input_noise=0.1)


def test_categorical_run_reads_the_budget():
    for b in BUDGETS["03_mode_collapse"].values():
        run = toy_protocol.categorical_run(b, "grid25")
        assert run.config.method == "categorical_latent" and not run.config.batchnorm
        assert run.num_steps == b["categorical_steps"] and run.config.categories == 50
    run = toy_protocol.categorical_run(b, "ring8", info_weight=0.0, num_steps=7)
    assert run.config.info_weight == 0.0 and run.num_steps == 7


def test_selection_runs_score_run_and_heldout_run():
    b = dict(BUDGETS["03_mode_collapse"]["smoke"], num_steps=4, long_steps=6, batch_size=16,
             hidden=8, snapshots=2, eval_samples=50, seeds=(0, 1), heldout_seeds=(7,))  # fmt: skip
    runs = toy_protocol.candidate_runs(b, "grid25")
    labels = (["vanilla"] + [m + toy_protocol.BN_SUFFIX for m in toy_protocol.TABLE_METHODS]
              + ["categorical_latent"])  # fmt: skip
    assert list(runs) == labels
    assert [r.config.method for r in runs.values()] == ["vanilla", *toy_protocol.TABLE_METHODS,
                                                        "categorical_latent"]  # fmt: skip
    assert [r.config.batchnorm for r in runs.values()] == [False, True, True, True, True, False]
    vanilla = toy_train.train_parallel({d: toy_protocol.run_from_budget(b, d)
                                        for d in ("ring8", "grid25")}, progress=False)  # fmt: skip
    both = toy_protocol.selection_runs(b, vanilla, progress=False)
    assert list(both) == ["ring8", "grid25"] and list(both["grid25"]) == labels
    assert both["grid25"]["vanilla"] is vanilla["grid25"]  # reused, not retrained
    assert all(r.run == runs[k] for k, r in both["grid25"].items())
    assert all(r.data == "ring8" for r in both["ring8"].values())
    alone = toy_train.train_parallel({"x": runs["wgan_gp" + toy_protocol.BN_SUFFIX]},
                                     progress=False)["x"]  # fmt: skip
    pooled = both["grid25"]["wgan_gp" + toy_protocol.BN_SUFFIX]
    assert torch.equal(alone.samples[max(alone.samples)], pooled.samples[max(pooled.samples)])
    with pytest.raises(ValueError, match="plain vanilla run on 'ring8'"):
        toy_protocol.selection_runs(b, {"ring8": vanilla["grid25"]}, progress=False)
    with pytest.raises(ValueError, match="this budget's plain vanilla run"):
        toy_protocol.selection_runs(dict(b, num_steps=5), vanilla, progress=False)
    results = both["grid25"]
    r = results["pacgan" + toy_protocol.BN_SUFFIX]
    scores = toy_protocol.score_run(r)
    assert scores["modes"] == r.final["modes"] and scores["high_quality"] == r.final["high_quality"]
    assert len(scores["per_seed"]) == 2
    held = toy_protocol.heldout_run(b, r)
    assert held.num_steps == 6 and held.data == "grid25"
    assert held.config == replace(r.config, seeds=(7,))  # the same method, other seeds
    with pytest.raises(ValueError, match="long_steps"):
        toy_protocol.heldout_run(dict(b, long_steps=0), r)
    with pytest.raises(ValueError, match="share no seed"):  # never report on selection seeds
        toy_protocol.heldout_run(dict(b, heldout_seeds=(1, 2)), r)


@pytest.mark.parametrize("profile", PROFILES)
def test_heldout_seeds_never_overlap_the_selection_seeds(profile):
    b = BUDGETS["03_mode_collapse"][profile]
    assert b["heldout_seeds"] and not set(b["heldout_seeds"]) & set(b["seeds"])


def _scores(modes, hq, recall):
    return {"modes": modes, "high_quality": hq, "recall": recall}


def test_best_method_needs_modes_high_quality_and_recall():
    spread, one_mode, good = _scores(23, 0.02, 0.9), _scores(1, 0.99, 0.6), _scores(20, 0.4, 0.7)
    collapsed = _scores(25, 0.99, 0.01)  # every mode, all high quality, each on a few points
    rows = {"spread": spread, "one mode": one_mode, "good": good, "collapsed": collapsed}
    assert toy_protocol.best_method(rows) == "good"
    assert toy_protocol.best_method(rows, min_recall=0.0) == "collapsed"  # what the gate stops
    assert toy_protocol.MIN_RECALL == 0.5
    # ties in modes x quality go to more modes; recall exactly at the gate counts
    tie = {"few": _scores(10, 0.5, 0.5), "many": _scores(20, 0.25, 0.5)}
    assert toy_protocol.best_method(tie) == "many"
    # nobody reaches the gate: the most diverse run
    low = {"a": _scores(25, 0.9, 0.1), "b": _scores(3, 0.1, 0.3)}
    assert toy_protocol.best_method(low) == "b"
    with pytest.raises(ValueError, match="empty"):
        toy_protocol.best_method({})


def test_exact_samples_are_fresh_draws_of_the_mixture():
    x = toy_protocol.exact_samples("ring8", 500, (3, 4))
    assert x.shape == (2, 500, 2) and not torch.equal(x[0], x[1])
    assert torch.equal(x, toy_protocol.exact_samples("ring8", 500, (3, 4)))
    scores = toy_diagnostics.toy_scores(x, "ring8")
    assert scores["modes"] == 8 and scores["high_quality"] > 0.97
    # not the reference draw of toy_scores (seed 5): recall is high but not identically 1
    five = toy_protocol.exact_samples("ring8", 500, (5,))
    assert 0.85 < toy_diagnostics.toy_scores(five, "ring8")["recall"] < 1.0


def test_wgan_runs_are_notebook_08s_settings():
    b = BUDGETS["08_wgan_gp"]["fast"]
    runs = toy_protocol.wgan_runs(b)
    assert list(runs) == ["vanilla", "wgan_clip", "wgan_gp"]
    for method, run in runs.items():
        c = run.config
        assert run.data == "grid25" and run.num_steps == b["num_steps"]
        assert (c.method, c.lr) == (method, toy_protocol.NB08_LR[method])
        assert (c.batch_size, c.hidden, c.seeds) == (b["batch_size"], b["hidden"], b["seeds"])
        assert (c.latent_kind, c.lr_decay, c.seed_loss, c.eval_latents, c.critic_grid) == (
            "gaussian",
            False,
            "mean",
            "fixed",
            60,
        )
        assert (c.gp_weight, c.n_critic, c.depth) == (10.0, 5, 3)
    assert toy_protocol.wgan_runs(b, gp_weight=0.1)["wgan_gp"].config.gp_weight == 0.1
    assert set(toy_train.METHODS) >= set(runs)
