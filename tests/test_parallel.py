"""course_lib.parallel (notebooks 06 and 07): runs side by side on one thread each give
the same results as alone, in the order of the jobs, with clear errors."""

import pytest
import torch

from course_lib import parallel, rbm, rbm_eval
from course_lib.config import seeded


def test_side_by_side_keeps_order_thread_count_and_raises_errors():
    before = torch.get_num_threads()
    seen = []

    def job(x, threads=None):
        seen.append(torch.get_num_threads())
        if x < 0:
            raise ValueError(f"negative {x}")
        return x * 2

    out = parallel.side_by_side(job, {"b": {"x": 2}, "a": {"x": 1}, "c": {"x": 3}})
    assert list(out.items()) == [("b", 4), ("a", 2), ("c", 6)]
    assert seen == [1, 1, 1] and torch.get_num_threads() == before
    with pytest.raises(ValueError, match="negative -1"):
        parallel.side_by_side(job, {"ok": {"x": 1}, "bad": {"x": -1}})
    with pytest.raises(ValueError, match="workers must be >= 1"):
        parallel.side_by_side(job, {"a": {"x": 1}}, workers=0)
    with pytest.raises(ValueError, match="threads=None"):
        parallel.side_by_side(job, {"a": {"x": 1, "threads": 2}})
    assert torch.get_num_threads() == before


def test_global_rng_lock_serialises_seeded_blocks():
    """Two threads seeding the global RNG under GLOBAL_RNG draw what each draws alone."""
    def draw(seed):
        with parallel.GLOBAL_RNG, seeded(seed):
            return torch.randn(20_000)

    alone = {s: draw(s) for s in (1, 2, 3, 4)}
    got = parallel.side_by_side(draw, {s: {"seed": s} for s in (1, 2, 3, 4)})
    assert all(torch.equal(got[s], alone[s]) for s in alone)


def test_rbm_training_and_ais_side_by_side_equal_alone():
    """Notebook 06: the three RBMs and their AIS estimates, two at a time, are the models and
    numbers of one-thread runs one after the other."""
    torch.manual_seed(0)
    X = (torch.rand(200, 36) < 0.3).float()
    settings = {"CD-1": dict(method="cd", k=1), "CD-3": dict(method="cd", k=3),
                "PCD": dict(method="pcd", k=1, num_chains=20)}  # fmt: skip
    jobs = {n: dict(data=X, num_steps=15, n_hidden=8, batch_size=20, seed=0, progress=False,
                    **kw) for n, kw in settings.items()}  # fmt: skip
    together = parallel.side_by_side(rbm.train_rbm, jobs)
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        alone = {n: rbm.train_rbm(**kw) for n, kw in jobs.items()}
    finally:
        torch.set_num_threads(before)
    for n in settings:
        (m1, h1), (m2, h2) = together[n], alone[n]
        assert h1 == h2 and all(torch.equal(a, b) for a, b in zip(m1.parameters(), m2.parameters()))
    base = rbm_eval.base_rate_bias(X)
    ais = {n: dict(model=m, X_test=X[:50], base_bias=base, num_betas=50, num_chains=10,
                   ais_runs=2, seed=0) for n, (m, _) in alone.items()}  # fmt: skip
    a = parallel.side_by_side(rbm_eval.evaluate_rbm, ais)
    b = {n: rbm_eval.evaluate_rbm(**kw) for n, kw in ais.items()}
    assert a == b


def test_side_by_side_timed_reports_each_jobs_own_time():
    import time

    out = parallel.side_by_side(lambda s: time.sleep(s) or s, {"a": {"s": 0.2}, "b": {"s": 0.05}},
                                timed=True)  # fmt: skip
    assert out["a"][0] == 0.2 and 0.2 <= out["a"][1] < 1.0 and 0.05 <= out["b"][1] < 0.2


def test_side_by_side_text_bars_write_one_final_line_each(monkeypatch, capsys):
    """Headless runs (COURSE_PROGRESS=text) save bars as text: runs side by side write only
    their final state, one line each, instead of interleaved updates."""
    import time

    from course_lib import train

    monkeypatch.setenv("COURSE_PROGRESS", "text")

    def job(name: str, steps: int) -> str:
        def step(s: int) -> dict:
            time.sleep(0.002)
            return {"loss": torch.tensor(1.0)}

        train.train_loop(step, steps, log_every=5, desc=name)
        return name

    assert parallel.side_by_side(job, {k: {"name": k, "steps": 30} for k in "ab"}) == {
        "a": "a", "b": "b"}
    out = capsys.readouterr().out
    lines = [line.strip("\r") for line in out.splitlines() if line.strip()]
    assert sorted(line.split(":")[0] for line in lines) == ["a", "b"]  # one line per run
    assert all("100%" in line and "30/30" in line and "\x1b[" not in line for line in lines)
    assert out.count("\r") == 2  # no redraws while running
    train.train_loop(lambda s: {"loss": torch.tensor(1.0)}, 5, desc="alone")  # outside: as before
    assert "alone:   0%" in capsys.readouterr().out
