"""The toy experiments of notebooks 03 and 08: which runs, with which settings, compared how.

Notebook 03 (mode collapse, and its fixes): the plain vanilla GAN, every method of
:data:`TABLE_METHODS` with PacGAN's BatchNorm generator and the categorical latent, all for
``num_steps`` on the selection seeds ``seeds`` (:func:`candidate_runs`, trained by
:func:`selection_runs`), each scored by its six numbers (:func:`score_run`); the best of
them by the selection rule (:func:`best_method`) retrained from scratch for ``long_steps``
on the held-out seeds ``heldout_seeds`` (:func:`heldout_run`), so no number that is
reported was scored on the seeds it was chosen on; the categorical latent's lesson run for
``categorical_steps`` (:func:`categorical_run`; shipped by :mod:`course_lib.toy_checkpoint`);
exact samples of the mixture as the reference row (:func:`exact_samples`); beside the
published rows (:data:`PUBLISHED`).
Notebook 08: the vanilla GAN, weight clipping and WGAN-GP with the same networks on grid25
(:func:`wgan_runs`). Each notebook's settings are spelled out here, so its bench trains
exactly what it shows. Training: :mod:`course_lib.toy_train`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import fields, replace
from typing import Any

import torch

from .config import check_choice
from .data import toy_distribution
from .toy_diagnostics import toy_scores
from .toy_train import METHODS, ToyConfig, ToyEnsemble, ToyRun, train_parallel

TABLE_METHODS: tuple[str, ...] = ("vanilla", "minibatch_stddev", "pacgan", "wgan_gp")
BN_SUFFIX = " + BN G"  # table label suffix of the runs with the BatchNorm generator
# Notebook 03's WGAN-GP penalty: lambda = 0.1, not the paper's 10, which was tuned for
# images in [-1, 1]^3072; on 2-D toys at scale 1-4 it dominates the small Wasserstein term.
NB03_GP_WEIGHT = 0.1
# The selection rule's diversity gate: a method whose recall is below this is out, however
# many modes it hits (exact samples reach 0.96-0.98; a collapsed generator about 0).
MIN_RECALL = 0.5
_BUDGET_KEYS = ("batch_size", "hidden", "lr", "n_critic", "snapshots", "eval_samples", "seeds")


def run_from_budget(budget: Mapping[str, Any], data: str, method: str = "vanilla",
                    **changes) -> ToyRun:  # fmt: skip
    """Notebook 03's run of ``method`` on ``data`` from ``BUDGETS["03_mode_collapse"][profile]``
    (``num_steps`` generator steps); ``changes`` override ``num_steps`` or any
    :class:`~course_lib.toy_train.ToyConfig` field."""
    check_choice("method", method, METHODS)
    kw = {k: budget[k] for k in _BUDGET_KEYS if k in budget}
    kw["seeds"] = tuple(kw.get("seeds", (0, 1, 2)))
    num_steps = int(changes.pop("num_steps", budget["num_steps"]))
    known = sorted({f.name for f in fields(ToyConfig)} | {"num_steps"})
    for key in sorted(changes):
        check_choice("ToyConfig field", key, known, "See course_lib.toy_train.ToyConfig.")
    config = ToyConfig(method=method, gp_weight=NB03_GP_WEIGHT, **kw)
    return ToyRun(data, num_steps, replace(config, **changes))


# Rough cost of one generator step, relative to the plain vanilla GAN, measured on 2 CPU cores
# (fast budget): the longest runs are started first, so two workers finish together.
_STEP_COST = {"wgan_gp": 2.0, "minibatch_stddev": 1.7, "vanilla": 1.0, "pacgan": 0.9,
              "categorical_latent": 0.8}  # fmt: skip


def candidate_runs(budget: Mapping[str, Any], data: str,
                   vanilla: bool = True) -> dict[str, ToyRun]:  # fmt: skip
    """Notebook 03's selection table on ``data``, in table order: the plain vanilla GAN (unless
    ``vanilla`` is False), every method of ``TABLE_METHODS`` with the BatchNorm generator
    (labels ``method + BN G``) and the categorical latent, all for ``num_steps``."""
    runs = {"vanilla": run_from_budget(budget, data)} if vanilla else {}
    for m in TABLE_METHODS:
        runs[m + BN_SUFFIX] = run_from_budget(budget, data, m, batchnorm=True)
    runs["categorical_latent"] = run_from_budget(budget, data, "categorical_latent")
    return runs


def selection_runs(
    budget: Mapping[str, Any], vanilla: Mapping[str, ToyEnsemble], workers: int = 2,
    progress: bool = True, device: torch.device | str = "cpu",
) -> dict[str, dict[str, ToyEnsemble]]:  # fmt: skip
    """Train :func:`candidate_runs` on every toy set of ``vanilla`` (set -> its plain vanilla
    run, trained already and reused) in one pool of ``workers``, longest runs first, so both
    sets' tables take about half the time of one after the other; returns set -> label ->
    trained run, in table order. Each run is the same as alone (one thread, own generators)."""
    for data, model in vanilla.items():
        if model.run != run_from_budget(budget, data):
            raise ValueError(f"vanilla[{data!r}] must be this budget's plain vanilla run on "
                             f"{data!r}, got {model.run}")  # fmt: skip
    tables = {data: candidate_runs(budget, data, vanilla=False) for data in vanilla}
    jobs = {f"{data}: {label}": run for data, runs in tables.items() for label, run in runs.items()}
    order = sorted(jobs, key=lambda k: -_STEP_COST.get(jobs[k].config.method, 1.0)
                   * jobs[k].num_steps)  # fmt: skip
    trained = train_parallel({k: jobs[k] for k in order}, workers, progress, device)
    return {data: {"vanilla": vanilla[data],
                   **{label: trained[f"{data}: {label}"] for label in runs}}
            for data, runs in tables.items()}  # fmt: skip


def score_run(model: ToyEnsemble) -> dict:
    """The six numbers of ``model``'s samples at its last snapshot, means over its seeds and
    ``per_seed`` (:func:`course_lib.toy_diagnostics.toy_scores`; notebook 03)."""
    return toy_scores(model.samples[max(model.samples)], model.data)


def best_method(scores: Mapping[str, Mapping[str, Any]], min_recall: float = MIN_RECALL) -> str:
    """The selection rule of notebook 03 and its bench: among the runs whose mean ``recall``
    is at least ``min_recall``, the label with the largest ``modes`` x ``high_quality``
    (ties: more modes); if no run reaches ``min_recall``, the one with the largest recall.

    ``scores``: label -> :func:`score_run` of a run on the selection seeds. Modes and high
    quality must both be high: a mode count alone rewards generators that spread noise over
    the square (uniform noise touches 22 of grid25's 25 modes at 2% high quality), a
    high-quality fraction alone rewards collapse onto one mode. The recall gate keeps out a
    generator that puts each mode on a few points, which scores 100% high quality on every
    mode. Choose on the selection seeds, report on :func:`heldout_run`.
    """
    if not scores:
        raise ValueError("scores is empty: train and score at least one method first")
    eligible = [k for k, s in scores.items() if s["recall"] >= min_recall]
    if not eligible:
        return max(scores, key=lambda k: scores[k]["recall"])
    return max(eligible, key=lambda k: (scores[k]["modes"] * scores[k]["high_quality"],
                                        scores[k]["modes"]))  # fmt: skip


def heldout_run(budget: Mapping[str, Any], model: ToyEnsemble) -> ToyRun:
    """``model``'s run again, from scratch, for ``budget["long_steps"]`` generator steps on the
    held-out seeds ``budget["heldout_seeds"]`` (notebook 03): a method chosen by looking at
    its seeds is reported on others."""
    steps, seeds = int(budget["long_steps"]), tuple(budget["heldout_seeds"])
    if steps < 1:
        raise ValueError(f"long_steps must be >= 1, got {steps}")
    if not seeds or set(seeds) & set(model.config.seeds):
        raise ValueError(f"heldout_seeds {seeds} must be non-empty and share no seed with the "
                         f"seeds the run was selected on, {model.config.seeds}")  # fmt: skip
    return replace(model.run, num_steps=steps, config=replace(model.config, seeds=seeds))


def exact_samples(data: str, n: int, seeds: tuple[int, ...]) -> torch.Tensor:
    """(S, n, 2) exact samples of the mixture ``data``, one draw per seed (generator seeded
    with 1000 + seed, never the reference draw of ``toy_scores``): the reference row that a
    perfect generator would score (notebook 03)."""
    dist = toy_distribution(data)
    return torch.stack([dist.sample(n, torch.Generator().manual_seed(1000 + s)) for s in seeds])


def categorical_run(budget: Mapping[str, Any], data: str, **changes) -> ToyRun:
    """Notebook 03's ``categorical_latent`` run on ``data`` for ``budget["categorical_steps"]``
    steps (plain G, no BatchNorm: that is how it was measured; 50 codes, information weight 1);
    ``changes`` override ``num_steps`` or any config field."""
    changes.setdefault("num_steps", budget["categorical_steps"])
    return run_from_budget(budget, data, "categorical_latent", **changes)


# Published rows (2,500 samples, PacGAN/VEEGAN protocol): (modes, high-quality fraction).
PUBLISHED: dict[str, dict[str, tuple[float, float]]] = {
    "ring8": {
        "GAN (VEEGAN Table 1)": (1.0, 0.993),
        "PacGAN4 (PacGAN Table 1)": (7.8, 0.959),
    },
    "grid25": {
        "GAN (VEEGAN Table 1)": (3.3, 0.005),
        "PacGAN4 (PacGAN Table 1)": (24.8, 0.936),
        "GDPP (GDPP paper)": (24.8, 0.685),
        "WGAN-GP (GDPP paper)": (24.2, 0.287),
    },
}

# Notebook 08's toy comparison: learning rate per method (weight clipping needs a smaller one).
NB08_LR: dict[str, float] = {"vanilla": 1e-3, "wgan_clip": 5e-4, "wgan_gp": 1e-3}


def wgan_runs(budget: Mapping[str, Any], data: str = "grid25", **changes) -> dict[str, ToyRun]:
    """Notebook 08's toy comparison from ``BUDGETS["08_wgan_gp"][profile]``: the vanilla GAN,
    weight clipping and WGAN-GP (lambda = 10, n_critic = 5) with the same 3-layer networks,
    Gaussian latents, constant learning rates (:data:`NB08_LR`), 4 snapshots of samples
    from fixed latents and of the critic on a 60 x 60 grid, the loss averaged over seeds
    (``seed_loss="mean"``, as measured). ``changes`` override config fields for every run.
    """
    config = ToyConfig(
        batch_size=budget["batch_size"], hidden=budget["hidden"], seeds=tuple(budget["seeds"]),
        latent_kind="gaussian", lr_decay=False, seed_loss="mean", snapshots=4,
        eval_latents="fixed", critic_grid=60,
    )  # fmt: skip
    return {m: ToyRun(data, int(budget["num_steps"]), replace(config, method=m, lr=lr, **changes))
            for m, lr in NB08_LR.items()}  # fmt: skip
