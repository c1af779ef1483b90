"""Notebook 03's disconnected-latent lesson run, shipped: ``python -m course_lib.toy_checkpoint``.

The categorical latent needs ``categorical_steps`` = 10,000 generator steps in ``fast``
(about 3 min on one core per toy set), far more than the rest of notebook 03, so the course
ships the two trained ensembles (``ring8`` and ``grid25``, seeds 0-2) in
``data/toy_categorical/`` and the notebook loads them. They are exactly the run the notebook
would train: :func:`train` calls :func:`course_lib.toy_protocol.categorical_run` with the
``fast`` budget and trains it like the notebook and the bench (one CPU thread per set,
:func:`course_lib.toy_train.train_parallel`), so the shipped numbers are the bench's
``mode_collapse.*.categorical_latent_long`` rows. :func:`load_or_train` uses a shipped set
only when its recorded run equals the one the current profile asks for (``smoke`` and
``full`` train their own), and trains the sets it cannot load: a set that is missing or
was trained differently, or every set when a file of the folder fails its checksum.

Files (one artefact, :mod:`course_lib.io`'s convention): ``<set>.safetensors`` with the
three networks (``G.``, ``D.``, ``Q.`` prefixes) and ``samples`` (the last snapshot's
samples, (S, eval_samples, 2)); ``runs.json`` with each set's run (toy set, steps,
:class:`~course_lib.toy_train.ToyConfig`), coverage at every snapshot and training history;
``MANIFEST.json`` with checksums and provenance.

    python -m course_lib.toy_checkpoint train [--out data/toy_categorical]
    python -m course_lib.toy_checkpoint check [folder]
"""

from __future__ import annotations

import json
import shlex
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch

from . import io, shipped
from .budgets import BUDGETS
from .toy_protocol import categorical_run
from .toy_train import ToyConfig, ToyEnsemble, ToyRun, build_toy_nets, train_parallel

DEFAULT_FOLDER = Path(__file__).resolve().parent.parent / "data" / "toy_categorical"
REBUILD = "python -m course_lib.toy_checkpoint train --out data/toy_categorical"
SETS: tuple[str, ...] = ("ring8", "grid25")
RUNS_FILE = "runs.json"
_NETS = (("G", "net_G"), ("D", "net_D"), ("Q", "net_Q"))


def _run_record(run: ToyRun) -> dict[str, Any]:
    return {"data": run.data, "num_steps": int(run.num_steps), "config": asdict(run.config)}


def _run_from_record(record: Mapping[str, Any]) -> ToyRun:
    config = dict(record["config"])
    config["seeds"] = tuple(config["seeds"])
    return ToyRun(str(record["data"]), int(record["num_steps"]), ToyConfig(**config))


def save(folder: str | Path, models: Mapping[str, ToyEnsemble], provenance: dict) -> Path:
    """Write ``models`` (toy set -> trained :class:`ToyEnsemble`) as one artefact folder,
    atomically: networks and last samples as safetensors, runs and snapshots as JSON."""
    from safetensors.torch import save_file

    records = {}
    for name, model in models.items():
        last = max(model.samples)
        records[name] = {
            "run": _run_record(model.run), "last_step": int(last),
            "coverage": {str(step): cov for step, cov in model.coverage.items()},
            "history": shipped.plain_history(model.history),
        }  # fmt: skip

    def write(tmp: Path) -> None:
        for name, model in models.items():
            tensors = shipped.pack({p: getattr(model, attr) for p, attr in _NETS})
            tensors["samples"] = model.samples[max(model.samples)].detach().cpu().contiguous()
            save_file(tensors, str(tmp / f"{name}.safetensors"))
        (tmp / RUNS_FILE).write_text(json.dumps(records, indent=1, sort_keys=True) + "\n")

    return io.save_artefact(folder, write, provenance)


def load(folder: str | Path = DEFAULT_FOLDER, device: torch.device | str = "cpu"
         ) -> tuple[dict[str, ToyEnsemble], dict]:  # fmt: skip
    """Every set in a folder written by :func:`save`, after checking each file against the
    manifest: (toy set -> :class:`ToyEnsemble` on ``device``, manifest). ``samples`` and
    ``coverage`` hold the last snapshot's samples and every snapshot's coverage. A missing,
    altered or unreadable file raises :class:`course_lib.io.CheckpointError` naming the
    command that rebuilds it."""
    from safetensors.torch import load_file

    folder = Path(folder)
    manifest = io.verify_artefact(folder, REBUILD)
    out = {}
    try:
        records = json.loads((folder / RUNS_FILE).read_text())
        for name, rec in records.items():
            run = _run_from_record(rec["run"])
            state = load_file(str(folder / f"{name}.safetensors"), device=str(device))
            nets = build_toy_nets(run.config, device)  # from the seeds, not the global RNG
            shipped.unpack(state, {p: net for (p, _), net in zip(_NETS, nets)},
                           extra=["samples"])  # fmt: skip
            history = dict(rec["history"])  # files written before the score_ vocabulary:
            if "eval_step" in history:  # the same steps under toy_train's current key
                history["score_step"] = history.pop("eval_step")
            model = ToyEnsemble(run.data, run.num_steps, run.config, *nets, history=history)
            model.samples[int(rec["last_step"])] = state["samples"].cpu()
            model.coverage = {int(s): cov for s, cov in rec["coverage"].items()}
            out[name] = model
    except Exception as err:  # checksums matched: the writer was faulty or another format
        raise io.CheckpointError(f"{folder.name} does not hold notebook 03's toy ensembles "
                                 f"({type(err).__name__}: {err}). Rebuild it with "
                                 f"`{REBUILD}`.") from err  # fmt: skip
    return out, manifest


def load_or_train(
    budget: Mapping[str, Any], sets: Sequence[str] = SETS, folder: str | Path = DEFAULT_FOLDER,
    device: torch.device | str = "cpu", progress: bool = True,
) -> tuple[dict[str, ToyEnsemble], str]:  # fmt: skip
    """Notebook 03's categorical-latent lesson run on each of ``sets``: the shipped ensemble
    where its run equals :func:`~course_lib.toy_protocol.categorical_run` for ``budget``
    (the ``fast`` profile's), else trained here (side by side). Returns (set -> model, one
    line saying which were loaded and which trained, and why)."""
    wanted = {name: categorical_run(budget, name) for name in sets}
    have, why = {}, ""
    try:
        have, _ = load(folder, device)
    except io.CheckpointError as err:
        why = f" ({err})"
    loaded = {n: have[n] for n in wanted if n in have and have[n].run == wanted[n]}
    missing = {n: r for n, r in wanted.items() if n not in loaded}
    trained = train_parallel(missing, progress=progress, device=device) if missing else {}
    parts = []
    if loaded:
        parts.append(f"loaded {', '.join(loaded)} from {Path(folder).name}/ "
                     f"(trained by `{REBUILD}`)")  # fmt: skip
    if trained:
        reason = why or " (no shipped run with these settings)"
        parts.append(f"trained {', '.join(trained)} here{reason}")
    return {n: loaded.get(n) or trained[n] for n in sets}, "; ".join(parts)


def train(out: str | Path = DEFAULT_FOLDER, profile: str = "fast") -> Path:
    """Train the lesson run of ``profile``'s budget on both sets (one thread each, side by
    side) and save it to ``out`` (the networks in train mode, as training leaves them)."""
    budget = BUDGETS["03_mode_collapse"][profile]
    start = time.perf_counter()
    models = train_parallel({n: categorical_run(budget, n) for n in SETS}, progress=True)
    seconds = time.perf_counter() - start
    run = models[SETS[0]].run
    command = shlex.join(["python", "-m", "course_lib.toy_checkpoint", "train", "--out",
                          str(out), *(["--profile", profile] if profile != "fast" else [])])
    prov = io.provenance(command, steps=run.num_steps, seed=run.config.seeds[0],
                         wall_time_s=seconds, device="cpu", threads=1, profile=profile,
                         sets=list(SETS))  # fmt: skip
    return save(out, models, prov)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser, _ = shipped.parser("toy_checkpoint", __doc__,
                               "notebook 03's categorical-latent run", str(DEFAULT_FOLDER),
                               BUDGETS["03_mode_collapse"])  # fmt: skip
    args = parser.parse_args(argv)
    if args.command == "check":
        models, manifest = load(args.path)
        p = manifest["provenance"]
        rows = ", ".join(f"{n} {m.final['modes']:.1f} modes / {m.final['high_quality']:.1%} HQ"
                         for n, m in models.items())  # fmt: skip
        print(f"OK {Path(args.path).name}: {p['steps']} steps, {rows}")
        return 0
    folder = train(args.out, args.profile)
    print(f"saved {folder}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
