r"""Hyperparameter search on Optuna: random log-uniform sampling, workers on many machines,
pruning, coarse-to-fine refinement.

The search follows the cs231n notes' advice, on an existing engine (Optuna) rather than a
home-made one:

* **Log scales.** A learning rate is drawn as :math:`10^{u}`, :math:`u` uniform (cs231n:
  ``10 ** uniform(-6, 1)``); so are weight decay and epsilon. Betas, momentum and
  :math:`\rho` live close to 1, so :math:`1 - x` is drawn log-uniformly (``beta2`` from
  0.9 to 0.9999 spreads its samples evenly over 0.9, 0.99, 0.999, 0.9999). Anything else
  may be linear. :data:`DEFAULT_RANGES` holds the ranges used when none is given.
* **Random search, not a grid**, by default (Optuna's TPE as an option).
* **A search is one Optuna study per rule** (``NAME/adam``, ``NAME/sgd``, ...), each with
  the same budget of trials, enqueued when the search is created (a random search's with
  their values drawn). Workers take trials from these queues, so any number of workers on
  any number of machines, against one storage URL, run exactly the budget between them:
  no trial is lost or run twice. A worker reads each study once, when it starts, then
  walks the queues by trial number and reads single trials, never the whole queue again,
  so its time in the storage does not grow with the budget.
* **Workers** train each trial with :func:`~symupdates.lab.fit`, validate after every
  epoch, report the validation loss to Optuna and stop a trial the pruner (median by
  default) calls hopeless. Each trial writes to its own folder
  (``DIR/NAME/RULE/trial-0007/``, shareable between machines) a resumable checkpoint and,
  at each validation, its statistics so far (``history.json``) and a checkpoint whose
  file name holds the step and the validation score; the final checkpoint's name holds
  the last validation score.
* **Losing a worker loses nothing else.** A running trial's worker sends a heartbeat; a
  trial whose heartbeat stops (``kill -9``, a lost machine) is marked failed by the next
  worker that looks, and a copy with the same hyperparameters is queued, which resumes
  from the failed trial's last checkpoint. Ctrl-C or SIGTERM does the same at once.
* **Check the borders.** :func:`status` warns about every best value within 10% of its
  range's border (in the scale's own space: log for log ranges).
* **Coarse to fine.** :func:`refine` makes a new search whose ranges are narrowed around
  the best trials and whose trials train longer.

The storage is any Optuna RDB URL: SQLite (``sqlite:///search.db``, one file, nothing to
start) on one machine, PostgreSQL (``postgresql+psycopg://user@host/db``, the
``symupdates[postgres]`` extra) when workers run on several.

Examples
--------
>>> import tempfile, os
>>> from symupdates.lab import search
>>> folder = tempfile.mkdtemp()
>>> url = "sqlite:///" + os.path.join(folder, "search.db")
>>> config = search.create("lr", url, ["sgd", "adam"], trials=2, epochs=1, hidden=(8,),
...                        out_dir=folder, mode="FAST_COMPILE")
>>> config.space["adam"]
{'learning_rate': Range(low=1e-06, high=10.0, scale='log')}
>>> search.work("lr", url)
4
>>> report = search.status("lr", url)
>>> {rule: report[rule]["counts"]["complete"] for rule in ("sgd", "adam")}
{'sgd': 2, 'adam': 2}
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import numbers
import os
import re
import socket
import threading
import time
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

__all__ = [
    "DEFAULT_RANGES",
    "DEFAULT_STORAGE",
    "MAX_RETRIES",
    "best_valid_loss",
    "Range",
    "SearchConfig",
    "StorageError",
    "check_space",
    "create",
    "import_optuna",
    "load_config",
    "narrow",
    "open_storage",
    "parse_space",
    "pruning_rule",
    "plot",
    "refine",
    "request_stop",
    "safe_url",
    "status",
    "trial_folder",
    "trials_table",
    "work",
    "worker_env",
]

#: The scales of a :class:`Range`: ``log`` (log-uniform), ``linear`` (uniform) and
#: ``1-log`` (:math:`1 - x` log-uniform, for values just below 1).
SCALES = ("log", "linear", "1-log")

#: The storage ``symupdates search`` uses when none is given: one SQLite file, nothing to start.
DEFAULT_STORAGE = "sqlite:///out/search.db"

#: How close to a border (as a fraction of the range, in the scale's space) a best value
#: may come before :func:`status` warns.
BORDER = 0.1


#: How many times a trial is run again after its worker was lost or interrupted (each run
#: resumes from the checkpoint of the one before); after that it stays failed.
MAX_RETRIES = 3


class StorageError(RuntimeError):
    """Where a search keeps its trials cannot be used: the storage URL cannot be opened or
    reached (the message names it, without a password), or the folder of the trials'
    files is missing or read-only on this machine."""


def _check_out_dir(out_dir, *, make) -> None:
    """The folder of a search's trial files: made when ``make`` (the search is created),
    otherwise it must be there (a worker on a machine without the shared folder mounted
    would write its trials' checkpoints where no other worker finds them)."""
    folder = Path(out_dir)
    if make:
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise StorageError(f"cannot make the folder of the trials' files {folder}: {err.strerror}") from None
    elif not folder.is_dir():
        raise StorageError(
            f"the folder of the search's trial files {folder} does not exist here (in {os.getcwd()}): mount the "
            f"shared folder the search was created with, or run the worker where it is"
        )
    if not os.access(folder, os.W_OK | os.X_OK):
        raise StorageError(f"cannot write in the folder of the search's trial files {folder}")


@dataclasses.dataclass(frozen=True)
class Range:
    r"""The range of one hyperparameter and the scale it is sampled on.

    Parameters
    ----------
    low, high : float
        The range's ends, ``low < high``.
    scale : {"log", "linear", "1-log"}
        ``log``: :math:`x = 10^u` with :math:`u` uniform on
        :math:`[\log_{10} \mathit{low}, \log_{10} \mathit{high}]` (needs ``low > 0``);
        ``linear``: :math:`x` uniform on the range; ``1-log``: :math:`1 - x` log-uniform on
        :math:`[1 - \mathit{high}, 1 - \mathit{low}]` (needs ``high < 1``), for betas,
        momentum and :math:`\rho`.

    Examples
    --------
    >>> from symupdates.lab.search import Range
    >>> r = Range(1e-6, 10.0)
    >>> r.unit(1e-6), round(r.unit(1e-2), 6), r.unit(10.0)
    (0.0, 0.571429, 1.0)
    >>> beta2 = Range(0.9, 0.9999, "1-log")  # 0.9, 0.99, 0.999, 0.9999 evenly spaced
    >>> round(beta2.unit(0.99), 6), beta2.value(2 / 3)
    (0.333333, 0.999)
    >>> Range(0.1, 0.01)
    Traceback (most recent call last):
    ...
    ValueError: a range must have low < high, got 0.1..0.01; write it as 0.01..0.1
    """

    low: float
    high: float
    scale: str = "log"

    def __post_init__(self):
        for end in ("low", "high"):
            value = getattr(self, end)
            if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
                raise ValueError(f"a range's {end} must be a finite number, got {value!r}")
            object.__setattr__(self, end, float(value))
        if self.scale not in SCALES:
            raise ValueError(f"scale must be one of {', '.join(SCALES)}, got {self.scale!r}")
        if not self.low < self.high:
            hint = f"; write it as {_g(self.high)}..{_g(self.low)}" if self.high < self.low else ""
            raise ValueError(f"a range must have low < high, got {_g(self.low)}..{_g(self.high)}{hint}")
        if self.scale == "log" and self.low <= 0:
            raise ValueError(f"a log range must be positive, got {_g(self.low)}..{_g(self.high)}; use scale 'linear'")
        if self.scale == "1-log" and self.high >= 1:
            raise ValueError(f"a 1-log range must end below 1, got {_g(self.low)}..{_g(self.high)}; use scale 'linear'")

    def _forward(self, x: float) -> float:
        if self.scale == "log":
            return math.log10(x)
        if self.scale == "1-log":
            return -math.log10(1.0 - x)
        return x

    def _inverse(self, u: float) -> float:
        if self.scale == "log":
            return 10.0**u
        if self.scale == "1-log":
            return 1.0 - 10.0 ** (-u)
        return u

    def unit(self, x: float) -> float:
        """Where ``x`` lies in the range, in the scale's space: 0 at ``low``, 1 at ``high``."""
        a, b = self._forward(self.low), self._forward(self.high)
        return (self._forward(x) - a) / (b - a)

    def value(self, t: float) -> float:
        """The value at position ``t`` of the range in the scale's space (inverse of :meth:`unit`)."""
        a, b = self._forward(self.low), self._forward(self.high)
        return float(f"{self._inverse(a + t * (b - a)):.6g}")

    def border(self, x: float) -> str | None:
        """``"low"`` or ``"high"`` when ``x`` lies within :data:`BORDER` of that end of the
        range, in the scale's space; else ``None``."""
        t = self.unit(x)
        return "low" if t < BORDER else "high" if t > 1 - BORDER else None

    def optuna_name(self, name: str) -> str:
        """The parameter's name in Optuna: ``name``, or ``"1-name"`` for a ``1-log`` range."""
        return f"1-{name}" if self.scale == "1-log" else name

    def suggest(self, trial, name: str) -> float:
        """Draw the hyperparameter ``name`` for an Optuna trial; returns its value."""
        if self.scale == "1-log":
            return 1.0 - trial.suggest_float(self.optuna_name(name), 1.0 - self.high, 1.0 - self.low, log=True)
        return trial.suggest_float(name, self.low, self.high, log=self.scale == "log")

    def text(self) -> str:
        """``"1e-06..10 (log)"``, as :func:`parse_space` reads it back."""
        return f"{_g(self.low)}..{_g(self.high)}:{self.scale}"

    def to_json(self) -> list:
        return [self.low, self.high, self.scale]


def _g(x: float) -> str:
    return f"{x:.6g}"


#: The range of each hyperparameter when none is given: cs231n's :math:`10^{-6}` to
#: :math:`10^{1}` for the learning rate, log ranges for weight decay and epsilon,
#: :math:`1 - x` log ranges for the averaging constants.
DEFAULT_RANGES = {
    "learning_rate": Range(1e-6, 10.0, "log"),
    "weight_decay": Range(1e-6, 1e-1, "log"),
    "epsilon": Range(1e-10, 1e-4, "log"),
    "beta1": Range(0.5, 0.99, "1-log"),
    "beta2": Range(0.9, 0.9999, "1-log"),
    "momentum": Range(0.5, 0.99, "1-log"),
    "rho": Range(0.8, 0.999, "1-log"),
}


def import_optuna():
    """``import optuna``, quietly: in a notebook without ipywidgets, Optuna's import of
    ``tqdm.auto`` warns that it found no IProgress, though no progress bar is drawn."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="IProgress not found")
        import optuna
    return optuna


def _rules():
    from symupdates.lab.specs import OPTIMIZERS

    return OPTIMIZERS


def _hyperparameters(rule):
    from symupdates.lab.specs import hyperparameters

    return hyperparameters(rule)


def _check_rule(rule) -> str:
    rules = _rules()
    if not isinstance(rule, str) or rule not in rules:
        raise ValueError(f"unknown rule {rule!r}; choose from {', '.join(rules)}")
    return rule


def _check_value_builds(rule, name, value) -> None:
    """Build the rule's updates for a one-parameter cost with ``name=value`` (no compiling),
    so an end of a range the rule refuses is reported now, not in a worker."""
    import pytensor

    from symupdates.lab.specs import OptimizerSpec

    p = pytensor.shared(np.zeros((2, 2)), name="p")
    try:
        OptimizerSpec(rule, {name: value}, ()).optimizer()((p**2).sum(), [p])
    except (TypeError, ValueError) as err:
        raise ValueError(f"{rule}.{name} = {_g(value)} (an end of its range) is refused by {rule}: {err}") from None


def check_space(rules, space=None) -> dict:
    """The search space of every rule: ``{rule: {hyperparameter: Range}}``.

    Every rule searches its learning rate (over :data:`DEFAULT_RANGES` unless ``space``
    gives a range); ``space`` adds hyperparameters and changes ranges.

    Parameters
    ----------
    rules : sequence of str
        Rule names (``symupdates compare``'s optimizers).
    space : mapping, optional
        Entries ``name: Range or None`` apply to every rule that has the hyperparameter
        ``name`` (``None``: its :data:`DEFAULT_RANGES` entry); entries ``rule: {name: Range
        or None}`` (a mapping) to that rule only, over the former. A name that is both a rule
        and a hyperparameter (``momentum``) is told apart by its value: a mapping is the rule.

    Raises
    ------
    ValueError
        For an unknown rule, an unknown or non-numeric hyperparameter (the message lists
        the rule's), a hyperparameter without a default range and no range given, or a
        range end the rule refuses.

    Examples
    --------
    >>> from symupdates.lab.search import Range, check_space
    >>> check_space(["sgd", "momentum"], {"momentum": Range(0.5, 0.99, "linear")})["momentum"]
    {'learning_rate': Range(low=1e-06, high=10.0, scale='log'), 'momentum': Range(low=0.5, high=0.99, scale='linear')}
    """
    if isinstance(rules, str) or not isinstance(rules, Sequence) or not rules:
        raise ValueError(f"rules must be a non-empty list of rule names, got {rules!r}")
    rules = [_check_rule(r) for r in rules]
    if len(set(rules)) != len(rules):
        raise ValueError(f"rules lists a rule twice: {rules}")
    if space is not None and not isinstance(space, Mapping):
        raise ValueError(f"space must be a mapping {{name: Range}} or {{rule: {{name: Range}}}}, got {space!r}")
    shared = {k: v for k, v in (space or {}).items() if not isinstance(v, Mapping)}
    per_rule = {k: v for k, v in (space or {}).items() if isinstance(v, Mapping)}
    for rule in per_rule:
        if rule not in rules:
            _check_rule(rule)
            raise ValueError(f"the space names {rule!r}, which is not among the rules searched ({', '.join(rules)})")
    unused = [k for k in shared if not any(k in _hyperparameters(r) for r in rules)]
    if unused:
        raise ValueError(f"no rule searched has the hyperparameter {unused[0]!r} ({', '.join(rules)})")
    out = {}
    for rule in rules:
        params = _hyperparameters(rule)
        numeric = [k for k, p in params.items() if isinstance(p.default, float) and not isinstance(p.default, bool)]
        wanted = {"learning_rate": None} if "learning_rate" in numeric else {}
        wanted.update({k: v for k, v in shared.items() if k in params})
        wanted.update(per_rule.get(rule, {}))
        ranges = {}
        for name, r in wanted.items():
            if name not in numeric:
                raise ValueError(
                    f"{rule} has no real-valued hyperparameter {name!r} to search; it has {', '.join(numeric)}"
                )
            if r is None:
                if name not in DEFAULT_RANGES:
                    raise ValueError(f"{rule}.{name} has no default range; give one, e.g. {rule}.{name}=0.1..0.9:linear")
                r = DEFAULT_RANGES[name]
            if not isinstance(r, Range):
                raise ValueError(f"{rule}.{name}: a range must be a Range(low, high, scale), got {r!r}")
            _check_value_builds(rule, name, r.low)
            _check_value_builds(rule, name, r.high)
            ranges[name] = r
        if not ranges:
            raise ValueError(f"{rule} has no hyperparameter to search; give one in the space, e.g. {rule}.<name>")
        out[rule] = ranges
    return out


def parse_space(entries, rules) -> dict:
    """Parse ``--space`` entries: ``[rule.]name[=low..high[:scale]]``; they add
    hyperparameters to each rule's learning rate or change a range (an entry naming a rule
    is over one for every rule).

    >>> from symupdates.lab.search import parse_space
    >>> parse_space(["adam.beta2", "learning_rate=1e-5..1e-1"], ["adam", "sgd"])["adam"]
    {'learning_rate': Range(low=1e-05, high=0.1, scale='log'), 'beta2': Range(low=0.9, high=0.9999, scale='1-log')}
    """
    shared: dict = {}
    per_rule: dict = {}
    for entry in entries:
        target, equals, text = entry.partition("=")
        rule, dot, name = target.strip().rpartition(".")
        name = name.strip()
        if equals:
            bounds, colon, scale = text.partition(":")
            low, dots, high = bounds.partition("..")
            if not dots:
                raise ValueError(f"--space {entry!r}: write the range as low..high, e.g. {target}=1e-5..1e-1")
            try:
                lo, hi = float(low), float(high)
            except ValueError:
                raise ValueError(f"--space {entry!r}: {bounds!r} is not two numbers low..high") from None
            default = DEFAULT_RANGES.get(name)
            scale = scale.strip() or (default.scale if default else "log")
            try:
                r = Range(lo, hi, scale)
            except ValueError as err:
                raise ValueError(f"--space {entry!r}: {err}") from None
        else:
            r = None
        if dot:
            per_rule.setdefault(_check_rule(rule.strip()), {})[name] = r
        else:
            shared[name] = r
    missing = [k for k in shared if not any(k in (_hyperparameters(r) if r in _rules() else {}) for r in rules)]
    if missing:
        raise ValueError(f"--space: no rule searched has the hyperparameter {missing[0]!r}")
    # fold the entries for every rule into each rule's own (a rule's own entries win), so
    # that no key is both a hyperparameter and a rule (momentum is both)
    folded = {}
    for rule in rules:
        params = _hyperparameters(rule) if rule in _rules() else {}
        folded[rule] = {**{k: v for k, v in shared.items() if k in params}, **per_rule.get(rule, {})}
    folded.update({k: v for k, v in per_rule.items() if k not in rules})
    return check_space(rules, folded)


# --------------------------------------------------------------------------- the configuration


@dataclasses.dataclass
class SearchConfig:
    """Everything a worker needs to run a search's trials; stored with each of its studies.

    Attributes
    ----------
    name : str
        The search; its studies are ``name/rule``.
    rules : tuple of str
    space : dict
        ``{rule: {hyperparameter: Range}}``.
    trials : int
        Trials per rule (the budget, enqueued at creation).
    epochs : int
        Passes over the training data per trial; validation after each.
    dataset, hidden, activation, dtype, batch_size, seed, mode
        The data and model, as ``symupdates compare`` takes them. Every trial starts from
        the same initial weights (``seed``) and sees the same minibatches.
    sampler : {"random", "tpe"}
    pruner : {"median", "none"}
    out_dir : str
        Where trial folders go (``out_dir/name/rule/trial-0007``).
    heartbeat : float
        Seconds between a running trial's heartbeats; a trial silent for three of them
        is failed and retried.
    parent : str or None
        The search :func:`refine` made this one from.
    """

    name: str
    rules: tuple
    space: dict
    trials: int = 20
    epochs: int = 1
    dataset: str = "digits"
    hidden: tuple = (64, 64)
    activation: str = "relu"
    dtype: str = "float32"
    batch_size: int = 32
    seed: int = 0
    mode: str | None = None
    sampler: str = "random"
    pruner: str = "median"
    out_dir: str = "out/search"
    heartbeat: float = 10.0
    parent: str | None = None

    def to_json(self) -> str:
        d = dataclasses.asdict(self)
        d["space"] = {rule: {k: r.to_json() for k, r in ranges.items()} for rule, ranges in self.space.items()}
        d["rules"], d["hidden"] = list(self.rules), list(self.hidden)
        return json.dumps(d)

    @classmethod
    def from_json(cls, text) -> SearchConfig:
        d = json.loads(text)
        d["space"] = {rule: {k: Range(*r) for k, r in ranges.items()} for rule, ranges in d["space"].items()}
        d["rules"], d["hidden"] = tuple(d["rules"]), tuple(d["hidden"])
        return cls(**d)


_ATTR = "symupdates_search"
_STOP = "symupdates_stop"


def _study_name(name, rule) -> str:
    return f"{name}/{rule}"


def safe_url(url) -> str:
    """``url`` with its password, if any, replaced by ``***`` (the user's part and a
    ``password=`` query parameter alike).

    >>> safe_url("postgresql+psycopg://me:s3cret@db/searches?password=s3cret&sslmode=require")
    'postgresql+psycopg://me:***@db/searches?password=***&sslmode=require'
    """
    try:
        from sqlalchemy.engine import make_url

        parsed = make_url(url)
        query = {k: ("***" if k.lower() in ("password", "passwd", "pwd") else v) for k, v in parsed.query.items()}
        return parsed.set(query=query).render_as_string(hide_password=True).replace("%2A%2A%2A", "***")
    except Exception:  # not a URL at all: say it as given, minus anything after a colon and before an @
        return str(url).split("@")[-1] if "@" in str(url) else str(url)


def _sqlite_connection(path):
    """A connection to the SQLite file in write-ahead-log mode with ``synchronous=NORMAL``,
    whose transactions SQLAlchemy begins (see :func:`_begin_immediate`).

    With SQLite's default (a rollback journal) a worker reading the queues blocks another
    one writing its trial's results; in WAL mode readers do not block the writer, and a
    commit is synced to disk at checkpoints rather than one by one. The file stays
    consistent through any crash; a power loss can at worst undo the last commits, which
    leaves a trial marked running: its heartbeat then stops and the trial is retried from
    its checkpoint. (WAL needs the workers on one machine: for several, use PostgreSQL.)
    """
    import sqlite3

    # isolation_level=None: the driver begins no transaction of its own (by default it
    # begins one only before a write, after the reads of the same session).
    connection = sqlite3.connect(path, timeout=60, check_same_thread=False, isolation_level=None)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=NORMAL")
    return connection


def _begin_immediate(connection):
    """Begin each of the storage's transactions on SQLite with ``BEGIN IMMEDIATE``: it holds
    the database's write lock from its first read, so a read and the write that depends on
    it are one step no other worker can come between.

    Taking a queued trial reads that it is waiting and marks it running. PostgreSQL locks
    the row it read (``SELECT ... FOR UPDATE``); SQLite ignores ``FOR UPDATE``, and with
    the driver's default transactions two workers could both read "waiting" and both take
    the trial (the search tests race four processes over 120 queued trials; without this,
    some are taken twice). Another worker waits for the lock (up to the connection's 60 s
    timeout); every transaction of the storage is a few milliseconds."""
    connection.exec_driver_sql("BEGIN IMMEDIATE")


def open_storage(url, heartbeat=None, *, create=False):
    """An Optuna RDB storage for ``url``; with ``heartbeat`` (seconds), trials send one and a
    silent trial is failed after three and retried (up to :data:`MAX_RETRIES` times),
    resuming from its checkpoint. An SQLite file is made only with ``create`` (:func:`create`
    does): a mistyped path is an error, not a new empty database.

    Raises
    ------
    StorageError
        When the URL is malformed, its driver is missing, the database cannot be reached,
        or (without ``create``) an SQLite file does not exist; the message names the URL
        without its password.
    """
    optuna = import_optuna()
    from optuna.storages import RDBStorage, RetryHeartbeatStaleTrialCallback

    # Heartbeats and their retry callback are "experimental" in Optuna 5 (stable since
    # 2.8); this module pins optuna>=5,<6 and tests them, so their warnings are noise here.
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    if not isinstance(url, str) or not url:
        raise StorageError(f"the storage must be a database URL such as sqlite:///search.db, got {url!r}")
    if url.startswith("sqlite:///"):
        path = url[len("sqlite:///") :]
        if path and path != ":memory:":
            folder = os.path.dirname(os.path.abspath(path))
            if not os.path.isdir(folder):
                raise StorageError(f"the storage {url}: the folder {folder} does not exist; create it first")
            if not create and not os.path.exists(path):
                raise StorageError(
                    f"the storage {url}: there is no database file {os.path.abspath(path)}; check the path, or "
                    f"create a search there with `symupdates search create`"
                )
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    kwargs = {}
    if heartbeat is not None:
        interval = max(1, math.ceil(heartbeat))
        kwargs = {
            "heartbeat_interval": interval,
            "grace_period": 3 * interval,
            "heartbeat_stale_trial_callback": RetryHeartbeatStaleTrialCallback(
                max_retry=MAX_RETRIES, inherit_intermediate_values=True
            ),
        }
    engine = {"connect_args": {"connect_timeout": 10}} if url.startswith("postgresql") else {}
    if url.startswith("sqlite:///") and url[len("sqlite:///") :] not in ("", ":memory:"):
        engine = {"creator": functools.partial(_sqlite_connection, url[len("sqlite:///") :])}
    try:
        store = RDBStorage(url, engine_kwargs=engine, **kwargs)
    except ImportError as err:
        raise StorageError(
            f"the storage {safe_url(url)} needs a database driver that is not installed ({err}); "
            f"for PostgreSQL: pip install 'symupdates[postgres]'"
        ) from None
    except Exception as err:  # SQLAlchemy's OperationalError, ArgumentError, ...
        message = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise StorageError(f"cannot open the storage {safe_url(url)}: {message}") from None
    if "creator" in engine:
        import sqlalchemy

        sqlalchemy.event.listen(store.engine, "begin", _begin_immediate)
    return store


def _open(name, storage):
    """``(storage, config)`` for a search given by URL (or an already open storage)."""
    if isinstance(storage, str):
        store = open_storage(storage)
        return store, load_config(name, store, url=storage)
    return storage, load_config(name, storage)


def _search_studies(name, storage) -> list[str]:
    optuna = import_optuna()

    if not isinstance(name, str) or not name or "/" in name:
        raise ValueError(f"a search name must be a non-empty string without '/', got {name!r}")
    return [s for s in optuna.get_all_study_names(storage) if s.startswith(name + "/")]


def load_config(name, storage, url=None) -> SearchConfig:
    """The configuration of the search ``name`` in ``storage`` (a URL, or an open storage
    and its ``url`` for messages).

    Raises
    ------
    ValueError
        When the storage holds no search of that name (the message lists the ones it holds).
    """
    optuna = import_optuna()

    url = storage if isinstance(storage, str) else url
    storage = open_storage(storage) if isinstance(storage, str) else storage
    studies = _search_studies(name, storage)
    if not studies:
        names = sorted({s.rsplit("/", 1)[0] for s in optuna.get_all_study_names(storage) if "/" in s})
        where = safe_url(url) if url else "the storage"
        held = f"it holds {', '.join(names)}" if names else "it holds none"
        raise ValueError(f"no search named {name!r} in {where} ({held}); create one with `symupdates search create`")
    study = optuna.load_study(study_name=studies[0], storage=storage)
    text = study.user_attrs.get(_ATTR)
    try:  # read from a database others write to: checked before use
        config = SearchConfig.from_json(text)
        if config.name != name or set(config.space) != set(config.rules):
            raise ValueError(f"it names the search {config.name!r} and the rules {list(config.rules)}")
    except (TypeError, ValueError, KeyError) as err:
        raise ValueError(
            f"the study {studies[0]!r} holds no readable symupdates search settings ({type(err).__name__}: {err}); "
            f"was it made by another program or another version of symupdates?"
        ) from None
    return config


# --------------------------------------------------------------------------- create


def _positive(name, value, kind=numbers.Integral):
    if isinstance(value, bool) or not isinstance(value, kind) or not value > 0:
        raise ValueError(f"{name} must be a positive {'integer' if kind is numbers.Integral else 'number'}, got {value!r}")
    return value


def create(
    name,
    storage,
    rules,
    *,
    space=None,
    trials=20,
    epochs=1,
    dataset="digits",
    hidden=(64, 64),
    activation="relu",
    dtype="float32",
    batch_size=32,
    seed=0,
    mode=None,
    sampler="random",
    pruner="median",
    out_dir="out/search",
    heartbeat=10.0,
    parent=None,
) -> SearchConfig:
    """Create a search: one Optuna study per rule, each with ``trials`` trials queued.

    Parameters
    ----------
    name : str
        The search's name (no ``/``); its studies are ``name/rule``.
    storage : str
        An Optuna RDB URL: ``sqlite:///path.db`` or ``postgresql+psycopg://user@host/db``.
    rules : sequence of str
        The rules to tune, e.g. ``["sgd", "adam"]``.
    space : mapping, optional
        See :func:`check_space`; default: each rule's learning rate over
        :data:`DEFAULT_RANGES`.
    trials : int
        The budget per rule.
    epochs : int
        Training epochs per trial (cs231n: one or less for a coarse search).
    dataset, hidden, activation, dtype, batch_size, seed, mode
        The data and model (``"digits"`` or ``"mnist"``), as for ``symupdates compare``.
    sampler : {"random", "tpe"}
        Random search (default; each trial's values depend only on the seed, the rule and
        the trial's number, and are drawn here, stored with the queued trial) or Optuna's
        TPE (drawn when the trial runs, from the trials finished by then).
    pruner : {"median", "none"}
        Optuna's median pruner (a trial stops when its validation loss is worse than the
        median of earlier trials at the same step, after 5 trials and the first epoch).
    out_dir : str
        Where each trial's folder is written; shared between machines for many workers.
    heartbeat : float
        Seconds between heartbeats of a running trial (see :class:`SearchConfig`).

    Returns
    -------
    SearchConfig

    Raises
    ------
    ValueError
        For an unknown rule or hyperparameter, an empty, inverted or refused range, a bad
        count, sampler or pruner, or a search of that name already in the storage.
    StorageError
        When the storage cannot be opened, or ``out_dir`` cannot be made or written.
    """
    optuna = import_optuna()

    space = check_space(rules, space)
    _positive("trials", trials)
    _positive("epochs", epochs)
    _positive("batch_size", batch_size)
    _positive("heartbeat", heartbeat, numbers.Real)
    if sampler not in ("random", "tpe"):
        raise ValueError(f"sampler must be 'random' or 'tpe', got {sampler!r}")
    if pruner not in ("median", "none"):
        raise ValueError(f"pruner must be 'median' or 'none', got {pruner!r}")
    if dataset not in ("digits", "mnist"):
        raise ValueError(f"dataset must be 'digits' or 'mnist', got {dataset!r}")
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    from symupdates.lab.training import check_mode

    check_mode(mode)  # at creation, not in each trial
    config = SearchConfig(
        name=name, rules=tuple(space), space=space, trials=int(trials), epochs=int(epochs), dataset=dataset,
        hidden=tuple(hidden), activation=activation, dtype=dtype, batch_size=int(batch_size), seed=int(seed),
        mode=mode, sampler=sampler, pruner=pruner, out_dir=os.fspath(out_dir), heartbeat=float(heartbeat),
        parent=parent,
    )  # fmt: skip
    store = open_storage(storage, create=True)
    if _search_studies(name, store):
        raise ValueError(
            f"a search named {name!r} already exists in {safe_url(storage)}; choose another name, "
            f"or run its workers with `symupdates search worker {name}`"
        )
    _check_out_dir(config.out_dir, make=True)
    for rule in config.rules:
        study = optuna.create_study(storage=store, study_name=_study_name(name, rule), direction="minimize")
        study.set_user_attr(_ATTR, config.to_json())
        for number in range(config.trials):
            if config.sampler == "random":
                study.add_trial(_drawn_trial(config, rule, number, study))
            else:  # TPE draws when the trial runs, from the trials finished by then
                study.enqueue_trial({})
    return config


# --------------------------------------------------------------------------- workers


def _sampler(config, rule, number):
    optuna = import_optuna()

    # A sampler per trial, seeded by the search's seed, the rule and the trial's number: random
    # search then draws the same values for a trial whichever worker runs it, in any order.
    # TPE also learns from the trials finished before, so its draws depend on the order too.
    seed = int(np.random.SeedSequence([config.seed, config.rules.index(rule), number]).generate_state(1)[0])
    if config.sampler == "tpe":
        return optuna.samplers.TPESampler(seed=seed)
    return optuna.samplers.RandomSampler(seed=seed)


class _Draws:
    """What :meth:`Range.suggest` needs of a trial, to draw a queued trial's values ahead:
    each ``suggest_float`` draws with ``sampler`` and keeps the value and its distribution."""

    def __init__(self, sampler, study):
        from optuna.trial import TrialState, create_trial

        self.sampler, self.study, self.params, self.distributions = sampler, study, {}, {}
        self.frozen = create_trial(state=TrialState.WAITING)  # the trial to be, for the sampler

    def suggest_float(self, name, low, high, *, log=False) -> float:
        from optuna.distributions import FloatDistribution

        distribution = FloatDistribution(low, high, log=log)
        value = self.sampler.sample_independent(self.study, self.frozen, name, distribution)
        self.params[name], self.distributions[name] = value, distribution
        return value


def _drawn_trial(config, rule, number, study):
    """The queued trial ``number`` of a random search, its values drawn already: the values
    its worker would draw (:func:`_sampler`: they depend on the seed, the rule and the
    number only), stored with it so that the worker does not write them when it runs it.
    Optuna's own ``Trial`` takes a queued trial's stored values as well."""
    optuna = import_optuna()
    from optuna.trial import TrialState

    draws = _Draws(_sampler(config, rule, number), study)
    for k, r in config.space[rule].items():
        r.suggest(draws, k)
    return optuna.trial.create_trial(state=TrialState.WAITING, params=draws.params, distributions=draws.distributions)


def _pruner(config):
    optuna = import_optuna()

    if config.pruner == "none":
        return optuna.pruners.NopPruner()
    return optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=1)


class _FinishedView:
    """A study whose trials are the finished ones a worker has seen (``load()`` gives them,
    when first asked); every other attribute is the study's. Optuna's pruners and samplers
    ask only for finished trials (complete, and pruned for TPE); TPE asks through
    ``Study._get_trials``, given here too."""

    def __init__(self, study, load):
        self._study, self._load, self._finished = study, load, None

    def get_trials(self, deepcopy=True, states=None):
        import copy

        if self._finished is None:
            self._finished = self._load()
        trials = [t for t in self._finished if states is None or t.state in states]
        return copy.deepcopy(trials) if deepcopy else trials

    def _get_trials(self, deepcopy=True, states=None, use_cache=False):
        return self.get_trials(deepcopy, states)

    def __getattr__(self, name):
        return getattr(self._study, name)


class _WorkerTrial:
    """A worker's running trial: what a search uses of Optuna's ``Trial``
    (``suggest_float``, ``report``, ``should_prune``, ``set_user_attr``, ``number``),
    through Optuna's own sampler, pruner and storage calls.

    Optuna's ``Trial`` reads the trial from the storage when it is made; this one starts
    from the trial the worker read when it took it (:class:`_Trials`), and its pruner reads
    the study's finished trials from the worker's view, not from Optuna's cache (which
    reads every queued trial again at each look).
    """

    def __init__(self, study, trials, rule, trial_id, frozen):
        import copy

        self.study, self.trials, self.rule, self.trial_id = study, trials, rule, trial_id
        self.frozen = copy.deepcopy(frozen)  # params, distributions and reports so far (a retry's too)

    @property
    def number(self) -> int:
        return self.frozen.number

    def suggest_float(self, name, low, high, *, log=False) -> float:
        """Draw ``name`` with the study's sampler and store it. A retried trial keeps the
        value of the trial it retries; a trial queued by hand with values (Optuna's
        ``study.enqueue_trial({name: value})``) takes its value, as Optuna's ``Trial`` does,
        with a warning when it lies outside the range."""
        from optuna.distributions import FloatDistribution, check_distribution_compatibility

        distribution = FloatDistribution(low, high, log=log)
        if name in self.frozen.distributions:
            check_distribution_compatibility(self.frozen.distributions[name], distribution)
            return self.frozen.params[name]
        fixed = self.frozen.system_attrs.get("fixed_params") or {}  # where enqueue_trial keeps them
        if name in fixed:
            value = float(fixed[name])
            if not low <= value <= high:
                warnings.warn(f"trial {self.number} was queued with {name} = {value}, outside its range "
                              f"{low:g}..{high:g}; it runs with that value", stacklevel=2)  # fmt: skip
        else:
            value = self.study.sampler.sample_independent(self._view(), self.frozen, name, distribution)
        self.trials.store.set_trial_param(self.trial_id, name, distribution.to_internal_repr(value), distribution)
        self.frozen.params = {**self.frozen.params, name: value}
        self.frozen.distributions = {**self.frozen.distributions, name: distribution}
        return value

    def report(self, value, step) -> None:
        """Store the validation loss ``value`` at ``step`` (a step already reported, as a
        retry's inherited ones, is kept as it is)."""
        if step in self.frozen.intermediate_values:
            return
        self.trials.store.set_trial_intermediate_value(self.trial_id, step, float(value))
        self.frozen.intermediate_values = {**self.frozen.intermediate_values, step: float(value)}

    def _view(self):
        return _FinishedView(self.study, lambda: self.trials.finished_trials(self.rule, self.number))

    def should_prune(self) -> bool:
        """The study's pruner's verdict on the losses reported so far."""
        return self.study.pruner.prune(self._view(), self.frozen)

    def set_user_attr(self, key, value) -> None:
        self.trials.store.set_trial_user_attr(self.trial_id, key, value)


class _Trials:
    """A worker's view of each rule's trials, walked in the order of their numbers: which
    wait, which it has seen finished.

    A queued trial never waits again once taken, and new ones (retries, trials queued by
    hand) get the next numbers; so a worker needs, per rule, only the lowest number that may
    still wait, and the numbers below it that were still running when it last looked.
    The trials waiting when the worker started are taken as it read them then (a waiting
    trial does not change; the write that marks it running fails if another worker took it
    first); a trial queued later is read when the worker reaches its number. The pruner's
    view reads again the trials that were running. Neither reads the whole queue, as
    Optuna's cached storage does at every read of a study's trials (it reads again every
    unfinished trial, and a queued budget is unfinished trials): the time a worker spends
    in the storage does not grow with the budget.
    """

    def __init__(self, studies, store, config):
        from optuna.trial import TrialState

        self.studies, self.store, self.config = studies, store, config
        self.study_ids, self.trial_ids, self.next, self.finished, self.running = {}, {}, {}, {}, {}
        self.queued = {}
        for rule, study in studies.items():
            self.study_ids[rule] = store.get_study_id_from_name(study.study_name)
            trials = study.get_trials(deepcopy=False)  # once, when the worker starts
            self.trial_ids[rule] = {t.number: t._trial_id for t in trials}
            # A waiting trial does not change until a worker takes it: these are taken
            # without reading them again (the write that marks one running fails if another
            # worker took it first).
            self.queued[rule] = {t.number: t for t in trials if t.state == TrialState.WAITING}
            self.next[rule] = min(self.queued[rule], default=len(trials))
            self.finished[rule] = {t.number: t for t in trials if t.state.is_finished()}
            self.running[rule] = {t.number for t in trials if t.state == TrialState.RUNNING and t.number < self.next[rule]}

    def _read(self, rule, number):
        """The trial ``number`` of ``rule`` as it is now (``KeyError``: there is none)."""
        from optuna.trial import TrialState

        if number not in self.trial_ids[rule]:
            self.trial_ids[rule][number] = self.store.get_trial_id_from_study_id_trial_number(self.study_ids[rule], number)
        frozen = self.store.get_trial(self.trial_ids[rule][number])
        if frozen.state.is_finished():
            self.finished[rule][number] = frozen
            self.running[rule].discard(number)
        elif frozen.state != TrialState.WAITING:
            self.running[rule].add(number)
        return frozen

    def finished_trials(self, rule, own):
        """The finished trials of ``rule``, in the order of their numbers, after looking again
        at those that were running but the worker's ``own`` trial (a number)."""
        for number in sorted(self.running[rule] - {own}):
            self._read(rule, number)
        return [self.finished[rule][n] for n in sorted(self.finished[rule])]

    def running_elsewhere(self) -> int:
        """How many trials other workers run (of those this worker has seen running: with
        the queues empty, it has seen every trial), after looking at them again."""
        for rule, running in self.running.items():
            for number in sorted(running):
                self._read(rule, number)
        return sum(map(len, self.running.values()))

    def finish(self, trial, state, value=None) -> None:
        """End the worker's running ``trial`` (a :class:`_WorkerTrial`): store what
        ``study.tell`` stores, in one write, and keep the trial as finished (its parameters
        and reports are what the pruner and TPE read of it) without reading it back.

        ``tell`` reads the trial twice more (to check that it still runs, and to return it);
        the worker knows it runs (it holds its heartbeat; a trial failed under it raises
        Optuna's ``UpdateFinishedTrialError`` here as there), and its samplers do nothing
        after a trial (no constraints). A pruned trial keeps its last reported loss as its
        value, as ``tell`` gives it: ``value`` is then that loss.
        """
        optuna = import_optuna()

        values = None if value is None else [float(value)]
        self.store.set_trial_state_values(trial.trial_id, state=state, values=values)
        self.running[trial.rule].discard(trial.number)
        f = trial.frozen
        # FrozenTrial, not create_trial: that one refuses a value outside its range, which a
        # trial queued by hand may have run with (the storage keeps it as it is too).
        self.finished[trial.rule][trial.number] = optuna.trial.FrozenTrial(
            number=trial.number, state=state, value=None, values=values, datetime_start=f.datetime_start,
            datetime_complete=None, params=f.params, distributions=f.distributions, user_attrs={}, system_attrs={},
            intermediate_values=f.intermediate_values, trial_id=trial.trial_id,
        )  # fmt: skip

    def take(self):
        """Take the next waiting trial of the rule with the fewest taken so far (atomically:
        another worker cannot take it too).

        Returns ``(rule, (trial, trial_id, frozen))``: the trial to run (a
        :class:`_WorkerTrial`), its storage id and the queued trial as it was (for a retry,
        where it came from); or ``None`` when every queue is empty.
        """
        for rule in sorted(self.next, key=self.next.get):
            if (taken := self._take(rule)) is not None:
                return rule, taken
        return None

    def _take(self, rule):
        from optuna.exceptions import UpdateFinishedTrialError
        from optuna.trial import TrialState

        while True:
            number = self.next[rule]
            frozen = self.queued[rule].pop(number, None)  # waiting when the worker started
            if frozen is None:
                try:
                    frozen = self._read(rule, number)
                except KeyError:
                    return None  # no trial of that number (yet): the queue is empty
                if frozen.state != TrialState.WAITING:
                    self.next[rule] = number + 1
                    continue  # taken by another worker
            self.next[rule] = number + 1
            trial_id = self.trial_ids[rule][number]
            # The heartbeat comes first: a trial marked running without one would never be
            # seen as stale, and a worker dying right after taking it would lose it. (When
            # another worker took the trial first, this beat is one more of its beats: it
            # can delay the failing of a trial whose worker died by one grace period.)
            self.store.record_heartbeat(trial_id)
            self.running[rule].add(number)  # by this worker or, if the next write fails, another
            try:
                if not self.store.set_trial_state_values(trial_id, state=TrialState.RUNNING):
                    continue  # another worker took it first
            except UpdateFinishedTrialError:
                continue  # and finished it: the pruner's view reads it as it reads the running ones
            study = self.studies[rule]
            study.sampler = _sampler(self.config, rule, number)
            return _WorkerTrial(study, self, rule, trial_id, frozen), trial_id, frozen


class _Heartbeat:
    """Record a trial's heartbeat every ``interval`` seconds in a thread, while it runs.

    A heartbeat the storage refuses (a locked or unreachable database) is logged and tried
    again at the next beat: the thread never stops before the trial does."""

    def __init__(self, store, trial_id, interval, log):
        self.store, self.trial_id, self.interval, self.log = store, trial_id, interval, log
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._beat, daemon=True)

    def _beat(self):
        while not self.done.wait(self.interval):  # the first beat was recorded when the trial was taken
            try:
                self.store.record_heartbeat(self.trial_id)
            except Exception as err:  # keep beating: one refused write must not let the trial go stale
                self.log(f"a heartbeat was not recorded ({type(err).__name__}: {err}); trying again")

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.done.set()
        self.thread.join()


def _load_data(config):
    from symupdates.lab import datasets

    if config.dataset == "digits":
        return datasets.load_digits(seed=config.seed, dtype=config.dtype)
    return datasets.load_mnist(dtype=config.dtype)


def pruning_rule(trial):
    """A stop rule for :func:`~symupdates.lab.fit` that reports each validation loss to an
    Optuna trial (at its step; the validation before training and non-finite losses are
    not reported) and stops the run as ``"pruned"`` when the study's pruner says so."""

    def report(history):
        step, loss = history.valid["step"][-1], history.valid["loss"][-1]
        if step == 0 or not math.isfinite(loss):
            return None
        trial.report(loss, step)
        return "pruned" if trial.should_prune() else None

    return report


def best_valid_loss(history) -> float:
    """A trial's value: the lowest finite validation loss of its run (``inf`` if none);
    a diverged run is judged by what it reached before it diverged."""
    return min((x for x in history.valid["loss"] if math.isfinite(x)), default=math.inf)


def trial_folder(config, rule, number) -> Path:
    """The folder of a trial: ``out_dir/name/rule/trial-0007``."""
    return Path(config.out_dir) / config.name / rule / f"trial-{number:04d}"


class _EpochFiles:
    """What a trial writes at each validation after the first (a :func:`~symupdates.lab.fit`
    callback), for anyone to inspect while it runs: ``history.json`` (the training
    statistics so far, with the hyperparameters) and a checkpoint named by the step and
    the validation score, ``step-0000045_val-loss-0.4821_val-acc-0.8714.npz``.

    Of those checkpoints the best (lowest validation loss) and the latest are kept; the
    others are removed as new ones come. A resumed trial picks up the files of its folder.
    (``resume.npz`` is the checkpoint :func:`~symupdates.lab.fit` resumes from.)
    """

    PATTERN = re.compile(r"step-(\d+)_val-loss-([^_]+)_val-acc-[^_]+\.npz")

    def __init__(self, folder, params, hyperparams):
        self.folder, self.params, self.hyperparams = Path(folder), params, hyperparams
        found = []  # (step, loss, path) of the files of an interrupted run of this trial
        for path in self.folder.glob("step-*.npz"):
            if m := self.PATTERN.fullmatch(path.name):
                found.append((int(m[1]), float(m[2]), path))
        self.latest = max(found, default=None, key=lambda f: f[0])
        self.best = min(found, default=None, key=lambda f: f[1])

    def __call__(self, history, updates) -> None:
        from symupdates.checkpoint import save

        step, loss, acc = history.valid["step"][-1], history.valid["loss"][-1], history.valid["accuracy"][-1]
        if step == 0:
            return  # before training
        history.meta["hyperparams"] = self.hyperparams
        history.to_json(self.folder / "history.json")
        path = self.folder / f"step-{step:07d}_val-loss-{loss:.4f}_val-acc-{acc:.4f}.npz"
        save(path, self.params, updates)
        new = (step, float(loss), path)  # its loss in full: two may differ beyond the name's 4 decimals
        previous, self.latest = self.latest, new
        if self.best is None or new[1] < self.best[1]:
            if self.best is not None and self.best != previous:
                self.best[2].unlink(missing_ok=True)
            self.best = new
        if previous is not None and previous != self.best and previous[2] != path:
            previous[2].unlink(missing_ok=True)

    def end(self) -> None:
        """At the end of the trial: the latest checkpoint is the final one (written by then),
        so it goes unless it is the best."""
        if self.latest is not None and self.latest != self.best:
            self.latest[2].unlink(missing_ok=True)


def _first_number(frozen) -> int:
    """The number of the trial a retried trial copies (itself when it is not a retry)."""
    from optuna.storages import RetryHeartbeatStaleTrialCallback

    history = RetryHeartbeatStaleTrialCallback.retry_history(frozen)
    return history[0] if history else frozen.number


def _run_trial(trials, taken, config, rule, data, log):
    """Train one trial; report each validation; store how it ended. Returns the state."""
    from optuna.trial import TrialState

    from symupdates.lab.specs import OptimizerSpec
    from symupdates.lab.models import mlp
    from symupdates.lab.training import fit

    trial, _, frozen = taken
    hyperparams = {k: r.suggest(trial, k) for k, r in config.space[rule].items()}
    number = _first_number(frozen)
    folder = trial_folder(config, rule, number)
    folder.mkdir(parents=True, exist_ok=True)
    # Each attribute is a write of the storage: who ran the trial and where goes in the one
    # written when it ends ("result").
    ran = {"worker": f"{socket.gethostname()}:{os.getpid()}", "folder": str(folder)}

    model = mlp(
        n_in=data.n_features, hidden=config.hidden, n_out=data.n_classes, activation=config.activation,
        seed=config.seed, dtype=config.dtype,
    )  # fmt: skip
    per_epoch = -(-len(data.train[1]) // config.batch_size)
    started = time.perf_counter()
    label = f"{rule} trial {trial.number}"
    files = _EpochFiles(folder, model.params, hyperparams)
    try:
        history = fit(
            model, OptimizerSpec(rule, hyperparams, ()).optimizer(), data.train, data.valid,
            batch_size=config.batch_size, epochs=config.epochs, validate_every=per_epoch, stop=[pruning_rule(trial)],
            seed=config.seed, mode=config.mode, progress=False, checkpoint=folder / "resume.npz", resume=True,
            name=label, callbacks=[files],
        )  # fmt: skip
    except Exception as err:
        trial.set_user_attr("result", {"error": f"{type(err).__name__}: {err}", **ran,
                                       "seconds": time.perf_counter() - started})  # fmt: skip
        trials.finish(trial, TrialState.FAIL)
        log(f"{label}: failed: {type(err).__name__}: {err}")
        return TrialState.FAIL
    best = best_valid_loss(history)
    accuracy = max((a for a in history.valid["accuracy"] if math.isfinite(a)), default=math.nan)
    history.meta["hyperparams"] = hyperparams
    history.to_json(folder / "history.json")
    final = folder / f"final_val-loss-{history.valid['loss'][-1]:.4f}_val-acc-{history.valid['accuracy'][-1]:.4f}.npz"
    if (folder / "resume.npz").exists():
        os.replace(folder / "resume.npz", final)
    files.end()
    trial.set_user_attr("result", {"stopped": history.stopped, "best_accuracy": accuracy, "steps": history.steps,
                                   "start_loss": history.valid["loss"][0], **ran,
                                   "seconds": time.perf_counter() - started})  # fmt: skip
    values = ", ".join(f"{k}={_g(v)}" for k, v in hyperparams.items())
    if history.stopped == "pruned":
        # pruned at a reported validation: its loss is the trial's value, as tell gives it
        trials.finish(trial, TrialState.PRUNED, history.valid["loss"][-1])
        log(f"{label}: {values}: pruned at step {history.steps}, validation loss {history.valid['loss'][-1]:.4f}")
        return TrialState.PRUNED
    trials.finish(trial, TrialState.COMPLETE, best)
    log(f"{label}: {values}: best validation loss {best:.4f}, accuracy {accuracy:.4f} ({history.stopped})")
    return TrialState.COMPLETE


#: The environment variables that set how many threads a BLAS or OpenMP library starts.
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def worker_env(workers, environ=None) -> dict:
    """The environment for one of ``workers`` worker processes started together on this
    machine: ``environ`` (default ``os.environ``) with each of :data:`THREAD_VARIABLES`
    that is not set already set to the machine's cores divided among the workers (at
    least 1).

    Each worker would otherwise start a BLAS thread per core, and the workers' threads would
    contend for the same cores, slowing every trial. ``symupdates search run`` starts its
    workers with it; a ``symupdates search worker`` started by hand runs in the environment
    it is given, so set these variables yourself when you start several on one machine.

    Parameters
    ----------
    workers : int
        How many workers share the machine's cores (positive).
    environ : mapping, optional
        The environment to start from; ``os.environ`` by default (it is not changed).

    Returns
    -------
    dict
        A new environment, for ``subprocess.Popen(..., env=...)``.

    Examples
    --------
    >>> from symupdates.lab.search import worker_env
    >>> env = worker_env(2, {"OMP_NUM_THREADS": "4"})
    >>> env["OMP_NUM_THREADS"]  # set already: kept
    '4'
    >>> int(env["OPENBLAS_NUM_THREADS"]) >= 1
    True
    """
    _positive("workers", workers)
    env = dict(os.environ if environ is None else environ)
    threads = str(max(1, (os.cpu_count() or 1) // workers))
    for variable in THREAD_VARIABLES:
        env.setdefault(variable, threads)
    return env


def request_stop(name, storage) -> None:
    """Ask every worker of the search running now to stop after its current trial (on any
    machine); a worker looks between trials, once per heartbeat interval. Workers started
    afterwards run: a stopped search goes on with ``symupdates search run`` or ``worker``.

    The request is a new token in each study's attributes; a worker stops when the token
    differs from the one it read when it started.
    """
    import uuid

    optuna = import_optuna()

    store, _ = _open(name, storage)
    token = uuid.uuid4().hex
    for study_name in _search_studies(name, store):
        optuna.load_study(study_name=study_name, storage=store).set_user_attr(_STOP, token)


def work(name, storage, *, max_trials=None, timeout=None, log=None) -> int:
    """Run queued trials of the search until none is left, ``max_trials`` are done, the
    ``timeout`` (seconds) has passed, or :func:`request_stop` was called.

    Start any number of workers, on any machine, with the same storage URL (and, for a
    shared ``out_dir``, the same file system). A worker takes the next trial of the rule
    with the fewest taken so far (the lowest next number), so the rules advance together.
    When the queues are empty but trials of other workers still run, it waits, looking at
    them every second and checking their heartbeats: the trial of a worker that died is
    failed and queued again, and this worker runs it, resuming from its checkpoint.

    Returns
    -------
    int
        The number of trials this worker finished (complete, pruned or failed).

    Raises
    ------
    StorageError
        When the storage cannot be opened, or the search's ``out_dir`` is missing or
        read-only on this machine (checked before any trial is taken).
    KeyboardInterrupt
        On Ctrl-C, after the running trial was failed and queued again.
    """
    optuna = import_optuna()
    from optuna.exceptions import UpdateFinishedTrialError

    if max_trials is not None:
        _positive("max_trials", max_trials)
    if timeout is not None:
        _positive("timeout", timeout, numbers.Real)
    log = log or (lambda message: None)
    _, config = _open(name, storage)
    store = open_storage(storage, heartbeat=config.heartbeat) if isinstance(storage, str) else storage
    _check_out_dir(config.out_dir, make=False)
    pruner = _pruner(config)
    studies = {
        rule: optuna.load_study(study_name=_study_name(name, rule), storage=store, pruner=pruner) for rule in config.rules
    }
    trials = _Trials(studies, store, config)
    data = _load_data(config)
    first = studies[config.rules[0]]
    started_with = first.user_attrs.get(_STOP)  # a stop asked before this worker started is not for it
    next_check = 0.0
    deadline = None if timeout is None else time.monotonic() + timeout
    done = 0
    while (max_trials is None or done < max_trials) and (deadline is None or time.monotonic() < deadline):
        # Once per heartbeat interval, not per trial (each is a query of the storage): a
        # stop request (request_stop sets it on every study), and a dead worker's trials,
        # which are failed and queued again.
        if time.monotonic() >= next_check:
            if first.user_attrs.get(_STOP) != started_with:
                log("stop requested: this worker stops")
                break
            for study in studies.values():
                optuna.storages.fail_stale_trials(study)
            next_check = time.monotonic() + config.heartbeat
        if (next_trial := trials.take()) is None:
            if not trials.running_elsewhere():
                break
            # Another worker's trial still runs: look again in a second (a few reads), so the
            # search ends soon after it; were that worker dead, its trial goes stale and is
            # retried here.
            time.sleep(min(config.heartbeat, 1.0))
            next_check = 0.0  # look for stale trials before looking at the queues again
            continue
        rule, taken = next_trial
        try:
            with _Heartbeat(store, taken[1], max(1, math.ceil(config.heartbeat)), log):
                try:
                    _run_trial(trials, taken, config, rule, data, log)
                except UpdateFinishedTrialError:
                    # Another worker saw no heartbeat for longer than the grace period and failed
                    # this trial; its retry (queued then) runs it again from its checkpoint.
                    log(f"{rule} trial {taken[0].number} was failed by another worker while it ran (its heartbeat "
                        f"was late); its retry runs it again")
        except KeyboardInterrupt:
            _requeue(trials, taken[0], log)
            raise
        done += 1
    return done


def _requeue(trials, trial, log) -> None:
    """An interrupted worker's running ``trial`` (Ctrl-C, ``kill`` with SIGTERM): failed and
    queued again at once, as a trial whose heartbeat stopped would be after the grace period
    (the retry keeps its values and reports, and resumes from its checkpoint)."""
    from optuna.exceptions import UpdateFinishedTrialError
    from optuna.trial import TrialState

    label = f"{trial.rule} trial {trial.number}"
    try:
        trials.finish(trial, TrialState.FAIL)
    except UpdateFinishedTrialError:
        return  # it had ended (or another worker had failed it) before the interrupt
    from optuna.storages import RetryHeartbeatStaleTrialCallback

    retry = trials.store.get_heartbeat_stale_trial_callback()
    if retry is None:  # a storage opened without heartbeats: nothing would retry it
        log(f"{label}: interrupted; marked failed")
        return
    frozen = trials.store.get_trial(trial.trial_id)
    if len(RetryHeartbeatStaleTrialCallback.retry_history(frozen)) >= MAX_RETRIES:
        log(f"{label}: interrupted; marked failed, not queued again (it was run {MAX_RETRIES + 1} times)")
        return
    retry(trials.studies[trial.rule], frozen)
    log(f"{label}: interrupted; queued again, it resumes from its checkpoint")


# --------------------------------------------------------------------------- status


def status(name, storage) -> dict:
    """The state of every rule's study: counts, the best trial, and border warnings.

    Returns
    -------
    dict
        ``{rule: {"counts": {"complete", "pruned", "running", "failed", "waiting"},
        "best": {"number", "value", "accuracy", "hyperparams"} or None,
        "borders": [warning, ...]}}``. A warning is written for every best value within
        10% of its range's border (in the scale's space).
    """
    optuna = import_optuna()
    from optuna.trial import TrialState

    store, config = _open(name, storage)
    out = {}
    for rule in config.rules:
        study = optuna.load_study(study_name=_study_name(name, rule), storage=store)
        trials = study.get_trials(deepcopy=False)
        states = {"complete": TrialState.COMPLETE, "pruned": TrialState.PRUNED, "running": TrialState.RUNNING,
                  "failed": TrialState.FAIL, "waiting": TrialState.WAITING}  # fmt: skip
        counts = {key: sum(t.state == state for t in trials) for key, state in states.items()}
        complete = [t for t in trials if t.state == TrialState.COMPLETE and t.value is not None]
        best, borders = None, []
        if complete:
            top = min(complete, key=lambda t: t.value)
            values = _values(top, config.space[rule])
            best = {"number": top.number, "value": top.value, "accuracy": top.user_attrs.get("result", {}).get("best_accuracy"),
                    "hyperparams": values}  # fmt: skip
            for k, r in config.space[rule].items():
                if end := r.border(values[k]):
                    borders.append(
                        f"{rule}: the best {k} = {_g(values[k])} lies within {BORDER:.0%} of the {end} end of "
                        f"{r.text()} ({'log' if r.scale != 'linear' else 'linear'} space): widen the range past it"
                    )
        out[rule] = {"counts": counts, "best": best, "borders": borders}
    return out


def _values(frozen, ranges) -> dict:
    """A trial's hyperparameter values (``1-log`` parameters turned back into the value)."""
    out = {}
    for k, r in ranges.items():
        raw = frozen.params.get(r.optuna_name(k))
        if raw is not None:
            out[k] = 1.0 - raw if r.scale == "1-log" else raw
    return out


def trials_table(name, storage) -> list[dict]:
    """Every finished trial of the search: rule, number, state, value, hyperparameters, the
    validation loss of the untrained model (``start_loss``; ``None`` if not recorded) and
    why training stopped (``stopped``: ``"epochs"``, ``"diverged"``, ``"pruned"``, ...)."""
    optuna = import_optuna()
    from optuna.trial import TrialState

    store, config = _open(name, storage)
    rows = []
    for rule in config.rules:
        study = optuna.load_study(study_name=_study_name(name, rule), storage=store)
        for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED)):
            value = t.value if t.state == TrialState.COMPLETE else (
                min(t.intermediate_values.values()) if t.intermediate_values else None)  # fmt: skip
            rows.append({"rule": rule, "number": t.number, "state": t.state.name.lower(), "value": value,
                         "hyperparams": _values(t, config.space[rule]),
                         "start_loss": t.user_attrs.get("result", {}).get("start_loss"),
                         "stopped": t.user_attrs.get("result", {}).get("stopped")})  # fmt: skip
    return rows


# --------------------------------------------------------------------------- plot


def _kind(row) -> str:
    """How a trial is drawn: ``complete``, ``pruned``, or ``diverged`` (a run stopped by a
    non-finite loss, at the best loss it reached before)."""
    return "diverged" if row.get("stopped") == "diverged" else row["state"]


def plot(name, storage, path=None):
    """The validation loss of every trial against each hyperparameter searched: the
    learning-rate sensitivity curves. One panel per hyperparameter, log axes (``1 - x``
    for a ``1-log`` range; the loss on a log axis when it spans more than a decade), one
    colour per rule; pruned trials are hollow, at the best validation loss they reported,
    and diverged ones crosses, at the best loss they reached before.

    Returns the matplotlib figure (not drawn through pyplot: in a notebook, show it with
    ``%matplotlib inline`` active, or write it with ``path``); written to ``path`` (png,
    svg or pdf) if given.
    """
    from matplotlib import ticker
    from matplotlib.figure import Figure  # no pyplot state: nothing shown twice in a notebook, no GUI needed

    store, config = _open(name, storage)
    rows = trials_table(name, store)
    names = list(dict.fromkeys(k for ranges in config.space.values() for k in ranges))
    fig = Figure(figsize=(5.5 * len(names), 4.2), layout="constrained")
    axes = fig.subplots(1, len(names), squeeze=False)
    losses = []
    for ax, hp in zip(axes[0], names, strict=True):
        scales = {config.space[r][hp].scale for r in config.rules if hp in config.space[r]}
        one_minus = scales == {"1-log"}
        for i, rule in enumerate(config.rules):
            if hp not in config.space[rule]:
                continue
            colour = f"C{i % 10}"
            for kind, style in (("complete", {"facecolors": colour, "edgecolors": colour}),
                                ("pruned", {"facecolors": "none", "edgecolors": colour}),
                                ("diverged", {"c": colour, "marker": "x"})):  # fmt: skip
                pts = [(row["hyperparams"][hp], row["value"]) for row in rows
                       if row["rule"] == rule and _kind(row) == kind and row["value"] is not None]  # fmt: skip
                if pts:
                    x, y = np.array(pts).T
                    ax.scatter(1 - x if one_minus else x, y, s=28, label=rule if kind == "complete" else f"{rule} ({kind})",
                               **style)  # fmt: skip
            losses += [row["value"] for row in rows if row["rule"] == rule and row["value"] is not None]
        if scales & {"log", "1-log"}:
            ax.set_xscale("log")
            # minor ticks at 2 and 5 of each decade only: labelled on a short axis, never on top of each other
            ax.xaxis.set_minor_locator(ticker.LogLocator(subs=(2.0, 5.0)))
        ax.set_xlabel(f"1 − {hp}" if one_minus else hp)
        ax.set_ylabel("best validation loss")
        ax.set_title(f"validation loss against {hp}")
        ax.grid(True, which="major", alpha=0.3)
    finite = [v for v in losses if math.isfinite(v) and v > 0]
    for ax in axes[0]:
        if finite and max(finite) > 10 * min(finite):  # log only when the losses span a decade
            ax.set_yscale("log")
            ax.yaxis.set_major_formatter(ticker.FuncFormatter(lambda v, _: f"{v:g}"))
            ax.yaxis.set_minor_locator(ticker.LogLocator(subs=(2.0, 5.0)))
            ax.yaxis.set_minor_formatter(ticker.FuncFormatter(lambda v, _: f"{v:g}"))
    labelled = {}  # every panel's legend entries, once each (a rule may be missing from the first)
    for ax in axes[0]:
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            labelled.setdefault(label, handle)
    if labelled:
        fig.legend(list(labelled.values()), list(labelled), loc="outside lower center", ncols=min(len(labelled), 6),
                   frameon=False)  # fmt: skip
    fig.suptitle(f"search {name}: {config.epochs} epoch(s) per trial, {config.dataset}")
    if path is not None:
        from symupdates.checkpoint import atomic_write

        fmt = Path(path).suffix.lstrip(".") or "png"
        with atomic_write(path) as f:
            fig.savefig(f, format=fmt, dpi=120)
    return fig


# --------------------------------------------------------------------------- refine


#: How :func:`narrow` pads the span of the best trials (a share of it, at least a share of
#: the old range) and the widest new range it gives (a share of the old range).
NARROW_PAD, NARROW_MIN_PAD, NARROW_MAX = 0.25, 0.05, 0.5


def narrow(units, best) -> tuple[float, float]:
    """The new range, on the unit interval of the old one, around the values ``units`` of the
    best trials (``best``: the best one's): their span padded by :data:`NARROW_PAD` of it on
    each side (at least :data:`NARROW_MIN_PAD`), or, when that is wider than
    :data:`NARROW_MAX`, a range that wide centred on ``best``. See :func:`refine`."""
    lo, hi = min(units), max(units)
    pad = max(NARROW_PAD * (hi - lo), NARROW_MIN_PAD)
    if hi - lo + 2 * pad > NARROW_MAX:
        return best - NARROW_MAX / 2, best + NARROW_MAX / 2
    return lo - pad, hi + pad


def refine(name, storage, new_name, *, top=5, epochs=None, trials=None) -> SearchConfig:
    """Coarse to fine: a new search whose ranges are narrowed around the best trials.

    For each rule, the ``top`` best complete trials that learned (their best validation
    loss is below the loss of the untrained model: a run that diverged at once, or did not
    move, tells nothing of where the good values lie) set the new range of each
    hyperparameter, in the scale's space (the unit interval of the old range):

    - the span of their values, padded on each side by a quarter of it (at least 5% of the
      old range);
    - at most half the old range: a wider one is replaced by half the old range centred on
      the best trial's value.

    So the new range is always narrower than the old one. A log range may reach past the
    old one when the best values lie at its border (cs231n: the best value should not sit
    on the border); a linear range is shifted to stay inside it. Trials train ``epochs``
    epochs (default: three times the old search's).

    Raises
    ------
    ValueError
        When a rule has fewer than two complete trials that learned to refine from.

    Examples
    --------
    The narrowing, on the unit interval of a range (``(low, high)`` of the new range):

    >>> from symupdates.lab.search import narrow
    >>> [round(u, 6) for u in narrow([0.30, 0.62, 0.40], best=0.40)]  # spanned and padded by a quarter
    [0.22, 0.7]
    >>> [round(u, 6) for u in narrow([0.45, 0.50], best=0.45)]  # padded by 5% of the old range at least
    [0.4, 0.55]
    >>> [round(u, 6) for u in narrow([0.1, 0.9, 0.2], best=0.2)]  # too wide: half the old range around the best
    [-0.05, 0.45]
    """
    store, config = _open(name, storage)
    _positive("top", top)
    epochs = 3 * config.epochs if epochs is None else _positive("epochs", epochs)
    rows = [r for r in trials_table(name, store) if r["state"] == "complete" and r["value"] is not None
            and (r["start_loss"] is None or r["value"] < r["start_loss"])]  # fmt: skip
    space = {}
    for rule in config.rules:
        best = sorted((r for r in rows if r["rule"] == rule), key=lambda r: r["value"])[:top]
        if len(best) < 2:
            raise ValueError(
                f"{rule} has {len(best)} complete trial(s) that learned (validation loss below the untrained "
                f"model's) in {name!r}; refine needs at least 2: run more trials, or widen the range"
            )
        ranges = {}
        for hp, r in config.space[rule].items():
            lo, hi = narrow([r.unit(b["hyperparams"][hp]) for b in best], r.unit(best[0]["hyperparams"][hp]))
            if r.scale == "linear":  # shifted, not cut, to stay inside the old range
                lo, hi = lo - min(lo, 0.0) - max(hi - 1.0, 0.0), hi - min(lo, 0.0) - max(hi - 1.0, 0.0)
            ranges[hp] = Range(r.value(lo), r.value(hi), r.scale)
        space[rule] = ranges
    fields = {f.name: getattr(config, f.name) for f in dataclasses.fields(config)}
    fields.update(space=space, epochs=epochs, trials=config.trials if trials is None else trials, parent=name)
    del fields["name"], fields["rules"]
    return create(new_name, storage, list(config.rules), **fields)
