import os

import pytest
import torch
from torch import nn

from course_lib import io, train


def _modules():
    torch.manual_seed(0)
    net = nn.Linear(3, 2)
    opt = torch.optim.Adam(net.parameters(), lr=0.1)
    net(torch.randn(4, 3)).sum().backward()
    opt.step()
    return net, opt


def test_train_loop_logs_means_every_n_steps():
    values = iter(range(10))
    hist = train.train_loop(
        lambda s: {"a": torch.tensor(float(next(values)))}, 10, log_every=4, progress=False
    )
    assert hist["step"] == [4, 8, 10]
    assert hist["a"] == [1.5, 5.5, 8.5]


def test_train_loop_callback_and_resume():
    calls = []
    hist = train.train_loop(
        lambda s: {"x": s},
        6,
        log_every=2,
        progress=False,
        callback=lambda step, h: calls.append(step),
        callback_every=3,
    )
    assert calls == [3, 6]
    hist = train.train_loop(
        lambda s: {"x": s}, 8, start_step=6, history=hist, log_every=2, progress=False
    )
    assert hist["step"] == [2, 4, 6, 8] and hist["x"][-1] == 6.5


def test_train_loop_stops_on_nan_with_clear_message():
    def step(s):
        return {"loss_D": torch.tensor(float("nan") if s == 5 else 1.0)}

    with pytest.raises(train.TrainingDiverged, match="loss_D became nan by step 5"):
        train.train_loop(step, 20, log_every=3, progress=False)


def test_checkpoint_round_trip(tmp_path):
    net, opt = _modules()
    path = io.save_checkpoint(
        tmp_path / "ck.pt",
        {"net": net, "opt": opt},
        step=7,
        history={"step": [1], "loss": [0.5]},
        note="hi",
    )
    net2 = nn.Linear(3, 2)
    opt2 = torch.optim.Adam(net2.parameters(), lr=0.1)
    payload = io.load_checkpoint(path, {"net": net2, "opt": opt2})
    assert (
        payload["step"] == 7
        and payload["history"]["loss"] == [0.5]
        and payload["extra"]["note"] == "hi"
    )
    for a, b in zip(net.parameters(), net2.parameters()):
        assert torch.equal(a, b)
    assert opt2.state_dict()["state"][0]["step"] == opt.state_dict()["state"][0]["step"]
    assert [p.name for p in tmp_path.iterdir()] == ["ck.pt"]  # no temp files left


def test_crash_mid_write_keeps_old_checkpoint(tmp_path, monkeypatch):
    net, opt = _modules()
    path = io.save_checkpoint(tmp_path / "ck.pt", {"net": net}, step=1)
    good = path.read_bytes()
    real_save = torch.save

    def crashing_save(obj, fh, *a, **k):
        fh.write(b"partial garbage")  # half a file reaches the disk...
        raise KeyboardInterrupt  # ...then the process is interrupted

    monkeypatch.setattr(torch, "save", crashing_save)
    with torch.no_grad():
        net.weight.add_(1.0)
    with pytest.raises(KeyboardInterrupt):
        io.save_checkpoint(path, {"net": net}, step=2)
    monkeypatch.setattr(torch, "save", real_save)
    assert path.read_bytes() == good
    assert io.load_checkpoint(path)["step"] == 1
    assert sorted(os.listdir(tmp_path)) == ["ck.pt"]


def test_corrupt_checkpoint_is_refused_and_modules_untouched(tmp_path):
    net, _ = _modules()
    path = io.save_checkpoint(tmp_path / "ck.pt", {"net": net})
    path.write_bytes(path.read_bytes()[:50])  # truncated
    fresh = nn.Linear(3, 2)
    before = [p.clone() for p in fresh.parameters()]
    with pytest.raises(io.CheckpointError, match="corrupt or truncated"):
        io.load_checkpoint(path, {"net": fresh})
    assert all(torch.equal(a, b) for a, b in zip(before, fresh.parameters()))
    with pytest.raises(io.CheckpointError, match="No checkpoint"):
        io.load_checkpoint(tmp_path / "missing.pt")
    torch.save({"weights": 1}, tmp_path / "foreign.pt")
    with pytest.raises(io.CheckpointError, match="not a course_lib checkpoint"):
        io.load_checkpoint(tmp_path / "foreign.pt")
    io.save_checkpoint(tmp_path / "ok.pt", {"net": net})
    with pytest.raises(io.CheckpointError, match="no state for"):
        io.load_checkpoint(tmp_path / "ok.pt", {"other": fresh})


def test_device_helpers_choose_the_gpu_paths_only_for_cuda():
    net = nn.Conv2d(1, 2, 3)
    assert train.prepare(net, "cpu", conv=True, compile=True) is net  # no-ops off CUDA
    assert net.weight.is_contiguous()  # channels_last only on CUDA unless asked for
    cl = train.prepare(nn.Conv2d(4, 8, 3), "cpu", conv=True, channels_last=True)
    assert cl.weight.is_contiguous(memory_format=torch.channels_last)
    assert not cl.weight.is_contiguous()
    mlp = train.prepare(nn.Linear(3, 2), "cpu", conv=False, channels_last=True)  # convs only
    assert mlp.weight.is_contiguous()
    with pytest.raises(ValueError, match="channels_last"):
        train.prepare(net, "cpu", conv=True, channels_last="yes")
    with train.autocast("cpu"):  # default: fp32 on a CPU
        assert torch.ones(2, 2).matmul(torch.ones(2, 2)).dtype == torch.float32
    with train.autocast("cpu", enabled=True):  # bf16 on a CPU only when asked for
        assert torch.ones(2, 2).matmul(torch.ones(2, 2)).dtype == torch.bfloat16
    with train.autocast("mps", enabled=True):  # no bf16 autocast on other devices
        assert torch.ones(2, 2).matmul(torch.ones(2, 2)).dtype == torch.float32
    assert not train.adam(net.parameters(), 1e-3, device="cpu").defaults.get("fused")
    assert train.adam(net.parameters(), 1e-3, device="cuda").defaults["fused"] is True
    assert train.count_parameters(net) == 2 * 9 + 2


def test_native_bf16_is_read_from_the_cpus_instruction_flags():
    """avx512_bf16 or amx_bf16 in /proc/cpuinfo's flags; AVX-512 alone (bf16 emulated) or
    AVX2 is not native; the answer is a bool on every machine."""
    assert train.has_bf16_units("flags\t: fpu avx2 avx512f avx512bw avx512_bf16 avx512vl")
    assert train.has_bf16_units("flags : sse avx512f amx_bf16 amx_tile")
    assert not train.has_bf16_units("flags : sse avx2 avx512f avx512bw avx512_vnni")
    assert not train.has_bf16_units("flags : sse avx2 xavx512_bf16s")
    assert train.cpu_native_bf16() in (True, False)


def test_model_device_follows_the_parameters():
    net = nn.Linear(2, 2)
    assert train.model_device(net) == torch.device("cpu")
    assert train.model_device(net.to("meta")) == torch.device("meta")
    assert train.model_device(nn.ReLU()) == torch.device("cpu")


def test_ema_update_is_the_lerp_of_the_weights_and_copies_buffers():
    torch.manual_seed(0)
    model, ema = nn.BatchNorm1d(3), nn.BatchNorm1d(3)
    with torch.no_grad():
        model.weight.fill_(2.0)
        ema.weight.fill_(1.0)
        model.running_mean.fill_(5.0)
    train.ema_update(ema, model, 0.9)
    assert torch.allclose(ema.weight, torch.full((3,), 0.9 * 1.0 + 0.1 * 2.0))
    assert torch.equal(ema.running_mean, model.running_mean)
    train.ema_update(ema, model, 0.0)  # decay 0 copies the model
    assert torch.equal(ema.weight, model.weight)
    with pytest.raises(ValueError, match=r"decay must be in \[0, 1\]"):
        train.ema_update(ema, model, 1.5)


def test_linear_decay_reaches_zero_at_the_last_step():
    net = nn.Linear(2, 2)
    trainer = torch.optim.SGD(net.parameters(), lr=0.4)
    (sched,) = train.linear_decay([trainer], 4)
    lrs = []
    for _ in range(4):
        trainer.step()
        sched.step()
        lrs.append(trainer.param_groups[0]["lr"])
    assert lrs == pytest.approx([0.3, 0.2, 0.1, 0.0])


def test_log_means_are_read_back_in_one_go():
    out = train._means({"a": torch.tensor(3.0), "b": 6, "c": torch.tensor([9.0])}, 3)
    assert out == {"a": 1.0, "b": 2.0, "c": 3.0}
    calls = []
    real = train._means
    hist = train.train_loop(lambda s: {"x": torch.tensor(float(s)), "y": torch.tensor(1.0)},
                            10, log_every=4, progress=False)  # fmt: skip
    assert hist["x"] == [1.5, 5.5, 8.5] and hist["y"] == [1.0, 1.0, 1.0]

    def counting(sums, count):
        calls.append(count)
        return real(sums, count)

    train._means = counting
    try:
        train.train_loop(lambda s: {"x": torch.tensor(1.0)}, 10, log_every=4, progress=False)
    finally:
        train._means = real
    assert calls == [4, 4, 2]  # one read-back per log, not per step or per key


def test_progress_bar_modes(monkeypatch, capsys):
    monkeypatch.setenv("COURSE_PROGRESS", "text")
    train.train_loop(lambda s: {"loss": torch.tensor(2.0)}, 40, log_every=10, desc="demo")
    out = capsys.readouterr().out
    last = out.split("\r")[-1]
    assert last.startswith("demo: 100%") and "40/40" in last and "loss=2" in last
    assert out.count("\r") <= 3  # a few redraws, not one per step or per log
    monkeypatch.setenv("COURSE_PROGRESS", "off")
    train.train_loop(lambda s: {"loss": torch.tensor(2.0)}, 5, desc="quiet")
    assert "quiet" not in "".join(capsys.readouterr())
    monkeypatch.setenv("COURSE_PROGRESS", "fancy")
    with pytest.raises(ValueError, match="Allowed values: auto, text, off"):
        train.train_loop(lambda s: {}, 1)


def test_adam_on_cpu_takes_the_foreach_path_with_the_default_arithmetic():
    """train.adam uses the multi-tensor path on the CPU for speed; it must give the same
    weights bit for bit as PyTorch's per-tensor default, or every saved notebook output
    and benchmark row would drift."""

    def trained(make_opt):
        torch.manual_seed(0)
        net = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 3))
        opt = make_opt(net.parameters())
        g = torch.Generator().manual_seed(1)
        for _ in range(20):
            x = torch.randn(16, 1, 8, 8, generator=g)
            opt.zero_grad(set_to_none=True)
            net(x).square().mean().backward()
            opt.step()
        return opt, torch.cat([p.detach().flatten() for p in net.parameters()])

    ours, w_ours = trained(lambda p: train.adam(p, 1e-2, (0.5, 0.999)))
    _, w_ref = trained(lambda p: torch.optim.Adam(p, lr=1e-2, betas=(0.5, 0.999), foreach=False))
    assert ours.defaults["foreach"] is True
    assert torch.equal(w_ours, w_ref)
