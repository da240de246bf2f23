"""compile_step, fit, History and the stop rules.

The stop rules are checked on scripted metric sequences (tables with the validation at
which each rule must fire), and through fit on runs whose metrics are known in advance
(a zero learning rate keeps the validation loss constant; a quadratic whose iterate
doubles diverges at a computable step). Small models and FAST_COMPILE keep the tests
quick; the digits accuracy test compiles with Numba, the mode the package trains with.
"""

from __future__ import annotations

import csv
import functools
import io
import json
import math
import os
import shutil

import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest

import symupdates as su
from symupdates import lab
from symupdates.lab.history import TRAIN_COLUMNS, VALID_COLUMNS, History
from symupdates.lab.training import _diverged


@pytest.fixture(scope="module")
def digits():
    return lab.load_digits(seed=0, dtype="float64")


def small_mlp(dtype="float64", seed=0):
    return lab.mlp(n_in=64, hidden=(16,), n_out=10, seed=seed, dtype=dtype)


def quick_fit(data, optimizer, model=None, **kwargs):
    kwargs = {"max_steps": 40, "validate_every": 10, "batch_size": 32, "progress": False, **kwargs}
    return lab.fit(model or small_mlp(), optimizer, data.train, data.valid, **kwargs)


def without_time(history):
    d = history.to_dict()
    for table in ("train", "valid"):
        del d[table]["time"]
    del d["meta"]["compile_seconds"]
    return d


# ---------------------------------------------------------------------------- compile_step


def linear_problem(rng, n=50):
    X_data = rng.normal(size=(n, 3))
    y_data = X_data @ np.array([1.0, -2.0, 0.5]) + 0.1 * rng.normal(size=n)
    w = pytensor.shared(np.zeros(3), name="w")
    X, y = pt.matrix("X", dtype="float64"), pt.vector("y", dtype="float64")
    cost = pt.mean((X @ w - y) ** 2)
    return X_data, y_data, w, X, y, cost


def test_compile_step_with_data_equals_passing_the_batch(rng):
    X_data, y_data, w, X, y, cost = linear_problem(rng)
    updates = su.momentum(cost, [w], learning_rate=0.05)
    step = lab.compile_step([X, y], cost, updates, outputs={"grad_norm": updates.info["grad_norm"]}, data=(X_data, y_data))
    # the same rule fed the gathered rows from Python, on a second parameter
    w2 = pytensor.shared(np.zeros(3), name="w")
    cost2 = pt.mean((X @ w2 - y) ** 2)
    updates2 = su.momentum(cost2, [w2], learning_rate=0.05)
    reference = lab.compile_step([X, y], cost2, updates2, outputs={"grad_norm": updates2.info["grad_norm"]})
    for index in [*lab.minibatches(50, 8, rng), np.array([3, 3, 0])]:
        ours, theirs = step(index), reference(X_data[index], y_data[index])
        assert list(ours) == ["loss", "grad_norm"] == list(theirs)
        np.testing.assert_allclose(ours["loss"], theirs["loss"], rtol=1e-12)
        np.testing.assert_allclose(ours["grad_norm"], theirs["grad_norm"], rtol=1e-12)
        np.testing.assert_allclose(w.get_value(), w2.get_value(), rtol=1e-12)
    assert int(updates.step.get_value()) == 8


def test_compile_step_takes_only_an_index_and_does_not_copy_data(rng):
    X_data, y_data, w, X, y, cost = linear_problem(rng)
    step = lab.compile_step([X, y], cost, su.sgd(cost, [w], learning_rate=0.1), data=(X_data, y_data))
    [index] = [i.variable for i in step.function.maker.inputs if not isinstance(i.variable, pytensor.compile.SharedVariable)]
    assert index.type.ndim == 1 and index.dtype == "int64"
    assert np.shares_memory(step.data[0].get_value(borrow=True), X_data)
    assert np.shares_memory(step.data[1].get_value(borrow=True), y_data)
    # the data variables are inputs of the compiled graph, never outputs or updates
    assert not any(var in step.data for var, _ in step.function.maker.fgraph.update_mapping.items())


def test_compile_step_shares_data_and_casts_dtypes(rng):
    X_data, y_data, _, _, _, _ = linear_problem(rng)
    w = pytensor.shared(np.zeros(3, dtype="float32"), name="w")
    X, y = pt.matrix("X", dtype="float32"), pt.vector("y", dtype="float32")
    cost = pt.mean((X @ w - y) ** 2)
    step = lab.compile_step([X, y], cost, su.sgd(cost, [w], learning_rate=0.1), data=(X_data, y_data))
    assert [d.dtype for d in step.data] == ["float32", "float32"]
    assert step(np.arange(5))["loss"].dtype == "float32"
    # a second step can reuse the first one's shared data
    evaluate = lab.compile_step([X, y], cost, [], data=step.data)
    assert evaluate.data[0] is step.data[0]
    before = w.get_value()
    evaluate(np.arange(50))
    np.testing.assert_array_equal(w.get_value(), before)


def test_compile_step_bad_arguments(rng):
    X_data, y_data, w, X, y, cost = linear_problem(rng)
    updates = su.sgd(cost, [w], learning_rate=0.1)
    with pytest.raises(TypeError, match="inputs must be a list"):
        lab.compile_step(X, cost, updates)
    with pytest.raises(TypeError, match=r"inputs\[0\] must be a free symbolic variable"):
        lab.compile_step([w], cost, updates)
    with pytest.raises(TypeError, match=r"inputs\[1\] must be a free symbolic variable"):
        lab.compile_step([X, y * 2], cost, updates)
    with pytest.raises(TypeError, match="cost must be a symbolic scalar"):
        lab.compile_step([X, y], X @ w, updates)
    with pytest.raises(TypeError, match="updates must be a list"):
        lab.compile_step([X, y], cost, {w: w - 1})
    with pytest.raises(ValueError, match="must not be named 'loss'"):
        lab.compile_step([X, y], cost, updates, outputs={"loss": cost})
    with pytest.raises(TypeError, match="outputs must map names"):
        lab.compile_step([X, y], cost, updates, outputs={"n": 3})
    with pytest.raises(TypeError, match="sequence of 2 arrays"):
        lab.compile_step([X, y], cost, updates, data=(X_data,))
    with pytest.raises(ValueError, match="different numbers of rows"):
        lab.compile_step([X, y], cost, updates, data=(X_data, y_data[:-1]))
    with pytest.raises(ValueError, match=r"data\[0\] has 1 dimensions"):
        lab.compile_step([X, y], cost, updates, data=(y_data, y_data))
    with pytest.raises(TypeError, match=r"data\[1\] has dtype int64 .*astype\('float64'\)"):
        lab.compile_step([X, y], cost, updates, data=(X_data, np.zeros(50, dtype="int64")))


# ---------------------------------------------------------------------------- History


def scripted_history(losses=(), accuracies=None):
    history = History({"name": "scripted"})
    accuracies = [0.5] * len(losses) if accuracies is None else accuracies
    for i, (loss, acc) in enumerate(zip(losses, accuracies, strict=True)):
        history.record_valid(step=10 * i, epoch=0, loss=loss, accuracy=acc, time=0.1 * i)
    return history


def test_history_tables_csv_json_round_trip():
    history = scripted_history([2.0, 1.5, math.nan], [0.1, 0.6, 0.7])
    history.record_train(step=1, epoch=0, loss=2.5, accuracy=0.2, learning_rate=0.1, grad_norm=math.inf,
                         update_ratio=1e-3, time=0.01)
    history.stopped = "diverged"
    rows = list(csv.reader(io.StringIO(history.to_csv("valid"))))
    assert rows[0] == list(VALID_COLUMNS)
    assert [float(r[2]) for r in rows[1:3]] == [2.0, 1.5] and rows[3][2] == "nan"
    train_rows = list(csv.reader(io.StringIO(history.to_csv("train"))))
    assert train_rows[0] == list(TRAIN_COLUMNS) and train_rows[1][TRAIN_COLUMNS.index("grad_norm")] == "inf"
    text = history.to_json()
    parsed = json.loads(text)  # standard JSON: non-finite values are null
    assert parsed["valid"]["loss"][2] is None and parsed["train"]["grad_norm"] == [None]
    back = History.from_json(text)
    assert back.stopped == "diverged" and back.diverged and back.meta == {"name": "scripted"}
    assert back.valid["loss"][:2] == [2.0, 1.5] and math.isnan(back.valid["loss"][2])
    assert back.valid["step"] == [0, 10, 20] and all(isinstance(s, int) for s in back.valid["step"])
    assert math.isnan(back.train["grad_norm"][0])  # inf is stored as null and read back as NaN


def test_history_writes_files(tmp_path):
    history = scripted_history([2.0, 1.0])
    history.to_csv("valid", path=tmp_path / "valid.csv")
    history.to_json(path=tmp_path / "run.json")
    assert (tmp_path / "valid.csv").read_text() == history.to_csv()
    assert History.from_json((tmp_path / "run.json").read_text()).to_dict() == history.to_dict()


def test_history_summary():
    history = scripted_history([2.0, 1.0, 0.9, 1.1], [0.3, 0.92, 0.95, 0.93])
    summary = history.summary(target_accuracy=0.91)
    assert summary["best_accuracy"] == 0.95 and summary["best_step"] == 20
    assert summary["final_accuracy"] == 0.93 and summary["final_loss"] == 1.1
    assert summary["steps_to_target"] == 10 and summary["name"] == "scripted"
    assert history.summary(target_accuracy=0.99)["steps_to_target"] is None
    empty = History().summary()
    assert empty["steps"] == 0 and math.isnan(empty["best_accuracy"]) and "steps_to_target" not in empty


def test_history_rejects_bad_rows():
    with pytest.raises(ValueError, match="exactly the columns"):
        History().record_valid(step=0, loss=1.0)
    with pytest.raises(ValueError, match="columns"):
        History.from_dict({"meta": {}, "stopped": None, "train": {}, "valid": {}})
    with pytest.raises(ValueError, match="'train' or 'valid'"):
        History().to_csv("test")


# ---------------------------------------------------------------------------- stop rules

NAN = math.nan

# (patience, validation losses, index of the validation at which the rule first fires or None)
PATIENCE_CASES = [
    (3, [1.0, 0.9, 0.8, 0.7, 0.6], None),
    (3, [1.0, 1.0, 1.0, 1.0], 3),  # equal is not lower
    (3, [1.0, 0.5, 0.6, 0.7, 0.8], 4),
    (3, [1.0, 0.5, 0.6, 0.7, 0.4, 0.5, 0.5, 0.5], 7),  # an improvement resets the count
    (1, [1.0, 1.1], 1),
    (2, [NAN, NAN], 1),  # NaN never improves, from the very first validation
    (2, [1.0, NAN, 0.9, NAN, NAN], 4),
    (20, [2.0 - 0.01 * i for i in range(30)] + [2.0] * 20, 49),  # the cute-dl setting
]


@pytest.mark.parametrize(("patience", "losses", "fires_at"), PATIENCE_CASES)
def test_patience_on_scripted_losses(patience, losses, fires_at):
    rule, history = lab.Patience(patience), History()
    fired = []
    for i, loss in enumerate(losses):
        history.record_valid(step=i, epoch=0, loss=loss, accuracy=0.5, time=0.0)
        fired.append(rule(history))
    expected = [None] * len(losses) if fires_at is None else [None] * fires_at + ["patience"] * (len(losses) - fires_at)
    assert fired == expected


# (target, times, validation accuracies, index at which the rule first fires or None)
TARGET_CASES = [
    (0.9, 1, [0.5, 0.89, 0.9], 2),  # "at or above"
    (0.9, 2, [0.95, 0.5, 0.95, 0.89, 0.95, 0.96], 5),  # a dip restarts the count
    (0.9, 3, [0.95, 0.95, NAN, 0.95, 0.95], None),  # NaN breaks the run
    (0.91, 20, [0.5] * 3 + [0.92] * 19 + [0.90] + [0.915] * 20, 42),  # the cute-dl setting
    (1.0, 1, [0.99, 1.0], 1),
]


@pytest.mark.parametrize(("target", "times", "accuracies", "fires_at"), TARGET_CASES)
def test_target_accuracy_on_scripted_accuracies(target, times, accuracies, fires_at):
    rule, history = lab.TargetAccuracy(target, times=times), History()
    fired = []
    for i, acc in enumerate(accuracies):
        history.record_valid(step=i, epoch=0, loss=1.0, accuracy=acc, time=0.0)
        fired.append(rule(history))
    first = next((i for i, r in enumerate(fired) if r is not None), None)
    assert first == fires_at
    if first is not None:
        assert fired[first] == "target_accuracy"


@pytest.mark.parametrize(
    ("losses", "factor", "diverges_at"),
    [
        ([2.3, 2.0, 1.0, 0.1], 100.0, None),
        ([2.3, 50.0, 229.0, 231.0], 100.0, 3),  # above 100 x the first loss
        ([2.3, 1e6, NAN], None, 2),  # without a factor only non-finite counts
        ([2.3, math.inf], None, 1),
        ([NAN], 100.0, 0),
        ([0.0, 1.0, 50.0], 100.0, None),  # no ratio to a first loss that is not positive
        ([-1.0, 500.0], 100.0, None),
    ],
)
def test_divergence_on_scripted_losses(losses, factor, diverges_at):
    flags = [_diverged(loss, losses[0], factor) for loss in losses]
    assert flags.index(True) == diverges_at if diverges_at is not None else not any(flags)


@pytest.mark.parametrize(
    ("make", "error", "match"),
    [
        (lambda: lab.Patience(0), ValueError, "patience"),
        (lambda: lab.Patience(2.5), ValueError, "patience"),
        (lambda: lab.TargetAccuracy(91), ValueError, "target"),
        (lambda: lab.TargetAccuracy(0.0), ValueError, "target"),
        (lambda: lab.TargetAccuracy(0.9, times=0), ValueError, "times"),
    ],
)
def test_stop_rules_bad_arguments(make, error, match):
    with pytest.raises(error, match=match):
        make()


# ---------------------------------------------------------------------------- fit


def test_fit_is_deterministic_and_seeded(digits):
    adam = functools.partial(su.adam, learning_rate=1e-2)
    first, second = (quick_fit(digits, adam, model=small_mlp(), seed=7) for _ in range(2))
    assert without_time(first) == without_time(second)
    assert len(first.train["step"]) == 40 and first.valid["step"] == [0, 10, 20, 30, 40]
    other = quick_fit(digits, adam, model=small_mlp(), seed=8)
    assert other.train["loss"] != first.train["loss"]
    assert other.valid["loss"][0] == first.valid["loss"][0]  # same initial model


def test_fit_records_what_the_step_did(digits):
    """The first row, recomputed independently from the documented minibatch order."""
    model = small_mlp()
    before = [p.get_value() for p in model.params]
    history = quick_fit(digits, functools.partial(su.sgd, learning_rate=0.05), model=model, max_steps=1, seed=3,
                        monitor_every=1)
    after = [p.get_value() for p in model.params]
    [index, *_] = lab.minibatches(len(digits.train[1]), 32, np.random.default_rng([3, 0]))
    X, y = digits.train[0][index], digits.train[1][index]
    fresh = small_mlp()
    grads = pytensor.grad(fresh.loss(X, y), fresh.params)
    loss, acc, *grad_values = pytensor.function([], [fresh.loss(X, y), fresh.accuracy(X, y), *grads])()
    row = {k: v[0] for k, v in history.train.items()}
    assert row["step"] == 1 and row["epoch"] == 0 and row["learning_rate"] == 0.05
    np.testing.assert_allclose(row["loss"], loss, rtol=1e-12)
    np.testing.assert_allclose(row["accuracy"], acc, rtol=1e-12)
    np.testing.assert_allclose(row["grad_norm"], np.sqrt(sum((g**2).sum() for g in grad_values)), rtol=1e-12)
    for b, a, g in zip(before, after, grad_values, strict=True):
        np.testing.assert_allclose(a, b - 0.05 * g, rtol=1e-10, atol=1e-14)
    moved = np.sqrt(sum(((a - b) ** 2).sum() for a, b in zip(after, before, strict=True)))
    size = np.sqrt(sum((b**2).sum() for b in before))
    np.testing.assert_allclose(row["update_ratio"], moved / size, rtol=1e-10)
    assert history.valid["step"] == [0, 1] and history.stopped == "max_steps"


def test_monitor_every_k_records_the_same_ratios_on_every_kth_step_and_trains_the_same(digits):
    """monitor_every=1 computes the update ratio in the compiled step; k > 1 leaves it out of
    the step and computes it on the host every k-th step. Training is the same either way."""
    adam = functools.partial(su.adam, learning_rate=0.01)
    every = quick_fit(digits, adam, model=small_mlp(), max_steps=30, monitor_every=1)
    cadence = quick_fit(digits, adam, model=small_mlp(), max_steps=30, monitor_every=7)
    for key in ("loss", "accuracy", "grad_norm", "learning_rate"):
        np.testing.assert_allclose(cadence.train[key], every.train[key], rtol=1e-12)
    np.testing.assert_allclose(cadence.valid["loss"], every.valid["loss"], rtol=1e-12)
    ratios = np.array(cadence.train["update_ratio"])
    watched = np.array(cadence.train["step"]) % 7 == 0
    assert list(np.array(cadence.train["step"])[watched]) == [7, 14, 21, 28]
    assert np.all(np.isnan(ratios[~watched])) and np.all(np.isfinite(every.train["update_ratio"]))
    np.testing.assert_allclose(ratios[watched], np.array(every.train["update_ratio"])[watched], rtol=1e-10)
    assert (every.meta["monitor_every"], cadence.meta["monitor_every"]) == (1, 7)


def test_only_monitor_every_1_compiles_the_update_ratio_into_the_step(digits, monkeypatch):
    compiled = []
    original = lab.training.compile_step

    def spy(inputs, cost, updates, *, outputs=None, **kwargs):
        compiled.append(sorted(outputs or {}))
        return original(inputs, cost, updates, outputs=outputs, **kwargs)

    monkeypatch.setattr(lab.training, "compile_step", spy)
    sgd = functools.partial(su.sgd, learning_rate=0.1)
    quick_fit(digits, sgd, max_steps=2, monitor_every=1)
    quick_fit(digits, sgd, max_steps=2)
    train_steps = [names for names in compiled if "grad_norm" in names]
    assert train_steps == [
        ["accuracy", "grad_norm", "learning_rate", "update_ratio"],
        ["accuracy", "grad_norm", "learning_rate"],
    ]


def test_fit_epochs_budget(digits):
    history = quick_fit(digits, functools.partial(su.sgd, learning_rate=0.1), max_steps=None, epochs=2, batch_size=100)
    per_epoch = math.ceil(len(digits.train[1]) / 100)  # 15, the last batch has 38 rows
    assert history.stopped == "epochs" and history.steps == 2 * per_epoch
    assert history.train["epoch"] == [0] * per_epoch + [1] * per_epoch
    assert history.valid["step"][-1] == 2 * per_epoch  # validated after the last step
    shorter = quick_fit(digits, functools.partial(su.sgd, learning_rate=0.1), max_steps=20, epochs=2, batch_size=100)
    assert shorter.stopped == "max_steps" and shorter.steps == 20


def test_fit_stops_by_patience_when_nothing_improves(digits):
    model = small_mlp()
    initial = [p.get_value() for p in model.params]
    history = quick_fit(digits, functools.partial(su.sgd, learning_rate=0.0), model=model, max_steps=500,
                        stop=[lab.Patience(3)])
    assert history.stopped == "patience"
    assert history.valid["step"] == [0, 10, 20, 30] and history.steps == 30
    assert len(set(history.valid["loss"])) == 1
    for p, v in zip(model.params, initial, strict=True):
        np.testing.assert_array_equal(p.get_value(), v)


def test_fit_stops_at_target_accuracy_held(digits):
    history = quick_fit(digits, functools.partial(su.adam, learning_rate=1e-2), max_steps=500,
                        stop=[lab.Patience(50), lab.TargetAccuracy(0.05, times=3)])
    assert history.stopped == "target_accuracy" and history.valid["step"] == [0, 10, 20]


def test_fit_custom_stop_rule(digits):
    def enough(history):
        return "enough" if len(history.valid["step"]) >= 2 else None

    history = quick_fit(digits, functools.partial(su.sgd, learning_rate=0.1), stop=[enough])
    assert history.stopped == "enough" and history.steps == 10
    with pytest.raises(TypeError, match="returned 1; return a reason"):
        quick_fit(digits, functools.partial(su.sgd, learning_rate=0.1), stop=[lambda h: 1])


class Quadratic:
    """A "model" whose loss is w²·mean(x²) with x = 1: SGD at rate 1.5 multiplies w by -2 per step."""

    def __init__(self):
        self.params = [pytensor.shared(np.array([1.0]), name="w")]

    def loss(self, X, y):
        return pt.mean(pt.sqr(X[:, 0] * self.params[0][0])) + 0 * pt.sum(y)

    def accuracy(self, X, y):
        return pt.constant(0.5, dtype="float64") + 0 * pt.sum(X)


def ones_data(n=8):
    return (np.ones((n, 1)), np.zeros(n, dtype="int64"))


def test_fit_reports_exploding_loss_as_diverged():
    history = lab.fit(Quadratic(), functools.partial(su.sgd, learning_rate=1.5), ones_data(), ones_data(),
                     max_steps=100, validate_every=2, progress=False)
    # losses 1, 4, 16, 64, 256: the fifth step is the first above 100 x the first loss
    assert history.train["loss"] == [4.0**k for k in range(5)]
    assert history.stopped == "diverged" and history.diverged and history.steps == 5


@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")
def test_fit_reports_nonfinite_loss_as_diverged():
    history = lab.fit(Quadratic(), functools.partial(su.sgd, learning_rate=5e99), ones_data(), ones_data(),
                     max_steps=100, validate_every=1000, diverge_factor=None, progress=False)
    losses = history.train["loss"]
    assert history.stopped == "diverged" and not math.isfinite(losses[-1])
    assert all(math.isfinite(v) for v in losses[:-1]) and len(losses) < 100


@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")
def test_fit_reports_nonfinite_validation_loss_as_diverged():
    """w <- (1 - 1e100) w: the second step's training loss (1e200, before the update) is
    finite, the validation after it (1e400) is not; that validation stops the run."""
    history = lab.fit(Quadratic(), functools.partial(su.sgd, learning_rate=5e99), ones_data(), ones_data(),
                     max_steps=100, validate_every=1, diverge_factor=None, progress=False)
    assert history.stopped == "diverged" and history.steps == 2
    assert all(math.isfinite(v) for v in history.train["loss"])
    assert history.valid["step"] == [0, 1, 2] and history.valid["loss"][-1] == math.inf


def test_fit_mlp_with_absurd_learning_rate_diverges_without_crashing(digits):
    history = quick_fit(digits, functools.partial(su.sgd, learning_rate=1e4), max_steps=200)
    assert history.stopped == "diverged" and history.steps < 200
    lab.plot_histories(history)  # a diverged history still plots


def test_fit_callbacks_see_history_and_live_hyperparams(digits):
    calls = []

    def halve(history, updates):
        calls.append(history.valid["step"][-1])
        lr = updates.hyperparams["learning_rate"]
        lr.set_value(lr.get_value() / 2)

    history = quick_fit(digits, functools.partial(su.sgd, learning_rate=0.08), callbacks=[halve])
    assert calls == [0, 10, 20, 30, 40]
    rates = history.train["learning_rate"]
    assert rates[0] == 0.04 and rates[9] == 0.04 and rates[10] == 0.02 and rates[-1] == 0.005


def test_fit_float32_model(digits):
    model = small_mlp("float32")
    history = quick_fit(digits, functools.partial(su.adam, learning_rate=1e-2), model=model)
    assert [p.dtype for p in model.params] == ["float32"] * 4
    assert history.valid["accuracy"][-1] > history.valid["accuracy"][0]


def test_fit_progress_bar_shows_loss_accuracy_and_rate(digits, capsys):
    quick_fit(digits, functools.partial(su.sgd, learning_rate=0.1), progress=True, name="sgd-run", max_steps=30)
    err = capsys.readouterr().err
    assert "sgd-run" in err and "30/30" in err
    assert "loss=" in err and "val_acc=" in err and "lr=0.1" in err


def test_fit_checkpoint_resume_equals_uninterrupted_run(digits, tmp_path):
    adam = functools.partial(su.adam, learning_rate=1e-2)
    full_model = small_mlp()
    full = quick_fit(digits, adam, model=full_model, max_steps=60, seed=5)

    path = tmp_path / "run.npz"
    first = quick_fit(digits, adam, model=small_mlp(), max_steps=40, seed=5, checkpoint=path, checkpoint_every=20)
    assert path.is_file() and first.steps == 40
    resumed_model = small_mlp(seed=99)  # different weights: the checkpoint must replace them
    resumed = quick_fit(digits, adam, model=resumed_model, max_steps=60, seed=5, checkpoint=path, resume=True)
    assert without_time(resumed) == without_time(full)
    for a, b in zip(resumed_model.params, full_model.params, strict=True):
        np.testing.assert_array_equal(a.get_value(), b.get_value())
    assert resumed.train["time"] == sorted(resumed.train["time"])  # the clock continues


class Interrupted(Exception):
    pass


def test_fit_resumes_an_interrupted_run_from_its_last_periodic_checkpoint(digits, tmp_path):
    """A run killed at step 30 (a callback raises) resumes from the checkpoint written at
    step 20 and ends exactly like a run that was never interrupted."""
    adam = functools.partial(su.adam, learning_rate=1e-2)
    full = quick_fit(digits, adam, model=small_mlp(), max_steps=60, seed=5)

    def crash_at_30(history, updates):
        if history.valid["step"][-1] == 30:
            raise Interrupted

    path = tmp_path / "run.npz"
    with pytest.raises(Interrupted):
        quick_fit(digits, adam, model=small_mlp(), max_steps=60, seed=5, checkpoint=path, checkpoint_every=20,
                  callbacks=[crash_at_30])
    copy = tmp_path / "copy.npz"
    shutil.copyfile(path, copy)
    at_20 = quick_fit(digits, adam, model=small_mlp(seed=99), max_steps=20, seed=5, checkpoint=copy, resume=True)
    assert at_20.steps == 20 and at_20.valid["step"] == [0, 10, 20]  # the periodic checkpoint, not a later state
    resumed_model = small_mlp(seed=99)  # other weights: only the checkpoint can make the runs equal
    resumed = quick_fit(digits, adam, model=resumed_model, max_steps=60, seed=5, checkpoint=path, resume=True)
    assert without_time(resumed) == without_time(full)


def test_fit_resume_checks_settings_and_finished_runs(digits, tmp_path):
    sgd0 = functools.partial(su.sgd, learning_rate=0.0)
    path = tmp_path / "run.npz"
    done = quick_fit(digits, sgd0, max_steps=500, stop=[lab.Patience(2)], checkpoint=path)
    assert done.stopped == "patience"
    again = quick_fit(digits, sgd0, max_steps=500, stop=[lab.Patience(2)], checkpoint=path, resume=True)
    assert without_time(again) == without_time(done)  # returned as it was, not trained further
    model = small_mlp(seed=1)
    before = [p.get_value() for p in model.params]
    with pytest.raises(ValueError, match="seed=0 .*now 1"):
        quick_fit(digits, sgd0, model=model, max_steps=500, checkpoint=path, resume=True, seed=1)
    for p, v in zip(model.params, before, strict=True):  # nothing was loaded
        np.testing.assert_array_equal(p.get_value(), v)
    fresh = quick_fit(digits, sgd0, max_steps=20, checkpoint=tmp_path / "new.npz", resume=True)
    assert fresh.steps == 20  # a missing checkpoint starts a new run


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"max_steps": None}, ValueError, "epochs or max_steps"),
        ({"batch_size": 0}, ValueError, "batch_size"),
        ({"validate_every": 1.5}, ValueError, "validate_every"),
        ({"monitor_every": 0}, ValueError, "monitor_every must be a positive integer, got 0"),
        ({"stop": [3]}, TypeError, "stop must be a list of functions"),
        ({"diverge_factor": 0.5}, ValueError, "diverge_factor"),
        ({"seed": "a"}, TypeError, "seed"),
        ({"resume": True}, ValueError, "resume=True needs checkpoint"),
        ({"checkpoint": 3}, TypeError, "checkpoint"),
    ],
)
def test_fit_bad_arguments(digits, kwargs, error, match):
    with pytest.raises(error, match=match):
        quick_fit(digits, functools.partial(su.sgd, learning_rate=0.1), **kwargs)


def test_fit_bad_model_optimizer_and_data(digits):
    sgd = functools.partial(su.sgd, learning_rate=0.1)
    with pytest.raises(TypeError, match="no 'params'"):
        lab.fit(object(), sgd, digits.train, digits.valid, max_steps=1)
    with pytest.raises(TypeError, match="optimizer must be a function"):
        lab.fit(small_mlp(), "adam", digits.train, digits.valid, max_steps=1)
    with pytest.raises(TypeError, match="must return the Updates"):
        lab.fit(small_mlp(), lambda cost, params: [(p, p) for p in params], digits.train, digits.valid, max_steps=1)
    with pytest.raises(TypeError, match="train must be a pair"):
        lab.fit(small_mlp(), sgd, digits.train[0], digits.valid, max_steps=1)
    with pytest.raises(ValueError, match=r"valid\[1\] \(y\) must be a vector of integer labels"):
        lab.fit(small_mlp(), sgd, digits.train, (digits.valid[0], digits.valid[1] * 1.0), max_steps=1)
    with pytest.raises(ValueError, match="valid has 10 features but train has 64"):
        lab.fit(small_mlp(), sgd, digits.train, (digits.valid[0][:, :10], digits.valid[1]), max_steps=1)


def test_adam_trains_the_mlp_on_digits_to_95_percent(digits):
    """The issue's acceptance run: the default MLP, Adam, 1,000 steps; compiled with Numba."""
    model = lab.mlp(n_in=64, hidden=(64,), n_out=10, seed=0, dtype="float64")
    history = lab.fit(model, functools.partial(su.adam, learning_rate=3e-3), digits.train, digits.valid,
                     max_steps=1000, batch_size=32, validate_every=100, progress=False, mode="NUMBA")
    assert history.stopped == "max_steps"
    assert history.valid["accuracy"][-1] >= 0.95  # the final model, not the best validation


# ---------------------------------------------------------------------------- bad labels and paths, before any work


class CountingSGD:
    """SGD that counts its calls: fit calls the optimizer while building the graph, before compiling."""

    def __init__(self):
        self.calls = 0

    def __call__(self, cost, params):
        self.calls += 1
        return su.sgd(cost, params, learning_rate=0.1)


def no_compile(*args, **kwargs):
    raise AssertionError("compiled before checking the data")


@pytest.mark.parametrize("part", ["train", "valid"])
@pytest.mark.parametrize("label", [10, 10**9, -1], ids=["n_out", "huge", "negative"])
def test_fit_rejects_labels_outside_the_classes_before_anything_runs(digits, part, label):
    """Under Numba a label >= n_out reads outside the array (10**9 segfaults), and every
    backend wraps a negative one: fit checks the labels on the host first."""
    X, y = getattr(digits, part)
    y = y.copy()
    y[3] = label
    data = {"train": digits.train, "valid": digits.valid, part: (X, y)}
    optimizer, validations = CountingSGD(), []
    message = rf"^{part}\[1\] \(y\) holds label {label} at index 3; labels must be in \[0, 10\) for a model with n_out=10; "
    with pytest.raises(ValueError, match=message):
        lab.fit(small_mlp(), optimizer, data["train"], data["valid"], max_steps=5, progress=False,
               callbacks=[lambda history, updates: validations.append(history.steps)])
    assert optimizer.calls == 0 and validations == []  # no graph, no compilation, no step


class Bare:
    """A model without n_out; its loss (the MLP's) marks the label vector with the classes."""

    def __init__(self, model):
        self.params, self.loss, self.accuracy = model.params, model.loss, model.accuracy


@pytest.mark.parametrize(
    ("part", "label", "message"),
    [
        ("train", 10, r"^train\[1\] \(y\) holds label 10 at index 3; labels must be in \[0, 10\) for a model with n_out=10"),
        ("valid", -1, r"^valid\[1\] \(y\) holds label -1 at index 3; labels must be class indices >= 0"),
    ],
    ids=["too-large", "negative"],
)
def test_fit_checks_the_labels_of_a_model_without_n_out(digits, monkeypatch, part, label, message):
    X, y = getattr(digits, part)
    y = y.copy()
    y[3] = label
    data = {"train": digits.train, "valid": digits.valid, part: (X, y)}
    monkeypatch.setattr(pytensor, "function", no_compile)
    with pytest.raises(ValueError, match=message):
        lab.fit(Bare(small_mlp()), CountingSGD(), data["train"], data["valid"], max_steps=5, progress=False)


@pytest.mark.parametrize("label", [4, 10**9, -1], ids=["n_out", "huge", "negative"])
def test_compile_step_checks_the_labels_a_model_reads(label, rng, monkeypatch):
    """compile_step is generic; the model's loss marks its label vector with n_out, and
    compile_step checks the data bound to it (data=, or the arrays of each call)."""
    model = lab.mlp(n_in=3, hidden=(), n_out=4, dtype="float64")
    X, y = pt.matrix("X", dtype="float64"), pt.vector("y", dtype="int64")
    cost = model.loss(X, y)
    updates = su.sgd(cost, model.params, learning_rate=0.1)
    X_data, y_data = rng.normal(size=(6, 3)), np.array([0, 1, 2, 3, label, 0])
    message = rf"holds label {label} at index 4; labels must be in \[0, 4\) for a model with n_out=4"
    with monkeypatch.context() as m:
        m.setattr(pytensor, "function", no_compile)
        with pytest.raises(ValueError, match=r"^data\[1\] \(y\) " + message):
            lab.compile_step([X, y], cost, updates, data=(X_data, y_data))
        with pytest.raises(ValueError, match=r"^data\[1\] \(y\) " + message):
            lab.compile_step([X, y], cost, updates, data=(X_data, pytensor.shared(y_data.astype("int64"))))
    step = lab.compile_step([X, y], cost, updates)
    before = [p.get_value() for p in model.params]
    with pytest.raises(ValueError, match=r"^inputs\[1\] \(y\) " + message):
        step(X_data, y_data)
    for p, v in zip(model.params, before, strict=True):  # the compiled function did not run
        np.testing.assert_array_equal(p.get_value(), v)
    assert int(updates.step.get_value()) == 0
    step(X_data, np.array([0, 1, 2, 3, 3, 0]))
    assert int(updates.step.get_value()) == 1


@pytest.mark.parametrize("where", ["missing-folder", "a-folder", "file-as-folder", "read-only-folder", "empty"])
def test_fit_checks_the_checkpoint_path_before_training(digits, tmp_path, monkeypatch, where):
    """A checkpoint that cannot be written fails before the graph is built, not at the
    first checkpoint after minutes of training (losing the history)."""
    (tmp_path / "file.txt").write_text("not a folder")
    path, message = {
        "missing-folder": (tmp_path / "missing" / "run.npz", "its folder .* does not exist; create it first"),
        "a-folder": (tmp_path, "is a folder; give a file name in it"),
        "file-as-folder": (tmp_path / "file.txt" / "run.npz", "is not a folder"),
        "read-only-folder": (tmp_path / "run.npz", "is not writable"),
        "empty": ("", "is an empty path"),
    }[where]
    if where == "read-only-folder":  # os.access rather than chmod: root may write anywhere
        real = os.access
        monkeypatch.setattr(os, "access", lambda p, mode, **kw: False if os.path.abspath(p) == str(tmp_path) else real(p, mode, **kw))
    optimizer, validations = CountingSGD(), []
    with pytest.raises(ValueError, match=message) as error:
        quick_fit(digits, optimizer, checkpoint=path, callbacks=[lambda history, updates: validations.append(history.steps)])
    assert repr(str(path)) in str(error.value)
    assert optimizer.calls == 0 and validations == []  # no graph, no compilation, no step
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file.txt"]  # nothing written
