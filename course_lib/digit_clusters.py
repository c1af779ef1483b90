"""Label-free groups of real digits, and scoring a grouping against labels (notebook 07).

InfoGAN's categorical code is anchored to clusters of the real training digits that are
found without labels (notebook 07, section 7): :func:`deskew` removes slant and position,
:func:`hog` describes each digit's strokes by the directions of its edges, then
:func:`digit_clusters` runs PCA, a 2-D t-SNE map and k-means. The labels enter only to
*score* a grouping: :func:`match_accuracy` counts codes (or clusters) against labels and
:func:`assignment_accuracy` finds the best one-to-one mapping (Hungarian algorithm);
:func:`heldout_accuracy` fits that mapping on one set and scores it on another, as
``course_lib.infogan_eval.code_accuracy`` (generated digits) and ``q_test_accuracy`` (Q as
a classifier of the test digits) do.

Nothing here trains a network.
"""

from __future__ import annotations

import torch

from .config import check_choice
from .data import affine_resample, check_images

N_CLUSTERS = 10  # the ten digit classes
FEATURES = ("pixels+hog", "pixels")  # what digit_clusters' t-SNE map is built from
HOG_CELL, HOG_BINS = 2, 9  # hog(): 2x2-pixel cells, 9 orientations over 180 degrees


def deskew(x: torch.Tensor) -> torch.Tensor:
    """Remove each digit's slant and centre it: x (B, 1, H, W) in [-1, 1] -> same shape
    (notebook 07, section 7: the first stage of :func:`digit_clusters`).

    From the image moments of the ink (x + 1): centroid (m_r, m_c), row variance v_rr and
    covariance v_rc; the slant is alpha = v_rc / v_rr columns per row (clamped to +-1).
    Output pixel (r, c) reads input (m_r + r - r0, m_c + c - c0 + alpha (r - r0)) around the
    centre (r0, c0), so the ink's centroid moves to the centre and its row-column covariance
    becomes 0 (the classic MNIST deskewing). Hand-written with ``F.affine_grid`` /
    ``F.grid_sample``: neither torchvision nor scipy has a moment-based deskew, and this
    form is one batched call.
    """
    if x.ndim != 4:
        raise ValueError(f"x must be images (B, C, H, W), got {tuple(x.shape)}")
    n, _, h, w = x.shape
    ink = (x + 1).sum(1)  # (B, H, W), background 0
    mass = ink.sum((1, 2)).clamp_min(1e-8)
    rows = torch.arange(h, dtype=x.dtype, device=x.device).view(1, h, 1)
    cols = torch.arange(w, dtype=x.dtype, device=x.device).view(1, 1, w)
    m_r = (ink * rows).sum((1, 2)) / mass
    m_c = (ink * cols).sum((1, 2)) / mass
    v_rr = (ink * (rows - m_r.view(-1, 1, 1)) ** 2).sum((1, 2)) / mass
    v_rc = (ink * (rows - m_r.view(-1, 1, 1)) * (cols - m_c.view(-1, 1, 1))).sum((1, 2)) / mass
    # Clamped to 45 degrees: a nearly flat image (tiny row variance) has no meaningful slant.
    alpha = (v_rc / v_rr.clamp_min(1e-8)).clamp(-1.0, 1.0)
    # affine_grid's coordinates run over [-1, 1]: column u = (c - c0) * 2 / w, row v likewise.
    one, zero = torch.ones_like(alpha), torch.zeros_like(alpha)
    theta = torch.stack([torch.stack([one, alpha * h / w, (m_c - (w - 1) / 2) * 2 / w], 1),
                         torch.stack([zero, one, (m_r - (h - 1) / 2) * 2 / h], 1)], 1)  # fmt: skip
    return affine_resample(x, theta)


def hog(x: torch.Tensor, cell: int = HOG_CELL, bins: int = HOG_BINS) -> torch.Tensor:
    """Histograms of oriented gradients (Dalal & Triggs 2005): x (B, 1, H, W) in [-1, 1] ->
    (B, bins * (H // cell) * (W // cell)).

    Sobel gradients give each pixel an edge strength and an unsigned direction in
    [0, 180) degrees; each ``cell`` x ``cell`` block sums the strengths per direction bin and
    the block's histogram is scaled to unit length. Two strokes of different thickness but
    the same direction give similar histograms where their pixels differ, which is why it
    separates 4s from 9s better than pixels do (notebook 07, section 7). Hand-written:
    neither torch nor scikit-learn has HOG, and this form is three batched calls.
    """
    if x.ndim != 4 or x.shape[1] != 1:
        raise ValueError(f"x must be one-channel images (B, 1, H, W), got {tuple(x.shape)}")
    if not 1 <= cell <= min(x.shape[2:]) or bins < 1:
        raise ValueError(f"need 1 <= cell <= the image side and bins >= 1, got {cell}, {bins}")
    sobel = torch.tensor([[-1.0, 0, 1], [-2, 0, 2], [-1, 0, 1]], dtype=x.dtype, device=x.device)
    kernels = torch.stack([sobel, sobel.T]).unsqueeze(1)  # d/dcolumn, d/drow
    grad = torch.nn.functional.conv2d((x + 1) / 2, kernels, padding=1)  # (B, 2, H, W)
    strength = grad.norm(dim=1)
    angle = torch.atan2(grad[:, 1], grad[:, 0]) % torch.pi
    which = (angle / torch.pi * bins).long().clamp(max=bins - 1)
    votes = torch.nn.functional.one_hot(which, bins).permute(0, 3, 1, 2) * strength.unsqueeze(1)
    hist = torch.nn.functional.avg_pool2d(votes, cell) * cell**2  # (B, bins, H/cell, W/cell)
    return (hist / hist.norm(dim=1, keepdim=True).clamp_min(1e-6)).flatten(1)


def digit_clusters(
    X: torch.Tensor, n_clusters: int = N_CLUSTERS, seed: int = 0, pca_dim: int = 50,
    perplexity: float = 30.0, deskew_first: bool = True, features: str = "pixels+hog",
) -> torch.Tensor:  # fmt: skip
    """Label-free cluster ids (N,) in 0..n_clusters-1 for real digits X (N, 1, H, W) in [-1, 1].

    :func:`deskew` (slant and position vary within a digit class and say nothing about its
    identity); ``features`` "pixels+hog" (default): the deskewed pixels and their :func:`hog`,
    each reduced to ``pca_dim`` dimensions by PCA and scaled to equal overall spread, side by
    side ("pixels": the pixels' PCA alone); a 2-D t-SNE map (van der Maaten & Hinton 2008;
    ``init="pca"``) and k-means with ``n_clusters`` centres, all from scikit-learn and
    seeded by ``seed`` (``deskew_first=False`` skips the deskewing, for comparison). No
    labels are used. ``infogan.train_infogan(X, num_steps, clusters=digit_clusters(X))`` asks Q
    to give each real digit its cluster's code, which anchors the categorical code to groups
    that exist in the data (notebook 07, section 7, measures how well these clusters and the
    anchored codes match the digits). t-SNE's result depends on scikit-learn's thread count.
    """
    from sklearn.cluster import KMeans

    check_images(X, "digit_clusters", shape=None, why="background -1")
    n, dim = len(X), X[0].numel()
    if not 2 <= n_clusters <= n:
        raise ValueError(f"n_clusters must be in 2..{n} (the number of images), got {n_clusters}")
    if not 2 <= pca_dim <= min(n, dim):
        raise ValueError(f"pca_dim must be in 2..{min(n, dim)}, got {pca_dim}")
    if not 0 < perplexity < n:
        raise ValueError(f"perplexity must be in (0, {n}), got {perplexity}")
    check_choice("cluster features", features, FEATURES)
    embedded = tsne_map(X, seed, pca_dim, perplexity, deskew_first, features)
    ids = KMeans(n_clusters, n_init=10, random_state=seed).fit_predict(embedded)
    return torch.as_tensor(ids, dtype=torch.long)


def tsne_map(
    X: torch.Tensor, seed: int = 0, pca_dim: int = 50, perplexity: float = 30.0,
    deskew_first: bool = True, features: str = "pixels+hog",
):  # fmt: skip
    """The 2-D map :func:`digit_clusters` cuts into clusters: :func:`deskew`, the PCA
    features (``features``: see :func:`digit_clusters`) and t-SNE (``init="pca"``), seeded by
    ``seed``; a numpy array (N, 2). The arguments are checked by :func:`digit_clusters`."""
    import numpy as np
    from sklearn.decomposition import PCA
    from sklearn.manifold import TSNE

    X = X.float().cpu()
    X = deskew(X) if deskew_first else X
    blocks = [(X + 1).reshape(len(X), -1) / 2] + ([hog(X)] if features == "pixels+hog" else [])
    reduced = [PCA(min(pca_dim, b.shape[1]), random_state=seed).fit_transform(b.numpy())
               for b in blocks]  # fmt: skip
    feats = np.hstack([r / r.std() for r in reduced]) if len(reduced) > 1 else reduced[0]
    return TSNE(2, perplexity=perplexity, init="pca", random_state=seed).fit_transform(feats)


def confusion_matrix(
    codes: torch.Tensor, labels: torch.Tensor, k: int = N_CLUSTERS
) -> torch.Tensor:
    """(k, k) counts of ``codes`` (N,) against ``labels`` (N,), both in 0..k-1: entry [c, d]
    is the number of items with code c and label d (rows = codes). On the CPU."""
    codes, labels = codes.long().cpu(), labels.long().cpu()
    if codes.shape != labels.shape or codes.ndim != 1:
        raise ValueError(f"codes and labels must be (N,) each, got {tuple(codes.shape)} and "
                         f"{tuple(labels.shape)}")  # fmt: skip
    if len(codes) and (min(codes.min(), labels.min()) < 0 or max(codes.max(), labels.max()) >= k):
        raise ValueError(f"codes and labels must lie in 0..{k - 1}")
    confusion = torch.zeros(k, k, dtype=torch.long)
    confusion.index_put_((codes, labels), torch.ones(len(codes), dtype=torch.long),
                         accumulate=True)  # fmt: skip
    return confusion


def match_accuracy(codes: torch.Tensor, labels: torch.Tensor, k: int = N_CLUSTERS) -> dict:
    """Best one-to-one mapping between ``codes`` (N,) and ``labels`` (N,), both in 0..k-1:
    the (k, k) count matrix (rows = codes) scored by :func:`assignment_accuracy`. Used in
    notebook 07 for :func:`digit_clusters` (cluster vs true label, evaluation only). The
    mapping is fitted on the items it scores, so it flatters a code that is only
    consistent by chance; :func:`heldout_accuracy` scores a mapping on other items."""
    return assignment_accuracy(confusion_matrix(codes, labels, k))


def heldout_accuracy(
    fit_codes: torch.Tensor, fit_labels: torch.Tensor, codes: torch.Tensor,
    labels: torch.Tensor, k: int = N_CLUSTERS,
) -> dict:  # fmt: skip
    """Fit the best one-to-one code -> label mapping on (``fit_codes``, ``fit_labels``) and
    score it on other items (``codes``, ``labels``), all (N,) in 0..k-1 (notebook 07).

    Returns ``accuracy`` (fraction of the scored items whose label is their code's mapped
    label), ``mapping`` (list: code c -> label, fitted on the fit set only), ``confusion``
    ((k, k) counts of the scored items, rows = codes) and ``fit_accuracy`` (the mapping's
    accuracy on the items it was fitted on: optimistic, since the mapping was chosen to
    maximise it). ``course_lib.infogan_eval.code_accuracy`` and ``q_test_accuracy`` use it.
    """
    fit = match_accuracy(fit_codes, fit_labels, k)
    confusion = confusion_matrix(codes, labels, k)
    matched = confusion[torch.arange(k), torch.tensor(fit["mapping"])].sum()
    return {"accuracy": float(matched) / max(float(confusion.sum()), 1.0),
            "mapping": fit["mapping"], "confusion": confusion,
            "fit_accuracy": fit["accuracy"]}  # fmt: skip


def assignment_accuracy(confusion: torch.Tensor) -> dict:
    """Best one-to-one code -> class mapping of a (K, K) count matrix (Hungarian algorithm,
    ``scipy.optimize.linear_sum_assignment``), the score of notebook 07. Returns
    ``accuracy`` (matched counts / all), ``mapping`` (list: row k -> column) and
    ``confusion`` itself."""
    from scipy.optimize import linear_sum_assignment

    rows, cols = linear_sum_assignment(-confusion.numpy())
    acc = float(confusion[rows, cols].sum()) / float(confusion.sum())
    return {"accuracy": acc, "mapping": cols.tolist(), "confusion": confusion}
