"""pyproject.toml is the one source of versions; environment.yml must repeat its pins."""

import re
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10, which pyproject allows: pip vendors the same parser
    from pip._vendor import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent


def _pins(lines):
    pins = {}
    for line in lines:
        m = re.match(r"^\s*-?\s*\"?([A-Za-z0-9_.\-]+)\s*==\s*([^\"\s,;]+)", line)
        if m:
            pins[m.group(1).lower().replace("_", "-")] = m.group(2)
    return pins


def pyproject_pins():
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    deps = list(meta["dependencies"])
    for extra in meta.get("optional-dependencies", {}).values():
        deps += extra
    return _pins(deps), deps


def environment_pins():
    return _pins((ROOT / "environment.yml").read_text().splitlines())


def test_every_runtime_dependency_is_pinned_exactly():
    pins, deps = pyproject_pins()
    assert len(pins) == len(deps), f"unpinned entries: {[d for d in deps if '==' not in d]}"
    assert pins["torch"] == "2.14.1" and pins["torchvision"] == "0.29.1"
    for name in ("diffusers", "huggingface-hub", "mlxtend", "nbval", "ipywidgets"):
        assert name in pins


def test_environment_yml_agrees_with_pyproject():
    py, _ = pyproject_pins()
    env = environment_pins()
    assert set(env) == set(py), f"only in one file: {sorted(set(env) ^ set(py))}"
    diff = {k: (py[k], env[k]) for k in py if py[k] != env[k]}
    assert not diff, f"pyproject vs environment.yml disagree: {diff}"
    assert "python=3.11" in (ROOT / "environment.yml").read_text()


def test_pin_parser_sees_a_disagreement():
    """Guard the guard: a changed version in the YAML text is caught."""
    text = (ROOT / "environment.yml").read_text().replace("torch==2.14.1", "torch==2.0.0")
    assert _pins(text.splitlines())["torch"] != pyproject_pins()[0]["torch"]


def _make_dry_run(*args):
    import subprocess

    out = subprocess.run(["make", "-n", "-W", "pyproject.toml", *args], cwd=ROOT,
                         capture_output=True, text=True, check=True)  # fmt: skip
    return out.stdout


def test_wheelhouse_holds_the_build_tools_and_setup_can_install_from_it_offline():
    """`make wheelhouse` downloads pyproject's build-system requirements too (an editable
    install builds course_lib in isolation, which needs them with no index), and
    `make setup WHEELS=...` asks neither an index nor a find-links of the seat's pip config
    or PIP_* variables (a find-links on pip's command line is added to those, not used
    instead)."""
    build = tomllib.loads((ROOT / "pyproject.toml").read_text())["build-system"]["requires"]
    recipe = re.sub(r"\\\n\s*", " ", _make_dry_run("wheelhouse"))  # join continued lines
    download = next(line for line in recipe.splitlines() if "pip download" in line)
    for req in build:
        assert f'"{req}"' in download or f" {req} " in f"{download} ", req
    installs = [line for line in _make_dry_run("setup", "WHEELS=w").splitlines()
                if "pip install" in line]  # fmt: skip
    assert len(installs) == 2
    assert all(line.startswith("PIP_CONFIG_FILE=/dev/null ") for line in installs)  # no config
    assert all(f"--isolated --no-index --find-links {ROOT / 'w'}" in line for line in installs)
