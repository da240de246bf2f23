"""Figures of histories: panels, one line per run, diverged runs, PNG output."""

from __future__ import annotations

import math

import matplotlib

matplotlib.use("Agg")

import matplotlib.image
from matplotlib.backends.backend_agg import FigureCanvasAgg
import numpy as np
import pytest
from matplotlib.figure import Figure

import symupdates as su
from symupdates import lab
from symupdates.lab.history import History
from symupdates.lab.plotting import run_lines

PANELS = ["training loss (EMA 0.9)", "validation loss", "validation accuracy"]


def scripted(name, rate, steps=50, diverge_at=None):
    """A history with decaying loss and rising accuracy; NaN from ``diverge_at`` on."""
    h = History({"name": name})
    for step in range(1, steps + 1):
        loss = 2.0 * rate**step if diverge_at is None or step < diverge_at else math.nan
        h.record_train(step=step, epoch=0, loss=loss, accuracy=0.5, learning_rate=0.1, grad_norm=1.0,
                       update_ratio=1e-3, time=0.01 * step)
        if step % 10 == 0:
            h.record_valid(step=step, epoch=0, loss=loss, accuracy=1 - rate**step, time=0.01 * step)
    h.stopped = "diverged" if diverge_at is not None else "max_steps"
    return h


def test_one_history():
    fig = lab.plot_histories(scripted("adam", 0.95))
    assert isinstance(fig, Figure)
    assert [ax.get_title() for ax in fig.axes] == PANELS
    assert [len(run_lines(ax)) for ax in fig.axes] == [1, 1, 1]
    train = run_lines(fig.axes[0])[0]
    np.testing.assert_array_equal(train.get_xdata(), np.arange(1, 51))
    np.testing.assert_array_equal(fig.axes[2].get_lines()[0].get_xdata(), [10, 20, 30, 40, 50])
    assert fig.axes[0].get_yscale() == "log" and fig.axes[2].get_yscale() == "linear"


@pytest.mark.parametrize("container", ["dict", "list"])
def test_several_runs_share_axes_with_one_line_each(container):
    runs = {"sgd": scripted("sgd", 0.99), "adam": scripted("adam", 0.95), "rmsprop": scripted("rmsprop", 0.97)}
    fig = lab.plot_histories(runs if container == "dict" else list(runs.values()), target_accuracy=0.91, title="study")
    for ax in fig.axes[:3]:
        lines = run_lines(ax)
        assert [line.get_label() for line in lines] == list(runs)
        assert len({line.get_color() for line in lines}) == 3
    guide = [line for line in fig.axes[2].get_lines() if line.get_gid() == "target"]
    assert len(guide) == 1 and list(guide[0].get_ydata()) == [0.91, 0.91]
    (legend,) = fig.legends
    assert [t.get_text() for t in legend.get_texts()] == list(runs)
    assert fig.get_suptitle() == "study"


def test_the_legend_is_below_the_panels_and_covers_no_curve():
    runs = {f"rule {i}  lr=1e-{i}": scripted(f"rule {i}", 0.9 + i / 200) for i in range(16)}
    fig = lab.plot_histories(runs)
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    renderer = canvas.get_renderer()
    (legend,) = fig.legends
    box = legend.get_window_extent(renderer)
    for ax in fig.axes[:3]:
        panel = ax.get_tightbbox(renderer)
        assert box.y1 <= panel.y0 + 1, (box, panel)  # entirely below every panel and its tick labels


def test_the_step_axis_ends_at_the_data_and_the_inset_zooms_into_the_top():
    runs = {"fast": scripted("fast", 0.8), "slow": scripted("slow", 0.93), "stuck": scripted("stuck", 0.99)}
    fig = lab.plot_histories(runs)
    assert [ax.get_xlim() for ax in fig.axes[:3]] == [(0.0, 50.0)] * 3
    (inset,) = fig.axes[2].child_axes
    assert inset.get_title() == "top of the accuracy"
    finals = {name: h.valid["accuracy"][-1] for name, h in runs.items()}
    low, high = inset.get_ylim()
    # "stuck" ends more than 5 points below the best: the inset leaves it out and zooms on the other two
    assert finals["stuck"] < low < finals["slow"] and high >= finals["fast"] and high - low < 0.2
    assert inset.get_xlim() == (25.0, 50.0)


def test_more_than_ten_runs_repeat_the_colours_with_another_line_style():
    runs = {f"run {i}": scripted(f"run {i}", 0.9) for i in range(12)}
    lines = run_lines(lab.plot_histories(runs).axes[2])
    looks = [(line.get_color(), line.get_linestyle()) for line in lines]
    assert len(set(looks)) == 12
    assert looks[10] == (looks[0][0], "--") and looks[0][1] == "-"


@pytest.mark.parametrize("suffix, magic", [(".svg", b"<?xml"), (".pdf", b"%PDF")])
def test_svg_and_pdf_follow_the_suffix(tmp_path, suffix, magic):
    path = tmp_path / f"curves{suffix}"
    lab.plot_histories({"a": scripted("a", 0.9), "b": scripted("b", 0.95)}, path=path)
    assert path.read_bytes().startswith(magic)


def test_smoothing_of_the_training_loss():
    h = History({"name": "noisy"})
    losses = [1.0, 3.0, 1.0, 3.0]
    for step, loss in enumerate(losses, start=1):
        h.record_train(step=step, epoch=0, loss=loss, accuracy=0.5, learning_rate=0.1, grad_norm=1.0,
                       update_ratio=1e-3, time=0.0)
    raw = run_lines(lab.plot_histories(h, smoothing=0).axes[0])[0].get_ydata()
    np.testing.assert_array_equal(raw, losses)
    smooth = run_lines(lab.plot_histories(h, smoothing=0.5).axes[0])[0].get_ydata()
    np.testing.assert_allclose(smooth, [1.0, 2.0, 1.5, 2.25])


def test_diverged_run_is_labelled_and_ends_at_its_last_finite_loss():
    runs = {"ok": scripted("ok", 0.95), "sgd 0.2": scripted("sgd 0.2", 0.95, diverge_at=25)}
    fig = lab.plot_histories(runs)
    labels = [line.get_label() for line in run_lines(fig.axes[0])]
    assert labels == ["ok", "sgd 0.2 (diverged)"]
    y = run_lines(fig.axes[0])[1].get_ydata()
    assert np.isfinite(y[:24]).all() and np.isnan(y[24:]).all()
    [marker] = fig.axes[0].collections  # the cross where the diverged curve ends
    np.testing.assert_allclose(marker.get_offsets()[0], [24, y[23]])


def test_png_is_a_real_image(tmp_path):
    path = tmp_path / "curves.png"
    fig = lab.plot_histories(scripted("adam", 0.95), path=path, dpi=50, figsize=(9, 3))
    image = matplotlib.image.imread(path)
    assert image.shape[:2] == (150, 450)
    assert image[..., :3].std() > 0.05  # not a blank canvas
    assert len(fig.axes) == 3 and not fig.axes[2].child_axes  # one run: no inset


def test_plot_of_a_real_fit():
    data = lab.load_digits(seed=0, dtype="float64")
    model = lab.mlp(n_in=64, hidden=(8,), n_out=10, dtype="float64")
    history = lab.fit(model, lambda c, p: su.sgd(c, p, learning_rate=0.1), data.train, data.valid,
                     max_steps=20, validate_every=10, progress=False, name="sgd 0.1")
    fig = lab.plot_histories(history)
    assert [line.get_label() for line in run_lines(fig.axes[2])] == ["sgd 0.1"]
    np.testing.assert_array_equal(run_lines(fig.axes[2])[0].get_ydata(), history.valid["accuracy"])


@pytest.mark.parametrize(
    ("args", "kwargs", "error", "match"),
    [
        ((3,), {}, TypeError, "histories must be"),
        (([],), {}, ValueError, "empty"),
        (([History(), 3],), {}, TypeError, "every run must be a History"),
        ((History(),), {"smoothing": 1.0}, ValueError, "smoothing"),
        ((History(),), {"target_accuracy": "0.9"}, TypeError, "target_accuracy"),
        ((History(),), {"path": 3}, TypeError, "path"),
    ],
)
def test_bad_arguments(args, kwargs, error, match):
    with pytest.raises(error, match=match):
        lab.plot_histories(*args, **kwargs)
