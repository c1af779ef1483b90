"""Write workshop copies of the notebooks: solutions removed, outputs cleared.

Usage (``make student`` calls it)::

    python tools/make_student.py                 # every notebooks/NN_*.ipynb -> build/student/

One source notebook is the single truth; a cell is a solution when its metadata carries the
tag ``solution`` (set once, in the source notebook: JupyterLab's property inspector, or
``jupyter nbconvert``-free with any JSON editor). A student copy drops every solution cell,
clears every output and execution count, and starts with a note that says so. The folder
also gets an instructor's ``README.md``: how to prepare the seats, then for each notebook its
run time and timing plan (from its header) and the number of solutions removed.
"""

from __future__ import annotations

import argparse
import glob
import re
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from course_lib.io import atomic_write_text  # noqa: E402

SOLUTION_TAG = "solution"
NOTEBOOKS = "notebooks/[0-9][0-9]_*.ipynb"
NOTE = ("> **Workshop copy.** The solutions to the exercises are not in this file: try them "
        "first, then compare with your teacher's copy (the notebook in `notebooks/`, or the "
        "HTML book that `make site` builds).")  # fmt: skip
GUIDE = """# Instructor's guide to the workshop copies

Each notebook below is a student copy: solution cells removed, outputs cleared. The source
notebooks in `notebooks/` keep the solutions. Timing plans for a 90-minute slot and run times
come from each notebook's header.

## Before the session

1. While online, on every seat: clone the course and run `make setup` (it installs everything
   the notebooks need; after that nothing touches the network). With one download for the
   room instead: `make wheelhouse` on a machine that is online (every wheel, 3.0 GiB on Linux
   x86-64, most of it torch and its CUDA libraries, into `build/wheelhouse/`); give every
   seat a clone without `.venv/` (e.g. `rsync -a --exclude .venv`) and that folder; seats
   need the same operating system, CPU architecture and Python version, `make`, and Python's
   `venv` module (Debian/Ubuntu: `python3-venv`). There `make setup WHEELS=build/wheelhouse`
   installs from the folder and asks no network (about 1.5 min on a 2-core machine); run it
   again after any update of the course, since `make` reinstalls when `pyproject.toml`
   changes.
2. On your machine: `make student` (these copies), `make test-student` (every copy runs under
   nbval), and `make course COURSE_PROFILE=fast` (every notebook executed into `build/`, so you
   can show finished outputs and check how long the room's machines take).
3. On each seat: `make student`, then students open the copies with
   `make lab LAB_DIR=build/student`. The clone still holds `notebooks/` with the solutions;
   delete that folder on the seats afterwards if they must not see them (the copies do not
   need it).
4. Where a plan says the workshop reads a notebook's outputs (training that takes longer than
   the slot allows), show the executed copy from `build/`.
"""


def is_solution(cell) -> bool:
    """A cell tagged ``solution`` in the source notebook."""
    return SOLUTION_TAG in cell.get("metadata", {}).get("tags", [])


def student_copy(nb: nbformat.NotebookNode) -> tuple[nbformat.NotebookNode, int]:
    """(copy without solution cells and outputs, number of solution cells removed)."""
    kept = [c for c in nb.cells if not is_solution(c)]
    for cell in kept:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
        cell.metadata.pop("execution", None)
    out = nbformat.from_dict(dict(nb))
    out.cells = [nbformat.v4.new_markdown_cell(NOTE), *kept]
    out.metadata.pop("widgets", None)  # saved widget state belongs to the executed copy
    return out, len(nb.cells) - len(kept)


def timing_plan(nb: nbformat.NotebookNode) -> str:
    """The notebook's timing-plan section (from its heading to the next heading), or ''."""
    for cell in nb.cells:
        if cell.cell_type != "markdown":
            continue
        match = re.search(r"^(#+)\s*Timing plan.*?(?=^#{1,6}\s|\Z)", cell.source, re.M | re.S)
        if match:
            return match.group(0).strip()
    return ""


def run_time(nb: nbformat.NotebookNode) -> str:
    """The header's run-time paragraph ("**Run time ..." or "**Expected run time ..."), or ''."""
    for cell in nb.cells[:3]:
        if cell.cell_type != "markdown":
            continue
        match = re.search(r"\*\*(Expected )?[Rr]un time.*$", cell.source, re.M)
        if match:
            return match.group(0).strip()
    return ""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("notebooks", nargs="*", type=Path)
    parser.add_argument("--out", type=Path, default=ROOT / "build" / "student")
    args = parser.parse_args(argv)
    paths = args.notebooks or sorted(Path(p) for p in glob.glob(str(ROOT / NOTEBOOKS)))
    readme = [GUIDE]
    for path in paths:
        nb = nbformat.read(path, as_version=4)
        copy, removed = student_copy(nb)
        atomic_write_text(args.out / path.name, nbformat.writes(copy))
        title = next((c.source.splitlines()[0].lstrip("# ") for c in nb.cells
                      if c.cell_type == "markdown" and c.source.strip()), path.stem)  # fmt: skip
        plan = timing_plan(nb) or "_(no timing plan in this notebook's header)_"
        time = run_time(nb) or "_(no run time in this notebook's header)_"
        readme += [f"## {path.name}: {title}", "", f"{removed} solution cell(s) removed.", "",
                   time, "", plan, ""]  # fmt: skip
        print(f"{path.name}: {removed} solution cell(s) removed", flush=True)
    atomic_write_text(args.out / "README.md", "\n".join(readme))
    print(f"student copies and README.md in {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
