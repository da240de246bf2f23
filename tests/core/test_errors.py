"""Bad input to every public function: a clear TypeError/ValueError/FileNotFoundError, no side effects.

One table, ``CASES``, drives the test. Each row is a :class:`Bad`: the public function
called, what is wrong, a call that receives a fresh :class:`Env` (parameters, an optimizer, saved checkpoints, broken
files), the exception class expected and fragments its message must contain (the
argument's name, usually the value). After each call the test checks that nothing in
the env changed: parameters, optimizer state, host objects and every file.

The named rules' rows come from the registry (tests/rules.py): the arguments every rule
shares are written once below, each rule's own bad values are its row's ``bad_args``.
To cover a new module, add rows (and, if needed, objects to ``Env``: anything with a
``state_dict()`` in ``Env.host_objects`` is checked for changes too).
"""

from __future__ import annotations


import os
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest

import symupdates as su
from tests.rules import REGISTRY

# Calls that may only ever fail with these: never a bare PyTensor or NumPy error.
CLEAR_ERRORS = (TypeError, ValueError, FileNotFoundError, RuntimeError)


@dataclass(frozen=True)
class Bad:
    target: str  # the public function (or "Class.method") called
    what: str  # what is wrong, for the test id
    call: Callable[[Env], object]
    error: type[Exception]
    match: tuple[str, ...]  # every fragment must appear in the message

    @property
    def id(self):
        return f"{self.target}:{self.what}"


class Env:
    """What the calls act on; built fresh for every row."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.W = pytensor.shared(np.arange(6.0).reshape(2, 3), name="W")
        self.b = pytensor.shared(np.zeros(3), name="b")
        self.params = [self.W, self.b]
        self.x = pt.matrix("x", dtype="float64")
        self.cost = pt.sum(pt.tanh(self.x @ self.W + self.b))
        self.updates = su.adam(self.cost, self.params, learning_rate=0.1, clip_norm=1.0, skip_nonfinite=True)
        self.guard = su.NonFiniteGuard(self.updates, max_consecutive=3)
        self.host_objects = [self.guard]
        self._advance()
        self.checkpoint = folder / "good.npz"
        su.save(self.checkpoint, self.params, self.updates, extra={"guard": self.guard})
        self._advance()  # the state now differs from the checkpoint: a partial load would show
        self._write_bad_files()

    def _advance(self):
        """Change every parameter, state entry and counter (without compiling a function)."""
        for p in self.params:
            p.set_value(p.get_value() + 0.5)
        self.updates.load_state_dict(_changed(self.updates.state_dict()))
        self.guard.check()

    def _write_bad_files(self):
        data = self.checkpoint.read_bytes()
        self.truncated = self.folder / "truncated.npz"
        self.truncated.write_bytes(data[: len(data) // 2])
        self.empty = self.folder / "empty.npz"
        self.empty.write_bytes(b"")
        self.foreign = self.folder / "foreign.npz"
        np.savez(self.foreign, weights=np.ones(3), bias=np.zeros(2))
        self.npy = self.folder / "single.npy"
        np.save(self.npy, np.ones(3))
        self.text = self.folder / "notes.npz"
        self.text.write_text("these are not the arrays you are looking for\n")
        self.pickled = self.folder / "pickled.npz"
        np.savez(self.pickled, **{"symupdates/format": np.array([{"a": 1}], dtype=object)})
        self.other_format = self.folder / "future.npz"
        np.savez(self.other_format, **{"symupdates/format": np.array("symupdates-checkpoint/99")})
        self.extra_entries = self.folder / "extra_entries.npz"
        with np.load(self.checkpoint) as f:
            np.savez(self.extra_entries, **{k: f[k] for k in f.files}, **{"notes/x": np.ones(1)})
        self.corrupt = self.folder / "corrupt.npz"  # right length and directory, damaged array data
        raw = bytearray(data)
        with zipfile.ZipFile(self.checkpoint) as z:
            info = z.getinfo("params/W.npy")
        name_length, extra_length = np.frombuffer(data, "<u2", 2, info.header_offset + 26)
        end = info.header_offset + 30 + int(name_length) + int(extra_length) + info.compress_size
        raw[end - 8 : end] = bytes(8)  # the last element of W becomes 0.0: the CRC no longer matches
        self.corrupt.write_bytes(bytes(raw))

    # --- helpers for rows ---
    def checkpoint_of(self, name, params, updates=None, extra=None):
        path = self.folder / name
        su.save(path, params, updates, extra=extra)
        return path

    def modified_state_dict(self, **changes):
        state = _changed(self.updates.state_dict())  # loading any of it would show
        for key, value in changes.items():
            key = key.replace("__", "/")
            if value is None:
                del state[key]
            else:
                state[key] = value
        return state

    def snapshot(self):
        return {
            "params": [p.get_value().copy() for p in self.params],
            "updates": self.updates.state_dict(),
            "host": [obj.state_dict() for obj in self.host_objects],
            "files": {p.name: p.read_bytes() for p in sorted(self.folder.iterdir()) if p.is_file()},
        }


def same(a, b) -> bool:
    if isinstance(a, dict):
        return isinstance(b, dict) and list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return isinstance(b, list) and len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, bytes):
        return a == b
    a, b = np.asarray(a), np.asarray(b)
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


class NoState:
    pass


class ObjectState:
    def state_dict(self):
        return {"callback": None}

    def load_state_dict(self, state):
        pass


class Rejecting:
    def state_dict(self):
        return {}

    def load_state_dict(self, state):
        raise KeyError("not mine")


def _other_b(env):
    return [env.W, pytensor.shared(np.zeros(4), name="b")]


def _another_model(env):
    """Same names, a different shape for b, but a matching W: a partial load would change W."""
    b = pytensor.shared(np.zeros(5), name="b")
    W = pytensor.shared(np.ones((2, 3)), name="W")
    return [W, b]


def _bad_direction_count(directions, params):
    return directions[:1], []


def _bad_direction_dtype(directions, params):
    return [d.astype("float32") for d in directions], []


def _int_param():
    return pytensor.shared(np.arange(3), name="counts")


# --- the table ----------------------------------------------------------------------

CASES: list[Bad] = []

# Every named optimizer: the arguments they share.
for _case in REGISTRY:
    _rule, _fn = _case.name, _case.fn
    CASES += [
        Bad(_rule, "nonscalar-cost", lambda e, f=_fn: f(e.x @ e.W, e.params), ValueError, ("loss_or_grads", "scalar cost", "cost.mean()")),
        Bad(_rule, "int-cost", lambda e, f=_fn: f(pt.iscalar("n"), e.params), TypeError, ("loss_or_grads", "float", "int32")),
        Bad(_rule, "cost-not-a-variable", lambda e, f=_fn: f(3.0, e.params), TypeError, ("loss_or_grads", "float")),
        Bad(_rule, "empty-params", lambda e, f=_fn: f(e.cost, []), ValueError, ("params is empty",)),
        Bad(_rule, "single-param", lambda e, f=_fn: f(e.cost, e.W), TypeError, ("params must be a list", "[param]")),
        Bad(_rule, "param-not-shared", lambda e, f=_fn: f(e.cost, [e.W, pt.vector("v")]), TypeError, ("params[1]", "shared variable")),
        Bad(_rule, "int-param", lambda e, f=_fn: f([pt.vector("g", dtype="int64")], [_int_param()]), TypeError, ("params[0]", "counts", "int64", "float")),
        Bad(_rule, "param-twice", lambda e, f=_fn: f(e.cost, [e.W, e.b, e.W]), ValueError, ("params[2]", "(W)", "appears twice")),
        Bad(_rule, "too-few-grads", lambda e, f=_fn: f([pt.matrix("g")], e.params), ValueError, ("loss_or_grads has 1 gradients", "params has 2")),
        Bad(_rule, "grad-ndim", lambda e, f=_fn: f([pt.matrix("g"), pt.matrix("h")], e.params), ValueError, ("loss_or_grads[1]", "2 dimensions", "params[1] has 1")),
        Bad(_rule, "int-grad", lambda e, f=_fn: f([pt.matrix("g"), pt.vector("h", dtype="int32")], e.params), TypeError, ("loss_or_grads[1]", "float", "int32")),
        Bad(_rule, "negative-lr", lambda e, f=_fn: f(e.cost, e.params, learning_rate=-0.1), ValueError, ("learning_rate", "-0.1", "[0.0, inf]")),
        Bad(_rule, "nan-lr", lambda e, f=_fn: f(e.cost, e.params, learning_rate=float("nan")), ValueError, ("learning_rate", "finite", "nan")),
        Bad(_rule, "string-lr", lambda e, f=_fn: f(e.cost, e.params, learning_rate="0.1"), TypeError, ("learning_rate", "'0.1'", "str")),
        Bad(_rule, "vector-lr", lambda e, f=_fn: f(e.cost, e.params, learning_rate=pytensor.shared(np.ones(2))), TypeError, ("learning_rate", "scalar")),
        Bad(_rule, "zero-clip", lambda e, f=_fn: f(e.cost, e.params, clip_norm=0.0), ValueError, ("clip_norm", "(0.0, inf]", "0.0")),
        Bad(_rule, "negative-clip", lambda e, f=_fn: f(e.cost, e.params, clip_norm=-1.0), ValueError, ("clip_norm", "-1.0")),
        Bad(_rule, "maximize-not-bool", lambda e, f=_fn: f(e.cost, e.params, maximize="yes"), TypeError, ("maximize", "True or False", "'yes'")),
        Bad(_rule, "skip-not-bool", lambda e, f=_fn: f(e.cost, e.params, skip_nonfinite=1), TypeError, ("skip_nonfinite", "True or False", "1")),
    ]
    if _case.weight_decay(0.0):
        CASES.append(
            Bad(_rule, "negative-weight-decay", lambda e, f=_fn: f(e.cost, e.params, weight_decay=-0.01), ValueError, ("weight_decay", "-0.01"))
        )
    else:  # a rule without weight decay names the arguments it has
        CASES.append(Bad(_rule, "no-weight-decay", lambda e, f=_fn: f(e.cost, e.params, weight_decay=0.01), TypeError, ("weight_decay", "its arguments are")))

    # Rule-specific hyperparameters and their documented ranges: each registry row's bad_args.
    CASES += [
        Bad(_rule, bad.what, lambda e, f=_fn, kw=bad.kwargs: f(e.cost, e.params, **kw), bad.error, bad.match)
        for bad in _case.bad_args
    ]

CASES += [
    # trace's Nesterov flag, and schedules given as hyperparameters.
    Bad("trace", "nesterov-with-dampening", lambda e: su.trace(0.9, dampening=0.1, nesterov=True), ValueError, ("nesterov", "dampening=0", "0.1")),
    Bad("trace", "nesterov-not-bool", lambda e: su.trace(0.9, nesterov="yes"), TypeError, ("nesterov", "True or False")),
    Bad("hyperparam", "returns-vector", lambda e: su.sgd(e.cost, e.params, learning_rate=lambda k: pt.ones(2)), ValueError, ("schedule given as learning_rate", "scalar")),
    Bad("hyperparam", "returns-string", lambda e: su.sgd(e.cost, e.params, learning_rate=lambda k: "fast"), TypeError, ("schedule given as learning_rate", "'fast'")),
    # Transforms and clipping.
    Bad("scale", "not-a-number", lambda e: su.scale("2"), TypeError, ("factor", "'2'")),
    Bad("off", "not-off", lambda e: su.off("weight_decay", 0.1), ValueError, ("0.1 does not switch weight_decay off",)),
    Bad("off", "no-name", lambda e: su.off(""), TypeError, ("name must be a hyperparameter's name",)),
    Bad("scale_by_decayed_learning_rate", "negative-decay", lambda e: su.scale_by_decayed_learning_rate(0.1, -0.5), ValueError, ("lr_decay", "-0.5")),
    Bad("scale_by_decayed_learning_rate", "nan-rate", lambda e: su.scale_by_decayed_learning_rate(np.nan, 0.1), ValueError, ("learning_rate", "finite")),
    Bad("scale_by_learning_rate", "negative", lambda e: su.scale_by_learning_rate(-1.0), ValueError, ("learning_rate", "-1.0")),
    Bad("add_decayed_weights", "negative", lambda e: su.add_decayed_weights(-1.0), ValueError, ("weight_decay", "-1.0")),
    Bad("scale_by_adam", "beta1", lambda e: su.scale_by_adam(beta1=1.2), ValueError, ("beta1", "1.2")),
    Bad("scale_by_adamax", "epsilon", lambda e: su.scale_by_adamax(epsilon=-1.0), ValueError, ("epsilon", "-1.0")),
    Bad("scale_by_nadam", "momentum_decay", lambda e: su.scale_by_nadam(momentum_decay=-1.0), ValueError, ("momentum_decay", "-1.0")),
    Bad("scale_by_radam", "beta2", lambda e: su.scale_by_radam(beta2=1.0), ValueError, ("beta2", "1.0")),
    Bad("scale_by_rms", "rho", lambda e: su.scale_by_rms(rho=-0.1), ValueError, ("rho", "-0.1")),
    Bad("scale_by_rprop", "eta_plus", lambda e: su.scale_by_rprop(eta_plus=1.0), ValueError, ("eta_plus", "(1.0, inf]", "1.0")),
    Bad("multi_steps", "every-zero", lambda e: su.multi_steps(su.adam(learning_rate=0.1), every=0), ValueError, ("every", "0")),
    Bad("multi_steps", "not-a-rule", lambda e: su.multi_steps(lambda c, p: None, every=2)(e.cost, e.params), TypeError, ("expected a symupdates rule", "su.adam(learning_rate=1e-3)", "built 0 times")),
    Bad("accumulate_gradients", "every-float", lambda e: su.accumulate_gradients(2.5), TypeError, ("every", "2.5")),
    Bad("lookahead", "alpha-above-1", lambda e: su.lookahead(e.updates, e.params, slow_step_size=2.0), ValueError, ("slow_step_size", "2.0")),
    Bad("lookahead", "sync-zero", lambda e: su.lookahead(e.updates, e.params, sync_period=0), ValueError, ("sync_period", "0")),
    Bad("ema", "decay-above-1", lambda e: su.ema(e.updates, e.params, decay=1.5), ValueError, ("decay", "[0.0, 1.0]", "1.5")),
    Bad("ema", "not-updates", lambda e: su.ema([(e.W, e.W)], e.params), TypeError, ("updates must be an Updates",)),
    Bad("swa", "param-not-trained", lambda e: su.swa(e.updates, [pytensor.shared(np.zeros(2), name="z")]), ValueError, ("params[0]", "'z'", "not updated")),
    Bad("swa", "negative-start", lambda e: su.swa(e.updates, e.params, start=-1), ValueError, ("start", "-1")),
    Bad("swapped", "no-average", lambda e: su.swapped(e.updates, e.params).__enter__(), ValueError, ("params[0]", "'W'", "su.ema")),
    Bad("weights_only", "not-a-parameter", lambda e: su.weights_only(np.zeros(3)), TypeError, ("weights_only", "tensor shared variable")),
    Bad("add_decayed_weights", "mask-length", lambda e: su.get_updates(su.add_decayed_weights(0.1, mask=[True]), e.cost, e.params), ValueError, ("mask has 1 entries for 2 parameters",)),
    Bad("add_decayed_weights", "mask-not-bool", lambda e: su.get_updates(su.add_decayed_weights(0.1, mask=lambda p: 1), e.cost, e.params), TypeError, ("mask(param)", "True or False", "1")),
    Bad("add_decayed_weights", "mask-type", lambda e: su.add_decayed_weights(0.1, mask="weights"), TypeError, ("mask", "su.weights_only", "'weights'")),
    Bad("scale_by_lion", "beta2", lambda e: su.scale_by_lion(beta2=1.0), ValueError, ("beta2", "[0.0, 1.0)", "1.0")),
    Bad("scale_by_asgd", "t0", lambda e: su.scale_by_asgd(t0=float("inf")), ValueError, ("t0", "finite", "inf")),
    Bad("scale_by_adafactor", "beta2_decay", lambda e: su.scale_by_adafactor(beta2_decay=0.2), ValueError, ("beta2_decay", "0.2")),
    Bad("scale_by_adafactor", "clip_threshold", lambda e: su.scale_by_adafactor(clip_threshold=0.9), ValueError, ("clip_threshold", "[1.0, inf]", "0.9")),
    Bad("scale_by_muon", "vector", lambda e: su.get_updates(su.scale_by_muon(), e.cost, e.params), ValueError, ("muon takes matrices", "'b' has shape (3,)", "su.merge_updates")),
    Bad("scale_by_muon", "adjust_lr_fn", lambda e: su.scale_by_muon(adjust_lr_fn="none"), ValueError, ("adjust_lr_fn", "'original'", "'none'")),
    Bad("orthogonalize", "ns_steps", lambda e: su.orthogonalize(e.params[0], ns_steps=-1), ValueError, ("ns_steps", "-1")),
    Bad("orthogonalize", "coefficients", lambda e: su.orthogonalize(e.params[0], ns_coefficients=(1.0, float("nan"), 1.0)), ValueError, ("ns_coefficients[1]", "nan")),
    Bad("orthogonalize", "vector", lambda e: su.orthogonalize(e.params[1]), ValueError, ("orthogonalize needs a matrix",)),
    Bad("orthogonalize", "unknown-shape", lambda e: su.orthogonalize(e.params[0] * 1.0), ValueError, ("tall=",)),
    Bad("scale_by_adadelta", "rho", lambda e: su.scale_by_adadelta(rho=1.1), ValueError, ("rho", "1.1")),
    Bad("scale_by_adagrad", "epsilon", lambda e: su.scale_by_adagrad(epsilon=-1.0), ValueError, ("epsilon", "-1.0")),
    Bad("clip_by_global_norm", "zero", lambda e: su.clip_by_global_norm(0.0), ValueError, ("clip_norm", "0.0")),
    Bad("clip_by_norm", "negative", lambda e: su.clip_by_norm(-2.0), ValueError, ("max_norm", "-2.0")),
    Bad("clip_by_value", "reversed", lambda e: su.clip_by_value(1.0, -1.0), ValueError, ("min_value", "max_value")),
    Bad("clip_by_value", "not-a-number", lambda e: su.clip_by_value(None, 1.0), TypeError, ("min_value", "None")),
    Bad("global_norm", "empty", lambda e: su.global_norm([]), ValueError, ("global_norm", "at least one")),
    # chain and get_updates.
    Bad("chain", "not-a-transform", lambda e: su.chain(su.scale(2.0), 3), TypeError, ("chain() argument 1", "transform")),
    Bad("get_updates", "transform", lambda e: su.get_updates("adam", e.cost, e.params), TypeError, ("transform", "'adam'")),
    Bad("get_updates", "name", lambda e: su.get_updates(su.scale(1.0), e.cost, e.params, name=""), TypeError, ("name", "non-empty")),
    Bad("get_updates", "skip-not-bool", lambda e: su.get_updates(su.scale(1.0), e.cost, e.params, skip_nonfinite="on"), TypeError, ("skip_nonfinite", "'on'")),
    Bad("get_updates", "direction-count", lambda e: su.get_updates(_bad_direction_count, e.cost, e.params), ValueError, ("1 directions", "2 params")),
    Bad("get_updates", "direction-dtype", lambda e: su.get_updates(_bad_direction_dtype, e.cost, e.params), TypeError, ("direction", "float32", "float64")),
    # Helpers that only work while get_updates runs a transform (a misuse, not a value: RuntimeError).
    Bad("hyperparam", "outside", lambda e: su.hyperparam("learning_rate", 0.1), RuntimeError, ("inside a transform", "get_updates")),
    Bad("new_state", "outside", lambda e: su.new_state("adam", "m", like=e.W), RuntimeError, ("inside a transform",)),
    Bad("new_scope", "outside", lambda e: su.new_scope("adam"), RuntimeError, ("inside a transform",)),
    Bad("step_count", "outside", lambda e: su.step_count(), RuntimeError, ("inside a transform",)),
    Bad("add_info", "outside", lambda e: su.add_info("x", e.cost), RuntimeError, ("inside a transform",)),
    Bad("new_state", "like-not-a-param", lambda e: su.get_updates(lambda d, p: (d, [(su.new_state("s", "x", like=pt.vector("v")), d[0])]), e.cost, e.params), ValueError, ("new_state(like=...)", "one of the params")),
    Bad("check_hyperparam", "not-a-number", lambda e: su.check_hyperparam("beta1", "0.9"), TypeError, ("beta1", "'0.9'", "float")),
    Bad("check_hyperparam", "outside", lambda e: su.check_hyperparam("beta1", 1.5, low=0.0, high=1.0), ValueError, ("beta1", "[0.0, 1.0]", "1.5")),
    Bad("check_hyperparam", "open-bound", lambda e: su.check_hyperparam("rho", 1.0, low=0.0, high=1.0, high_open=True), ValueError, ("rho", "1.0)")),
    Bad("check_hyperparam", "nonfinite", lambda e: su.check_hyperparam("epsilon", float("nan"), low=0.0), ValueError, ("epsilon", "finite")),
    Bad("coef", "number", lambda e: su.coef(0.5, e.W), TypeError, ("coef", "scalar", "0.5")),
    Bad("coef", "like-int", lambda e: su.coef(pt.scalar("s"), pt.ivector("i")), TypeError, ("coef", "like")),
    Bad("compute_dtype", "int", lambda e: su.compute_dtype(_int_param()), TypeError, ("compute_dtype", "int64")),
    Bad("compute_dtype", "array", lambda e: su.compute_dtype(np.ones(2)), TypeError, ("compute_dtype", "tensor variable")),
    # merge_updates.
    Bad("merge_updates", "not-a-list", lambda e: su.merge_updates(e.updates, 3), TypeError, ("lists[1]", "pairs", "int")),
    Bad("merge_updates", "not-a-pair", lambda e: su.merge_updates([(e.W, e.W * 2, 1)]), TypeError, ("lists[0][0]", "pair")),
    Bad("merge_updates", "not-shared", lambda e: su.merge_updates([(e.x, e.x * 2)]), TypeError, ("lists[0][0]", "shared variables")),
    Bad("merge_updates", "twice", lambda e: su.merge_updates(e.updates, [(e.b, e.b * 2)]), ValueError, ("variable 'b'", "updated twice", "lists[1][0]")),
    # NonFiniteGuard.
    Bad("NonFiniteGuard", "not-updates", lambda e: su.NonFiniteGuard([], 3), TypeError, ("updates", "Updates")),
    Bad("NonFiniteGuard", "no-skip-counter", lambda e: su.NonFiniteGuard(su.sgd(e.cost, e.params), 3), ValueError, ("skip counter", "skip_nonfinite=True")),
    Bad("NonFiniteGuard", "max-zero", lambda e: su.NonFiniteGuard(e.updates, 0), ValueError, ("max_consecutive", "0")),
    Bad("NonFiniteGuard", "max-float", lambda e: su.NonFiniteGuard(e.updates, 2.5), TypeError, ("max_consecutive", "integer", "2.5")),
    Bad("NonFiniteGuard.load_state_dict", "keys", lambda e: e.guard.load_state_dict({"consecutive": 1}), ValueError, ("state_dict", "keys", "consecutive")),
    Bad("NonFiniteGuard.load_state_dict", "negative", lambda e: e.guard.load_state_dict({"consecutive": -1, "last_step": 0, "last_skipped": 0}), ValueError, ("state_dict['consecutive']", "-1")),
    Bad("NonFiniteGuard.load_state_dict", "not-a-dict", lambda e: e.guard.load_state_dict([1, 2]), TypeError, ("state_dict", "mapping")),
    # Updates.load_state_dict: every value is one more than the current state, so a partial load would show.
    Bad("Updates.load_state_dict", "not-a-mapping", lambda e: e.updates.load_state_dict([("adam/step", 1)]), TypeError, ("state_dict", "mapping", "list")),
    Bad("Updates.load_state_dict", "missing", lambda e: e.updates.load_state_dict(e.modified_state_dict(W__adam__v=None)), ValueError, ("state_dict", "missing keys ['W/adam/v']")),
    Bad("Updates.load_state_dict", "unexpected", lambda e: e.updates.load_state_dict(e.modified_state_dict(W__rms__square_avg=np.ones((2, 3)))), ValueError, ("state_dict", "unexpected keys ['W/rms/square_avg']")),
    Bad("Updates.load_state_dict", "shape", lambda e: e.updates.load_state_dict(e.modified_state_dict(b__adam__m=np.ones(4))), ValueError, ("state_dict", "'b/adam/m' has shape (4,), expected (3,)")),
    Bad("Updates.load_state_dict", "dtype", lambda e: e.updates.load_state_dict(e.modified_state_dict(W__adam__m=np.ones((2, 3), "float32"))), ValueError, ("state_dict", "'W/adam/m' has dtype float32, expected float64")),
    Bad("Updates.load_state_dict", "step-dtype", lambda e: e.updates.load_state_dict(e.modified_state_dict(adam__step=np.float64(3))), ValueError, ("'adam/step' has dtype float64, expected int64",)),
    Bad("Updates.load_state_dict", "ragged-value", lambda e: e.updates.load_state_dict(e.modified_state_dict(b__adam__m=[[1.0], [1.0, 2.0]])), ValueError, ("state_dict", "'b/adam/m' is not an array")),
    Bad("Updates.load_state_dict", "negative-step", lambda e: e.updates.load_state_dict(e.modified_state_dict(adam__step=np.int64(-2))), ValueError, ("'adam/step' is a counter and must not be negative",)),
    Bad("Updates.load_state_dict", "bad-hyperparameter", lambda e: e.updates.load_state_dict(e.modified_state_dict(hyperparams__beta2=np.float64(1.0))), ValueError, ("'hyperparams/beta2'", "beta2 must be in [0.0, 1.0), got 1.0")),
    # Hyperparameter.set_value: the argument's own rule.
    Bad("Hyperparameter.set_value", "nan", lambda e: e.updates.hyperparams["learning_rate"].set_value(np.nan), ValueError, ("learning_rate must be finite, got nan",)),
    Bad("Hyperparameter.set_value", "negative", lambda e: e.updates.hyperparams["clip_norm"].set_value(-1.0), ValueError, ("clip_norm must be in (0.0, inf], got -1.0",)),
    Bad("Hyperparameter.set_value", "beta-one", lambda e: e.updates.hyperparams["beta1"].set_value(np.float32(1.0)), ValueError, ("beta1 must be in [0.0, 1.0), got 1.0",)),
    Bad("Hyperparameter.set_value", "not-a-number", lambda e: e.updates.hyperparams["epsilon"].set_value("1e-8"), TypeError, ("epsilon must be a real number", "'1e-8'")),
    Bad("Hyperparameter.set_value", "array", lambda e: e.updates.hyperparams["epsilon"].set_value(np.ones(2)), TypeError, ("epsilon must be a real number",)),
    Bad("Updates.load_state_dict", "other-rule", lambda e: e.updates.load_state_dict(su.sgd(e.cost, e.params).state_dict()), ValueError, ("missing keys", "'adam/step'", "unexpected keys ['sgd/step']")),
    # save.
    Bad("save", "path-int", lambda e: su.save(3, e.params, e.updates), TypeError, ("path", "3", "int")),
    Bad("save", "path-bytes", lambda e: su.save(b"x.npz", e.params, e.updates), TypeError, ("path", "bytes")),
    Bad("save", "path-empty", lambda e: su.save("", e.params, e.updates), TypeError, ("path", "non-empty")),
    Bad("save", "no-folder", lambda e: su.save(e.folder / "missing" / "c.npz", e.params, e.updates), FileNotFoundError, ("missing", "does not exist")),
    Bad("save", "to-a-folder", lambda e: su.save(e.folder, e.params, e.updates), ValueError, ("path", "is a folder")),
    Bad("save", "params-not-a-list", lambda e: su.save(e.folder / "c.npz", e.W, e.updates), TypeError, ("params must be a list",)),
    Bad("save", "param-twice", lambda e: su.save(e.folder / "c.npz", [e.W, e.W], e.updates), ValueError, ("params[1]", "appears twice")),
    Bad("save", "updates-list", lambda e: su.save(e.folder / "c.npz", e.params, list(e.updates)), TypeError, ("updates", "Updates", "list")),
    Bad("save", "extra-not-a-dict", lambda e: su.save(e.folder / "c.npz", e.params, e.updates, extra=[e.guard]), TypeError, ("extra", "dict", "list")),
    Bad("save", "extra-name-slash", lambda e: su.save(e.folder / "c.npz", e.params, e.updates, extra={"a/b": e.guard}), ValueError, ("extra names", "'a/b'")),
    Bad("save", "extra-no-state", lambda e: su.save(e.folder / "c.npz", e.params, e.updates, extra={"thing": NoState()}), TypeError, ("extra['thing']", "state_dict()", "NoState")),
    Bad("save", "extra-object-value", lambda e: su.save(e.folder / "c.npz", e.params, e.updates, extra={"cb": ObjectState()}), TypeError, ("extra['cb'].state_dict()['callback']", "None")),
    # load: files that are not (complete) checkpoints.
    Bad("load", "missing-file", lambda e: su.load(e.folder / "nope.npz", e.params, e.updates), FileNotFoundError, ("nope.npz", "does not exist")),
    Bad("load", "folder", lambda e: su.load(e.folder, e.params, e.updates), ValueError, ("is a folder",)),
    Bad("load", "truncated", lambda e: su.load(e.truncated, e.params, e.updates), ValueError, ("truncated.npz", "truncated, damaged or not an .npz")),
    Bad("load", "empty-file", lambda e: su.load(e.empty, e.params, e.updates), ValueError, ("empty.npz", "not an .npz")),
    Bad("load", "corrupt", lambda e: su.load(e.corrupt, e.params, e.updates), ValueError, ("corrupt.npz", "damaged")),
    Bad("load", "text-file", lambda e: su.load(e.text, e.params, e.updates), ValueError, ("notes.npz", "not an .npz")),
    Bad("load", "npy", lambda e: su.load(e.npy, e.params, e.updates), ValueError, ("single.npy", "not an .npz")),
    Bad("load", "foreign-npz", lambda e: su.load(e.foreign, e.params, e.updates), ValueError, ("foreign.npz", "not a symupdates checkpoint", "bias", "weights")),
    Bad("load", "pickled", lambda e: su.load(e.pickled, e.params, e.updates), ValueError, ("pickled.npz", "cannot read")),
    Bad("load", "other-format", lambda e: su.load(e.other_format, e.params, e.updates), ValueError, ("future.npz", "symupdates-checkpoint/99", "symupdates-checkpoint/1")),
    Bad("load", "extra-entries", lambda e: su.load(e.extra_entries, e.params, e.updates, extra={"guard": e.guard}), ValueError, ("notes/x", "not part of a symupdates checkpoint")),
    Bad("load", "path-int", lambda e: su.load(7, e.params, e.updates), TypeError, ("path", "7")),
    Bad("load", "updates-dict", lambda e: su.load(e.checkpoint, e.params, {}), TypeError, ("updates", "Updates", "dict")),
    # load: a checkpoint that does not match the arguments.
    Bad("load", "param-shape", lambda e: su.load(e.checkpoint, _other_b(e), None), ValueError, ("parameter 'b' has shape (3,), expected (4,)",)),
    Bad("load", "param-names", lambda e: su.load(e.checkpoint, [e.W, pytensor.shared(np.zeros(3), name="c")], None), ValueError, ("missing parameters ['c']", "unexpected parameters ['b']")),
    Bad("load", "param-dtype", lambda e: su.load(e.checkpoint, [e.W, pytensor.shared(np.zeros(3, "float32"), name="b")], None), ValueError, ("parameter 'b' has dtype float64, expected float32",)),
    Bad("load", "partial-params", lambda e: su.load(e.checkpoint_of("other.npz", _another_model(e)), e.params, e.updates), ValueError, ("parameter 'b' has shape (5,)", "missing keys")),
    Bad("load", "other-optimizer", lambda e: su.load(e.checkpoint_of("sgd.npz", e.params, su.sgd(e.cost, e.params), {"guard": e.guard}), e.params, e.updates, extra={"guard": e.guard}), ValueError, ("optimizer state in the file does not match", "'adam/step'", "sgd/step")),
    Bad("load", "missing-extra", lambda e: su.load(e.checkpoint, e.params, e.updates, extra={"guard": e.guard, "plateau": e.guard}), ValueError, ("extra objects ['plateau'] are not in the file",)),
    Bad("load", "forgotten-extra", lambda e: su.load(e.checkpoint, e.params, e.updates), ValueError, ("extra objects ['guard']", "extra={")),
    Bad("load", "extra-not-in-file", lambda e: su.load(e.checkpoint, e.params, e.updates, extra={"guard": su.NonFiniteGuard(e.updates, 2), "other": e.guard}), ValueError, ("extra objects ['other'] are not in the file",)),
    Bad("load", "extra-rejects-its-state", lambda e: su.load(e.checkpoint, e.params, e.updates, extra={"guard": Rejecting()}), ValueError, ("extra['guard'] could not load its state", "good.npz", "not mine")),
]


def _changed(state):
    """Every entry changed to another valid value: counters and moments + 1, hyperparameters halved."""
    return {k: v * 0.5 if k.startswith("hyperparams/") else v + 1 for k, v in state.items()}


@pytest.fixture
def env(tmp_path):
    return Env(tmp_path)


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_raises_a_clear_error_and_changes_nothing(env, case):
    before = env.snapshot()
    with pytest.raises(CLEAR_ERRORS) as raised:
        case.call(env)
    error = raised.value
    assert type(error) is case.error, f"{type(error).__name__}: {error}"
    message = str(error)
    for fragment in case.match:
        assert fragment in message, f"{fragment!r} not in {message!r}"
    after = env.snapshot()
    after["files"] = {k: v for k, v in after["files"].items() if k in before["files"]}  # rows may write new files
    assert same(before, after), "the failed call changed the state"
    assert not [n for n in os.listdir(env.folder) if n.endswith(".tmp")], "a temporary file was left behind"


def test_the_table_covers_every_public_function():
    """Each public callable of the core and checkpoint API has at least one row."""
    public = {n for n in su.__all__ if _module_of(n) in CORE_MODULES and callable(getattr(su, n))}
    takes_no_arguments = {"skip_nonfinite", "negate"}
    covered = {c.target.split(".")[0] for c in CASES}
    assert sorted(public - takes_no_arguments - covered) == []
    assert {"Updates.load_state_dict", "NonFiniteGuard.load_state_dict", "save", "load"} <= {c.target for c in CASES}


CORE_MODULES = ("base", "transforms", "clipping", "optimizers", "checkpoint", "averaging", "accumulation")


def _module_of(name):
    return getattr(getattr(su, name), "__module__", "").rpartition(".")[2]
