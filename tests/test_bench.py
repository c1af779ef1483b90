"""The benchmark runner (benchmarks/run.py) on tiny fake bench modules in tmp_path (fast)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from benchmarks import run as runner

FAKE = """
NOTES = "fixed text"

def run(profile):
    return {
        "fake.score": {"value": VALUE, "anchor": "Paper Table 1: 2.0", "unit": "x",
                       "profile": profile, "seeds": [0, 1], "notes": "how"},
        "fake.inf": {"value": float("inf"), "anchor": None, "unit": "nats",
                     "profile": profile, "seeds": [0], "notes": ""},
        "_notes": "measured text VALUE",
    }
"""


def _write(tmp_path, name, value, extra=""):
    (tmp_path / f"bench_{name}.py").write_text(FAKE.replace("VALUE", str(value)) + extra)


@pytest.fixture
def paths(tmp_path):
    bench = tmp_path / "bench"
    bench.mkdir()
    _write(bench, "alpha", 1.5)
    _write(bench, "beta", 3.0)
    (bench / "helper.py").write_text("raise RuntimeError('not a benchmark')\n")
    return dict(bench_dir=bench, results_json=tmp_path / "r.json", results_md=tmp_path / "R.md")


def test_runs_every_benchmark_and_writes_both_files(paths):
    assert runner.available(paths["bench_dir"]) == ["alpha", "beta"]
    out = runner.run_benchmarks(profile="smoke", command="cmd", **paths)
    data = json.loads(paths["results_json"].read_text())
    assert data == out
    rec = data["fake.score"]  # beta ran last and owns the shared key
    assert rec["value"] == 3.0 and rec["bench"] == "beta" and rec["profile"] == "smoke"
    assert rec["command"] == "cmd" and rec["seeds"] == [0, 1]
    assert "cores" in rec["machine"] and "torch" in rec["machine"] and rec["date"]
    assert data["fake.inf"]["value"] is None  # JSON has no inf
    assert data["bench.alpha.runtime_s"]["unit"] == "s"
    assert data["_sections"]["beta"] == "fixed text\n\nmeasured text 3.0"
    md = paths["results_md"].read_text()
    assert "| `fake.score` | 3 | x | Paper Table 1: 2.0 | smoke | 0,1 |" in md
    assert "## beta" in md and "measured text 3.0" in md and "n/a" in md


def test_subset_merges_and_keeps_other_keys(paths):
    bench = paths["bench_dir"]
    (bench / "bench_beta.py").unlink()
    _write(bench, "alpha", 1.5, extra="\nNOTES = ''\n")
    _write(bench, "gamma", 9.0)
    runner.run_benchmarks(profile="fast", command="first", **paths)
    json_path = paths["results_json"]
    data = json.loads(json_path.read_text())
    data["other.key"] = {"value": 7.0, "bench": "someone_else", "unit": "x", "notes": ""}
    json_path.write_text(json.dumps(data))
    # rerun only alpha, which now produces a different key: its old keys go, others stay
    (bench / "bench_alpha.py").write_text(
        "def run(profile):\n    return {'alpha.only': {'value': 2, 'anchor': None, 'unit': 'x',"
        " 'profile': profile, 'seeds': [], 'notes': ''}}\n"
    )
    runner.run_benchmarks(["alpha"], profile="fast", command="second", **paths)
    data = json.loads(json_path.read_text())
    assert data["alpha.only"]["command"] == "second"
    assert data["other.key"]["value"] == 7.0
    assert data["fake.score"]["bench"] == "gamma"  # gamma's records are untouched
    assert "alpha" not in data["_sections"] and "gamma" in data["_sections"]
    assert "`other.key`" in paths["results_md"].read_text()


def test_parallel_workers_merge_every_module_and_run_exclusive_ones_alone(paths):
    bench = paths["bench_dir"]
    _write(bench, "gamma", 5.0, extra="\nimport torch\nTHREADS = torch.get_num_threads()\n")
    (bench / "bench_gamma.py").write_text(
        (bench / "bench_gamma.py")
        .read_text()
        .replace('"fake.score"', '"gamma.threads"')
        .replace('"value": 5.0', '"value": THREADS')
    )
    (bench / "bench_solo.py").write_text(
        "import os\nEXCLUSIVE = True\n\ndef run(profile):\n    return {'solo.pid': {"
        "'value': os.getpid(), 'anchor': None, 'unit': '', 'profile': profile, 'seeds': [],"
        " 'notes': ''}}\n"
    )
    out = runner.run_benchmarks(profile="smoke", command="par", jobs=2, **paths)
    assert out["solo.pid"]["value"] == os.getpid()  # exclusive: ran here, not in a worker
    for name in ("alpha", "beta", "gamma", "solo", "all"):
        assert out[f"bench.{name}.runtime_s"]["value"] > 0, name
    assert "2 workers" in out["bench.gamma.runtime_s"]["notes"]
    assert out["fake.score"]["bench"] in {"alpha", "beta"}
    assert out["gamma.threads"]["value"] == 1  # each worker runs with one torch thread
    assert json.loads(paths["results_json"].read_text()) == out
    (bench / "bench_broken.py").write_text("def run(profile):\n    raise ValueError('boom')\n")
    with pytest.raises(runner.BenchmarkError, match="bench_broken: ValueError: boom"):
        runner.run_benchmarks(profile="smoke", command="par", jobs=2, **paths)
    assert "bench.alpha.runtime_s" in json.loads(paths["results_json"].read_text())


def test_unchanged_modules_are_kept_until_an_input_changes(paths, monkeypatch, tmp_path):
    monkeypatch.delenv("BENCH_REUSE", raising=False)
    bench, counter = paths["bench_dir"], tmp_path / "calls.txt"
    count = f"\nopen({str(counter)!r}, 'a').write('x')\n"  # each import of the module
    for name, value in (("alpha", 1.5), ("beta", 3.0)):
        _write(bench, name, value, extra=count)
    first = runner.run_benchmarks(profile="smoke", command="first", **paths)
    assert counter.read_text() == "xx" and first["bench.alpha.runtime_s"]["inputs"]
    second = runner.run_benchmarks(profile="smoke", command="second", **paths)
    assert counter.read_text() == "xx"  # neither module was imported, let alone run
    for key in ("bench.alpha.runtime_s", "bench.beta.runtime_s", "fake.score"):
        assert second[key] == first[key], key  # kept as measured: same date and command
    assert "kept unchanged: alpha, beta" in second["bench.last_run.runtime_s"]["notes"]
    assert second["bench.all.runtime_s"] == first["bench.all.runtime_s"]  # the cold run's time
    _write(bench, "alpha", 2.5, extra=count)  # alpha's code changes: only alpha runs
    third = runner.run_benchmarks(profile="smoke", command="third", **paths)
    assert counter.read_text() == "xxx" and third["bench.alpha.runtime_s"]["command"] == "third"
    assert third["bench.beta.runtime_s"]["command"] == "first"
    runner.run_benchmarks(profile="fast", command="other profile", **paths)
    assert counter.read_text() == "xxxxx"  # another profile is another key
    assert "bench.last_run.runtime_s" not in json.loads(paths["results_json"].read_text())
    monkeypatch.setenv("BENCH_REUSE", "0")
    runner.run_benchmarks(["beta"], profile="fast", command="forced", **paths)
    assert counter.read_text() == "xxxxxx"
    out = runner.run_benchmarks(["beta"], profile="fast", keep_unchanged=True, **paths)
    assert counter.read_text() == "xxxxxx" and out["bench.beta.runtime_s"]["command"] == "forced"


def test_module_key_covers_budgets_shipped_files_machine_and_threads():
    from pathlib import Path

    from benchmarks import reuse

    parts = reuse.module_inputs(Path("benchmarks/bench_dcgan.py"), {"machine": "m"})
    files = parts["files"]
    assert "course_lib/budgets.py" in files and "course_lib/dcgan_train.py" in files
    assert "benchmarks/quality.py" in files and "data/classifier/model.safetensors" in files
    assert "data/dcgan_mnist5k/model.safetensors" in files
    assert not any("torchvision" in f or "cache" in f for f in files)  # downloads left out
    here = Path("benchmarks")
    keys = {
        runner.module_key("dcgan", here, "fast", "cpu A", 2),
        runner.module_key("dcgan", here, "fast", "cpu B", 2),
        runner.module_key("dcgan", here, "smoke", "cpu A", 2),
        runner.module_key("dcgan", here, "fast", "cpu A", 1),
        runner.module_key("wgan", here, "fast", "cpu A", 2),
    }
    assert len(keys) == 5
    assert runner.module_key("dcgan", here, "fast", "cpu A", 2) in keys  # deterministic


def test_unknown_name_lists_available(paths):
    with pytest.raises(runner.BenchmarkError, match="Available: alpha, beta"):
        runner.run_benchmarks(["nope"], **paths)


def test_malformed_record_names_module_and_field(paths):
    (paths["bench_dir"] / "bench_bad.py").write_text(
        "def run(profile):\n    return {'k': {'value': 'high', 'unit': 'x'}}\n"
    )
    with pytest.raises(runner.BenchmarkError, match=r"bench_bad.*'value'"):
        runner.run_benchmarks(["bad"], **paths)


@pytest.mark.parametrize(("env", "expected"), [(None, "fast"), ("auto", "fast"), ("full", "full")])
def test_profile_defaults_to_fast(monkeypatch, env, expected):
    if env is None:
        monkeypatch.delenv("COURSE_PROFILE", raising=False)
    else:
        monkeypatch.setenv("COURSE_PROFILE", env)
    assert runner.bench_profile() == expected
    monkeypatch.setenv("COURSE_PROFILE", "quick")
    with pytest.raises(runner.BenchmarkError, match="smoke, fast, full"):
        runner.bench_profile()


def test_real_modules_follow_the_interface():
    import inspect

    names = runner.available()
    assert {"metrics", "speed"} <= set(names)
    for name in names:
        module = runner.load_module(name)
        assert list(inspect.signature(module.run).parameters) == ["profile"], name
        assert (module.__doc__ or "").strip(), f"bench_{name} needs a docstring: what it measures"
        assert isinstance(getattr(module, "EXCLUSIVE", False), bool), name


def test_a_real_module_runs_through_the_runner_in_smoke(tmp_path):
    out = runner.run_benchmarks(
        ["metrics"], results_json=tmp_path / "r.json", results_md=tmp_path / "R.md",
        profile="smoke", command="test",
    )  # fmt: skip
    assert out["metrics.classifier.test_accuracy"]["value"] >= 0.97
    assert out["metrics.fid.identical"]["value"] < 1e-6
    assert json.loads((tmp_path / "r.json").read_text()) == out
    assert "`quality.calibration.noise_0.25.fid`" in (tmp_path / "R.md").read_text()


def test_a_torn_results_file_stops_with_a_clear_error(paths):
    paths["results_json"].write_text('{"fake.score": {"value": 1.5, "un')  # torn mid-write
    with pytest.raises(runner.BenchmarkError, match="not valid results JSON.*git checkout"):
        runner.run_benchmarks(["alpha"], profile="fast", command="t", **paths)
    assert paths["results_json"].read_text().endswith('"un')  # left for the user to restore


def test_an_interrupted_write_keeps_the_previous_results(paths, monkeypatch):
    runner.run_benchmarks(["alpha"], profile="fast", command="t", **paths)
    before = (paths["results_json"].read_text(), paths["results_md"].read_text())

    def crash(*args, **kwargs):
        raise KeyboardInterrupt  # the process is stopped while rendering the new files

    monkeypatch.setattr(runner, "render_markdown", crash)
    with pytest.raises(KeyboardInterrupt):
        runner.run_benchmarks(["beta"], profile="fast", command="t", **paths)
    assert (paths["results_json"].read_text(), paths["results_md"].read_text()) == before
    assert sorted(p.name for p in paths["results_json"].parent.iterdir()) == ["R.md", "bench",
                                                                              "r.json"]  # fmt: skip


# ------------------------------------------------------------------ the speed benchmark's loops
def test_tutorial_dataset_yields_the_same_images_as_ours():
    import torch

    from benchmarks import bench_speed
    from course_lib.data import load_images

    X, y = load_images("mnist5k", "train")
    ds = bench_speed.TutorialMNIST(*bench_speed._mnist5k_uint8())
    for i in (0, 1234, len(ds) - 1):
        img, label = ds[i]
        assert img.shape == (1, 28, 28) and label == int(y[i])
        torch.testing.assert_close(img, X[i], atol=1e-6, rtol=0)


@pytest.mark.parametrize("kind", ["mlp_gan", "dcgan"])
def test_both_loops_run_on_cpu(kind):
    import torch

    from benchmarks import bench_speed
    from course_lib.data import load_images

    X, _ = load_images("mnist5k", "train")
    cpu = torch.device("cpu")
    ours = bench_speed.OurLoop(kind, X[:256], cpu)
    tutorial = bench_speed.TutorialLoop(kind, bench_speed._mnist5k_uint8(), cpu, workers=0)
    for loop in (ours, tutorial):
        timer = {"data": 0.0, "step": 0.0}
        loop.run(2, timer)
        assert timer["step"] > 0
    # same architecture and initial weights in both loops
    assert sum(p.numel() for p in ours.net_G.parameters()) == sum(
        p.numel() for p in tutorial.net_G.parameters()
    )


def test_our_loop_uses_the_cuda_paths_when_a_gpu_is_there():
    import torch

    if not torch.cuda.is_available():
        pytest.skip("no CUDA GPU: bf16 autocast / fused Adam / channels_last not exercised")
    from benchmarks import bench_speed
    from course_lib.data import load_images

    X, _ = load_images("mnist5k", "train")
    loop = bench_speed.OurLoop("dcgan", X, torch.device("cuda"))
    assert loop.trainer_D.defaults["fused"]
    assert loop.net_D.net[2].weight.is_contiguous(memory_format=torch.channels_last)
    loop.run(3, {"data": 0.0, "step": 0.0})
    torch.cuda.synchronize()
    assert bench_speed.step_flops(loop) > 0


def test_record_has_the_fields_the_runner_requires():
    from benchmarks import run

    rec = run.record(3, "modes", "fast", "three seeds", anchor="paper: 8", seeds=(0, 1, 2))
    assert rec == {"value": 3.0, "anchor": "paper: 8", "unit": "modes", "profile": "fast",
                   "seeds": [0, 1, 2], "notes": "three seeds"}  # fmt: skip
    for field, kinds in run.REQUIRED.items():
        assert isinstance(rec[field], kinds)


# --- benchmarks/reuse.py: a shipped model's expensive row is reused only while its inputs hold


def test_reuse_follows_the_imports_of_the_bench_module():
    from pathlib import Path

    from benchmarks import reuse

    names = {p.name for p in reuse.course_lib_sources([Path("benchmarks/bench_ddpm.py")])}
    # direct imports, and modules reached only through them (metrics -> classifier)
    assert {"ddpm_train.py", "diffusion_samplers.py", "diffusion.py", "unet.py"} <= names
    assert {"metrics.py", "classifier.py", "__init__.py"} <= names
    assert "gan.py" not in names and "infogan.py" not in names


def test_reuse_measures_once_then_reuses_until_an_input_changes(tmp_path, monkeypatch):
    from benchmarks import reuse

    monkeypatch.delenv("BENCH_REUSE", raising=False)
    calls = []

    def measure():
        calls.append(1)
        return {"fid": 10.0 + len(calls)}

    parts = {"files": {"a.py": "0" * 64}, "versions": {}, "settings": {"seed": 3}}
    first, note = reuse.measured("row", parts, measure, "test machine", store=tmp_path)
    assert first == {"fid": 11.0} and "measured in this run" in note
    again, note = reuse.measured("row", parts, measure, "test machine", store=tmp_path)
    assert again == {"fid": 11.0} and note.startswith("reused") and len(calls) == 1
    changed = {**parts, "files": {"a.py": "1" * 64}}
    fresh, note = reuse.measured("row", changed, measure, "test machine", store=tmp_path)
    assert fresh == {"fid": 12.0} and len(calls) == 2
    monkeypatch.setenv("BENCH_REUSE", "0")
    forced, _ = reuse.measured("row", changed, measure, "test machine", store=tmp_path)
    assert forced == {"fid": 13.0} and len(calls) == 3


def test_reuse_measures_again_over_a_corrupt_store(tmp_path, monkeypatch):
    from benchmarks import reuse

    monkeypatch.delenv("BENCH_REUSE", raising=False)
    (tmp_path / "row.json").write_text("{torn")
    parts = {"files": {}, "versions": {}, "settings": {}}
    value, note = reuse.measured("row", parts, lambda: {"x": 1.0}, "m", store=tmp_path)
    assert value == {"x": 1.0} and "measured in this run" in note
    assert json.loads((tmp_path / "row.json").read_text())["result"] == {"x": 1.0}


def test_reuse_key_covers_the_checkpoint_sources_and_settings(tmp_path):
    from pathlib import Path

    from benchmarks import reuse

    ckpt = tmp_path / "ckpt"
    ckpt.mkdir()
    (ckpt / "w.safetensors").write_bytes(b"weights")
    base = reuse.inputs(Path("benchmarks/bench_ddpm.py"), [ckpt], {"seed": 3})
    assert "course_lib/diffusion_samplers.py" in base["files"]
    assert "benchmarks/bench_ddpm.py" in base["files"] and "torch" in base["versions"]
    other_seed = reuse.inputs(Path("benchmarks/bench_ddpm.py"), [ckpt], {"seed": 4})
    (ckpt / "w.safetensors").write_bytes(b"weights, retrained")
    other_ckpt = reuse.inputs(Path("benchmarks/bench_ddpm.py"), [ckpt], {"seed": 3})
    keys = {reuse.key_of(p) for p in (base, other_seed, other_ckpt)}
    assert len(keys) == 3
    with pytest.raises(FileNotFoundError, match="missing"):
        reuse.inputs(Path("benchmarks/bench_ddpm.py"), [tmp_path / "gone"], {})


def test_reuse_leaves_out_only_the_budget_table_and_the_reusing_modules_never_read_it():
    import re
    from pathlib import Path

    from benchmarks import reuse

    for bench in ("bench_ddpm.py", "bench_diffusers.py"):
        path = Path("benchmarks") / bench
        names = {p.name for p in reuse.course_lib_sources([path])}
        assert "budgets.py" not in names and "config.py" in names
        assert not re.search(r"\bbudget\(", path.read_text()), f"{bench} reads a budget"
    assert reuse.NOT_INPUTS == {"budgets.py"}


def test_reuse_code_digest_ignores_docstrings_comments_and_layout_not_code():
    from benchmarks import reuse

    src = 'def f(x):\n    """Doc."""\n    return x + 1  # one\n'
    same = [
        'def f(x):\n    """Another doc, longer."""\n    return x + 1\n',
        "def f(x):\n    # a comment\n    return (x +\n            1)\n",
        '"""Module doc."""\n\ndef f(x):\n    return x + 1\n',
    ]
    changed = [
        'def f(x):\n    """Doc."""\n    return x + 2\n',
        'def f(y):\n    """Doc."""\n    return y + 1\n',
        'def f(x):\n    """Doc."""\n    s = "Doc."\n    return x + 1\n',  # a string that is code
    ]
    digest = reuse.code_digest(src)
    assert digest.startswith("code:")
    assert all(reuse.code_digest(s) == digest for s in same)
    assert all(reuse.code_digest(s) != digest for s in changed)
    assert reuse.code_digest('def f():\n    """Only a doc."""\n') == reuse.code_digest(
        "def f():\n    pass\n")  # fmt: skip


def test_expected_seconds_adds_the_reused_measurements_a_module_may_redo(paths, tmp_path):
    bench, store = paths["bench_dir"], tmp_path / "reused"
    store.mkdir()
    (store / "slow1000.json").write_text(json.dumps({"seconds": 1800.0, "result": {}}))
    (store / "torn.json").write_text('{"seconds": 9')
    _write(bench, "gamma", 1.0, extra='\nX = reuse.measured("slow1000", {}, f, "m")\n'
           'Y = reuse.measured( "slow1000", {}, g, "m")\nZ = reuse.measured("torn", {}, f, "m")\n'
           'W = reuse.measured("never_stored", {}, f, "m")\n')  # fmt: skip
    results = {"bench.alpha.runtime_s": {"value": 40.0}, "bench.gamma.runtime_s": {"value": 30.0}}
    assert runner.expected_seconds("alpha", bench, results, store) == 40.0
    # one stored measurement counted once; torn or missing entries add nothing
    assert runner.expected_seconds("gamma", bench, results, store) == 1830.0
    assert runner.expected_seconds("beta", bench, {}, store) == 0.0


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_a_killed_runner_takes_its_workers_with_it(tmp_path):
    """SIGTERM to the runner (not Ctrl-C to the whole process group) must not leave a worker
    training on: it would slow every later measurement and could still write results."""
    bench, pid_file = tmp_path / "bench", tmp_path / "worker.pid"
    bench.mkdir()
    (bench / "bench_slow.py").write_text(
        f"import os, time\n\ndef run(profile):\n    open({str(pid_file)!r}, 'w').write("
        "str(os.getpid()))\n    time.sleep(120)\n    return {}\n"
    )
    code = (
        "from pathlib import Path\nfrom benchmarks import run\n"
        f"run.run_benchmarks(['slow'], bench_dir=Path({str(bench)!r}), profile='smoke', "
        f"results_json=Path({str(tmp_path / 'r.json')!r}), "
        f"results_md=Path({str(tmp_path / 'R.md')!r}), jobs=2, keep_unchanged=False)\n"
    )
    root = Path(runner.__file__).resolve().parent.parent
    parent = subprocess.Popen([sys.executable, "-c", code], cwd=root)
    try:
        deadline = time.monotonic() + 90
        while not (pid_file.exists() and pid_file.read_text()) and time.monotonic() < deadline:
            assert parent.poll() is None, "the runner ended before its worker started"
            time.sleep(0.2)
        worker = int(pid_file.read_text())
        parent.send_signal(signal.SIGTERM)
        parent.wait(timeout=30)
        deadline = time.monotonic() + 20
        while _alive(worker) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not _alive(worker), "the worker outlived the runner"
    finally:
        parent.kill()
        if pid_file.exists() and pid_file.read_text() and _alive(int(pid_file.read_text())):
            os.kill(int(pid_file.read_text()), signal.SIGKILL)


def _alive(pid: int) -> bool:
    """True while process ``pid`` exists and is not a zombie."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"
