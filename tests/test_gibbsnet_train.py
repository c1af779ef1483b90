"""course_lib.gibbsnet_train: notebook 06's shipped GibbsNet."""

from __future__ import annotations

import pytest
import torch

from course_lib import gibbsnet_train as GNT
from course_lib import io
from course_lib.config import BUDGETS
from course_lib.train import cpu_threads

TINY = dict(BUDGETS["06_rbm_gibbsnet"]["smoke"], gibbsnet_steps=3, gibbsnet_hidden=4)


def _images(n=32):
    return torch.rand(n, 1, 28, 28, generator=torch.Generator().manual_seed(0)) * 2 - 1


def _prov(settings):
    return io.provenance(GNT.REBUILD, settings["num_steps"], settings["seed"], 1.0,
                         history={"step": [0.0], "loss_D": [1.0], "loss_G": [2.0],
                                  "chain": [3.0]})  # fmt: skip


def test_recipe_is_the_notebooks_and_rejects_unknown_settings():
    fast = GNT.recipe(BUDGETS["06_rbm_gibbsnet"]["fast"])
    assert fast["num_steps"] == 2500 and fast["hidden"] == 16 and fast["latent_dim"] == 16
    assert fast["chain_steps"] == 5 and fast["random_chain"] and fast["min_std"] == 0.3
    assert (fast["lr"], fast["lr_GE"], fast["batch_size"], fast["seed"]) == (1e-3, 1e-3, 64, 0)
    assert fast["cycle_weight"] == 1.0
    assert GNT.recipe(TINY, cycle_weight=0.0)["cycle_weight"] == 0.0  # the paper's loss
    assert GNT.recipe(TINY, seed=3, min_std=0.1)["min_std"] == 0.1
    with pytest.raises(ValueError, match="Unknown GibbsNet setting 'min_sd'. Allowed .*min_std"):
        GNT.recipe(TINY, min_sd=0.1)


def test_round_trip_and_load_or_train(tmp_path):
    settings = GNT.recipe(TINY)
    with cpu_threads(1):
        model, _ = GNT.train(_images(), settings, progress=False)
    GNT.save(tmp_path / "gn", model, settings, _prov(settings))
    back, info = GNT.load(tmp_path / "gn")
    assert info["config"] == settings and not back.training
    for (k, a), b in zip(model.state_dict().items(), back.state_dict().values()):
        assert torch.equal(a, b), k
    loaded, hist, note = GNT.load_or_train(_images(), settings, tmp_path / "gn", progress=False)
    assert note.startswith("loaded gn/") and hist["loss_G"] == [2.0]
    other = GNT.recipe(TINY, seed=1)  # another run: trained, never the shipped one
    trained, hist, note = GNT.load_or_train(_images(), other, tmp_path / "gn", progress=False)
    assert note.startswith("trained here") and "no shipped run" in note and len(hist["step"])


def test_a_run_repeats_exactly_at_the_notebooks_width():
    """The same settings and thread count give the same weights (what load_or_train's
    shipped-or-trained choice relies on); one vs two threads differs with the CPU."""
    settings = GNT.recipe(dict(TINY, gibbsnet_hidden=16))
    first, _ = GNT.train(_images(), settings, threads=2, progress=False)
    again, _ = GNT.train(_images(), settings, threads=2, progress=False)
    other, _ = GNT.train(_images(), GNT.recipe(dict(TINY, gibbsnet_hidden=16), seed=1),
                         threads=2, progress=False)  # fmt: skip
    for a, b in zip(first.state_dict().values(), again.state_dict().values()):
        assert torch.equal(a, b)
    assert not all(torch.equal(a, c) for a, c in zip(first.state_dict().values(),
                                                     other.state_dict().values()))


def test_altered_folder_is_refused_and_retrained(tmp_path):
    settings = GNT.recipe(TINY)
    with cpu_threads(1):
        model, _ = GNT.train(_images(), settings, progress=False)
    GNT.save(tmp_path / "gn", model, settings, _prov(settings))
    (tmp_path / "gn" / io.WEIGHTS).write_bytes(b"x")
    with pytest.raises(io.CheckpointError, match="altered or truncated.*gibbsnet_train train"):
        GNT.load(tmp_path / "gn")
    _, _, note = GNT.load_or_train(_images(), settings, tmp_path / "gn", progress=False)
    assert note.startswith("trained here") and "altered" in note
    wrong = dict(settings, hidden=8)  # consistent checksums, wrong shapes
    io.save_weights(tmp_path / "bad", model.state_dict(), wrong, _prov(settings))
    with pytest.raises(io.CheckpointError, match="does not hold notebook 06's GibbsNet"):
        GNT.load(tmp_path / "bad")


def test_shipped_folder_is_the_fast_run():
    """data/gibbsnet_mnist5k/ holds what notebook 06 trains in fast (else retrain it)."""
    model, info = GNT.load()
    assert info["config"] == GNT.recipe(BUDGETS["06_rbm_gibbsnet"]["fast"])
    assert info["provenance"]["command"] == GNT.REBUILD
    assert len(info["provenance"]["history"]["loss_D"]) == len(
        info["provenance"]["history"]["step"]) > 50


def test_shipped_paper_loss_folder_is_the_same_run_without_the_cycle_term():
    """data/gibbsnet_mnist5k_paper/ holds notebook 06's comparison run: the fast recipe with
    cycle_weight 0, rebuilt by the command its errors name."""
    model, info = GNT.load(GNT.PAPER_FOLDER)
    fast = BUDGETS["06_rbm_gibbsnet"]["fast"]
    assert info["config"] == GNT.recipe(fast, cycle_weight=0.0) != GNT.recipe(fast)
    assert info["provenance"]["command"] == GNT.REBUILD_PAPER
    assert GNT.rebuild_command(GNT.PAPER_FOLDER) == GNT.REBUILD_PAPER
    assert GNT.rebuild_command(GNT.DEFAULT_FOLDER) == GNT.REBUILD
