"""Every file the course writes, written one way: atomically, and verified when read back.

- :func:`atomic_open` / :func:`atomic_write_bytes` / :func:`atomic_write_text`: write to a
  temporary file in the same folder, flush and fsync it, rename it over the target
  (``os.replace`` is atomic on POSIX and Windows), then fsync the folder. A crash at any
  moment leaves either the old file or the new one, never half of one.
- :func:`atomic_folder`: the same for a whole folder (a diffusers pipeline, a shipped
  model). The new folder is built under a unique temporary name and then *exchanged* with
  the old one in one system call on Linux (``renameat2(RENAME_EXCHANGE)``), so the target
  path never disappears; elsewhere the old folder is moved aside for the instant of the
  swap. A leftover temporary folder from a killed writer has a unique name and never blocks
  the next save.
- Shipped artefacts (:func:`save_artefact`, :func:`verify_artefact`): one convention for
  every trained file under ``data/``. An artefact is a folder holding its files and a
  ``MANIFEST.json`` with the SHA-256 of each file and its provenance (the command that
  rebuilds it, steps, seed, wall time, commit). Weights are safetensors
  (:func:`save_weights`, :func:`load_weights`). A missing, changed, extra or truncated file
  raises :class:`CheckpointError` naming the command that rebuilds it.
- Training checkpoints (:func:`save_checkpoint`, :func:`load_checkpoint`): ``torch.save``
  of module and optimizer states for resuming a run, written atomically; ``torch.compile``
  wrappers are unwrapped, so a checkpoint loads whether or not the model was compiled.
"""

from __future__ import annotations

import contextlib
import ctypes
import datetime as _dt
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import IO, Any

import torch

MANIFEST = "MANIFEST.json"
WEIGHTS = "model.safetensors"
CONFIG = "config.json"
_CHECKPOINT_MAGIC = "course_lib-checkpoint-v1"


class CheckpointError(RuntimeError):
    """A checkpoint or shipped artefact is missing, truncated, altered or not ours."""


# ---------------------------------------------------------------------------------------
# Atomic files and folders
# ---------------------------------------------------------------------------------------
def fsync_dir(folder: str | Path) -> None:
    """Flush a folder's entry table to disk (makes a rename durable; a no-op on Windows)."""
    if os.name == "nt":  # pragma: no cover - Windows cannot open a directory
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_open(path: str | Path, mode: str = "wb") -> Iterator[IO]:
    """Open a temporary sibling of ``path`` for writing; on success it replaces ``path``.

    ``with atomic_open(p) as fh: fh.write(...)``. If the block raises (or the process dies),
    ``path`` keeps its previous content and the temporary file is removed (or, after a
    kill, left under a unique ``.tmp`` name that nothing reads).
    """
    from .config import check_choice

    check_choice("mode", mode, ("wb", "w"), "Appending cannot be made atomic.")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, mode, **({} if "b" in mode else {"encoding": "utf-8"})) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; course files are readable by all
        os.replace(tmp, path)
        fsync_dir(path.parent)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_open`)."""
    with atomic_open(path, "wb") as fh:
        fh.write(data)
    return Path(path)


def atomic_write_text(path: str | Path, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically (see :func:`atomic_open`)."""
    with atomic_open(path, "w") as fh:
        fh.write(text)
    return Path(path)


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths in one step with Linux's renameat2(RENAME_EXCHANGE); False if unsupported."""
    if not sys.platform.startswith("linux"):
        return False
    libc = ctypes.CDLL(None, use_errno=True)
    renameat2 = getattr(libc, "renameat2", None)
    if renameat2 is None:  # pragma: no cover - glibc older than 2.28
        return False
    at_fdcwd, rename_exchange = -100, 2
    return renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0


def replace_folder(new: str | Path, path: str | Path) -> Path:
    """Put the finished folder ``new`` at ``path``, replacing any old folder there.

    Linux: one atomic exchange, so ``path`` always names a complete folder. Elsewhere: the
    old folder is renamed aside, ``new`` renamed in, and the old one deleted.
    """
    new, path = Path(new), Path(path)
    if not path.exists():
        os.replace(new, path)
    elif _exchange(new, path):
        shutil.rmtree(new)  # ``new`` now names the old folder
    else:  # pragma: no cover - non-Linux fallback
        aside = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".old", dir=path.parent))
        os.replace(path, aside / path.name)
        os.replace(new, path)
        shutil.rmtree(aside)
    fsync_dir(path.parent)
    return path


@contextlib.contextmanager
def atomic_folder(path: str | Path) -> Iterator[Path]:
    """Build a folder under a temporary name; on success it replaces ``path`` in one step.

    ``with atomic_folder("data/pipe") as tmp: pipe.save_pretrained(tmp)``. If the block
    raises, ``path`` is untouched and the temporary folder is removed.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    try:
        yield tmp
        for p in (*tmp.rglob("*"), tmp):  # mkdtemp makes 0700; shipped folders are readable
            p.chmod(0o755 if p.is_dir() else 0o644)
            if p.is_file():
                with open(p, "rb") as fh:
                    os.fsync(fh.fileno())
        folders = [p for p in (*tmp.rglob("*"), tmp) if p.is_dir()]
        for folder in sorted(folders, key=lambda p: len(p.parts), reverse=True):
            fsync_dir(folder)  # the entries too (a diffusers pipeline has subfolders)
        replace_folder(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def sha256_file(path: str | Path) -> str:
    """Hex SHA-256 of a file's bytes, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


# ---------------------------------------------------------------------------------------
# Shipped artefacts: a folder, its files' checksums and provenance in MANIFEST.json
# ---------------------------------------------------------------------------------------
def git_commit(cwd: str | Path | None = None) -> str:
    """The repository's HEAD commit (with ``+dirty`` for uncommitted changes), or "unknown"."""
    cwd = Path(cwd) if cwd else Path(__file__).resolve().parent
    try:
        run = lambda *a: subprocess.run(  # noqa: E731
            ["git", *a], cwd=cwd, capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()
        commit = run("rev-parse", "HEAD")
        dirty = run("status", "--porcelain", "--untracked-files=no")
        return commit + ("+dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def provenance(
    command: str, steps: int, seed: int, wall_time_s: float | None, **extra: Any
) -> dict:
    """The record every shipped artefact carries: how to rebuild it and what it cost.

    ``command`` rebuilds the artefact exactly; ``wall_time_s`` is None when it was not
    recorded; ``extra`` adds anything else worth keeping (device, batch size, earlier
    training stages). Adds the commit, date and versions.
    """
    return {
        "command": command, "steps": int(steps), "seed": int(seed),
        "wall_time_s": None if wall_time_s is None else round(float(wall_time_s), 1),
        "commit": git_commit(),
        "date": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%MZ"),
        "torch": torch.__version__, **extra,
    }  # fmt: skip


def _file_digests(folder: Path) -> dict[str, str]:
    files = sorted(p for p in folder.rglob("*") if p.is_file() and p.name != MANIFEST)
    return {p.relative_to(folder).as_posix(): sha256_file(p) for p in files}


def save_artefact(
    folder: str | Path, write: Callable[[Path], None], provenance: Mapping[str, Any]
) -> Path:
    """Write a shipped artefact: ``write(tmp)`` fills a temporary folder, the manifest is
    added, and the folder replaces ``folder`` atomically (:func:`atomic_folder`).

    ``provenance`` comes from :func:`provenance`; its ``command`` is what error messages
    tell a learner to run when the artefact is missing or altered.
    """
    if "command" not in provenance:
        raise ValueError("provenance needs a 'command' that rebuilds the artefact")
    with atomic_folder(folder) as tmp:
        write(tmp)
        manifest = {"files": _file_digests(tmp), "provenance": dict(provenance)}
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    return Path(folder)


def verify_artefact(folder: str | Path, rebuild: str) -> dict:
    """Check every file of ``folder`` against its MANIFEST.json; return the manifest.

    Raises :class:`CheckpointError` naming the first missing, altered or unlisted file and
    the command that rebuilds the artefact (``rebuild``, used when the manifest cannot be
    read). Also checkable by hand: each line of ``files`` is a ``sha256sum`` of that file.
    """
    folder = Path(folder)
    how = f"Rebuild it with `{rebuild}`."
    if not folder.is_dir():
        raise CheckpointError(f"No shipped artefact at {folder}. {how}")
    try:
        manifest = json.loads((folder / MANIFEST).read_text())
        expected = dict(manifest["files"])
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise CheckpointError(
            f"{folder.name}/{MANIFEST} is missing or unreadable ({type(err).__name__}), so "
            f"{folder.name} is unverified and was not loaded. {how}"
        ) from err
    how = f"Rebuild it with `{manifest.get('provenance', {}).get('command', rebuild)}`."
    actual = _file_digests(folder)
    for name in sorted(expected.keys() | actual.keys()):
        if expected.get(name) != actual.get(name):
            what = ("missing" if name not in actual else
                    "not in the manifest" if name not in expected else
                    "altered or truncated (SHA-256 differs)")  # fmt: skip
            raise CheckpointError(f"{folder.name}/{name} is {what}; {folder.name} was not "
                                  f"loaded. {how}")  # fmt: skip
    return manifest


def save_weights(
    folder: str | Path, state: Mapping[str, torch.Tensor], config: Mapping[str, Any],
    provenance: Mapping[str, Any],
) -> Path:  # fmt: skip
    """Ship a model: ``model.safetensors`` (``state``), ``config.json`` (what rebuilds the
    network) and the manifest, as one artefact folder."""
    from safetensors.torch import save_file

    tensors = {k: v.detach().cpu().contiguous() for k, v in unwrap_state(state).items()}

    def write(tmp: Path) -> None:
        save_file(tensors, str(tmp / WEIGHTS))
        (tmp / CONFIG).write_text(json.dumps(dict(config), indent=1, sort_keys=True) + "\n")

    return save_artefact(folder, write, provenance)


def load_weights(
    folder: str | Path, rebuild: str, device: torch.device | str = "cpu"
) -> tuple[dict[str, torch.Tensor], dict, dict]:
    """Verify and read a folder written by :func:`save_weights`: (state, config, manifest)."""
    from safetensors.torch import load_file

    manifest = verify_artefact(folder, rebuild)
    folder = Path(folder)
    try:
        state = load_file(str(folder / WEIGHTS), device=str(torch.device(device)))
        config = json.loads((folder / CONFIG).read_text())
    except Exception as err:  # checksums matched, so the writer itself was faulty
        raise CheckpointError(f"{folder.name} could not be read ({err}). Rebuild it with "
                              f"`{rebuild}`.") from err  # fmt: skip
    return state, config, manifest


# ---------------------------------------------------------------------------------------
# Training checkpoints (resume a run; not shipped)
# ---------------------------------------------------------------------------------------
def unwrap(module: Any) -> Any:
    """The module behind a ``torch.compile`` wrapper (the module itself otherwise)."""
    return getattr(module, "_orig_mod", module)


def unwrap_state(state: Mapping[str, Any]) -> dict[str, Any]:
    """A state dict with the ``_orig_mod.`` prefixes of ``torch.compile`` removed."""
    return {k.replace("_orig_mod.", ""): v for k, v in state.items()}


def save_checkpoint(
    path: str | Path, modules: Mapping[str, Any], step: int = 0,
    history: Mapping[str, list] | None = None, **extra: Any,
) -> Path:  # fmt: skip
    """Atomically write ``modules`` (name -> nn.Module or optimizer), step and history."""
    payload = {
        "magic": _CHECKPOINT_MAGIC, "step": step, "history": dict(history or {}),
        "state": {name: unwrap(m).state_dict() for name, m in modules.items()}, "extra": extra,
    }  # fmt: skip
    with atomic_open(path, "wb") as fh:
        torch.save(payload, fh)
    return Path(path)


def load_checkpoint(
    path: str | Path, modules: Mapping[str, Any] | None = None, map_location: Any = "cpu"
) -> dict[str, Any]:
    """Read a checkpoint written by :func:`save_checkpoint` and load it into ``modules``.

    Returns the payload (``step``, ``history``, ``extra``). A missing, truncated or foreign
    file raises :class:`CheckpointError` that says what to do; ``modules`` are only modified
    once every state dict has been read successfully. Compiled modules load too.
    """
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"No checkpoint at {path}. Train first, or check the path.")
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:
        raise CheckpointError(
            f"Checkpoint {path} is corrupt or truncated ({type(err).__name__}: {err}). "
            "Delete it and retrain (or restore a backup); it was not loaded."
        ) from err
    if not isinstance(payload, dict) or payload.get("magic") != _CHECKPOINT_MAGIC:
        raise CheckpointError(f"{path} is not a course_lib checkpoint; it was not loaded.")
    if modules:
        missing = sorted(set(modules) - set(payload["state"]))
        if missing:
            raise CheckpointError(f"Checkpoint {path} has no state for {missing}; it holds "
                                  f"{sorted(payload['state'])}.")  # fmt: skip
        for name, module in modules.items():
            state = payload["state"][name]
            if isinstance(module, torch.nn.Module):
                state = unwrap_state(state)
            unwrap(module).load_state_dict(state)
    return payload
