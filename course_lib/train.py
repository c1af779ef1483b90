"""The training core every family shares: a small loop around step functions, and the
settings that make the same code fast on a GPU (the "GPU-accelerated training cores").

The loop knows nothing about GANs or VAEs: a trainer passes ``step_fn(step) -> dict of
scalar tensors`` (e.g. ``{"loss_D": ..., "loss_G": ...}``) and gets back a history dict of
lists. Scalars are accumulated on the device and read back once every ``log_every`` steps
(one host sync for all keys), so a GPU never waits for a ``.item()`` per step; non-finite
values stop training with :class:`TrainingDiverged` (checkpoints on disk are untouched).

Device settings, one helper each, used by every ``train_*``: :func:`autocast` (bf16 where
safe), :func:`adam` (fused on CUDA), :func:`prepare` (``channels_last`` for conv nets on
CUDA, optional ``torch.compile``), :func:`cpu_threads`, :func:`ema_update`,
:func:`linear_decay`. Checkpoints and shipped weights live in :mod:`course_lib.io`.
"""

from __future__ import annotations

import contextlib
import functools
import math
import os
import re
import sys
import threading
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm as _auto_tqdm
from tqdm.std import tqdm as _text_tqdm

from .config import check_choice

History = dict[str, list[float]]
PROGRESS_MODES: tuple[str, ...] = ("auto", "text", "off")
_BARS = threading.local()  # per thread: do text bars write only their final line?


class _FinalLineTqdm(_text_tqdm):
    """A text bar that stays silent while it runs and writes one line, its final state,
    when it closes: the bars of runs trained side by side in threads
    (:func:`course_lib.parallel.side_by_side`) would otherwise interleave their updates in
    one output."""

    _closing = False

    def display(self, msg=None, pos=None):
        return super().display(msg, pos) if self._closing else True

    def close(self):
        self._closing = True
        super().close()


@contextlib.contextmanager
def final_line_bars():
    """Inside this block, text-mode progress bars (``COURSE_PROGRESS=text``) of the
    calling thread write only their final line (100%, time, last values)."""
    before = getattr(_BARS, "final_only", False)
    _BARS.final_only = True
    try:
        yield
    finally:
        _BARS.final_only = before



def progress_bar(iterable: Iterable, desc: str = "", total: int | None = None,
             disable: bool = False):  # fmt: skip
    """The course's progress bar around ``iterable`` (training loops, samplers).

    ``COURSE_PROGRESS`` chooses it: ``auto`` (default) is tqdm.auto, a live widget bar in
    Jupyter that disappears when done; ``text`` is a plain text bar that stays in its final
    state (100%, time, last losses), updated every 10 s: headless runs
    (``tools/run_notebooks.py``) use it so that executed notebooks, the site and printed
    handouts show finished bars, not widgets frozen at 0%; ``off`` shows nothing. Inside
    :func:`final_line_bars` (runs side by side in threads) a text bar writes only its final
    line.
    """
    mode = check_choice("progress mode (COURSE_PROGRESS)",
                        os.environ.get("COURSE_PROGRESS", "auto").strip().lower(),
                        PROGRESS_MODES)  # fmt: skip
    if mode == "text":
        bar = _FinalLineTqdm if getattr(_BARS, "final_only", False) else _text_tqdm
        return bar(iterable, desc=desc, total=total, disable=disable, leave=True,
                   mininterval=10.0, file=sys.stdout, ascii=True)  # fmt: skip
    return _auto_tqdm(iterable, desc=desc, total=total, disable=disable or mode == "off",
                      leave=False)  # fmt: skip
StepFn = Callable[[int], Mapping[str, torch.Tensor | float]]


class TrainingDiverged(FloatingPointError):
    """A logged quantity became NaN or infinite."""


def train_loop(
    step_fn: StepFn,
    num_steps: int,
    *,
    start_step: int = 0,
    history: History | None = None,
    log_every: int = 25,
    callback: Callable[[int, History], None] | None = None,
    callback_every: int = 0,
    desc: str = "training",
    progress: bool = True,
) -> History:
    """Run ``step_fn(step)`` for steps ``start_step .. num_steps - 1``; return the history.

    history["step"] holds the logged step numbers and history[key] the mean of each value
    returned by ``step_fn`` over the last ``log_every`` steps. ``callback(step, history)``
    runs every ``callback_every`` steps and after the last one (snapshots, checkpoints).
    Passing a previous ``history`` and ``start_step`` resumes a run.
    """
    if num_steps < start_step:
        raise ValueError(f"num_steps ({num_steps}) must be >= start_step ({start_step})")
    if log_every < 1:
        raise ValueError(f"log_every must be >= 1, got {log_every}")
    history = history if history is not None else {"step": []}
    history.setdefault("step", [])
    sums: dict[str, torch.Tensor | float] = {}
    count = 0
    bar = progress_bar(range(start_step, num_steps), desc=desc, disable=not progress)
    for step in bar:
        out = step_fn(step)
        for key, value in out.items():
            value = value.detach() if isinstance(value, torch.Tensor) else value
            sums[key] = sums[key] + value if key in sums else value
        count += 1
        last = step == num_steps - 1
        if count == log_every or (last and count):
            means = _means(sums, count)  # one host sync for every key
            bad = [k for k, v in means.items() if not math.isfinite(v)]
            if bad:
                raise TrainingDiverged(
                    f"{', '.join(bad)} became {means[bad[0]]} by step {step}. Training stopped; "
                    "checkpoints already on disk are untouched. Try a lower learning rate, "
                    "check the inputs for NaN, or reload the last checkpoint."
                )
            history["step"].append(step + 1)
            for k, v in means.items():
                history.setdefault(k, []).append(v)
            bar.set_postfix({k: f"{v:.3g}" for k, v in list(means.items())[:3]}, refresh=False)
            sums, count = {}, 0
        if callback is not None and ((callback_every and (step + 1) % callback_every == 0) or last):
            callback(step + 1, history)
    return history


def _means(sums: Mapping[str, torch.Tensor | float], count: int) -> dict[str, float]:
    """{key: sum / count} as Python floats, read back from the device in one copy (float64
    where the device has it; MPS has no float64, so its sums are stacked in float32)."""
    if not sums:
        return {}
    on = [v.device for v in sums.values() if isinstance(v, torch.Tensor)]
    device = next((d for d in on if d.type != "cpu"), torch.device("cpu"))
    dtype = torch.float32 if device.type == "mps" else torch.float64
    stacked = torch.stack([torch.as_tensor(v).reshape(()).to(device, dtype) for v in sums.values()])
    return dict(zip(sums, (stacked.cpu().double() / count).tolist()))


# ---------------------------------------------------------------------------------------
# Device helpers: the same code path on CPU and GPU, faster settings where they are safe.
# ---------------------------------------------------------------------------------------
def autocast(
    device: torch.device | str, enabled: bool | None = None
) -> contextlib.AbstractContextManager:
    """bf16 autocast: matmuls and convolutions in bfloat16, reductions and losses in fp32.

    ``enabled=None`` (the default) turns it on for CUDA only; ``True`` also uses it on a CPU
    (faster on CPUs with bf16 units; measure first, as benchmarks/bench_speed.py does);
    ``False`` is plain fp32. bf16 keeps float32's exponent range, so unlike fp16 it needs no
    loss scaling. MPS and other devices run fp32.
    """
    device = torch.device(device)
    on = device.type == "cuda" if enabled is None else enabled and device.type in ("cuda", "cpu")
    if on:
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


@functools.cache
def cpu_native_bf16() -> bool:
    """True when this CPU computes bf16 in hardware (x86 AVX512-BF16 or AMX, as Linux
    reports them in /proc/cpuinfo) and PyTorch's oneDNN bf16 kernels are available.
    Elsewhere bf16 autocast is emulated and can be many times slower than fp32 (measured 17x
    on an AVX2 CPU: ``speed.dcgan.diag_bf16_speedup``)."""
    try:
        cpuinfo = Path("/proc/cpuinfo").read_text(errors="replace")
    except OSError:  # not Linux: no bf16 fast path on the CPU
        return False
    return has_bf16_units(cpuinfo) and bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())


def has_bf16_units(cpuinfo: str) -> bool:
    """Whether a /proc/cpuinfo text lists x86 bf16 instructions (avx512_bf16 or amx_bf16)."""
    return re.search(r"\b(avx512_bf16|amx_bf16)\b", cpuinfo) is not None


def adam(
    params: Iterable[torch.nn.Parameter],
    lr: float,
    betas: tuple[float, float] = (0.9, 0.999),
    device: torch.device | str | None = None,
    **kwargs: Any,
) -> torch.optim.Adam:
    """Adam with the fused CUDA kernel on GPU (one launch for all parameters) and the
    multi-tensor ("foreach") path elsewhere: the same arithmetic as PyTorch's per-tensor CPU
    default, bit for bit (tested), in a few calls per step instead of several per parameter
    (measured: a toy GAN of notebook 03 trained 14% faster). ``device`` defaults to the
    parameters' device (every ``train_*`` of the course uses this)."""
    params = list(params)
    if device is None:
        first = params[0]["params"][0] if params and isinstance(params[0], dict) else (
            params[0] if params else None)  # fmt: skip
        device = first.device if first is not None else "cpu"
    fused = torch.device(device).type == "cuda"
    kwargs.setdefault("foreach", None if fused else True)
    return torch.optim.Adam(params, lr=lr, betas=betas, fused=fused or None, **kwargs)


def prepare(
    model: torch.nn.Module, device: torch.device | str, conv: bool = False, compile: bool = False,
    channels_last: bool | None = None,
) -> torch.nn.Module:  # fmt: skip
    """Move ``model`` to ``device``; for conv nets (``conv``) use the channels_last memory
    format on CUDA (``channels_last=None``), on any device (True) or never (False); on CUDA
    optionally ``torch.compile``. Returns the (possibly compiled) model; parameters are
    shared. (On a CPU channels_last changes the convolution kernels and so the rounding: a
    recipe that uses it there is screened for quality first, notebook 02.)"""
    check_choice("channels_last", channels_last, (None, True, False))
    device = torch.device(device)
    model = model.to(device)
    if conv and (channels_last or (channels_last is None and device.type == "cuda")):
        model = model.to(memory_format=torch.channels_last)
    if device.type == "cuda" and compile:
        model = torch.compile(model)
    return model


@contextlib.contextmanager
def cpu_threads(n: int | None):
    """Run the block with ``n`` intra-op CPU threads (``None``: leave the setting alone).

    Tiny models (the 1-D and 2-D toys) gain nothing from several threads, and on a busy
    machine their spin-waiting costs a lot: we measured a 1-D GAN run 14x slower with 2
    threads than with 1 while another process used the CPU.
    """
    before = torch.get_num_threads()
    if n is not None:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def count_parameters(model: torch.nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def to_device(x: torch.Tensor, device: torch.device | str) -> torch.Tensor:
    """Move a CPU tensor (e.g. noise drawn from a seeded CPU generator) to ``device``
    without making the host wait for the GPU.

    A plain ``x.to("cuda")`` from pageable memory blocks until every kernel already queued
    on the GPU has run: once per training step, that is a host sync per step. On CUDA the
    tensor is pinned first and copied with ``non_blocking=True``; elsewhere it is a plain
    ``.to``. Used in every per-step path of the course (latents, noise, indices, batches).
    """
    device = torch.device(device)
    if device.type == "cuda" and x.device.type == "cpu":
        return x.pin_memory().to(device, non_blocking=True)
    return x.to(device)


def infer_device(obj: Any) -> torch.device:
    """The device of a module, of a bound method of a module (``vae.decode_images``), or of a
    tensor; CPU for anything else (a plain function). Samplers and widgets use it so that
    they feed a model on its own device."""
    if isinstance(obj, torch.Tensor):
        return obj.device
    module = getattr(obj, "__self__", obj)
    return model_device(module) if isinstance(module, torch.nn.Module) else torch.device("cpu")


@contextlib.contextmanager
def eval_mode(*nets: torch.nn.Module):
    """Run a block with ``nets`` in eval mode (BatchNorm uses its running statistics, dropout
    is off), then give each net back the mode it had. Every sampler of the course uses it."""
    before = [net.training for net in nets]
    for net in nets:
        net.eval()
    try:
        yield nets[0] if len(nets) == 1 else nets
    finally:
        for net, mode in zip(nets, before):
            net.train(mode)


def model_device(model: torch.nn.Module) -> torch.device:
    """The device of a model's first parameter (or buffer): where its inputs must live.

    Samplers and trainers call this instead of taking a ``device`` argument, so a model on
    a GPU is always fed GPU tensors (CPU if the model has no tensors at all).
    """
    for t in (*model.parameters(), *model.buffers()):
        return t.device
    return torch.device("cpu")


@torch.no_grad()
def ema_update(ema: torch.nn.Module, model: torch.nn.Module, decay: float) -> None:
    """ema <- decay * ema + (1 - decay) * model, parameter by parameter (buffers copied).

    The exponential moving average of the weights (Polyak averaging; Yazici et al. 2019 for
    GANs, Ho et al. 2020 appendix B for diffusion) samples better than the raw weights.
    """
    if not 0.0 <= decay <= 1.0:
        raise ValueError(f"decay must be in [0, 1], got {decay}")
    for pe, pm in zip(ema.parameters(), model.parameters()):
        pe.lerp_(pm, 1 - decay)
    for be, bm in zip(ema.buffers(), model.buffers()):
        be.copy_(bm)


def linear_decay(trainers: Iterable[torch.optim.Optimizer], num_steps: int) -> list:
    """LambdaLR schedulers that take every learning rate linearly to 0 over ``num_steps``;
    call ``.step()`` on each after every optimiser step."""
    decay = lambda step: max(0.0, 1 - step / num_steps)  # noqa: E731
    return [torch.optim.lr_scheduler.LambdaLR(t, decay) for t in trainers]
