"""Gibbs-steps widget (notebook 06): an RBM's block Gibbs chain after K steps."""

from __future__ import annotations

import ipywidgets as W
import matplotlib.pyplot as plt
import torch

from ..viz import show_images
from .base import ControlsWidget

GIBBS_STEP_CHOICES = (0, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000)
MAX_GIBBS_STEPS = 1000


@torch.no_grad()
def render_gibbs_chain(
    model,
    k: int,
    start: str,
    data: torch.Tensor | None = None,
    num_chains: int = 8,
    seed: int = 0,
) -> dict[str, object]:
    """Run ``num_chains`` block Gibbs chains of an RBM for k steps (notebook 06, eq. 3).

    ``start``: "data" (the first rows of ``data``, binary (N, 784)) or "noise" (Bernoulli
    1/2 pixels); k: integer in 0..1000. Returns ``start_images`` and ``samples`` (each
    (num_chains, 1, 28, 28) in [-1, 1], on the CPU; samples are the mean images p(v | h) of
    the last step) and ``free_energy``: the mean free energy F(v) of the chains' binary
    states after k steps (it falls as noise chains settle into the model's modes).
    """
    from ..config import check_choice  # local imports: widgets stays importable on its own
    from ..rbm import CHAIN_STARTS, gibbs_from

    if isinstance(k, bool) or not isinstance(k, int) or not 0 <= k <= MAX_GIBBS_STEPS:
        raise ValueError(
            f"k (Gibbs steps) must be an integer in 0..{MAX_GIBBS_STEPS}, got {k!r}; "
            f"the slider offers {', '.join(map(str, GIBBS_STEP_CHOICES))}"
        )
    check_choice("chain start", start, CHAIN_STARTS)
    starts = gibbs_from(model, start, 0, data, num_chains, seed)
    samples = gibbs_from(model, start, k, data, num_chains, seed)
    v = (samples.flatten(1) + 1) / 2  # mean images; F of their rounding
    free_energy = float(model.free_energy((v > 0.5).float()).mean())
    return {"start_images": starts.cpu(), "samples": samples.cpu(), "free_energy": free_energy}


class GibbsStepsWidget(ControlsWidget):
    """A Gibbs-steps slider K and a data/noise toggle over an RBM's chains (notebook 06).

    Top row: where the chains start; bottom row: p(v | h) after K steps. Set ``.k.value``
    (one of ``GIBBS_STEP_CHOICES``) or ``.start.value`` ("data" / "noise") from code to drive
    it; ``.result`` holds the last render.
    """

    def __init__(self, model, data: torch.Tensor, num_chains: int = 8, k: int = 1, seed: int = 0):
        self.model, self.data, self.num_chains, self.seed = model, data, num_chains, seed
        self.k = W.SelectionSlider(options=GIBBS_STEP_CHOICES, value=k, description="Gibbs K")
        self.start = W.ToggleButtons(options=["data", "noise"], value="data", description="start")
        self._wire((self.k, self.start), [W.HBox([self.k, self.start])])

    def render(self) -> dict[str, object]:
        k, start = self.k.value, self.start.value
        self.result = render_gibbs_chain(
            self.model, k, start, self.data, self.num_chains, self.seed
        )
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
