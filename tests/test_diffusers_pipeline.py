"""course_lib.diffusers_utils: a tiny UNet2DModel pipeline survives save_pretrained ->
from_pretrained(tmp_path) offline and gives identical images for the same seed; the folder's
MANIFEST.json refuses altered files and a killed save leaves the old folder loadable; the
EMA weights are the expected moving average; scheduler swaps keep the betas; one training
step runs on the model's device (meta) and moves its CPU draws with train.to_device; the
trainer checks its data and owns the bf16 choice; the hub loader skips cleanly offline; no
diffusers progress bar (a widget in Jupyter) unless asked for."""

from __future__ import annotations

import json

import pytest
import torch

from course_lib import diffusers_utils as DU
from course_lib import diffusion as D
from course_lib import io
from course_lib.io import CheckpointError


def tiny_unet(seed: int = 0):
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        return DU.build_unet(channels=(8, 16), sample_size=8)


@pytest.fixture(scope="module")
def tiny_pipe():
    return DU.make_pipeline(tiny_unet().eval(), DU.build_scheduler(timesteps=50))


def test_round_trip_identical_images(tiny_pipe, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    before = DU.generate(tiny_pipe, 2, num_inference_steps=5, seed=3)
    assert before.shape == (2, 1, 8, 8) and before.min() >= -1 and before.max() <= 1
    prov = io.provenance("python -m course_lib.diffusers_utils train --out x", 7, 0, 1.5)
    path = DU.save_pipeline(tiny_pipe, tmp_path / "pipe", prov)
    assert (path / "model_index.json").exists() and sorted(p.name for p in tmp_path.iterdir()) == [
        "pipe"]  # no temporary folder left over  # fmt: skip
    manifest = json.loads((path / io.MANIFEST).read_text())
    assert manifest["provenance"]["steps"] == 7
    assert "unet/diffusion_pytorch_model.safetensors" in manifest["files"]
    reloaded = DU.load_pipeline(path)
    after = DU.generate(reloaded, 2, num_inference_steps=5, seed=3)
    torch.testing.assert_close(after, before, rtol=0, atol=0)
    other_seed = DU.generate(reloaded, 2, num_inference_steps=5, seed=4)
    assert not torch.equal(other_seed, before)
    DU.save_pipeline(reloaded, path)  # saving over an existing folder works too
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pipe"]
    assert json.loads((path / io.MANIFEST).read_text())["provenance"] == {"command": DU.REBUILD}


def test_manifest_refuses_altered_or_unverified_pipelines(tiny_pipe, tmp_path):
    path = DU.save_pipeline(tiny_pipe, tmp_path / "pipe")
    weights = path / "unet" / "diffusion_pytorch_model.safetensors"
    good = weights.read_bytes()
    weights.write_bytes(good[:-1] + bytes([good[-1] ^ 1]))  # one flipped bit
    with pytest.raises(CheckpointError, match="altered.*not loaded.*diffusers_utils train"):
        DU.load_pipeline(path)
    weights.write_bytes(good[:100])
    with pytest.raises(CheckpointError, match="truncated"):
        DU.load_pipeline(path)
    weights.write_bytes(good)
    (path / "unet" / "extra.bin").write_bytes(b"x")
    with pytest.raises(CheckpointError, match="extra.bin is not in the manifest"):
        DU.load_pipeline(path)
    (path / "unet" / "extra.bin").unlink()
    (path / io.MANIFEST).unlink()
    with pytest.raises(CheckpointError, match="MANIFEST.json is missing"):
        DU.load_pipeline(path)
    assert DU.load_pipeline(path, verify=False) is not None  # opt-out, e.g. a hand-saved folder


def test_killed_save_leaves_the_previous_pipeline_loadable(tiny_pipe, tmp_path):
    path = DU.save_pipeline(tiny_pipe, tmp_path / "pipe")
    before = DU.generate(DU.load_pipeline(path), 1, num_inference_steps=3, seed=0)

    class DiesMidway:  # a pipeline whose save_pretrained is killed after the first file
        def save_pretrained(self, folder):
            (folder / "model_index.json").write_text("{half")
            raise KeyboardInterrupt("killed")

    with pytest.raises(KeyboardInterrupt):
        DU.save_pipeline(DiesMidway(), path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pipe"]
    after = DU.generate(DU.load_pipeline(path), 1, num_inference_steps=3, seed=0)
    torch.testing.assert_close(after, before, rtol=0, atol=0)


def test_shipped_pipeline_matches_its_manifest():
    manifest = io.verify_artefact(DU.DEFAULT_PIPELINE, DU.REBUILD)
    prov = manifest["provenance"]
    assert prov["command"] == DU.REBUILD and prov["steps"] == 4500 and prov["seed"] == 0
    assert "unet/diffusion_pytorch_model.safetensors" in manifest["files"]
    # the command's defaults are the recorded recipe, so REBUILD retrains it
    defaults = vars(DU._parser().parse_args(["train"]))
    assert {k: defaults[k] for k in ("steps", "lr", "lr_schedule", "warmup", "ema", "seed")} == {
        "steps": prov["steps"], "lr": prov["lr"], "lr_schedule": prov["lr_schedule"],
        "warmup": prov["warmup_steps"], "ema": prov["ema_decay"], "seed": prov["seed"]}
    curve = DU.training_record()["score_curve"]
    assert curve["step"][-1] == prov["steps"] and len(curve["fid"]) == len(curve["step"])


def test_training_record_refuses_an_altered_pipeline(tiny_pipe, tmp_path):
    path = DU.save_pipeline(tiny_pipe, tmp_path / "pipe", {"command": "x", "steps": 3})
    assert DU.training_record(path)["steps"] == 3
    (path / "model_index.json").write_text("{}")
    with pytest.raises(io.CheckpointError, match="altered"):
        DU.training_record(path)


def test_no_diffusers_progress_bars_unless_asked(tiny_pipe, tmp_path, capsys):
    from diffusers.utils import logging as diffusers_logging

    path = DU.save_pipeline(tiny_pipe, tmp_path / "pipe")
    assert diffusers_logging.is_progress_bar_enabled()
    DU.generate(DU.load_pipeline(path), 1, num_inference_steps=3)
    assert "Loading pipeline components" not in capsys.readouterr().err
    assert diffusers_logging.is_progress_bar_enabled()  # load_pipeline restores the switch
    DU.generate(tiny_pipe, 1, num_inference_steps=3, progress=True)
    assert "3/3" in capsys.readouterr().err
    DU.generate(tiny_pipe, 1, num_inference_steps=3)
    assert "3/3" not in capsys.readouterr().err


def test_missing_pipeline_message(tmp_path):
    with pytest.raises(CheckpointError, match="python -m course_lib.diffusers_utils train"):
        DU.load_pipeline(tmp_path / "nothing")


@pytest.mark.parametrize("name", DU.SCHEDULER_NAMES)
def test_swap_scheduler_keeps_unet_and_betas(tiny_pipe, name):
    pipe = DU.swap_scheduler(tiny_pipe, name)
    assert pipe.unet is tiny_pipe.unet
    torch.testing.assert_close(pipe.scheduler.betas, D.make_schedule("linear", 50).betas)
    assert DU.generate(pipe, 1, num_inference_steps=4).shape == (1, 1, 8, 8)
    clips = pipe.scheduler.config.get("thresholding") or pipe.scheduler.config.get("clip_sample")
    assert clips, f"{name} must keep x0_hat in [-1, 1] like the other schedulers"
    if name == "DPM-Solver single-step":  # set up front: diffusers would switch it, warning
        assert pipe.scheduler.config.lower_order_final
    with pytest.raises(ValueError, match="Allowed values"):
        DU.swap_scheduler(tiny_pipe, "Heun?")


def test_add_noise_matches_q_sample():
    sched = DU.build_scheduler()
    x0, eps, t = torch.rand(3, 1, 4, 4) * 2 - 1, torch.randn(3, 1, 4, 4), torch.tensor([1, 50, 900])
    torch.testing.assert_close(
        sched.add_noise(x0, eps, t), D.q_sample(x0, t, D.make_schedule(), eps)
    )


def test_train_unet_ema_is_diffusers_moving_average():
    """EMAModel's decay at its k-th update is min(decay, (1 + s) / (10 + s)) with s = k - 1
    (0 at the first, so the EMA starts as a copy): 0, 2/11, 3/12 for three steps."""
    unet, X = tiny_unet(), torch.rand(16, 1, 8, 8) * 2 - 1
    raw = []
    record = lambda step, ema_unet, hist: raw.append(  # noqa: E731
        [p.detach().clone() for p in unet.parameters()]
    )
    (net, ema_unet), history = DU.train_unet(
        X, 3, model=unet, noise_scheduler=DU.build_scheduler(50), batch_size=8, lr=1e-2,
        progress=False, callback=record, callback_every=1)  # fmt: skip
    assert net is unet and ema_unet is not unet and len(history["loss"]) == 1 and len(raw) == 3
    for i, e in enumerate(ema_unet.parameters()):
        w1, w2, w3 = raw[0][i], raw[1][i], raw[2][i]
        ema = w1  # decay 0
        ema = 2 / 11 * ema + 9 / 11 * w2
        ema = 3 / 12 * ema + 9 / 12 * w3
        torch.testing.assert_close(e.detach(), ema)
    assert any(not torch.allclose(e, p) for e, p in zip(ema_unet.parameters(), unet.parameters()))
    (same, also), _ = DU.train_unet(X, 1, model=tiny_unet(), noise_scheduler=DU.build_scheduler(50),
                                    batch_size=8, ema_decay=None, progress=False)  # fmt: skip
    assert same is also  # no EMA: sample with the raw weights


def test_unet_step_on_meta():
    unet = tiny_unet().to("meta")
    trainer = torch.optim.SGD(unet.parameters(), lr=0.1)
    out = DU.unet_step(torch.zeros(2, 1, 8, 8, device="meta"), unet, trainer,
                       DU.build_scheduler(50), generator=torch.Generator())  # fmt: skip
    assert set(out) == {"loss"} and out["loss"].device.type == "meta"


def test_unet_step_moves_its_draws_without_a_host_sync(monkeypatch):
    """eps and t are drawn on the CPU and moved with train.to_device (pinned, non-blocking on
    CUDA), not with a plain .to, which would wait for the GPU once per step."""
    moved = []
    real = DU.to_device
    monkeypatch.setattr(DU, "to_device", lambda x, d: moved.append(x.device.type) or real(x, d))
    unet = tiny_unet().to("meta")
    DU.unet_step(torch.zeros(2, 1, 8, 8, device="meta"), unet,
                 torch.optim.SGD(unet.parameters(), lr=0.1), DU.build_scheduler(50),
                 generator=torch.Generator())  # fmt: skip
    assert moved == ["cpu", "cpu"]  # eps, then t


def test_train_unet_checks_its_data():
    unit = torch.rand(8, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    with pytest.raises(ValueError, match=r"train_unet needs images in \[-1, 1\].*2 \* x - 1"):
        DU.train_unet(unit, 1, model=tiny_unet(), progress=False)
    with pytest.raises(ValueError, match="train_unet got an empty batch iterator"):
        DU.train_unet(iter([]), 1, model=tiny_unet(), progress=False)


def test_train_unet_bf16_is_the_trainers_choice():
    """bf16=None is fp32 on a CPU (the step itself never turns autocast on); bf16=True
    autocasts every step there too, so its losses differ."""
    X = torch.rand(16, 1, 8, 8, generator=torch.Generator().manual_seed(1)) * 2 - 1
    kw = dict(noise_scheduler=DU.build_scheduler(50), batch_size=8, ema_decay=None,
              progress=False)  # fmt: skip
    _, h_default = DU.train_unet(X, 2, model=tiny_unet(), **kw)
    _, h_fp32 = DU.train_unet(X, 2, model=tiny_unet(), bf16=False, **kw)
    _, h_bf16 = DU.train_unet(X, 2, model=tiny_unet(), bf16=True, **kw)
    assert h_default["loss"] == h_fp32["loss"] and h_bf16["loss"] != h_fp32["loss"]


def test_hub_loader_skips_cleanly_offline(monkeypatch, capsys):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert DU.load_hub_pipeline("google/this-repo-is-not-cached") is None
    out = capsys.readouterr().out
    assert "HF_HUB_OFFLINE=1" in out and "Traceback" not in out
