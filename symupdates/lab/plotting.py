"""Matplotlib figures of training histories: one run or several on the same axes.

:func:`plot_histories` draws three panels side by side, each with **one line per run**
in the run's colour: the training loss per step (exponentially smoothed, log scale; the
panel's title says by how much), the validation loss and the validation accuracy, both
per validation. A run that diverged is marked with a cross where its loss curve ends and
``(diverged)`` in the legend. The legend sits below the panels, never on a curve; the
step axis ends at the last step recorded; with several runs, an inset in the accuracy
panel zooms into the top of it, where the runs that learn differ.

The figure is a plain :class:`matplotlib.figure.Figure` (no pyplot state, no GUI
backend needed); save it as PNG with ``path=`` or ``fig.savefig``.

>>> import symupdates as su
>>> from symupdates import lab
>>> from symupdates.lab import History
>>> runs = {}
>>> for name, rate in [("fast", 0.5), ("slow", 0.9)]:
...     h = History({"name": name})
...     for step in range(0, 101, 20):
...         h.record_valid(step=step, epoch=0, loss=2 * rate ** (step / 20), accuracy=1 - rate ** (step / 20), time=0.0)
...     runs[name] = h
>>> fig = lab.plot_histories(runs, target_accuracy=0.9)
>>> [ax.get_title() for ax in fig.axes]
['training loss (EMA 0.9)', 'validation loss', 'validation accuracy']
>>> [len(lab.plotting.run_lines(ax)) for ax in fig.axes]
[0, 2, 2]
>>> [inset.get_title() for inset in fig.axes[2].child_axes]
['top of the accuracy']
"""

from __future__ import annotations

import math
import numbers
import os
from collections.abc import Mapping, Sequence

import numpy as np

from symupdates.checkpoint import atomic_write
from symupdates.lab.history import History

__all__ = ["plot_histories", "run_lines"]

_TARGET_GID = "target"


def _runs(histories) -> list[tuple[str, object]]:

    if isinstance(histories, History):
        histories = [histories]
    if isinstance(histories, Mapping):
        runs = [(str(k), h) for k, h in histories.items()]
    elif isinstance(histories, Sequence) and not isinstance(histories, str):
        runs = [(h.meta.get("name") or f"run {i + 1}", h) if isinstance(h, History) else (None, h) for i, h in enumerate(histories)]
    else:
        raise TypeError(f"histories must be a History, a list of them or a dict name -> History, got {type(histories).__name__}")
    if not runs:
        raise ValueError("histories is empty: give at least one History")
    for label, h in runs:
        if not isinstance(h, History):
            raise TypeError(f"every run must be a History (as returned by fit), got {type(h).__name__} for {label!r}")
    return runs


def _smooth(values, smoothing) -> np.ndarray:
    """Exponential moving average that skips non-finite values (they stay NaN)."""
    out = np.full(len(values), np.nan)
    average = math.nan
    for i, v in enumerate(values):
        if math.isfinite(v):
            average = v if not math.isfinite(average) else smoothing * average + (1 - smoothing) * v
            out[i] = average
    return out


def _finite(values) -> np.ndarray:
    a = np.asarray(values, dtype=float)
    return np.where(np.isfinite(a), a, np.nan)


def run_lines(ax) -> list:
    """The lines of ``ax`` that draw runs (not the target-accuracy guide)."""
    return [line for line in ax.get_lines() if line.get_gid() != _TARGET_GID]


def _mean_history(label, histories, smoothing):
    """The mean over repeated runs at each step (where at least one recorded a finite value),
    and the standard deviation bands ``{panel: (steps, mean, std)}``; the training loss is
    smoothed run by run first, as a single run's is."""
    from symupdates.lab.history import History

    mean = History({"name": label})
    mean.stopped = "diverged" if any(h.diverged for h in histories) else histories[0].stopped
    bands = {}
    for table, column, panel in (("train", "loss", "train"), ("valid", "loss", "loss"), ("valid", "accuracy", "acc")):
        by_step: dict = {}
        for h in histories:
            values = _smooth(h.train["loss"], smoothing) if panel == "train" and smoothing else _finite(getattr(h, table)[column])
            for step, v in zip(getattr(h, table)["step"], values, strict=True):
                by_step.setdefault(step, []).append(v)
        steps = sorted(by_step)
        rows = [np.asarray(by_step[k], dtype=float) for k in steps]
        m = np.array([np.nanmean(r) if np.isfinite(r).any() else np.nan for r in rows])
        sd = np.array([np.nanstd(r, ddof=1) if np.isfinite(r).sum() > 1 else np.nan for r in rows])
        bands[panel] = (np.array(steps), m, sd)
        getattr(mean, table)["step"] = steps
        getattr(mean, table)[column] = list(m)
    return mean, bands


def plot_histories(
    histories, *, smoothing=0.9, target_accuracy=None, title=None, path=None, figsize=(15, 5), dpi=100, bands=None
):
    """Plot the loss and validation-accuracy curves of one or several training runs.

    Parameters
    ----------
    histories : History, list of History, or dict of str to History
        The runs; a dict's keys are the legend labels, otherwise each history's
        ``meta["name"]`` is.
    smoothing : float
        The weight of the past in the exponential moving average of the training loss,
        in :math:`[0, 1)`; ``0`` plots the raw per-step loss.
    target_accuracy : float, optional
        Draws a dotted horizontal guide at this accuracy (a line with ``gid="target"``,
        left out by :func:`run_lines`).
    title : str, optional
        The figure's title.
    path : str or os.PathLike, optional
        Also save the figure there; the format follows the suffix (``.png``).
    figsize : tuple of float
        Size in inches.
    dpi : int
        Resolution of the saved image.
    bands : dict of str to list of History, optional
        Runs repeated with other seeds, by label (a label of ``histories``): that run's
        curves are the mean over the repeats at each step, with a shaded band of one
        standard deviation either side.

    Returns
    -------
    matplotlib.figure.Figure
        Three axes (training loss, validation loss, validation accuracy), each with one
        line per run, all sharing the step axis, which ends at the last recorded step.
        With two or more runs that validated, the accuracy panel holds an inset
        (``fig.axes[2].child_axes[0]``, titled ``"top of the accuracy"``).

    Notes
    -----
    Non-finite values are left out of the curves (a gap), so a diverged run's curve ends
    at its last finite loss, where a cross marks it.

    The inset shows the second half of the steps and the accuracies from just below the
    lowest one there among the runs that end within 5 points of the best one, to
    just above the highest accuracy: the range where rules that all learn differ. The
    legend is below the panels, in as many columns as fit.

    See Also
    --------
    symupdates.lab.History, symupdates.lab.fit

    Examples
    --------
    >>> import functools, os, tempfile
    >>> import symupdates as su
    >>> from symupdates import lab
    >>> data = lab.load_digits(seed=0, dtype="float64")
    >>> runs = {}
    >>> for rate in (0.01, 0.1):
    ...     model = lab.mlp(n_in=64, hidden=(16,), n_out=10, dtype="float64")
    ...     runs[f"sgd {rate}"] = lab.fit(model, functools.partial(su.sgd, learning_rate=rate), data.train,
    ...                                 data.valid, max_steps=60, validate_every=20, progress=False,
    ...                                 mode="FAST_COMPILE")
    >>> path = os.path.join(tempfile.mkdtemp(), "curves.png")
    >>> fig = lab.plot_histories(runs, path=path)
    >>> [len(ax.get_lines()) for ax in fig.axes], open(path, "rb").read(4)
    ([2, 2, 2], b'\\x89PNG')
    """
    from matplotlib.figure import Figure

    runs = _runs(histories)
    if isinstance(smoothing, bool) or not isinstance(smoothing, numbers.Real) or not 0 <= smoothing < 1:
        raise ValueError(f"smoothing must be a number in [0, 1), got {smoothing!r}")
    if target_accuracy is not None and (isinstance(target_accuracy, bool) or not isinstance(target_accuracy, numbers.Real)):
        raise TypeError(f"target_accuracy must be a number, got {target_accuracy!r}")
    if path is not None and not isinstance(path, str | os.PathLike):
        raise TypeError(f"path must be a file name, got {path!r}")

    band_data = {}
    if bands:
        if not isinstance(bands, Mapping):
            raise TypeError(f"bands must be a dict of label -> list of History, got {type(bands).__name__}")
        known = [label for label, _ in runs]
        for label, repeats in bands.items():
            if label not in known:
                raise ValueError(f"bands has {label!r}, which is not a run's label ({', '.join(known)})")
            if not repeats or not all(isinstance(h, History) for h in repeats):
                raise TypeError(f"bands[{label!r}] must be a non-empty list of History")
        runs = [(label, h) if label not in bands else (label, None) for label, h in runs]
        for i, (label, h) in enumerate(runs):
            if h is None:
                mean, band_data[label] = _mean_history(label, list(bands[label]), float(smoothing))
                runs[i] = (label, mean)

    fig = Figure(figsize=figsize, layout="constrained")
    ax_train, ax_loss, ax_acc = fig.subplots(1, 3, sharex=True)
    # The 11th to 20th runs repeat the ten colours dashed, the next ten dotted.
    looks = [{"color": f"C{i % 10}", "ls": ("-", "--", ":")[i // 10 % 3]} for i in range(len(runs))]
    for (label, h), look in zip(runs, looks, strict=True):
        legend = f"{label} (diverged)" if h.diverged else label
        for panel, ax in (("train", ax_train), ("loss", ax_loss), ("acc", ax_acc)):
            if label in band_data:
                steps, m, sd = band_data[label][panel]
                ax.fill_between(steps, m - sd, m + sd, color=look["color"], alpha=0.18, lw=0)
        if h.train["step"]:
            loss = h.train["loss"] if label in band_data else _smooth(h.train["loss"], float(smoothing))
            ax_train.plot(h.train["step"], loss, lw=1.2, label=legend, **look)
            finite = np.flatnonzero(np.isfinite(loss))
            if h.diverged and finite.size:
                last = finite[-1]
                ax_train.scatter([h.train["step"][last]], [loss[last]], marker="x", s=60, color=look["color"], zorder=3)
        if h.valid["step"]:
            ax_loss.plot(h.valid["step"], _finite(h.valid["loss"]), lw=1.2, marker=".", ms=3, label=legend, **look)
            ax_acc.plot(h.valid["step"], _finite(h.valid["accuracy"]), lw=1.2, marker=".", ms=3, label=legend, **look)
    if target_accuracy is not None:
        ax_acc.axhline(float(target_accuracy), color="0.4", ls=":", lw=1, gid=_TARGET_GID)

    train_title = f"training loss (EMA {float(smoothing):g})" if smoothing else "training loss"
    for ax, name in ((ax_train, train_title), (ax_loss, "validation loss"), (ax_acc, "validation accuracy")):
        ax.set_title(name)
        ax.set_xlabel("step")
        ax.grid(True, alpha=0.3)
    for ax in (ax_train, ax_loss):
        lines = ax.get_lines()
        if lines and all(np.nanmin(_finite(line.get_ydata()), initial=np.inf) > 0 for line in lines):
            ax.set_yscale("log")
    ax_acc.set_ylabel("accuracy")
    last = max((max(h.train["step"][-1:] + h.valid["step"][-1:], default=0) for _, h in runs), default=0)
    if last > 0:
        ax_train.set_xlim(0, last)  # shared: every panel ends at the data
    _zoom_inset(ax_acc, runs, looks, last)
    seen, unique = set(), []
    for line in run_lines(ax_acc) + run_lines(ax_train):
        if line.get_label() not in seen:
            seen.add(line.get_label())
            unique.append(line)
    if unique:
        columns = max(1, min(len(unique), int(figsize[0] // 2.5)))
        fig.legend(handles=unique, loc="outside lower center", ncols=columns, fontsize="small", frameon=False)
    if title is not None:
        fig.suptitle(str(title))
    if path is not None:
        with atomic_write(path) as f:
            fig.savefig(f, dpi=dpi, format=_image_format(path))
    return fig


def _zoom_inset(ax, runs, looks, last) -> None:
    """An inset of the accuracy panel over the second half of the steps, zoomed to the
    top: from the lowest accuracy there of the runs ending within 5 points of the best
    one to the highest accuracy (see :func:`plot_histories`, Notes)."""
    curves = [(h.valid["step"], _finite(h.valid["accuracy"]), look) for (_, h), look in zip(runs, looks, strict=True)]
    # (steps, accuracies, last finite accuracy) of every run that has one
    ended = [(steps, acc, acc[np.isfinite(acc)][-1]) for steps, acc, _ in curves if np.isfinite(acc).any()]
    if len(runs) < 2 or len(ended) < 2 or last <= 0:
        return
    best = max(final for _, _, final in ended)
    low = min(
        # a run's final accuracy, and anything lower in the second half (a run that stopped early has none there)
        np.nanmin(acc[np.asarray(steps) >= last / 2], initial=final)
        for steps, acc, final in ended
        if final >= best - 0.05
    )
    high = max(np.nanmax(acc) for _, acc, _ in ended)
    pad = max(0.002, 0.1 * (high - low))
    inset = ax.inset_axes([0.42, 0.08, 0.55, 0.45])
    for steps, acc, look in curves:
        inset.plot(steps, acc, lw=1.0, marker=".", ms=2, **look)
    inset.set_xlim(last / 2, last)
    inset.set_ylim(low - pad, min(1.0, high + pad) if high < 1 else 1.0 + pad / 4)
    inset.set_title("top of the accuracy", fontsize="x-small")
    inset.tick_params(labelsize="x-small")
    inset.grid(True, alpha=0.3)


def _image_format(path) -> str:
    """The image format a file name asks for (its suffix), as ``savefig`` would infer it."""
    suffix = os.path.splitext(os.fspath(path))[1].lstrip(".").lower()
    if not suffix:
        raise ValueError(f"path {os.fspath(path)!r} has no suffix; name the image file, e.g. 'curves.png' (or .svg, .pdf)")
    return suffix
