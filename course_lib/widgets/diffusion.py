"""DDPM widgets (notebook 09): the forward process under two schedules, and a sampling
trajectory from noise to digits."""

from __future__ import annotations

import ipywidgets as W
import matplotlib.pyplot as plt
import torch

from ..viz import show_images
from .base import MAX_SEED, ControlsWidget


def render_timestep(x0: torch.Tensor, t: int, schedules: dict, seed: int = 0) -> dict[str, object]:
    """x_t ~ q(x_t | x_0) at timestep ``t`` under each schedule, with the same noise (nb 09).

    x0: (B, 1, H, W) in [-1, 1]; ``schedules`` maps a name to a ``course_lib.diffusion.
    Schedule`` (all with the same T); t in 0..T-1. Returns ``x_t`` {name: (B, 1, H, W)},
    ``snr`` {name: abar_t / (1 - abar_t) at t} and ``abar`` {name: abar_t}.
    """
    from ..diffusion import q_sample

    if not schedules:
        raise ValueError("schedules must name at least one schedule, e.g. {'linear': sched}")
    T = min(s.timesteps for s in schedules.values())
    if not isinstance(t, int) or not 0 <= t < T:
        raise ValueError(f"t must be an integer in 0..{T - 1}, got {t!r}")
    x0 = x0.detach().float().cpu()
    noise = torch.randn(x0.shape, generator=torch.Generator().manual_seed(seed))
    out = {"x_t": {}, "snr": {}, "abar": {}}
    for name, s in schedules.items():
        out["x_t"][name] = q_sample(x0, t, s, noise)
        out["snr"][name] = float(s.snr()[t])
        out["abar"][name] = float(s.alphas_cumprod[t])
    return out


class TimestepWidget(ControlsWidget):
    """A timestep slider over x_t of a few digits under each schedule, beside the SNR curves
    (notebook 09). Set ``.t.value`` (or ``.seed.value``) from code; ``.result`` holds the
    last render."""

    def __init__(self, x0: torch.Tensor, schedules: dict, t: int = 250):
        self.x0, self.schedules = x0, schedules
        T = min(s.timesteps for s in schedules.values())
        self.t = W.IntSlider(value=t, min=0, max=T - 1, step=1, description="t")
        self.seed = W.BoundedIntText(value=0, min=0, max=MAX_SEED, description="noise seed")
        self._wire((self.t, self.seed), [W.HBox([self.t, self.seed])])

    def render(self) -> dict[str, object]:
        t = self.t.value
        self.result = render_timestep(self.x0, t, self.schedules, self.seed.value)
        n = len(self.schedules)
        with self.output:
            self.output.clear_output(wait=True)
            fig = plt.figure(figsize=(10, 1.7 * n + 0.6))
            grid = fig.add_gridspec(n, 2, width_ratios=(2.2, 1))
            for i, (name, x_t) in enumerate(self.result["x_t"].items()):
                snr = self.result["snr"][name]
                show_images(x_t, nrow=len(x_t), ax=fig.add_subplot(grid[i, 0]),
                            title=f"{name}: x_t at t = {t}, SNR = {snr:.3g}")  # fmt: skip
            ax = fig.add_subplot(grid[:, 1])
            for name, s in self.schedules.items():
                ax.semilogy(s.snr().numpy(), label=name)
            ax.axvline(t, color="k", ls="--", lw=1)
            ax.set(xlabel="t", ylabel="SNR = abar / (1 - abar)", title="signal-to-noise ratio")
            ax.legend()
            fig.tight_layout()
            plt.show()
        return self.result


def render_trajectory(trajectories: dict, index: int) -> dict[str, object]:
    """Frame ``index`` of each sampler's trajectory (notebook 09).

    ``trajectories`` maps a sampler name to a list of (t, x_t) pairs as returned by
    ``course_lib.diffusion_samplers.ddpm_sample(keep=...)`` / ``ddim_sample(keep=True)``, all of the
    same length. Returns ``frames`` {name: (t, x_t)}.
    """
    lengths = {len(v) for v in trajectories.values()}
    if not trajectories or len(lengths) != 1:
        raise ValueError("trajectories must be non-empty lists of the same length")
    n = lengths.pop()
    if not isinstance(index, int) or not 0 <= index < n:
        raise ValueError(f"index must be an integer in 0..{n - 1}, got {index!r}")
    return {"frames": {name: traj[index] for name, traj in trajectories.items()}}


class TrajectoryWidget(ControlsWidget):
    """A slider over the steps of the reverse process, from noise to digits (notebook 09).
    Set ``.step.value`` from code; ``.result`` holds the last render."""

    def __init__(self, trajectories: dict, step: int = 0):
        self.trajectories = trajectories
        n = len(next(iter(trajectories.values())))
        self.step = W.IntSlider(value=step, min=0, max=n - 1, description="frame")
        self._wire((self.step,), [self.step])

    def render(self) -> dict[str, object]:
        self.result = render_trajectory(self.trajectories, self.step.value)
        frames = self.result["frames"]
        with self.output:
            self.output.clear_output(wait=True)
            fig, axes = plt.subplots(len(frames), 1, figsize=(9, 1.5 * len(frames)), squeeze=False)
            for ax, (name, (t, x)) in zip(axes[:, 0], frames.items()):
                show_images(x.clamp(-1, 1), nrow=len(x), ax=ax, title=f"{name}: x_t at t = {t}")
            fig.tight_layout()
            plt.show()
        return self.result
