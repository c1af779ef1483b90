"""course_lib.io: atomic files and folders survive a killed writer, shipped artefacts are
verified file by file, checkpoints load whether or not the model was compiled."""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch
from torch import nn

from course_lib import io

ROOT = Path(__file__).resolve().parent.parent


def _kill_mid_write(script: str, ready: Path) -> None:
    """Run ``script`` in a child process and SIGKILL it once it signals it is mid-write."""
    child = subprocess.Popen([sys.executable, "-c", textwrap.dedent(script)], cwd=ROOT)
    deadline = time.monotonic() + 60
    while not ready.exists():
        assert child.poll() is None, "the writer exited before it was killed"
        assert time.monotonic() < deadline, "the writer never started writing"
        time.sleep(0.05)
    child.send_signal(signal.SIGKILL)
    child.wait()


def test_killed_file_writer_leaves_the_old_file_and_the_next_write_works(tmp_path):
    target = tmp_path / "results.json"
    io.atomic_write_text(target, '{"old": 1}\n')
    ready = tmp_path / "ready"
    _kill_mid_write(f"""
        from pathlib import Path
        from course_lib import io
        with io.atomic_open({str(target)!r}, "w") as fh:
            fh.write('{{"new": ')
            fh.flush()
            Path({str(ready)!r}).touch()
            while True:
                pass
    """, ready)  # fmt: skip
    assert target.read_text() == '{"old": 1}\n'
    leftovers = [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    assert len(leftovers) == 1  # a killed writer cannot clean up, but nothing reads it
    io.atomic_write_text(target, '{"new": 2}\n')
    assert json.loads(target.read_text()) == {"new": 2}


def test_killed_folder_writer_leaves_the_old_artefact_loadable(tmp_path):
    folder = tmp_path / "model"
    io.save_weights(folder, {"w": torch.ones(3)}, {"width": 3}, io.provenance("make it", 1, 0, 0))
    ready = tmp_path / "ready"
    _kill_mid_write(f"""
        from pathlib import Path
        import torch
        from course_lib import io
        def write(tmp):
            (tmp / "model.safetensors").write_bytes(b"half a file")
            Path({str(ready)!r}).touch()
            while True:
                pass
        io.save_artefact({str(folder)!r}, write, io.provenance("make it", 2, 0, 0))
    """, ready)  # fmt: skip
    state, config, manifest = io.load_weights(folder, "make it")
    assert torch.equal(state["w"], torch.ones(3)) and config == {"width": 3}
    assert manifest["provenance"]["steps"] == 1
    # the killed writer's temporary folder never blocks the next save
    io.save_weights(folder, {"w": torch.zeros(2)}, {"width": 2}, io.provenance("make it", 3, 0, 0))
    state, _, manifest = io.load_weights(folder, "make it")
    assert torch.equal(state["w"], torch.zeros(2)) and manifest["provenance"]["steps"] == 3


def test_interrupted_folder_write_is_cleaned_up(tmp_path):
    folder = tmp_path / "pipe"
    io.save_artefact(folder, lambda t: (t / "a.txt").write_text("v1"), {"command": "rebuild"})

    def crash(tmp):
        (tmp / "a.txt").write_text("v2")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        io.save_artefact(folder, crash, {"command": "rebuild"})
    assert (folder / "a.txt").read_text() == "v1"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pipe"]


def test_replacing_a_folder_never_leaves_the_path_missing(tmp_path, monkeypatch):
    """The swap is one renameat2(RENAME_EXCHANGE) call on Linux: no rmtree or rename of the
    old folder happens before the new one is in place."""
    if not sys.platform.startswith("linux"):
        pytest.skip("atomic exchange is Linux-only; elsewhere the swap has a short window")
    folder = tmp_path / "pipe"
    io.save_artefact(folder, lambda t: (t / "a.txt").write_text("v1"), {"command": "rebuild"})
    seen = []
    real_exchange = io._exchange

    def watching_exchange(a, b):
        seen.append(folder.exists() and (folder / "a.txt").read_text())
        ok = real_exchange(a, b)
        seen.append(folder.exists() and (folder / "a.txt").read_text())
        return ok

    monkeypatch.setattr(io, "_exchange", watching_exchange)
    io.save_artefact(folder, lambda t: (t / "a.txt").write_text("v2"), {"command": "rebuild"})
    assert seen == ["v1", "v2"]


@pytest.mark.parametrize("damage, message", [
    (lambda f: (f / "model.safetensors").write_bytes(b"x"), "model.safetensors is altered"),
    (lambda f: (f / "model.safetensors").unlink(), "model.safetensors is missing"),
    (lambda f: (f / "extra.bin").write_bytes(b"x"), "extra.bin is not in the manifest"),
    (lambda f: (f / "MANIFEST.json").write_text("{"), "MANIFEST.json is missing or unreadable"),
])  # fmt: skip
def test_a_changed_artefact_is_refused_with_the_rebuild_command(tmp_path, damage, message):
    folder = tmp_path / "model"
    record = io.provenance("python -m course_lib.x train", 5, 0, 1.0)
    io.save_weights(folder, {"w": torch.ones(3)}, {}, record)
    damage(folder)
    with pytest.raises(io.CheckpointError, match=f"{message}.*python -m course_lib.x train"):
        io.load_weights(folder, "python -m course_lib.x train")


def test_provenance_records_how_to_rebuild(tmp_path):
    record = io.provenance("python -m course_lib.x train --steps 5", 5, 3, 12.34, device="cpu")
    assert record["command"] == "python -m course_lib.x train --steps 5"
    assert (record["steps"], record["seed"], record["wall_time_s"]) == (5, 3, 12.3)
    assert record["device"] == "cpu" and record["torch"] == torch.__version__
    assert len(record["commit"].split("+")[0]) in (40, 7) or record["commit"] == "unknown"
    with pytest.raises(ValueError, match="command"):
        io.save_artefact(tmp_path / "a", lambda t: None, {"steps": 1})


def test_written_files_are_readable_by_everyone(tmp_path):
    path = io.atomic_write_bytes(tmp_path / "f.bin", b"abc")
    assert path.stat().st_mode & 0o777 == 0o644
    io.save_artefact(tmp_path / "d", lambda t: (t / "x").write_text("1"), {"command": "c"})
    assert (tmp_path / "d").stat().st_mode & 0o777 == 0o755
    assert (tmp_path / "d" / "x").stat().st_mode & 0o777 == 0o644


def test_checkpoint_of_a_compiled_model_loads_into_a_plain_one(tmp_path):
    torch.manual_seed(0)
    net = nn.Linear(3, 2)

    class Compiled(nn.Module):  # what torch.compile returns: the model under _orig_mod
        def __init__(self, mod):
            super().__init__()
            self._orig_mod = mod

    wrapped = Compiled(net)
    assert all(k.startswith("_orig_mod.") for k in wrapped.state_dict())
    io.save_checkpoint(tmp_path / "ck.pt", {"net": wrapped}, step=3)
    plain = nn.Linear(3, 2)
    io.load_checkpoint(tmp_path / "ck.pt", {"net": plain})
    assert torch.equal(plain.weight, net.weight)
    again = Compiled(nn.Linear(3, 2))  # and into a compiled one
    io.load_checkpoint(tmp_path / "ck.pt", {"net": again})
    assert torch.equal(again._orig_mod.bias, net.bias)


def test_atomic_open_refuses_modes_it_cannot_make_atomic(tmp_path):
    with pytest.raises(ValueError, match="Unknown mode 'a'"), io.atomic_open(tmp_path / "x", "a"):
        pass
    assert os.listdir(tmp_path) == []


def test_atomic_folder_flushes_every_subfolder_before_the_swap(tmp_path, monkeypatch):
    """A diffusers pipeline has subfolders: their entries are flushed, deepest first, before
    the new folder replaces the old one (else a power cut could leave it without files)."""
    flushed = []
    monkeypatch.setattr(io, "fsync_dir", lambda folder: flushed.append(Path(folder).name))
    with io.atomic_folder(tmp_path / "pipe") as tmp:
        (tmp / "unet").mkdir()
        (tmp / "unet" / "w.bin").write_bytes(b"1")
    assert (tmp_path / "pipe" / "unet" / "w.bin").read_bytes() == b"1"
    assert flushed.index("unet") < flushed.index(tmp.name)
