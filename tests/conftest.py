import os

import matplotlib

matplotlib.use("Agg")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402


@pytest.fixture(autouse=True)
def _seed_and_clean_env(monkeypatch):
    """Every test starts seeded, with no course env variables leaking in from the shell."""
    for var in ("COURSE_PROFILE", "COURSE_DEVICE", "COURSE_DATA_DIR"):
        monkeypatch.delenv(var, raising=False)
    torch.manual_seed(0)
    yield
    plt.close("all")
