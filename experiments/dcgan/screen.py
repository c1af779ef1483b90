"""Screen DCGAN recipes for notebook 02 on the selection seeds (issue 19, item 1).

Every variant trains notebook 02's networks (channels 32, batch 64, Adam betas (0.5, 0.999),
non-saturating loss) for the same number of G steps on the same seed, and is scored in the
one protocol (course_lib.metrics.score_images, 500 samples vs the 500 test digits) at
several checkpoints, four ways: the raw G and an EMA of G's weights, each with BatchNorm in
eval mode (running statistics, what the notebook does) and in train mode (batch statistics
of the 500 samples), with D's over-fitting signal (training vs held-out digits it calls
real). Output: one JSON line per (variant, seed, step) on stdout.

    python experiments/dcgan/screen.py --variants base,da_t --seeds 0 --steps 3000 --decay 0.995
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import time

import augment  # this folder: DiffAugment, measured here before any notebook adopts it
import torch
from torch import nn

from course_lib import dcgan, gan, metrics
from course_lib.data import load_images
from course_lib.noise import sample_latent
from course_lib.train import adam, ema_update

VARIANTS = {
    "base": {},
    "da_t": {"policy": ("translation",)},
    "da_tc": {"policy": ("translation", "cutout")},
    "da_tc4": {"policy": ("translation", "cutout"), "cutout_ratio": 0.25},
    "da_tb": {"policy": ("translation", "brightness", "contrast")},
    "lr5": {"lr": 5e-4},
    "lr10": {"lr": 1e-3},
    "lr20": {"lr": 2e-3},
    "lr5_b128": {"lr": 5e-4, "batch": 128},
    "lr10_b128": {"lr": 1e-3, "batch": 128},
    "lr20_b128": {"lr": 2e-3, "batch": 128},
    "ttur": {"lr_D": 4e-4, "lr_G": 1e-4},  # Heusel et al. 2017: D faster than G
    "ttur_sn": {"lr_D": 4e-4, "lr_G": 1e-4, "sn": True},
    "b128": {"batch": 128},
    "ch48": {"channels": 48},
    "sn": {"sn": True},
    "bf16": {"bf16": True},
    "lr20_ln": {"lr": 2e-3, "d_norm": "layer"},  # D normalises each sample (GroupNorm(1, C))
    "lr20_bf16": {"lr": 2e-3, "bf16": True},  # notebook 02's recipe under bf16 autocast
    # bf16 autocast on one network only, or on both with BatchNorm computed in fp32
    "lr20_bf16G": {"lr": 2e-3, "bf16_nets": "G"},
    "lr20_bf16D": {"lr": 2e-3, "bf16_nets": "D"},
    # D in bf16 as notebook 02 on a CPU with native bf16, both networks in channels_last (NHWC)
    "lr20_bf16D_cl": {"lr": 2e-3, "bf16_nets": "D", "channels_last": True},
    # the shipped long run (issue 19 item 2): two D steps per G step, or a G twice as wide
    "lr20_bf16D_cl_d2": {"lr": 2e-3, "bf16_nets": "D", "channels_last": True, "d_steps": 2},
    "lr20_bf16D_cl_g64": {"lr": 2e-3, "bf16_nets": "D", "channels_last": True,
                          "g_channels": 64},
    "lr20_bf16bn": {"lr": 2e-3, "bf16_nets": "GD", "bn_fp32": True},
    "da_t_bf16": {"policy": ("translation",), "bf16": True},
    # the shipped model's length: the rate decays linearly to 0 over the last half of the run
    "lr20_lin": {"lr": 2e-3, "decay_start": 0.5},
}


AUTOCAST = {"on": True}  # off while scoring: samples are drawn in fp32 unless asked


def autocast_forward(net: nn.Module, bn_fp32: bool = False) -> nn.Module:
    """Run ``net``'s forward under CPU bf16 autocast (one network of the pair only); with
    ``bn_fp32`` its BatchNorm layers normalise fp32 copies of their inputs."""
    forward = net.forward

    def wrapped(*args, **kwargs):
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=AUTOCAST["on"]):
            return forward(*args, **kwargs).float()  # the other network may run in fp32

    net.forward = wrapped
    if bn_fp32:
        for m in net.modules():
            if isinstance(m, nn.BatchNorm2d):
                bn = m.forward
                m.forward = lambda x, bn=bn: bn(x.float())
    return net


def spectral(net: nn.Module) -> nn.Module:
    """Spectral norm on every conv of D, BatchNorm removed (Miyato et al. 2018)."""
    for i, m in enumerate(net.net):
        if isinstance(m, nn.Conv2d):
            net.net[i] = nn.utils.parametrizations.spectral_norm(m)
        elif isinstance(m, nn.BatchNorm2d):
            net.net[i] = nn.Identity()
    return net


@torch.no_grad()
def d_gap(net_D: nn.Module, X: torch.Tensor, X_test: torch.Tensor) -> dict[str, float]:
    """D's over-fitting signal: the fraction of training and of held-out test digits that D
    calls real (logit > 0), and the mean sign of its logits on training digits (Karras et
    al. 2020's r_t: near 1 when D has memorised the training set)."""
    was = net_D.training
    net_D.eval()
    train, test = net_D(X[:500]), net_D(X_test)
    net_D.train(was)
    return {"train_real": float((train > 0).float().mean()),
            "test_real": float((test > 0).float().mean()),
            "r_t": float(train.sign().mean())}  # fmt: skip


@torch.no_grad()
def scores(G: nn.Module, Z: torch.Tensor, bf16: bool = False) -> dict[str, float]:
    """Scores of G's samples with BatchNorm in eval and in train mode (fp32), and with
    ``bf16`` also in eval mode under bf16 autocast (the precision it was trained in)."""
    out = {}
    AUTOCAST["on"] = False
    for mode in ("eval", "train"):
        G.train(mode == "train")
        out[mode] = metrics.score_images(G(Z).float())
    AUTOCAST["on"] = True
    if bf16:
        G.eval()
        with torch.autocast("cpu", dtype=torch.bfloat16):
            images = G(Z).float()
        out["eval_bf16"] = metrics.score_images(images)  # the classifier in fp32
    G.train()
    return out


def run(name: str, seed: int, steps: int, checkpoints: list[int], decay: float) -> None:
    v = VARIANTS[name]
    X, _ = load_images("mnist5k", "train")
    X_test, _ = load_images("mnist5k", "test")
    torch.manual_seed(seed)
    ch = v.get("channels", 32)
    net_G = dcgan.DCGANGenerator(100, v.get("g_channels", ch))
    net_D = dcgan.DCGANDiscriminator(ch, norm=v.get("d_norm", "batch"))
    if v.get("sn"):
        net_D = spectral(net_D)
    if "policy" in v:
        net_D = augment.DiffAugment(net_D, v["policy"], cutout_ratio=v.get("cutout_ratio", 0.5),
                                    generator=torch.Generator().manual_seed(1000 + seed))
    ema = copy.deepcopy(net_G)
    bf16 = v.get("bf16", False) or bool(v.get("bf16_nets"))
    for key, net in (("G", net_G), ("D", net_D)):
        if key in v.get("bf16_nets", ""):
            autocast_forward(net, v.get("bn_fp32", False))
    if v.get("channels_last"):
        for net in (net_G, net_D, ema):
            net.to(memory_format=torch.channels_last)
    Z = sample_latent(500, 100, "gaussian", torch.Generator().manual_seed(2), "cpu")
    t0 = time.perf_counter()
    timing = {"train": 0.0}

    def callback(step, history):
        ema_update(ema, net_G, decay)
        if "decay_start" in v:  # linear decay of both rates to 0 over the end of the run
            start = int(v["decay_start"] * steps)
            for opt in trainers:
                for group in opt.param_groups:
                    group["lr"] = v["lr"] * min(1.0, (steps - step) / (steps - start))
        if step in checkpoints:
            timing["train"] = time.perf_counter() - t0 - timing.get("score", 0.0)
            s0 = time.perf_counter()
            rec = {"variant": name, "seed": seed, "step": step,
                   "train_s": round(timing["train"], 1),
                   "raw": scores(net_G, Z, bf16), "ema": scores(ema, Z),
                   "D": d_gap(net_D, X, X_test)}  # fmt: skip
            timing["score"] = timing.get("score", 0.0) + time.perf_counter() - s0
            print(json.dumps(rec), flush=True)

    trainers = None  # train_gan builds Adam at v["lr"] unless the variant sets the rates
    if "decay_start" in v or "lr_D" in v:  # decayed rates, or TTUR's separate rates for D and G
        trainers = (adam(net_D.parameters(), v.get("lr_D", v.get("lr")), (0.5, 0.999)),
                    adam(net_G.parameters(), v.get("lr_G", v.get("lr")), (0.5, 0.999)))  # fmt: skip
    gan.train_gan(
        X, steps, net_G=net_G, net_D=net_D, latent_dim=100, latent_kind="gaussian",
        trainers=trainers,
        batch_size=v.get("batch", 64), lr=v.get("lr", 2e-4), betas=(0.5, 0.999),
        d_steps=v.get("d_steps", 1),
        generator=torch.Generator().manual_seed(seed), device="cpu", bf16=v.get("bf16", False),
        callback=callback, callback_every=1, log_every=50, progress=False, threads=1,
    )  # fmt: skip


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--variants", default="base")
    p.add_argument("--seeds", default="0")
    p.add_argument("--steps", type=int, default=3000)
    p.add_argument("--checkpoints", default="1000,2000,3000",
                   help="G steps at which to score (and record D's train/test gap)")
    p.add_argument("--decay", type=float, default=0.999)
    a = p.parse_args()
    cps = [int(c) for c in a.checkpoints.split(",")]
    for seed in [int(s) for s in a.seeds.split(",")]:
        for name in a.variants.split(","):
            run(name, seed, a.steps, cps, a.decay)
    return 0


if __name__ == "__main__":
    sys.exit(main())
