"""Independent training runs side by side on a small CPU (notebooks 03, 06 and 08).

On a 2-core laptop a small network trains only 1.3-1.6x faster on two torch threads than
on one, so two runs at once, one thread each, finish sooner than the same runs one after
the other (measured on a 2-core VM: two InfoGAN runs 19% sooner than one after the other on
two threads each; notebook 06's three RBMs 14% and their AIS runs 27% sooner than one
after the other on one thread). :func:`side_by_side` runs a function once per job in
Python threads (torch releases the GIL inside its kernels) under one intra-op thread.

A run's result is the same as that run alone on one thread, bit for bit, when it draws its
random numbers from its own ``torch.Generator`` and seeds torch's global RNG (network
initialisation in :func:`course_lib.config.seeded`) only while holding :data:`GLOBAL_RNG`:
the trainers that run here (``infogan.train_infogan``, ``rbm.train_rbm``) do both, and
``rbm_eval.evaluate_rbm`` draws only from its own generators; notebook 03 wraps its two MLP
GANs' initialisation in it. The toy GANs of notebooks 03 and 08 use it through
``toy_train.train_parallel``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from .train import cpu_threads, final_line_bars

T = TypeVar("T")

# Held around every block that seeds torch's global RNG in a function meant to run side by
# side: two threads inside ``seeded`` at once would interleave their draws (re-entrant, so
# a seeded block may call another).
GLOBAL_RNG = threading.RLock()


def side_by_side(
    fn: Callable[..., T], jobs: Mapping[str, Mapping[str, Any]], workers: int = 2,
    timed: bool = False,
) -> dict[str, Any]:  # fmt: skip
    """``fn(**jobs[label])`` for every label, ``workers`` at a time in threads with one torch
    CPU thread in all (the caller's setting is restored afterwards); returns label -> result
    in the order of ``jobs``, or label -> (result, seconds the job took) with ``timed``. A
    job's exception is raised here (the first in that order). Text progress bars
    (``COURSE_PROGRESS=text``) of the jobs write only their final line
    (:func:`course_lib.train.final_line_bars`), so they do not interleave.

    ``fn`` must not change torch's thread count (pass ``threads=None`` to the course's
    trainers) and must seed the global RNG only under :data:`GLOBAL_RNG`.
    """
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    if any("threads" in kw and kw["threads"] is not None for kw in jobs.values()):
        raise ValueError("side_by_side runs every job on one CPU thread: pass threads=None "
                         "(or leave it out), not a thread count")  # fmt: skip

    def run(kw: Mapping[str, Any]) -> Any:
        start = time.perf_counter()
        with final_line_bars():  # text bars of parallel runs would interleave
            result = fn(**kw)
        return (result, time.perf_counter() - start) if timed else result

    with cpu_threads(1), ThreadPoolExecutor(max_workers=workers) as pool:
        futures = {label: pool.submit(run, kw) for label, kw in jobs.items()}
        return {label: f.result() for label, f in futures.items()}
