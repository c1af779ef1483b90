"""course_lib.diffusion and course_lib.unet: schedules against diffusers, one sampling step
against a hand computation (and against diffusers' own step), shapes, checksummed checkpoints."""

from __future__ import annotations

import math

import pytest
import torch
from diffusers import DDIMScheduler, DDPMScheduler

from course_lib import diffusion as D
from course_lib.io import CheckpointError
from course_lib.unet import UNet, UNetConfig, timestep_embedding


@pytest.mark.parametrize("kind", ["linear", "cosine"])
@pytest.mark.parametrize("T", [1000, 50])
def test_schedule_equals_diffusers(kind, T):
    ours = D.make_schedule(kind, T)
    ref = DDPMScheduler(num_train_timesteps=T, beta_schedule=D.DIFFUSERS_NAMES[kind])
    torch.testing.assert_close(ours.betas, ref.betas, rtol=0, atol=0)
    torch.testing.assert_close(ours.alphas_cumprod, ref.alphas_cumprod, rtol=0, atol=0)
    ref_var = torch.stack([ref._get_variance(t) for t in range(T)])
    torch.testing.assert_close(ours.posterior_variance, ref_var, rtol=1e-6, atol=1e-12)


def test_schedule_golden_values():
    s = D.make_schedule("linear", 1000)
    assert s.betas[0].item() == pytest.approx(1e-4)
    assert s.betas[-1].item() == pytest.approx(0.02)
    assert s.alphas_cumprod[-1].item() == pytest.approx(4.04e-5, rel=0.01)  # nearly pure noise
    c = D.make_schedule("cosine", 1000)
    expected = math.cos(0.508 / 1.008 * math.pi / 2) ** 2  # Nichol & Dhariwal eq. 17 at t/T = 1/2
    assert c.alphas_cumprod[499].item() == pytest.approx(expected, rel=1e-3)
    assert s.posterior_variance[0].item() == pytest.approx(1e-20)  # beta~_0 = 0, clamped
    assert (s.snr()[1:] < s.snr()[:-1]).all()  # SNR falls monotonically


def test_bad_schedule_messages():
    with pytest.raises(ValueError, match="Allowed values: linear, cosine"):
        D.make_schedule("quadratic", 10)
    with pytest.raises(ValueError, match="timesteps"):
        D.make_schedule("linear", 1)
    with pytest.raises(ValueError, match="num_steps"):
        D.ddim_timesteps(1000, 0)


def test_q_sample_matches_closed_form_and_add_noise():
    s = D.make_schedule("linear", 1000)
    g = torch.Generator().manual_seed(0)
    x0 = torch.rand(4, 1, 28, 28, generator=g) * 2 - 1
    eps = torch.randn(x0.shape, generator=g)
    t = torch.tensor([0, 10, 500, 999])
    xt = D.q_sample(x0, t, s, eps)
    ab = s.alphas_cumprod[t].view(-1, 1, 1, 1)
    torch.testing.assert_close(xt, ab.sqrt() * x0 + (1 - ab).sqrt() * eps)
    ref = DDPMScheduler(num_train_timesteps=1000).add_noise(x0, eps, t)
    torch.testing.assert_close(xt, ref)


def test_ddpm_step_by_hand_and_against_diffusers():
    s = D.make_schedule("linear", 1000)
    g = torch.Generator().manual_seed(1)
    x_t = torch.randn(2, 1, 4, 4, generator=g)
    eps = torch.randn(x_t.shape, generator=g) * 0.1
    z = torch.randn(x_t.shape, generator=g)
    t = 500
    # Algorithm 2, line 4, by hand (no clipping).
    a, ab, b = s.alphas[t].item(), s.alphas_cumprod[t].item(), s.betas[t].item()
    ab_prev = s.alphas_cumprod[t - 1].item()
    sigma = math.sqrt((1 - ab_prev) / (1 - ab) * b)
    hand = (x_t - b / math.sqrt(1 - ab) * eps) / math.sqrt(a) + sigma * z
    ours = D.ddpm_step(eps, t, x_t, s, noise=z, clip_x0=False)
    torch.testing.assert_close(ours, hand, rtol=1e-4, atol=1e-5)
    # diffusers' DDPMScheduler.step with the same z (it draws z from the generator).
    for clip in (False, True):
        ref = DDPMScheduler(num_train_timesteps=1000, clip_sample=clip)
        out = ref.step(eps, t, x_t, generator=torch.Generator().manual_seed(7)).prev_sample
        z7 = torch.randn(x_t.shape, generator=torch.Generator().manual_seed(7))
        torch.testing.assert_close(D.ddpm_step(eps, t, x_t, s, noise=z7, clip_x0=clip), out)
    # Last step adds no noise.
    torch.testing.assert_close(
        D.ddpm_step(eps, 0, x_t, s, noise=z, clip_x0=False),
        D.ddpm_step(eps, 0, x_t, s, noise=torch.zeros_like(z), clip_x0=False),
    )


def test_ddim_step_by_hand_and_against_diffusers():
    s = D.make_schedule("linear", 1000)
    g = torch.Generator().manual_seed(2)
    x_t = torch.randn(2, 1, 4, 4, generator=g)
    eps = torch.randn(x_t.shape, generator=g)
    t, t_prev = 900, 800
    ab, ab_prev = s.alphas_cumprod[t].item(), s.alphas_cumprod[t_prev].item()
    x0 = (x_t - math.sqrt(1 - ab) * eps) / math.sqrt(ab)
    hand = math.sqrt(ab_prev) * x0 + math.sqrt(1 - ab_prev) * eps  # eq. 12 with sigma = 0
    torch.testing.assert_close(D.ddim_step(eps, t, t_prev, x_t, s, eta=0.0), hand)
    ref = DDIMScheduler(num_train_timesteps=1000, clip_sample=False)
    ref.set_timesteps(10)
    assert ref.timesteps.tolist() == D.ddim_timesteps(1000, 10)
    ref_out = ref.step(eps, t, x_t).prev_sample
    torch.testing.assert_close(D.ddim_step(eps, t, t_prev, x_t, s), ref_out)
    # With x0 clipping (diffusers' default clip_sample=True; x0_hat here leaves [-1, 1]).
    assert x0.abs().max() > 1
    ref_clip = DDIMScheduler(num_train_timesteps=1000, clip_sample=True)
    ref_clip.set_timesteps(10)
    clipped = ref_clip.step(eps, t, x_t).prev_sample
    torch.testing.assert_close(D.ddim_step(eps, t, t_prev, x_t, s, clip_x0=True), clipped)
    assert not torch.allclose(clipped, ref_out)
    # eta = 1: sigma from eq. 16 enters with the given noise.
    z = torch.randn(x_t.shape, generator=g)
    sig = math.sqrt((1 - ab_prev) / (1 - ab) * (1 - ab / ab_prev))
    hand1 = math.sqrt(ab_prev) * x0 + math.sqrt(1 - ab_prev - sig**2) * eps + sig * z
    torch.testing.assert_close(D.ddim_step(eps, t, t_prev, x_t, s, eta=1.0, noise=z), hand1)
    # Final step (t_prev = -1) returns x0_hat itself.
    x0_hat = D.predict_x0(x_t, eps, s.alphas_cumprod[0])
    torch.testing.assert_close(D.ddim_step(eps, 0, -1, x_t, s), x0_hat)


def test_unet_shapes_and_embedding():
    net = UNet(UNetConfig(channels=(8, 16, 16), time_dim=32))
    x = torch.randn(3, 1, 28, 28)
    assert net(x, torch.tensor([0, 5, 999])).shape == x.shape
    assert net(x, torch.tensor(4)).shape == x.shape
    emb = timestep_embedding(torch.tensor([0, 1]), 32)
    assert emb.shape == (2, 32)
    torch.testing.assert_close(emb[0, :16], torch.zeros(16))  # sin(0)
    torch.testing.assert_close(emb[0, 16:], torch.ones(16))  # cos(0)


def test_samplers_shapes_and_determinism():
    net = UNet(UNetConfig(channels=(8, 16, 16), time_dim=32)).eval()
    s = D.make_schedule("cosine", 20)
    x, traj = D.ddpm_sample(net, s, 2, generator=torch.Generator().manual_seed(0), keep=3)
    assert x.shape == (2, 1, 28, 28) and [t for t, _ in traj] == [19, 10, 0]
    a, tr = D.ddim_sample(net, s, 2, 5, generator=torch.Generator().manual_seed(0), keep=True)
    b, _ = D.ddim_sample(net, s, 2, 5, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(a, b)  # eta = 0 is deterministic given x_T
    assert len(tr) == 5 and a.abs().max() <= 1


def test_loss_is_finite_and_trains_a_step():
    net = UNet(UNetConfig(channels=(8, 16, 16), time_dim=32))
    s = D.make_schedule("linear", 100)
    x0 = torch.rand(4, 1, 28, 28) * 2 - 1
    loss = D.diffusion_loss(net, x0, s, torch.Generator().manual_seed(0))
    assert loss.item() == pytest.approx(1.0, abs=0.3)  # zero-initialised output: E eps^2 = 1
    loss.backward()


def test_checkpoint_checksum_round_trip_and_errors(tmp_path):
    net = UNet(UNetConfig(channels=(8, 16, 16), time_dim=32)).eval()
    path = tmp_path / "ddpm_test.pt"
    digest = D.save_pretrained(path, net, D.TrainConfig(num_steps=1))
    assert D.checksum_path(path).read_text().split()[0] == digest
    loaded, payload = D.load_pretrained(path)
    x, t = torch.randn(1, 1, 28, 28), torch.tensor([3])
    torch.testing.assert_close(loaded(x, t), net(x, t))
    assert payload["extra"]["train"]["num_steps"] == 1
    # Corrupt: one byte flipped.
    data = bytearray(path.read_bytes())
    data[-10] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="corrupt"):
        D.load_pretrained(path)
    D.checksum_path(path).unlink()
    with pytest.raises(CheckpointError, match="Checksum file"):
        D.load_pretrained(path)
    with pytest.raises(CheckpointError, match="python -m course_lib.diffusion train"):
        D.load_pretrained(tmp_path / "missing.pt")


def test_train_command_continues_a_checkpoint_with_provenance(tmp_path):
    first, second = tmp_path / "a.pt", tmp_path / "b.pt"
    common = ["--batch-size", "4", "--channels", "8,16,16", "--threads", "1", "--save-every", "2"]
    assert D.main(["train", "--out", str(first), "--steps", "2", "--lr", "1e-3", *common]) == 0
    start, p1 = D.load_pretrained(first)
    assert D.main(["train", "--init", str(first), "--out", str(second), "--steps", "3",
                   "--lr", "1e-4", *common]) == 0  # fmt: skip
    model, p2 = D.load_pretrained(second)
    stages = D.training_stages(p2)
    assert [s["train"]["num_steps"] for s in stages] == [2, 3]
    assert stages[0]["sha256"] == D.sha256_file(first)  # which file it continued from
    assert D.describe_training(p2).startswith("5 steps in 2 stages (2 at lr 0.001, 3 at lr 0.0001)")
    assert D.describe_training(p1).startswith("2 steps, ")
    moved = any(not torch.equal(a, b) for a, b in zip(start.parameters(), model.parameters()))
    assert moved and model.config == start.config  # trained further, same architecture


def test_timestep_and_trajectory_render_functions():
    from course_lib.widgets import render_timestep, render_trajectory

    x0 = torch.rand(2, 1, 28, 28) * 2 - 1
    scheds = {k: D.make_schedule(k, 1000) for k in D.SCHEDULES}
    r = render_timestep(x0, 500, scheds, seed=1)
    assert set(r["x_t"]) == {"linear", "cosine"} and r["x_t"]["linear"].shape == x0.shape
    assert r["snr"]["cosine"] > r["snr"]["linear"]  # cosine keeps more signal mid-chain
    assert r["abar"]["linear"] == pytest.approx(scheds["linear"].alphas_cumprod[500].item())
    with pytest.raises(ValueError, match="0..999"):
        render_timestep(x0, 1000, scheds)
    traj = {"a": [(9, x0), (0, x0)], "b": [(5, x0), (0, x0)]}
    assert render_trajectory(traj, 1)["frames"]["b"][0] == 0
    with pytest.raises(ValueError, match="index"):
        render_trajectory(traj, 2)
    with pytest.raises(ValueError, match="same length"):
        render_trajectory({"a": [(0, x0)], "b": []}, 0)
