"""Run the course's notebooks headless, one fresh kernel each, and never hang.

Usage (``make course`` calls it)::

    python tools/run_notebooks.py                      # every notebooks/NN_*.ipynb -> build/
    python tools/run_notebooks.py --html notebooks/05_denoising_vae.ipynb
    COURSE_PROFILE=smoke python tools/run_notebooks.py --out build/smoke

Progress bars are plain text in these runs (``COURSE_PROGRESS=text``), so the executed
copies show each bar in its final state. Each cell gets a time limit sized to the profile
(``--cell-timeout`` overrides it). A cell that the kernel has finished (it reported
"idle") but whose reply never arrives within ``--reply-grace`` seconds is a lost message,
not a slow cell: the notebook is then run once more from the start with a fresh kernel
(``--retries``). Any failure names the notebook and
the cell, and the executed notebook is only written (atomically) when every cell ran.
"""

from __future__ import annotations

import argparse
import asyncio
import glob
import os
import re
import signal
import sys
import time
from pathlib import Path
from queue import Empty

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError
from nbclient.util import ensure_async

ROOT = Path(__file__).resolve().parent.parent
# Seconds one cell may run, by profile: smoke notebooks take <= 60 s in all, fast <= 5 min.
CELL_TIMEOUT = {"smoke": 120, "fast": 600, "full": 3600}
REPLY_GRACE = 30.0
NOTEBOOKS = "notebooks/[0-9][0-9]_*.ipynb"


class KernelSilent(RuntimeError):
    """The kernel finished a cell but its execute_reply never arrived."""


class NotebookFailed(RuntimeError):
    """A notebook stopped: a cell raised, ran past its time limit or lost its kernel."""


ANSI = re.compile(r"\x1b\[[0-9;]*m")


def shown(path: Path) -> str:
    """``path`` relative to the repository when it lies inside it (for messages)."""
    try:
        return str(Path(path).resolve().relative_to(ROOT))
    except ValueError:
        return str(path)


def cell_label(nb_path: Path, index: int, cell) -> str:
    """``notebooks/05_x.ipynb, cell 7 (`first line`)`` for error messages."""
    first = next((line for line in cell.source.splitlines() if line.strip()), "").strip()
    return f"{shown(nb_path)}, cell {index} (`{first[:60]}`)"


class CourseClient(NotebookClient):
    """nbclient's client with a watchdog for replies lost after the kernel went idle."""

    reply_grace: float = REPLY_GRACE
    nb_path: Path = Path("notebook.ipynb")

    async def async_execute_cell(self, cell, cell_index, execution_count=None, store_history=True):
        self.current_cell = (cell_index, cell)
        return await super().async_execute_cell(cell, cell_index, execution_count, store_history)

    async def _async_poll_for_reply(
        self, msg_id, cell, timeout, task_poll_output_msg, task_poll_kernel_alive
    ):
        deadline = None if timeout is None else time.monotonic() + timeout
        idle_since = None
        while True:
            try:
                msg = await ensure_async(self.kc.shell_channel.get_msg(timeout=1.0))
            except Empty:
                now = time.monotonic()
                if task_poll_output_msg.done() and idle_since is None:
                    idle_since = now  # every output is in; only the reply is missing
                if idle_since is not None and now - idle_since > self.reply_grace:
                    task_poll_kernel_alive.cancel()
                    raise KernelSilent(
                        f"{cell_label(self.nb_path, self.current_cell[0], cell)}: the kernel "
                        f"finished the cell but its reply did not arrive within "
                        f"{self.reply_grace:.0f} s (a lost kernel message)"
                    ) from None
                if deadline is not None and now > deadline:
                    await self._async_check_alive()
                    task_poll_kernel_alive.cancel()
                    raise CellTimeoutError.error_from_timeout_and_cell(
                        "Cell execution timed out", timeout, cell
                    ) from None
                continue
            if msg["parent_header"].get("msg_id") != msg_id:
                continue
            try:
                await asyncio.wait_for(task_poll_output_msg, self.iopub_timeout)
            except (asyncio.TimeoutError, Empty):
                self.log.warning("Timeout waiting for IOPub output")
            task_poll_kernel_alive.cancel()
            return msg


def profile_name() -> str:
    """The resolved COURSE_PROFILE (smoke | fast | full), as the notebooks will see it."""
    sys.path.insert(0, str(ROOT))
    from course_lib.config import get_profile

    return get_profile()


def run_one(path: Path, timeout: int, grace: float, retries: int, kernel: str):
    """Execute one notebook; returns (executed notebook, seconds, attempts)."""
    for attempt in range(retries + 1):
        nb = nbformat.read(path, as_version=4)
        client = CourseClient(
            nb, timeout=timeout, kernel_name=kernel, store_widget_state=True,
            resources={"metadata": {"path": str(path.parent)}},
        )  # fmt: skip
        client.reply_grace, client.nb_path = grace, path
        start = time.perf_counter()
        try:
            client.execute()
            return nb, time.perf_counter() - start, attempt + 1
        except (KernelSilent, DeadKernelError) as err:
            if attempt == retries:
                raise NotebookFailed(str(err)) from None
            print(f"   {err}; retrying the notebook with a fresh kernel", flush=True)
        except (CellExecutionError, CellTimeoutError) as err:
            index, cell = getattr(client, "current_cell", (None, None))
            where = cell_label(path, index, cell) if cell is not None else shown(path)
            why = f"ran longer than {timeout} s" if isinstance(err, CellTimeoutError) else "raised"
            raise NotebookFailed(f"{where} {why}:\n{ANSI.sub('', str(err)).strip()}") from None


def write_outputs(nb, path: Path, out: Path, html: bool) -> None:
    """Write the executed notebook (and its HTML page) atomically, with each cell's text
    streams merged and carriage returns applied, so progress bars show their last state."""
    sys.path.insert(0, str(ROOT))
    from nbconvert.preprocessors import CoalesceStreamsPreprocessor

    from course_lib.io import atomic_write_text

    nb, _ = CoalesceStreamsPreprocessor().preprocess(nb, {})
    atomic_write_text(out / path.name, nbformat.writes(nb))
    if html:
        from nbconvert import HTMLExporter

        body, _ = HTMLExporter().from_notebook_node(nb)
        atomic_write_text(out / path.with_suffix(".html").name, body)


def _terminate(signum, _frame):
    raise KeyboardInterrupt(f"signal {signum}")  # unwinds nbclient, which stops the kernel


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("notebooks", nargs="*", type=Path)
    parser.add_argument("--out", type=Path, default=ROOT / "build")
    parser.add_argument("--html", action="store_true", help="also write an HTML page each")
    parser.add_argument("--cell-timeout", type=int, default=None, help="seconds per cell")
    parser.add_argument("--reply-grace", type=float, default=REPLY_GRACE)
    parser.add_argument("--retries", type=int, default=1, help="reruns after a lost reply")
    parser.add_argument("--kernel", default="python3")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, _terminate)
    # The kernels inherit this: text progress bars that end in their final state (see
    # course_lib.train.progress_bar), instead of widgets saved at 0%.
    os.environ.setdefault("COURSE_PROGRESS", "text")
    paths = args.notebooks or sorted(Path(p) for p in glob.glob(str(ROOT / NOTEBOOKS)))
    profile = profile_name()
    timeout = args.cell_timeout or CELL_TIMEOUT[profile]
    print(f"COURSE_PROFILE={profile}: {len(paths)} notebooks, at most {timeout} s per cell, "
          f"executed copies in {shown(args.out)}", flush=True)  # fmt: skip
    total = time.perf_counter()
    for path in paths:
        try:
            nb, seconds, attempts = run_one(path, timeout, args.reply_grace, args.retries,
                                            args.kernel)  # fmt: skip
        except NotebookFailed as err:
            print(f"FAILED {err}"[:3000], file=sys.stderr, flush=True)
            return 1
        write_outputs(nb, path, args.out, args.html)
        note = f" (after {attempts - 1} retry)" if attempts > 1 else ""
        print(f"ok {path.name} in {seconds:.0f} s{note}", flush=True)
    print(f"all {len(paths)} notebooks in {time.perf_counter() - total:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")
    raise SystemExit(main())
