"""Tests for course_lib.digit_clusters (notebook 07): deskew, label-free clusters, matching."""

import pytest
import torch

from course_lib import digit_clusters as dc


def test_assignment_accuracy_permutation():
    perm = torch.tensor([3, 0, 1, 2])
    conf = torch.zeros(4, 4, dtype=torch.long)
    conf[torch.arange(4), perm] = 9
    conf[0, 0] = 1  # one sample of code 0 went elsewhere
    out = dc.assignment_accuracy(conf)
    assert out["mapping"] == perm.tolist()
    assert out["accuracy"] == pytest.approx(36 / 37)


def _moments(x):
    ink = (x + 1)[:, 0]
    rows = torch.arange(28.0).view(1, 28, 1)
    cols = torch.arange(28.0).view(1, 1, 28)
    m = ink.sum((1, 2))
    m_r, m_c = (ink * rows).sum((1, 2)) / m, (ink * cols).sum((1, 2)) / m
    cov = (ink * (rows - m_r.view(-1, 1, 1)) * (cols - m_c.view(-1, 1, 1))).sum((1, 2)) / m
    return m_r, m_c, cov


def test_deskew_straightens_and_centres_a_slanted_stroke():
    # A 2-pixel-wide stroke leaning right by 0.4 columns per row, off centre: after deskewing
    # its ink is centred at (13.5, 13.5) and its row-column covariance is (almost) gone.
    x = torch.full((2, 1, 28, 28), -1.0)
    for r in range(6, 22):
        c = int(round(6 + 0.4 * (r - 6)))
        x[0, 0, r, c : c + 2] = 1.0
        x[1, 0, r, 13:15] = 1.0  # an upright, centred stroke
    m_r, m_c, cov = _moments(x)
    assert cov[0] > 5 and abs(float(cov[1])) < 1e-4 and abs(float(m_c[0]) - 13.5) > 3
    out = dc.deskew(x)
    m_r, m_c, cov = _moments(out)
    assert torch.allclose(m_r, torch.full((2,), 13.5), atol=0.3)
    assert torch.allclose(m_c, torch.full((2,), 13.5), atol=0.3)
    assert cov.abs().max() < 0.3
    assert torch.allclose(out[1], x[1], atol=0.05)  # already upright and centred: unchanged
    assert out.min() >= -1 - 1e-6 and out.max() <= 1 + 1e-6
    with pytest.raises(ValueError, match="images"):
        dc.deskew(torch.zeros(28, 28))


def _shapes():
    """Three shapes (a bar, a cross, a box), each drawn 40 times with random shifts and pixel
    noise: (X (120, 1, 28, 28) in [-1, 1], shape ids (120,))."""
    g = torch.Generator().manual_seed(0)
    shapes = torch.full((3, 28, 28), -1.0)
    shapes[0, 5:23, 12:16] = 1.0
    shapes[1, 5:23, 12:16] = 1.0
    shapes[1, 12:16, 5:23] = 1.0
    shapes[2, 6:22, 6:22] = 1.0
    shapes[2, 9:19, 9:19] = -1.0
    X, y = [], []
    for k in range(3):
        for _ in range(40):
            dr, dc_ = torch.randint(-2, 3, (2,), generator=g).tolist()
            img = torch.roll(shapes[k], (dr, dc_), (0, 1)) + 0.3 * torch.randn(28, 28, generator=g)
            X.append(img.clamp(-1, 1)), y.append(k)
    return torch.stack(X).unsqueeze(1), torch.tensor(y)


def test_digit_clusters_recovers_shapes_without_labels():
    # The clusters must be the shapes (any numbering), found without their labels.
    X, y = _shapes()
    ids = dc.digit_clusters(X, 3, seed=0, pca_dim=10, perplexity=10.0)
    assert ids.shape == (120,) and ids.dtype == torch.long
    for k in range(3):
        assert len(set(ids[y == k].tolist())) == 1  # one id per shape ...
    assert len(set(ids.tolist())) == 3  # ... and a different id for each
    pixels = dc.digit_clusters(X, 3, seed=0, pca_dim=10, perplexity=10.0, features="pixels")
    assert dc.match_accuracy(pixels, y, 3)["accuracy"] == 1.0
    raw = dc.digit_clusters(X, 3, seed=0, pca_dim=10, perplexity=10.0, deskew_first=False,
                            features="pixels")  # fmt: skip
    # Without deskew's centring, the +-2 pixel shifts dominate pixel distances (seeded: 0.69).
    assert dc.match_accuracy(raw, y, 3)["accuracy"] < 0.9
    assert dc.match_accuracy(ids, y, 3)["accuracy"] == 1.0
    with pytest.raises(ValueError, match="0..2"):
        dc.match_accuracy(ids, y + 1, 3)
    with pytest.raises(ValueError, match=r"\(N,\)"):
        dc.match_accuracy(ids, y[:5], 3)


def test_hog_bins_edges_by_direction_per_cell():
    """A vertical stroke votes in the 0-degree bin (its gradient runs along the row), a
    horizontal one in the 90-degree bin; each cell's histogram has unit length, and blank
    cells stay 0."""
    img = -torch.ones(2, 1, 8, 8)
    img[0, 0, :, 3:5] = 1  # vertical bar
    img[1, 0, 3:5, :] = 1  # horizontal bar
    h = dc.hog(img, cell=4, bins=4).view(2, 4, 2, 2)  # (image, bin, cell row, cell col)
    assert h.shape == (2, 4, 2, 2)
    assert torch.allclose(h.norm(dim=1), torch.ones(2, 2, 2))
    assert h[0].argmax(0).eq(0).all() and h[1].argmax(0).eq(2).all()
    assert dc.hog(-torch.ones(1, 1, 8, 8), cell=4).abs().sum() == 0
    for bad in (dict(x=img[:, 0]), dict(x=img, cell=9), dict(x=img, bins=0)):
        with pytest.raises(ValueError, match="one-channel images|cell"):
            dc.hog(**bad)


def test_digit_clusters_input_errors():
    X, _ = _shapes()
    for bad, match in [(dict(n_clusters=1), "n_clusters"), (dict(pca_dim=500), "pca_dim"),
                       (dict(perplexity=200.0), "perplexity"),
                       (dict(features="hog"), "Unknown cluster features 'hog'")]:  # fmt: skip
        with pytest.raises(ValueError, match=match):
            dc.digit_clusters(X, **{"n_clusters": 3, **bad})
    with pytest.raises(ValueError, match="images"):
        dc.digit_clusters(X[:, 0])
    # [0, 1] images would make deskew read the background as ink: refused, with the fix.
    with pytest.raises(ValueError, match=r"\[-1, 1\].*2 \* x - 1"):
        dc.digit_clusters((X + 1) / 2, 3)
    with pytest.raises(ValueError, match=r"got values in \[-2"):
        dc.digit_clusters(2 * X, 3)


def test_heldout_accuracy_scores_the_fitted_mapping_not_the_best_one():
    # Fit set: code 0 -> label 1, code 1 -> label 0 (3 of 4 agree). Scored set: the codes
    # flipped, so the fitted mapping gets 1 of 4; refitted there it would get 3 of 4.
    fit_codes, fit_labels = torch.tensor([0, 0, 1, 1]), torch.tensor([1, 1, 0, 1])
    codes, labels = torch.tensor([0, 0, 0, 1]), torch.tensor([0, 0, 1, 1])
    out = dc.heldout_accuracy(fit_codes, fit_labels, codes, labels, k=2)
    assert out["mapping"] == [1, 0] and out["fit_accuracy"] == pytest.approx(3 / 4)
    assert out["accuracy"] == pytest.approx(1 / 4)
    assert dc.match_accuracy(codes, labels, 2)["accuracy"] == pytest.approx(3 / 4)
    assert out["confusion"].tolist() == [[2, 1], [0, 1]]
    with pytest.raises(ValueError, match=r"0\.\.1"):
        dc.heldout_accuracy(fit_codes, fit_labels, codes, labels + 1, k=2)
