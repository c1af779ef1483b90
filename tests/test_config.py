import pytest
import torch

from course_lib import config


def test_profiles_resolve(monkeypatch):
    for name in ("smoke", "fast", "full"):
        monkeypatch.setenv("COURSE_PROFILE", name)
        assert config.get_profile() == name
    monkeypatch.setenv("COURSE_PROFILE", "auto")
    assert config.get_profile(device=torch.device("cpu")) == "fast"
    assert config.get_profile(device=torch.device("cuda")) == "full"
    monkeypatch.setenv("COURSE_PROFILE", " Smoke ")
    assert config.get_profile() == "smoke"


def test_unknown_profile_lists_allowed_values(monkeypatch):
    monkeypatch.setenv("COURSE_PROFILE", "turbo")
    with pytest.raises(ValueError) as err:
        config.get_profile()
    for allowed in ("smoke", "fast", "full", "auto"):
        assert allowed in str(err.value)


def test_unknown_device_lists_allowed_values(monkeypatch):
    monkeypatch.setenv("COURSE_DEVICE", "tpu")
    with pytest.raises(ValueError) as err:
        config.get_device()
    assert "cpu" in str(err.value) and "cuda" in str(err.value) and "mps" in str(err.value)


def test_missing_device_is_an_error_not_a_fallback(monkeypatch):
    if torch.cuda.is_available():
        pytest.skip("a CUDA device is present")
    monkeypatch.setenv("COURSE_DEVICE", "cuda")
    with pytest.raises(RuntimeError, match="no CUDA"):
        config.get_device()


def test_device_auto_and_override(monkeypatch):
    monkeypatch.setenv("COURSE_DEVICE", "cpu")
    assert config.get_device().type == "cpu"
    expected = "cuda" if torch.cuda.is_available() else None
    if expected:
        assert config.get_device("auto").type == expected


def test_every_budget_has_every_profile():
    for notebook, rows in config.BUDGETS.items():
        assert set(rows) == set(config.PROFILES), notebook
        keys = [set(rows[p]) for p in config.PROFILES]
        assert keys[0] == keys[1] == keys[2], f"{notebook}: profiles disagree on budget keys"


def test_every_budget_key_is_changed_by_some_profile():
    """DESIGN.md: a value that no profile changes is a default or an argument, not a budget
    key (it would only hide a constant behind a lookup)."""
    for notebook, rows in config.BUDGETS.items():
        for key in rows["fast"]:
            values = {repr(rows[p][key]) for p in config.PROFILES}
            assert len(values) > 1, f"{notebook}: {key!r} is the same in every profile"


def test_budget_is_read_only_and_unknown_notebook_errors():
    b = config.budget("01_gan_minimax", "smoke")
    with pytest.raises(TypeError):
        b[next(iter(b))] = 1  # type: ignore[index]
    with pytest.raises(ValueError, match="Unknown notebook .99_nope.. Allowed values: 01_gan"):
        config.budget("99_nope", "smoke")


def test_check_choice_is_the_one_error_style():
    assert config.check_choice("method", "pcd", ("cd", "pcd")) == "pcd"
    with pytest.raises(ValueError) as err:
        config.check_choice("schedule", "cosinus", ("linear", "cosine"), "See notebook 09.")
    assert str(err.value) == ("Unknown schedule 'cosinus'. Allowed values: linear, cosine. "
                              "See notebook 09.")  # fmt: skip


def test_seeded_scope_repeats_and_leaves_the_global_stream_alone():
    torch.manual_seed(123)
    expected_next = torch.rand(2)
    torch.manual_seed(123)
    with config.seeded(5) as g:
        a = torch.nn.Linear(4, 3).weight.clone(), torch.rand(2, generator=g)
    assert torch.equal(torch.rand(2), expected_next)  # the caller's stream is untouched
    with config.seeded(5) as g:
        b = torch.nn.Linear(4, 3).weight.clone(), torch.rand(2, generator=g)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])


def test_set_seed_reproducible():
    g1 = config.set_seed(3)
    a = torch.randn(3), torch.randn(2, generator=g1)
    g2 = config.set_seed(3)
    b = torch.randn(3), torch.randn(2, generator=g2)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])


def test_setup_prints_profile_device_seed(monkeypatch, capsys):
    monkeypatch.setenv("COURSE_PROFILE", "smoke")
    monkeypatch.setenv("COURSE_DEVICE", "cpu")
    cfg = config.setup("01_gan_minimax", seed=7)
    out = capsys.readouterr().out
    assert "profile=smoke" in out and "device=cpu" in out and "seed=7" in out
    assert "torch=" in out
    assert cfg.budget == config.budget("01_gan_minimax", "smoke")
