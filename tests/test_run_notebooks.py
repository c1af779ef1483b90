"""tools/run_notebooks.py: a lost kernel reply is retried, a stuck cell fails fast and names
itself, and nothing is written for a notebook that did not finish (real kernels, ~20 s)."""

import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
RUNNER = ROOT / "tools" / "run_notebooks.py"

# Drops the kernel's next execute_reply once per marker file: the message-loss bug, on demand.
LOSE_REPLY = """import os
marker = os.environ["DROP_MARKER"]
if not os.path.exists(marker):
    open(marker, "w").close()
    kernel = get_ipython().kernel
    send = kernel.session.send
    def lossy(stream, msg, *args, **kwargs):
        kind = msg if isinstance(msg, str) else msg["header"]["msg_type"]
        if kind == "execute_reply":
            return {"content": args[0] if args else {}}
        return send(stream, msg, *args, **kwargs)
    kernel.session.send = lossy"""


def _notebook(tmp_path: Path, *sources: str) -> Path:
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(s) for s in sources])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}  # fmt: skip
    path = tmp_path / "nb.ipynb"
    nbformat.write(nb, path)
    return path


def _run(tmp_path: Path, path: Path, *args: str) -> subprocess.CompletedProcess:
    env = {"COURSE_PROFILE": "smoke", "DROP_MARKER": str(tmp_path / "marker"),
           "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}  # fmt: skip
    cmd = [sys.executable, str(RUNNER), "--out", str(tmp_path / "out"), *args, str(path)]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=180, env=env)


def test_lost_reply_is_detected_and_the_notebook_retried(tmp_path):
    path = _notebook(tmp_path, LOSE_REPLY, "print('second cell')")
    run = _run(tmp_path, path, "--reply-grace", "3")
    assert run.returncode == 0, run.stderr
    assert "cell 0 (`import os`): the kernel finished the cell but its reply" in run.stdout
    assert "ok nb.ipynb" in run.stdout and "(after 1 retry)" in run.stdout
    out = nbformat.read(tmp_path / "out" / "nb.ipynb", as_version=4)
    assert out.cells[1].outputs[0]["text"] == "second cell\n"


def test_lost_reply_without_retries_fails_with_the_cell(tmp_path):
    path = _notebook(tmp_path, LOSE_REPLY, "print('second cell')")
    run = _run(tmp_path, path, "--reply-grace", "3", "--retries", "0")
    assert run.returncode == 1
    assert "FAILED" in run.stderr and "cell 0 (`import os`)" in run.stderr
    assert not (tmp_path / "out" / "nb.ipynb").exists()


@pytest.mark.parametrize("source, message", [
    ("import time\ntime.sleep(30)", "nb.ipynb, cell 1 (`import time`) ran longer than 2 s"),
    ("raise ValueError('broken widget')", "cell 1 (`raise ValueError('broken widget')`) raised:"),
])  # fmt: skip
def test_a_stuck_or_failing_cell_names_itself(tmp_path, source, message):
    path = _notebook(tmp_path, "x = 1", source)
    run = _run(tmp_path, path, "--cell-timeout", "2")
    assert run.returncode == 1
    assert message in run.stderr and "nb.ipynb" in run.stderr
    assert not (tmp_path / "out" / "nb.ipynb").exists()
