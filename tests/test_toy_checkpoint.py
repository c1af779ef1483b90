"""course_lib.toy_checkpoint: notebook 03's shipped categorical-latent runs."""

from __future__ import annotations

import json

import pytest
import torch

from course_lib import io, toy_checkpoint, toy_protocol, toy_train
from course_lib.config import BUDGETS

TINY = dict(BUDGETS["03_mode_collapse"]["smoke"], categorical_steps=6, batch_size=16, hidden=8,
            snapshots=2, eval_samples=50, seeds=(0, 1))  # fmt: skip


def _train(budget=TINY, sets=("ring8", "grid25")):
    runs = {n: toy_protocol.categorical_run(budget, n) for n in sets}
    return toy_train.train_parallel(runs, progress=False)


def test_round_trip_keeps_networks_samples_and_scores(tmp_path):
    models = _train()
    prov = io.provenance("python -m course_lib.toy_checkpoint train", 6, 0, 1.0)
    toy_checkpoint.save(tmp_path / "toy", models, prov)
    loaded, manifest = toy_checkpoint.load(tmp_path / "toy")
    assert set(manifest["files"]) == {"ring8.safetensors", "grid25.safetensors", "runs.json"}
    for name, m in models.items():
        back = loaded[name]
        assert back.run == m.run
        assert back.final == m.final
        last = max(m.samples)
        assert list(back.samples) == [last] and torch.equal(back.samples[last], m.samples[last])
        assert repr(toy_protocol.score_run(back)) == repr(toy_protocol.score_run(m))  # NaN-safe
        assert back.history["mi_cat"] == pytest.approx([float(v) for v in m.history["mi_cat"]])
        g1, g2 = torch.Generator().manual_seed(1), torch.Generator().manual_seed(1)
        x1, c1 = toy_train.generate(m, 40, g1, codes=True)
        x2, c2 = toy_train.generate(back, 40, g2, codes=True)
        assert torch.equal(x1, x2) and torch.equal(c1, c2)
        for a, b in zip((m.net_D, m.net_Q), (back.net_D, back.net_Q)):
            assert all(torch.equal(p, q) for p, q in zip(a.state_dict().values(),
                                                         b.state_dict().values()))  # fmt: skip


def test_load_or_train_uses_only_the_run_asked_for(tmp_path):
    folder = tmp_path / "toy"
    toy_checkpoint.save(folder, _train(sets=("grid25",)),
                        io.provenance("python -m course_lib.toy_checkpoint train", 6, 0, 1.0))
    models, note = toy_checkpoint.load_or_train(TINY, folder=folder, progress=False)
    assert "loaded grid25" in note and "trained ring8 here" in note
    assert models["grid25"].net_Q is not None and list(models) == ["ring8", "grid25"]
    other = dict(TINY, categorical_steps=7)  # another profile's run: never the shipped one
    models, note = toy_checkpoint.load_or_train(other, sets=("grid25",), folder=folder,
                                                progress=False)  # fmt: skip
    assert "loaded" not in note and models["grid25"].num_steps == 7


def test_altered_or_missing_files_are_refused_and_retrained(tmp_path):
    folder = tmp_path / "toy"
    toy_checkpoint.save(folder, _train(sets=("ring8",)),
                        io.provenance("python -m course_lib.toy_checkpoint train", 6, 0, 1.0))
    (folder / "ring8.safetensors").write_bytes(b"truncated")
    with pytest.raises(io.CheckpointError, match="altered or truncated.*toy_checkpoint train"):
        toy_checkpoint.load(folder)
    models, note = toy_checkpoint.load_or_train(TINY, sets=("ring8",), folder=folder,
                                                progress=False)  # fmt: skip
    assert "trained ring8 here" in note and "altered" in note
    assert models["ring8"].num_steps == 6
    with pytest.raises(io.CheckpointError, match="No shipped artefact"):
        toy_checkpoint.load(tmp_path / "absent")


def test_a_consistent_but_wrong_folder_is_refused(tmp_path):
    folder = tmp_path / "toy"

    def write(tmp):
        (tmp / "runs.json").write_text(json.dumps({"ring8": {"run": {"data": "ring8"}}}))

    io.save_artefact(folder, write, {"command": "x"})
    with pytest.raises(io.CheckpointError, match="does not hold notebook 03's toy ensembles"):
        toy_checkpoint.load(folder)


def test_shipped_folder_is_the_fast_lesson_run():
    """data/toy_categorical/ holds exactly what notebook 03 trains in fast (else retrain it)."""
    models, manifest = toy_checkpoint.load()
    fast = BUDGETS["03_mode_collapse"]["fast"]
    for name in toy_checkpoint.SETS:
        assert models[name].run == toy_protocol.categorical_run(fast, name)
        assert models[name].samples[fast["categorical_steps"]].shape == (3, 2500, 2)
        h = models[name].history  # the keys toy_train writes today (score_step, not eval_step)
        assert "eval_step" not in h and h["score_step"][-1] == fast["categorical_steps"]
    assert manifest["provenance"]["command"] == toy_checkpoint.REBUILD


def test_train_records_the_command_that_rebuilds_it(tmp_path, monkeypatch):
    monkeypatch.setitem(BUDGETS["03_mode_collapse"], "tiny", TINY)
    toy_checkpoint.train(tmp_path / "toy", profile="tiny")
    models, manifest = toy_checkpoint.load(tmp_path / "toy")
    assert manifest["provenance"]["command"] == (
        f"python -m course_lib.toy_checkpoint train --out {tmp_path / 'toy'} --profile tiny")
    assert models["ring8"].num_steps == 6
