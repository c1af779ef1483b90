"""Interactive widgets of the notebooks (ipywidgets), one module per topic.

Each widget is a pure ``render_*`` function (tested in pytest) wired to ipywidgets controls
by :class:`ControlsWidget`. Widgets import the models they show; no model or training
module imports widgets (so ``course_lib`` trains without ipywidgets or IPython).
"""

from .base import MAX_SEED, ControlsWidget
from .denoising import NOISE_FACTOR_RANGE, NoiseFactorWidget, render_denoising
from .diffusion import TimestepWidget, TrajectoryWidget, render_timestep, render_trajectory
from .gibbs import GIBBS_STEP_CHOICES, MAX_GIBBS_STEPS, GibbsStepsWidget, render_gibbs_chain
from .infogan import CODE_RANGE, InfoGANCodeWidget, render_infogan_codes
from .latent import LatentInterpolationWidget, latent_pair, render_interpolation
from .toys import (
    CriticContourWidget,
    ToySnapshotWidget,
    render_critic_snapshot,
    render_toy_snapshot,
)

__all__ = [
    "CODE_RANGE", "GIBBS_STEP_CHOICES", "MAX_GIBBS_STEPS", "MAX_SEED", "NOISE_FACTOR_RANGE",
    "ControlsWidget", "CriticContourWidget", "GibbsStepsWidget", "InfoGANCodeWidget",
    "LatentInterpolationWidget", "NoiseFactorWidget", "TimestepWidget", "ToySnapshotWidget",
    "TrajectoryWidget", "latent_pair", "render_critic_snapshot", "render_denoising",
    "render_gibbs_chain", "render_infogan_codes", "render_interpolation", "render_timestep",
    "render_toy_snapshot", "render_trajectory",
]  # fmt: skip
