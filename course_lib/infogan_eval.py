"""Figures and scores of a trained InfoGAN generator (notebook 07).

- :func:`category_sheet`: row k = categorical code k, the same noise in every row;
- :func:`continuous_sweep`: one continuous code swept, the other held at 0 (section 5);
- :func:`sample_per_code` and :func:`code_accuracy`: how well the categorical code captures
  digit identity, scored by the course classifier and the best one-to-one code -> digit
  mapping (:func:`course_lib.digit_clusters.match_accuracy`), without labels in training.

Each draws its noise and codes from a CPU generator seeded by ``seed`` and runs on G's
device, with G in eval mode (its previous mode is restored); ``viz.show_images`` copies
the images to the CPU. The codes, networks, steps and trainer live in
:mod:`course_lib.infogan`.
"""

from __future__ import annotations

import torch

from .config import check_choice
from .digit_clusters import match_accuracy
from .infogan import N_CAT, make_latent
from .noise import sample_latent
from .train import eval_mode, model_device


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


def code_accuracy(net_G, per_code: int = 200, seed: int = 123) -> dict:
    """How well the categorical code captures digit identity, without labels (notebook 07).

    Generates ``per_code`` digits per category (:func:`sample_per_code`), classifies them
    with the course classifier (:func:`course_lib.metrics.classifier_probs`, on G's device),
    and finds the one-to-one mapping code -> digit that maximises agreement
    (:func:`course_lib.digit_clusters.match_accuracy`). Returns ``accuracy`` (fraction of
    samples whose predicted digit is their code's mapped digit), ``mapping`` (list: code k ->
    digit), ``confusion`` (10 x 10 counts, rows = codes, columns = predicted digits).
    """
    from .metrics import classifier_probs

    images, cat = sample_per_code(net_G, per_code, seed)
    with torch.no_grad():
        predicted = classifier_probs(images).argmax(1)
    return match_accuracy(cat, predicted)
