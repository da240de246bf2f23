r"""The command line: ``symupdates compare`` (also ``python -m symupdates compare``).

``compare`` is the optimizer study: it trains one model (:func:`~symupdates.lab.mlp`) with
each optimizer, every run from the **same initial weights** and with a **fresh
optimizer state**, on the same seeded minibatches, and shows which learns fastest and
which diverges. It prints a table (steps to the target accuracy, best and final
validation accuracy, final validation loss, why the run stopped (target held, patience,
divergence, step limit), wall time) and writes into ``--out``:

==================  ==============================================================
``curves.png``      training loss, validation loss and validation accuracy, one
                    curve per optimizer in each panel (``--xscale log`` for long runs;
                    ``--format svg`` or ``pdf`` for ``curves.svg``, ``curves.pdf``)
``histories.json``  the settings, each run's summary, the fingerprint of its initial
                    weights, its full history and the figure's curve counts
``valid.csv``       one row per validation per optimizer
``train.csv``       one row per training step per optimizer (one in ``--log-every``)
``summary.csv``     the table
==================  ==============================================================

The files are written when the study ends, and also after a run once a minute has
passed since they were last written, so an interrupted long study keeps its finished
runs.

Optimizers are given as ``name`` or ``name:hyperparameter=value`` entries separated by
commas; an entry ``key=value`` without a name adds one more hyperparameter to the
optimizer before it::

    symupdates compare --optimizers sgd:learning_rate=0.1,momentum,adam:learning_rate=1e-4,beta2=0.99

Every keyword argument of the optimizer function is a hyperparameter (``learning_rate``,
``momentum``, ``beta1``, ``rho``, ``epsilon``, ``weight_decay``, ``clip_norm``,
``amsgrad=true``, ...). ``--preset cute-dl`` reproduces the optimizer study of the
cute-dl MNIST write-up; any option given explicitly overrides the preset's value.

Each subcommand is one ``_add_<name>_parser(subparsers)`` function that declares its
arguments and the function that runs it; :func:`main` dispatches.

>>> from symupdates.lab.cli import parse_optimizers
>>> [spec.label for spec in parse_optimizers("sgd:learning_rate=0.1,momentum,adam:learning_rate=1e-4,beta2=0.99")]
['sgd:learning_rate=0.1', 'momentum', 'adam:learning_rate=1e-4,beta2=0.99']
>>> parse_optimizers("adam:learning_rate=1e-4,beta2=0.99")[0].hyperparams
{'learning_rate': 0.0001, 'beta2': 0.99}
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import hashlib
import json
import math
import os
import socket
import sys
import time
import warnings
from pathlib import Path

import numpy as np

from symupdates.checkpoint import atomic_write
from symupdates.lab import search
from symupdates.lab.specs import MATRIX_RULES, OPTIMIZERS, SHORT_NAMES, OptimizerSpec
from symupdates.lab.specs import hyperparameters as _hyperparameters
from symupdates.lab.training import MONITOR_EVERY, check_mode

__all__ = ["MATRIX_RULES", "OPTIMIZERS", "PRESETS", "OptimizerSpec", "UsageError", "build_parser", "main", "parse_optimizers"]

#: The default ``--optimizers``: every optimizer, with settings that suit the small MLPs.
DEFAULT_OPTIMIZERS = (
    "sgd:learning_rate=0.1,momentum:learning_rate=0.01,nesterov_momentum:learning_rate=0.01,"
    "adagrad:learning_rate=0.05,adadelta,rmsprop:learning_rate=1e-3,adam:learning_rate=1e-3,"
    "adamw:learning_rate=1e-3,adamax:learning_rate=2e-3,nadam:learning_rate=2e-3,radam:learning_rate=1e-3,"
    # Rprop is made for full-batch gradients: on minibatches its step sizes need a low ceiling
    "rprop:learning_rate=1e-3,step_size_max=1e-2,asgd:learning_rate=0.1,lion:learning_rate=3e-4,"
    "adafactor:learning_rate=0.01,muon:learning_rate=0.02"
)

#: Settings per dataset, used unless a preset or an explicit option says otherwise.
DATASET_DEFAULTS = {
    "digits": {"hidden": (64, 64), "batch_size": 32, "max_steps": 1500, "validate_every": 50, "target_accuracy": 0.95},
    "mnist": {"hidden": (64, 64), "batch_size": 64, "max_steps": 20_000, "validate_every": 500, "target_accuracy": 0.97},
}

#: Settings shared by every dataset.
GENERAL_DEFAULTS = {
    "optimizers": DEFAULT_OPTIMIZERS,
    "activation": "relu",
    "l2": 0.0,
    "dtype": "float32",
    "seed": 0,
    "patience": 0,
    "target_times": 0,
    "log_every": 1,
    "monitor_every": MONITOR_EVERY,
    "tune": 0,
    "tune_range": (1e-6, 10.0),
    "seeds": 1,
    "xscale": "linear",
    "format": "png",
    "mode": None,
}

#: ``--preset NAME``: a published study's settings. Explicit options override them.
PRESETS = {
    "cute-dl": {
        "description": (
            "the optimizer study of the cute-dl MNIST write-up (brandonlyg/cute-dl, docs/05.md): "
            "softmax regression on MNIST, batch 64, validation on the 10,000 test images once per "
            "epoch (938 steps), stop after 20 validations without a lower validation loss or once "
            "accuracy has stayed at or above 91% for 20 validations in a row"
        ),
        "dataset": "mnist",
        "hidden": (),
        "batch_size": 64,
        "validate_every": 938,
        "max_steps": 2_000_000,
        "patience": 20,
        "target_accuracy": 0.91,
        "target_times": 20,
        "log_every": 100,
        "xscale": "log",
        "mode": "NUMBA",
        "optimizers": (
            "sgd:learning_rate=1e-4,sgd:learning_rate=0.2,sgd:learning_rate=0.01,"
            "momentum:learning_rate=0.002,momentum=0.9,"
            "adagrad:learning_rate=0.001,epsilon=1e-6,"
            "rmsprop:learning_rate=1e-4,rho=0.99,epsilon=1e-6,"
            "adadelta:rho=0.99,epsilon=1e-12,"
            "adam:learning_rate=1e-4,beta1=0.9,beta2=0.99"
        ),
    },
}

#: While a study runs, the output files are rewritten after a run once this many seconds have passed.
_REWRITE_SECONDS = 60.0

_TRUE, _FALSE = ("true", "yes", "1", "on"), ("false", "no", "0", "off")


class UsageError(ValueError):
    """A command-line argument is wrong; :func:`main` reports it as a usage error (exit code 2)."""


# --------------------------------------------------------------------------- --optimizers


def _parse_value(name, key, raw, parameter):
    text = raw.strip()
    if isinstance(parameter.default, bool):
        if text.lower() in _TRUE:
            return True
        if text.lower() in _FALSE:
            return False
        raise UsageError(f"--optimizers: {name}:{key}={raw} must be true or false")
    if parameter.default is None and text.lower() == "none":
        return None
    if isinstance(parameter.default, int):  # a count (Muon's ns_steps)
        try:
            return int(text)
        except ValueError:
            raise UsageError(f"--optimizers: {name}:{key}={raw} is not an integer; give e.g. {key}={parameter.default}") from None
    try:
        return float(text)
    except ValueError:
        if parameter.default is None:  # a number or a name (Muon's adjust_lr_fn): the rule checks it
            return text
        raise UsageError(f"--optimizers: {name}:{key}={raw} is not a number; give e.g. {key}=1e-3") from None


def parse_optimizers(text) -> list[OptimizerSpec]:
    """Parse ``--optimizers``: ``name[:key=value][,key=value...]`` entries separated by commas.

    Each hyperparameter value is checked by building the optimizer's updates for a
    one-parameter cost (no compiling), so a value out of range is reported here, before
    any training starts.

    Parameters
    ----------
    text : str
        E.g. ``"sgd:learning_rate=0.01,momentum,adam:learning_rate=1e-4,beta2=0.99"``.

    Returns
    -------
    list of OptimizerSpec
        In the order given.

    Raises
    ------
    UsageError
        For an empty entry, an unknown optimizer (the message lists the valid ones), an
        unknown hyperparameter (the message lists the optimizer's), a value that does not
        parse or is out of range, or the same entry twice.

    Examples
    --------
    >>> from symupdates.lab.cli import parse_optimizers
    >>> spec = parse_optimizers("rmsprop:learning_rate=1e-4,rho=0.99,centered=true")[0]
    >>> spec.name, spec.hyperparams
    ('rmsprop', {'learning_rate': 0.0001, 'rho': 0.99, 'centered': True})
    >>> parse_optimizers("adam:lr=0.1")
    Traceback (most recent call last):
    ...
    symupdates.lab.cli.UsageError: --optimizers: adam has no hyperparameter 'lr'; its hyperparameters are learning_rate, beta1, beta2, epsilon, amsgrad, weight_decay, decoupled_weight_decay, clip_norm, maximize, skip_nonfinite
    """
    if not isinstance(text, str) or not text.strip():
        raise UsageError("--optimizers is empty; give e.g. sgd:learning_rate=0.1,adam")
    entries: list[tuple[str, list[tuple[str, str]]]] = []
    for token in (t.strip() for t in text.split(",")):
        if not token:
            raise UsageError(f"--optimizers {text!r} has an empty entry (two commas in a row, or one at an end)")
        name, colon, assignment = token.partition(":")
        if colon or "=" not in token:
            name = name.strip()
            if name not in OPTIMIZERS:
                raise UsageError(f"--optimizers: unknown optimizer {name!r}; choose from {', '.join(OPTIMIZERS)}")
            entries.append((name, []))
            if not colon:
                continue
        elif not entries:
            raise UsageError(f"--optimizers: {token!r} must follow an optimizer name, as in adam:{token}")
        else:
            assignment = token
        key, equals, value = assignment.partition("=")
        key = key.strip()
        if not equals or not key or not value.strip():
            raise UsageError(f"--optimizers: {token!r} must read name:hyperparameter=value, e.g. adam:learning_rate=1e-3")
        entries[-1][1].append((key, value.strip()))

    specs, seen = [], set()
    for name, pairs in entries:
        parameters = _hyperparameters(name)
        hyperparams = {}
        for key, raw in pairs:
            if key not in parameters:
                raise UsageError(
                    f"--optimizers: {name} has no hyperparameter {key!r}; its hyperparameters are {', '.join(parameters)}"
                )
            if key in hyperparams:
                raise UsageError(f"--optimizers: {name} is given {key} twice")
            hyperparams[key] = _parse_value(name, key, raw, parameters[key])
        spec = OptimizerSpec(name, hyperparams, tuple(pairs))
        if spec.label in seen:
            raise UsageError(f"--optimizers: {spec.label} is listed twice")
        seen.add(spec.label)
        _check_builds(spec)
        specs.append(spec)
    return specs


def _check_builds(spec) -> None:
    """Build the updates of a one-parameter cost, so the optimizer validates the values now."""
    import pytensor

    p = pytensor.shared(np.zeros((2, 2)), name="p")
    try:
        spec.optimizer()((p**2).sum(), [p])
    except (TypeError, ValueError) as err:
        raise UsageError(f"--optimizers: {spec.label}: {err}") from None


# --------------------------------------------------------------------------- settings


def _hidden(text) -> tuple[int, ...]:
    text = text.strip().lower()
    if text in ("", "none"):
        return ()
    try:
        sizes = tuple(int(h) for h in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a list of layer widths such as 64,64 (or none)") from None
    if any(h < 1 for h in sizes):
        raise argparse.ArgumentTypeError(f"layer widths must be positive, got {text!r}")
    return sizes


def _number(text, kind, valid, requirement):
    """Parse an option's value as ``kind`` (int or float) and check it; ``requirement`` is the message."""
    try:
        value = kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not {'an integer' if kind is int else 'a number'}") from None
    if not valid(value):
        raise argparse.ArgumentTypeError(f"must be {requirement}, got {text}")
    return value


def _positive_int(text) -> int:
    return _number(text, int, lambda v: v >= 1, "a positive integer")


def _count(text) -> int:
    return _number(text, int, lambda v: v >= 0, "0 (off) or a positive integer")


def _accuracy(text) -> float:
    return _number(text, float, lambda v: 0 < v <= 1, "a fraction in (0, 1] such as 0.91")


def _rate_range(text) -> tuple[float, float]:
    low, dots, high = text.partition("..")
    try:
        pair = (float(low), float(high)) if dots else None
    except ValueError:
        pair = None
    if pair is None or not 0 < pair[0] < pair[1] or not math.isfinite(pair[1]):
        raise argparse.ArgumentTypeError(f"{text!r} is not a range LOW..HIGH with 0 < LOW < HIGH, e.g. 1e-5..1")
    return pair


def _non_negative(text) -> float:
    return _number(text, float, lambda v: v >= 0 and math.isfinite(v), "a finite number >= 0")


def _resolve(args) -> argparse.Namespace:
    """Fill every setting: the explicit option, else the preset's, else the dataset's default."""
    preset = PRESETS[args.preset] if args.preset else {}
    explicit = {k: v for k, v in vars(args).items() if v is not None}
    dataset = explicit.get("dataset", preset.get("dataset", "digits"))
    chosen = {**GENERAL_DEFAULTS, **DATASET_DEFAULTS[dataset], **preset, "dataset": dataset}
    if "epochs" in explicit or "max_steps" in explicit:  # an explicit budget replaces the default one
        chosen.pop("max_steps")
    chosen.update({k: v for k, v in explicit.items() if k not in ("run", "parser")})
    chosen.pop("description", None)
    unset = {"epochs": None, "max_steps": None, "data_dir": None, "preset": None, "out": None, "progress": None}
    s = argparse.Namespace(**{**unset, **chosen})

    if s.progress is None:  # bars on a terminal only: in a log file each redraw would be a line
        s.progress = sys.stderr.isatty()
    s.specs = parse_optimizers(s.optimizers)
    if s.data_dir is not None and s.dataset != "mnist":
        raise UsageError("--data-dir is read only with --dataset mnist")
    try:
        check_mode(s.mode)
    except ValueError as err:
        raise UsageError(f"--{err}") from None
    if s.out is None:
        s.out = Path("out") / f"compare-{s.preset or s.dataset}"
    s.out = Path(s.out)
    return s


# --------------------------------------------------------------------------- the study


@dataclasses.dataclass
class Run:
    """One optimizer's run: its entry, history, summary and initial-weight fingerprint.

    With ``--seeds K`` the run is repeated K times (seeds ``seed`` to ``seed + K - 1``:
    initial weights and minibatch order): ``history`` is the first seed's, ``repeats``
    holds all K, and ``summary`` holds the means of the numbers with their standard
    deviations under ``summary["std"]``. With ``--tune N``, ``tuning`` says how the
    learning rate was chosen.
    """

    spec: OptimizerSpec
    history: object
    summary: dict
    initial_weights: str
    repeats: tuple = ()
    tuning: dict | None = None


def _fingerprint(params) -> str:
    """SHA-256 over the parameters' names and values, to show that every run started alike."""
    digest = hashlib.sha256()
    for p in params:
        digest.update(p.name.encode())
        digest.update(np.ascontiguousarray(p.get_value(borrow=True)).tobytes())
    return digest.hexdigest()


def _thin(history, every) -> None:
    """Keep one training-step row in ``every`` (and always the last)."""
    steps = history.train["step"]
    if every == 1 or not steps:
        return
    keep = [i for i, step in enumerate(steps) if step % every == 0 or i == len(steps) - 1]
    history.train = {column: [values[i] for i in keep] for column, values in history.train.items()}


def _load_data(s):
    from symupdates.lab import datasets

    if s.dataset == "digits":
        return datasets.load_digits(seed=s.seed, dtype=s.dtype)
    return datasets.load_mnist(data_dir=s.data_dir, dtype=s.dtype)


def _check_dataset(data) -> None:
    """Check that the labels of both pairs are integer class indices in ``[0, data.n_classes)``.

    The model's ``n_out`` is ``n_classes``, and no backend checks a label index inside
    the compiled graph (Numba reads outside the logits for a label >= n_out, every
    backend wraps a negative one), so the labels are checked here, on the host, before
    anything is built.

    Raises
    ------
    TypeError
        For labels that are not integers.
    ValueError
        For ``n_classes`` that is not a positive integer, or a label outside
        ``[0, n_classes)`` (the message names the pair, the label and its index).
    """
    from symupdates.checks import check_labels

    n = data.n_classes
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 1:
        raise ValueError(f"the {data.name} dataset has n_classes={n!r}; it must be a positive integer")
    for part in ("train", "valid"):
        check_labels(getattr(data, part)[1], int(n), f"{data.name}.{part}[1] (y)",
                            owner=f"a dataset with n_classes={n}", grow="give the dataset n_classes={}")


def run_study(s, data):
    """Train the model once per optimizer, each from the same initial weights; yield each :class:`Run`.

    The labels are checked (:func:`_check_dataset`) before the model is built.
    """
    from symupdates.lab.models import mlp
    from symupdates.lab.training import Patience, TargetAccuracy, fit

    _check_dataset(data)
    model = mlp(
        n_in=data.n_features, hidden=s.hidden, n_out=data.n_classes, activation=s.activation, l2=s.l2, seed=s.seed, dtype=s.dtype
    )
    initial = model.initial_values()
    # --seeds K: the runs of seed k start from the weights that seed draws
    initials = [initial] + [
        mlp(n_in=data.n_features, hidden=s.hidden, n_out=data.n_classes, activation=s.activation, l2=s.l2,
            seed=s.seed + k, dtype=s.dtype).initial_values()
        for k in range(1, s.seeds)
    ]  # fmt: skip
    stop = []
    if s.patience:
        stop.append(Patience(s.patience))
    if s.target_times:
        stop.append(TargetAccuracy(s.target_accuracy, times=s.target_times))

    def train(spec, k, extra_stop=(), progress=s.progress, name=None):
        model.set_values(initials[k])
        return fit(
            model, spec.optimizer(), data.train, data.valid, batch_size=s.batch_size, epochs=s.epochs,
            max_steps=s.max_steps, validate_every=s.validate_every, monitor_every=s.monitor_every,
            stop=[*stop, *extra_stop], seed=s.seed + k, mode=s.mode, progress=progress, name=name or spec.label,
        )  # fmt: skip

    for index, spec in enumerate(s.specs):
        tuning = None
        if s.tune:
            spec, tuning = _tune(s, spec, index, train)
        model.set_values(initial)
        fingerprint = _fingerprint(model.params)
        histories = [train(spec, k, name=spec.label if s.seeds == 1 else f"{spec.label} (seed {s.seed + k})")
                     for k in range(s.seeds)]  # fmt: skip
        summaries = []
        for history in histories:
            summary = history.summary(target_accuracy=s.target_accuracy)
            summary["compile_seconds"] = history.meta["compile_seconds"]
            summaries.append(summary)
            _thin(history, s.log_every)
        summary = _aggregate(summaries) if s.seeds > 1 else summaries[0]
        yield Run(spec, histories[0], summary, fingerprint, tuple(histories) if s.seeds > 1 else (), tuning)


#: The summary's numbers that ``--seeds`` averages (with their standard deviations).
AVERAGED = ("steps_to_target", "steps", "best_accuracy", "final_accuracy", "final_loss", "train_loss", "time",
            "compile_seconds")  # fmt: skip


def _aggregate(summaries) -> dict:
    """One summary for the repeats of a run: the mean of each number of :data:`AVERAGED`
    over the seeds (``steps_to_target`` over the seeds that reached the target, ``None``
    if none did), their standard deviations (``ddof=1``) under ``"std"``, the seeds'
    count under ``"seeds"``; ``stopped`` is the first seed's reason, ``diverged`` is true
    if any seed diverged and ``stops`` lists every seed's reason."""
    out = dict(summaries[0])
    out["std"] = {}
    for key in AVERAGED:
        values = [m[key] for m in summaries if m.get(key) is not None and math.isfinite(m[key])]
        out[key] = float(np.mean(values)) if values else (None if key == "steps_to_target" else math.nan)
        out["std"][key] = float(np.std(values, ddof=1)) if len(values) > 1 else math.nan
    out["diverged"] = any(m["diverged"] for m in summaries)
    out["stops"] = [m["stopped"] for m in summaries]
    out["seeds"] = len(summaries)
    out["reached_target"] = sum(m.get("steps_to_target") is not None for m in summaries)
    return out


def _tune(s, spec, index, train):
    """``--tune N``: N random-search trials of the spec's learning rate (log-uniform over
    ``--tune-range``), each a run of the study's settings with the first seed, reporting
    its validation loss to Optuna's median pruner at each validation. Returns the spec with
    the best learning rate (lowest validation loss) and a record of the trials."""
    from symupdates.lab.search import Range, best_valid_loss, import_optuna, pruning_rule

    optuna = import_optuna()

    low, high = s.tune_range
    space = Range(low, high, "log")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    seed = int(np.random.SeedSequence([s.seed, index]).generate_state(1)[0])
    study = optuna.create_study(
        direction="minimize", sampler=optuna.samplers.RandomSampler(seed=seed),
        pruner=optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=1),
    )  # fmt: skip
    records = []
    for _ in range(s.tune):
        trial = study.ask()
        rate = space.suggest(trial, "learning_rate")
        candidate = _with_learning_rate(spec, rate)
        history = train(candidate, 0, extra_stop=[pruning_rule(trial)], progress=False, name=f"tuning {candidate.label}")
        value = best_valid_loss(history)
        state = "pruned" if history.stopped == "pruned" else "complete"
        if state == "pruned":
            study.tell(trial, state=optuna.trial.TrialState.PRUNED)
        else:
            study.tell(trial, value)
        records.append({"learning_rate": rate, "value": value, "state": state, "stopped": history.stopped})
    complete = [r for r in records if r["state"] == "complete" and math.isfinite(r["value"])]
    if not complete:
        raise UsageError(f"--tune: no trial of {spec.label} finished with a finite validation loss; widen --tune-range")
    best = min(complete, key=lambda r: r["value"])
    tuning = {
        "trials": records, "best_learning_rate": best["learning_rate"], "best_value": best["value"],
        "range": [low, high], "border": space.border(best["learning_rate"]) is not None,
    }  # fmt: skip
    return _with_learning_rate(spec, float(f"{best['learning_rate']:.3g}")), tuning


def _with_learning_rate(spec, rate) -> OptimizerSpec:
    hyperparams = {**spec.hyperparams, "learning_rate": rate}
    raw = tuple((k, v) for k, v in spec.raw if k != "learning_rate") + (("learning_rate", f"{rate:.3g}"),)
    return OptimizerSpec(spec.name, hyperparams, raw)


# --------------------------------------------------------------------------- output


def _percent(x) -> str:
    return "—" if x is None or not math.isfinite(x) else f"{100 * x:.2f}"


#: Why a run stopped (``History.stopped``), as the table says it.
STOP_REASONS = {
    "target_accuracy": "target held",
    "patience": "patience",
    "diverged": "diverged",
    "max_steps": "step limit",
    "epochs": "epoch limit",
}


def _stop_text(stopped) -> str:
    """Why a run stopped, as the table and the log say it (:data:`STOP_REASONS`)."""
    return STOP_REASONS.get(stopped, str(stopped))


def table_rows(runs) -> list[list[str]]:
    """The table's cells as text, one row per run (the last two cells are the times).

    ``final loss`` is the last validation loss, or for a diverged run the training loss
    that diverged (NaN, ±inf or a blow-up), since such a run stops without validating.
    ``stopped by`` says why the run ended (:data:`STOP_REASONS`): the target accuracy
    held for ``--target-times`` validations, ``--patience`` ran out, the loss diverged,
    or the step (epoch) limit was reached.
    """
    rows = []
    for run in runs:
        m = run.summary
        if "std" in m:  # --seeds: mean ± standard deviation over the seeds
            rows.append(_mean_row(run))
            continue
        # A diverged run stops before validating again: its final loss is the training loss that diverged.
        loss = m["train_loss"] if m["diverged"] else m["final_loss"]
        rows.append(
            [
                run.spec.label,
                "—" if m["steps_to_target"] is None else str(m["steps_to_target"]),
                str(m["steps"]),
                _percent(m["best_accuracy"]),
                _percent(m["final_accuracy"]),
                f"{loss:.4g}" if m["diverged"] else f"{loss:.4f}",
                _stop_text(m["stopped"]),
                f"{m['time']:.1f}",
                f"{m['compile_seconds']:.1f}",
            ]
        )
    return rows


def _mean_row(run) -> list[str]:
    """A row of ``--seeds`` runs: each number as ``mean±sd`` over the seeds (the mean alone
    when every seed gave the same); the steps to the target over the seeds that reached it
    (``(k/K)`` when not all did); the stop reasons, with their counts when they differ."""
    m, sd = run.summary, run.summary["std"]

    def pm(key, digits, scale=1.0):
        mean, std = m[key], sd[key]
        if mean is None or not math.isfinite(mean):
            return "—"
        text = f"{scale * mean:.{digits}f}"
        return text + (f"±{scale * std:.{digits}f}" if math.isfinite(std) and std > 0 else "")

    target = pm("steps_to_target", 0)
    if m["reached_target"] not in (0, m["seeds"]):
        target += f" ({m['reached_target']}/{m['seeds']})"
    loss = "train_loss" if m["diverged"] and not math.isfinite(m["final_loss"]) else "final_loss"
    stops = [_stop_text(x) for x in m["stops"]]
    stopped = ", ".join(f"{r} ×{stops.count(r)}" if len(set(stops)) > 1 else r for r in dict.fromkeys(stops))
    # one digit fewer than a single run's, so that the table still fits 100 columns
    return [run.spec.label, target, pm("steps", 0), pm("best_accuracy", 1, 100), pm("final_accuracy", 1, 100),
            pm(loss, 3), stopped, f"{m['time']:.1f}", f"{m['compile_seconds']:.1f}"]  # fmt: skip


def _labels(runs) -> list[str]:
    """The runs' names in the table and the legend: the short labels
    (:attr:`OptimizerSpec.short_label`), or the entries as typed if two short ones coincide."""
    short = [run.spec.short_label for run in runs]
    return short if len(set(short)) == len(short) else [run.spec.label for run in runs]


def _table(s, runs):
    from rich.table import Table

    target = f"{100 * s.target_accuracy:g}%"
    over = f", mean ± sd over {s.seeds} seeds" if s.seeds > 1 else ""
    tuned = f", learning rates tuned by {s.tune} random trials each" if s.tune else ""
    table = Table(
        title=f"{s.dataset}: validation accuracy (%) per optimizer, steps to {target}, final validation loss{over}{tuned}",
        padding=(0, 1),
    )
    headers = ["optimizer", f"to {target}", "steps", "best", "final", "loss", "stopped by", "train s", "compile s"]
    for i, header in enumerate(headers):
        # Only the optimizer's label wraps (at its spaces) when the table is too wide for the terminal.
        table.add_column(header, justify="left" if i in (0, 6) else "right", overflow="fold", no_wrap=i != 0,
                         min_width=8 if i == 0 else None)
    labels = _labels(runs)
    for run, label, row in zip(runs, labels, table_rows(runs), strict=True):
        table.add_row(label, *row[1:], style="red" if run.summary["diverged"] else None)
    return table


def _json_safe(value):
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    return value


def _settings(s) -> dict:
    keys = (
        "dataset", "preset", "hidden", "activation", "l2", "dtype", "batch_size", "epochs", "max_steps",
        "validate_every", "monitor_every", "patience", "target_accuracy", "target_times", "seed", "mode", "log_every",
        "xscale", "optimizers", "tune", "tune_range", "seeds",
    )  # fmt: skip
    return {k: getattr(s, k) for k in keys}


def write_outputs(s, data, runs) -> dict[str, Path]:
    """Write the figure, the CSV files and the JSON file into ``s.out``; return their paths."""
    from symupdates.lab.history import TRAIN_COLUMNS, VALID_COLUMNS
    from symupdates.lab.plotting import plot_histories, run_lines

    s.out.mkdir(parents=True, exist_ok=True)
    paths = {name: s.out / name for name in ("summary.csv", "valid.csv", "train.csv", "histories.json")}
    paths["figure"] = s.out / f"curves.{s.format}"

    title = f"{s.preset or s.dataset}: {_model_text(s, data)}, batch {s.batch_size}, seed {s.seed}"
    labels = _labels(runs)
    figure = plot_histories(
        {label: run.history for label, run in zip(labels, runs, strict=True)},
        target_accuracy=s.target_accuracy,
        title=title + (f", mean ± sd over {s.seeds} seeds" if s.seeds > 1 else ""),
        bands={label: list(run.repeats) for label, run in zip(labels, runs, strict=True) if run.repeats} or None,
    )
    if s.xscale == "log":  # linear up to the first validation (step 0 stays visible), logarithmic beyond
        for ax in figure.axes[:3]:  # the panels (the inset keeps its linear second half)
            ax.set_xscale("symlog", linthresh=s.validate_every)
            right = max(run.summary["steps"] for run in runs)
            ax.set_xlim(0, right)
            # 0 and the decades beyond the linear part; a decade inside it would print on top of the 0
            decades = 10.0 ** np.arange(math.ceil(math.log10(s.validate_every)), math.log10(right) + 1)
            ax.set_xticks([0.0, *decades])
    with atomic_write(paths["figure"]) as f:
        figure.savefig(f, dpi=100, format=s.format)
    lines = {ax.get_title(): len(run_lines(ax)) for ax in figure.axes}

    for table, columns in (("valid", VALID_COLUMNS), ("train", TRAIN_COLUMNS)):
        with atomic_write(paths[f"{table}.csv"], "w", encoding="utf-8", newline="") as f:
            writer = csv.writer(f, lineterminator="\n")
            writer.writerow(["optimizer", *columns])
            for run in runs:
                values = getattr(run.history, table)
                writer.writerows([run.spec.label, *row] for row in zip(*(values[c] for c in columns), strict=True))

    summary_columns = ["optimizer", "steps_to_target", "steps", "best_accuracy", "best_step", "final_accuracy", "final_loss",
                       "train_loss", "stopped", "diverged", "time", "compile_seconds"]  # fmt: skip
    with atomic_write(paths["summary.csv"], "w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(summary_columns)
        for run in runs:
            writer.writerow([run.spec.label, *(run.summary[c] for c in summary_columns[1:])])

    document = {
        "settings": _settings(s),
        "data": {"name": data.name, "n_train": len(data.train[1]), "n_valid": len(data.valid[1]), "n_features": data.n_features},
        "runs": [
            {
                "label": run.spec.label,
                "optimizer": run.spec.name,
                "hyperparams": run.spec.hyperparams,
                "initial_weights_sha256": run.initial_weights,
                "summary": run.summary,
                "history": json.loads(run.history.to_json()),
                **({"repeats": [json.loads(h.to_json()) for h in run.repeats]} if run.repeats else {}),
                **({"tuning": run.tuning} if run.tuning else {}),
            }
            for run in runs
        ],
        "figure": {"path": paths["figure"].name, "lines": lines},
    }
    with atomic_write(paths["histories.json"], "w", encoding="utf-8") as f:
        f.write(json.dumps(_json_safe(document), allow_nan=False, indent=1))
    return paths


def _model_text(s, data) -> str:
    sizes = "-".join(str(n) for n in (data.n_features, *s.hidden, data.n_classes))
    return f"MLP {sizes} ({s.activation})" if s.hidden else f"softmax regression {sizes}"


#: The width of the output when it is not a terminal (a log file, a pipe).
PIPED_WIDTH = 100


def _console():
    """Rich output that fits the terminal, or :data:`PIPED_WIDTH` columns of plain text (no
    colour, no escape codes) when standard output is not a terminal: a pipe, a log, a notebook."""
    from rich.console import Console

    out = sys.stdout
    if out.isatty():
        return Console(file=out, highlight=False)
    # Plain text in a notebook too (rich would send ANSI-coloured display data there).
    return Console(file=out, width=PIPED_WIDTH, highlight=False, color_system=None, force_terminal=False, force_jupyter=False)


def _describe(s, data) -> str:
    """One line saying what the study trains, on what, for how long."""
    budget = " and ".join(x for x in (s.epochs and f"{s.epochs} epochs", s.max_steps and f"{s.max_steps} steps") if x)
    rules = [f"{s.patience} validations without a lower loss"] if s.patience else []
    if s.target_times:
        rules.append(f"accuracy >= {s.target_accuracy:g} for {s.target_times} validations in a row")
    return (
        f"compare{f' (preset {s.preset})' if s.preset else ''}: {data.name}, {len(data.train[1])} training and "
        f"{len(data.valid[1])} validation examples; {_model_text(s, data)}, {s.dtype}, seed {s.seed}; "
        f"batch {s.batch_size}, at most {budget}, validation every {s.validate_every} steps"
        + (f"; stop after {' or '.join(rules)}" if rules else "")
        + f"; {len(s.specs)} optimizers"
    )


def run_compare(args) -> int:
    """The ``compare`` subcommand."""
    s = _resolve(args)
    console = _console()
    try:
        data = _load_data(s)
    except (RuntimeError, OSError, ValueError) as err:
        print(f"symupdates compare: error: cannot load {s.dataset}: {err}", file=sys.stderr)
        return 1
    try:
        _check_dataset(data)
    except (TypeError, ValueError) as err:
        print(f"symupdates compare: error: {err}", file=sys.stderr)
        return 1
    console.print(_describe(s, data), markup=False)
    runs, written = [], time.monotonic()
    with warnings.catch_warnings():
        # The C backend (CVM) says this once per process; the small matrices here do not need BLAS.
        warnings.filterwarnings("ignore", message="PyTensor could not link to a BLAS installation")
        for run in run_study(s, data):
            runs.append(run)
            if time.monotonic() - written > _REWRITE_SECONDS:  # a long study keeps its finished runs if interrupted
                write_outputs(s, data, runs)
                written = time.monotonic()
            if run.tuning:
                t = run.tuning
                pruned = sum(r["state"] == "pruned" for r in t["trials"])
                console.print(
                    f"  {run.spec.name}: learning rate {t['best_learning_rate']:.3g} (validation loss "
                    f"{t['best_value']:.4f}) after {len(t['trials'])} trials, {pruned} pruned"
                    + ("; warning: within 10% of an end of --tune-range (log space): widen it" if t["border"] else ""),
                    markup=False,
                )
            if not s.progress:
                m = run.summary
                console.print(
                    f"  {run.spec.label}: {m['steps']:.0f} steps, stopped by {_stop_text(m['stopped'])}, "
                    f"best accuracy {_percent(m['best_accuracy'])}%" + (f" (mean of {m['seeds']} seeds)" if "seeds" in m else ""),
                    markup=False,
                )
    paths = write_outputs(s, data, runs)
    console.print(_table(s, runs))
    histories = ", ".join(str(paths[name]) for name in ("histories.json", "valid.csv", "train.csv", "summary.csv"))
    console.print(f"histories: {histories}", markup=False)
    console.print(f"figure: {paths['figure']}", markup=False)
    return 0


# --------------------------------------------------------------------------- search


def _search_storage(args) -> str:
    if args.storage == search.DEFAULT_STORAGE:
        os.makedirs("out", exist_ok=True)
    return args.storage


def _worker_log(message) -> None:
    print(f"[{socket.gethostname()}:{os.getpid()}] {message}", flush=True)


def _search_create(args) -> int:
    rules = [r.strip() for r in args.rules.split(",") if r.strip()]
    space = search.parse_space(args.space or [], rules)
    config = search.create(
        args.name, _search_storage(args), rules, space=space, trials=args.trials, epochs=args.epochs,
        dataset=args.dataset, hidden=args.hidden, activation=args.activation, dtype=args.dtype,
        batch_size=args.batch_size, seed=args.seed, mode=args.mode, sampler=args.sampler, pruner=args.pruner,
        out_dir=args.dir, heartbeat=args.heartbeat,
    )  # fmt: skip
    pruning = "no pruning" if config.pruner == "none" else f"{config.pruner} pruning"
    print(f"search {config.name}: {len(config.rules)} rules x {config.trials} trials of {config.epochs} epoch(s) "
          f"on {config.dataset}, {config.sampler} sampling, {pruning}")  # fmt: skip
    for rule, ranges in config.space.items():
        print(f"  {rule}: " + ", ".join(f"{k} in {r.text()}" for k, r in ranges.items()))
    shown = search.safe_url(args.storage)
    # a URL with a password is shown without it: the command is to be completed, not copied
    storage = "URL" if shown != args.storage else shown
    print(f"run workers with: symupdates search worker {config.name} --storage {storage}"
          + (f"  (URL: {shown}, with its password)" if storage == "URL" else ""))  # fmt: skip
    return 0


def _interrupt(signum, frame):
    """A worker's handler of SIGINT and SIGTERM: the first one interrupts it; later ones (the
    master's SIGTERM after Ctrl-C reached every process) are ignored, so that the worker
    can queue its trial again."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise KeyboardInterrupt


def _search_worker(args) -> int:
    import signal

    # SIGTERM (kill, the local master stopping its workers) ends a worker as Ctrl-C does: its
    # running trial is queued again, and it exits with one line rather than a traceback.
    previous = {sig: signal.signal(sig, _interrupt) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        done = search.work(args.name, _search_storage(args), max_trials=args.trials, timeout=args.timeout,
                           log=_worker_log)  # fmt: skip
    except KeyboardInterrupt:
        _worker_log("interrupted: this worker stops")
        return 130
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    _worker_log(f"finished {done} trial(s)")
    return 0


def _search_run(args) -> int:
    """The local master: start N worker processes, wait for them, stop them on Ctrl-C."""
    import signal
    import subprocess

    url = _search_storage(args)
    search.load_config(args.name, url)  # a missing search is reported once, here
    command = [sys.executable, "-m", "symupdates", "search", "worker", args.name, "--storage", url]
    if args.timeout is not None:
        command += ["--timeout", str(args.timeout)]
    env = search.worker_env(args.workers)  # the cores divided among the workers' BLAS threads
    workers = [subprocess.Popen(command, env=env) for _ in range(args.workers)]
    print(f"started {len(workers)} worker(s): pids {', '.join(str(w.pid) for w in workers)}", flush=True)
    try:
        codes = [w.wait() for w in workers]
    except KeyboardInterrupt:
        # Ctrl-C reached the workers too (one process group); SIGTERM those it did not (the
        # master alone was interrupted). A worker queues its running trial again and exits.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        print("stopping the workers: their running trials are queued again; "
              f"`symupdates search run {args.name}` resumes them from their checkpoints", flush=True)  # fmt: skip
        for w in workers:
            if w.poll() is None:
                w.terminate()
        for w in workers:
            try:
                w.wait(timeout=30)
            except subprocess.TimeoutExpired:
                w.kill()
        return 130
    _print_search_status(args.name, url)
    return max(codes, default=0)


def _search_stop(args) -> int:
    search.request_stop(args.name, _search_storage(args))
    print(f"search {args.name}: every worker stops after its current trial")
    return 0


def _print_search_status(name, url) -> None:
    from rich.table import Table

    config = search.load_config(name, url)
    report = search.status(name, url)
    table = Table(title=f"search {name}: {config.trials} trials per rule, {config.epochs} epoch(s) each, best by validation loss")
    for column in ("rule", "done", "pruned", "running", "failed", "queued", "best", "val loss", "val acc", "at"):
        table.add_column(column, justify="left" if column in ("rule", "at") else "right", overflow="fold")
    for rule, r in report.items():
        c, best = r["counts"], r["best"]
        digits = {k: 6 if span.scale == "1-log" else 3 for k, span in config.space[rule].items()}
        values = "  ".join(f"{SHORT_NAMES.get(k, k)}={v:.{digits[k]}g}" for k, v in best["hyperparams"].items()) if best else "—"
        acc = best["accuracy"] if best and best["accuracy"] is not None else math.nan
        table.add_row(rule, str(c["complete"]), str(c["pruned"]), str(c["running"]), str(c["failed"]), str(c["waiting"]),
                      f"#{best['number']}" if best else "—", f"{best['value']:.4f}" if best else "—",
                      f"{100 * acc:.2f}" if math.isfinite(acc) else "—", values)  # fmt: skip
    console = _console()
    console.print(table)
    for r in report.values():
        for warning in r["borders"]:
            console.print(f"warning: {warning}")


def _search_status(args) -> int:
    _print_search_status(args.name, _search_storage(args))
    return 0


def _search_plot(args) -> int:
    out = args.out or Path("out") / f"search-{args.name}.png"
    if Path(out).suffix.lstrip(".") not in ("png", "svg", "pdf"):
        raise UsageError(f"--out {out}: the figure's format comes from its suffix; use .png, .svg or .pdf")
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    search.plot(args.name, _search_storage(args), out)
    print(f"wrote {out}")
    return 0


def _search_refine(args) -> int:
    config = search.refine(args.name, _search_storage(args), args.new_name, top=args.top, epochs=args.epochs, trials=args.trials)
    print(f"search {config.name} (refined from {args.name}): {config.trials} trials per rule, {config.epochs} epoch(s) each")
    for rule, ranges in config.space.items():
        print(f"  {rule}: " + ", ".join(f"{k} in {r.text()}" for k, r in ranges.items()))
    return 0


def _usage_errors(run):
    """Report a ValueError of the library (an unknown search, a bad range) as a usage error."""

    def wrapped(args):
        try:
            return run(args)
        except ValueError as err:
            if isinstance(err, UsageError):
                raise
            raise UsageError(str(err)) from None

    return wrapped


def _add_search_parser(subparsers) -> None:
    """``symupdates search``: its commands and their arguments."""
    def positive_float(text):
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if not value > 0:
            raise argparse.ArgumentTypeError(f"must be a positive number of seconds, got {text}")
        return value

    top = subparsers.add_parser(
        "search", help="hyperparameter search on Optuna: workers, status, plots, coarse to fine",
        description=(
            "Random (log-uniform) hyperparameter search with any number of workers against one Optuna storage: "
            "SQLite by default, PostgreSQL for workers on several machines."
        ),
    )  # fmt: skip
    commands = top.add_subparsers(dest="search_command", metavar="COMMAND", required=True)

    def command(name, help, run):
        p = commands.add_parser(name, help=help, description=help)
        p.add_argument("name", help="the search's name")
        p.add_argument("--storage", default=search.DEFAULT_STORAGE, metavar="URL",
                       help=f"Optuna storage URL (default {search.DEFAULT_STORAGE}; PostgreSQL: postgresql+psycopg://user@host/db)")
        p.set_defaults(run=_usage_errors(run), parser=p)
        return p

    p = command("create", "create a search: one study per rule, each with its trials queued", _search_create)
    p.add_argument("--rules", required=True, metavar="LIST", help="rules to tune, e.g. sgd,momentum,adam")
    p.add_argument("--space", action="append", metavar="[RULE.]NAME[=LOW..HIGH[:SCALE]]",
                   help="a hyperparameter to search (repeat); SCALE log, linear or 1-log; default: each rule's "
                        "learning_rate over 1e-6..10, log-uniform")  # fmt: skip
    p.add_argument("--trials", type=_positive_int, default=20, metavar="N", help="trials per rule (default 20)")
    p.add_argument("--epochs", type=_positive_int, default=1, metavar="N", help="epochs per trial (default 1)")
    p.add_argument("--dataset", choices=["digits", "mnist"], default="digits")
    p.add_argument("--hidden", type=_hidden, default=(64, 64), metavar="WIDTHS", help="hidden widths (default 64,64)")
    p.add_argument("--activation", choices=["relu", "tanh"], default="relu")
    p.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    p.add_argument("--batch-size", type=_positive_int, default=32, metavar="N")
    p.add_argument("--seed", type=int, default=0, metavar="N", help="initial weights, split, minibatches, draws")
    p.add_argument("--mode", metavar="MODE", help="PyTensor compile mode (default pytensor.config.mode)")
    p.add_argument("--sampler", choices=["random", "tpe"], default="random")
    p.add_argument("--pruner", choices=["median", "none"], default="median")
    p.add_argument("--dir", default="out/search", metavar="DIR", help="trial folders (shared between machines)")
    p.add_argument("--heartbeat", type=positive_float, default=10.0, metavar="SECONDS",
                   help="a running trial's heartbeat; silent for 3 of them, it is failed and retried (default 10)")

    p = command("worker", "run queued trials until none is left (start any number, on any machine)", _search_worker)
    p.add_argument("--trials", type=_positive_int, metavar="N", help="stop after N trials")
    p.add_argument("--timeout", type=positive_float, metavar="SECONDS", help="start no trial after this time")

    p = command("run", "start N local worker processes and wait for them (Ctrl-C stops them)", _search_run)
    p.add_argument("--workers", type=_positive_int, default=2, metavar="N", help="worker processes (default 2)")
    p.add_argument("--timeout", type=positive_float, metavar="SECONDS", help="start no trial after this time")

    command("stop", "ask every worker of the search to stop after its current trial", _search_stop)
    command("status", "trials done, running, pruned and failed; the best per rule; border warnings", _search_status)
    p = command("plot", "validation loss against each hyperparameter, one colour per rule", _search_plot)
    p.add_argument("--out", type=Path, metavar="FILE", help="figure file, .png, .svg or .pdf (default out/search-NAME.png)")
    p = command("refine", "coarse to fine: a new search with ranges narrowed around the best trials", _search_refine)
    p.add_argument("new_name", help="the new search's name")
    p.add_argument("--top", type=_positive_int, default=5, metavar="K", help="trials to narrow around (default 5)")
    p.add_argument("--epochs", type=_positive_int, metavar="N", help="epochs per trial (default 3x the old search's)")
    p.add_argument("--trials", type=_positive_int, metavar="N", help="trials per rule (default: the old search's)")


# --------------------------------------------------------------------------- parser


def _optimizer_help() -> str:
    lines = ["optimizers and their hyperparameters:"]
    for name in OPTIMIZERS:
        lines.append(f"  {name}: {', '.join(_hyperparameters(name))}")
    lines.append("presets:")
    for name, preset in PRESETS.items():
        lines.append(f"  {name}: {preset['description']}")
        lines.append(f"    --optimizers {preset['optimizers']}")
    return "\n".join(lines)


def _add_compare_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "compare",
        help="train one model with each optimizer from identical initial weights; table, curves, histories",
        description=(
            "Train one MLP with each optimizer, every run from the same initial weights, with a fresh\n"
            "optimizer state and the same minibatches; print a table and write curves.png, histories.json\n"
            "and CSV files into --out. Options left out take the preset's value, else the dataset's default."
        ),
        epilog=_optimizer_help(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    digits, mnist = DATASET_DEFAULTS["digits"], DATASET_DEFAULTS["mnist"]

    def per_dataset(key):
        return f"(default {digits[key]}; mnist {mnist[key]})"

    group = p.add_argument_group("data and model")
    add = group.add_argument
    add("--dataset", choices=sorted(DATASET_DEFAULTS), help="digits (bundled 8x8 images, the default) or mnist (60k/10k)")
    add("--data-dir", metavar="DIR", type=Path, help="with mnist: a folder with the four IDX files (raw or .gz)")
    add("--hidden", metavar="WIDTHS", type=_hidden, help="hidden layer widths, e.g. 64,64, or none (default 64,64)")
    add("--activation", choices=["relu", "tanh"], help="hidden nonlinearity (default relu)")
    add("--l2", metavar="LAMBDA", type=_non_negative, help="L2 coefficient on the weights (default 0)")
    add("--dtype", choices=["float32", "float64"], help="parameter and data dtype (default float32)")

    group = p.add_argument_group("training")
    add = group.add_argument
    add("--optimizers", metavar="LIST", help="name[:key=value][,key=value],... (default: every optimizer; see below)")
    add("--batch-size", metavar="N", type=_positive_int, help=f"rows per step {per_dataset('batch_size')}")
    add("--epochs", metavar="N", type=_positive_int, help="passes over the data (with --max-steps: whichever ends first)")
    add("--max-steps", metavar="N", type=_positive_int, help=f"training steps {per_dataset('max_steps')}")
    add("--validate-every", metavar="N", type=_positive_int, help=f"steps between validations {per_dataset('validate_every')}")
    add("--monitor-every", metavar="N", type=_positive_int,
        help="record the update/parameter ratio every N steps (default 20; 1: every step, in the compiled step)")
    add("--seed", metavar="N", type=int, help="seed of the initial weights, the split and the minibatch order (default 0)")
    add("--mode", metavar="MODE", help="PyTensor compile mode: NUMBA, CVM, JAX, FAST_COMPILE (default pytensor.config.mode)")

    group = p.add_argument_group("a fair comparison (each rule gets the same tuning budget; repeated seeds)")
    add = group.add_argument
    add("--tune", metavar="N", type=_count,
        help="tune each rule's learning rate by N random trials (log-uniform, Optuna, median pruning) on the "
             "validation set, then train with the best (default 0: use the rates given)")  # fmt: skip
    add("--tune-range", metavar="LOW..HIGH", type=_rate_range, help="the learning rates --tune draws from (default 1e-6..10)")
    add("--seeds", metavar="K", type=_positive_int,
        help="train each rule with K seeds (initial weights and minibatch order); the table shows mean ± sd and the "
             "figure bands (default 1)")  # fmt: skip

    group = p.add_argument_group("stop rules (a run whose loss turns non-finite or explodes always stops, as diverged)")
    add = group.add_argument
    add("--target-accuracy", metavar="FRACTION", type=_accuracy, help=f"the accuracy the table counts steps to {per_dataset('target_accuracy')}")
    add("--target-times", metavar="N", type=_count, help="stop once accuracy has been >= the target N validations in a row (default 0: never)")
    add("--patience", metavar="N", type=_count, help="stop after N validations without a lower validation loss (default 0: never)")

    group = p.add_argument_group("output")
    add = group.add_argument
    add("--out", metavar="DIR", type=Path, help="output folder (default out/compare-<preset or dataset>)")
    add("--log-every", metavar="N", type=_positive_int, help="keep one training step in N in the figure, train.csv and JSON (default 1)")
    add("--format", choices=["png", "svg", "pdf"], help="the figure's format: curves.png (default), curves.svg or curves.pdf")
    add("--xscale", choices=["linear", "log"], help="the figure's step axis (default linear; log suits runs of very different lengths)")
    add("--progress", dest="progress", action="store_true", default=None,
        help="progress bars (default: only when standard error is a terminal; otherwise one line per run)")
    add("--no-progress", dest="progress", action="store_false", help="no progress bars: one line per finished run")
    add("--preset", choices=sorted(PRESETS), help="a published study's settings (see below)")
    p.set_defaults(run=run_compare, parser=p)


def build_parser() -> argparse.ArgumentParser:
    """The ``symupdates`` parser with one subparser per command."""
    parser = argparse.ArgumentParser(prog="symupdates", description="Symbolic update rules for PyTensor, exact to torch.optim.")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    _add_compare_parser(subparsers)
    _add_search_parser(subparsers)
    return parser


def main(argv=None) -> int:
    """Run the command line; return the exit code (``0`` on success).

    Parameters
    ----------
    argv : list of str, optional
        The arguments after the program name; default ``sys.argv[1:]``.

    Returns
    -------
    int
        ``0`` on success, ``1`` when the data cannot be loaded or its labels are not
        class indices in ``[0, n_classes)`` (reported before any training). Argument
        errors exit with code ``2`` and a usage message, as argparse does.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    try:
        return args.run(args)
    except UsageError as err:
        args.parser.error(str(err))
    except search.StorageError as err:  # the database behind a search cannot be reached: not a usage error
        print(f"symupdates {args.command}: error: {err}", file=sys.stderr)
        return 1
