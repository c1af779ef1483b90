"""Every shipped artefact under data/: listed in the README, verified, within the budget."""

from __future__ import annotations

import re
from pathlib import Path

from course_lib import io

ROOT = Path(__file__).resolve().parent.parent
BUDGET_MIB = 40


def _artefacts() -> list[Path]:
    return sorted(p.parent for p in (ROOT / "data").glob("*/" + io.MANIFEST))


def test_every_artefact_verifies_and_is_in_the_readme_table():
    readme = (ROOT / "README.md").read_text()
    listed = set(re.findall(r"^\| `data/([\w.-]+)/` \| ([\d.]+) MiB \|", readme, re.M))
    names = {name for name, _ in listed}
    assert names == {folder.name for folder in _artefacts()}  # no row without a folder
    for folder in _artefacts():
        io.verify_artefact(folder, "see README.md")
        assert folder.name in names, f"data/{folder.name}/ is missing from README's table"
        size = sum(f.stat().st_size for f in folder.rglob("*") if f.is_file()) / 2**20
        stated = float(dict(listed)[folder.name])
        assert abs(size - stated) <= 0.05 + 1e-9, (folder.name, size, stated)  # one decimal
    total = sum(f.stat().st_size for d in _artefacts() for f in d.rglob("*") if f.is_file())
    assert f"In all {total / 2**20:.1f} MiB" in readme


def test_shipped_data_stays_within_its_budget():
    total = sum(f.stat().st_size for d in _artefacts() for f in d.rglob("*") if f.is_file())
    assert total / 2**20 <= BUDGET_MIB


def test_check_commands_load_the_shipped_runs(capsys):
    from course_lib import dcgan_train, gibbsnet_train, infogan_train, toy_checkpoint, wgan_train

    modules = (dcgan_train, gibbsnet_train, infogan_train, toy_checkpoint, wgan_train)
    for module in modules:
        assert module.main(["check"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == len(modules) and all(line.startswith("OK ") for line in lines)
