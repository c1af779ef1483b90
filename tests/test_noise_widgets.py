import math

import pytest
import torch

from course_lib import noise, widgets


def test_latent_samplers_range_and_stats():
    g = torch.Generator().manual_seed(0)
    u = noise.sample_latent(20000, 4, "uniform", g)
    assert u.min() >= -1 and u.max() <= 1 and abs(u.var().item() - 1 / 3) < 0.01
    n = noise.sample_latent(20000, 4, "gaussian", g, scale=2.0)
    assert abs(n.std().item() - 2.0) < 0.03
    with pytest.raises(ValueError, match="uniform, gaussian"):
        noise.sample_latent(2, 2, "cauchy")


def test_lerp_and_slerp_endpoints_and_norm():
    z0, z1 = torch.tensor([1.0, 0.0]), torch.tensor([0.0, 1.0])
    t = torch.tensor([0.0, 0.5, 1.0])
    for f in (noise.lerp, noise.slerp):
        path = f(z0, z1, t)
        assert torch.allclose(path[0], z0) and torch.allclose(path[-1], z1)
    assert torch.allclose(noise.slerp(z0, z1, 0.5), torch.tensor([1.0, 1.0]) / math.sqrt(2))
    assert torch.allclose(noise.lerp(z0, z1, 0.5), torch.tensor([0.5, 0.5]))
    # parallel vectors fall back to lerp instead of dividing by sin(0)
    assert torch.allclose(noise.slerp(z0, 2 * z0, 0.5), 1.5 * z0)


def test_slerp_keeps_gaussian_norm_lerp_does_not():
    g = torch.Generator().manual_seed(0)
    z0, z1 = torch.randn(2, 512, generator=g)
    mid_s = noise.interpolate(z0, z1, 9, "slerp")[4].norm()
    mid_l = noise.interpolate(z0, z1, 9, "lerp")[4].norm()
    shell = math.sqrt(512)
    assert abs(mid_s - shell) / shell < 0.1 and mid_l / shell < 0.8
    with pytest.raises(ValueError, match="lerp, slerp"):
        noise.interpolate(z0, z1, 3, "cubic")


def _decode(z):
    return torch.tanh(z[:, :4].sum(1)).view(-1, 1, 1, 1).expand(-1, 1, 28, 28)


def test_render_interpolation_pure_function():
    out = widgets.render_interpolation(_decode, 16, seed_a=3, seed_b=4, t=0.25, mode="lerp")
    za, zb = widgets.latent_pair(3, 4, 16)
    assert torch.allclose(out["z_t"], 0.75 * za + 0.25 * zb)
    assert out["images"].shape == (3, 1, 28, 28) and out["walk"].shape == (8, 1, 28, 28)
    assert torch.allclose(out["images"][0], _decode(za[None])[0])
    assert torch.allclose(out["walk"][-1], _decode(zb[None])[0])


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"t": 1.5}, "t must be in"),
        ({"t": -0.1}, "t must be in"),
        ({"mode": "x"}, "lerp, slerp"),
        ({"seed_a": -1}, "seed_a"),
        ({"seed_b": 2.5}, "seed_b"),
        ({"frames": 1}, "frames"),
        ({"kind": "cauchy"}, "uniform, gaussian"),
    ],
)
def test_render_interpolation_rejects_out_of_range(kwargs, match):
    with pytest.raises(ValueError, match=match):
        widgets.render_interpolation(_decode, 8, **kwargs)


def test_widget_callback_rerenders_on_value_change():
    w = widgets.LatentInterpolationWidget(_decode, 16, kind="uniform")
    first = w.result["z_t"].clone()
    w.t.value = 1.0
    za, zb = widgets.latent_pair(0, 1, 16, "uniform")
    assert torch.allclose(w.result["z_t"], zb) and not torch.allclose(first, zb)
    w.mode.value = "lerp"
    w.seed_b.value = 5
    assert torch.allclose(w.result["z_t"], widgets.latent_pair(0, 5, 16, "uniform")[1])
    w.t.value = 7.0  # the slider clamps to its range instead of erroring
    assert w.t.value == 1.0
