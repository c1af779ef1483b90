"""course_lib.wgan_train: the convolutional WGAN-GP of notebook 08 trained long and shipped;
the critic's per-sample normalisation; save at every scoring; clear errors when altered."""

import json

import pytest
import torch

from course_lib import dcgan, gan, io, wgan, wgan_train
from course_lib.config import seeded
from course_lib.data import batches, load_images


@pytest.fixture(scope="module")
def digits():
    X, _ = load_images("mnist5k", "train")
    return X[::30]  # 150 digits: enough for a few steps


def test_layer_norm_critic_scores_each_sample_on_its_own():
    """norm="layer": a sample's score does not depend on the rest of the batch (the gradient
    penalty is per sample); BatchNorm's does. Unknown norms are refused."""
    x = torch.randn(6, 1, 28, 28)
    for norm, independent in (("layer", True), ("batch", False)):
        with seeded(0):
            D = dcgan.DCGANDiscriminator(8, norm=norm).train()
        alone, together = D(x[:1]), D(x)[:1]
        assert torch.allclose(alone, together, atol=1e-5) == independent, norm
    with pytest.raises(ValueError, match="Unknown norm 'instance'. Allowed values: batch, layer"):
        dcgan.DCGANDiscriminator(8, norm="instance")


def test_train_wgan_gp_is_the_critic_and_generator_steps_of_notebook_08(digits):
    """Bit for bit: n_critic wgan.critic_step calls then one Wasserstein generator_step."""
    (G, D), hist = wgan_train.train_wgan_gp(digits, 2, channels=8, seed=1, n_critic=2,
                                            ema_decay=None, threads=1, progress=False)  # fmt: skip
    with seeded(1) as g:
        net_G = dcgan.DCGANGenerator(100, 8)
        net_D = dcgan.DCGANDiscriminator(8, norm="layer")
    opt_G = torch.optim.Adam(net_G.parameters(), wgan_train.LR, betas=(0.5, 0.9))
    opt_D = torch.optim.Adam(net_D.parameters(), wgan_train.LR, betas=(0.5, 0.9))
    real = batches(digits, 64, generator=g)
    for _ in range(2):
        for _ in range(2):
            wgan.critic_step(next(real), torch.randn(64, 100, generator=g), net_D, net_G, opt_D,
                             gp_weight=10.0, generator=g)  # fmt: skip
        gan.generator_step(torch.randn(64, 100, generator=g), net_D, net_G, opt_G,
                           kind="wasserstein")  # fmt: skip
    for a, b in zip(G.state_dict().values(), net_G.state_dict().values()):
        assert torch.equal(a, b)
    assert not G.training and {"w_estimate", "gp", "loss_G"} <= set(hist)
    with pytest.raises(ValueError, match="n_critic must be >= 1"):
        wgan_train.train_wgan_gp(digits, 2, n_critic=0)


def test_command_line_saves_at_every_scoring_and_checks(digits, tmp_path, capsys):
    """The artefact is written at each scoring step (a stopped run keeps its last snapshot)
    and loads with its checksums; the manifest holds the recipe and both FID curves."""
    out = tmp_path / "wgan"
    assert wgan_train.main(["train", "--out", str(out), "--steps", "4", "--channels", "8",
                            "--threads", "1", "--score-every", "2", "--n-critic", "1"]) == 0
    assert capsys.readouterr().out.count("saved ") == 2
    G, info = wgan_train.load_pretrained(out)
    prov = info["provenance"]
    assert prov["steps"] == 4 and prov["planned_steps"] == 4 and prov["n_critic"] == 1
    assert prov["history"]["score_step"] == [2, 4] and len(prov["history"]["fid_ema"]) == 2
    assert prov["seed"] == 3 and prov["betas"] == [0.5, 0.9] and prov["gp_weight"] == 10
    assert wgan_train.main(["check", str(out)]) == 0
    assert "1 critic steps per G step (penalty 10)" in capsys.readouterr().out


def test_missing_or_altered_checkpoint_is_a_clear_error(tmp_path):
    with pytest.raises(io.CheckpointError, match="No shipped artefact.*wgan_train train"):
        wgan_train.load_pretrained(tmp_path / "none")
    out = wgan_train.dcgan_train.save_pretrained(
        tmp_path / "g", dcgan.DCGANGenerator(100, 8), 8, io.provenance("cmd", 1, 0, None))
    manifest = json.loads((out / io.MANIFEST).read_text())
    (out / io.CONFIG).write_text(json.dumps({"latent_dim": 100, "channels": 16}))
    manifest["files"][io.CONFIG] = io.sha256_file(out / io.CONFIG)
    (out / io.MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(io.CheckpointError, match="does not hold a convolutional WGAN-GP"):
        wgan_train.load_pretrained(out)


def test_runs_side_by_side_train_exactly_as_alone(digits):
    """Notebook 08 trains the conv run beside the MLP runs in threads: each builds its nets
    from the global RNG under parallel.GLOBAL_RNG, so the weights do not depend on timing."""
    from course_lib import parallel

    def conv(seed):
        return wgan_train.train_wgan_gp(digits, 2, channels=8, seed=seed, n_critic=1,
                                        ema_decay=None, progress=False)[0][0]  # fmt: skip

    def mlp(seed):
        return wgan.train_wgan(digits, 2, seed=seed, hidden=16, n_critic=1, threads=None,
                               progress=False)[0][0]  # fmt: skip

    def run(kind, seed):
        return conv(seed) if kind == "conv" else mlp(seed)

    jobs = {f"{k}{s}": {"kind": k, "seed": s} for s in (1, 2) for k in ("conv", "mlp")}
    together = parallel.side_by_side(run, jobs, workers=4)
    for label, kw in jobs.items():
        alone = run(**kw)
        for a, b in zip(alone.state_dict().values(), together[label].state_dict().values()):
            assert torch.equal(a, b), label


def test_train_wgan_gp_refuses_digits_outside_minus_one_one():
    with pytest.raises(ValueError, match=r"needs images in \[-1, 1\]"):
        wgan_train.train_wgan_gp(torch.rand(16, 1, 28, 28), 2, channels=8, progress=False)
