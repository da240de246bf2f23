"""Training histories: one row per step, one per validation; CSV, JSON, summaries.

A :class:`History` holds two tables of plain Python lists (``history.train`` per step,
``history.valid`` per validation), turns into CSV or JSON and back, and summarises a
run. :func:`~symupdates.lab.plot_histories` draws one or several of them. No pandas
needed.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Mapping

import numpy as np

from symupdates.checkpoint import atomic_write

__all__ = ["TRAIN_COLUMNS", "VALID_COLUMNS", "History"]

#: The columns of ``History.train`` (one row per training step).
TRAIN_COLUMNS = ("step", "epoch", "loss", "accuracy", "learning_rate", "grad_norm", "update_ratio", "time")
#: The columns of ``History.valid`` (one row per validation).
VALID_COLUMNS = ("step", "epoch", "loss", "accuracy", "time")
_INT_COLUMNS = ("step", "epoch")


def _json_value(value):
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


class History:
    """What :func:`fit` recorded: one row per training step and one per validation.

    Attributes
    ----------
    train : dict of str to list
        Columns ``step`` (1 for the first update), ``epoch`` (from 0), ``loss`` and
        ``accuracy`` (of the minibatch, before the update), ``learning_rate`` (the value
        applied), ``grad_norm`` (global, before clipping), ``update_ratio``
        (:math:`\\lVert\\Delta p\\rVert_2 / \\lVert p\\rVert_2` over all parameters, see
        :func:`symupdates.monitor.update_ratios`; NaN on the steps between two of
        :func:`fit`'s ``monitor_every``) and ``time`` (seconds since the start of
        training, compilation excluded).
    valid : dict of str to list
        Columns ``step`` (updates applied so far; ``0`` is the initial model), ``epoch``,
        ``loss``, ``accuracy`` and ``time``, on the whole validation set.
    stopped : str or None
        Why training ended: ``"max_steps"``, ``"epochs"``, ``"diverged"``, or the reason a
        stop rule returned (``"patience"``, ``"target_accuracy"``, ...).
    meta : dict
        The settings of the run (name, seed, batch size, ...) and ``compile_seconds``.

    Examples
    --------
    >>> from symupdates.lab import History
    >>> history = History({"name": "demo"})
    >>> history.record_valid(step=0, epoch=0, loss=2.3, accuracy=0.1, time=0.0)
    >>> history.record_valid(step=100, epoch=1, loss=0.4, accuracy=0.9, time=1.5)
    >>> print(history.to_csv("valid"), end="")
    step,epoch,loss,accuracy,time
    0,0,2.3,0.1,0.0
    100,1,0.4,0.9,1.5
    >>> history.summary(target_accuracy=0.85)["steps_to_target"]
    100
    """

    def __init__(self, meta=None):
        self.train: dict[str, list] = {c: [] for c in TRAIN_COLUMNS}
        self.valid: dict[str, list] = {c: [] for c in VALID_COLUMNS}
        self.stopped: str | None = None
        self.meta: dict = dict(meta or {})

    def __repr__(self) -> str:
        name = self.meta.get("name", "")
        return (
            f"History({name!r}, steps={self.steps}, validations={len(self.valid['step'])}, "
            f"stopped={self.stopped!r})"
        )

    def record_train(self, **row) -> None:
        """Append one training step; ``row`` must give every column of :data:`TRAIN_COLUMNS`."""
        self._append(self.train, TRAIN_COLUMNS, row)

    def record_valid(self, **row) -> None:
        """Append one validation; ``row`` must give every column of :data:`VALID_COLUMNS`."""
        self._append(self.valid, VALID_COLUMNS, row)

    @staticmethod
    def _append(table, columns, row):
        if set(row) != set(columns):
            raise ValueError(f"a row must give exactly the columns {list(columns)}, got {sorted(row)}")
        for column in columns:
            value = row[column]
            table[column].append(int(value) if column in _INT_COLUMNS else float(value))

    @property
    def steps(self) -> int:
        """The number of training steps recorded."""
        return self.train["step"][-1] if self.train["step"] else 0

    @property
    def diverged(self) -> bool:
        """Whether training stopped because the loss diverged."""
        return self.stopped == "diverged"

    def summary(self, target_accuracy=None) -> dict:
        """The figures a comparison table shows, as a dict.

        Parameters
        ----------
        target_accuracy : float, optional
            If given, ``steps_to_target`` is the step of the first validation whose
            accuracy reached it (``None`` if none did).

        Returns
        -------
        dict
            ``name``, ``steps``, ``stopped``, ``diverged``, ``best_accuracy`` and its
            ``best_step``, ``final_accuracy`` and ``final_loss`` (the last validation),
            ``train_loss`` (the last step), ``time`` (seconds of training), and
            ``steps_to_target`` when asked. Missing values are NaN.
        """
        acc = self.valid["accuracy"]
        best = int(np.nanargmax(acc)) if acc and not np.all(np.isnan(acc)) else None
        out = {
            "name": self.meta.get("name"),
            "steps": self.steps,
            "stopped": self.stopped,
            "diverged": self.diverged,
            "best_accuracy": acc[best] if best is not None else math.nan,
            "best_step": self.valid["step"][best] if best is not None else None,
            "final_accuracy": acc[-1] if acc else math.nan,
            "final_loss": self.valid["loss"][-1] if acc else math.nan,
            "train_loss": self.train["loss"][-1] if self.train["loss"] else math.nan,
            "time": max(self.train["time"][-1:] + self.valid["time"][-1:], default=0.0),
        }
        if target_accuracy is not None:
            reached = [s for s, a in zip(self.valid["step"], acc, strict=True) if a >= target_accuracy]
            out["steps_to_target"] = reached[0] if reached else None
        return out

    def to_dict(self) -> dict:
        """Everything as plain lists, numbers and strings (a deep copy)."""
        return {
            "meta": dict(self.meta),
            "stopped": self.stopped,
            "train": {k: list(v) for k, v in self.train.items()},
            "valid": {k: list(v) for k, v in self.valid.items()},
        }

    @classmethod
    def from_dict(cls, d) -> History:
        """Rebuild a history from :meth:`to_dict` (or parsed :meth:`to_json`) output.

        ``None`` in a float column (how JSON stores NaN and ±inf) becomes NaN.
        """
        if not isinstance(d, Mapping) or not {"meta", "stopped", "train", "valid"} <= set(d):
            raise ValueError("a history dict needs the keys 'meta', 'stopped', 'train' and 'valid'")
        history = cls(d["meta"])
        history.stopped = d["stopped"]
        for table, columns, source in ((history.train, TRAIN_COLUMNS, d["train"]), (history.valid, VALID_COLUMNS, d["valid"])):
            if set(source) != set(columns):
                raise ValueError(f"a history table needs the columns {list(columns)}, got {sorted(source)}")
            for column in columns:
                table[column] = [
                    int(v) if column in _INT_COLUMNS else (math.nan if v is None else float(v)) for v in source[column]
                ]
        return history

    def to_json(self, path=None) -> str:
        """The history as standard JSON (NaN and ±inf written as ``null``); written to ``path`` if given."""
        d = self.to_dict()
        for table in ("train", "valid"):
            d[table] = {k: [_json_value(v) for v in vs] for k, vs in d[table].items()}
        text = json.dumps(d, allow_nan=False)
        if path is not None:
            with atomic_write(path, "w", encoding="utf-8") as f:
                f.write(text)
        return text

    @classmethod
    def from_json(cls, text) -> History:
        """Read the output of :meth:`to_json`."""
        return cls.from_dict(json.loads(text))

    def to_csv(self, table="valid", path=None) -> str:
        """One table as CSV text with a header row; written to ``path`` if given.

        Parameters
        ----------
        table : {"valid", "train"}
            Which table.
        path : str or os.PathLike, optional
            Where to write it.
        """
        if table not in ("train", "valid"):
            raise ValueError(f"table must be 'train' or 'valid', got {table!r}")
        columns = getattr(self, table)
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(columns)
        writer.writerows(zip(*columns.values(), strict=True))
        text = out.getvalue()
        if path is not None:
            with atomic_write(path, "w", encoding="utf-8", newline="") as f:
                f.write(text)
        return text
