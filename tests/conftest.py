import os

import matplotlib

matplotlib.use("Agg")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

# Unit tests use small tensors: one intra-op thread avoids OpenMP spin-waiting, which made
# tiny-model tests 10-30x slower on a busy 2-core machine (measured).
torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _seed_and_clean_env(monkeypatch):
    """Every test starts seeded, with no course env variables leaking in from the shell."""
    for var in ("COURSE_PROFILE", "COURSE_DEVICE", "COURSE_DATA_DIR"):
        monkeypatch.delenv(var, raising=False)
    torch.manual_seed(0)
    yield
    plt.close("all")
