"""Notebook 02's DCGAN trained for longer, and shipped.

Notebook 02 trains its DCGAN for ``BUDGETS["02_dcgan"]["fast"]["num_steps"]`` steps, enough
for digits to take shape. This module trains the *same* networks with the *same* recipe
(``course_lib.dcgan`` nets, ``course_lib.gan.train_gan``: one D step per G step, the
non-saturating loss, Adam 2e-4 with betas (0.5, 0.999), batch 64, Gaussian z of size 100)
for many more steps and ships the generator as an artefact folder (``course_lib.io``):
``model.safetensors`` (G's weights and BatchNorm statistics), ``config.json`` (latent size
and width) and ``MANIFEST.json`` (checksums and provenance: the command, steps, seed, wall
time, device, threads, and G's loss curve). Notebook 02 loads it beside its own run to show
what longer training buys.

Command line::

    python -m course_lib.dcgan_train train --out data/dcgan_mnist5k --steps 10000 --threads 2
    python -m course_lib.dcgan_train check data/dcgan_mnist5k
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from pathlib import Path

import torch

from . import io, shipped
from .config import seeded
from .dcgan import DCGANDiscriminator, DCGANGenerator
from .gan import train_gan

DEFAULT_CHECKPOINT = Path(__file__).resolve().parent.parent / "data" / "dcgan_mnist5k"
REBUILD = ("python -m course_lib.dcgan_train train --out data/dcgan_mnist5k --steps 10000 "
           "--threads 2")
LATENT_DIM = 100


def train_dcgan(
    data: torch.Tensor, num_steps: int, *, channels: int = 32, batch_size: int = 64,
    seed: int = 0, device: torch.device | str | None = None, threads: int | None = None,
    progress: bool = True,
) -> tuple[tuple[DCGANGenerator, DCGANDiscriminator], dict]:  # fmt: skip
    """Notebook 02's DCGAN recipe for ``num_steps`` generator steps on ``data`` (digits in
    [-1, 1]); the same calls as the notebook and ``benchmarks/bench_dcgan.py``. Returns
    ((net_G in eval mode, net_D), history)."""
    if num_steps < 1:
        raise ValueError(f"num_steps must be >= 1, got {num_steps}")
    with seeded(seed) as g:  # the nets' initialisation; g: batch order and latents
        net_G = DCGANGenerator(LATENT_DIM, channels)
        net_D = DCGANDiscriminator(channels)
    (net_G, net_D), history = train_gan(
        data, num_steps, net_G=net_G, net_D=net_D, latent_dim=LATENT_DIM,
        latent_kind="gaussian", batch_size=batch_size, lr=2e-4, betas=(0.5, 0.999),
        generator=g, device=device, log_every=50, desc="DCGAN", threads=threads,
        progress=progress,
    )  # fmt: skip
    return (net_G.eval(), net_D), history


def save_pretrained(folder: str | Path, net_G: DCGANGenerator, channels: int,
                    provenance: dict) -> Path:  # fmt: skip
    """Write G (weights and BatchNorm statistics) as an artefact folder, atomically."""
    config = {"latent_dim": LATENT_DIM, "channels": int(channels)}
    return io.save_weights(folder, io.unwrap(net_G).state_dict(), config, provenance)


def load_pretrained(
    folder: str | Path = DEFAULT_CHECKPOINT, device: torch.device | str = "cpu"
) -> tuple[DCGANGenerator, dict]:
    """The shipped generator (eval mode, on ``device``) and info {"config", "provenance",
    "files"}, after checking every file against MANIFEST.json. A missing, altered or
    truncated file raises :class:`course_lib.io.CheckpointError` naming the command that
    rebuilds it."""
    state, config, manifest = io.load_weights(folder, REBUILD, device)
    try:
        net_G = shipped.quiet_build(
            lambda: DCGANGenerator(int(config["latent_dim"]), int(config["channels"])))
        net_G.load_state_dict(state)
    except (KeyError, TypeError, ValueError, RuntimeError) as err:
        raise io.CheckpointError(f"{Path(folder).name} does not hold a notebook-02 DCGAN "
                                 f"generator ({err}). Rebuild it with `{REBUILD}`.") from err
    return net_G.to(device).eval(), {"config": config, **manifest}


def describe(info: dict) -> str:
    """One line of provenance, e.g. "10000 steps of batch 64, 21 min on cpu (2 threads)"."""
    p = info["provenance"]
    minutes = (p.get("wall_time_s") or 0) / 60
    return (f"{p['steps']} steps of batch {p.get('batch_size', '?')}, {minutes:.0f} min on "
            f"{p.get('device', '?')} ({p.get('threads', '?')} threads)")  # fmt: skip


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m course_lib.dcgan_train",
                                     description=__doc__.split("\n\n")[0])  # fmt: skip
    sub = parser.add_subparsers(dest="command", required=True)
    tr = sub.add_parser("train", help="train notebook 02's DCGAN on mnist5k and ship G")
    tr.add_argument("--out", default=str(DEFAULT_CHECKPOINT), help="artefact folder")
    tr.add_argument("--steps", type=int, default=10000)
    tr.add_argument("--channels", type=int, default=32)
    tr.add_argument("--batch-size", type=int, default=64)
    tr.add_argument("--seed", type=int, default=0)
    tr.add_argument("--device", default="auto", help="cpu | cuda | mps | auto")
    tr.add_argument("--threads", type=int, default=None, help="CPU threads")
    ck = sub.add_parser("check", help="verify an artefact's checksums and load it")
    ck.add_argument("path", nargs="?", default=str(DEFAULT_CHECKPOINT))
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = _parser().parse_args(argv)
    if args.command == "check":
        net_G, info = load_pretrained(args.path)
        n = sum(p.numel() for p in net_G.parameters())
        print(f"OK {Path(args.path).name}: {describe(info)}, {n} parameters")
        return 0
    from .config import get_device
    from .data import load_images

    device = get_device(args.device)
    X, _ = load_images("mnist5k", "train")
    start = time.perf_counter()
    (net_G, _), history = train_dcgan(
        X, args.steps, channels=args.channels, batch_size=args.batch_size, seed=args.seed,
        device=device, threads=args.threads,
    )  # fmt: skip
    seconds = time.perf_counter() - start
    command = shlex.join(["python", "-m", "course_lib.dcgan_train", *argv])
    prov = io.provenance(
        command, steps=args.steps, seed=args.seed, wall_time_s=seconds, device=device.type,
        threads=args.threads or torch.get_num_threads(), batch_size=args.batch_size,
        channels=args.channels, history={k: history[k] for k in ("step", "loss_G", "loss_D")
                                         if k in history},
    )  # fmt: skip
    save_pretrained(args.out, net_G, args.channels, prov)
    print(f"saved {args.out} ({seconds:.0f} s on {device.type})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
