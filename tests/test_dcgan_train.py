"""course_lib.dcgan_train: notebook 02's recipe trained longer and shipped (safetensors +
MANIFEST.json), loaded offline with its checksums, clear errors when it is missing or
altered."""

import json

import pytest
import torch

from course_lib import dcgan, dcgan_train, gan, io
from course_lib.config import seeded
from course_lib.data import load_images


@pytest.fixture(scope="module")
def digits():
    X, _ = load_images("mnist5k", "train")
    return X[::30]  # 150 digits: enough for a few steps


def test_train_dcgan_is_notebook_02s_recipe(digits):
    """The same weights as notebook 02's / bench_dcgan's own calls, bit for bit."""
    (G, _), _ = dcgan_train.train_dcgan(digits, 3, channels=8, seed=1, threads=1,
                                        progress=False)  # fmt: skip
    with seeded(1) as g:
        net_G, net_D = dcgan.DCGANGenerator(100, 8), dcgan.DCGANDiscriminator(8)
    (ref, _), _ = gan.train_gan(
        digits, 3, net_G=net_G, net_D=net_D, latent_dim=100, latent_kind="gaussian",
        batch_size=64, lr=dcgan_train.LR, betas=(0.5, 0.999), generator=g, log_every=10,
        threads=1, progress=False, bf16=dcgan_train.fast_bf16("cpu"),
        channels_last=dcgan_train.fast_channels_last("cpu"),
    )  # fmt: skip
    assert dcgan_train.LR == 2e-3 and not G.training
    for a, b in zip(G.state_dict().values(), ref.state_dict().values()):
        assert torch.equal(a, b)
    with pytest.raises(ValueError, match="num_steps must be >= 1"):
        dcgan_train.train_dcgan(digits, 0)


def test_fast_bf16_puts_d_in_bf16_only_on_cpus_with_native_bf16(monkeypatch, digits):
    """The notebook's precision: D in bf16 where the CPU computes bf16 natively, fp32 on
    other CPUs, train_gan's default (bf16 on CUDA) on a GPU; train_dcgan's "auto" is it."""
    for native, expected in ((True, "D"), (False, False)):
        monkeypatch.setattr(dcgan_train, "cpu_native_bf16", lambda native=native: native)
        assert dcgan_train.fast_bf16("cpu") == expected
        assert dcgan_train.fast_bf16("cuda") is None
    calls = []
    monkeypatch.setattr(dcgan_train, "train_gan", lambda *a, **kw: calls.append(
        (kw["bf16"], kw["channels_last"])) or ((kw["net_G"], None), {}))  # fmt: skip
    for native in (True, False):
        monkeypatch.setattr(dcgan_train, "cpu_native_bf16", lambda native=native: native)
        dcgan_train.train_dcgan(digits, 1, channels=8, progress=False)
    dcgan_train.train_dcgan(digits, 1, channels=8, progress=False, bf16=True,
                            channels_last=False)  # fmt: skip
    assert calls == [("D", True), (False, None), (True, False)]


def test_fast_channels_last_goes_with_d_in_bf16(monkeypatch):
    """channels_last on the CPU only where D runs in bf16 (where it was screened); train_gan's
    default (CUDA only) elsewhere."""
    for native, expected in ((True, True), (False, None)):
        monkeypatch.setattr(dcgan_train, "cpu_native_bf16", lambda native=native: native)
        assert dcgan_train.fast_channels_last("cpu") is expected
        assert dcgan_train.fast_channels_last("cuda") is None


def test_moving_average_and_scores_during_training(digits):
    """ema_decay returns the average of G's weights (decay 1: the initial weights, decay 0:
    the raw weights); score_every records the protocol's FID of both at those steps."""
    (raw, _), _ = dcgan_train.train_dcgan(digits, 4, channels=8, seed=1, threads=1,
                                          progress=False)  # fmt: skip
    (same, _), _ = dcgan_train.train_dcgan(digits, 4, channels=8, seed=1, threads=1,
                                           progress=False, ema_decay=1e-12)  # fmt: skip
    (frozen, _), hist = dcgan_train.train_dcgan(digits, 4, channels=8, seed=1, threads=1,
                                                progress=False, ema_decay=1.0,
                                                score_every=2)  # fmt: skip
    with seeded(1):
        init = dcgan.DCGANGenerator(100, 8)
    w = "net.0.weight"
    assert torch.allclose(same.state_dict()[w], raw.state_dict()[w], atol=1e-6)
    assert torch.equal(frozen.state_dict()[w], init.state_dict()[w])
    assert not torch.equal(raw.state_dict()[w], init.state_dict()[w])
    assert not frozen.training
    assert hist["score_step"] == [2, 4]
    assert len(hist["fid_raw"]) == len(hist["fid_ema"]) == 2
    assert hist["fid_raw"][0] != hist["fid_ema"][0] and min(hist["fid_raw"]) > 0


def test_command_line_ships_and_checks_the_generator(digits, tmp_path, capsys):
    out = tmp_path / "dcgan"
    assert dcgan_train.main(["train", "--out", str(out), "--steps", "2", "--channels", "8",
                             "--threads", "1", "--seed", "0", "--ema", "0",
                             "--score-every", "0", "--precision", "default"]) == 0  # fmt: skip
    assert {p.name for p in out.iterdir()} == {io.CONFIG, io.MANIFEST, io.WEIGHTS}
    G, info = dcgan_train.load_pretrained(out)
    prov = info["provenance"]
    assert prov["steps"] == 2 and prov["command"].startswith("python -m course_lib.dcgan_train")
    assert info["config"] == {"latent_dim": 100, "channels": 8}
    assert dcgan_train.main(["check", str(out)]) == 0
    assert prov["lr"] == dcgan_train.LR and prov["seed"] == 0
    assert prov["bf16"] == "None"  # --precision default: train_gan's (fp32 on a CPU)
    assert prov["channels_last"] == "None"
    assert "OK dcgan: 2 steps of batch 64, Adam 0.002, " in capsys.readouterr().out
    # the loaded generator is the trained one: same images from the same latents
    X, _ = load_images("mnist5k", "train")
    (trained, _), _ = dcgan_train.train_dcgan(X, 2, channels=8, threads=1, progress=False,
                                              bf16=None, channels_last=None)  # fmt: skip
    z = torch.randn(4, 100, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert torch.equal(G(z), trained(z))


def test_missing_or_altered_checkpoint_is_a_clear_error(tmp_path):
    with pytest.raises(io.CheckpointError, match="No shipped artefact.*dcgan_train train"):
        dcgan_train.load_pretrained(tmp_path / "none")
    G = dcgan.DCGANGenerator(100, 8)
    out = dcgan_train.save_pretrained(tmp_path / "g", G, 8, io.provenance("cmd", 1, 0, None))
    weights = out / io.WEIGHTS
    weights.write_bytes(weights.read_bytes()[:-10])
    with pytest.raises(io.CheckpointError, match="altered or truncated"):
        dcgan_train.load_pretrained(out)
    out = dcgan_train.save_pretrained(tmp_path / "h", G, 8, io.provenance("cmd", 1, 0, None))
    manifest = json.loads((out / io.MANIFEST).read_text())
    (out / io.CONFIG).write_text(json.dumps({"latent_dim": 100, "channels": 16}))
    manifest["files"][io.CONFIG] = io.sha256_file(out / io.CONFIG)
    (out / io.MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(io.CheckpointError, match="does not hold a notebook-02 DCGAN"):
        dcgan_train.load_pretrained(out)


def test_command_defaults_are_the_shipped_recipe():
    """REBUILD relies on the defaults: they must be the recipe the shipped manifest records."""
    args = dcgan_train._parser().parse_args(["train"])
    assert (args.steps, args.precision, args.lr, args.seed) == (
        dcgan_train.SHIPPED_STEPS, "fast", dcgan_train.LR, 3)
    prov = dcgan_train.load_pretrained()[1]["provenance"]
    assert (prov["steps"], prov["lr"], prov["seed"], prov["ema_decay"]) == (
        args.steps, args.lr, args.seed, args.ema)
