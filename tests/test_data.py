import math

import numpy as np
import pytest
import torch

from course_lib import data


@pytest.fixture(scope="module")
def mnist5k():
    return {s: data.load_images("mnist5k", s) for s in ("train", "test", "all")}


def test_mnist5k_shapes_dtypes_ranges(mnist5k):
    x, y = mnist5k["train"]
    assert x.shape == (4500, 1, 28, 28) and x.dtype == torch.float32
    assert y.shape == (4500,) and y.dtype == torch.int64
    assert x.min() == -1.0 and x.max() == 1.0
    assert mnist5k["test"][0].shape == (500, 1, 28, 28)
    assert mnist5k["all"][0].shape == (5000, 1, 28, 28)


def test_mnist5k_split_is_disjoint_balanced_and_fixed(mnist5k):
    idx = data.mnist5k_split_indices()
    assert len(np.intersect1d(idx["train"], idx["test"])) == 0
    assert len(idx["train"]) + len(idx["test"]) == 5000
    assert torch.equal(mnist5k["train"][1].bincount(), torch.full((10,), 450))
    assert torch.equal(mnist5k["test"][1].bincount(), torch.full((10,), 50))
    again = data.mnist5k_split_indices()
    assert np.array_equal(idx["test"], again["test"])
    # The split picks images, it does not copy them: no test image appears in train.
    tr = {bytes(r) for r in mnist5k["train"][0].flatten(1).numpy()}
    assert not any(bytes(r) in tr for r in mnist5k["test"][0].flatten(1).numpy())


def test_mnist5k_is_real_digits(mnist5k):
    """Real MNIST: mean ink ~ 13% of pixels, class means differ (not noise or a stub)."""
    x, y = mnist5k["all"]
    ink = (x > 0).float().mean().item()
    assert 0.08 < ink < 0.25
    means = torch.stack([x[y == c].mean(0) for c in range(10)])
    assert (means[1] - means[0]).abs().mean() > 0.1


def test_unknown_dataset_and_split_list_allowed_values():
    with pytest.raises(ValueError, match="mnist5k.*fashion-mnist"):
        data.load_images("cifar10")
    with pytest.raises(ValueError, match="train, test, all"):
        data.load_images("mnist5k", "valid")


def test_full_mnist_offline_without_cache_names_mnist5k(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path))
    with pytest.raises(data.DatasetUnavailable) as err:
        data.load_images("mnist", "train")
    msg = str(err.value)
    assert "mnist5k" in msg and "python -m course_lib.data download mnist" in msg


def test_failed_download_is_clear(tmp_path, monkeypatch):
    """A download that fails (offline) raises DatasetUnavailable, not a raw URLError."""
    from torchvision import datasets

    def offline(self, *a, **k):
        raise OSError("network is unreachable")

    monkeypatch.setattr(datasets.FashionMNIST, "download", offline)
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path))
    with pytest.raises(data.DatasetUnavailable, match="Downloading 'fashion-mnist' failed"):
        data.load_images("fashion-mnist", "test", download=True)


def test_cached_torchvision_dataset_loads(tmp_path, monkeypatch):
    """A cache in torchvision's raw format is read and scaled like mnist5k."""
    import gzip

    raw = tmp_path / "torchvision" / "MNIST" / "raw"
    raw.mkdir(parents=True)

    def idx_file(name, magic, dims, payload):
        header = magic.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in dims)
        with gzip.open(raw / name, "wb") as fh:
            fh.write(header + payload)
        (raw / name[:-3]).write_bytes(header + payload)

    imgs = np.arange(3 * 28 * 28, dtype=np.uint8).tobytes()
    for split in ("train", "t10k"):
        idx_file(f"{split}-images-idx3-ubyte.gz", 2051, (3, 28, 28), imgs)
        idx_file(f"{split}-labels-idx1-ubyte.gz", 2049, (3,), bytes([1, 2, 3]))
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path))
    x, y = data.load_images("mnist", "test")
    assert x.shape == (3, 1, 28, 28) and y.tolist() == [1, 2, 3]
    assert x.min() >= -1 and x.max() <= 1


def test_batches_cover_an_epoch_and_are_seeded():
    x = torch.arange(10).float().unsqueeze(1)
    y = torch.arange(10)
    it = data.batches(x, 5, y, generator=torch.Generator().manual_seed(0))
    (a, ya), (b, yb) = next(it), next(it)
    assert torch.equal(torch.cat([a, b]).flatten().sort().values, x.flatten())
    assert torch.equal(a.flatten().long(), ya) and torch.equal(b.flatten().long(), yb)  # aligned
    it2 = data.batches(x, 5, y, generator=torch.Generator().manual_seed(0))
    assert torch.equal(next(it2)[0], a)
    with pytest.raises(ValueError, match="batch_size"):
        next(data.batches(x, 11))


@pytest.mark.parametrize("name,k,std", [("ring8", 8, 0.01), ("grid25", 25, 0.05)])
def test_toy_distribution_statistics(name, k, std):
    dist = data.toy_distribution(name)
    assert dist.means.shape == (k, 2) and dist.std == std
    x = dist.sample(20000, generator=torch.Generator().manual_seed(0))
    nearest = torch.cdist(x, dist.means).argmin(1)
    counts = nearest.bincount(minlength=k).float()
    assert counts.min() > 0.8 * 20000 / k  # every mode is hit about equally
    resid = x - dist.means[nearest]
    assert abs(resid.std().item() - std) < 0.05 * std
    assert resid.mean(0).abs().max() < 0.05 * std


def test_toy_distribution_means():
    ring = data.toy_distribution("ring8").means
    assert torch.allclose(ring.norm(dim=1), torch.ones(8))
    grid = data.toy_distribution("grid25").means
    assert set(grid.flatten().tolist()) == {-4.0, -2.0, 0.0, 2.0, 4.0}
    with pytest.raises(ValueError, match="ring8, grid25"):
        data.toy_distribution("spiral")


def test_toy_log_prob_normalised():
    dist = data.toy_distribution("ring8")
    g = torch.linspace(-1.2, 1.2, 601)
    xx, yy = torch.meshgrid(g, g, indexing="xy")
    p = dist.log_prob(torch.stack([xx.flatten(), yy.flatten()], 1)).exp()
    dx = (g[1] - g[0]).item()
    assert abs(p.sum().item() * dx * dx - 1) < 0.02


def test_gaussian_mixture_1d_density_and_samples():
    p = data.GaussianMixture1D(means=(-2.0, 2.0), stds=(0.5, 0.5), weights=(0.25, 0.75))
    x = torch.linspace(-8, 8, 4001)
    assert abs(p.pdf(x).sum().item() * (x[1] - x[0]).item() - 1) < 1e-4
    s = p.sample(40000, generator=torch.Generator().manual_seed(0))
    assert s.shape == (40000, 1)
    assert abs((s > 0).float().mean().item() - 0.75) < 0.01
    assert abs(s.mean().item() - 1.0) < 0.03  # 0.25 * -2 + 0.75 * 2
    assert (
        abs(data.gaussian_pdf(torch.tensor(0.0), 0.0, 1.0).item() - 1 / math.sqrt(2 * math.pi))
        < 1e-7
    )


def test_sample_batches_draws_fresh_data():
    it = data.sample_batches(data.toy_distribution("ring8"), 16, torch.Generator().manual_seed(0))
    a, b = next(it), next(it)
    assert a.shape == (16, 2) and not torch.equal(a, b)


def test_stratified_indices_take_the_classes_in_turn():
    from course_lib.data import load_images, stratified_indices

    _, y = load_images("mnist5k", "train")
    assert torch.bincount(y[:32], minlength=10)[0] == 32  # why it exists: sorted by class
    idx = stratified_indices(y, 32)
    assert len(set(idx.tolist())) == 32
    counts = torch.bincount(y[idx], minlength=10)
    assert counts.max() - counts.min() <= 1 and counts.min() == 3
    assert y[idx[:10]].tolist() == list(range(10))
    assert torch.equal(stratified_indices(y, 4500).sort().values, torch.arange(4500))
    with pytest.raises(ValueError, match="n must be"):
        stratified_indices(y, 4501)
