"""Checkpoints: bit-identical resumption in a new process, atomic saves, extra host objects.

Bad arguments and unreadable files are in tests/test_errors.py.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest

import symupdates as su
from tests.reference import pytensor_problem
from tests.rules import RULES, parameters_of

ROOT = Path(__file__).resolve().parents[2]
N_STEPS, M_STEPS = 5, 4  # N_STEPS >= 2

pytestmark = pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")


def richest_case(rule):
    """The registry's flag case of a rule with the most flags, plus clipping and skip_nonfinite."""
    case = RULES[rule]
    return {"learning_rate": case.lr, **case.richest, "clip_norm": 0.5, "skip_nonfinite": True}


def build(rule):
    """Fresh parameters, updates and compiled function; the cost is scaled by an input."""
    kwargs = richest_case(rule)
    with parameters_of(RULES[rule]):
        params, loss = pytensor_problem(sign=-1.0 if kwargs.get("maximize") else 1.0)
    scale = pt.scalar("scale", dtype="float64")
    updates = RULES[rule].fn(loss * scale, params, **kwargs)
    return params, updates, pytensor.function([scale], [], updates=updates, mode="FAST_COMPILE")


def resume_all(folder):
    """In a new process: for each rule, load the checkpoint into a fresh build, run M steps, save."""
    folder = Path(folder)
    for rule in RULES:
        params, updates, train = build(rule)
        guard = su.NonFiniteGuard(updates, max_consecutive=3)
        su.load(folder / f"{rule}.npz", params, updates, extra={"guard": guard})
        for _ in range(M_STEPS):
            train(1.0)
            guard.check()
        su.save(folder / f"{rule}.resumed.npz", params, updates, extra={"guard": guard})


def test_resume_in_a_new_process_is_bit_identical(tmp_path):
    """Save after N steps, load in a new process, run M more: the same bits as N+M steps in one go."""
    expected = {}
    for rule in RULES:
        params, updates, train = build(rule)
        guard = su.NonFiniteGuard(updates, max_consecutive=3)
        updates.hyperparams["learning_rate"].set_value(np.float64(0.5 * RULES[rule].lr))  # must be restored
        for scale in [1.0, 1.0, np.nan] + [1.0] * (N_STEPS - 2):  # N steps and one skipped call
            train(scale)
            guard.check()
        su.save(tmp_path / f"{rule}.npz", params, updates, extra={"guard": guard})
        for _ in range(M_STEPS):  # the uninterrupted run goes on
            train(1.0)
            guard.check()
        expected[rule] = {f"params/{p.name}": p.get_value() for p in params}
        expected[rule].update({f"updates/{k}": v for k, v in updates.state_dict().items()})
        expected[rule].update({f"extra/guard/{k}": v for k, v in guard.state_dict().items()})
        assert int(updates.step.get_value()) == N_STEPS + M_STEPS and int(updates.skipped.get_value()) == 1
    code = "import sys, pytensor; pytensor.config.mode = 'FAST_COMPILE'; from tests.core.test_checkpoint import resume_all; resume_all(sys.argv[1])"
    done = subprocess.run([sys.executable, "-c", code, str(tmp_path)], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    for rule, values in expected.items():
        with np.load(tmp_path / f"{rule}.resumed.npz") as resumed:
            assert sorted(resumed.files) == sorted([*values, "symupdates/format"])
            for key, value in values.items():
                value = np.asarray(value)
                assert resumed[key].dtype == value.dtype and resumed[key].tobytes() == value.tobytes(), (rule, key)


def test_load_restores_everything_in_process(tmp_path):
    params, updates, train = build("adam")
    for _ in range(3):
        train(1.0)
    path = tmp_path / "adam.npz"
    su.save(path, params, updates)
    saved = [p.get_value() for p in params], updates.state_dict()
    train(1.0)
    updates.hyperparams["beta1"].set_value(np.float64(0.3))
    su.load(str(path), params, updates)  # str and PathLike both work
    for p, v in zip(params, saved[0], strict=True):
        assert p.get_value().tobytes() == v.tobytes()
    for key, value in updates.state_dict().items():
        assert value.tobytes() == saved[1][key].tobytes(), key
    assert float(updates.hyperparams["beta1"].get_value()) == float(saved[1]["hyperparams/beta1"]) != 0.3


class Counter:
    """A host-side object of the kind extra= takes (like a learning-rate controller)."""

    def __init__(self):
        self.best, self.count, self.mode, self.history = np.inf, 0, "min", np.zeros(3)

    def state_dict(self):
        return {"best": self.best, "count": self.count, "mode": self.mode, "history": self.history}

    def load_state_dict(self, state):
        if str(state["mode"]) not in ("min", "max"):
            raise ValueError(f"mode must be 'min' or 'max', got {state['mode']!r}")
        self.best, self.count, self.mode = float(state["best"]), int(state["count"]), str(state["mode"])
        self.history = np.array(state["history"])


def test_extra_host_objects_round_trip(tmp_path):
    params, updates, train = build("momentum")
    train(1.0)
    counter, guard = Counter(), su.NonFiniteGuard(updates, max_consecutive=2)
    counter.best, counter.count, counter.mode, counter.history = 0.25, 7, "max", np.arange(3.0)
    train(np.nan)
    guard.check()
    su.save(tmp_path / "c.npz", params, updates, extra={"counter": counter, "guard": guard})
    params2, updates2, _ = build("momentum")
    counter2, guard2 = Counter(), su.NonFiniteGuard(updates2, max_consecutive=2)
    su.load(tmp_path / "c.npz", params2, updates2, extra={"counter": counter2, "guard": guard2})
    assert (counter2.best, counter2.count, counter2.mode) == (0.25, 7, "max")
    np.testing.assert_array_equal(counter2.history, np.arange(3.0))
    assert guard2.consecutive == 1 and guard2.check() == 1  # the run of skips goes on after loading
    assert int(updates2.skipped.get_value()) == 1


def test_a_plateau_controller_is_saved_with_the_run(tmp_path):
    """ReduceLROnPlateau goes through extra=; the learning rate it lowered is in the updates' state."""
    params, updates, _ = build("sgd")
    plateau = su.ReduceLROnPlateau(updates, factor=0.5, patience=1, cooldown=1)
    for metric in [1.0, 0.9, 0.9, 0.9, 0.95]:
        plateau.step(metric)
    lowered = float(updates.hyperparams["learning_rate"].get_value())
    assert lowered < RULES["sgd"].lr
    su.save(tmp_path / "run.npz", params, updates, extra={"plateau": plateau})
    params2, updates2, _ = build("sgd")
    plateau2 = su.ReduceLROnPlateau(updates2, factor=0.5, patience=1, cooldown=1)
    su.load(tmp_path / "run.npz", params2, updates2, extra={"plateau": plateau2})
    assert float(updates2.hyperparams["learning_rate"].get_value()) == lowered
    for key, value in plateau.state_dict().items():
        assert plateau2.state_dict()[key] == value, key
    for metric in [0.9, 0.9, 0.9, 0.5, 0.9, 0.9]:  # the two controllers go on in step
        plateau.step(metric)
        plateau2.step(metric)
        assert updates2.hyperparams["learning_rate"].get_value() == updates.hyperparams["learning_rate"].get_value()


def test_a_second_optimizer_can_ride_along_as_extra(tmp_path):
    params, loss = pytensor_problem()
    first, second = su.adam(loss, params[:2]), su.sgd(loss, params[2:], learning_rate=0.1)
    pytensor.function([], [], updates=su.merge_updates(first, second))()
    su.save(tmp_path / "two.npz", params, first, extra={"second": second})
    params2, loss2 = pytensor_problem()
    first2, second2 = su.adam(loss2, params2[:2]), su.sgd(loss2, params2[2:], learning_rate=0.1)
    su.load(tmp_path / "two.npz", params2, first2, extra={"second": second2})
    assert int(first2.step.get_value()) == 1 and int(second2.step.get_value()) == 1
    np.testing.assert_array_equal(params2[2].get_value(), params[2].get_value())


def test_a_failing_extra_rolls_back_the_others_and_changes_nothing(tmp_path):
    params, updates, train = build("adam")
    counter, broken = Counter(), Counter()
    counter.count, broken.mode = 3, "max"
    su.save(tmp_path / "c.npz", params, updates, extra={"counter": counter, "broken": broken})
    train(1.0)
    counter.count = 9
    broken.load_state_dict = lambda state: (_ for _ in ()).throw(ValueError("cannot take it"))
    before = [p.get_value() for p in params], updates.state_dict()
    with pytest.raises(ValueError, match=r"extra\['broken'\] could not load its state .* cannot take it"):
        su.load(tmp_path / "c.npz", params, updates, extra={"counter": counter, "broken": broken})
    assert counter.count == 9  # loaded first, then put back
    for p, v in zip(params, before[0], strict=True):
        assert p.get_value().tobytes() == v.tobytes()
    for key, value in updates.state_dict().items():
        assert value.tobytes() == before[1][key].tobytes()


def test_parameters_only(tmp_path):
    params, updates, train = build("adamw")
    train(1.0)
    su.save(tmp_path / "full.npz", params, updates, extra={"counter": Counter()})
    su.save(tmp_path / "weights.npz", params, None)
    with np.load(tmp_path / "weights.npz") as f:
        assert sorted(f.files) == sorted(["symupdates/format", *(f"params/{p.name}" for p in params)])
    for path in ("full.npz", "weights.npz"):  # updates=None takes the weights and ignores the rest
        fresh, _ = pytensor_problem()
        su.load(tmp_path / path, fresh, None)
        for p, q in zip(fresh, params, strict=True):
            assert p.get_value().tobytes() == q.get_value().tobytes()
    fresh, fresh_updates, _ = build("adamw")
    with pytest.raises(ValueError, match=r"missing keys \['adamw/step'"):
        su.load(tmp_path / "weights.npz", fresh, fresh_updates)


def test_unnamed_and_repeated_parameter_names_are_stable(tmp_path):
    def make():
        return [pytensor.shared(np.full(2, float(i)), name=name) for i, name in enumerate([None, "w", "w"])]

    params = make()
    su.save(tmp_path / "p.npz", params, None)
    with np.load(tmp_path / "p.npz") as f:
        assert sorted(f.files) == ["params/param0", "params/w", "params/w_2", "symupdates/format"]
    fresh = [pytensor.shared(np.zeros(2), name=name) for name in [None, "w", "w"]]
    su.load(tmp_path / "p.npz", fresh, None)
    assert [float(p.get_value()[0]) for p in fresh] == [0.0, 1.0, 2.0]


def test_saved_file_respects_the_umask(tmp_path):
    params, _ = pytensor_problem()
    su.save(tmp_path / "p.npz", params, None)
    umask = os.umask(0)
    os.umask(umask)
    assert os.stat(tmp_path / "p.npz").st_mode & 0o777 == 0o666 & ~umask


def test_a_failed_write_leaves_the_old_checkpoint_and_no_temporary_file(tmp_path, monkeypatch):
    params, updates, train = build("sgd")
    path = tmp_path / "ckpt.npz"
    su.save(path, params, updates)
    old = path.read_bytes()
    train(1.0)

    def disk_full(file, *args, **kwargs):
        file.write(b"PK\x03\x04 half an archive")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(np, "savez", disk_full)
    with pytest.raises(OSError, match="No space left"):
        su.save(path, params, updates)
    assert path.read_bytes() == old
    assert sorted(os.listdir(tmp_path)) == ["ckpt.npz"]


KILL_SCRIPT = """
import sys, pathlib, numpy as np, pytensor
import symupdates as su
path = pathlib.Path(sys.argv[1])
w = pytensor.shared(np.zeros(3_000_000), name="w")           # 24 MB
updates = su.momentum((w ** 2).sum(), [w], learning_rate=0.1)  # + a 24 MB buffer
buffer = updates.state["w/momentum/buffer"]
for version in range(1, 1000):
    w.set_value(np.full(3_000_000, float(version)))
    buffer.set_value(np.full(3_000_000, -float(version)))
    updates.step.set_value(np.int64(version))
    su.save(path, [w], updates)
    if version == 1:
        (path.parent / "ready").touch()
"""


def _kill_during_save(folder: Path):
    """Start a process that saves a large checkpoint again and again; SIGKILL it mid-write.

    The kill comes once a temporary file holds at least 1 MB of the new checkpoint.
    """
    process = subprocess.Popen([sys.executable, "-c", KILL_SCRIPT, str(folder / "big.npz")], cwd=ROOT)
    try:
        deadline = time.monotonic() + 300
        while not (folder / "ready").exists():
            assert process.poll() is None, "the saving process died before its first checkpoint"
            assert time.monotonic() < deadline
            time.sleep(0.01)
        while not any(_size(folder / name) >= 2**20 for name in os.listdir(folder) if name.endswith(".tmp")):
            assert process.poll() is None and time.monotonic() < deadline
            time.sleep(0.0002)
        os.kill(process.pid, signal.SIGKILL)
    finally:
        if process.poll() is None:
            process.kill()
        process.wait()


def _size(path):
    try:
        return os.stat(path).st_size
    except FileNotFoundError:  # renamed meanwhile
        return 0


def test_sigkill_during_save_leaves_the_previous_checkpoint(tmp_path):
    for _attempt in range(5):  # retry only if the rename won the race against the kill
        folder = tmp_path / f"attempt{_attempt}"
        folder.mkdir()
        _kill_during_save(folder)
        left = sorted(name for name in os.listdir(folder) if name.endswith(".tmp"))
        if any(_size(folder / name) > 0 for name in left):
            break
    else:
        pytest.fail("the kill never landed in the middle of a save")
    # A partly written temporary file survived the kill: the process died in the middle of a save.
    # The leftovers cannot be mistaken for the checkpoint: hidden, another name, not .npz.
    for name in left:
        assert name.startswith(".big.npz.") and name.endswith(".tmp")
    assert sorted(set(os.listdir(folder)) - set(left)) == ["big.npz", "ready"]
    w = pytensor.shared(np.zeros(3_000_000), name="w")
    updates = su.momentum((w**2).sum(), [w], learning_rate=0.1)
    su.load(folder / "big.npz", [w], updates)
    version = int(updates.step.get_value())
    assert version >= 1  # a complete earlier save, never a torn one
    assert np.all(w.get_value() == float(version))
    assert np.all(updates.state["w/momentum/buffer"].get_value() == -float(version))



def test_save_syncs_the_temporary_file_before_the_rename_and_then_the_folder(tmp_path, monkeypatch):
    """Atomic and durable: write a temporary file beside the target, fsync it, rename it, fsync the folder."""
    if not os.path.isdir("/proc/self/fd"):
        pytest.skip("needs /proc to name the file descriptor being synced")
    params, updates, train = build("adam")
    train(1.0)
    events = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd):
        events.append(("fsync", os.path.basename(os.readlink(f"/proc/self/fd/{fd}"))))
        real_fsync(fd)

    def replace(src, dst):
        events.append(("replace", os.path.basename(src), os.path.dirname(os.fspath(src)), os.path.basename(dst)))
        real_replace(src, dst)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    su.save(tmp_path / "ckpt.npz", params, updates)
    monkeypatch.undo()
    assert [e[0] for e in events] == ["fsync", "replace", "fsync"]
    tmp_name = events[1][1]
    assert tmp_name.startswith(".ckpt.npz.") and tmp_name.endswith(".tmp")
    assert events[0][1] == tmp_name  # the data reached the disk before the rename
    assert events[1][2] == str(tmp_path) and events[1][3] == "ckpt.npz"  # same folder: rename is atomic
    assert events[2][1] == tmp_path.name  # then the folder entry itself
    assert sorted(os.listdir(tmp_path)) == ["ckpt.npz"]


# --- names, stale temporaries, header-first reading, symbolic links -----------------------


@pytest.mark.parametrize(
    "names",
    [["w", "w_2", "w"], ["w", "w", "w_1"], [None, "param0", None, "param2"], ["w"] * 4 + ["w_1", "w_2"]],
    ids=["w,w_2,w", "w,w,w_1", "unnamed-and-param0", "four-w-and-their-suffixes"],
)
def test_every_parameter_gets_its_own_entry_whatever_the_names(tmp_path, names):
    """Generated names never collide with given ones: save writes every parameter, load restores each."""
    def make(offset):
        return [pytensor.shared(np.full(2, float(i) + offset), name=name) for i, name in enumerate(names)]

    params = make(0.0)
    cost = sum((p**2).sum() for p in params)
    updates = su.adam(cost, params, learning_rate=0.1)  # builds: one state entry per parameter
    assert len({k for k in updates.state if k.endswith("/adam/m")}) == len(names)
    su.save(tmp_path / "p.npz", params, updates)
    with np.load(tmp_path / "p.npz") as f:
        assert len([k for k in f.files if k.startswith("params/")]) == len(names)
    fresh = make(100.0)
    fresh_updates = su.adam(sum((p**2).sum() for p in fresh), fresh, learning_rate=0.1)
    su.load(tmp_path / "p.npz", fresh, fresh_updates)
    assert [float(p.get_value()[0]) for p in fresh] == [float(i) for i in range(len(names))]


def _temporaries(folder):
    return sorted(name for name in os.listdir(folder) if name.endswith(".tmp"))


def test_the_next_save_removes_the_temporaries_of_killed_saves(tmp_path):
    for _attempt in range(5):
        folder = tmp_path / f"attempt{_attempt}"
        folder.mkdir()
        _kill_during_save(folder)
        if _temporaries(folder):
            break
    else:
        pytest.fail("no kill left a temporary file")
    other = folder / ".other.npz.0123456789ab.tmp"  # another checkpoint's temporary: not ours to remove
    other.write_bytes(b"x")
    w = pytensor.shared(np.zeros(3_000_000), name="w")
    updates = su.momentum((w**2).sum(), [w], learning_rate=0.1)
    su.load(folder / "big.npz", [w], updates)
    su.save(folder / "big.npz", [w], updates)
    assert _temporaries(folder) == [other.name]


@pytest.mark.skipif(os.name != "posix", reason="needs os.mkfifo")
def test_only_our_own_temporaries_are_ever_removed(tmp_path):
    """Other files that look alike stay, and a FIFO of the same shape neither blocks nor goes."""
    params, _ = pytensor_problem()
    path = tmp_path / "run.npz"
    other = tmp_path / ".run.npz.notmine.tmp"
    other.write_bytes(b"someone else's")
    fifo = tmp_path / ".run.npz.0123456789ab.tmp"
    os.mkfifo(fifo)
    su.save(path, params, None)  # would hang on opening the FIFO for reading without O_NONBLOCK
    assert sorted(os.listdir(tmp_path)) == sorted([".run.npz.0123456789ab.tmp", ".run.npz.notmine.tmp", "run.npz"])


@pytest.mark.skipif(os.name != "posix", reason="stale temporaries are told by flock, POSIX only")
def test_a_live_writers_temporary_file_is_never_removed(tmp_path):
    import fcntl

    params, _ = pytensor_problem()
    path = tmp_path / "ckpt.npz"
    live = tmp_path / ".ckpt.npz.0123456789ab.tmp"
    with open(live, "wb") as f:  # another writer, holding its lock
        f.write(b"PK half written")
        fcntl.flock(f.fileno(), fcntl.LOCK_EX)
        su.save(path, params, None)
        assert live.exists()
        assert su.checkpoint.remove_stale_temporaries(path) == []
    # The writer is gone (its lock with it): the file is stale now.
    su.save(path, params, None)
    assert _temporaries(tmp_path) == []


def _npz_with_header(path, key, header: dict, data: bytes, compress=False):
    """An archive whose entry ``key`` has the given .npy header and data (and a valid format entry)."""
    import io
    import zipfile

    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, header)
    method = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
    with zipfile.ZipFile(path, "w", method) as z:
        fmt = io.BytesIO()
        np.lib.format.write_array(fmt, np.array("symupdates-checkpoint/1"))
        z.writestr("symupdates/format.npy", fmt.getvalue())
        z.writestr(f"{key}.npy", buffer.getvalue() + data)


def _format_entry_only(read_array):
    """``read_array`` that reads only the format entry and fails for any other entry."""

    def guarded(file, *args, **kwargs):
        if not getattr(file, "name", "").startswith("symupdates/format"):
            raise AssertionError(f"the data of {getattr(file, 'name', file)!r} was read before its header was checked")
        return read_array(file, *args, **kwargs)

    return guarded


def test_a_header_claiming_a_huge_array_is_rejected_before_any_allocation(tmp_path):
    w = pytensor.shared(np.zeros(3), name="w")
    path = tmp_path / "huge.npz"
    _npz_with_header(path, "params/w", {"descr": "<f8", "fortran_order": False, "shape": (10**13,)}, bytes(24))
    with pytest.raises(ValueError, match=r"huge.npz.*declares shape \(10000000000000,\)"):
        su.load(path, [w], None)
    assert np.all(w.get_value() == 0.0)


def test_a_compressed_entry_is_rejected_before_it_is_read(tmp_path, monkeypatch):
    """A small compressed file that would expand to a large array: refused from the zip directory alone.

    save() writes uncompressed entries only, so what a load can allocate is bounded by the
    file's real size; this holds for the extra objects' entries too.
    """
    w = pytensor.shared(np.zeros(3), name="w")
    n = 2_000_000  # 16 MB of zeros, about 16 kB compressed
    for key in ("params/w", "extra/guard/consecutive"):
        path = tmp_path / "bomb.npz"
        _npz_with_header(path, key, {"descr": "<f8", "fortran_order": False, "shape": (n,)}, bytes(8 * n), compress=True)
        assert path.stat().st_size < 100_000
        monkeypatch.setattr(np.lib.format, "read_array", _format_entry_only(np.lib.format.read_array))
        with pytest.raises(ValueError, match=r"bomb.npz.*is compressed or encrypted"):
            su.load(path, [w], None)
        monkeypatch.undo()


@pytest.mark.parametrize("shape", [(10**400,), (10**200, 10**200)], ids=["1d", "2d"])
def test_an_absurd_header_shape_is_a_clear_error(tmp_path, shape):
    w = pytensor.shared(np.zeros(3), name="w")
    path = tmp_path / "absurd.npz"
    _npz_with_header(path, "params/w", {"descr": "<f8", "fortran_order": False, "shape": shape}, bytes(24))
    with pytest.raises(ValueError, match="absurd.npz.*declares shape"):
        su.load(path, [w], None)


def test_an_entry_of_the_wrong_shape_is_rejected_from_its_header_without_reading_it(tmp_path, monkeypatch):
    """A stored entry of another shape under an expected name: no data is read."""
    w = pytensor.shared(np.zeros(3), name="w")
    path = tmp_path / "bomb.npz"
    n = 2_000_000
    _npz_with_header(path, "params/w", {"descr": "<f8", "fortran_order": False, "shape": (n,)}, bytes(8 * n))

    monkeypatch.setattr(np.lib.format, "read_array", _format_entry_only(np.lib.format.read_array))
    with pytest.raises(ValueError, match=r"parameter 'w' has shape \(2000000,\), expected \(3,\)"):
        su.load(path, [w], None)


def test_optimizer_state_of_the_wrong_shape_is_rejected_from_its_header(tmp_path, monkeypatch):
    params, updates, _ = build("adam")
    path = tmp_path / "ckpt.npz"
    su.save(path, params, updates)
    other_params = [pytensor.shared(np.zeros((5,) + p.get_value().shape[1:]), name=p.name) for p in params]
    other = su.adam(sum((p**2).sum() for p in other_params), other_params, learning_rate=0.1)
    su.save(tmp_path / "other.npz", params, other)  # the right parameters, state of other shapes
    monkeypatch.setattr(np.lib.format, "read_array", _format_entry_only(np.lib.format.read_array))
    with pytest.raises(ValueError, match=r"optimizer state in the file does not match.*has shape \(5,"):
        su.load(tmp_path / "other.npz", params, updates)


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="needs symbolic links")
def test_saving_through_a_symbolic_link_replaces_its_target_and_keeps_the_link(tmp_path):
    params, updates, train = build("adam")
    (tmp_path / "runs").mkdir()
    target = tmp_path / "runs" / "run-1.npz"
    su.save(target, params, updates)
    link = tmp_path / "latest.npz"
    link.symlink_to(target)
    train(1.0)
    su.save(link, params, updates)
    assert link.is_symlink() and os.path.realpath(link) == str(target)
    fresh, fresh_updates, _ = build("adam")
    su.load(target, fresh, fresh_updates)
    assert int(fresh_updates.step.get_value()) == 1
    assert sorted(os.listdir(tmp_path / "runs")) == ["run-1.npz"]
