"""Toy-GAN widgets: training snapshots of notebook 03's methods, and notebook 08's WGAN
critic contours, each on a 2-D mixture."""

from __future__ import annotations

from typing import TYPE_CHECKING

import ipywidgets as W
import matplotlib.pyplot as plt

from ..config import check_choice
from ..data import toy_distribution
from .base import ControlsWidget

if TYPE_CHECKING:
    from ..toy_train import ToyEnsemble


def render_toy_snapshot(results: dict[str, ToyEnsemble], method: str, step: int,
                        seed_index: int = 0, ax=None):  # fmt: skip
    """Scatter one method's samples at a training ``step`` over the target density (nb 03).

    ``results`` maps method names to :class:`~course_lib.toy_train.ToyEnsemble` (all on the
    same toy set). Raises a ValueError listing the allowed methods / steps / seed indices.
    Returns the matplotlib Axes.
    """
    from ..viz import scatter_2d

    r = results[check_choice("method", method, results)]
    check_choice("step", step, sorted(r.samples))
    check_choice("seed_index", seed_index, range(len(r.config.seeds)))
    cov = r.coverage[step][seed_index]
    title = (f"{method}, step {step}, seed {r.config.seeds[seed_index]}: {cov['modes']} modes, "
             f"{cov['high_quality']:.0%} high quality")  # fmt: skip
    return scatter_2d(r.samples[step][seed_index][:1000], toy_distribution(r.data), title=title,
                      ax=ax)  # fmt: skip


class ToySnapshotWidget(ControlsWidget):
    """Pick a method and a training snapshot; see its samples over the target density (nb 03).

    Controls: ``.method`` (Dropdown), ``.step`` (SelectionSlider over snapshot steps),
    ``.seed_index`` (which seed's run). Set their ``.value`` from code to drive it.
    """

    def __init__(self, results: dict[str, ToyEnsemble]):
        self.results = results
        first = next(iter(results.values()))
        steps = sorted(first.samples)
        self.method = W.Dropdown(options=list(results), value=next(iter(results)),
                                 description="method")  # fmt: skip
        self.step = W.SelectionSlider(options=steps, value=steps[-1], description="step")
        self.seed_index = W.Dropdown(options=list(range(len(first.config.seeds))), value=0,
                                     description="seed run")  # fmt: skip
        self.ax = None
        self._wire(
            (self.method, self.step, self.seed_index),
            [W.HBox([self.method, self.seed_index]), self.step],
        )

    def render(self):
        with self.output:
            self.output.clear_output(wait=True)
            fig, ax = plt.subplots(figsize=(4.5, 4.5))
            self.ax = render_toy_snapshot(self.results, self.method.value, self.step.value,
                                          self.seed_index.value, ax=ax)  # fmt: skip
            plt.show()
        return self.ax


def render_critic_snapshot(runs: dict[str, ToyEnsemble], name: str, step: int,
                           seed_index: int = 0) -> dict[str, object]:  # fmt: skip
    """Pick the critic surface and samples of run ``name`` at training ``step`` (nb 08).

    ``runs`` maps a name to a :class:`~course_lib.toy_train.ToyEnsemble` trained with
    ``critic_grid`` > 0 (its ``surfaces``). Returns ``surface`` (xx, yy, f (n, n)), 500
    ``samples`` (500, 2) of seed ``seed_index`` and ``f_range`` (max - min of the critic
    over the grid).
    """
    r = runs[check_choice("run", name, runs)]
    if not r.surfaces:
        raise ValueError(f"run {name!r} recorded no critic surfaces: train it with critic_grid > 0")
    check_choice("step", step, sorted(r.surfaces))
    check_choice("seed_index", seed_index, range(len(r.config.seeds)))
    s = r.surfaces[step]
    f = s["f"][seed_index]
    return {
        "surface": {"xx": s["xx"], "yy": s["yy"], "f": f},
        "samples": r.samples[step][seed_index][:500],
        "f_range": float(f.max() - f.min()),
    }


class CriticContourWidget(ControlsWidget):
    """A run selector and a training-step slider over critic contour plots (notebook 08).

    Shows the critic f(x) of the chosen toy run (filled contours), the real modes and the
    generator's samples at that step. Set ``.run.value`` or ``.step.value`` from code to
    drive it; ``.result`` holds the last render.
    """

    def __init__(self, runs: dict[str, ToyEnsemble], dist=None):
        self.runs, self.dist = runs, dist
        first = next(iter(runs))
        steps = sorted(runs[first].surfaces)
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
