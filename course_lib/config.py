"""Profiles, budgets, device choice and seeding: the one place where run sizes live.

Every notebook starts with ``cfg = course_lib.config.setup("01_gan_minimax")``. That call
reads ``COURSE_PROFILE`` (``smoke`` | ``fast`` | ``full`` | ``auto``, default ``auto``) and
``COURSE_DEVICE`` (``cpu`` | ``cuda`` | ``mps`` | ``auto``), seeds every RNG, prints what it
chose, and returns a :class:`RunConfig` whose ``budget`` holds the notebook's training sizes
(the tables live in :mod:`course_lib.budgets`).

- ``smoke``: CI and nbval, each notebook in <= 60 s on 2 CPU cores (plumbing, not quality).
- ``fast``: each notebook in <= 5 min on 2 CPU cores, results visibly right.
- ``full``: budgets close to the papers'; the default when CUDA is available.
"""

from __future__ import annotations

import contextlib
import os
import platform
import random
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal

import numpy as np
import torch

from .budgets import BUDGETS

Profile = Literal["smoke", "fast", "full"]
PROFILES: tuple[str, ...] = ("smoke", "fast", "full")
PROFILE_CHOICES: tuple[str, ...] = PROFILES + ("auto",)
DEVICE_CHOICES: tuple[str, ...] = ("auto", "cpu", "cuda", "mps")
DEFAULT_SEED = 0

@dataclass(frozen=True)
class RunConfig:
    """What ``setup`` chose: profile, device, seed and this notebook's budget."""

    notebook: str
    profile: str
    device: torch.device
    seed: int
    budget: Mapping[str, Any] = field(default_factory=dict)

    def __str__(self) -> str:  # what the first cell of every notebook prints
        return f"profile={self.profile} device={self.device.type} seed={self.seed}"


def check_choice(what: str, value: Any, allowed: Iterable[Any], hint: str = "") -> Any:
    """Return ``value`` if it is one of ``allowed``; otherwise raise the course's one error:
    ``ValueError("Unknown <what> 'v'. Allowed values: a, b, c. <hint>")``.

    Every function that takes a named choice (dataset, method, schedule, profile, ...) checks
    it here, so a learner meets one message style everywhere.
    """
    allowed = tuple(allowed)
    if value not in allowed:
        names = ", ".join(str(a) for a in allowed)
        raise ValueError(f"Unknown {what} {value!r}. Allowed values: {names}." + (
            f" {hint}" if hint else ""))
    return value


def _from_env(what: str, value: str, allowed: tuple[str, ...], env: str) -> str:
    hint = f"Set {env} (or pass the argument), e.g. {env}={allowed[0]} make course"
    return check_choice(what, value.strip().lower(), allowed, hint)


def get_device(name: str | None = None) -> torch.device:
    """Pick the device: CUDA > MPS > CPU, overridable by ``COURSE_DEVICE`` or ``name``.

    Asking for a device that is not present is an error, not a silent fallback.
    """
    name = name if name is not None else os.environ.get("COURSE_DEVICE", "auto")
    name = _from_env("device", name, DEVICE_CHOICES, "COURSE_DEVICE")
    cuda = torch.cuda.is_available()
    mps = getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()
    if name == "auto":
        return torch.device("cuda" if cuda else "mps" if mps else "cpu")
    if name == "cuda" and not cuda:
        raise RuntimeError("COURSE_DEVICE=cuda but no CUDA GPU is visible; use cpu or auto.")
    if name == "mps" and not mps:
        raise RuntimeError("COURSE_DEVICE=mps but Apple MPS is not available; use cpu or auto.")
    return torch.device(name)


def get_profile(name: str | None = None, device: torch.device | None = None) -> str:
    """Resolve ``COURSE_PROFILE`` (or ``name``) to smoke/fast/full; ``auto`` = full on CUDA."""
    name = name if name is not None else os.environ.get("COURSE_PROFILE", "auto")
    name = _from_env("profile", name, PROFILE_CHOICES, "COURSE_PROFILE")
    if name == "auto":
        device = device if device is not None else get_device()
        return "full" if device.type == "cuda" else "fast"
    return name


def budget(notebook: str, profile: str | None = None) -> Mapping[str, Any]:
    """The training budget of ``notebook`` under ``profile`` (read-only mapping)."""
    check_choice("notebook", notebook, sorted(BUDGETS), "Budgets live in course_lib/budgets.py.")
    profile = get_profile(profile)
    return MappingProxyType(dict(BUDGETS[notebook][profile]))


def set_seed(seed: int = DEFAULT_SEED) -> torch.Generator:
    """Seed Python, NumPy and torch (all devices); return a torch.Generator with that seed."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # also seeds CUDA and MPS
    return torch.Generator().manual_seed(seed)


@contextlib.contextmanager
def seeded(seed: int) -> Iterator[torch.Generator]:
    """Run a block with torch's global RNG seeded by ``seed``, then restore the caller's RNG.

    For what only the global RNG can seed (``nn.Module`` initialisation, dropout, sampling
    inside a model): ``with seeded(seed): net = Net()`` gives the same weights for the same
    seed and leaves the caller's random stream untouched, so library functions never reseed
    the global RNG as a side effect. Yields a CPU ``torch.Generator`` with the same seed for
    the draws the block makes explicitly. Device RNGs (CUDA, MPS) are forked and restored too.
    """
    with contextlib.ExitStack() as stack:
        cuda = list(range(torch.cuda.device_count())) if torch.cuda.is_available() else []
        stack.enter_context(torch.random.fork_rng(devices=cuda))  # CPU and every CUDA device
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            stack.enter_context(torch.random.fork_rng(device_type="mps"))
        torch.manual_seed(seed)  # seeds CPU, CUDA and MPS
        yield torch.Generator().manual_seed(seed)


def versions() -> dict[str, str]:
    """Versions of the libraries the course depends on (printed by ``setup``)."""
    out = {"python": platform.python_version(), "torch": torch.__version__}
    for mod in ("torchvision", "diffusers", "numpy"):
        try:
            out[mod] = __import__(mod).__version__
        except ImportError:  # pragma: no cover - only in a broken environment
            out[mod] = "missing"
    return out


def setup(notebook: str, seed: int = DEFAULT_SEED, verbose: bool = True) -> RunConfig:
    """First call of every notebook: choose profile and device, seed, print them.

    Threads: on CPU torch uses every core it sees, which is what we want on a laptop.
    """
    device = get_device()
    profile = get_profile(device=device)
    set_seed(seed)
    cfg = RunConfig(notebook, profile, device, seed, budget(notebook, profile))
    if verbose:
        vers = " ".join(f"{k}={v}" for k, v in versions().items())
        threads = f"torch CPU threads={torch.get_num_threads()}" if device.type == "cpu" else ""
        print(f"{notebook}: {cfg} {threads}\n{vers}\nbudget: {dict(cfg.budget)}")
    return cfg
