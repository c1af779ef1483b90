"""course_lib.toy_protocol: notebook 03's table / best / longer / categorical runs and
notebook 08's toy comparison, read from the budgets."""

from __future__ import annotations

import pytest

from course_lib import toy_protocol, toy_train
from course_lib.config import BUDGETS, PROFILES
from course_lib.toy_train import ToyConfig, ToyEnsemble


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
    with pytest.raises(ValueError, match="Unknown ToyConfig fields"):
        toy_protocol.run_from_budget(b, "ring8", input_noise=0.1)


def test_categorical_run_reads_the_budget():
    for b in BUDGETS["03_mode_collapse"].values():
        run = toy_protocol.categorical_run(b, "grid25")
        assert run.config.method == "categorical_latent" and not run.config.batchnorm
        assert run.num_steps == b["categorical_steps"] and run.config.categories == 50
    run = toy_protocol.categorical_run(b, "ring8", info_weight=0.0, num_steps=7)
    assert run.config.info_weight == 0.0 and run.num_steps == 7


def test_table_runs_best_method_and_longer_run():
    b = dict(BUDGETS["03_mode_collapse"]["smoke"], num_steps=4, long_steps=6, batch_size=16,
             hidden=8, snapshots=2, eval_samples=50, seeds=(0, 1))  # fmt: skip
    results = toy_protocol.table_runs(b, "grid25", progress=False)
    labels = ["vanilla"] + [m + toy_protocol.BN_SUFFIX for m in toy_protocol.TABLE_METHODS]
    assert list(results) == labels
    assert [r.config.method for r in results.values()] == ["vanilla", *toy_protocol.TABLE_METHODS]
    assert [r.config.batchnorm for r in results.values()] == [False, True, True, True, True]
    best = toy_protocol.best_method(results)
    score = lambda r: r.final["modes"] * r.final["high_quality"]  # noqa: E731
    assert all(score(results[best]) >= score(r) for r in results.values())
    longer = toy_protocol.longer_run(b, results[best])
    assert longer.num_steps == 6 and longer.config == results[best].config
    again = toy_protocol.table_runs(b, "grid25", progress=False, vanilla=results["vanilla"])
    assert again["vanilla"] is results["vanilla"]
    with pytest.raises(ValueError, match="table is on 'ring8'"):
        toy_protocol.table_runs(b, "ring8", progress=False, vanilla=results["vanilla"])
    with pytest.raises(ValueError, match="empty"):
        toy_protocol.best_method({})
    with pytest.raises(ValueError, match="long_steps"):
        toy_protocol.longer_run(dict(b, long_steps=0), results[best])


def _fake(modes, hq):
    r = ToyEnsemble("grid25", 1, ToyConfig())
    r.coverage[0] = [{"modes": modes, "high_quality": hq, "reverse_kl": 0.0}]
    return r


def test_best_method_needs_modes_and_high_quality():
    spread, collapsed, good = _fake(23, 0.02), _fake(1, 0.99), _fake(20, 0.4)
    assert (
        toy_protocol.best_method({"spread": spread, "collapsed": collapsed, "good": good}) == "good"
    )
    # ties in modes x quality go to more modes
    assert toy_protocol.best_method({"few": _fake(10, 0.5), "many": _fake(20, 0.25)}) == "many"


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
