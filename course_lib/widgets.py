"""Interactive widgets: each one is a pure render function (tested in pytest) wired to
ipywidgets controls. A notebook shows the widget, then sets a control's ``value`` in the next
cell, which runs the same callback a slider drag would (so nbval exercises it headless).
"""

from __future__ import annotations

from collections.abc import Callable

import ipywidgets as W
import matplotlib.pyplot as plt
import torch
from IPython.display import display

from .noise import LATENT_KINDS, interpolate, lerp, sample_latent, slerp
from .viz import show_images

MAX_SEED = 2**31 - 1


def latent_pair(
    seed_a: int, seed_b: int, latent_dim: int, kind: str = "gaussian"
) -> tuple[torch.Tensor, torch.Tensor]:
    """The two endpoint latents (each (latent_dim,)) drawn from seeds ``seed_a``, ``seed_b``."""
    for name, s in (("seed_a", seed_a), ("seed_b", seed_b)):
        if not isinstance(s, int) or not 0 <= s <= MAX_SEED:
            raise ValueError(f"{name} must be an integer in 0..{MAX_SEED}, got {s!r}")
    if kind not in LATENT_KINDS:
        raise ValueError(f"Unknown latent kind {kind!r}. Allowed values: {', '.join(LATENT_KINDS)}")
    z = [
        sample_latent(1, latent_dim, kind, torch.Generator().manual_seed(s))[0]
        for s in (seed_a, seed_b)
    ]
    return z[0], z[1]


@torch.no_grad()
def render_interpolation(
    decode: Callable[[torch.Tensor], torch.Tensor],
    latent_dim: int,
    seed_a: int = 0,
    seed_b: int = 1,
    t: float = 0.5,
    mode: str = "slerp",
    kind: str = "gaussian",
    frames: int = 8,
    device: torch.device | str = "cpu",
) -> dict[str, torch.Tensor]:
    """Decode the path between two seeded latents (notebooks 01, 02, 04).

    Returns ``images`` (3, C, H, W): start, the point at ``t``, end; ``walk`` (frames, C, H, W):
    ``frames`` evenly spaced points; ``norms`` (frames,): latent norms along the walk (slerp
    keeps them near the Gaussian shell sqrt(latent_dim), lerp dips in the middle).
    """
    if not 0.0 <= float(t) <= 1.0:
        raise ValueError(f"t must be in [0, 1], got {t}")
    if mode not in ("lerp", "slerp"):
        raise ValueError(f"Unknown interpolation {mode!r}. Allowed values: lerp, slerp")
    if not 2 <= frames <= 64:
        raise ValueError(f"frames must be in 2..64, got {frames}")
    z0, z1 = latent_pair(seed_a, seed_b, latent_dim, kind)
    zt = (lerp if mode == "lerp" else slerp)(z0, z1, float(t))
    path = interpolate(z0, z1, frames, mode)
    images = decode(torch.stack([z0, zt, z1]).to(device)).float().cpu()
    walk = decode(path.to(device)).float().cpu()
    return {"images": images, "walk": walk, "norms": path.norm(dim=1), "z_t": zt}


class ControlsWidget:
    """The wiring every course widget shares: ipywidgets controls whose value changes call
    ``render()``, which draws into ``self.output`` and stores its data in ``self.result``.

    A subclass builds its controls, then calls ``self._wire(controls, rows)``; ``rows`` are
    the boxes shown above the output area. Notebooks drive a widget by setting a control's
    ``.value``, which runs the same callback as a slider drag.
    """

    def _wire(self, controls, rows) -> None:
        self.output = W.Output()
        self.result = {}
        for control in controls:
            control.observe(self._on_change, names="value")
        self.widget = W.VBox([*rows, self.output])
        self.render()

    def _on_change(self, _change) -> None:
        self.render()

    def render(self):  # pragma: no cover - every subclass defines it
        raise NotImplementedError

    def _ipython_display_(self) -> None:
        display(self.widget)


class LatentInterpolationWidget(ControlsWidget):
    """Two seeds, a t slider, a lerp/slerp toggle and the 8-frame walk they define.

    ``decode`` maps latents (B, latent_dim) to images (B, C, H, W) in [-1, 1] (a GAN
    generator or a VAE decoder). Set ``.t.value``, ``.mode.value``, ``.seed_a.value`` from
    code to drive it; ``.result`` holds the last render.
    """

    def __init__(
        self, decode, latent_dim: int, kind: str = "gaussian", device="cpu", frames: int = 8
    ):
        self.decode, self.latent_dim, self.kind, self.device, self.frames = (
            decode,
            latent_dim,
            kind,
            device,
            frames,
        )
        self.seed_a = W.BoundedIntText(value=0, min=0, max=MAX_SEED, description="seed A")
        self.seed_b = W.BoundedIntText(value=1, min=0, max=MAX_SEED, description="seed B")
        self.t = W.FloatSlider(value=0.5, min=0.0, max=1.0, step=0.05, description="t")
        self.mode = W.ToggleButtons(options=["lerp", "slerp"], value="slerp", description="path")
        self._wire(
            (self.seed_a, self.seed_b, self.t, self.mode),
            [W.HBox([self.seed_a, self.seed_b]), W.HBox([self.t, self.mode])],
        )

    def render(self) -> dict[str, torch.Tensor]:
        self.result = render_interpolation(
            self.decode,
            self.latent_dim,
            self.seed_a.value,
            self.seed_b.value,
            self.t.value,
            self.mode.value,
            self.kind,
            self.frames,
            self.device,
        )
        with self.output:
            self.output.clear_output(wait=True)
            fig = plt.figure(figsize=(9, 3.2))
            grid = fig.add_gridspec(2, 3, height_ratios=[1.6, 1])
            titles = (
                "seed A (t = 0)",
                f"{self.mode.value}, t = {self.t.value:.2f}",
                "seed B (t = 1)",
            )
            for i, title in enumerate(titles):
                show_images(
                    self.result["images"][i : i + 1],
                    nrow=1,
                    title=title,
                    ax=fig.add_subplot(grid[0, i]),
                )
            show_images(
                self.result["walk"],
                nrow=self.frames,
                title=f"{self.frames}-frame walk",
                ax=fig.add_subplot(grid[1, :]),
            )
            fig.tight_layout()
            plt.show()
        return self.result


# ---------------------------------------------------------------------------------------
# Noise-factor widget (notebook 05): noisy input, denoising VAE and plain VAE side by side.
# ---------------------------------------------------------------------------------------
NOISE_FACTOR_RANGE = (0.0, 0.6)


@torch.no_grad()
def render_denoising(
    clean: torch.Tensor,
    noise_factor: float,
    reconstructors: dict[str, Callable[[torch.Tensor], torch.Tensor]],
    seed: int = 0,
) -> dict[str, object]:
    """Corrupt ``clean`` at ``noise_factor`` and reconstruct it with each model (notebook 05).

    clean: (B, 1, H, W) in [0, 1]; ``noise_factor`` in [0, 0.6]; ``reconstructors`` maps a
    name (e.g. "denoising VAE") to a function images in [0, 1] -> images in [0, 1] (such as
    ``VAE.reconstruct``). The noise is drawn from ``seed``, so every model sees the same
    corrupted input. Returns ``noisy`` (B, 1, H, W), ``recons`` {name: (B, 1, H, W)} and
    ``psnr`` {"noisy input" or name: mean PSNR in dB against ``clean``}.
    """
    from .vae import corrupt, psnr  # local import: widgets stays importable on its own

    lo, hi = NOISE_FACTOR_RANGE
    if not isinstance(noise_factor, (int, float)) or not lo <= float(noise_factor) <= hi:
        raise ValueError(f"noise_factor must be a number in [{lo}, {hi}], got {noise_factor!r}")
    if not reconstructors:
        raise ValueError(
            "reconstructors must name at least one model, e.g. {'VAE': net.reconstruct}"
        )
    clean = clean.detach().float().cpu()
    noisy = corrupt(clean, float(noise_factor), torch.Generator().manual_seed(seed))
    recons = {name: fn(noisy).float().cpu() for name, fn in reconstructors.items()}
    scores = {"noisy input": float(psnr(noisy, clean).mean())}
    scores.update({name: float(psnr(r, clean).mean()) for name, r in recons.items()})
    return {"noisy": noisy, "recons": recons, "psnr": scores}


class NoiseFactorWidget(ControlsWidget):
    """A noise-factor slider (0 to 0.6) over clean, noisy and reconstructed digits (nb 05).

    Rows: the clean images, their corruption at the slider's noise factor, then one row per
    entry of ``reconstructors``, each titled with its mean PSNR. Set ``.noise_factor.value``
    (or ``.seed.value``) from code to drive it; ``.result`` holds the last render.
    """

    def __init__(self, clean: torch.Tensor, reconstructors: dict, noise_factor: float = 0.25):
        self.clean, self.reconstructors = clean, reconstructors
        lo, hi = NOISE_FACTOR_RANGE
        self.noise_factor = W.FloatSlider(
            value=noise_factor, min=lo, max=hi, step=0.05, description="noise factor"
        )
        self.seed = W.BoundedIntText(value=0, min=0, max=MAX_SEED, description="noise seed")
        self._wire((self.noise_factor, self.seed), [W.HBox([self.noise_factor, self.seed])])

    def render(self) -> dict[str, object]:
        nf = self.noise_factor.value
        self.result = render_denoising(self.clean, nf, self.reconstructors, self.seed.value)
        rows = {"clean": self.clean.detach().float().cpu(), "noisy input": self.result["noisy"]}
        rows.update(self.result["recons"])
        with self.output:
            self.output.clear_output(wait=True)
            fig, axes = plt.subplots(len(rows), 1, figsize=(9, 1.45 * len(rows)), squeeze=False)
            for ax, (name, images) in zip(axes[:, 0], rows.items()):
                score = self.result["psnr"].get(name)
                title = name if score is None else f"{name}: PSNR {score:.1f} dB"
                show_images(images, nrow=len(images), title=title, ax=ax, value_range=(0.0, 1.0))
            fig.suptitle(f"noise factor {nf:.2f}")
            fig.tight_layout()
            plt.show()
        return self.result


# ---------------------------------------------------------------------------------------
# Gibbs-steps widget (notebook 06): an RBM's block Gibbs chain after K steps.
# ---------------------------------------------------------------------------------------
GIBBS_STEP_CHOICES = (0, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000)
MAX_GIBBS_STEPS = 1000


@torch.no_grad()
def render_gibbs_chain(
    rbm, k: int, start: str, data: torch.Tensor | None = None, num_chains: int = 8, seed: int = 0
) -> dict[str, object]:
    """Run ``num_chains`` block Gibbs chains of an RBM for k steps (notebook 06, eq. 3).

    ``start``: "data" (the first rows of ``data``, binary (N, 784)) or "noise" (Bernoulli
    1/2 pixels); k: integer in 0..1000. Returns ``start_images`` and ``samples`` (each
    (num_chains, 1, 28, 28) in [-1, 1]; samples are the mean images p(v | h) of the last
    step) and ``free_energy``: the mean free energy F(v) of the chains' binary states after
    k steps (it falls as noise chains settle into the model's modes).
    """
    from .rbm import CHAIN_STARTS, gibbs_from  # local import: widgets stays importable

    if isinstance(k, bool) or not isinstance(k, int) or not 0 <= k <= MAX_GIBBS_STEPS:
        raise ValueError(
            f"k (Gibbs steps) must be an integer in 0..{MAX_GIBBS_STEPS}, got {k!r}; "
            f"the slider offers {', '.join(map(str, GIBBS_STEP_CHOICES))}"
        )
    if start not in CHAIN_STARTS:
        allowed = ", ".join(CHAIN_STARTS)
        raise ValueError(f"Unknown chain start {start!r}. Allowed values: {allowed}")
    starts = gibbs_from(rbm, start, 0, data, num_chains, seed)
    samples = gibbs_from(rbm, start, k, data, num_chains, seed)
    v = (samples.flatten(1).to(rbm.W.device) + 1) / 2  # mean images; F of their rounding
    free_energy = float(rbm.free_energy((v > 0.5).float()).mean())
    return {"start_images": starts, "samples": samples, "free_energy": free_energy}


class GibbsStepsWidget(ControlsWidget):
    """A Gibbs-steps slider K and a data/noise toggle over an RBM's chains (notebook 06).

    Top row: where the chains start; bottom row: p(v | h) after K steps. Set ``.k.value``
    (one of ``GIBBS_STEP_CHOICES``) or ``.start.value`` ("data" / "noise") from code to drive
    it; ``.result`` holds the last render.
    """

    def __init__(self, rbm, data: torch.Tensor, num_chains: int = 8, k: int = 1, seed: int = 0):
        self.rbm, self.data, self.num_chains, self.seed = rbm, data, num_chains, seed
        self.k = W.SelectionSlider(options=GIBBS_STEP_CHOICES, value=k, description="Gibbs K")
        self.start = W.ToggleButtons(options=["data", "noise"], value="data", description="start")
        self._wire((self.k, self.start), [W.HBox([self.k, self.start])])

    def render(self) -> dict[str, object]:
        k, start = self.k.value, self.start.value
        self.result = render_gibbs_chain(self.rbm, k, start, self.data, self.num_chains, self.seed)
        with self.output:
            self.output.clear_output(wait=True)
            fig, axes = plt.subplots(2, 1, figsize=(9, 3.0))
            show_images(self.result["start_images"], nrow=self.num_chains,
                        title=f"chain start: {start}", ax=axes[0])  # fmt: skip
            show_images(
                self.result["samples"],
                nrow=self.num_chains,
                title=f"after K = {k} Gibbs steps (mean free energy "
                f"{self.result['free_energy']:.1f})",
                ax=axes[1],
            )
            fig.tight_layout()
            plt.show()
        return self.result


# ---------------------------------------------------------------------------------------
# Critic-contour widget (notebook 08): a WGAN critic on a toy set during training.
# ---------------------------------------------------------------------------------------
def render_critic_snapshot(runs: dict, name: str, step: int) -> dict[str, object]:
    """Pick the critic surface and samples of run ``name`` at training ``step`` (nb 08).

    ``runs`` maps a name to a :func:`course_lib.wgan.train_toy` result (its ``snapshots``
    {step: {"samples", "surface"}}). Returns ``surface`` (xx, yy, f), ``samples`` (N, 2),
    ``f_range`` (max - min of the critic over the grid) and ``lim``.
    """
    if name not in runs:
        raise ValueError(f"Unknown run {name!r}. Allowed values: {', '.join(runs)}")
    snaps = runs[name]["snapshots"]
    if step not in snaps:
        raise ValueError(f"No snapshot at step {step}. Allowed values: {sorted(snaps)}")
    surface = snaps[step]["surface"]
    f = surface["f"]
    return {"surface": surface, "samples": snaps[step]["samples"], "lim": runs[name]["lim"],
            "f_range": float(f.max() - f.min())}  # fmt: skip


class CriticContourWidget(ControlsWidget):
    """A run selector and a training-step slider over critic contour plots (notebook 08).

    Shows the critic f(x) of the chosen toy run (filled contours), the real modes and the
    generator's samples at that step. Set ``.run.value`` or ``.step.value`` from code to
    drive it; ``.result`` holds the last render.
    """

    def __init__(self, runs: dict, dist=None):
        self.runs, self.dist = runs, dist
        first = next(iter(runs))
        steps = sorted(runs[first]["snapshots"])
        self.run = W.Dropdown(options=list(runs), value=first, description="run")
        self.step = W.SelectionSlider(options=steps, value=steps[-1], description="step")
        self._wire((self.run, self.step), [W.HBox([self.run, self.step])])

    def render(self) -> dict[str, object]:
        name, step = self.run.value, self.step.value
        self.result = render_critic_snapshot(self.runs, name, step)
        s, x = self.result["surface"], self.result["samples"]
        with self.output:
            self.output.clear_output(wait=True)
            fig, ax = plt.subplots(figsize=(5, 4.4))
            cs = ax.contourf(s["xx"], s["yy"], s["f"], levels=20, cmap="viridis")
            fig.colorbar(cs, ax=ax, label="critic f(x)")
            if self.dist is not None:
                ax.scatter(*self.dist.means.T, marker="x", c="w", s=20, label="modes")
            ax.scatter(x[:, 0], x[:, 1], s=3, c="tab:red", alpha=0.6, label="G samples")
            ax.set(title=f"{name}, step {step} (critic range {self.result['f_range']:.2g})",
                   xlabel="$x_1$", ylabel="$x_2$", aspect="equal")  # fmt: skip
            ax.legend(loc="upper right", fontsize=7)
            fig.tight_layout()
            plt.show()
        return self.result


# ---------------------------------------------------------------------------------------
# InfoGAN code sliders (notebook 07): category and continuous codes -> generated digits.
# ---------------------------------------------------------------------------------------
CODE_RANGE = (-2.0, 2.0)  # beyond the training range [-1, 1] on purpose


@torch.no_grad()
def render_infogan_codes(
    net_G, noise_dim: int, category: int, c1: float, c2: float, num_images: int = 8,
    seed: int = 0,
) -> dict[str, object]:  # fmt: skip
    """Digits from an InfoGAN generator for one code setting (Chen et al. 2016; notebook 07).

    ``category`` in 0..9 (the categorical code), ``c1``, ``c2`` in [-2, 2] (continuous codes,
    trained on [-1, 1]); ``num_images`` noise vectors z ~ U[-1, 1]^noise_dim from ``seed``
    (the same z for every code setting, so only the code changes). Returns ``images``
    (num_images, 1, 28, 28) in [-1, 1] and ``latent`` (num_images, noise_dim + 12).
    """
    from .infogan import N_CAT, make_latent

    if not isinstance(category, int) or not 0 <= category < N_CAT:
        raise ValueError(f"category must be an integer in 0..{N_CAT - 1}, got {category!r}")
    lo, hi = CODE_RANGE
    for name, v in (("c1", c1), ("c2", c2)):
        if not isinstance(v, (int, float)) or not lo <= float(v) <= hi:
            raise ValueError(f"{name} must be a number in [{lo}, {hi}], got {v!r}")
    device = next(net_G.parameters()).device
    z = torch.rand(num_images, noise_dim, generator=torch.Generator().manual_seed(seed)) * 2 - 1
    cat = torch.full((num_images,), category, dtype=torch.long)
    cont = torch.tensor([[float(c1), float(c2)]]).expand(num_images, 2)
    latent = make_latent(z, cat, cont).to(device)
    return {"images": net_G(latent).cpu(), "latent": latent.cpu()}


class InfoGANCodeWidget(ControlsWidget):
    """A category selector and two continuous-code sliders over generated digits (nb 07).

    Set ``.category.value``, ``.c1.value`` or ``.c2.value`` (or ``.seed.value``) from code to
    drive it; ``.result`` holds the last render.
    """

    def __init__(self, net_G, noise_dim: int, num_images: int = 8):
        self.net_G, self.noise_dim, self.num_images = net_G, noise_dim, num_images
        lo, hi = CODE_RANGE
        self.category = W.Dropdown(options=list(range(10)), value=0, description="category")
        self.c1 = W.FloatSlider(value=0.0, min=lo, max=hi, step=0.1, description="c1")
        self.c2 = W.FloatSlider(value=0.0, min=lo, max=hi, step=0.1, description="c2")
        self.seed = W.BoundedIntText(value=0, min=0, max=MAX_SEED, description="noise seed")
        self._wire(
            (self.category, self.c1, self.c2, self.seed),
            [W.HBox([self.category, self.seed]), W.HBox([self.c1, self.c2])],
        )

    def render(self) -> dict[str, object]:
        k, c1, c2 = self.category.value, self.c1.value, self.c2.value
        self.result = render_infogan_codes(self.net_G, self.noise_dim, k, c1, c2,
                                           self.num_images, self.seed.value)  # fmt: skip
        with self.output:
            self.output.clear_output(wait=True)
            fig, ax = plt.subplots(figsize=(9, 1.6))
            show_images(self.result["images"], nrow=self.num_images, ax=ax,
                        title=f"category {k}, c1 = {c1:+.1f}, c2 = {c2:+.1f}")  # fmt: skip
            plt.show()
        return self.result


# ---------------------------------------------------------------------------------------
# DDPM widgets (notebook 09): the forward process under two schedules, and a sampling
# trajectory. (Local imports keep widgets importable without course_lib.diffusion.)
# ---------------------------------------------------------------------------------------
@torch.no_grad()
def render_timestep(x0: torch.Tensor, t: int, schedules: dict, seed: int = 0) -> dict[str, object]:
    """x_t ~ q(x_t | x_0) at timestep ``t`` under each schedule, with the same noise (nb 09).

    x0: (B, 1, H, W) in [-1, 1]; ``schedules`` maps a name to a ``course_lib.diffusion.
    Schedule`` (all with the same T); t in 0..T-1. Returns ``x_t`` {name: (B, 1, H, W)},
    ``snr`` {name: abar_t / (1 - abar_t) at t} and ``abar`` {name: abar_t}.
    """
    from .diffusion import q_sample

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
    ``course_lib.diffusion.ddpm_sample(keep=...)`` / ``ddim_sample(keep=True)``, all of the
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
