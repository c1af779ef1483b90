"""course_lib.viz helpers that notebooks rely on for what a static reader sees."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402

from course_lib import viz  # noqa: E402


def test_plot_score_curves_draws_the_manifest_history_and_the_reference():
    prov = {"ema_decay": 0.999, "history": {"score_step": [1000, 2000], "fid_raw": [90.0, 70.0],
                                            "fid_ema": [120.0, 60.0]}}  # fmt: skip
    fig, ax = plt.subplots()
    viz.plot_score_curves(prov, reference=43.2, ax=ax)
    lines = {line.get_label(): line for line in ax.get_lines()}
    assert list(lines["raw G"].get_ydata()) == [90.0, 70.0]
    assert list(lines["moving average of G (decay 0.999)"].get_xdata()) == [1000, 2000]
    assert list(lines["real digits + noise σ=0.25"].get_ydata()) == [43.2, 43.2]
    assert ax.get_ylim()[0] == 0
    fig, ax = plt.subplots()
    viz.plot_score_curves(prov, ax=ax, ymax=100)
    assert ax.get_ylim() == (0, 100)
    fig, ax = plt.subplots()  # a run shipped without the average: one curve, no reference
    viz.plot_score_curves({"history": {"score_step": [5], "fid_raw": [1.0]}}, ax=ax)
    assert [line.get_label() for line in ax.get_lines()] == ["raw G"]
    plt.close("all")
