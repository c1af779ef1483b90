"""course_lib.widgets.toys: notebook 03's snapshot widget and notebook 08's critic contours."""

from __future__ import annotations

from dataclasses import replace

import matplotlib
import pytest
import torch

from course_lib import toy_train, widgets
from course_lib.toy_train import ToyConfig

matplotlib.use("Agg")
TINY = ToyConfig(batch_size=16, hidden=8, depth=2, snapshots=2, eval_samples=50, n_critic=2,
                 seeds=(0, 1))  # fmt: skip


def test_render_snapshot_and_widget():
    r = toy_train.train_toy_gan("ring8", 6, config=TINY, progress=False)[0]
    results = {"vanilla": r}
    ax = widgets.render_toy_snapshot(results, "vanilla", 6, seed_index=1)
    cov = r.coverage[6][1]
    assert ax.get_title() == (f"vanilla, step 6, seed 1: {cov['modes']} modes, "
                              f"{cov['high_quality']:.0%} high quality")  # fmt: skip
    points = ax.collections[-1].get_offsets()  # the samples, drawn last
    assert torch.allclose(torch.as_tensor(points, dtype=torch.float32), r.samples[6][1])
    with pytest.raises(ValueError, match="Allowed values: vanilla"):
        widgets.render_toy_snapshot(results, "pacgan", 6)
    with pytest.raises(ValueError, match="Allowed values: 0, 3, 6"):
        widgets.render_toy_snapshot(results, "vanilla", 5)
    with pytest.raises(ValueError, match="Allowed values: 0, 1"):
        widgets.render_toy_snapshot(results, "vanilla", 6, seed_index=2)
    w = widgets.ToySnapshotWidget(results)
    w.step.value = 3
    assert "step 3" in w.ax.get_title()


def test_critic_contour_widget_shows_the_recorded_critic():
    cfg = replace(TINY, method="wgan_gp", critic_grid=6, eval_latents="fixed")
    runs = {"gp": toy_train.train_toy_gan("grid25", 2, config=cfg, progress=False)[0]}
    out = widgets.render_critic_snapshot(runs, "gp", 2, seed_index=1)
    f = runs["gp"].surfaces[2]["f"][1]
    assert torch.equal(out["surface"]["f"], f) and out["f_range"] == float(f.max() - f.min())
    assert torch.equal(out["samples"], runs["gp"].samples[2][1][:500])
    with pytest.raises(ValueError, match="Allowed values: gp"):
        widgets.render_critic_snapshot(runs, "clip", 2)
    with pytest.raises(ValueError, match="Allowed values: 0, 1, 2"):
        widgets.render_critic_snapshot(runs, "gp", 5)
    plain = {"p": toy_train.train_toy_gan("grid25", 2, config=TINY, progress=False)[0]}
    with pytest.raises(ValueError, match="critic_grid"):
        widgets.render_critic_snapshot(plain, "p", 2)
    w = widgets.CriticContourWidget(runs)
    w.step.value = 0
    first = runs["gp"].surfaces[0]["f"][0]
    assert w.result["f_range"] == float(first.max() - first.min())
