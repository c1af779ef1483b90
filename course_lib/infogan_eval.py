"""Figures and scores of a trained InfoGAN (notebook 07, benchmarks/bench_infogan.py).

- :func:`category_sheet`: row k = categorical code k, the same noise in every row;
- :func:`continuous_sweep`: one continuous code swept, the other held at 0 (section 5);
- :func:`sample_per_code` and :func:`code_accuracy`: how well the categorical code captures
  digit identity, scored by the course classifier with the best one-to-one code -> digit
  mapping fitted on one set of generated digits and applied to another
  (:func:`course_lib.digit_clusters.heldout_accuracy`); no labels in training;
- :func:`code_recall`: per-code diversity, so that a code which draws one prototype of its
  digit cannot pass as a good code (recall of each code's digits against the real digits
  of its mapped class, beside the same measure for real digits);
- :func:`q_codes` and :func:`q_test_accuracy`: Q's categorical head used as a classifier
  of the real test digits, its code -> label mapping fitted on the training digits (what
  Chen et al. 2016 report as about 5% error on MNIST).

Each draws its noise and codes from a CPU generator seeded by ``seed`` and runs on the
network's device, with the network in eval mode (its previous mode is restored);
``viz.show_images`` copies images to the CPU. The codes, networks, steps and trainer live
in :mod:`course_lib.infogan`.
"""

from __future__ import annotations

import torch

from .config import check_choice
from .data import check_images, load_images
from .digit_clusters import heldout_accuracy
from .infogan import N_CAT, make_latent
from .noise import sample_latent
from .train import eval_mode, model_device, to_device


# ---------------------------------------------------------------------------------------
# Evaluation and figures (on the generator's device; viz.show_images copies to the CPU)
# ---------------------------------------------------------------------------------------
@torch.no_grad()
def category_sheet(net_G, per_row: int = 10, cont=(0.0, 0.0), seed: int = 0) -> torch.Tensor:
    """The classic sheet of notebook 07: row k = category k, columns = the same ``per_row``
    noise vectors z ~ U[-1, 1]^latent_dim from ``seed``, continuous codes fixed at ``cont``.

    Returns images (10 * per_row, 1, 28, 28) on G's device, row-major (use nrow=per_row),
    drawn with G in eval mode (its previous mode is restored).
    """
    device = model_device(net_G)
    g = torch.Generator().manual_seed(seed)
    z = sample_latent(per_row, net_G.latent_dim, "uniform", g).repeat(N_CAT, 1)
    cat = torch.arange(N_CAT).repeat_interleave(per_row)
    c = torch.tensor(cont, dtype=torch.float32).expand(len(z), -1)
    if c.shape[1] != net_G.n_cont:
        raise ValueError(f"cont must hold {net_G.n_cont} values, got {tuple(cont)}")
    with eval_mode(net_G):
        return net_G(make_latent(z, cat, c).to(device))


@torch.no_grad()
def continuous_sweep(
    net_G, code: int, values: torch.Tensor, cat: int | None = None, seed: int = 0,
) -> torch.Tensor:  # fmt: skip
    """Sweep continuous code ``code`` (0 or 1) over ``values`` (V,), the other held at 0
    (notebook 07, section 5).

    One row per category (or only ``cat``), the same noise z ~ U[-1, 1] from ``seed`` in
    every cell of a row. Returns (rows * V, 1, 28, 28) on G's device, row-major (use
    nrow=V), drawn with G in eval mode (its previous mode is restored).
    """
    check_choice("continuous code", code, range(net_G.n_cont))
    if cat is not None:
        check_choice("category", cat, range(N_CAT))
    device = model_device(net_G)
    cats = list(range(N_CAT)) if cat is None else [int(cat)]
    values = torch.as_tensor(values, dtype=torch.float32).cpu()
    g = torch.Generator().manual_seed(seed)
    z = sample_latent(len(cats), net_G.latent_dim, "uniform", g)
    z = z.repeat_interleave(len(values), 0)
    cat_idx = torch.tensor(cats).repeat_interleave(len(values))
    cont = torch.zeros(len(z), net_G.n_cont)
    cont[:, code] = values.repeat(len(cats))
    with eval_mode(net_G):
        return net_G(make_latent(z, cat_idx, cont).to(device))


@torch.no_grad()
def sample_per_code(net_G, per_code: int = 200, seed: int = 123):
    """``per_code`` digits for each category (random z and continuous codes U[-1, 1] from
    ``seed``), the samples that notebook 07's :func:`code_accuracy` scores: (images
    (10 * per_code, 1, 28, 28) on G's device, drawn in eval mode, codes (10 * per_code,))."""
    g = torch.Generator().manual_seed(seed)
    n = per_code * N_CAT
    z = sample_latent(n, net_G.latent_dim, "uniform", g)
    cat = torch.arange(N_CAT).repeat_interleave(per_code)
    cont = sample_latent(n, net_G.n_cont, "uniform", g)
    with eval_mode(net_G):
        return net_G(make_latent(z, cat, cont).to(model_device(net_G))), cat


def _classified(images: torch.Tensor) -> torch.Tensor:
    """The course classifier's digit (N,) for images (N, 1, 28, 28), on their device."""
    from .metrics import classifier_probs

    return classifier_probs(images).argmax(1)


def code_accuracy(net_G, per_code: int = 200, seed: int = 123, fit_seed: int = 321) -> dict:
    """How well the categorical code captures digit identity, without labels (notebook 07).

    Generates ``per_code`` digits per category twice (:func:`sample_per_code`, from
    ``fit_seed`` and from ``seed``) and labels them with the course classifier
    (:func:`course_lib.metrics.classifier_probs`, on G's device). The one-to-one code ->
    digit mapping that maximises agreement is fitted on the ``fit_seed`` set (Hungarian
    algorithm) and scored on the ``seed`` set (:func:`~course_lib.digit_clusters.
    heldout_accuracy`): fitted and scored on the same digits, a mapping would flatter codes
    that agree with a digit only by chance. Returns ``accuracy`` (fraction of the scored
    digits whose predicted digit is their code's mapped digit), ``mapping`` (list: code k ->
    digit), ``confusion`` (10 x 10 counts of the scored digits, rows = codes, columns =
    predicted digits) and ``fit_accuracy`` (the mapping on its own fit set).

    A code that draws one prototype of its digit scores perfectly here: report
    :func:`code_recall` beside it.
    """
    if fit_seed == seed:
        raise ValueError(f"fit_seed and seed must differ (the mapping is fitted on one set of "
                         f"samples and scored on another); got {seed} for both")  # fmt: skip
    fit_images, fit_cat = sample_per_code(net_G, per_code, fit_seed)
    images, cat = sample_per_code(net_G, per_code, seed)
    return heldout_accuracy(fit_cat, _classified(fit_images), cat, _classified(images))


def reference_split(labels: torch.Tensor, seed: int = 0) -> tuple[list, list]:
    """Split each class of ``labels`` (N,) into two halves of equal size ``m`` (the smaller
    class's half), chosen by a permutation seeded with ``seed``: (reference, held) lists of
    index tensors, one (m,) tensor per class. :func:`code_recall` scores generated digits
    against the reference half and the held half against it (the real-data value)."""
    g = torch.Generator().manual_seed(seed)
    labels = labels.long().cpu()
    per_class = [torch.nonzero(labels == d).squeeze(1) for d in range(N_CAT)]
    m = min(len(idx) for idx in per_class) // 2
    if m < 4:
        raise ValueError(f"code_recall needs at least 8 digits of every class 0..9, got "
                         f"{[len(idx) for idx in per_class]}")  # fmt: skip
    perms = [idx[torch.randperm(len(idx), generator=g)] for idx in per_class]
    return [p[:m] for p in perms], [p[m : 2 * m] for p in perms]


@torch.no_grad()
def code_recall(
    net_G, mapping: list[int], data: tuple[torch.Tensor, torch.Tensor] | None = None,
    k: int = 3, seed: int = 123,
) -> dict:  # fmt: skip
    """Per-code diversity of a trained generator (notebook 07): does code c draw its digit
    in all its styles, or a few prototypes?

    ``data`` = (images (N, 1, 28, 28) in [-1, 1], labels (N,)), by default the mnist5k
    training digits, split per class into a reference half and a held half of m digits
    each (:func:`reference_split`; 225 per class for mnist5k). For each code c, m digits
    (:func:`sample_per_code` from ``seed``) are compared with the reference half of class
    ``mapping[c]`` (e.g. :func:`code_accuracy`'s mapping) by improved recall, k = 3, on
    the course classifier's features (:func:`course_lib.metrics.precision_recall`): the
    fraction of real digits of that class inside the k-NN balls of the code's digits. A
    code that draws one image scores 0 (its balls have radius 0). The held half, scored
    the same way, is what real digits reach.

    Returns ``recall`` and ``precision`` (means over codes), ``per_code`` (recall of each
    code), ``real_recall`` (mean over classes of the held half's recall) and
    ``real_per_digit``, ``m`` and ``k``.
    """
    from .metrics import classifier_features, precision_recall

    if sorted(mapping) != list(range(N_CAT)):
        raise ValueError(f"mapping must list the digit of each code 0..9, each digit once "
                         f"(a permutation, e.g. code_accuracy(...)['mapping']); "
                         f"got {mapping}")  # fmt: skip
    X, y = data if data is not None else load_images("mnist5k", "train")
    check_images(X, "code_recall")
    reference, held = reference_split(y)
    m = len(reference[0])
    device = model_device(net_G)
    images, _ = sample_per_code(net_G, m, seed)  # code-major: code c is rows c*m..(c+1)*m-1
    fake = classifier_features(images)
    real = classifier_features(to_device(X, device))
    codes = [precision_recall(fake[c * m : (c + 1) * m], real[to_device(reference[d], device)], k)
             for c, d in enumerate(mapping)]  # fmt: skip
    real_per_digit = [precision_recall(real[to_device(held[d], device)],
                                       real[to_device(reference[d], device)], k)["recall"]
                      for d in range(N_CAT)]  # fmt: skip
    per_code = [r["recall"] for r in codes]
    return {"recall": sum(per_code) / N_CAT, "per_code": per_code,
            "precision": sum(r["precision"] for r in codes) / N_CAT,
            "real_recall": sum(real_per_digit) / N_CAT, "real_per_digit": real_per_digit,
            "m": m, "k": k}  # fmt: skip


@torch.no_grad()
def q_codes(net_D, X: torch.Tensor, batch_size: int = 500) -> torch.Tensor:
    """Q's categorical prediction argmax_c Q(c | x) for digits X (N, 1, 28, 28) in [-1, 1]
    (notebook 07): (N,) code indices on D's device, computed in eval mode (its previous
    mode is restored), ``batch_size`` digits at a time."""
    device = model_device(net_D)
    with eval_mode(net_D):
        return torch.cat([net_D.forward_all(to_device(b, device))[1].argmax(1)
                          for b in X.split(batch_size)])  # fmt: skip


def q_test_accuracy(
    net_D, train: tuple[torch.Tensor, torch.Tensor] | None = None,
    test: tuple[torch.Tensor, torch.Tensor] | None = None,
) -> dict:  # fmt: skip
    """Q's categorical head as a classifier of real digits, like-for-like with Chen et al.
    2016 (section 7.1: about 5% error on MNIST) (notebook 07, benchmarks/bench_infogan.py).

    ``train`` and ``test`` are (images (N, 1, 28, 28) in [-1, 1], labels (N,)), by default
    the 4,500 training and 500 test digits of mnist5k. Q's codes (:func:`q_codes`) of the
    training digits and their labels fit the one-to-one code -> label mapping (Hungarian
    algorithm); the test digits are then classified as the mapped label of their code, and
    their labels are used only to score. Returns ``accuracy`` (on the test digits),
    ``error`` (1 - accuracy), ``mapping`` (code -> label), ``confusion`` (10 x 10 counts of
    the test digits, rows = codes, columns = labels) and ``fit_accuracy`` (the training
    digits under the same mapping).
    """
    X_train, y_train = train if train is not None else load_images("mnist5k", "train")
    X_test, y_test = test if test is not None else load_images("mnist5k", "test")
    check_images(X_train, "q_test_accuracy")
    check_images(X_test, "q_test_accuracy")
    out = heldout_accuracy(q_codes(net_D, X_train), y_train, q_codes(net_D, X_test), y_test)
    return out | {"error": 1.0 - out["accuracy"]}
