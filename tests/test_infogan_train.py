"""course_lib.infogan_train: notebook 07's shipped anchored InfoGAN."""

from __future__ import annotations

import pytest
import torch

from course_lib import infogan, io
from course_lib import infogan_train as IT
from course_lib.config import BUDGETS
from course_lib.data import load_images

TINY_BUDGET = dict(num_steps=3, hidden=32, channels=4, lr_G=2e-3)


@pytest.fixture(scope="module")
def digits():
    X, y = load_images("mnist5k", "train")  # sorted by digit: a seeded random subset
    idx = torch.randperm(len(X), generator=torch.Generator().manual_seed(0))[:64]
    return X[idx], y[idx]


def _settings(y, **changes):
    return IT.recipe(TINY_BUDGET, y, seed=2) | {"batch_size": 16, "latent_dim": 8} | changes


def _prov(settings):
    return io.provenance(IT.REBUILD, settings["num_steps"], settings["seed"], 60.0,
                         history={"step": [0], "mi_cat": [1.0]})  # fmt: skip


def test_recipe_fills_the_defaults_and_pins_the_clusters(digits):
    _, y = digits
    fast = IT.recipe(BUDGETS["07_infogan"]["fast"], y)
    assert (fast["num_steps"], fast["hidden"], fast["channels"], fast["lr_G"]) == (
        1600, 256, 32, 2e-3)
    assert fast["lr"] == 2e-4 and fast["cluster_weight"] == 1.0 and fast["latent_dim"] == 62
    assert fast["clusters_sha256"] == IT.clusters_digest(y.clone())
    assert IT.recipe(BUDGETS["07_infogan"]["fast"], (y + 1) % 10)["clusters_sha256"] != (
        fast["clusters_sha256"])


def test_train_is_the_one_thread_anchored_run(digits):
    X, y = digits
    settings = _settings(y)
    (G, D), h = IT.train(X, y, settings, progress=False)
    kw = {k: v for k, v in settings.items() if k not in ("num_steps", "clusters_sha256")}
    (G2, D2), h2 = infogan.train_infogan(X, 3, clusters=y, threads=1, progress=False, **kw)
    assert h == h2 and "cluster_ce" in h
    for a, b in zip([*G.parameters(), *D.parameters()], [*G2.parameters(), *D2.parameters()]):
        assert torch.equal(a, b)
    with pytest.raises(ValueError, match="not the ones"):
        IT.train(X, (y + 1) % 10, settings, progress=False)


def test_round_trip_and_load_or_train(digits, tmp_path):
    X, y = digits
    settings = _settings(y)
    nets, _ = IT.train(X, y, settings, progress=False)
    with pytest.raises(ValueError, match="not the ones"):
        IT.save(tmp_path / "bad", nets, (y + 1) % 10, settings, _prov(settings))
    IT.save(tmp_path / "ig", nets, y, settings, _prov(settings))
    state = torch.random.get_rng_state()
    back, anchor, info = IT.load(tmp_path / "ig")
    assert torch.equal(torch.random.get_rng_state(), state)  # loading leaves the RNG alone
    assert info["config"] == settings and not back[0].training and not back[1].training
    assert torch.equal(anchor, y)
    for net, net2 in zip(nets, back):
        for a, b in zip(net.state_dict().values(), net2.state_dict().values()):
            assert torch.equal(a, b)
    _, hist, anchor, note = IT.load_or_train(X, y, settings, tmp_path / "ig", progress=False)
    assert note.startswith("loaded ig/") and hist == {"step": [0], "mi_cat": [1.0]}
    assert "differ" not in note and torch.equal(anchor, y)
    other = y.clone()
    other[:5] = (other[:5] + 1) % 10  # t-SNE on another machine: the shipped run, its clusters
    _, _, anchor, note = IT.load_or_train(X, other, _settings(other), tmp_path / "ig",
                                          progress=False)  # fmt: skip
    assert "group 5 of 64 digits differently" in note and torch.equal(anchor, y)
    renamed = (y + 3) % 10  # the same groups, numbered otherwise: nothing moved
    _, _, anchor, note = IT.load_or_train(X, renamed, _settings(renamed), tmp_path / "ig",
                                          progress=False)  # fmt: skip
    assert "these, numbered differently" in note and torch.equal(anchor, y)
    changed = _settings(y, lr_G=1e-3)  # other settings: never the shipped run
    _, hist, anchor, note = IT.load_or_train(X, y, changed, tmp_path / "ig", progress=False)
    assert note.startswith("trained here") and "no shipped run" in note and "cluster_ce" in hist
    (tmp_path / "ig" / io.WEIGHTS).write_bytes(b"x")
    with pytest.raises(io.CheckpointError, match="altered or truncated.*infogan_train train"):
        IT.load(tmp_path / "ig")
    _, _, _, note = IT.load_or_train(X, y, settings, tmp_path / "ig", progress=False)
    assert note.startswith("trained here") and "altered" in note


def test_shipped_folder_is_the_fast_anchored_run():
    """data/infogan_anchored_mnist5k/ holds notebook 07's fast anchored run (else retrain)."""
    (G, D), anchor, info = IT.load()
    assert info["config"] == IT.recipe(BUDGETS["07_infogan"]["fast"], anchor)
    assert info["provenance"]["command"] == IT.REBUILD
    assert "cluster_ce" in info["provenance"]["history"] and anchor.shape == (4500,)
