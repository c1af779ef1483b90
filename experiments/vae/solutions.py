"""Measured answers to the exercises of notebooks 04 and 05, and the seed spread of the
notebook 05 sweep (fast budget; CPU, one torch thread). Results: experiments/vae/README.md.

    .venv/bin/python experiments/vae/solutions.py latent_dim   # notebook 04, exercise 1
    .venv/bin/python experiments/vae/solutions.py latent_dim 20 50   # only these sizes
    .venv/bin/python experiments/vae/solutions.py seeds        # notebook 05, seed spread
    .venv/bin/python experiments/vae/solutions.py dvae         # notebook 05, exercises 2, 4
    .venv/bin/python experiments/vae/solutions.py masking      # notebook 05, exercise 1
    .venv/bin/python experiments/vae/solutions.py gaussian_sigma   # notebook 04, exercise 2
    .venv/bin/python experiments/vae/solutions.py gaussian_sigma 0.05 0.1   # only these sigma
    .venv/bin/python experiments/vae/solutions.py free_bits    # notebook 04, exercise 3

Run with OMP_NUM_THREADS=1 HF_HUB_OFFLINE=1 COURSE_PROFILE=fast.
"""

from __future__ import annotations

import sys
import time

import torch

from course_lib import vae as V
from course_lib import vae_eval as VE
from course_lib.config import budget, seeded
from course_lib.data import batches, load_images, to_unit
from course_lib.train import adam, train_loop

torch.set_num_threads(1)
X_train, X_test = (to_unit(load_images("mnist5k", s)[0]) for s in ("train", "test"))
LEVELS = [round(0.05 * i, 2) for i in range(13)]  # notebook 05's test noise levels


def latent_dim(*dims: str) -> None:
    """Notebook 04, exercise 1, with the solution's code and the fast budget (``dims``: the
    latent sizes to run, default 2 5 20 50)."""
    B = budget("04_vae", "fast")
    X_test_bin = V.sample_bernoulli(X_test, torch.Generator().manual_seed(0))
    print(f"num_steps {B['num_steps']}; d, test -ELBO, -L_500 on 100 digits, active units")
    for d in map(int, dims or (2, 5, 20, 50)):
        t0 = time.perf_counter()
        m, _ = V.train_vae(X_train, B["num_steps"], latent_dim=d, seed=0, progress=False)
        e = VE.evaluate_elbo(m, X_test_bin, B["elbo_samples"])["elbo"]
        nll = -VE.evaluate_iwae(m, X_test_bin[:100], 500)
        au = VE.active_units(m, X_test_bin)[0]
        print(d, round(-e, 1), round(nll, 1), au, f"({time.perf_counter() - t0:.0f} s)", flush=True)


def seeds() -> None:
    """Notebook 05's four models retrained with seeds 1 and 2 (seed 0 is the notebook's)."""
    B = budget("05_denoising_vae", "fast")
    for seed in (0, 1, 2):
        for nu in (0.0, 0.1, 0.25, 0.5):
            m, _ = V.train_vae(X_train, B["num_steps"], binarize=False, noise_factor=nu,
                               seed=seed, progress=False)  # fmt: skip
            row = " ".join(f"{VE.evaluate_psnr(m, X_test, t):.2f}" for t in LEVELS)
            print(f"seed {seed} train {nu}: {row}", flush=True)


def train_custom(encoder_input, num_steps: int, seed: int = 0) -> V.VAE:
    """Solution 1's loop: a grey-level VAE whose encoder sees encoder_input(X, generator)."""
    torch.manual_seed(seed)
    net = V.VAE(20)
    trainer = adam(net.parameters(), 1e-3)
    data = batches(X_train, 100, generator=torch.Generator().manual_seed(seed))
    g = torch.Generator().manual_seed(seed + 1)

    def step_fn(step):
        X = next(data)
        trainer.zero_grad()
        loss = -V.elbo(net, X, encoder_input(X, g), g)["elbo"].mean()
        loss.backward()
        trainer.step()
        return {"neg_elbo": loss.detach()}

    train_loop(step_fn, num_steps, progress=False)
    return net.eval()


def dvae() -> None:
    """Exercise 2 (noise factor ~ U[0, 0.5] per step) and 4 (no clamp), fast budget."""
    B = budget("05_denoising_vae", "fast")
    runs = {
        "uniform [0, 0.5]": lambda X, g: V.corrupt(X, float(torch.rand(1, generator=g)) * 0.5, g),
        "0.25 clamped (own loop)": lambda X, g: V.corrupt(X, 0.25, g),
        "0.25 not clamped": lambda X, g: X + 0.25 * torch.randn(X.shape, generator=g),
    }
    for name, fn in runs.items():
        m = train_custom(fn, B["num_steps"])
        row = " ".join(f"{VE.evaluate_psnr(m, X_test, t):.2f}" for t in LEVELS)
        print(f"{name}: {row}", flush=True)


def masking() -> None:
    """Notebook 05, exercise 1: solution 1's code as printed (masking noise p = 0.25, fast
    budget; the global RNG seeded 0 by ``setup`` as in the notebook's first cell, batches seed
    0, masks seed 1), scored on the masked test digits (mask seed 0); then the notebook's plain
    VAE and Gaussian 0.25 model (``train_vae`` as its ``train(nu)``, seed 0) on the same masked
    input, and all three on the Gaussian 0.25 test noise and on clean digits."""
    from course_lib.config import setup

    cfg = setup("05_denoising_vae", verbose=False)
    B = budget("05_denoising_vae", "fast")
    t0 = time.perf_counter()

    # solution 1, as printed (one statement a line)
    def mask(X, p, generator=None):
        keep = torch.rand(X.shape, generator=generator) >= p
        return X * keep.to(X.device)

    net = V.VAE(20).to(cfg.device)
    trainer = adam(net.parameters(), 1e-3, device=cfg.device)
    data = batches(X_train, 100, generator=torch.Generator().manual_seed(0), device=cfg.device)
    g = torch.Generator().manual_seed(1)

    def step_fn(step):
        X = next(data)
        trainer.zero_grad()
        terms = V.elbo(net, X, mask(X, 0.25, g).to(X))
        loss = -terms["elbo"].mean()
        loss.backward()
        trainer.step()
        return {"neg_elbo": loss.detach()}

    train_loop(step_fn, B["num_steps"], desc="masking DVAE")
    x_in = mask(X_test, 0.25, torch.Generator().manual_seed(0))
    print(VE.psnr(net.reconstruct(x_in).cpu(), X_test).mean())
    print(f"masking model: {B['num_steps']} steps in {time.perf_counter() - t0:.0f} s", flush=True)

    models = {"masking p = 0.25 (solution 1)": net}
    for nu, name in ((0.0, "plain VAE"), (0.25, "Gaussian 0.25 (denoising VAE)")):
        models[name] = V.train_vae(X_train, B["num_steps"], binarize=False, noise_factor=nu,
                                   seed=cfg.seed, device=cfg.device, progress=False)[0]  # fmt: skip
    noisy = V.corrupt(X_test, 0.25, torch.Generator().manual_seed(0))
    print("PSNR (dB) against the clean test digits: masked p = 0.25 | Gaussian 0.25 | clean")
    print(f"{'the input itself':>30}: {VE.psnr(x_in, X_test).mean():6.2f} | "
          f"{VE.psnr(noisy, X_test).mean():6.2f} |    inf")  # fmt: skip
    for name, m in models.items():
        masked = VE.psnr(m.reconstruct(x_in).cpu(), X_test).mean()
        gauss, clean = VE.evaluate_psnr(m, X_test, 0.25), VE.evaluate_psnr(m, X_test, 0.0)
        print(f"{name:>30}: {masked:6.2f} | {gauss:6.2f} | {clean:6.2f}", flush=True)
    print(f"fraction of ink removed by the mask: {1 - x_in.sum() / X_test.sum():.3f}")


def gaussian_elbo(model, X, generator, sigma):
    """Notebook 04, solution 2: the ELBO per image with the Gaussian log-likelihood without
    its constant, -||x - mu(z)||^2 / (2 sigma^2), in place of the Bernoulli one."""
    mu, logvar = model.encode(X)
    logits = model.decode(V.reparameterize(mu, logvar, generator))
    rec = -((torch.sigmoid(logits) - X) ** 2).flatten(1).sum(1) / (2 * sigma**2)
    return rec - V.gaussian_kl(mu, logvar)


def gaussian_sigma(*sigmas: str) -> None:
    """Notebook 04, exercise 2: grey-level VAEs (latent_dim 20, seed 0, num_steps of the fast
    budget) trained by solution 2's loop (``train_vae``'s seeding, batches and Adam, with
    ``gaussian_elbo``); on the 500 grey test digits: total KL, active units, units with
    KL > 0.1 nats, per-pixel MSE and PSNR of the mean reconstruction sigmoid(decode(mu(x)));
    and its MSE on the training digits."""
    B = budget("04_vae", "fast")
    print(f"num_steps {B['num_steps']}; sigma, beta = 2 sigma^2, test KL (nats), active units, "
          f"units with KL > 0.1, MSE per pixel, PSNR (dB); training digits' MSE")  # fmt: skip
    for s in map(float, sigmas or (0.05, 0.1, 0.3, 1.0)):
        t0 = time.perf_counter()
        with seeded(0) as g:  # as solution 2 (and train_vae): weights, batches, eps
            m = V.VAE(20)
        trainer, data = adam(m.parameters(), 1e-3), batches(X_train, 100, generator=g)

        def step(i, m=m, trainer=trainer, data=data, g=g, s=s):
            loss = -gaussian_elbo(m, next(data), g, s).mean()
            trainer.zero_grad()
            loss.backward()
            trainer.step()
            return {"loss": loss.detach()}

        train_loop(step, B["num_steps"], progress=False)
        m.eval()
        kl = VE.kl_per_dim(m, X_test)
        mse = float((m.reconstruct(X_test) - X_test).pow(2).mean())
        mse_train = float((m.reconstruct(X_train) - X_train).pow(2).mean())
        psnr = VE.evaluate_psnr(m, X_test, 0.0)
        print(s, round(2 * s**2, 3), round(float(kl.sum()), 2), VE.active_units(m, X_test)[0],
              int((kl > 0.1).sum()), f"{mse:.4f}", f"{psnr:.2f}", f"{mse_train:.4f}",
              f"({time.perf_counter() - t0:.0f} s)", flush=True)  # fmt: skip


def free_bits_step(X, net, trainer, lam=0.5, beta=8.0):
    """Notebook 04, solution 3's step, as printed there (global RNG)."""
    x = V.sample_bernoulli(X)
    mu, logvar = net.encode(x)
    logits = net.decode(V.reparameterize(mu, logvar))
    rec = V.bernoulli_log_likelihood(logits, x).mean()
    kl_dims = (0.5 * (mu**2 + logvar.exp() - logvar - 1)).mean(0)  # (d,)
    loss = -rec + beta * kl_dims.clamp_min(lam).sum()
    trainer.zero_grad()
    loss.backward()
    trainer.step()
    return {"loss": loss.detach(), "kl": kl_dims.sum().detach()}


def free_bits() -> None:
    """Notebook 04, exercise 3: free_bits_step (lam 0.5, beta 8) for pitfall_steps (the
    beta = 8 runs of section 7), against the same loop with lam 0 (plain beta = 8) and
    against V.train_vae(beta=8), the notebook's run; all latent_dim 20, seed 0. On the
    binarised test digits: KL per dimension (sorted), how many within 0.4-0.6 nats and above
    0.1, active units, total KL, test -ELBO (beta = 1)."""
    B = budget("04_vae", "fast")
    X_test_bin = V.sample_bernoulli(X_test, torch.Generator().manual_seed(0))

    def own_loop(lam):
        torch.manual_seed(0)
        net = V.VAE(20)
        trainer = adam(net.parameters(), 1e-3)
        data = batches(X_train, 100, generator=torch.Generator().manual_seed(0))
        step = lambda s: free_bits_step(next(data), net, trainer, lam=lam, beta=8.0)  # noqa: E731
        train_loop(step, B["pitfall_steps"], progress=False)
        return net.eval()

    runs = {
        "free bits lam 0.5": lambda: own_loop(0.5),
        "same loop, lam 0": lambda: own_loop(0.0),
        "train_vae beta 8": lambda: V.train_vae(X_train, B["pitfall_steps"], latent_dim=20,
                                                beta=8.0, seed=0, progress=False)[0],
    }  # fmt: skip
    print(f"pitfall_steps {B['pitfall_steps']}; run: KL 0.4-0.6, KL > 0.1, active units, "
          f"total KL, test -ELBO; KL per dim sorted")  # fmt: skip
    for name, make in runs.items():
        t0 = time.perf_counter()
        m = make()
        kl = VE.kl_per_dim(m, X_test_bin)
        near = int(((kl - 0.5).abs() <= 0.1).sum())
        e = VE.evaluate_elbo(m, X_test_bin, B["elbo_samples"])["elbo"]
        print(
            f"{name}: {near} {int((kl > 0.1).sum())} {VE.active_units(m, X_test_bin)[0]} "
            f"{float(kl.sum()):.2f} {-e:.1f} ({time.perf_counter() - t0:.0f} s)"
        )
        print("  ", " ".join(f"{v:.2f}" for v in kl.sort(descending=True).values), flush=True)


if __name__ == "__main__":
    commands = {"latent_dim": latent_dim, "seeds": seeds, "dvae": dvae, "masking": masking,
                "gaussian_sigma": gaussian_sigma, "free_bits": free_bits}  # fmt: skip
    commands[sys.argv[1]](*sys.argv[2:])
