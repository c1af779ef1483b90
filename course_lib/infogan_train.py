"""Notebook 07's anchored InfoGAN run, shipped: ``python -m course_lib.infogan_train``.

Notebook 07 trains two InfoGANs of ``num_steps`` = 1,600 steps in ``fast``: the plain one
(sections 4-6) and the one anchored to label-free clusters of the digits (section 7). Both
together take 5-6 min on 2 CPU cores, so the course ships the anchored run in
``data/infogan_anchored_mnist5k/`` (safetensors weights of G and of D with its Q head;
``config.json``: every setting, and the SHA-256 of the cluster codes it was anchored to,
which are shipped too;
``MANIFEST.json``: checksums and provenance, with the training curves). :func:`train` is
:func:`course_lib.infogan.train_infogan` on one CPU thread, the path of
``benchmarks/bench_infogan.py``, so the shipped seed-0 run is what the bench would train.
:func:`load_or_train` loads it only when the settings asked for are the shipped ones (the
``fast`` profile's), and trains otherwise. t-SNE may cluster the digits a little differently
on another machine; then the shipped run still loads, with the clusters it was trained on,
and the note says on how many digits they differ from the learner's.

    python -m course_lib.infogan_train train --out data/infogan_anchored_mnist5k
    python -m course_lib.infogan_train check [folder]
"""

from __future__ import annotations

import hashlib
import shlex
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from . import io, shipped
from .budgets import BUDGETS
from .infogan import InfoDiscriminator, InfoGenerator, build, train_infogan
from .train import History

DEFAULT_FOLDER = Path(__file__).resolve().parent.parent / "data" / "infogan_anchored_mnist5k"
REBUILD = "python -m course_lib.infogan_train train --out data/infogan_anchored_mnist5k"
_NOT_SETTINGS = {"data", "clusters", "device", "bf16", "threads", "callback", "callback_every",
                 "progress"}  # how, not what, is trained (clusters: by their digest)  # fmt: skip


def clusters_digest(clusters: torch.Tensor) -> str:
    """SHA-256 of the cluster codes (int64, CPU): which anchor a run was trained with."""
    return hashlib.sha256(clusters.detach().to("cpu", torch.int64).numpy().tobytes()).hexdigest()


def recipe(budget: Mapping[str, Any], clusters: torch.Tensor, seed: int = 0) -> dict[str, Any]:
    """Every setting that decides the anchored run's weights, for ``budget``
    (``BUDGETS["07_infogan"][profile]``): ``num_steps``, each weight-deciding argument of
    :func:`~course_lib.infogan.train_infogan` (defaults filled in) and ``clusters_sha256``."""
    return {"num_steps": int(budget["num_steps"]),
            **shipped.settings_of(train_infogan, _NOT_SETTINGS), "seed": int(seed),
            "hidden": int(budget["hidden"]), "channels": int(budget["channels"]),
            "lr_G": float(budget["lr_G"]),
            "clusters_sha256": clusters_digest(clusters)}  # fmt: skip


def train(images: torch.Tensor, clusters: torch.Tensor, settings: Mapping[str, Any],
          device: torch.device | str = "cpu", progress: bool = True,
          ) -> tuple[tuple[InfoGenerator, InfoDiscriminator], History]:  # fmt: skip
    """The anchored run with ``settings`` (:func:`recipe`) on one CPU thread."""
    kw = dict(settings)
    if kw.pop("clusters_sha256") != clusters_digest(clusters):
        raise ValueError("these clusters are not the ones the settings were made for")
    steps = kw.pop("num_steps")
    return train_infogan(images, steps, clusters=clusters, device=device, threads=1,
                         progress=progress, **kw)  # fmt: skip


def save(
    folder: str | Path, nets: tuple[InfoGenerator, InfoDiscriminator], clusters: torch.Tensor,
    settings: Mapping[str, Any], provenance: dict,
) -> Path:  # fmt: skip
    """Write G and D (with Q), the cluster codes (``clusters``: the run's anchor) and the
    settings as one artefact folder, atomically."""
    state = shipped.pack(dict(zip("GD", nets))) | {"clusters": clusters.cpu().to(torch.int64)}
    if clusters_digest(clusters) != settings["clusters_sha256"]:
        raise ValueError("these clusters are not the ones the settings were made for")
    return io.save_weights(folder, state, dict(settings), provenance)


def load(folder: str | Path = DEFAULT_FOLDER, device: torch.device | str = "cpu",
         ) -> tuple[tuple[InfoGenerator, InfoDiscriminator], torch.Tensor, dict]:  # fmt: skip
    """The shipped (net_G, net_D) in eval mode on ``device``, the cluster codes it was
    trained with and {"config", "provenance", "files"}, after checking every file; a
    missing, altered or mismatched folder raises :class:`course_lib.io.CheckpointError`
    naming the command that rebuilds it."""
    state, config, manifest = io.load_weights(folder, REBUILD, device)
    try:
        nets = shipped.quiet_build(lambda: build(
            int(config["latent_dim"]), int(config["hidden"]), int(config["channels"])))
        shipped.unpack(state, dict(zip("GD", nets)), extra=["clusters"])
        clusters = state["clusters"].cpu()
        if clusters_digest(clusters) != config["clusters_sha256"]:
            raise ValueError("the shipped clusters do not match config.json's digest")
        manifest["provenance"]["history"]["mi_cat"]  # the curves the notebook plots
    except (KeyError, TypeError, ValueError, RuntimeError) as err:
        raise io.CheckpointError(f"{Path(folder).name} does not hold notebook 07's InfoGAN "
                                 f"({err}). Rebuild it with `{REBUILD}`.") from err  # fmt: skip
    return (tuple(net.to(device).eval() for net in nets), clusters,
            {"config": config, **manifest})


def _cluster_difference(anchor: torch.Tensor, clusters: torch.Tensor) -> str:
    """How the shipped run's clusters differ from the learner's, after matching cluster
    numbers one to one (k-means numbers the same groups arbitrarily)."""
    from .digit_clusters import match_accuracy

    k = int(max(anchor.max(), clusters.max())) + 1
    moved = round(len(anchor) * (1 - match_accuracy(clusters, anchor, k)["accuracy"]))
    if moved == 0:
        return "its clusters are these, numbered differently; the shipped ones are returned"
    return (f"its clusters group {moved} of {len(anchor)} digits differently from these "
            "(after matching cluster numbers); the shipped ones are returned")


def load_or_train(
    images: torch.Tensor, clusters: torch.Tensor, settings: Mapping[str, Any],
    folder: str | Path = DEFAULT_FOLDER, device: torch.device | str = "cpu",
    progress: bool = True,
) -> tuple[tuple[InfoGenerator, InfoDiscriminator], History, torch.Tensor, str]:  # fmt: skip
    """The shipped anchored run if it was trained with ``settings`` (:func:`recipe`; its
    clusters may differ from ``clusters``, see the module docstring), else one trained here
    with ``clusters`` on one thread: ((net_G, net_D), history, the clusters the run was
    anchored to, one line saying which and why)."""
    want = {k: v for k, v in settings.items() if k != "clusters_sha256"}
    why = "no shipped run with these settings"
    try:
        nets, anchor, info = load(folder, device)
        have = {k: v for k, v in info["config"].items() if k != "clusters_sha256"}
        if have == want and anchor.shape == clusters.shape:
            note = (f"loaded {Path(folder).name}/ ({shipped.describe(info['provenance'])}; "
                    f"trained by `{REBUILD}`)")  # fmt: skip
            if not torch.equal(anchor, clusters.cpu()):
                note += f"; {_cluster_difference(anchor, clusters.cpu())}"
            return nets, info["provenance"]["history"], anchor, note
    except io.CheckpointError as err:
        why = str(err)
    start = time.perf_counter()
    nets, history = train(images, clusters, settings, device, progress)
    return nets, history, clusters, f"trained here in {time.perf_counter() - start:.0f} s ({why})"


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser, tr = shipped.parser("infogan_train", __doc__, "notebook 07's anchored InfoGAN",
                                str(DEFAULT_FOLDER), BUDGETS["07_infogan"])  # fmt: skip
    tr.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.command == "check":
        nets, _, info = load(args.path)
        n = sum(p.numel() for net in nets for p in net.parameters())
        print(f"OK {Path(args.path).name}: {shipped.describe(info['provenance'])}, "
              f"{n} parameters")
        return 0
    from .data import load_images
    from .digit_clusters import digit_clusters

    images, _ = load_images("mnist5k", "train")
    clusters = digit_clusters(images, seed=args.seed)
    settings = recipe(BUDGETS["07_infogan"][args.profile], clusters, seed=args.seed)
    start = time.perf_counter()
    nets, history = train(images, clusters, settings)
    seconds = time.perf_counter() - start
    command = shlex.join(["python", "-m", "course_lib.infogan_train", *argv])
    prov = io.provenance(command, steps=settings["num_steps"], seed=args.seed,
                         wall_time_s=seconds, device="cpu", threads=1, profile=args.profile,
                         history=shipped.plain_history(history))
    save(args.out, nets, clusters, settings, prov)
    print(f"saved {args.out} ({seconds:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
