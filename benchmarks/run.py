"""Run the course's benchmarks and regenerate benchmarks/results.json and RESULTS.md.

Usage::

    python -m benchmarks.run                 # every benchmarks/bench_*.py (what `make bench` does)
    python -m benchmarks.run speed metrics   # only these; other results are kept
    python -m benchmarks.run --jobs 1        # one module at a time (default: one per core)

Profile: quality benchmarks run in the ``fast`` profile unless ``COURSE_PROFILE`` is set to
``smoke``, ``fast`` or ``full`` (``auto`` or unset means ``fast`` here).

Writing a benchmark
-------------------
Add ``benchmarks/bench_<name>.py`` with ``def run(profile: str) -> dict[str, dict]``. It
returns flat keys (``"speed.mlp_gan.ratio_vs_tutorial"``, ``"nb02.dcgan.fid"``, ...) mapped
to records::

    {"value": float, "anchor": str | None, "unit": str, "profile": str,
     "seeds": list[int], "notes": str}

``anchor`` is the published number and its source (``"VEEGAN Table 1: 8 modes"``) or None.
Free text for RESULTS.md (how it was measured, where the time goes, caveats) goes in one of
two places, both rendered as Markdown under a ``## <name>`` heading:

- the special key ``"_notes"`` in the returned dict, with a Markdown *string* as its value
  (for text that depends on the measurements), and/or
- a module-level ``NOTES`` string (for fixed text).

What this runner adds
---------------------
Each record gets ``bench`` (the module's name), ``date`` (UTC, ISO 8601), ``machine`` (CPU
model, cores, torch version, device) and ``command`` (how to reproduce it); each module also
gets a ``bench.<name>.runtime_s`` record. ``results.json`` holds the records under their keys
(sorted), plus one non-metric key, ``"_sections"`` (name -> Markdown), which readers should
skip; non-finite values are stored as ``null``. A re-run of a module replaces all of that
module's previous records, so a key it no longer produces disappears. ``RESULTS.md`` is
regenerated from ``results.json`` alone: one table, then the sections.

Parallel runs
-------------
By default (``--jobs N`` or ``BENCH_JOBS`` to change it) modules run in one worker process
per CPU core, one torch thread each, longest first (:func:`expected_seconds`); a module that
sets ``EXCLUSIVE = True`` (bench_speed, whose timings need a quiet machine) runs first,
alone. A full run also records ``bench.all.runtime_s``, the wall clock of the whole ``make
bench``. Both files are rewritten after each module, so an interrupted run keeps the modules
that finished.

Unchanged modules
-----------------
Each record also stores ``inputs``, the key of everything its module depends on
(:func:`module_key`: the module's code and the course_lib code it imports, the budget
table, the shipped files in data/, package versions, profile, machine and thread layout).
A later run keeps a module's rows without running it while that key is unchanged (the rows
keep their date and machine) and measures it as soon as one input changes.
``BENCH_REUSE=0`` measures every module named. ``bench.all.runtime_s`` is the wall clock of
the last whole run that measured every module; a whole run that kept some records
``bench.last_run.runtime_s`` instead.
"""

from __future__ import annotations

import datetime as _dt
import importlib
import importlib.util
import json
import math
import os
import platform
import re
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import Any

from benchmarks import reuse
from course_lib.io import atomic_write_text

HERE = Path(__file__).resolve().parent
RESULTS_JSON = HERE / "results.json"
RESULTS_MD = HERE / "RESULTS.md"
REQUIRED = {"value": (int, float), "unit": str, "profile": str, "seeds": list, "notes": str}
SECTIONS = "_sections"


class BenchmarkError(RuntimeError):
    """A benchmark module is missing or returned something malformed."""


def record(
    value: float,
    unit: str,
    profile: str,
    notes: str,
    anchor: str | None = None,
    seeds: list[int] | tuple[int, ...] = (0,),
) -> dict[str, Any]:
    """One result record in the shape ``run(profile)`` must return (see the module docstring)."""
    return {
        "value": float(value),
        "anchor": anchor,
        "unit": unit,
        "profile": profile,
        "seeds": list(seeds),
        "notes": notes,
    }


def available(bench_dir: Path = HERE) -> list[str]:
    """Names of the benchmarks in ``bench_dir`` (``bench_<name>.py`` -> ``<name>``)."""
    return sorted(p.stem[len("bench_") :] for p in Path(bench_dir).glob("bench_*.py"))


def load_module(name: str, bench_dir: Path = HERE) -> ModuleType:
    """Import ``bench_<name>`` from ``bench_dir`` (the package itself by default)."""
    if Path(bench_dir).resolve() == HERE:
        return importlib.import_module(f"benchmarks.bench_{name}")
    path = Path(bench_dir) / f"bench_{name}.py"
    spec = importlib.util.spec_from_file_location(f"_bench_{name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def bench_profile() -> str:
    """The profile for quality benchmarks: COURSE_PROFILE if smoke/fast/full, else fast."""
    value = os.environ.get("COURSE_PROFILE", "auto").strip().lower()
    if value in ("", "auto"):
        return "fast"
    if value not in ("smoke", "fast", "full"):
        raise BenchmarkError(
            f"COURSE_PROFILE={value!r} is not a profile. Allowed values: smoke, fast, full, auto."
        )
    return value


def machine() -> str:
    """'CPU model (its vector ISA, native bf16 or not), N cores, torch X, device' for the
    record: two "AMD EPYC" machines of the same kind differed 1.5x in matmul speed and 20x
    in bf16 speed (AVX-512 BF16 vs AVX2 only), so the label alone does not explain a row."""
    import torch

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    if sys.platform == "darwin":
        cpu = platform.machine() + " Mac"
    try:
        isa = torch.backends.cpu.get_cpu_capability()
        from course_lib.train import cpu_native_bf16  # the course's own test of bf16 units

        bf16 = "native bf16" if cpu_native_bf16() else "no native bf16"
        cpu = f"{cpu} ({isa}, {bf16})"
    except (AttributeError, RuntimeError):  # older torch: the model name alone
        pass
    device = "cpu"
    if torch.cuda.is_available():
        device = "cuda " + torch.cuda.get_device_name(0)
    elif getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        device = "mps"
    return f"{cpu}, {os.cpu_count()} cores, torch {torch.__version__}, {device}"


def _check_records(name: str, out: Any) -> tuple[dict[str, dict], str]:
    if not isinstance(out, dict):
        raise BenchmarkError(f"bench_{name}.run() must return a dict, got {type(out).__name__}")
    out = dict(out)
    notes = out.pop("_notes", "")
    if not isinstance(notes, str):
        raise BenchmarkError(f"bench_{name}: '_notes' must be a Markdown string")
    for key, rec in out.items():
        if not isinstance(rec, dict):
            raise BenchmarkError(f"bench_{name}: record {key!r} must be a dict")
        for field, types in REQUIRED.items():
            if field not in rec or not isinstance(rec[field], types):
                raise BenchmarkError(
                    f"bench_{name}: record {key!r} needs {field!r} of type "
                    f"{getattr(types, '__name__', types)}; got {rec.get(field)!r}. "
                    "Records are {value, anchor, unit, profile, seeds, notes}."
                )
        if rec.get("anchor") is not None and not isinstance(rec["anchor"], str):
            raise BenchmarkError(f"bench_{name}: 'anchor' of {key!r} must be a string or None")
    return out, notes


def _finite(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


def _run_module(name: str, bench_dir: Path, profile: str) -> tuple[dict, str, float]:
    """Import and run one module; return (checked records, its Markdown text, seconds)."""
    module = load_module(name, bench_dir)
    print(f"== bench_{name} (profile {profile})", flush=True)
    start = time.perf_counter()
    records, notes = _check_records(name, module.run(profile))
    seconds = time.perf_counter() - start
    text = "\n\n".join(t for t in (getattr(module, "NOTES", "").strip(), notes.strip()) if t)
    print(f"   bench_{name}: {len(records) + 1} records in {seconds:.0f} s", flush=True)
    return records, text, seconds


def expected_seconds(name: str, bench_dir: Path, results: dict, store: Path = reuse.STORE) -> float:
    """How long module ``name`` is expected to take, to start the longest first: its last
    ``bench.<name>.runtime_s`` plus the stored time of every reused measurement it makes
    (``reuse.measured("<cache>", ...)`` in its source), which it may have to measure again.
    Pessimistic when those are reused (a short module then merely starts early), but a
    module whose 30-min measurement went stale no longer starts last and runs on alone."""
    seconds = float((results.get(f"bench.{name}.runtime_s") or {}).get("value") or 0)
    source = (Path(bench_dir) / f"bench_{name}.py").read_text(encoding="utf-8")
    for cache in dict.fromkeys(re.findall(r"reuse\.measured\(\s*[\"']([\w.-]+)[\"']", source)):
        try:
            entry = json.loads((Path(store) / f"{cache}.json").read_text(encoding="utf-8"))
            seconds += float(entry.get("seconds") or 0)
        except (OSError, ValueError, TypeError, AttributeError):
            continue  # never measured (or unreadable): nothing to add
    return seconds


def _die_with_parent(runner: int | None = None) -> None:
    """On Linux, have the kernel end this worker when the runner dies, also when it is killed
    (SIGTERM, a CI timeout) rather than interrupted with Ctrl-C: otherwise an orphaned worker
    trains on, slows every later measurement on the machine and can still write a stored
    measurement. Elsewhere nothing changes."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes
    import signal

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, int(signal.SIGTERM))  # 1 = PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return
    if runner is not None and os.getppid() != runner:  # it died before the request took effect
        os._exit(1)


def _worker_init(runner: int | None = None) -> None:
    """Each parallel worker uses one torch thread, so N workers fill N cores without the
    oversubscription that made small models 10-30x slower on this 2-core machine; it ends
    when the runner (process id ``runner``) does (:func:`_die_with_parent`)."""
    _die_with_parent(runner)
    os.environ["OMP_NUM_THREADS"] = "1"
    import torch

    torch.set_num_threads(1)


def default_jobs() -> int:
    """Parallel workers for ``make bench``: BENCH_JOBS, else one per CPU core without a GPU
    (the modules train small models on one thread each), else 1 (they would share the GPU)."""
    value = os.environ.get("BENCH_JOBS", "").strip()
    if value:
        if not value.isdigit() or int(value) < 1:
            raise BenchmarkError(f"BENCH_JOBS={value!r} must be a whole number >= 1.")
        return int(value)
    import torch

    return 1 if torch.cuda.is_available() else max(1, os.cpu_count() or 1)


def read_results(results_json: Path) -> dict[str, Any]:
    """The records of ``results.json`` ({} when there is none yet).

    The runner writes it atomically, so a torn file means it was edited or copied badly:
    that is an error that says how to get it back, never a silent fresh start that would
    drop every other module's results.
    """
    path = Path(results_json)
    if not path.exists():
        return {}
    try:
        results = json.loads(path.read_text())
        if not isinstance(results, dict):
            raise ValueError("not a JSON object")
    except ValueError as err:
        raise BenchmarkError(
            f"{path} is not valid results JSON ({err}); nothing was run. Restore it with "
            f"`git checkout -- {path.name}` (or delete it to start an empty table)."
        ) from err
    return results


def run_benchmarks(
    names: list[str] | None = None,
    *,
    bench_dir: Path = HERE,
    results_json: Path = RESULTS_JSON,
    results_md: Path = RESULTS_MD,
    profile: str | None = None,
    command: str | None = None,
    jobs: int = 1,
    keep_unchanged: bool | None = None,
) -> dict[str, Any]:
    """Run benchmarks ``names`` (all when None), merge into ``results_json``, rewrite the
    Markdown; return the merged results.

    ``jobs`` > 1 runs modules in that many worker processes with one torch thread each,
    longest first (:func:`expected_seconds`); modules that set
    ``EXCLUSIVE = True`` (timing comparisons such as bench_speed) run first, alone, in this
    process. Results are merged here, one module at a time, as each finishes.

    ``keep_unchanged`` (default: :func:`reuse.enabled`, i.e. unless ``BENCH_REUSE=0``)
    keeps a module's rows, without running it, when every one of them was measured under
    the key of its current inputs (:func:`module_key`): same code, budgets, shipped files,
    packages, profile, machine and thread layout.
    """
    every = available(bench_dir)
    names = list(names) if names else every
    unknown = [n for n in names if n not in every]
    if unknown:
        raise BenchmarkError(
            f"Unknown benchmark(s) {', '.join(unknown)}. Available: {', '.join(every)} "
            f"(files bench_<name>.py in {bench_dir})."
        )
    profile = profile or bench_profile()
    command = command or "python -m benchmarks.run " + " ".join(sys.argv[1:])
    results = read_results(results_json)
    sections: dict[str, str] = results.pop(SECTIONS, {})
    stamp = {"machine": machine(), "command": command.strip()}
    merged = dict(results, **{SECTIONS: sections})
    wall_start = time.perf_counter()
    keys = {n: module_key(n, bench_dir, profile, stamp["machine"], jobs) for n in names}
    if keep_unchanged is None:
        keep_unchanged = reuse.enabled()
    kept = [n for n in names if keep_unchanged and unchanged(results, n, keys[n])]
    for name in kept:
        date = results[f"bench.{name}.runtime_s"]["date"]
        print(f"== bench_{name}: kept, nothing it depends on changed since {date} "
              "(BENCH_REUSE=0 measures it again)", flush=True)  # fmt: skip
    names = [n for n in names if n not in kept]

    def merge(name: str, records: dict, text: str, seconds: float, note: str) -> None:
        nonlocal results, merged
        records[f"bench.{name}.runtime_s"] = dict(
            value=seconds, anchor=None, unit="s", profile=profile, seeds=[], notes=note
        )
        date = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%MZ")
        results = {k: v for k, v in results.items() if v.get("bench") != name}
        inputs = {"inputs": keys[name]} if name in keys else {}
        for key, rec in records.items():
            rec = dict(rec, value=_finite(rec["value"]), bench=name, date=date, **stamp, **inputs)
            rec.setdefault("anchor", None)
            results[key] = rec
        if text:
            sections[name] = text
        else:
            sections.pop(name, None)
        # written after every module, so an interrupted run keeps what it measured
        merged = {k: results[k] for k in sorted(results)}
        merged[SECTIONS] = {k: sections[k] for k in sorted(sections)}
        markdown = render_markdown(merged)  # both texts ready before either file changes
        atomic_write_text(results_json, json.dumps(merged, indent=1) + "\n")
        atomic_write_text(results_md, markdown)

    exclusive = [
        n for n in names if jobs > 1 and getattr(load_module(n, bench_dir), "EXCLUSIVE", False)
    ]
    for name in names if jobs <= 1 else exclusive:
        merge(name, *_run_module(name, bench_dir, profile), "wall clock")
    pooled = [n for n in names if n not in exclusive] if jobs > 1 else []
    if pooled:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor, as_completed

        last = {n: expected_seconds(n, bench_dir, results) for n in pooled}
        pooled.sort(key=lambda n: -last[n])  # longest first keeps the workers evenly loaded
        note = f"wall clock, run beside other modules ({jobs} workers, 1 torch thread each)"
        failed = []
        ctx = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(
            jobs, mp_context=ctx, initializer=_worker_init, initargs=(os.getpid(),)
        ) as pool:
            futures = {pool.submit(_run_module, n, bench_dir, profile): n for n in pooled}
            for future in as_completed(futures):
                try:
                    merge(futures[future], *future.result(), note)
                except Exception as err:  # keep the other modules' results
                    failed.append(f"bench_{futures[future]}: {type(err).__name__}: {err}")
        if failed:
            raise BenchmarkError(
                "These modules failed (the others were saved):\n" + "\n".join(failed)
            )
    if set(names) | set(kept) == set(every):
        total = time.perf_counter() - wall_start
        print(f"{len(names)} modules measured, {len(kept)} kept, in {total / 60:.1f} min "
              f"({jobs} workers)", flush=True)  # fmt: skip
        if kept:  # bench.all keeps the last run that measured everything (the cold time)
            merge("last_run", {}, "", total,
                  f"wall clock of the last whole run, {jobs} worker(s): {len(names)} of "
                  f"{len(every)} modules measured, kept unchanged: {', '.join(kept)}")  # fmt: skip
        else:
            results.pop("bench.last_run.runtime_s", None)
            merge("all", {}, "", total,
                  f"wall clock of the last run that measured every module, {jobs} worker(s); "
                  "goal <= 30 min")  # fmt: skip
    return merged


def module_key(name: str, bench_dir: Path, profile: str, machine_label: str, jobs: int) -> str:
    """The key of everything module ``name``'s rows depend on (:func:`reuse.module_inputs`)
    for this profile, machine and thread layout."""
    threads = "1 torch thread per worker" if jobs > 1 else f"{jobs} process, default threads"
    settings = {"profile": profile, "machine": machine_label, "threads": threads}
    for var in ("COURSE_DEVICE", "COURSE_COMPILE"):
        settings[var] = os.environ.get(var, "auto")
    path = Path(bench_dir) / f"bench_{name}.py"
    return reuse.key_of(reuse.module_inputs(path, settings))


def unchanged(results: dict[str, Any], name: str, key: str) -> bool:
    """True when ``results`` holds rows of module ``name`` (its runtime row among them) and
    every one was measured under ``key``."""
    rows = [r for r in results.values() if r.get("bench") == name]
    return f"bench.{name}.runtime_s" in results and all(r.get("inputs") == key for r in rows)


def _fmt(value: float | None) -> str:
    if value is None:
        return "n/a"
    if value != 0 and (abs(value) >= 1e5 or abs(value) < 1e-3):
        return f"{value:.3g}"
    return f"{value:.4g}"


PROTOCOL_TEXT = """\
## How images and headlines are measured (read this first)

**One image-quality protocol** (`course_lib.metrics.score_images`) for every row and notebook
that scores generated digits (`quality.*`): 500 generated digits against one reference set,
the 500 digits of the mnist5k test split (no model of the course trains on them); FID and
KID (x10^3; unbiased, so it means the same at any N) on the 128-d features of the course's
own MNIST classifier (Inception weights cannot be fetched offline: compare these numbers with
each other, not with papers' Inception-FIDs); precision and recall (k = 3) and density and
coverage (k = 5) on the same features. `quality.real.*` is the floor: 500 real training
digits scored the same way (FID is not 0 at N = 500). `quality.calibration.*` adds Gaussian
noise or blur to those digits, so any score reads as "about as good as real digits with
this much noise" (see the table in the `metrics` section).

**Selected or held out.** A headline is never scored on what it was selected on: where a
method or setting was chosen by looking at seeds 0-2, its headline row reports seeds 3-5
(the row's notes say "held-out seeds 3-5"); rows on the seeds a choice was made on say
"selected on these seeds". Compared methods get the same budget (stated in G steps). A metric
that a degenerate model can pass sits beside the one that exposes it (recall beside high
quality, per-code diversity beside code accuracy).

**Reused measurements.** Scoring a shipped diffusion model with all 1,000 DDPM steps takes
18-33 min of one core (500 digits, on the machine of `bench.all.runtime_s`), so
`quality.ddpm.*` and `quality.diffusers.*` (and `ddpm.ddpm1000.s_per_image`) are measured once
and then reused while nothing they depend on changes: the checkpoint's files, the classifier,
the code of the bench module and of every course_lib module it imports (their syntax trees
without docstrings: editing documentation does not re-measure), the package versions and the
settings (`benchmarks/reuse.py`; stored in `benchmarks/reused/`). Their notes say "reused:
measured <date> on <machine>" or "measured in this run". `make bench BENCH_REUSE=0` measures
them again.

**Unchanged modules.** Every row stores the key of what its module depends on: the module's
code and the course_lib code it imports, the budget table, the shipped files in `data/`, the
package versions, the profile, the machine and the thread layout. `make bench` keeps a
module's rows (with their date and machine) while that key is unchanged and measures the
module again as soon as any input changes; a GAN trained on another CPU takes another path,
so a new machine measures everything. `bench.all.runtime_s` is the last run that measured
every module (the cold time); `bench.last_run.runtime_s`, when present, a later run that kept
some. `make bench BENCH_REUSE=0` measures every module.
"""


def render_markdown(results: dict[str, Any]) -> str:
    """RESULTS.md from the merged results: one table, then each module's section."""
    lines = [
        "# Benchmark results",
        "",
        "Generated by `python -m benchmarks.run` (`make bench`) from `results.json`; do not edit",
        "by hand. Each row says how it was measured; the sections below explain the numbers.",
        "",
        *PROTOCOL_TEXT.splitlines(),
        "",
        "| metric | our value | unit | published anchor | profile | seeds | date | machine "
        "| command |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for key, rec in results.items():
        if key == SECTIONS:
            continue
        seeds = ",".join(str(s) for s in rec.get("seeds", [])) or "-"
        cells = [
            f"`{key}`",
            _fmt(rec.get("value")),
            rec.get("unit", ""),
            rec.get("anchor") or "-",
            rec.get("profile", ""),
            seeds,
            rec.get("date", ""),
            rec.get("machine", ""),
            f"`{rec.get('command', '')}`",
        ]
        lines.append("| " + " | ".join(str(c).replace("|", "\\|") for c in cells) + " |")
    notes = [(k, r.get("notes", "")) for k, r in results.items() if k != SECTIONS]
    lines += ["", "Notes per row:", ""]
    lines += [f"- `{k}`: {n}" for k, n in notes if n]
    for name, text in results.get(SECTIONS, {}).items():
        lines += ["", f"## {name}", "", text]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Command line: ``python -m benchmarks.run [name ...]``."""
    argv = sys.argv[1:] if argv is None else argv
    if any(a in ("-h", "--help") for a in argv):
        print(__doc__)
        return 0
    command = "python -m benchmarks.run " + " ".join(argv)
    for var in ("OMP_NUM_THREADS", "COURSE_DEVICE", "COURSE_COMPILE", "COURSE_PROFILE"):
        if os.environ.get(var, "auto") not in ("", "auto"):
            command = f"{var}={os.environ[var]} {command}"
    jobs = None
    if "--jobs" in argv:
        i = argv.index("--jobs")
        if i + 1 >= len(argv) or not argv[i + 1].isdigit() or int(argv[i + 1]) < 1:
            print("error: --jobs needs a whole number >= 1", file=sys.stderr)
            return 2
        jobs, argv = int(argv[i + 1]), argv[:i] + argv[i + 2 :]
    try:
        jobs = jobs or default_jobs()
        run_benchmarks(argv or None, command=command, jobs=jobs)
    except BenchmarkError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"wrote {RESULTS_JSON} and {RESULTS_MD}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
