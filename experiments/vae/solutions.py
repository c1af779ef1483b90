"""Measured answers to the exercises of notebooks 04 and 05, and the seed spread of the
notebook 05 sweep (fast budget; CPU, one torch thread). Results: experiments/vae/README.md.

    .venv/bin/python experiments/vae/solutions.py latent_dim   # notebook 04, exercise 1
    .venv/bin/python experiments/vae/solutions.py latent_dim 20 50   # only these sizes
    .venv/bin/python experiments/vae/solutions.py seeds        # notebook 05, seed spread
    .venv/bin/python experiments/vae/solutions.py dvae         # notebook 05, exercises 2, 4
"""

from __future__ import annotations

import sys
import time

import torch

from course_lib import vae as V
from course_lib import vae_eval as VE
from course_lib.config import budget
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


if __name__ == "__main__":
    {"latent_dim": latent_dim, "seeds": seeds, "dvae": dvae}[sys.argv[1]](*sys.argv[2:])
