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


def test_device_helpers_on_cpu():
    net = nn.Conv2d(1, 2, 3)
    assert train.prepare(net, "cpu", conv=True, compile=True) is net  # no-ops off CUDA
    with train.autocast("cpu"):
        assert torch.ones(2, 2).matmul(torch.ones(2, 2)).dtype == torch.float32
    opt = train.adam(net.parameters(), 1e-3, device="cpu")
    assert not opt.defaults.get("fused")
    assert train.count_parameters(net) == 2 * 9 + 2
