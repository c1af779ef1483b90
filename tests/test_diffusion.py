"""course_lib.diffusion, diffusion_samplers, ddpm_train and unet: schedules against
diffusers, one sampling step against a hand computation (and diffusers' own step), a full
DDPM loop against a golden value and diffusers' loop, the samplers' device handling (meta),
training (input check, EMA, seeding), the shipped artefact and its crash safety."""

from __future__ import annotations

import contextlib
import math

import pytest
import torch
from diffusers import DDIMScheduler, DDPMScheduler

from course_lib import ddpm_train as DT
from course_lib import diffusion as D
from course_lib import diffusion_samplers as DS
from course_lib import io
from course_lib.io import CheckpointError
from course_lib.unet import UNet, UNetConfig, timestep_embedding

TINY = UNetConfig(channels=(8, 16, 16), time_dim=32)


def tiny_unet(seed: int = 0) -> UNet:
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        return UNet(TINY)


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
        DS.ddim_timesteps(1000, 0)


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
    assert ref.timesteps.tolist() == DS.ddim_timesteps(1000, 10)
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
    net = tiny_unet().eval()
    s = D.make_schedule("cosine", 20)
    x, traj = DS.ddpm_sample(net, s, 2, generator=torch.Generator().manual_seed(0), keep=3)
    assert x.shape == (2, 1, 28, 28) and [t for t, _ in traj] == [19, 10, 0]
    a, tr = DS.ddim_sample(net, s, 2, 5, generator=torch.Generator().manual_seed(0), keep=True)
    b, _ = DS.ddim_sample(net, s, 2, 5, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(a, b)  # eta = 0 is deterministic given x_T
    assert len(tr) == 5 and a.abs().max() <= 1
    assert [t for t, _ in tr] == [13, 9, 5, 1, 0]  # taus 16, 12, 8, 4, 0 -> clean x_0


def _dummy_eps(x, t):
    """A model-free eps(x, t), as in diffusers' scheduler tests: works for a (B,) or a 0-d t."""
    tt = torch.as_tensor(t, dtype=x.dtype).reshape(-1, 1, 1, 1)
    return x * tt / (tt + 1) * 0.5 + 0.1


@pytest.mark.parametrize("kind, golden", [("linear", -11.0774221), ("cosine", -10.9365044)])
def test_full_ddpm_loop_golden_value_and_diffusers_loop(kind, golden):
    s = D.make_schedule(kind, 1000)
    gen = torch.Generator().manual_seed(0)
    ours, _ = DS.ddpm_sample(_dummy_eps, s, 2, (1, 4, 4), generator=gen)
    assert ours.sum().item() == pytest.approx(golden, abs=2e-5)  # pinned once, T = 1000
    # diffusers' own loop: the same x_T, then z for every t > 0, from the same generator.
    ref = DDPMScheduler(num_train_timesteps=1000, beta_schedule=D.DIFFUSERS_NAMES[kind])
    g = torch.Generator().manual_seed(0)
    x = torch.randn((2, 1, 4, 4), generator=g)
    for t in ref.timesteps:
        x = ref.step(_dummy_eps(x, t), t, x, generator=g).prev_sample
    torch.testing.assert_close(ours, x, rtol=0, atol=1e-5)


def test_sampler_table_rows_keys_and_seed(monkeypatch):
    from course_lib import metrics

    # a stand-in for the protocol (which needs 500 digits): the sum of the digits drawn
    monkeypatch.setattr(metrics, "score_images", lambda x: {"fid": float(x.double().sum())})
    net = tiny_unet().eval()
    s = D.make_schedule("linear", 20)
    rows = DS.sampler_table(net, s, (2, 5), num_images=6, seed=1, batch_size=4)
    assert [(r["sampler"], r["steps"]) for r in rows] == [("DDPM", 20), ("DDIM", 2), ("DDIM", 5)]
    assert all(set(r) == {"sampler", "steps", "seconds", "fid"} for r in rows)
    again = DS.sampler_table(net, s, (2, 5), num_images=6, seed=1, batch_size=4)
    assert [r["fid"] for r in again] == [r["fid"] for r in rows]  # same seed, same digits
    other = DS.sampler_table(net, s, (2,), num_images=6, ddpm=False, seed=2)
    assert [(r["sampler"], r["steps"]) for r in other] == [("DDIM", 2)]
    assert other[0]["fid"] != rows[1]["fid"]
    timed = DS.sampler_table(net, s, (2,), num_images=6, ddpm=False, score=False)
    assert set(timed[0]) == {"sampler", "steps", "seconds"}


def test_sampler_table_scores_in_the_protocol_only():
    """The table scores with metrics.score_images, which refuses fewer than 500 digits
    (a smaller N would give FIDs that compare with nothing else in the course)."""
    net = tiny_unet().eval()
    with pytest.raises(ValueError, match="The protocol scores 500 images; got 6"):
        DS.sampler_table(net, D.make_schedule("linear", 20), (2,), num_images=6, ddpm=False)


# -- Devices: the model on "meta" makes any stray CPU tensor (or a host sync) an error. ----
@pytest.fixture
def meta_unet():
    return tiny_unet().to("meta").eval()


def test_samplers_follow_the_model_to_its_device(meta_unet):
    s = D.make_schedule("linear", 10)
    gen = torch.Generator().manual_seed(0)
    x, _ = DS.ddpm_sample(meta_unet, s, 2, generator=gen)
    assert x.device.type == "meta"
    x, _ = DS.ddim_sample(meta_unet, s, 2, 3, generator=gen)
    assert x.device.type == "meta"
    x, _ = DS.ddim_sample(meta_unet, s, 2, 3, eta=1.0, x_T=torch.randn(2, 1, 28, 28))
    assert x.device.type == "meta"


def test_a_plain_function_samples_on_the_device_it_is_given():
    s = D.make_schedule("linear", 10)
    x, _ = DS.ddim_sample(_dummy_eps, s, 2, 3, eta=1.0, shape=(1, 4, 4), device="meta",
                         generator=torch.Generator())  # fmt: skip
    assert x.device.type == "meta"
    x, _ = DS.ddpm_sample(_dummy_eps, s, 2, (1, 4, 4), generator=torch.Generator())
    assert x.device.type == "cpu"  # no device, no module: the CPU


@pytest.mark.parametrize("sampler", ["ddpm", "ddim_eta1"])
def test_samplers_move_every_draw_without_a_host_sync(meta_unet, monkeypatch, sampler):
    """x_T and each step's noise are drawn on the CPU and moved with train.to_device (pinned,
    non-blocking on CUDA): a plain .to would wait for the GPU at every denoising step."""
    moved = []
    real = DS.to_device
    monkeypatch.setattr(DS, "to_device", lambda x, d: moved.append(x.device.type) or real(x, d))
    s, gen = D.make_schedule("linear", 10), torch.Generator().manual_seed(0)
    if sampler == "ddpm":
        DS.ddpm_sample(meta_unet, s, 2, generator=gen)
        assert moved == ["cpu"] * 10  # x_T, then z for t = 9 .. 1
    else:
        DS.ddim_sample(meta_unet, s, 2, 3, eta=1.0, generator=gen)
        assert moved == ["cpu"] * 4  # x_T, then z for each of the 3 steps


def test_diffusion_loss_moves_t_and_eps_without_a_host_sync(meta_unet, monkeypatch):
    moved = []
    real = D.to_device
    monkeypatch.setattr(D, "to_device", lambda x, d: moved.append(x.dtype) or real(x, d))
    D.diffusion_loss(meta_unet, torch.zeros(2, 1, 28, 28, device="meta"),
                     D.make_schedule("linear", 10).to("meta"), torch.Generator())  # fmt: skip
    assert moved == [torch.int64, torch.float32]  # t, then eps


def test_samplers_run_a_module_in_eval_mode_and_restore_it():
    class Spy(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.w = torch.nn.Parameter(torch.zeros(()))
            self.modes = []

        def forward(self, x, t):
            self.modes.append(self.training)
            return x * self.w

    spy, s = Spy(), D.make_schedule("linear", 10)
    DS.ddpm_sample(spy, s, 1, (1, 2, 2), generator=torch.Generator())
    DS.ddim_sample(spy.forward, s, 1, 2, shape=(1, 2, 2), generator=torch.Generator())
    assert spy.modes == [False] * 12 and spy.training  # back in train mode afterwards


def test_sampler_table_samples_on_the_model_device(meta_unet, monkeypatch):
    from course_lib import metrics

    seen = []
    monkeypatch.setattr(metrics, "score_images", lambda x: seen.append(x.device) or {"fid": 0.0})
    rows = DS.sampler_table(meta_unet, D.make_schedule("linear", 10), (2,), num_images=3)
    assert len(rows) == 2 and {d.type for d in seen} == {"meta"}


def test_diffusion_step_on_meta(meta_unet):
    net = meta_unet.train()
    trainer = torch.optim.SGD(net.parameters(), lr=0.1)
    out = D.diffusion_step(torch.zeros(2, 1, 28, 28, device="meta"), net, trainer,
                           D.make_schedule("linear", 10), generator=torch.Generator())  # fmt: skip
    assert set(out) == {"loss"} and out["loss"].device.type == "meta" and out["loss"].dim() == 0


def test_loss_is_finite_and_trains_a_step():
    net = tiny_unet()
    s = D.make_schedule("linear", 100)
    x0 = torch.rand(4, 1, 28, 28) * 2 - 1
    loss = D.diffusion_loss(net, x0, s, torch.Generator().manual_seed(0))
    assert loss.item() == pytest.approx(1.0, abs=0.3)  # zero-initialised output: E eps^2 = 1


def test_diffusion_step_is_the_loss_then_one_optimiser_step():
    net, s = tiny_unet(), D.make_schedule("linear", 100)
    x0 = torch.rand(4, 1, 28, 28) * 2 - 1
    expected = D.diffusion_loss(net, x0, s, torch.Generator().manual_seed(3))
    expected.backward()
    grads = [p.grad.clone() for p in net.parameters()]
    before = [p.detach().clone() for p in net.parameters()]
    trainer = torch.optim.SGD(net.parameters(), lr=0.5)
    out = D.diffusion_step(x0, net, trainer, s, generator=torch.Generator().manual_seed(3))
    assert not out["loss"].requires_grad
    torch.testing.assert_close(out["loss"], expected.detach())
    for p, b, g in zip(net.parameters(), before, grads):  # SGD: p = b - lr * grad
        torch.testing.assert_close(p.detach(), b - 0.5 * g)


# -- Training ---------------------------------------------------------------------------
def _digits(n: int = 8) -> torch.Tensor:
    return torch.rand(n, 1, 28, 28, generator=torch.Generator().manual_seed(5)) * 2 - 1


def test_train_ddpm_refuses_unit_range_images():
    with pytest.raises(ValueError, match=r"\[-1, 1\].*2 \* x - 1"):
        DT.train_ddpm((_digits() + 1) / 2, 1, unet_config=TINY, progress=False)
    with pytest.raises(ValueError, match="got values in"):
        DT.train_ddpm(iter([_digits() * 255]), 1, unet_config=TINY, progress=False)


def test_train_ddpm_seeded_without_touching_the_global_rng():
    cfg = DT.TrainConfig(batch_size=4, lr=1e-3, timesteps=50)
    state = torch.random.get_rng_state()
    (m1, e1), h1 = DT.train_ddpm(_digits(), 3, config=cfg, unet_config=TINY, progress=False)
    assert torch.equal(torch.random.get_rng_state(), state)
    (m2, _), h2 = DT.train_ddpm(_digits(), 3, config=cfg, unet_config=TINY, progress=False)
    assert h1["loss"] == h2["loss"] and h1["step"] == [3]
    assert all(torch.equal(a, b) for a, b in zip(m1.parameters(), m2.parameters()))
    # A fresh model's EMA copies the weights during the first EMA_START steps (decay 0).
    assert all(torch.equal(a, b) for a, b in zip(m1.parameters(), e1.parameters()))


def test_train_ddpm_runs_on_the_datas_device_and_owns_bf16(monkeypatch):
    """Without ``device`` the model goes where the data are (meta here: any CPU tensor in the
    step would raise); the step runs under train.autocast(device, bf16)."""
    seen = {}

    def one_step(step_fn, num_steps, **kw):
        seen["out"] = step_fn(0)
        return {"step": []}

    def spy_autocast(device, enabled=None):
        seen["autocast"] = (torch.device(device).type, enabled)
        return contextlib.nullcontext()

    monkeypatch.setattr(DT, "train_loop", one_step)
    monkeypatch.setattr(DT, "autocast", spy_autocast)
    cfg = DT.TrainConfig(batch_size=4, timesteps=10)
    (model, ema), _ = DT.train_ddpm(_digits().to("meta"), 1, config=cfg, unet_config=TINY,
                                    bf16=True, progress=False)  # fmt: skip
    assert {p.device.type for p in (*model.parameters(), *ema.parameters())} == {"meta"}
    assert seen["out"]["loss"].device.type == "meta" and seen["autocast"] == ("meta", True)


def test_train_ddpm_ema_is_the_expected_lerp():
    init = tiny_unet(1)
    cfg = DT.TrainConfig(batch_size=4, lr=1e-2, ema_decay=0.9, timesteps=50)
    (model, ema), _ = DT.train_ddpm(_digits(), 1, config=cfg, init=init, progress=False)
    moved = 0
    for w0, w1, e in zip(init.parameters(), model.parameters(), ema.parameters()):
        torch.testing.assert_close(e, 0.9 * w0 + 0.1 * w1)  # ema <- 0.9 ema + 0.1 w
        moved += int(not torch.equal(w0, w1))
    assert moved > 0


# -- The shipped artefact -----------------------------------------------------------------
def test_shipped_model_loads_with_its_provenance():
    model, info = DT.load_pretrained()
    assert info["config"] == {
        "schedule": "linear",
        "timesteps": 1000,
        "unet": {
            "channels": [16, 32, 64],
            "dropout": 0.0,
            "groups": 8,
            "in_channels": 1,
            "time_dim": 128,
        },
    }
    assert DT.describe_training(info) == (
        "8250 steps in 3 stages (2250 at lr 0.001, 3000 at lr 0.0003, 3000 at lr 0.0001), "
        "67 min on cpu"
    )
    prov = info["provenance"]
    assert prov["steps"] == 8250 and prov["seed"] == 0 and len(prov["history"]["loss"]) == 60
    assert "ddpm_mnist5k.pt at commit 5babaec" in prov["converted_from"]


def _save(folder, net, steps=1):
    prov = io.provenance(
        "python -m course_lib.ddpm_train train --out x",
        steps,
        0,
        1.0,
        stages=[{"train": {"num_steps": steps, "lr": 1e-3}, "train_seconds": 60}],
    )
    return DT.save_pretrained(folder, net, prov)


def test_artefact_round_trip_and_errors(tmp_path):
    net = tiny_unet().eval()
    folder = _save(tmp_path / "ddpm", net)
    loaded, info = DT.load_pretrained(folder)
    x, t = torch.randn(1, 1, 28, 28), torch.tensor([3])
    torch.testing.assert_close(loaded(x, t), net(x, t), rtol=0, atol=0)
    assert DT.describe_training(info) == "1 steps, 1 min on ?"
    weights = folder / io.WEIGHTS
    good = weights.read_bytes()
    weights.write_bytes(good[:-10] + bytes([good[-10] ^ 0xFF]) + good[-9:])  # one byte flipped
    with pytest.raises(CheckpointError, match="altered.*python -m course_lib.ddpm_train train"):
        DT.load_pretrained(folder)
    weights.write_bytes(good[: len(good) // 2])  # truncated
    with pytest.raises(CheckpointError, match="altered or truncated"):
        DT.load_pretrained(folder)
    with pytest.raises(CheckpointError, match="python -m course_lib.ddpm_train train"):
        DT.load_pretrained(tmp_path / "missing")


def test_killed_save_leaves_the_previous_artefact_loadable(tmp_path, monkeypatch):
    import safetensors.torch

    first = tiny_unet(0).eval()
    folder = _save(tmp_path / "ddpm", first)

    def dies_midway(tensors, path, *a, **k):
        with open(path, "wb") as fh:
            fh.write(b"half a file")
        raise KeyboardInterrupt("killed")

    monkeypatch.setattr(safetensors.torch, "save_file", dies_midway)
    with pytest.raises(KeyboardInterrupt):
        _save(folder, tiny_unet(1))
    loaded, _ = DT.load_pretrained(folder)
    assert all(torch.equal(a, b) for a, b in zip(loaded.parameters(), first.parameters()))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ddpm"]  # no temporary left over


def test_train_command_continues_an_artefact_with_provenance(tmp_path, monkeypatch):
    import course_lib.data

    monkeypatch.setattr(course_lib.data, "load_images", lambda *a, **k: (_digits(16), None))
    first, second = tmp_path / "a", tmp_path / "b"
    common = ["--batch-size", "4", "--channels", "8,16,16", "--threads", "1", "--save-every",
              "2", "--device", "cpu"]  # fmt: skip
    assert DT.main(["train", "--out", str(first), "--steps", "2", "--lr", "1e-3", *common]) == 0
    start, p1 = DT.load_pretrained(first)
    assert DT.main(["train", "--init", str(first), "--out", str(second), "--steps", "3",
                    "--lr", "1e-4", *common]) == 0  # fmt: skip
    model, p2 = DT.load_pretrained(second)
    stages = DT.training_stages(p2)
    assert [s["train"]["num_steps"] for s in stages] == [2, 3]
    assert stages[0]["sha256"] == p1["files"][io.WEIGHTS]  # which weights it continued from
    assert DT.describe_training(p2).startswith(
        "5 steps in 2 stages (2 at lr 0.001, 3 at lr 0.0001)"
    )
    assert DT.describe_training(p1).startswith("2 steps, ")
    prov = p2["provenance"]
    assert prov["steps"] == 5 and prov["command"].count("course_lib.ddpm_train train") == 2
    assert prov["history"]["step"] == [3]
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
