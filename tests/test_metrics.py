"""course_lib.metrics on inputs with known answers, and the classifier's checksum handling."""

from __future__ import annotations

import json
import math
import shutil

import pytest
import torch

from course_lib import classifier as clf
from course_lib import io, metrics
from course_lib.data import load_images, toy_distribution


@pytest.fixture(scope="module")
def real():
    """200 test digits and 400 train digits, drawn with fixed seeds (fast)."""
    X_test, _ = load_images("mnist5k", "test")
    X_train, _ = load_images("mnist5k", "train")
    g = torch.Generator().manual_seed(0)
    return X_test[torch.randperm(len(X_test), generator=g)[:200]], X_train[
        torch.randperm(len(X_train), generator=g)[:400]
    ]


# --------------------------------------------------------------------------- mode_coverage
@pytest.mark.parametrize("name", ["ring8", "grid25"])
def test_exact_samples_cover_every_mode(name):
    dist = toy_distribution(name)
    out = metrics.mode_coverage(dist.sample(20_000, torch.Generator().manual_seed(0)), name)
    assert out["modes"] == len(dist.means)
    # P(||x - mu|| <= 3 sigma) for a 2-D isotropic Gaussian is 1 - exp(-9/2) = 0.98889
    assert out["high_quality"] == pytest.approx(1 - math.exp(-4.5), abs=0.003)
    assert 0 <= out["reverse_kl"] < 0.01
    assert isinstance(out["modes"], int)


@pytest.mark.parametrize("name", ["ring8", "grid25"])
def test_all_samples_at_one_mean_is_one_mode(name):
    dist = toy_distribution(name)
    out = metrics.mode_coverage(dist.means[3].repeat(50, 1), name)
    assert out == {
        "modes": 1,
        "high_quality": 1.0,
        "reverse_kl": pytest.approx(math.log(len(dist.means))),
    }


def test_far_noise_captures_nothing():
    far = 100 + torch.randn(500, 2, generator=torch.Generator().manual_seed(0))
    out = metrics.mode_coverage(far, "grid25")
    assert out["modes"] == 0 and out["high_quality"] == 0.0
    assert out["reverse_kl"] == math.inf


def test_half_the_modes_balanced():
    dist = toy_distribution("ring8")
    samples = dist.means[:4].repeat(10, 1)
    out = metrics.mode_coverage(samples, "ring8")
    assert out["modes"] == 4
    assert out["reverse_kl"] == pytest.approx(math.log(2))  # uniform on half: log(8/4)


def test_mode_coverage_errors_speak_to_learner():
    with pytest.raises(ValueError, match=r"\(N, 2\)"):
        metrics.mode_coverage(torch.zeros(10, 3), "ring8")
    with pytest.raises(ValueError, match="ring8, grid25"):
        metrics.mode_coverage(torch.zeros(10, 2), "ring9")
    with pytest.raises(ValueError, match="NaN"):
        metrics.mode_coverage(torch.full((4, 2), float("nan")), "ring8")


# --------------------------------------------------------------------------- classifier
def test_shipped_classifier_is_a_verified_small_artefact():
    folder = clf.weights_path()
    assert (folder / "model.safetensors").stat().st_size < 1_000_000
    manifest = json.loads((folder / "MANIFEST.json").read_text())
    assert manifest["provenance"]["command"] == clf.TRAIN_COMMAND
    assert manifest["provenance"]["seed"] == clf.SEED
    net = clf.load_classifier()
    assert net(torch.zeros(2, 1, 28, 28)).shape == (2, 10)
    assert net.features(torch.zeros(2, 1, 28, 28)).shape == (2, 128)


def test_shipped_classifier_is_accurate():
    X, y = load_images("mnist5k", "test")
    assert clf.accuracy(metrics.get_classifier(), X, y) >= 0.97


def _copy_weights(tmp_path):
    folder = tmp_path / "classifier"
    shutil.copytree(clf.weights_path(), folder)
    return folder


def test_corrupt_weights_are_refused_with_the_command(tmp_path):
    folder = _copy_weights(tmp_path)
    w = folder / "model.safetensors"
    data = bytearray(w.read_bytes())
    data[len(data) // 2] ^= 0xFF  # one flipped byte
    w.write_bytes(bytes(data))
    with pytest.raises(clf.ClassifierError, match="model.safetensors is altered or truncated.*"
                       "python -m course_lib.metrics train-classifier"):
        clf.load_classifier(folder)


def test_truncated_weights_are_refused(tmp_path):
    folder = _copy_weights(tmp_path)
    w = folder / "model.safetensors"
    w.write_bytes(w.read_bytes()[:1000])
    with pytest.raises(clf.ClassifierError, match="not used.*truncated"):
        clf.load_classifier(folder)


@pytest.mark.parametrize("missing", ["model.safetensors", "MANIFEST.json", "."])
def test_missing_files_are_refused(tmp_path, missing):
    folder = _copy_weights(tmp_path)
    target = folder / missing
    shutil.rmtree(target) if target.is_dir() else target.unlink()
    with pytest.raises(clf.ClassifierError, match=r"python -m course_lib\.metrics train-classif"):
        clf.load_classifier(folder)


def test_matching_checksum_of_foreign_weights_is_refused(tmp_path):
    folder = tmp_path / "classifier"
    io.save_weights(folder, {"weight": torch.zeros(3)}, {}, io.provenance("x", 1, 0, 0.0))
    with pytest.raises(clf.ClassifierError, match="does not hold MnistClassifier weights"):
        clf.load_classifier(folder)


def test_save_and_compare_weights(tmp_path):
    torch.manual_seed(0)
    model = clf.MnistClassifier()
    clf.save_classifier(model, {"seconds": 1.0, "test_accuracy": 0.5}, tmp_path / "c")
    loaded = clf.load_classifier(tmp_path / "c")
    assert clf.same_weights(model, loaded)
    with torch.no_grad():
        loaded.head.bias[0] += 1e-6
    assert not clf.same_weights(model, loaded)


def test_classifier_is_cached():
    assert metrics.get_classifier() is metrics.get_classifier()


# --------------------------------------------------------------------------- FID
def test_fid_of_identical_sets_is_zero(real):
    X_test, _ = real
    assert metrics.classifier_fid(X_test, X_test) == pytest.approx(0.0, abs=1e-3)


def test_fid_rises_monotonically_under_corruption(real):
    X_test, X_train = real
    g = torch.Generator().manual_seed(0)
    noise = [
        metrics.classifier_fid(metrics.corrupt(X_test, "noise", s, g), X_train)
        for s in (0.0, 0.25, 0.5)
    ]
    blur = [
        metrics.classifier_fid(metrics.corrupt(X_test, "blur", s), X_train) for s in (0.0, 1.0, 2.0)
    ]
    assert noise == sorted(noise) and noise[0] < noise[-1] / 5
    assert blur == sorted(blur) and blur[0] < blur[-1] / 5


def test_fid_is_symmetric_enough(real):
    X_test, X_train = real
    a, b = metrics.classifier_fid(X_test, X_train), metrics.classifier_fid(X_train, X_test)
    assert a == pytest.approx(b, rel=1e-4)


def test_image_checks_speak_to_learner(real):
    X_test, _ = real
    with pytest.raises(ValueError, match=r"\(N, 1, 28, 28\)"):
        metrics.classifier_fid(X_test.view(-1, 784), X_test)
    with pytest.raises(ValueError, match=r"\[-1, 1\]"):
        metrics.classifier_fid(X_test * 127.5 + 127.5, X_test)
    with pytest.raises(ValueError, match="at least 2"):
        metrics.classifier_fid(X_test[:1], X_test)
    with pytest.raises(ValueError, match="noise, blur"):
        metrics.corrupt(X_test, "jpeg", 1.0)


# --------------------------------------------------------------------------- P/R, D/C
def test_precision_recall_known_answers():
    g = torch.Generator().manual_seed(0)
    real = torch.randn(300, 8, generator=g)
    same = metrics.precision_recall(real, real)
    assert same == {"precision": 1.0, "recall": 1.0}
    far = metrics.precision_recall(real + 100, real)
    assert far == {"precision": 0.0, "recall": 0.0}
    # fakes collapsed onto a single real point: perfect fidelity, (almost) no diversity
    collapsed = metrics.precision_recall(real[:1].repeat(300, 1) + 1e-6 * real, real)
    assert collapsed["precision"] == 1.0 and collapsed["recall"] < 0.05


def test_density_coverage_known_answers():
    g = torch.Generator().manual_seed(0)
    real = torch.randn(300, 8, generator=g)
    same = metrics.density_coverage(real, real)
    # each real point lies in its own ball and in those of the k neighbours that have it
    # within their k-NN radius: density of a set against itself averages to (1 + k)/k / ...
    assert same["coverage"] == 1.0 and same["density"] >= 1.0
    assert metrics.density_coverage(real + 100, real) == {"density": 0.0, "coverage": 0.0}
    other = torch.randn(300, 8, generator=g)
    dc = metrics.density_coverage(other, real)
    assert 0.8 < dc["density"] < 1.2 and dc["coverage"] > 0.85  # 1 - 2^-5 = 0.97 expected


def test_real_digits_score_like_real_digits(real):
    X_test, X_train = real
    pr = metrics.precision_recall(X_test, X_train[:200])
    assert pr["precision"] > 0.7 and pr["recall"] > 0.7
    hist = metrics.class_histogram(X_test)
    assert hist.shape == (10,) and hist.sum() == pytest.approx(1.0)
    assert hist.max() < 0.2
    assert metrics.classifier_score(X_test) > 8.5


def test_collapsed_digits_show_in_histogram_and_score(real):
    X_test, _ = real
    one = X_test[:1].repeat(50, 1, 1, 1)
    assert metrics.class_histogram(one).max() == 1.0
    assert metrics.classifier_score(one) == pytest.approx(1.0, abs=1e-6)


def test_precision_recall_on_toy_points_sees_collapse_inside_modes():
    # notebook 03 uses it on 2-D samples: a generator that puts each mode on a point has
    # every mode and 100% high quality, but almost no recall
    dist = toy_distribution("grid25")
    real = dist.sample(2000, generator=torch.Generator().manual_seed(0))
    exact = dist.sample(2000, generator=torch.Generator().manual_seed(1))
    same = metrics.precision_recall(exact, real)
    assert same["precision"] > 0.85 and same["recall"] > 0.85
    points = dist.means.repeat_interleave(80, dim=0)
    points = points + 1e-4 * torch.randn(points.shape, generator=torch.Generator().manual_seed(3))
    assert metrics.mode_coverage(points, "grid25")["high_quality"] == 1.0
    pr = metrics.precision_recall(points, real)
    assert pr["precision"] > 0.95 and pr["recall"] < 0.1


# --------------------------------------------------------------------------- the protocol
def test_protocol_sets_are_fixed_and_disjoint():
    ref, floor = metrics.reference_images(), metrics.floor_images()
    assert ref.shape == floor.shape == (500, 1, 28, 28)
    assert torch.equal(floor, metrics.floor_images())  # the same 500 digits every time
    X, _ = load_images("mnist5k", "train")
    train = {x.numpy().tobytes() for x in X}
    assert not any(r.numpy().tobytes() in train for r in ref)  # no test digit is trained on
    assert all(f.numpy().tobytes() in train for f in floor)


def test_score_images_is_the_same_numbers_as_the_parts():
    fake = metrics.floor_images()
    scores = metrics.score_images(fake)
    ref = metrics.reference_images()
    assert scores["fid"] == pytest.approx(metrics.classifier_fid(fake, ref))
    assert scores["recall"] == pytest.approx(metrics.precision_recall(fake, ref)["recall"])
    assert scores["coverage"] == pytest.approx(metrics.density_coverage(fake, ref)["coverage"])
    assert scores == metrics.real_floor()
    assert scores["n"] == 500


def test_kid_is_near_zero_for_real_digits_and_grows_with_noise():
    ref, floor = metrics.reference_images(), metrics.floor_images()
    same, spread = metrics.classifier_kid(floor, ref)
    assert abs(same) < 2 * spread  # unbiased: 0 within its subset noise
    assert metrics.classifier_kid(floor, ref) == (same, spread)  # seeded subsets
    kids = [metrics.calibration("noise", s)["kid"] for s in metrics.CALIBRATION["noise"]]
    assert same < kids[0] < kids[1] < kids[2]


def test_protocol_refuses_another_sample_size():
    with pytest.raises(ValueError, match="scores 500 images; got 499"):
        metrics.score_images(metrics.floor_images()[:499])
    with pytest.raises(ValueError, match="Unknown corruption 'jpeg'. Allowed values: noise, blur"):
        metrics.corrupt(metrics.floor_images(), "jpeg", 0.1)


def test_score_table_lists_every_row_and_the_floor():
    row = {"fid": 12.345, "kid": -1.0, "precision": 0.9, "recall": 0.85, "density": 1.0}
    text = metrics.score_table({"model A": row}, floor=False)
    lines = text.splitlines()
    assert len(lines) == 2 and "12.3" in lines[1] and "0.850" in lines[1]
    with_floor = metrics.score_table({"model A": row})
    assert with_floor.splitlines()[-1].strip().startswith("real digits (floor)")
    assert f"{metrics.real_floor()['fid']:.1f}" in with_floor.splitlines()[-1]
    with pytest.raises(ValueError, match="lacks"):
        metrics.score_table({"bad": {"fid": 1.0}}, floor=False)


def test_recognisable_and_effective_classes():
    """Real test digits: 0.97 recognisable (classifier >= 0.9 on one digit), ~10 effective
    classes; one digit repeated: 1 class; uniform noise: 'recognisable' (an over-confident
    classifier) but one class, which is why the two are read together."""
    from course_lib.data import load_images

    X, y = load_images("mnist5k", "test")
    assert metrics.recognisable(X) > 0.9 and metrics.effective_classes(X) > 9.9
    assert metrics.effective_classes(X[:1].repeat(50, 1, 1, 1)) == pytest.approx(1.0)
    two = torch.cat([X[y == 0][:30], X[y == 1][:30]])
    assert 1.8 < metrics.effective_classes(two) < 2.5  # a few misread digits add a third
    noise = torch.rand(200, 1, 28, 28, generator=torch.Generator().manual_seed(0)) * 2 - 1
    # the classifier is over-confident on uniform noise (one digit for all): the pair exposes it
    assert metrics.recognisable(noise) > 0.5 and metrics.effective_classes(noise) < 1.5
    assert metrics.recognisable(torch.zeros(20, 1, 28, 28)) == 0.0  # grey: nothing confident
    assert metrics.recognisable(X, threshold=0.5) >= metrics.recognisable(X)
    for bad in (0.0, 1.0, 1.5):
        with pytest.raises(ValueError, match="threshold"):
            metrics.recognisable(X, threshold=bad)


def test_precision_recall_and_coverage_take_real_features_to_the_fakes_device(monkeypatch):
    """GPU samples against CPU reference digits ('meta' stands in for the GPU): every
    distance is taken on the fakes' device. The final float() of a meta tensor raises."""
    seen = []

    def cdist(a, b):
        seen.append((a.device.type, b.device.type))
        return torch.zeros(len(a), len(b), device=a.device)

    monkeypatch.setattr(torch, "cdist", cdist)
    fake, real = torch.zeros(8, 4, device="meta"), torch.zeros(8, 4)
    for score in (metrics.precision_recall, metrics.density_coverage):
        with pytest.raises((RuntimeError, NotImplementedError)):
            score(fake, real)
    assert len(seen) == 5 and set(seen) == {("meta", "meta")}


def test_train_classifier_learns_the_data_it_is_given(monkeypatch):
    """The trainer takes its data (it never loads a dataset): two classes of 512 made-up
    images, a bright square top-left (label 0) or bottom-right (label 1), are separated."""
    import course_lib.data

    for module in (course_lib.data, clf):  # wherever the trainer could look it up
        monkeypatch.setattr(module, "load_images", lambda *a, **k: pytest.fail("loaded"),
                            raising=False)  # fmt: skip
    g = torch.Generator().manual_seed(0)
    y = torch.randint(0, 2, (512,), generator=g)
    X = torch.full((512, 1, 28, 28), -1.0) + 0.1 * torch.randn(512, 1, 28, 28, generator=g)
    X[y == 0, :, 4:12, 4:12] = 1.0
    X[y == 1, :, 16:24, 16:24] = 1.0
    model, stats = clf.train_classifier((X[:384], y[:384]), (X[384:], y[384:]), epochs=2,
                                        verbose=False)  # fmt: skip
    assert stats["test_accuracy"] == clf.accuracy(model, X[384:], y[384:]) >= 0.95
    assert stats["train_accuracy"] == clf.accuracy(model, X[:384], y[:384])
