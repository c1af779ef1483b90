"""A small training loop around step functions, plus atomic checkpoints and GPU helpers.

The loop knows nothing about GANs or VAEs: a notebook passes ``step_fn(step) -> dict of
scalar tensors`` (e.g. ``{"loss_D": ..., "loss_G": ...}``) and gets back a history dict of
lists. Scalars are accumulated on the device and read back every ``log_every`` steps, so a
GPU never waits for a ``.item()`` per step; non-finite values stop training with
:class:`TrainingDiverged` (the last checkpoint on disk is left untouched).

Checkpoints are written atomically: to a temporary file in the same folder, flushed and
fsynced, then renamed over the old one (``os.replace`` is atomic on POSIX and Windows), so a
crash mid-write never destroys the previous checkpoint.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import os
import tempfile
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

History = dict[str, list[float]]
StepFn = Callable[[int], Mapping[str, torch.Tensor | float]]


class TrainingDiverged(FloatingPointError):
    """A logged quantity became NaN or infinite."""


class CheckpointError(RuntimeError):
    """A checkpoint file is missing, truncated or not a course_lib checkpoint."""


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
    bar = tqdm(range(start_step, num_steps), desc=desc, disable=not progress, leave=False)
    for step in bar:
        out = step_fn(step)
        for key, value in out.items():
            value = value.detach() if isinstance(value, torch.Tensor) else value
            sums[key] = sums[key] + value if key in sums else value
        count += 1
        last = step == num_steps - 1
        if count == log_every or (last and count):
            means = {k: float(v) / count for k, v in sums.items()}  # one sync per log
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
            bar.set_postfix({k: f"{v:.3g}" for k, v in list(means.items())[:3]})
            sums, count = {}, 0
        if callback is not None and ((callback_every and (step + 1) % callback_every == 0) or last):
            callback(step + 1, history)
    return history


# ---------------------------------------------------------------------------------------
# Checkpoints
# ---------------------------------------------------------------------------------------
_MAGIC = "course_lib-checkpoint-v1"


def sha256_file(path: str | Path) -> str:
    """Hex SHA-256 of a file's bytes (the checksums shipped beside data/ weights)."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def save_checkpoint(
    path: str | Path,
    modules: Mapping[str, Any],
    step: int = 0,
    history: History | None = None,
    **extra: Any,
) -> Path:
    """Atomically write ``modules`` (name -> nn.Module or optimizer), step and history.

    Writes ``path.tmp-*`` in the same folder, fsyncs, then ``os.replace``s it over ``path``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "magic": _MAGIC,
        "step": step,
        "history": history or {},
        "state": {name: m.state_dict() for name, m in modules.items()},
        "extra": extra,
    }
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            torch.save(payload, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return path


def load_checkpoint(
    path: str | Path, modules: Mapping[str, Any] | None = None, map_location: Any = "cpu"
) -> dict[str, Any]:
    """Read a checkpoint written by :func:`save_checkpoint` and load it into ``modules``.

    Returns the payload (``step``, ``history``, ``extra``). A missing, truncated or foreign
    file raises :class:`CheckpointError` that says what to do; ``modules`` are only modified
    once every state dict has been read successfully.
    """
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"No checkpoint at {path}. Train first, or check the path.")
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:
        raise CheckpointError(
            f"Checkpoint {path} is corrupt or truncated ({type(err).__name__}: {err}). "
            "Delete it and retrain (or restore a backup); it was not loaded."
        ) from err
    if not isinstance(payload, dict) or payload.get("magic") != _MAGIC:
        raise CheckpointError(f"{path} is not a course_lib checkpoint; it was not loaded.")
    if modules:
        missing = sorted(set(modules) - set(payload["state"]))
        if missing:
            raise CheckpointError(
                f"Checkpoint {path} has no state for {missing}; it holds "
                f"{sorted(payload['state'])}."
            )
        for name, module in modules.items():
            module.load_state_dict(payload["state"][name])
    return payload


# ---------------------------------------------------------------------------------------
# Device helpers: the same code path on CPU and GPU, faster settings where they are safe.
# ---------------------------------------------------------------------------------------
def autocast(device: torch.device | str, enabled: bool = True) -> contextlib.AbstractContextManager:
    """bf16 autocast on CUDA (matmuls and convs in bf16, reductions in fp32); no-op elsewhere.

    bf16 keeps float32's exponent range, so no loss scaling is needed, unlike fp16.
    """
    device = torch.device(device)
    if enabled and device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def adam(
    params: Iterable[torch.nn.Parameter],
    lr: float,
    betas: tuple[float, float] = (0.9, 0.999),
    device: torch.device | str = "cpu",
    **kwargs: Any,
) -> torch.optim.Adam:
    """Adam with the fused CUDA kernel on GPU (one launch for all parameters)."""
    fused = torch.device(device).type == "cuda"
    return torch.optim.Adam(params, lr=lr, betas=betas, fused=fused or None, **kwargs)


def prepare(
    model: torch.nn.Module, device: torch.device | str, conv: bool = False, compile: bool = False
) -> torch.nn.Module:
    """Move ``model`` to ``device``; on CUDA use channels_last for conv nets and optionally
    ``torch.compile``. Returns the (possibly compiled) model; parameters are shared."""
    device = torch.device(device)
    model = model.to(device)
    if device.type == "cuda":
        if conv:
            model = model.to(memory_format=torch.channels_last)
        if compile:
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
