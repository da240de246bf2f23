"""symupdates.lab.search: ranges and spaces, searches on SQLite and on a real PostgreSQL
server, real worker processes (two sharing a study; one killed with SIGKILL mid-trial),
determinism, pruning, refinement, the plot and the command line.

Trials train a small MLP on the bundled digits in FAST_COMPILE mode, so each takes about a
second; the worker processes are started with ``python -m symupdates search worker``.
"""

from __future__ import annotations

import json
import math
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import optuna
import pytest
from optuna.trial import TrialState

from symupdates.lab import cli, search
from symupdates.lab.search import Range, StorageError

SMALL = {"hidden": (8,), "mode": "FAST_COMPILE"}


@pytest.fixture(autouse=True)
def _in_tmp_path(tmp_path, monkeypatch):
    """Each test runs in its own folder: a search makes its default ``out_dir``
    (``out/search``) where it is created."""
    monkeypatch.chdir(tmp_path)


def sqlite(tmp_path, name="search.db") -> str:
    return f"sqlite:///{tmp_path / name}"


def trials_of(url, name, rule):
    return optuna.load_study(study_name=f"{name}/{rule}", storage=url).get_trials(deepcopy=False)


def workers(url, name, count, *extra, cwd):
    """Start ``count`` worker processes of ``symupdates search worker``."""
    command = [sys.executable, "-m", "symupdates", "search", "worker", name, "--storage", url, *extra]
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    return [subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            for _ in range(count)]  # fmt: skip


def finish(procs, timeout=300):
    outputs = []
    for p in procs:
        out, _ = p.communicate(timeout=timeout)
        assert p.returncode == 0, out
        outputs.append(out)
    return outputs


# ---------------------------------------------------------------------------- ranges and spaces


def test_ranges_map_their_scale_to_the_unit_interval():
    lr = Range(1e-6, 10.0, "log")
    assert [lr.unit(x) for x in (1e-6, 10.0)] == [0.0, 1.0]
    assert lr.unit(1e-2) == pytest.approx(4 / 7) and lr.value(4 / 7) == pytest.approx(1e-2)
    assert (lr.border(1e-6), lr.border(1e-2), lr.border(9.0)) == ("low", None, "high")
    beta2 = Range(0.9, 0.9999, "1-log")  # 1 - beta2 log-uniform: 0.9, 0.99, 0.999, 0.9999 evenly spaced
    assert [beta2.unit(b) for b in (0.9, 0.99, 0.999, 0.9999)] == pytest.approx([0.0, 1 / 3, 2 / 3, 1.0], abs=1e-12)
    assert beta2.value(1 / 3) == 0.99 and beta2.optuna_name("beta2") == "1-beta2"
    dropout = Range(0.1, 0.5, "linear")
    assert dropout.unit(0.3) == pytest.approx(0.5)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((0.1, 0.01), "a range must have low < high, got 0.1..0.01; write it as 0.01..0.1"),
        ((0.1, 0.1), "a range must have low < high, got 0.1..0.1"),
        ((0.0, 1.0, "log"), "a log range must be positive"),
        ((0.9, 1.0, "1-log"), "a 1-log range must end below 1"),
        ((1e-3, math.inf), "a range's high must be a finite number"),
        ((1e-3, 1.0, "cubic"), "scale must be one of log, linear, 1-log"),
    ],
)
def test_bad_ranges_are_clear_errors(args, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        Range(*args)


def test_default_space_is_each_rules_learning_rate_over_cs231ns_range():
    space = search.check_space(["sgd", "adam"])
    assert space == {"sgd": {"learning_rate": Range(1e-6, 10.0, "log")}, "adam": {"learning_rate": Range(1e-6, 10.0, "log")}}
    parsed = search.parse_space(["learning_rate=1e-4..1", "adam.beta2", "adamw.weight_decay=1e-5..1e-2"], ["adam", "adamw"])
    assert parsed["adam"] == {"learning_rate": Range(1e-4, 1.0), "beta2": Range(0.9, 0.9999, "1-log")}
    assert parsed["adamw"] == {"learning_rate": Range(1e-4, 1.0), "weight_decay": Range(1e-5, 1e-2)}
    # an entry adds to the learning rate, which every rule searches
    assert search.parse_space(["adam.beta2"], ["adam"])["adam"] == {"learning_rate": Range(1e-6, 10.0),
                                                                     "beta2": Range(0.9, 0.9999, "1-log")}  # fmt: skip


def test_momentum_is_a_rule_and_a_hyperparameter_and_the_space_tells_them_apart():
    lr, default, narrow = Range(1e-6, 10.0), Range(0.5, 0.99, "1-log"), Range(0.8, 0.95, "linear")
    rules = ["momentum", "nesterov_momentum", "sgd"]
    for entries, expected in ((["momentum"], default), (["momentum=0.8..0.95:linear"], narrow)):
        parsed = search.parse_space(entries, rules)  # every rule that has it
        assert parsed == {"momentum": {"learning_rate": lr, "momentum": expected},
                          "nesterov_momentum": {"learning_rate": lr, "momentum": expected}, "sgd": {"learning_rate": lr}}  # fmt: skip
    parsed = search.parse_space(["momentum.momentum=0.8..0.95:linear", "momentum"], rules)  # the rule's own wins
    assert parsed["momentum"]["momentum"] == narrow and parsed["nesterov_momentum"]["momentum"] == default
    assert search.check_space(["momentum"], {"momentum": narrow}) == {"momentum": {"learning_rate": lr, "momentum": narrow}}
    assert search.check_space(["momentum"], {"momentum": {"momentum": narrow}}) == {"momentum": {"learning_rate": lr, "momentum": narrow}}


@pytest.mark.parametrize(
    ("rules", "space", "message"),
    [
        (["adam", "shampoo"], None, "unknown rule 'shampoo'; choose from sgd, momentum"),
        (["adam"], {"adam": {"lr": None}}, "adam has no real-valued hyperparameter 'lr' to search; it has learning_rate"),
        (["adam"], {"adam": {"amsgrad": None}}, "adam has no real-valued hyperparameter 'amsgrad'"),
        (["adagrad"], {"adagrad": {"lr_decay": None}}, "adagrad.lr_decay has no default range; give one"),
        (["adam"], {"adam": {"beta2": Range(0.5, 1.5, "linear")}}, "adam.beta2 = 1.5 (an end of its range) is refused by adam"),
        (["adam"], {"sgd": {"learning_rate": None}}, "the space names 'sgd', which is not among the rules searched"),
        (["adam", "adam"], None, "rules lists a rule twice"),
        ([], None, "rules must be a non-empty list"),
    ],
)
def test_bad_spaces_are_clear_errors(rules, space, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        search.check_space(rules, space)


def test_bad_search_settings_and_storages(tmp_path):
    url = sqlite(tmp_path)
    with pytest.raises(ValueError, match="trials must be a positive integer, got 0"):
        search.create("s", url, ["sgd"], trials=0)
    with pytest.raises(ValueError, match="sampler must be 'random' or 'tpe'"):
        search.create("s", url, ["sgd"], sampler="grid")
    with pytest.raises(ValueError, match="a search name must be a non-empty string without '/'"):
        search.create("a/b", url, ["sgd"])
    search.create("s", url, ["sgd"], trials=1)
    with pytest.raises(ValueError, match="a search named 's' already exists in sqlite:///"):
        search.create("s", url, ["sgd"], trials=1)
    with pytest.raises(ValueError, match=r"no search named 'other' in sqlite:///.*search\.db \(it holds s\); create one"):
        search.status("other", url)
    with pytest.raises(StorageError, match="the folder .*missing does not exist"):
        search.status("s", sqlite(tmp_path / "missing"))
    with pytest.raises(StorageError, match="must be a database URL"):
        search.open_storage("")
    with pytest.raises(StorageError, match=r"there is no database file .*serach\.db; check the path"):
        search.status("s", sqlite(tmp_path, "serach.db"))  # a typo: no new, empty database
    assert not (tmp_path / "serach.db").exists()
    with pytest.raises(ValueError, match="mode 'BOGUS' is not a PyTensor compile mode; choose from .*FAST_COMPILE"):
        search.create("m", url, ["sgd"], mode="BOGUS")
    (tmp_path / "file").write_text("")
    with pytest.raises(StorageError, match="cannot make the folder of the trials' files .*file/out"):
        search.create("m", url, ["sgd"], out_dir=tmp_path / "file" / "out")
    search.create("gone", url, ["sgd"], out_dir=tmp_path / "gone")
    (tmp_path / "gone").rmdir()  # as on a machine without the shared folder mounted
    with pytest.raises(StorageError, match=r"the folder of the search's trial files .*gone does not exist here"):
        search.work("gone", url)
    assert [t.state for t in trials_of(url, "gone", "sgd")] == [TrialState.WAITING] * 20  # none taken


def test_an_unreachable_database_is_named_without_its_password():
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"postgresql+psycopg://alice:s3cret@127.0.0.1:{port}/db"
    with pytest.raises(StorageError) as info:
        search.status("s", url)
    message = str(info.value)
    assert f"cannot open the storage postgresql+psycopg://alice:***@127.0.0.1:{port}/db" in message
    assert "s3cret" not in message


# ---------------------------------------------------------------------------- one worker, in process


def test_a_worker_runs_the_budget_and_writes_each_trial(tmp_path):
    url = sqlite(tmp_path)
    config = search.create("lr", url, ["sgd", "adam"], trials=3, epochs=2, out_dir=tmp_path / "out", pruner="none", **SMALL)
    lines = []
    assert search.work("lr", url, log=lines.append) == 6
    assert search.work("lr", url) == 0  # the queues are empty
    trained = 0
    for rule in ("sgd", "adam"):
        trials = trials_of(url, "lr", rule)
        assert [t.number for t in trials] == [0, 1, 2] and {t.state for t in trials} == {TrialState.COMPLETE}
        for t in trials:
            folder = search.trial_folder(config, rule, t.number)
            history = json.loads((folder / "history.json").read_text())
            assert history["meta"]["hyperparams"] == {"learning_rate": t.params["learning_rate"]}
            assert t.value == min(x for x in history["valid"]["loss"] if x is not None)
            assert t.user_attrs["result"]["stopped"] == history["stopped"] in ("epochs", "diverged")
            if history["stopped"] == "epochs":  # validation after every epoch (1437 rows / 32)
                trained += 1
                assert history["valid"]["step"] == [0, 45, 90]
                assert t.intermediate_values == {45: history["valid"]["loss"][1], 90: history["valid"]["loss"][2]}
            valid = list(zip(history["valid"]["step"], history["valid"]["loss"], history["valid"]["accuracy"]))[1:]
            best = min((v for v in valid if v[1] is not None), key=lambda v: v[1], default=None)
            kept = [] if best is None else [f"step-{best[0]:07d}_val-loss-{best[1]:.4f}_val-acc-{best[2]:.4f}.npz"]
            assert sorted(p.name for p in folder.glob("step-*.npz")) == kept  # the best validation's checkpoint
            [final] = folder.glob("final_val-loss-*.npz")
            assert final.name == (f"final_val-loss-{history['valid']['loss'][-1]:.4f}_"
                                  f"val-acc-{history['valid']['accuracy'][-1]:.4f}.npz")  # fmt: skip
            assert not (folder / "resume.npz").exists()
    assert trained >= 3 and len(lines) == 6 and all("best validation loss" in line for line in lines)


def test_a_single_worker_with_a_fixed_seed_is_deterministic(tmp_path):
    def run(folder):
        folder.mkdir()
        url = sqlite(folder)
        search.create("d", url, ["adam"], trials=3, out_dir=folder / "out", seed=4, **SMALL)
        search.work("d", url)
        return [(t.number, t.params, t.value) for t in trials_of(url, "d", "adam")]

    first, second = run(tmp_path / "a"), run(tmp_path / "b")
    assert first == second
    assert len({json.dumps(p) for _, p, _ in first}) == 3  # three different draws
    (tmp_path / "c").mkdir()
    url = sqlite(tmp_path / "c")
    search.create("d", url, ["adam"], trials=3, out_dir=tmp_path / "c" / "out", seed=5, **SMALL)
    search.work("d", url, max_trials=1)
    assert trials_of(url, "d", "adam")[0].params != first[0][1]  # another seed, other draws


def test_hopeless_trials_are_pruned_at_a_validation(tmp_path):
    """The median pruner, after 5 complete trials: a trial is pruned exactly when, at a
    step, its best validation loss so far is above the median of the complete ones at that
    step, and it stops there."""
    url = sqlite(tmp_path)
    search.create("p", url, ["sgd"], trials=12, epochs=3, out_dir=tmp_path / "out", space={"learning_rate": Range(1e-5, 1.0)},
                  **SMALL)  # fmt: skip
    search.work("p", url)
    trials = trials_of(url, "p", "sgd")
    pruned = [t for t in trials if t.state == TrialState.PRUNED]
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    assert len(pruned) + len(complete) == 12 and pruned, [t.state for t in trials]
    for t in trials:  # one worker: the trials complete before a trial are those with smaller numbers
        done_before = [c for c in complete if c.number < t.number]
        expected = None  # the first reported step at which Optuna's median rule prunes
        for step in sorted(t.intermediate_values) if len(done_before) >= 5 else ():
            others = [c.intermediate_values[step] for c in done_before if step in c.intermediate_values]
            best = min(v for s, v in t.intermediate_values.items() if s <= step)
            if others and best > np.median(others):
                expected = step
                break
        assert (t.state == TrialState.PRUNED) == (expected is not None), (t.number, t.intermediate_values)
        if expected is not None:
            assert t.user_attrs["result"]["stopped"] == "pruned"
            assert max(t.intermediate_values) == t.user_attrs["result"]["steps"] == expected  # stopped there
            assert t.value == t.intermediate_values[expected]  # the loss that pruned it, as Optuna's tell gives
    report = search.status("p", url)["sgd"]
    assert report["counts"] == {"complete": len(complete), "pruned": len(pruned), "running": 0, "failed": 0, "waiting": 0}


def test_status_warns_when_a_best_value_is_near_a_border(tmp_path):
    """Within 10% of an end, in the scale's space: log for a learning rate, 1 - x for beta2."""
    url = sqlite(tmp_path)
    lr, beta2 = Range(1e-6, 1e-2), Range(0.9, 0.9999, "1-log")
    search.create("b", url, ["adam"], trials=1, space={"adam": {"learning_rate": lr, "beta2": beta2}})
    study = optuna.load_study(study_name="b/adam", storage=url)
    distributions = {"learning_rate": optuna.distributions.FloatDistribution(1e-6, 1e-2, log=True),
                     "1-beta2": optuna.distributions.FloatDistribution(1e-4, 0.1, log=True)}  # fmt: skip
    for value, lr_value, one_minus in ((2.0, 1e-5, 0.05), (0.5, 8e-3, 0.01), (0.9, 1e-3, 0.002)):
        study.add_trial(optuna.create_trial(params={"learning_rate": lr_value, "1-beta2": one_minus},
                                            distributions=distributions, value=value))  # fmt: skip
    report = search.status("b", url)["adam"]
    assert report["counts"] == {"complete": 3, "pruned": 0, "running": 0, "failed": 0, "waiting": 1}
    assert report["best"] == {"number": 2, "value": 0.5, "accuracy": None, "hyperparams": {"learning_rate": 8e-3, "beta2": 0.99}}
    assert lr.unit(8e-3) > 0.9 and 0.1 < beta2.unit(0.99) < 0.9
    assert report["borders"] == [
        "adam: the best learning_rate = 0.008 lies within 10% of the high end of 1e-06..0.01:log (log space): "
        "widen the range past it"
    ]


def test_refine_narrows_around_the_best_trials_and_trains_longer(tmp_path):
    url = sqlite(tmp_path)
    search.create("coarse", url, ["adam"], trials=6, epochs=1, out_dir=tmp_path / "out", pruner="none", **SMALL)
    study = optuna.load_study(study_name="coarse/adam", storage=url)
    for _ in range(2):  # rates that cannot learn: left out of the trials refine looks at
        study.enqueue_trial({"learning_rate": 10.0})
    search.work("coarse", url)
    fine = search.refine("coarse", url, "fine", top=3)
    assert (fine.epochs, fine.trials, fine.parent) == (3, 6, "coarse")
    rows = search.trials_table("coarse", url)
    assert [r["start_loss"] for r in rows] == [rows[0]["start_loss"]] * 8  # the same initial weights
    assert sum(r["value"] >= r["start_loss"] for r in rows) >= 2
    learned = sorted((r for r in rows if r["value"] < r["start_loss"]), key=lambda r: r["value"])[:3]
    old, new = Range(1e-6, 10.0), fine.space["adam"]["learning_rate"]
    units = [old.unit(r["hyperparams"]["learning_rate"]) for r in learned]
    assert (old.unit(new.low), old.unit(new.high)) == pytest.approx(search.narrow(units, units[0]), abs=1e-6)
    assert old.unit(new.high) - old.unit(new.low) <= search.NARROW_MAX + 1e-6  # narrower than the old range
    assert len(trials_of(url, "fine", "adam")) == 6
    with pytest.raises(ValueError, match="adam has 0 complete trial"):
        search.refine("fine", url, "finer")


def test_narrowing_spans_the_best_trials_or_centres_on_the_best():
    assert search.narrow([0.3, 0.62, 0.4], 0.4) == pytest.approx((0.22, 0.7))  # a quarter of the span a side
    assert search.narrow([0.5, 0.5], 0.5) == pytest.approx((0.45, 0.55))  # at least 5% a side
    assert search.narrow([0.1, 0.9, 0.2], 0.2) == pytest.approx((-0.05, 0.45))  # half the old range at most
    assert search.narrow([0.0, 0.95], 0.95) == pytest.approx((0.7, 1.2))  # past the border, for a log range


def test_the_plot_has_a_panel_per_hyperparameter_with_log_axes(tmp_path):
    url = sqlite(tmp_path)
    search.create("f", url, ["adam", "sgd"], trials=2, out_dir=tmp_path / "out", pruner="none",
                  space={"learning_rate": None, "adam": {"learning_rate": None, "beta2": None}}, **SMALL)  # fmt: skip
    search.work("f", url)
    fig = search.plot("f", url, tmp_path / "search.svg")
    assert [ax.get_xlabel() for ax in fig.axes] == ["learning_rate", "1 − beta2"]
    assert all(ax.get_xscale() == "log" for ax in fig.axes)
    values = [r["value"] for r in search.trials_table("f", url)]
    assert {ax.get_yscale() for ax in fig.axes} == {"log" if max(values) > 10 * min(values) else "linear"}
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["adam", "sgd"]  # from every panel, once
    lr = fig.axes[0]
    assert sorted(c.get_label() for c in lr.collections) == ["adam", "sgd"]
    assert sum(len(c.get_offsets()) for c in lr.collections) == 4
    assert (tmp_path / "search.svg").read_text().startswith("<?xml")


# ---------------------------------------------------------------------------- worker processes


def test_two_worker_processes_share_one_sqlite_search_without_losing_or_repeating_a_trial(tmp_path):
    url = sqlite(tmp_path)
    search.create("two", url, ["sgd", "adam", "rmsprop"], trials=4, out_dir=tmp_path / "out", pruner="none", **SMALL)
    # Each worker takes at most half the budget, so both take trials however late one starts:
    # on a busy machine one could import for longer than the other needs for all 12.
    outputs = finish(workers(url, "two", 2, "--trials", "6", cwd=tmp_path))
    ran_by = set()
    for rule in ("sgd", "adam", "rmsprop"):
        trials = trials_of(url, "two", rule)
        assert [t.number for t in trials] == [0, 1, 2, 3]
        assert {t.state for t in trials} == {TrialState.COMPLETE}
        assert len({t.params["learning_rate"] for t in trials}) == 4
        ran_by |= {t.user_attrs["result"]["worker"] for t in trials}
    assert len(ran_by) == 2, outputs  # both workers took trials
    counts = [int(out.strip().splitlines()[-1].split("finished ")[1].split()[0]) for out in outputs]
    assert sum(counts) == 12, outputs


def _checkpoint_time(config, rule, number) -> float:
    path = search.trial_folder(config, rule, number) / "resume.npz"
    return path.stat().st_mtime_ns if path.exists() else -1


def _wait_for_checkpoints(config, rule, numbers, procs, seconds=120):
    """Wait until each trial of ``numbers`` has written a checkpoint (it is mid-trial), a
    new one if it had one."""
    before = {n: _checkpoint_time(config, rule, n) for n in numbers}
    seen = set()  # a trial's checkpoint becomes its final file when it ends: seen once is enough
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        seen |= {n for n in numbers if _checkpoint_time(config, rule, n) not in (before[n], -1)}
        if len(seen) == len(numbers):
            return
        time.sleep(0.02)
    for p in procs:
        p.kill()
    pytest.fail(f"trials {numbers} wrote no checkpoint in {seconds} s: " + "".join(p.communicate()[0] for p in procs))


def test_a_worker_killed_mid_trial_loses_nothing_else(tmp_path):
    """Two workers, two trials; SIGKILL one worker while both trials run (each worker runs
    one) and have written a checkpoint. The other fails the silent trial (its heartbeat
    stopped), runs the retry with the same hyperparameters from that checkpoint, and the
    search reaches its budget of complete trials."""
    url = sqlite(tmp_path)
    config = search.create("k", url, ["sgd"], trials=2, epochs=20, out_dir=tmp_path / "out", pruner="none", heartbeat=1,
                           hidden=(32,), mode="FAST_COMPILE")  # fmt: skip
    victim, survivor = workers(url, "k", 2, cwd=tmp_path)
    _wait_for_checkpoints(config, "sgd", [0, 1], [victim, survivor])
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    for number in (0, 1):  # what a running trial shows: its statistics so far, a checkpoint named by its score
        folder = search.trial_folder(config, "sgd", number)
        assert json.loads((folder / "history.json").read_text())["valid"]["step"][:2] == [0, 45]
        assert 1 <= len(list(folder.glob("step-*_val-loss-*_val-acc-*.npz"))) <= 2  # the best and the latest
    states = [t.state for t in trials_of(url, "k", "sgd")]
    if states != [TrialState.RUNNING] * 2:  # a trial of 20 epochs ended before the other began: no test
        survivor.kill()
        pytest.fail(f"the two trials did not run together (states {states}); the machine is too slow for this test")
    [log] = finish([survivor])
    trials = trials_of(url, "k", "sgd")
    states = [t.state for t in trials]
    assert states.count(TrialState.FAIL) == 1 and states.count(TrialState.COMPLETE) == 2, (states, log)
    [failed] = [t for t in trials if t.state == TrialState.FAIL]
    [retry] = [t for t in trials if t.system_attrs.get("failed_trial") == failed.number]
    assert retry.state == TrialState.COMPLETE and retry.params == failed.params
    assert retry.user_attrs["result"]["worker"].endswith(f":{survivor.pid}")  # retried by the other worker
    folder = search.trial_folder(config, "sgd", failed.number)  # the retry wrote into the killed trial's folder
    history = json.loads((folder / "history.json").read_text())
    assert history["valid"]["step"] == [45 * e for e in range(21)]  # every epoch once, before and after the kill
    assert [t.user_attrs["result"]["folder"] for t in trials if t.state == TrialState.COMPLETE].count(str(folder)) == 1


def test_an_interrupted_worker_queues_its_trial_again_and_exits_without_a_traceback(tmp_path):
    """Ctrl-C (SIGINT) or SIGTERM: the running trial is failed and queued again at once (not
    after a heartbeat's grace period), and the worker exits with status 130 and one line."""
    url = sqlite(tmp_path)
    config = search.create("i", url, ["sgd"], trials=2, epochs=6, out_dir=tmp_path / "out", pruner="none",
                           hidden=(32,), mode="FAST_COMPILE")  # fmt: skip
    for sig in (signal.SIGINT, signal.SIGTERM):
        [worker] = workers(url, "i", 1, cwd=tmp_path)
        _wait_for_checkpoints(config, "sgd", [0], [worker])  # trial 0, then its retry 2, in the same folder
        worker.send_signal(sig)
        out, _ = worker.communicate(timeout=60)
        assert worker.returncode == 130 and "Traceback" not in out, out
        assert "queued again, it resumes from its checkpoint" in out and "interrupted: this worker stops" in out
        trials = trials_of(url, "i", "sgd")
        interrupted = [t for t in trials if t.state == TrialState.FAIL][-1]
        [retry] = [t for t in trials if t.system_attrs.get("retry_history", [None])[-1] == interrupted.number]
        assert retry.state == TrialState.WAITING and retry.params == interrupted.params
    assert search.work("i", url) == 1  # the retry of the retry: the second worker had finished trial 1 first
    trials = trials_of(url, "i", "sgd")
    assert [t.state for t in trials].count(TrialState.COMPLETE) == 2
    history = json.loads((search.trial_folder(config, "sgd", 0) / "history.json").read_text())
    assert history["valid"]["step"] == [45 * e for e in range(7)]  # every epoch once, across two interrupts


# A process that takes queued trials as a worker does (search._Trials) and ends each at
# once, after every process is ready: many takes racing over the same queues.
RACE = r"""
import json, os, sys, time
import optuna
from optuna.exceptions import UpdateFinishedTrialError
from symupdates.lab import search

url, name, ready, count = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
store = search.open_storage(url)
config = search.load_config(name, store)
studies = {r: optuna.load_study(study_name=f"{name}/{r}", storage=store) for r in config.rules}
open(os.path.join(ready, str(os.getpid())), "w").close()
while len(os.listdir(ready)) < count:
    time.sleep(0.001)
trials = search._Trials(studies, store, config)
taken = []
while (next_trial := trials.take()) is not None:
    rule, (trial, _, _) = next_trial
    try:
        trials.finish(trial, optuna.trial.TrialState.COMPLETE, 0.0)
        taken.append([rule, trial.number])
    except UpdateFinishedTrialError:  # another process took and ended it too
        taken.append([rule, trial.number, "ended by another"])
print(json.dumps(taken))
"""


def race(url, name, tmp_path, processes=4):
    """Every ``(rule, number)`` the racing processes took, once per take (a third item marks
    a take whose end another process had written first)."""
    ready = tmp_path / "ready"
    ready.mkdir()
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    procs = [subprocess.Popen([sys.executable, "-c", RACE, url, name, str(ready), str(processes)], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(processes)]  # fmt: skip
    taken = []
    for p in procs:
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
        taken += [tuple(t) for t in json.loads(out)]
    return taken


def check_race(url, tmp_path):
    search.create("race", url, ["sgd", "adam"], trials=60, out_dir=tmp_path / "out")
    taken = race(url, "race", tmp_path)
    assert len(taken) == len(set(taken)) == 120, sorted(t for t in taken if taken.count(t) > 1 or len(t) > 2)
    for rule in ("sgd", "adam"):
        assert [t.state for t in trials_of(url, "race", rule)] == [TrialState.COMPLETE] * 60


def test_racing_workers_take_each_queued_trial_once_on_sqlite(tmp_path):
    """SQLite ignores ``SELECT ... FOR UPDATE``: without transactions that begin IMMEDIATE,
    two processes read "waiting" and both take the trial."""
    check_race(sqlite(tmp_path), tmp_path)


@pytest.mark.parametrize("sampler", ["random", "tpe"])
def test_a_worker_never_reads_the_whole_queue_after_it_starts(tmp_path, monkeypatch, sampler):
    """Optuna's cached storage reads every unfinished trial again at each look at a study;
    a queued budget is all unfinished. A worker reads each study whole once, when it
    starts; taking trials, sampling, pruning and ending read single trials, so its time in
    the storage does not grow with the budget."""
    url = sqlite(tmp_path)
    search.create("q", url, ["sgd", "adam"], trials=40, epochs=2, out_dir=tmp_path / "out", sampler=sampler, **SMALL)
    reads = []
    original = optuna.storages.RDBStorage._get_trials

    def whole(self, study_id, *args, **kwargs):
        reads.append(study_id)
        return original(self, study_id, *args, **kwargs)

    monkeypatch.setattr(optuna.storages.RDBStorage, "_get_trials", whole)
    assert search.work("q", url, max_trials=4) == 4
    assert sorted(reads) == [1, 2]  # each study once
    for rule in ("sgd", "adam"):
        assert sum(t.state == TrialState.COMPLETE for t in trials_of(url, "q", rule)) == 2


def test_a_random_search_queues_its_trials_with_the_values_a_worker_would_draw(tmp_path, monkeypatch):
    """``create`` stores each queued trial of a random search with its values: those a
    worker draws for a trial queued without values (by hand, or before this was done at
    creation), so results do not change."""
    def run(folder):
        url = sqlite(folder)
        search.create("v", url, ["sgd", "adam"], trials=3, out_dir=folder / "out", seed=7, pruner="none", **SMALL)
        queued = {r: [t.params for t in trials_of(url, "v", r)] for r in ("sgd", "adam")}
        search.work("v", url)
        return queued, {r: [(t.params, t.value) for t in trials_of(url, "v", r)] for r in ("sgd", "adam")}

    (tmp_path / "a").mkdir(), (tmp_path / "b").mkdir()
    queued, ran = run(tmp_path / "a")
    assert all(len(p) == 1 and 1e-6 <= p["learning_rate"] <= 10 for ps in queued.values() for p in ps)
    assert {r: [p for p, _ in ran[r]] for r in ran} == queued  # run with the values they were queued with
    monkeypatch.setattr(search, "_drawn_trial", lambda *args: optuna.trial.create_trial(state=TrialState.WAITING))
    queued_empty, drawn_by_worker = run(tmp_path / "b")
    assert queued_empty == {"sgd": [{}] * 3, "adam": [{}] * 3}
    assert drawn_by_worker == ran


def test_an_interrupted_trial_is_queued_again_only_up_to_the_retry_limit(tmp_path):
    url = sqlite(tmp_path)
    search.create("r", url, ["sgd"], trials=1, out_dir=tmp_path / "out")
    store = search.open_storage(url, heartbeat=10)
    config = search.load_config("r", store)
    study = optuna.load_study(study_name="r/sgd", storage=store)
    first = study.trials[0]
    history = list(range(search.MAX_RETRIES))  # a trial run MAX_RETRIES + 1 times already
    study.add_trial(optuna.trial.create_trial(state=TrialState.WAITING, params=first.params,
                                              distributions=first.distributions,
                                              system_attrs={"failed_trial": 0, "retry_history": history}))  # fmt: skip
    trials = search._Trials({"sgd": study}, store, config)
    lines = []
    for expected in ("queued again, it resumes", f"not queued again (it was run {search.MAX_RETRIES + 1} times)"):
        _, (trial, _, _) = trials.take()
        search._requeue(trials, trial, lines.append)
        assert expected in lines[-1]
    states = [t.state for t in trials_of(url, "r", "sgd")]
    assert states == [TrialState.FAIL, TrialState.FAIL, TrialState.WAITING]  # trial 0's retry waits; trial 1 stays failed


def test_a_stop_request_stops_the_running_workers_not_later_ones(tmp_path):
    url = sqlite(tmp_path)
    search.create("s", url, ["sgd", "adam"], trials=2, out_dir=tmp_path / "out", heartbeat=0.001, **SMALL)  # looks each trial
    asked = []

    def stop_after_the_first_trial(message):
        if not asked:
            search.request_stop("s", url)
            asked.append(message)

    assert search.work("s", url, log=stop_after_the_first_trial) == 1
    assert search.work("s", url) == 3  # started after the request: it runs the rest
    search.request_stop("s", url)
    assert search.work("s", url) == 0  # nothing left, and no error


def test_a_trial_costs_a_worker_five_storage_writes_and_no_read(tmp_path):
    """A one-epoch trial of a random search, taken from the queue the worker read when it
    started: its heartbeat, marked running, one report, its result and its end. The trial is
    not read again and its values are not written (they were stored when it was queued)."""
    from benchmarks.workloads import _StorageClock

    url = sqlite(tmp_path)
    search.create("w", url, ["sgd", "adam"], trials=3, out_dir=tmp_path / "out", pruner="none",
                  space={"learning_rate": Range(1e-4, 1e-2)}, **SMALL)  # no run diverges: each reports once
    store = search.open_storage(url, heartbeat=60)
    search.work("w", store, max_trials=1)  # warms the compile cache; its reads of the studies are its own
    with _StorageClock() as clock:
        assert search.work("w", store, max_trials=4) == 4
    per_trial = {name: calls / 4 for name, (calls, _) in clock.methods.items() if name.startswith("RDBStorage.")
                 and name not in ("RDBStorage.get_study_id_from_name",)}  # fmt: skip
    assert per_trial == {"RDBStorage.record_heartbeat": 1, "RDBStorage.set_trial_state_values": 2,
                         "RDBStorage.set_trial_intermediate_value": 1, "RDBStorage.set_trial_user_attr": 1}  # fmt: skip


def test_local_workers_divide_the_cores_among_their_blas_threads(monkeypatch):
    monkeypatch.setattr(os, "cpu_count", lambda: 8)
    env = search.worker_env(2, {"MKL_NUM_THREADS": "3", "PATH": "/bin"})  # a value set by the user stays
    assert env == {"PATH": "/bin", "MKL_NUM_THREADS": "3", "OMP_NUM_THREADS": "4", "OPENBLAS_NUM_THREADS": "4"}
    assert search.worker_env(16, {})["OPENBLAS_NUM_THREADS"] == "1"
    with pytest.raises(ValueError, match="workers must be a positive integer, got 0"):
        search.worker_env(0)


def test_the_benchmarks_storage_clock_counts_every_outermost_call(tmp_path):
    """benchmarks' SEARCH timer: a study's read through Optuna's in-process cache (which
    calls the database's private methods) is one call; nested calls are not counted again;
    every method is restored afterwards."""
    from benchmarks.workloads import _StorageClock

    store = search.open_storage(sqlite(tmp_path), create=True)
    study = optuna.create_study(study_name="c", storage=store)
    study.enqueue_trial({})
    original = vars(optuna.storages.RDBStorage)["_get_trials"]
    with _StorageClock() as clock:
        study.get_trials()  # the cache's get_all_trials → RDBStorage._get_trials
        assert clock.calls == 1 and clock.seconds > 0
        trial_id = store.get_trial_id_from_study_id_trial_number(study._study_id, 0)
        store.get_trial(trial_id)  # → find_or_raise_by_id, _build_frozen_trial_from_trial_model
        assert clock.calls == 3
    assert {name: calls for name, (calls, _) in clock.methods.items()} == {
        "_CachedStorage.get_all_trials": 1, "RDBStorage.get_trial_id_from_study_id_trial_number": 1,
        "RDBStorage.get_trial": 1,
    }  # fmt: skip
    assert vars(optuna.storages.RDBStorage)["_get_trials"] is original


# ---------------------------------------------------------------------------- PostgreSQL


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def postgres():
    """A PostgreSQL server in a temporary folder on a free loopback port; stopped afterwards.

    PostgreSQL refuses to run as root: as root, the server runs as the ``postgres`` user."""
    if shutil.which("initdb") is None or shutil.which("pg_ctl") is None:
        pytest.skip("PostgreSQL's initdb and pg_ctl are not on the PATH (.ci/run installs Debian's postgresql)")
    root = Path(tempfile.mkdtemp(prefix="symupdates-pg-"))
    as_user = []
    if os.geteuid() == 0:
        user = pwd.getpwnam("postgres")
        os.chown(root, user.pw_uid, user.pw_gid)
        as_user = ["runuser", "-u", "postgres", "--"]
    data, port = root / "data", _free_port()

    def run(*args):
        subprocess.run([*as_user, *args], check=True, capture_output=True, text=True)

    try:
        run("initdb", "-D", str(data), "-A", "trust", "-U", "symupdates", "--no-sync")
        run("pg_ctl", "-D", str(data), "-l", str(root / "server.log"), "-w", "-t", "60",
            "-o", f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off", "start")  # fmt: skip
        yield f"postgresql+psycopg://symupdates@127.0.0.1:{port}/postgres"
    finally:
        if (data / "postmaster.pid").exists():
            run("pg_ctl", "-D", str(data), "-m", "fast", "-w", "stop")
        shutil.rmtree(root, ignore_errors=True)


def test_racing_workers_take_each_queued_trial_once_on_postgresql(postgres, tmp_path):
    check_race(postgres, tmp_path)


def test_two_workers_on_a_real_postgresql_server(postgres, tmp_path):
    search.create("pg", postgres, ["sgd", "adam"], trials=3, out_dir=tmp_path / "out", pruner="none", **SMALL)
    finish(workers(postgres, "pg", 2, cwd=tmp_path))
    report = search.status("pg", postgres)
    for rule in ("sgd", "adam"):
        assert report[rule]["counts"] == {"complete": 3, "pruned": 0, "running": 0, "failed": 0, "waiting": 0}
        trials = trials_of(postgres, "pg", rule)
        assert [t.number for t in trials] == [0, 1, 2]
    # the same draws as in SQLite: a trial's values depend on the seed and its number only
    url = sqlite(tmp_path)
    search.create("pg", url, ["sgd", "adam"], trials=3, out_dir=tmp_path / "out2", pruner="none", **SMALL)
    search.work("pg", url)
    for rule in ("sgd", "adam"):
        ours = [(t.params, round(t.value, 6)) for t in trials_of(url, "pg", rule)]
        theirs = [(t.params, round(t.value, 6)) for t in trials_of(postgres, "pg", rule)]
        assert ours == theirs


# ---------------------------------------------------------------------------- command line


def test_the_command_line_creates_runs_reports_and_plots(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    url = sqlite(tmp_path)
    base = ["--storage", url]
    assert cli.main(["search", "create", "c", "--rules", "sgd,adam", "--space", "adam.beta2", "--space", "learning_rate",
                     "--trials", "2", "--hidden", "8", "--mode", "FAST_COMPILE", "--pruner", "none", *base]) == 0  # fmt: skip
    out = capsys.readouterr().out
    assert "adam: learning_rate in 1e-06..10:log, beta2 in 0.9..0.9999:1-log" in out
    assert cli.main(["search", "run", "c", "--workers", "2", *base]) == 0
    out = capsys.readouterr().out
    assert "started 2 worker(s)" in out and "search c: 2 trials per rule" in out
    for line in out.splitlines():
        assert len(line) <= cli.PIPED_WIDTH and "\x1b" not in line
    assert cli.main(["search", "status", "c", *base]) == 0
    table = capsys.readouterr().out
    assert [line.split("│")[1].strip() for line in table.splitlines() if line.startswith("│ ") and "#" in line] == ["sgd", "adam"]
    assert cli.main(["search", "plot", "c", "--out", "p.pdf", *base]) == 0
    assert (tmp_path / "p.pdf").read_bytes().startswith(b"%PDF")
    assert cli.main(["search", "stop", "c", *base]) == 0
    assert search.work("c", url) == 0


def test_status_on_the_command_line_prints_the_border_warnings(tmp_path, capsys):
    """SGD's rate searched only up to 1e-2 (its best rates lie above 0.1): the best one drawn
    lies within 10% of the top of the range in log space, and status says to widen it."""
    url = sqlite(tmp_path)
    base = ["--storage", url]
    assert cli.main(["search", "create", "narrow", "--rules", "sgd", "--space", "learning_rate=1e-6..1e-2", "--trials", "6",
                     "--hidden", "32", "--mode", "FAST_COMPILE", "--seed", "3", "--dir", str(tmp_path / "out"), *base]) == 0  # fmt: skip
    search.work("narrow", url)
    capsys.readouterr()
    assert cli.main(["search", "status", "narrow", *base]) == 0
    out = " ".join(capsys.readouterr().out.split())
    best = search.status("narrow", url)["sgd"]["best"]["hyperparams"]["learning_rate"]
    assert Range(1e-6, 1e-2).border(best) == "high"
    assert f"the best learning_rate = {best:.6g} lies within 10% of the high end of 1e-06..0.01:log" in out
    assert "widen the range past it" in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["status", "missing"], "no search named 'missing' in sqlite:///"),
        (["create", "x", "--rules", "adam", "--space", "adam.learning_rate=1..0.1"], "write it as 0.1..1"),
        (["create", "x", "--rules", "adam", "--space", "adam.lr"], "adam has no real-valued hyperparameter 'lr'"),
        (["create", "x", "--rules", "adam", "--space", "adam.learning_rate=1e-5"], "write the range as low..high"),
        (["create", "x", "--rules", "shampoo"], "unknown rule 'shampoo'"),
        (["plot", "x", "--out", "p.gif"], "use .png, .svg or .pdf"),
    ],
)
def test_command_line_errors(argv, message, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    search.create("x0", sqlite(tmp_path), ["sgd"], trials=1)
    with pytest.raises(SystemExit) as info:
        cli.main(["search", *argv, "--storage", sqlite(tmp_path)])
    assert info.value.code == 2
    assert message in capsys.readouterr().err


def test_an_unreachable_storage_exits_1_without_the_password(capsys):
    port = _free_port()
    assert cli.main(["search", "status", "s", "--storage", f"postgresql+psycopg://bob:pw123@127.0.0.1:{port}/x"]) == 1
    err = capsys.readouterr().err
    assert "bob:***@" in err and "pw123" not in err


def test_a_study_without_readable_settings_is_a_clear_error(tmp_path):
    url = sqlite(tmp_path)
    optuna.create_study(study_name="other/adam", storage=url)  # made by someone else, not a search
    with pytest.raises(ValueError, match="the study 'other/adam' holds no readable symupdates search settings"):
        search.status("other", url)
    search.create("s", url, ["sgd"], trials=1)
    optuna.load_study(study_name="s/sgd", storage=url).set_user_attr("symupdates_search", '{"name": "s", "rules": ["sgd"]}')
    with pytest.raises(ValueError, match="another version of symupdates"):
        search.load_config("s", url)


def test_the_pruning_rule_reports_each_validation_and_stops_when_told():
    class Trial:
        def __init__(self, prune_at):
            self.reports, self.prune_at = [], prune_at

        def report(self, value, step):
            self.reports.append((step, value))

        def should_prune(self):
            return self.reports[-1][0] >= self.prune_at

    from symupdates.lab import History

    trial, history = Trial(prune_at=20), History()
    rule = search.pruning_rule(trial)
    for step, loss in ((0, 2.3), (10, 1.5), (15, math.nan), (20, 1.2)):
        history.record_valid(step=step, epoch=0, loss=loss, accuracy=0.5, time=0.0)
        outcome = rule(history)
    assert trial.reports == [(10, 1.5), (20, 1.2)] and outcome == "pruned"


def test_a_trial_queued_by_hand_with_a_value_runs_with_it(tmp_path):
    """Optuna's ``enqueue_trial(params)`` on a rule's study: the worker runs that trial with
    those values, as Optuna's own ``Trial`` would; one outside the range gets a warning."""
    url = sqlite(tmp_path)
    search.create("h", url, ["sgd"], trials=1, pruner="none", out_dir=tmp_path / "out", **SMALL)
    study = optuna.load_study(study_name="h/sgd", storage=url)
    study.enqueue_trial({"learning_rate": 0.0123})
    study.enqueue_trial({"learning_rate": 20.0})
    with pytest.warns(UserWarning, match=r"trial 2 was queued with learning_rate = 20.0, outside its range 1e-06..10"):
        assert search.work("h", url) == 3
    trials = trials_of(url, "h", "sgd")
    assert [t.params["learning_rate"] for t in trials[1:]] == [0.0123, 20.0]
    assert trials[0].params["learning_rate"] not in (0.0123, 20.0)  # drawn
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 3


def test_tpe_draws_differ_from_trial_to_trial_and_learn_from_the_finished_ones(tmp_path, monkeypatch):
    """TPE's first trials are random draws: each trial's sampler is seeded by its number, so
    they differ (one seed for all would draw the same value every time). TPE is given the
    finished trials the worker has seen, with their values: every one before it."""
    url = sqlite(tmp_path)
    search.create("t", url, ["sgd"], trials=12, sampler="tpe", pruner="none", out_dir=tmp_path / "out", **SMALL)
    seen = []
    original = optuna.samplers.TPESampler.sample_independent

    def sample(self, study, trial, name, distribution):
        finished = study._get_trials(deepcopy=False, states=(TrialState.COMPLETE,), use_cache=True)
        seen.append([(t.params["learning_rate"], t.value) for t in finished])
        return original(self, study, trial, name, distribution)

    monkeypatch.setattr(optuna.samplers.TPESampler, "sample_independent", sample)
    search.work("t", url)
    trials = trials_of(url, "t", "sgd")
    assert len({t.params["learning_rate"] for t in trials}) == 12
    assert seen == [[(t.params["learning_rate"], t.value) for t in trials[:n]] for n in range(12)]
