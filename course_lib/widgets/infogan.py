"""InfoGAN code sliders (notebook 07): category and continuous codes -> generated digits."""

from __future__ import annotations

import ipywidgets as W
import matplotlib.pyplot as plt
import torch

from ..viz import show_images
from .base import MAX_SEED, ControlsWidget

CODE_RANGE = (-2.0, 2.0)  # beyond the training range [-1, 1] on purpose


@torch.no_grad()
def render_infogan_codes(
    net_G, category: int, c1: float, c2: float, num_images: int = 8, seed: int = 0,
) -> dict[str, object]:  # fmt: skip
    """Digits from an InfoGAN generator for one code setting (Chen et al. 2016; notebook 07).

    ``category`` in 0..9 (the categorical code), ``c1``, ``c2`` in [-2, 2] (continuous codes,
    trained on [-1, 1]); ``num_images`` noise vectors z ~ U[-1, 1]^latent_dim from ``seed``
    (the same z for every code setting, so only the code changes). Returns ``images``
    (num_images, 1, 28, 28) in [-1, 1] and G's input ``latent`` (num_images, latent_dim + 12:
    z plus the codes), on the CPU; G runs in eval mode on its own device.
    """
    from ..config import check_choice
    from ..infogan import N_CAT, make_latent
    from ..noise import sample_latent
    from ..train import eval_mode, infer_device

    check_choice("category", category, range(N_CAT))
    lo, hi = CODE_RANGE
    for name, v in (("c1", c1), ("c2", c2)):
        if not isinstance(v, (int, float)) or not lo <= float(v) <= hi:
            raise ValueError(f"{name} must be a number in [{lo}, {hi}], got {v!r}")
    g = torch.Generator().manual_seed(seed)
    z = sample_latent(num_images, net_G.latent_dim, "uniform", g)
    cat = torch.full((num_images,), int(category), dtype=torch.long)
    cont = torch.tensor([[float(c1), float(c2)]]).expand(num_images, 2)
    latent = make_latent(z, cat, cont).to(infer_device(net_G))
    with eval_mode(net_G):
        return {"images": net_G(latent).cpu(), "latent": latent.cpu()}


class InfoGANCodeWidget(ControlsWidget):
    """A category selector and two continuous-code sliders over generated digits (nb 07).

    Set ``.category.value``, ``.c1.value`` or ``.c2.value`` (or ``.seed.value``) from code to
    drive it; ``.result`` holds the last render.
    """

    def __init__(self, net_G, num_images: int = 8):
        self.net_G, self.num_images = net_G, num_images
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
        self.result = render_infogan_codes(self.net_G, k, c1, c2, self.num_images,
                                           self.seed.value)  # fmt: skip
        with self.output:
            self.output.clear_output(wait=True)
            fig, ax = plt.subplots(figsize=(9, 1.6))
            show_images(self.result["images"], nrow=self.num_images, ax=ax,
                        title=f"category {k}, c1 = {c1:+.1f}, c2 = {c2:+.1f}")  # fmt: skip
            plt.show()
        return self.result
