"""course_lib.compare (notebook 11): failures with known answers, copy check, bench rows."""

from __future__ import annotations

import json

import pytest
import torch

from course_lib import compare, metrics


@pytest.fixture(scope="module")
def sets():
    return compare.failure_sets()


def test_failure_sets_are_500_images_in_range(sets):
    assert len(sets) == 7
    for name, x in sets.items():
        assert x.shape == (500, 1, 28, 28), name
        assert x.min() >= -1 and x.max() <= 1, name


def test_memory_leaves_out_the_floor():
    memory, floor = compare.memory_digits(), metrics.floor_images()
    assert len(memory) == 4000
    assert torch.cdist(floor.flatten(1), memory.flatten(1)).min() > 1.0


def test_copy_ratio_sees_copies_and_only_copies(sets):
    memory = compare.memory_digits()
    assert compare.copy_ratio(sets["memoriser (copies training digits)"], memory) < 0.05
    assert 0.8 < compare.copy_ratio(sets["real digits (floor)"], memory) < 1.25
    assert compare.copy_ratio(memory[:500], memory) < 0.01
    with pytest.raises(ValueError, match="shape"):
        compare.copy_ratio(torch.zeros(3, 784), memory)


def test_failures_are_what_they_say(sets):
    labels = metrics.floor_labels()
    assert labels.bincount().tolist() == [50] * 10
    dropped = metrics.classifier_probs(sets["mode dropping (digits 0-4 only)"]).argmax(1)
    assert (dropped < 5).float().mean() > 0.9
    protos = sets["one prototype per digit"]
    assert len(torch.unique(protos.flatten(1), dim=0)) == 10


def test_caught_follows_the_rules():
    floor = {"fid": 10.0, "kid": 0.0, "kid_std": 1.0, "precision": 0.9, "recall": 0.9,
             "coverage": 0.9, "copy_ratio": 1.0}  # fmt: skip
    assert not any(compare.caught(floor, floor).values())
    bad = {"fid": 21.0, "kid": 3.5, "kid_std": 1.0, "precision": 0.84, "recall": 0.84,
           "coverage": 0.84, "copy_ratio": 0.4}  # fmt: skip
    assert all(compare.caught(bad, floor).values())
    near = dict(bad, fid=19.0, kid=2.5, precision=0.86, copy_ratio=0.6)
    assert [k for k, v in compare.caught(near, floor).items() if v] == ["recall", "coverage"]


def test_failure_table_checks_names():
    with pytest.raises(ValueError, match="Unknown failure 'nope'"):
        compare.failure_table(["nope"])


def test_failure_table_memoriser_passes_distribution_metrics_but_not_the_copy_check():
    t = compare.failure_table(["real digits (floor)", "memoriser (copies training digits)"])
    floor, mem = t["real digits (floor)"], t["memoriser (copies training digits)"]
    assert floor["fid"] == pytest.approx(metrics.real_floor()["fid"])
    assert [k for k, v in compare.caught(mem, floor).items() if v] == ["copy_ratio"]


def test_toy_collapse_passes_modes_and_quality_but_not_recall():
    out = compare.toy_collapse(n=1000)
    exact, bad = out["exact"], out["collapsed inside each mode"]
    assert exact["modes"] == bad["modes"] == 8
    assert bad["high_quality"] >= exact["high_quality"] - 0.01
    assert bad["recall"] < 0.1 < 0.9 < exact["recall"]
    assert bad["within_mode_std_ratio"] < 0.1 and 0.85 < exact["within_mode_std_ratio"] < 1.1
    with pytest.raises(ValueError, match="spread"):
        compare.toy_collapse(spread=1.5)


def test_seconds_per_image_times_the_calls():
    calls = []
    t = compare.seconds_per_image(lambda n: calls.append(n), 4, repeats=2)
    assert calls == [1, 4, 4] and t >= 0
    with pytest.raises(ValueError):
        compare.seconds_per_image(lambda n: None, 0)


def test_quality_rows_reads_complete_models_only(tmp_path):
    rec = {"value": 1.0, "profile": "fast", "seeds": [3]}
    results = {f"quality.dcgan.{m}": rec for m in ("fid", "kid", "precision", "recall")}
    results["quality.vae.fid"] = rec  # incomplete: left out
    path = tmp_path / "results.json"
    path.write_text(json.dumps(results))
    rows = compare.quality_rows(compare.load_results(path))
    assert list(rows) == ["DCGAN (02)"] and rows["DCGAN (02)"]["seeds"] == [3]
    assert compare.load_results(tmp_path / "missing.json") == {}


def test_nearest_distances_are_copy_ratio_s_distances():
    memory = compare.memory_digits()
    d = compare.nearest_distances(memory[:50], memory)
    assert d.shape == (50,) and float(d.max()) < 0.1  # copies: distance 0 up to rounding
    floor = compare.nearest_distances(metrics.floor_images(), memory)
    ref = compare.nearest_distances(metrics.reference_images(), memory)
    assert float(floor.min()) > 1.0
    assert compare.copy_ratio(metrics.floor_images(), memory) == pytest.approx(
        float(floor.median() / ref.median())
    )


def test_nearest_distances_work_on_the_images_device(monkeypatch):
    """GPU samples against the CPU memory digits: the distances are taken on the images'
    device (a CPU-only machine cannot hold a CUDA tensor, so 'meta' stands in for it)."""
    seen = []

    def cdist(a, b):
        seen.append((a.device, b.device))
        return torch.zeros(len(a), len(b), device=a.device)

    monkeypatch.setattr(metrics, "_check_images", lambda x, name: x)
    monkeypatch.setattr(torch, "cdist", cdist)
    images = torch.zeros(3, 1, 28, 28, device="meta")
    d = compare.nearest_distances(images, torch.zeros(5, 1, 28, 28))
    assert seen == [(torch.device("meta"), torch.device("meta"))] and d.device.type == "meta"
