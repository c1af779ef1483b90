"""course_lib.diffusers_utils: a tiny UNet2DModel pipeline survives save_pretrained ->
from_pretrained(tmp_path) offline and gives identical images for the same seed; scheduler
swaps keep the betas; the hub loader skips cleanly offline."""

from __future__ import annotations

import pytest
import torch

from course_lib import diffusers_utils as DU
from course_lib import diffusion as D
from course_lib.io import CheckpointError


@pytest.fixture(scope="module")
def tiny_pipe():
    torch.manual_seed(0)
    unet = DU.build_unet(channels=(8, 16), sample_size=8).eval()
    return DU.make_pipeline(unet, DU.build_scheduler(timesteps=50))


def test_round_trip_identical_images(tiny_pipe, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    before = DU.generate(tiny_pipe, 2, num_inference_steps=5, seed=3)
    assert before.shape == (2, 1, 8, 8) and before.min() >= -1 and before.max() <= 1
    path = DU.save_pipeline(tiny_pipe, tmp_path / "pipe")
    assert (path / "model_index.json").exists() and not list(tmp_path.glob("*.tmp"))
    reloaded = DU.load_pipeline(path)
    after = DU.generate(reloaded, 2, num_inference_steps=5, seed=3)
    torch.testing.assert_close(after, before, rtol=0, atol=0)
    other_seed = DU.generate(reloaded, 2, num_inference_steps=5, seed=4)
    assert not torch.equal(other_seed, before)
    DU.save_pipeline(reloaded, path)  # saving over an existing folder works too
    assert (path / "unet" / "config.json").exists()


def test_manifest_refuses_altered_or_unverified_pipelines(tiny_pipe, tmp_path):
    path = DU.save_pipeline(tiny_pipe, tmp_path / "pipe")
    weights = path / "unet" / "diffusion_pytorch_model.safetensors"
    assert f"  unet/{weights.name}" in (path / DU.MANIFEST).read_text()
    good = weights.read_bytes()
    weights.write_bytes(good[:-1] + bytes([good[-1] ^ 1]))  # one flipped bit
    with pytest.raises(CheckpointError, match="altered.*not loaded.*diffusers_utils train"):
        DU.load_pipeline(path)
    weights.write_bytes(good)
    (path / "unet" / "extra.bin").write_bytes(b"x")
    with pytest.raises(CheckpointError, match="extra.bin is not in the manifest"):
        DU.load_pipeline(path)
    (path / "unet" / "extra.bin").unlink()
    (path / DU.MANIFEST).unlink()
    with pytest.raises(CheckpointError, match="SHA256SUMS is missing"):
        DU.load_pipeline(path)
    assert DU.load_pipeline(path, verify=False) is not None  # opt-out, e.g. a hand-saved folder


def test_shipped_pipeline_matches_its_manifest():
    DU.verify_manifest(DU.DEFAULT_PIPELINE)


def test_missing_pipeline_message(tmp_path):
    with pytest.raises(FileNotFoundError, match="python -m course_lib.diffusers_utils train"):
        DU.load_pipeline(tmp_path / "nothing")


@pytest.mark.parametrize("name", DU.SCHEDULER_NAMES)
def test_swap_scheduler_keeps_unet_and_betas(tiny_pipe, name):
    pipe = DU.swap_scheduler(tiny_pipe, name)
    assert pipe.unet is tiny_pipe.unet
    torch.testing.assert_close(pipe.scheduler.betas, D.make_schedule("linear", 50).betas)
    assert DU.generate(pipe, 1, num_inference_steps=4).shape == (1, 1, 8, 8)
    clips = pipe.scheduler.config.get("thresholding") or pipe.scheduler.config.get("clip_sample")
    assert clips, f"{name} must keep x0_hat in [-1, 1] like the other schedulers"
    with pytest.raises(ValueError, match="Allowed values"):
        DU.swap_scheduler(tiny_pipe, "Heun?")


def test_add_noise_matches_q_sample():
    sched = DU.build_scheduler()
    x0, eps, t = torch.rand(3, 1, 4, 4) * 2 - 1, torch.randn(3, 1, 4, 4), torch.tensor([1, 50, 900])
    torch.testing.assert_close(
        sched.add_noise(x0, eps, t), D.q_sample(x0, t, D.make_schedule(), eps)
    )


def test_train_unet_runs_and_returns_ema_copy():
    unet = DU.build_unet(channels=(8, 16), sample_size=8)
    X = torch.rand(16, 1, 8, 8) * 2 - 1
    model, history = DU.train_unet(unet, DU.build_scheduler(50), X, 3, batch_size=8, progress=False)
    assert model is not unet and len(history["loss"]) == 1


def test_hub_loader_skips_cleanly_offline(monkeypatch, capsys):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert DU.load_hub_pipeline("google/this-repo-is-not-cached") is None
    out = capsys.readouterr().out
    assert "HF_HUB_OFFLINE=1" in out and "Traceback" not in out
