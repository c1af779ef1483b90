"""Helpers shared by the modules that ship a notebook's trained run under ``data/``.

``dcgan_train``, ``gibbsnet_train``, ``infogan_train`` and ``toy_checkpoint`` each train one
notebook's run with its own command and write it with :mod:`course_lib.io` (safetensors,
checksums, provenance). What they share lives here: the settings that decide a run's
weights (:func:`settings_of`), several networks in one safetensors file with strict loading
(:func:`pack`, :func:`unpack`), a training history as plain JSON numbers
(:func:`plain_history`), networks built without touching torch's global RNG
(:func:`quiet_build`), the one-line provenance (:func:`describe`) and the ``train`` /
``check`` command line (:func:`parser`).
"""

from __future__ import annotations

import argparse
import inspect
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import torch
from torch import nn

from . import io

T = TypeVar("T")


def settings_of(fn: Callable, exclude: Iterable[str], **values: Any) -> dict[str, Any]:
    """Every keyword argument of ``fn`` with a default, except ``exclude`` (arguments that
    change how a run is trained, not its weights: device, threads, progress), then
    ``values``: the record that says which run a shipped artefact holds."""
    skip = set(exclude)
    out = {name: p.default for name, p in inspect.signature(fn).parameters.items()
           if name not in skip and p.default is not inspect.Parameter.empty}  # fmt: skip
    return out | values


def pack(nets: Mapping[str, nn.Module | None]) -> dict[str, torch.Tensor]:
    """One flat state dict for several networks: key ``<prefix>.<name>`` (None: skipped)."""
    return {f"{prefix}.{k}": v.detach().cpu().contiguous()
            for prefix, net in nets.items() if net is not None
            for k, v in io.unwrap(net).state_dict().items()}  # fmt: skip


def unpack(state: Mapping[str, torch.Tensor], nets: Mapping[str, nn.Module | None],
           extra: Iterable[str] = ()) -> None:  # fmt: skip
    """Load :func:`pack`'s ``state`` into ``nets`` (strict), and refuse keys that belong to
    no network nor to ``extra``: a file for other networks never loads half-way. Raises
    ``ValueError`` or ``RuntimeError`` (callers turn them into ``CheckpointError``)."""
    used = set(extra)
    for prefix, net in nets.items():
        if net is None:
            continue
        mine = {k[len(prefix) + 1:]: v for k, v in state.items() if k.startswith(prefix + ".")}
        net.load_state_dict(mine)
        used |= {f"{prefix}.{k}" for k in mine}
    unknown = set(state) - used
    if unknown:
        raise ValueError(f"unexpected tensors {sorted(unknown)[:3]}")


def plain_history(history: Mapping[str, Any]) -> dict[str, list]:
    """A training history as JSON numbers: step counters stay ints, values become floats."""
    def plain(v: Any) -> int | float:
        return v if isinstance(v, int) and not isinstance(v, bool) else float(v)

    return {k: [plain(v) for v in vals] for k, vals in history.items()}


def quiet_build(build: Callable[[], T]) -> T:
    """``build()`` with torch's global RNG restored afterwards: loading a shipped run leaves
    the notebook's random state as training it would (the trainers seed inside
    ``config.seeded``, which restores it too)."""
    with torch.random.fork_rng(devices=[]):
        return build()


def describe(provenance: Mapping[str, Any], unit: str = "steps") -> str:
    """One line, e.g. "2500 updates, 4 min on cpu (2 threads)"."""
    p, threads = provenance, provenance.get("threads", "?")
    return (f"{p['steps']} {unit}, {(p.get('wall_time_s') or 0) / 60:.0f} min on "
            f"{p.get('device', '?')} ({threads} thread{'' if threads == 1 else 's'})")  # fmt: skip


def parser(module: str, doc: str, what: str, folder: str, profiles: Iterable[str]
           ) -> tuple[argparse.ArgumentParser, argparse.ArgumentParser]:  # fmt: skip
    """The command line of a shipped run, ``python -m course_lib.<module> train|check``:
    (the parser, its ``train`` subparser, which has ``--out`` and ``--profile``; add more)."""
    main = argparse.ArgumentParser(prog=f"python -m course_lib.{module}",
                                   description=doc.split("\n\n")[0])  # fmt: skip
    sub = main.add_subparsers(dest="command", required=True)
    train = sub.add_parser("train", help=f"train {what} and ship it")
    train.add_argument("--out", default=folder, help="artefact folder")
    train.add_argument("--profile", default="fast", choices=tuple(profiles))
    check = sub.add_parser("check", help="verify the artefact's checksums and load it")
    check.add_argument("path", nargs="?", default=folder)
    return main, train


def check(path: str | Path, load: Callable[[str | Path], tuple[nn.Module, dict]],
          describe: Callable[[dict], str]) -> int:  # fmt: skip
    """The ``check`` command of a shipped run: ``load(path)`` (which verifies every file
    against MANIFEST.json and raises ``io.CheckpointError`` otherwise), then one line
    "OK <folder>: <describe(info)>, <n> parameters"; returns the exit status 0."""
    net, info = load(path)
    n = sum(p.numel() for p in net.parameters())
    print(f"OK {Path(path).name}: {describe(info)}, {n} parameters")
    return 0


def add_device_and_check(train: argparse.ArgumentParser, sub: Any, folder: str | Path) -> None:
    """``--device`` and ``--threads`` for a ``train`` subcommand, and the ``check [path]``
    subcommand (default ``folder``), as every shipped run's command line has them."""
    train.add_argument("--device", default="auto", help="cpu | cuda | mps | auto")
    train.add_argument("--threads", type=int, default=None, help="CPU threads")
    check = sub.add_parser("check", help="verify an artefact's checksums and load it")
    check.add_argument("path", nargs="?", default=str(folder))
