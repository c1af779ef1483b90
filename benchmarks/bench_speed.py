"""Speed of the training cores: course_lib's loop vs a tutorial-style loop, in one run.

Both loops train the *same* networks (course_lib.gan's MLP GAN, course_lib.dcgan's DCGAN) with
the *same* step functions (course_lib.gan.discriminator_step / generator_step), batch 64, for
the same number of steps. They differ in what the issue and DESIGN.md call the loop:

- **ours**: ``course_lib.gan.train_gan`` itself, the trainer notebooks 01-03 run: mnist5k as
  one tensor on the device, ``course_lib.data.batches``; ``course_lib.train.adam`` (fused on
  CUDA), ``autocast`` (bf16 on CUDA; for the DCGAN, notebook 02's
  ``course_lib.dcgan_train.fast_bf16``: bf16 on D's forward passes on a CPU with native
  bf16, fp32 on other CPUs), ``prepare`` (channels_last on CUDA, and for the DCGAN on a CPU
  where D runs in bf16, ``dcgan_train.fast_channels_last``; with ``COURSE_COMPILE=1``,
  torch.compile on CUDA), ``train_loop`` (one host sync per log; here
  one log per repetition).
- **tutorial**: the PyTorch DCGAN tutorial's pipeline: a Dataset like
  ``torchvision.datasets.MNIST`` (uint8 array -> PIL image -> ToTensor -> Normalize per
  sample in ``__getitem__``), ``DataLoader(batch_size=64, shuffle=True, num_workers=W)``,
  ``.to(device)`` per batch, plain ``torch.optim.Adam``, fp32. We measure W = 0 (the
  pytorch/examples MNIST default on CPU) and W = 2 (the DCGAN tutorial's ``workers = 2``)
  and report the ratio against the *faster* of the two, so the baseline is never the
  weaker option.

Repetitions alternate (ours, tutorial W=0, tutorial W=2, rotating the order) after one
warm-up each; the reported ratio is the median over repetitions of steps/s(ours) /
steps/s(tutorial). The DCGAN step's FLOPs are counted by ``torch.utils.flop_counter`` and
divided by the measured step time; the ceiling is a large matmul timed in the same run (fp32
on a CPU, bf16 on CUDA; a loop that runs D in bf16 on a CPU can exceed its fp32 ceiling).
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from course_lib import data, dcgan_train, gan, train
from course_lib.config import get_device, seeded
from course_lib.dcgan import DCGANDiscriminator, DCGANGenerator

EXCLUSIVE = True  # benchmarks.run runs it alone: a timing comparison needs a quiet machine
BATCH_SIZE = 64
LATENT_DIM = 100
SEED = 0
# (steps per repetition, repetitions) for each model and profile
PLAN = {
    "smoke": {"mlp_gan": (20, 2), "dcgan": (3, 2)},
    "fast": {"mlp_gan": (200, 5), "dcgan": (30, 9)},
    "full": {"mlp_gan": (600, 7), "dcgan": (50, 7)},
}
TUTORIAL_WORKERS = (0, 2)
DIAGNOSTICS = {
    "channels_last": "channels_last",
    "bf16": "bf16 autocast",
    "bf16_D": "bf16 autocast on D only",
}


# ---------------------------------------------------------------------------------------
# The tutorial-style pipeline
# ---------------------------------------------------------------------------------------
class TutorialMNIST(Dataset):
    """What torchvision.datasets.MNIST does: uint8 (N, 28, 28) -> PIL -> transform."""

    def __init__(self, pixels: np.ndarray, labels: np.ndarray) -> None:
        from torchvision import transforms

        self.data, self.targets = pixels, labels
        self.transform = transforms.Compose(
            [transforms.ToTensor(), transforms.Normalize((0.5,), (0.5,))]
        )

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, i: int):
        from PIL import Image

        img = Image.fromarray(self.data[i], mode="L")
        return self.transform(img), int(self.targets[i])


def _mnist5k_uint8() -> tuple[np.ndarray, np.ndarray]:
    X, y = data.load_images("mnist5k", "train")
    pixels = ((X[:, 0] + 1) * 127.5).round().clamp(0, 255).to(torch.uint8).numpy()
    return pixels, y.numpy()


def _models(kind: str) -> tuple[torch.nn.Module, torch.nn.Module]:
    with seeded(SEED):
        if kind == "mlp_gan":
            return gan.Generator(LATENT_DIM), gan.Discriminator()
        return DCGANGenerator(LATENT_DIM), DCGANDiscriminator()


class OurLoop:
    """course_lib's path: ``gan.train_gan`` on device-resident data (``data.batches``), with
    the helpers it uses (``train.prepare``/``adam``/``autocast``/``train_loop``). Each
    ``run`` continues the same nets, trainers and batch stream."""

    def __init__(self, kind: str, X: torch.Tensor, device: torch.device) -> None:
        self.device = device
        net_G, net_D = _models(kind)
        compile_ = os.environ.get("COURSE_COMPILE", "0") == "1"
        conv = kind == "dcgan"
        # notebook 02's path: channels_last on a CPU too where D runs in bf16
        self.channels_last = dcgan_train.fast_channels_last(device) if conv else None
        self.net_G, self.net_D = (
            train.prepare(net, device, conv=conv, compile=compile_,
                          channels_last=self.channels_last) for net in (net_G, net_D)
        )  # fmt: skip
        self.trainer_D = train.adam(self.net_D.parameters(), 2e-4, (0.5, 0.999), device=device)
        self.trainer_G = train.adam(self.net_G.parameters(), 2e-4, (0.5, 0.999), device=device)
        self.gen = torch.Generator().manual_seed(SEED)
        self.batches = data.batches(X, BATCH_SIZE, generator=self.gen, device=device)
        self.bf16 = dcgan_train.fast_bf16(device) if conv else None  # notebook 02's path

    def run(self, steps: int, timer: dict[str, float]) -> None:
        def timed_batches():  # the time spent fetching batches, inside the trainer's loop
            while True:
                t0 = time.perf_counter()
                X = next(self.batches)
                timer["data"] += time.perf_counter() - t0
                yield X

        data_before, t0 = timer["data"], time.perf_counter()
        gan.train_gan(
            timed_batches(), steps, net_G=self.net_G, net_D=self.net_D, latent_dim=LATENT_DIM,
            latent_kind="gaussian", trainers=(self.trainer_D, self.trainer_G), device=self.device,
            generator=self.gen, log_every=steps, progress=False, bf16=self.bf16,
        )  # fmt: skip
        timer["step"] += time.perf_counter() - t0 - (timer["data"] - data_before)


class TutorialLoop:
    """The DCGAN-tutorial path: DataLoader over per-sample transforms, fp32, plain Adam."""

    def __init__(self, kind: str, arrays, device: torch.device, workers: int) -> None:
        self.device = device
        self.net_G, self.net_D = (m.to(device) for m in _models(kind))
        self.trainer_G = torch.optim.Adam(self.net_G.parameters(), lr=2e-4, betas=(0.5, 0.999))
        self.trainer_D = torch.optim.Adam(self.net_D.parameters(), lr=2e-4, betas=(0.5, 0.999))
        gen = torch.Generator().manual_seed(SEED)
        self.loader = DataLoader(
            TutorialMNIST(*arrays),
            batch_size=BATCH_SIZE,
            shuffle=True,
            num_workers=workers,
            generator=gen,
        )

    def run(self, steps: int, timer: dict[str, float]) -> None:
        done = 0
        while done < steps:  # "for epoch in range(num_epochs): for data in dataloader:"
            it = iter(self.loader)
            while done < steps:
                t0 = time.perf_counter()
                try:
                    X, _ = next(it)
                except StopIteration:
                    break
                X = X.to(self.device)
                Z = torch.randn(len(X), LATENT_DIM, device=self.device)
                t1 = time.perf_counter()
                gan.discriminator_step(X, Z, self.net_D, self.net_G, self.trainer_D)
                gan.generator_step(Z, self.net_D, self.net_G, self.trainer_G)
                timer["data"] += t1 - t0
                timer["step"] += time.perf_counter() - t1
                done += 1
            del it  # shuts the workers down, as the end of a tutorial epoch does


def _load_average() -> str:
    try:
        return f"{os.getloadavg()[0]:.1f}"
    except (OSError, AttributeError):  # Windows
        return "n/a"


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def _timed(loop, steps: int, device: torch.device) -> dict[str, float]:
    timer = {"data": 0.0, "step": 0.0}
    _sync(device)
    t0 = time.perf_counter()
    loop.run(steps, timer)
    _sync(device)
    timer["total"] = time.perf_counter() - t0
    return timer


def matmul_ceiling(device: torch.device, n: int = 1024, reps: int = 20) -> float:
    """Achieved FLOP/s of an n x n matmul (fp32 on CPU, bf16 on CUDA): the roofline."""
    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    n = 8192 if device.type == "cuda" else n
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    for _ in range(3):
        a @ b
    best = float("inf")
    for _ in range(3):
        _sync(device)
        t0 = time.perf_counter()
        for _ in range(reps):
            a @ b
        _sync(device)
        best = min(best, time.perf_counter() - t0)
    return 2 * n**3 * reps / best


def step_flops(loop: OurLoop) -> int:
    """FLOPs of one training iteration (D step + G step), counted by FlopCounterMode."""
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        loop.run(1, {"data": 0.0, "step": 0.0})
    return counter.get_total_flops()


def profile_top_ops(loop, steps: int = 3, top: int = 6) -> list[tuple[str, float]]:
    """The ops with the most self CPU time over ``steps`` iterations: (name, share)."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU]) as prof:
        loop.run(steps, {"data": 0.0, "step": 0.0})
    events = [e for e in prof.key_averages() if e.self_cpu_time_total > 0]
    total = sum(e.self_cpu_time_total for e in events)
    events.sort(key=lambda e: e.self_cpu_time_total, reverse=True)
    return [(e.key, e.self_cpu_time_total / total) for e in events[:top]]


def step_variant_diagnostic(profile: str, device: torch.device, variant: str) -> float:
    """Speed-up of the DCGAN step (no data loading) from ``variant`` on this device.

    ``"channels_last"``: NHWC memory format in fp32 (``train.prepare``: on CUDA; notebook 02's
    DCGAN also on a CPU with native bf16, beside D in bf16);
    ``"bf16"``: bf16 autocast on both networks (``train.autocast`` enables it on CUDA only;
    on a CPU with AVX512-BF16/AMX it also runs); ``"bf16_D"``: on D's forward passes only
    (notebook 02's path on a CPU with native bf16). Measures whether each would pay on the
    current device:
    median of alternating repetitions of the ratio of step times (baseline / variant).
    """
    steps, reps = PLAN[profile]["dcgan"]
    steps, reps = max(2, steps // 5), max(2, reps - 2)
    X = torch.rand(BATCH_SIZE, 1, 28, 28, device=device) * 2 - 1
    nets = {}
    for on in (False, True):
        net_G, net_D = (m.to(device) for m in _models("dcgan"))
        x = X
        if on and variant == "channels_last":
            net_G, net_D = (m.to(memory_format=torch.channels_last) for m in (net_G, net_D))
            x = X.contiguous(memory_format=torch.channels_last)
        trainers = (train.adam(net_G.parameters(), 2e-4, device=device),)
        trainers += (train.adam(net_D.parameters(), 2e-4, device=device),)
        nets[on] = (net_G, net_D, *trainers, x)

    def timed(on: bool) -> float:
        net_G, net_D, trainer_G, trainer_D, x = nets[on]
        ctx = train.autocast(device, enabled=on and variant == "bf16")
        if on and variant == "bf16_D":
            net_D = gan.bf16_forward(net_D, device)
        _sync(device)
        t0 = time.perf_counter()
        with ctx:
            for _ in range(steps):
                Z = torch.randn(BATCH_SIZE, LATENT_DIM, device=device)
                gan.discriminator_step(x, Z, net_D, net_G, trainer_D)
                gan.generator_step(Z, net_D, net_G, trainer_G)
        _sync(device)
        return time.perf_counter() - t0

    timed(False), timed(True)  # warm-up
    ratios = []
    for r in range(reps):
        order = (False, True) if r % 2 == 0 else (True, False)
        t = {on: timed(on) for on in order}
        ratios.append(t[False] / t[True])
    return statistics.median(ratios)


def compare(kind: str, profile: str, device: torch.device, log: Callable = print) -> dict:
    """Alternate ours / tutorial(W) repetitions; return per-variant timings and ratios."""
    steps, reps = PLAN[profile][kind]
    X, _ = data.load_images("mnist5k", "train")
    arrays = _mnist5k_uint8()
    loops = {"ours": OurLoop(kind, X, device)}
    for w in TUTORIAL_WORKERS:
        loops[f"tutorial_w{w}"] = TutorialLoop(kind, arrays, device, w)
    names = list(loops)
    for name in names:  # warm-up (allocator, oneDNN primitives, first worker start)
        _timed(loops[name], max(2, steps // 5), device)
    rates: dict[str, list[float]] = {n: [] for n in names}
    split: dict[str, list[float]] = {n: [] for n in names}
    for r in range(reps):
        order = names[r % len(names) :] + names[: r % len(names)]
        for name in order:
            t = _timed(loops[name], steps, device)
            rates[name].append(steps / t["total"])
            split[name].append(t["data"] / t["total"])
        log(
            f"  {kind} rep {r + 1}/{reps}: " + ", ".join(f"{n} {rates[n][-1]:.1f}/s" for n in names)
        )
    out = {
        "steps": steps,
        "reps": reps,
        "rates": {n: statistics.median(v) for n, v in rates.items()},
        "data_share": {n: statistics.median(v) for n, v in split.items()},
        "ratios": {
            n: statistics.median(a / b for a, b in zip(rates["ours"], rates[n]))
            for n in names
            if n != "ours"
        },
        "loops": loops,
    }
    return out


def run(profile: str) -> dict[str, dict]:
    """Benchmark entry point (see benchmarks/run.py): speed.* records and a notes section."""
    device = get_device()
    threads = torch.get_num_threads()
    torch.manual_seed(SEED)
    env = f"{device.type}, {threads} torch threads, batch {BATCH_SIZE}"
    records: dict[str, dict] = {}

    def rec(key, value, unit, notes, anchor=None):
        records[key] = dict(
            value=float(value), anchor=anchor, unit=unit, profile=profile, seeds=[SEED], notes=notes
        )

    load_before = _load_average()
    ceiling = matmul_ceiling(device)
    rec("speed.matmul_ceiling_gflops", ceiling / 1e9, "GFLOP/s", f"best of 3 timed matmuls; {env}")
    notes = [
        f"Measured on {env}. Tutorial loop = DataLoader over per-sample PIL->ToTensor->"
        "Normalize transforms, shuffle, batch 64; headline ratio against the faster of "
        "num_workers=0 and num_workers=2."
    ]
    goals = {"mlp_gan": 2.0, "dcgan": 1.2}
    for kind in ("mlp_gan", "dcgan"):
        res = compare(kind, profile, device)
        w_best = min(res["ratios"], key=res["ratios"].get)
        headline = res["ratios"][w_best]
        what = f"{res['reps']} alternating reps x {res['steps']} steps; {env}"
        rec(
            f"speed.{kind}.ratio_vs_tutorial",
            headline,
            "x",
            f"median steps/s ratio vs {w_best} (the faster tutorial variant); goal >= "
            f"{goals[kind]}x; {what}",
        )
        for name, ratio in res["ratios"].items():
            rec(f"speed.{kind}.ratio_vs_{name}", ratio, "x", f"median steps/s ratio; {what}")
        for name, rate in res["rates"].items():
            rec(f"speed.{kind}.{name}_steps_per_s", rate, "steps/s", f"median; {what}")
        shares = ", ".join(f"{n} {100 * s:.0f}%" for n, s in res["data_share"].items())
        line = (
            f"**{kind}**: ours {res['rates']['ours']:.1f} steps/s, "
            + ", ".join(f"{n} {r:.1f}" for n, r in res["rates"].items() if n != "ours")
            + f" -> ratio {headline:.2f}x (goal {goals[kind]}x, "
            + ("met" if headline >= goals[kind] else "**missed**")
            + f"). Share of loop time spent fetching the batch: {shares}."
        )
        if kind == "dcgan":
            ours = res["loops"]["ours"]
            flops = step_flops(ours)
            achieved = flops * res["rates"]["ours"]
            rec("speed.dcgan.step_gflop", flops / 1e9, "GFLOP", "FlopCounterMode, D+G step")
            rec("speed.dcgan.achieved_gflops", achieved / 1e9, "GFLOP/s", f"ours; {env}")
            rec(
                "speed.dcgan.fraction_of_matmul_ceiling",
                achieved / ceiling,
                "fraction",
                "achieved FLOP/s of the DCGAN step / matmul FLOP/s, same run (the matmul "
                "in fp32 on a CPU: a step partly in bf16 can exceed 1)",
            )
            top = profile_top_ops(ours)
            gains = {v: step_variant_diagnostic(profile, device, v) for v in DIAGNOSTICS}
            for v, gain in gains.items():
                what = f"{DIAGNOSTICS[v]} on {device.type}, no data loading"
                used = ("CPUs with native bf16" if v in ("bf16_D", "channels_last")
                        else "CUDA only")  # fmt: skip
                why = f"diagnostic: DCGAN step time without/with {what} (course_lib: {used})"
                rec(f"speed.dcgan.diag_{v}_speedup", gain, "x", why)
            line += (
                f" One iteration is {flops / 1e9:.1f} GFLOP, run at {achieved / 1e9:.1f} "
                f"GFLOP/s = {100 * achieved / ceiling:.0f}% of the {ceiling / 1e9:.0f} GFLOP/s "
                f"{'fp32 ' if device.type == 'cpu' else ''}matmul ceiling. "
                "torch.profiler, self CPU time of our loop: "
                + ", ".join(f"{k} {100 * s:.0f}%" for k, s in top)
                + ". Diagnostic rows, step time without/with: "
                + ", ".join(f"{DIAGNOSTICS[v]} {g:.2f}x" for v, g in gains.items())
                + f". Our loop's precision here: bf16={ours.bf16!r}, channels_last="
                f"{ours.channels_last!r} (notebook 02's dcgan_train.fast_bf16 and "
                "fast_channels_last: D in bf16 and channels_last on a CPU with native bf16, "
                "fp32 and the default layout on other CPUs; bf16 on both networks stays off on "
                "CPUs: it costs FID, experiments/dcgan/README.md)."
            )
        notes.append(line)
        for loop in res["loops"].values():
            del loop
    notes.append(
        f"Machine load while measuring (1-min load average, {os.cpu_count()} cores): "
        f"{load_before} at the start, {_load_average()} at the end. Other processes on the "
        "machine slow both loops; the alternating repetitions keep the *ratios* comparable, "
        "absolute steps/s are only indicative when the load exceeds the core count."
    )
    if device.type != "cuda":
        notes.append(
            "No GPU in this run: the CUDA paths (bf16 autocast, fused Adam, channels_last, "
            "COURSE_COMPILE=1 for torch.compile) were not exercised; on CUDA the same command "
            "uses them."
        )
    records["_notes"] = "\n\n".join(notes)  # free text for RESULTS.md (see run.py)
    return records
