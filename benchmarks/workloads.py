"""The four workloads. Each function runs in its own worker process (``run.py`` starts it
with the thread settings in the environment) and returns a JSON-able dict of results.

W1  train step of the MLP, every contender interleaved in rounds
W2  Adam's update alone on N float32 parameters in 4 tensors, against a measured roofline
W3  cold and warm compile of the W1 step, each in a fresh subprocess
MEM peak resident memory of a 1e7-parameter Adam step; state buffers of every rule
SKIP the cost of skip_nonfinite on Adam's update, 1e4 to 1e8 parameters, paired ratios
W4  1e6 parameters in 10 to 300 tensors: building, compiling and stepping Adam with clipping
"""

from __future__ import annotations

import gc
import itertools
import json
import os
import subprocess
import sys
import tempfile
import threading
import statistics
import time

import numpy as np

import symupdates as su
from benchmarks import contenders as other
from benchmarks.graphs import batch, fit_train_step, many_tensors, monitored_train_step, read_gradients, skip_step, train_step, w2_step, w4_step, w4_updates
from benchmarks.run import CADENCE
from benchmarks.timing import interleaved, paired_ratio, per_cadence, peak_rss_bytes, reset_peak_rss, rss_bytes, summary

REFERENCE = "symupdates"
HAND = "hand-written PyTensor"
#: The symupdates step with ``symupdates.monitor.standard`` outputs.
MONITORED = "symupdates + standard monitors"
#: The PyTensor contenders (keys of ``benchmarks.graphs.BUILDERS``) and their names.
PYTENSOR = (("su", REFERENCE), ("hand", HAND), ("hand_live", "hand-written, live hyperparameters"))
HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

#: Bytes Adam moves per float32 parameter per step: reads p, g, m, v and writes p, m, v.
ADAM_BYTES = 28


def _set_torch_threads(threads):
    import torch

    torch.set_num_threads(threads)


# ---------------------------------------------------------------- W1


def _every_kth_watched(f, params, X, y, every):
    """``f(X, y)``, with every ``every``-th call between a :class:`~symupdates.monitor.Snapshot`
    and its comparison, as :func:`symupdates.lab.fit` does for ``monitor_every``. The
    seconds each snapshot and comparison took are appended to ``step.watch_seconds``."""
    calls = itertools.count(1)
    clock = time.perf_counter

    def step():
        if next(calls) % every:
            return f(X, y)
        t0 = clock()
        watch = su.monitor.Snapshot(params)
        t1 = clock()
        out = f(X, y)
        t2 = clock()
        watch.compare()
        step.watch_seconds.append((t1 - t0) + (clock() - t2))
        return out

    step.watch_seconds = []
    return step


def monitor_cadence(X, y, rounds, every=None):
    """fit's ``monitor_every``: the update ratio every ``every``-th step on the host against
    every step in the graph, and neither. One call in ``every`` does more work, so a
    round's time is the median over its runs of ``every`` calls of their summed time (the
    training time, robust to interruptions), and each round holds 5 such runs. The host's
    share is also taken directly: the median time of a snapshot and its comparison over
    ``every`` times the reference's median step (``watch_share``). ``every`` defaults to
    fit's ``monitor_every``."""
    if every is None:  # the lab is imported here only: the core suite imports this module without it
        from symupdates.lab.training import MONITOR_EVERY

        every = MONITOR_EVERY
    f, params = fit_train_step()
    steps = {REFERENCE: (lambda f=f: f(X, y))}
    host = f"update ratio every {every} steps (host)"
    steps[host] = watched = _every_kth_watched(f, params, X, y, every)
    f1, _ = fit_train_step(update_ratio=True)
    steps["update ratio every step (in the graph)"] = lambda f=f1: f(X, y)
    block = 5 * every
    times = interleaved(steps, rounds, block)
    rows = summary(times, REFERENCE, block, statistic=per_cadence(every))
    for name, row in rows.items():  # the time of one step, on average over a run of `every` steps
        row["per_step"] = per_cadence(every)(times[name]) / every
    # The host's work, timed by itself: robust to the drift that widens the paired interval.
    watch = statistics.median(watched.watch_seconds)
    rows[host]["watch_seconds"] = watch
    rows[host]["watch_share"] = watch / (every * statistics.median(times[REFERENCE]))
    return {"rows": rows, "block": block, "every": every}


def w1(quick, threads):
    """W1: one full training step per call; Adam + clipping for all contenders, then
    SGD, momentum and RMSProp for symupdates against the hand-written graph."""
    _set_torch_threads(threads)
    X, y = batch()
    rounds, block = (8, 10) if quick else (30, 20)
    groups = {}

    steps = {}
    for which, name in PYTENSOR:
        f, _ = train_step(which, "adam")
        steps[name] = (lambda f=f: f(X, y))
    for variant in other.TORCH_VARIANTS:
        steps[variant] = other.torch_w1(variant, X, y)
    steps["optax (jax.jit)"] = other.optax_w1(X, y)
    steps["NumPy"] = other.numpy_w1(X, y)
    # Same start, same data: every contender must follow the same loss trajectory.
    losses = {name: [float(step()) for _ in range(3)] for name, step in steps.items()}
    ref = np.array(losses[REFERENCE])
    agree = {name: float(np.max(np.abs(np.array(ls) - ref) / np.abs(ref))) for name, ls in losses.items()}
    groups["adam"] = {"rows": summary(interleaved(steps, rounds, block), REFERENCE, block), "loss_rel_diff": agree}
    del steps
    gc.collect()

    # The standard monitors (symupdates.monitor) as extra outputs of the same step.
    f, _ = train_step("su", "adam")
    steps = {REFERENCE: (lambda f=f: f(X, y))}
    for per_param, name in ((False, MONITORED), (True, MONITORED + ", per tensor")):
        f, _ = monitored_train_step("adam", per_param=per_param)
        steps[name] = (lambda f=f: f(X, y)[0])
    groups["adam, monitored"] = {"rows": summary(interleaved(steps, rounds, block), REFERENCE, block)}
    del steps
    gc.collect()

    groups[CADENCE] = monitor_cadence(X, y, rounds)
    gc.collect()

    rules = ("sgd", "momentum", "rmsprop", "nadam", "radam", "lion")
    modes = [("NUMBA", rules)]
    if not quick:
        modes += [("CVM", ("adam",)), ("JAX", ("adam",))]
    backend = {"CVM": "C backend (CVM)", "JAX": "PyTensor's JAX backend"}
    for mode, rs in modes:
        for rule in rs:
            steps = {}
            for which, name in PYTENSOR[:2]:
                f, _ = train_step(which, rule, mode=None if mode == "NUMBA" else mode)
                # np.asarray waits for the result: under JAX a call returns before the step has run
                steps[name] = (lambda f=f: np.asarray(f(X, y)))
            label = rule if mode == "NUMBA" else f"{rule}, {backend[mode]}"
            # the hand-written update is the same rule: the same losses from the same start
            losses = {name: [float(step()) for _ in range(3)] for name, step in steps.items()}
            ref = np.array(losses[REFERENCE])
            agree = {name: float(np.max(np.abs(np.array(ls) - ref) / np.abs(ref))) for name, ls in losses.items()}
            groups[label] = {"rows": summary(interleaved(steps, rounds, block), REFERENCE, block), "loss_rel_diff": agree}
    return {"groups": groups, "rounds": rounds, "block": block}


# ---------------------------------------------------------------- W2


def _roofline():
    """Numba loops with Adam's memory traffic (4 arrays read, 3 written in place) and
    almost no arithmetic: the in-place memory bandwidth this machine reaches on 1 thread
    (a plain loop) and on 2 threads (``prange``).

    The 2-thread loop runs on Numba's own thread pool ("workqueue"): its OpenMP layer
    would change torch's OpenMP thread count, and OpenMP threads spin when another
    process holds a core.
    """
    import numba

    numba.config.THREADING_LAYER = "workqueue"

    @numba.njit(fastmath=True, cache=True)
    def serial(p, g, m, v):
        for i in range(p.shape[0]):
            gi = g[i]
            p[i] += gi
            m[i] += gi
            v[i] += gi

    @numba.njit(parallel=True, fastmath=True, cache=True)
    def parallel(p, g, m, v):
        for i in numba.prange(p.shape[0]):
            gi = g[i]
            p[i] += gi
            m[i] += gi
            v[i] += gi

    def runner(threads, arrays):
        def run_serial():
            for p, g, m, v in arrays:
                serial(p, g, m, v)

        def run_parallel():
            numba.set_num_threads(threads)
            for p, g, m, v in arrays:
                parallel(p, g, m, v)

        return run_serial if threads == 1 else run_parallel

    return runner


def w2(quick, threads):
    """W2: Adam's update alone, N float32 parameters in 4 equal tensors, gradients in memory."""
    _set_torch_threads(threads)
    sizes = [10**4, 10**6, 10**7] if quick else [10**4, 10**5, 10**6, 10**7]
    roofline = _roofline()
    rng = np.random.default_rng(0)
    results = {}
    for n in sizes:
        values = [rng.standard_normal(n // 4).astype("float32") for _ in range(4)]
        grads = [rng.standard_normal(n // 4).astype("float32") for _ in range(4)]
        steps = {}
        for which, name in PYTENSOR:
            f, _ = w2_step(which, values, grads)
            steps[name] = f
        for variant in other.TORCH_VARIANTS:
            steps[variant] = other.torch_w2(variant, values, grads)
        steps["optax (jax.jit)"] = other.optax_w2(values, grads)
        steps["NumPy"] = other.numpy_w2(values, grads)
        scratch = [[np.zeros(n // 4, "float32") for _ in range(4)] for _ in range(4)]
        for p, g, m, v in scratch:
            g += 1e-30
        if n >= 10**6:  # a bandwidth bound only means something out of the caches
            steps["roofline, 1 thread"] = roofline(1, scratch)
            steps["roofline, 2 threads"] = roofline(2, scratch)
        budget = 0.4 if quick else 3.0  # seconds of timed calls per contender
        block = max(1, int(2e5 / n * 10))
        per_call = 28 * n / 5e9  # a guess at 5 GB/s, to size the rounds
        rounds = int(min(30, max(5, budget / (block * max(per_call, 1e-5)))))
        times = interleaved(steps, rounds, block, warmup=2)
        rows = summary(times, REFERENCE, block)
        for row in rows.values():
            row["gbps_min"] = ADAM_BYTES * n / row["min"] / 1e9
            row["gbps_median"] = ADAM_BYTES * n / row["median"] / 1e9
        results[str(n)] = {"rows": rows, "rounds": rounds, "block": block}
        del steps, scratch, values, grads
        gc.collect()
    return {"sizes": sizes, "by_size": results}


# ---------------------------------------------------------------- W3


def _probe(args, env, timeout=900):
    out = subprocess.run(
        [sys.executable, "-m", "benchmarks.probes", *args], env=env, cwd=ROOT, capture_output=True, text=True, timeout=timeout
    )
    lines = [line for line in out.stdout.splitlines() if line.startswith("{")]
    if out.returncode != 0 or not lines:
        raise RuntimeError(f"probe {args} failed:\n{out.stdout[-2000:]}\n{out.stderr[-4000:]}")
    return json.loads(lines[-1])


def _child_env(extra=None):
    env = dict(os.environ)
    env["PYTHONPATH"] = ROOT + os.pathsep + env.get("PYTHONPATH", "")
    env.update(extra or {})
    return env


def w3(quick, threads):
    """W3: compile each graph with fresh PyTensor and Numba caches in one subprocess (cold),
    then again in a second subprocess sharing those caches (warm).

    ``model`` is the forward pass and gradients alone (no update): the floor any optimizer
    starts from. ``update`` graphs are the W1 parameter update alone, gradients as inputs.
    """
    cases = [("update", "su", "NUMBA"), ("update", "hand", "NUMBA")]
    if not quick:
        cases.append(("update", "hand_live", "NUMBA"))
        cases = [
            ("step", "su", "NUMBA"),
            ("step", "hand", "NUMBA"),
            ("model", "-", "NUMBA"),
            *cases,
            ("step", "su", "CVM"),
            ("step", "hand", "CVM"),
            ("step", "su", "JAX"),
            ("step", "optax", "JAX-jit"),
        ]
    results = []
    for graph, which, mode in cases:
        with tempfile.TemporaryDirectory(prefix="symupdates-bench-") as tmp:
            env = _child_env({"PYTENSOR_FLAGS": f"base_compiledir={tmp}", "NUMBA_CACHE_DIR": os.path.join(tmp, "numba")})
            cold = _probe(["compile", graph, which, mode], env)
            warm = _probe(["compile", graph, which, mode], env)
        results.append({"graph": graph, "which": which, "mode": mode, "cold": cold, "warm": warm})
    return {"cases": results}


# ---------------------------------------------------------------- memory

#: Parameter-sized state buffers each rule documents (its docstring's "State" entries).
DOCUMENTED_BUFFERS = {
    "sgd": ({}, 0),
    "momentum": ({}, 1),
    "nesterov_momentum": ({}, 1),
    "adagrad": ({}, 1),
    "adadelta": ({}, 2),
    "rmsprop": ({}, 1),
    "rmsprop centered": ({"centered": True}, 2),
    "rmsprop momentum": ({"momentum": 0.9}, 2),
    "adam": ({}, 2),
    "adam amsgrad": ({"amsgrad": True}, 3),
    "adamw": ({}, 2),
    "adamax": ({}, 2),
}


def memory(quick, threads):
    """Peak resident memory of Adam steps on 1e7 parameters, each contender in its own
    subprocess, and the state buffers every symupdates rule allocates."""
    env = _child_env()
    names = ["su", "hand", "torch default", "torch foreach", "torch fused", "optax", "numpy"]
    if quick:
        names = ["su", "hand", "torch fused", "optax"]
    steps = {name: _probe(["memory", name, str(10**7)], env) for name in names}
    buffers = _probe(["buffers", str(10**7)], env)
    return {"steps": steps, "buffers": buffers}


# ---------------------------------------------------------------- SKIP


def skip(quick, threads):
    """The cost of ``skip_nonfinite`` on Adam's update alone (4 float32 tensors, gradients in
    memory), without and with global-norm clipping: paired per-round ratios, and the memory
    a call allocates beyond what the step holds (temporaries)."""
    sizes = [10**4, 10**6] if quick else [10**4, 10**6, 10**7, 10**8]
    rng = np.random.default_rng(0)
    results = {}
    for n in sizes:
        values = [rng.standard_normal(n // 4).astype("float32") for _ in range(4)]
        grads = [rng.standard_normal(n // 4).astype("float32") for _ in range(4)]
        by_clip = {}
        for clip in (None, 1.0):
            steps = {"off": skip_step(values, grads, False, clip), "on": skip_step(values, grads, True, clip)}
            if clip is None:  # what any check that decides before writing must add: one read of the gradients
                steps["read"] = read_gradients(grads)
                steps["call"] = read_gradients([])  # a compiled call that does nothing: its overhead
            temporaries = {}
            for name, f in steps.items():
                f()
                held = rss_bytes()
                reset_peak_rss()
                for _ in range(3):
                    f()
                temporaries[name] = max(0, peak_rss_bytes() - held)
            block = max(1, int(2e6 / n))
            per_call = 28 * n / 5e9
            budget = 0.5 if quick else 4.0
            rounds = int(min(40, max(8, budget / (2 * block * max(per_call, 1e-5)))))
            times = interleaved(steps, rounds, block, warmup=2)
            floor = None
            if "read" in times:
                times["floor"] = [
                    off + read - call for off, read, call in zip(times["off"], times["read"], times["call"], strict=True)
                ]
                floor = paired_ratio(times, "floor", "off", block)
            by_clip["clip" if clip else "no clip"] = {
                "paired": paired_ratio(times, "on", "off", block),
                "floor": floor,
                "min_ratio": min(times["on"]) / min(times["off"]),
                "off_median": float(np.median(times["off"])),
                "temporaries": temporaries,
                "rounds": rounds,
                "block": block,
            }
            del steps
            gc.collect()
        results[str(n)] = by_clip
        del values, grads
        gc.collect()
    return {"sizes": sizes, "by_size": results}


# ---------------------------------------------------------------- W4

#: W4's tensor counts (the same 1e6 float32 parameters split into this many tensors).
W4_COUNTS = (10, 30, 100, 300)
W4_COUNTS_QUICK = (10, 30)
#: Counts at which W4 also times building the updates alone (building is cheap; 1,000
#: tensors is the target's count).
W4_BUILD_EXTRA = (1000,)
#: PyTensor's Numba backend compiles a graph of n tensors in a time that grows faster
#: than n (the whole graph is one Numba function whose every node is compiled again:
#: Adam with clipping on 100 tensors took 541 s cold, 469 s written by hand), so Numba's
#: compile and step are measured up to this count; the C backend's and PyTensor's JAX
#: backend's at every count.
W4_NUMBA_MAX = 30
W4_CVM_MAX = 300
#: Seconds a cold compile may take before W4 gives up on it and reports it as longer.
W4_COMPILE_BUDGET = 300
#: W4's contender names, by (builder, PyTensor mode).
W4_NAMES = {
    ("su", "NUMBA"): REFERENCE,
    ("hand", "NUMBA"): HAND,
    ("hand_live", "NUMBA"): "hand-written, live hyperparameters",
    ("hand_packed", "NUMBA"): "hand-written, packed into one buffer",
    ("su", "JAX"): "symupdates, JAX backend",
    ("hand", "JAX"): "hand-written, JAX backend",
    ("su", "CVM"): "symupdates, C backend",
    ("hand", "CVM"): "hand-written, C backend",
    ("optax", "JAX-jit"): "optax (jax.jit)",
}


def _numba_max(quick):
    """The largest count Numba compiles in W4 (``--quick``: the smallest count only)."""
    return W4_COUNTS_QUICK[0] if quick else W4_NUMBA_MAX


def _w4_compile_cases(counts, quick):
    cases = []
    for n in counts:
        modes = [("su", "JAX"), ("hand", "JAX"), ("optax", "JAX-jit")]
        if n <= _numba_max(quick):
            modes += [("su", "NUMBA"), ("hand", "NUMBA")]
            if not quick:
                modes += [("hand_live", "NUMBA"), ("hand_packed", "NUMBA")]
        if n <= W4_CVM_MAX and not quick:
            modes += [("su", "CVM"), ("hand", "CVM")]
        cases += [(which, mode, n) for which, mode in modes]
    return cases


def _w4_compile(which, mode, n):
    """Cold (fresh caches) then warm (the same caches) compile of one W4 case, each in a
    subprocess; a cold compile over budget is reported as ``{"over": budget}``."""
    with tempfile.TemporaryDirectory(prefix="symupdates-bench-") as tmp:
        env = _child_env({"PYTENSOR_FLAGS": f"base_compiledir={tmp}", "NUMBA_CACHE_DIR": os.path.join(tmp, "numba")})
        try:
            cold = _probe(["w4", which, mode, str(n)], env, timeout=W4_COMPILE_BUDGET)
            warm = _probe(["w4", which, mode, str(n)], env, timeout=W4_COMPILE_BUDGET)
        except subprocess.TimeoutExpired:
            return {"which": which, "mode": mode, "n": n, "over": W4_COMPILE_BUDGET}
    return {"which": which, "mode": mode, "n": n, "cold": cold, "warm": warm}


def _w4_build_times(counts, repeats):
    """Seconds to build the updates (no compiling), the least of ``repeats`` tries."""
    out = {}
    for n in counts:
        values, grads = many_tensors(n)
        for which in ("su", "hand", "hand_packed"):
            best = float("inf")
            for _ in range(repeats if which == "su" or n <= 100 else 1):  # the 1,000-tensor target is ours
                gc.collect()
                updates, built, _ = w4_updates(which, values, grads)
                best = min(best, built)
                del updates  # freed outside the timed build
            out.setdefault(which, {})[str(n)] = best
    return out


def _waiting(f, params):
    """A call of ``f`` under PyTensor's JAX backend that returns when the update is done:
    JAX dispatches asynchronously, so it waits for the new parameters."""
    import jax

    def step():
        f()
        jax.block_until_ready([p.get_value(borrow=True) for p in params])

    return step


def _w4_steps(n, quick, threads):
    """Every contender's Adam-with-clipping step on ``n`` tensors, interleaved, with the
    paired ratios the targets are judged on and each contender's agreement with symupdates
    after 3 steps from the same start."""
    values, grads = many_tensors(n)
    steps, getters = {}, {}
    modes = ["JAX"] + (["CVM"] if n <= W4_CVM_MAX and not quick else []) + (["NUMBA"] if n <= _numba_max(quick) else [])
    for mode in modes:
        for which in ("su", "hand") + (("hand_live", "hand_packed") if mode == "NUMBA" and not quick else ()):
            f, _, params = w4_step(which, values, grads, mode=None if mode == "NUMBA" else mode)
            name = W4_NAMES[(which, mode)]
            steps[name] = f if mode == "NUMBA" else _waiting(f, params)
            getters[name] = lambda params=params: [p.get_value() for p in params]
    for variant in other.TORCH_VARIANTS:
        steps[variant], getters[variant] = other.torch_w4(variant, values, grads)
    steps["optax (jax.jit)"], getters["optax (jax.jit)"] = other.optax_w4(values, grads)
    for step in steps.values():  # the same 3 steps from the same start
        for _ in range(3):
            step()
    reference = next(name for name in (REFERENCE, W4_NAMES[("su", "CVM")], W4_NAMES[("su", "JAX")]) if name in steps)
    ref = getters[reference]()
    agree = {}
    for name, get in getters.items():
        diff = max(float(np.max(np.abs(a - b))) for a, b in zip(get(), ref, strict=True))
        agree[name] = diff / max(float(np.max(np.abs(b))) for b in ref)
    rounds, block = (8, 5) if quick else (20, 10)
    times = interleaved(steps, rounds, block, warmup=2)
    pairs = {}
    names = W4_NAMES  # short, for the list below
    for a, b in ((REFERENCE, HAND), (REFERENCE, names[("hand_live", "NUMBA")]), (names[("su", "CVM")], names[("hand", "CVM")]),
                 (names[("su", "JAX")], names[("hand", "JAX")]), (REFERENCE, names[("hand_packed", "NUMBA")]),
                 (REFERENCE, "torch foreach"), (names[("su", "CVM")], "torch foreach"), (names[("su", "JAX")], "torch foreach")):
        if a in times and b in times:
            pairs[f"{a} / {b}"] = paired_ratio(times, a, b, block)
    return {"rows": summary(times, reference, block), "reference": reference, "pairs": pairs, "agree": agree,
            "rounds": rounds, "block": block}


def w4(quick, threads):
    """W4: Adam with global-norm clipping on 1e6 float32 parameters split into 10 to 300
    tensors: building the updates, cold and warm compiling, and the step."""
    _set_torch_threads(threads)
    counts = W4_COUNTS_QUICK if quick else W4_COUNTS
    build = _w4_build_times(counts + W4_BUILD_EXTRA, 1 if quick else 3)
    compiles = [_w4_compile(*case) for case in _w4_compile_cases(counts, quick)]
    steps = {}
    for n in counts:
        steps[str(n)] = _w4_steps(n, quick, threads)
        gc.collect()
    return {"counts": list(counts), "build": build, "compiles": compiles, "steps": steps, "total": 10**6,
            "numba_max": _numba_max(quick), "cvm_max": 0 if quick else W4_CVM_MAX, "budget": W4_COMPILE_BUDGET,
            "names": {f"{which}|{mode}": name for (which, mode), name in W4_NAMES.items()}}


# ---------------------------------------------------------------- SEARCH


class _StorageClock:
    """Time every call of the storage in this process: every method (private ones too) of
    Optuna's ``RDBStorage`` and of ``_CachedStorage``, the in-process cache through which
    an Optuna study calls it. Only the outermost call of each thread is timed, so a method
    calling another (the cache calling the database, one method another) counts once.

    (Timing only ``RDBStorage``'s public methods misses what the cache reads and writes
    through its private ones: the whole-study reads and the trial parameters.)
    """

    def __init__(self):
        from optuna.storages import RDBStorage
        from optuna.storages._cached_storage import _CachedStorage

        self.classes, self.seconds, self.calls = (RDBStorage, _CachedStorage), 0.0, 0
        self.methods = {}  # "Class.method": [calls, seconds] of the outermost calls
        self.saved = []
        self.local = threading.local()

    def __enter__(self):
        for cls in self.classes:
            for name, member in list(vars(cls).items()):
                if callable(member) and not name.startswith("__") and not isinstance(member, (staticmethod, classmethod)):
                    self.saved.append((cls, name, member))
                    setattr(cls, name, self._timed(member, f"{cls.__name__}.{name}"))
        return self

    def _timed(self, original, name):
        clock = self

        def timed(*args, **kwargs):
            if getattr(clock.local, "depth", 0):
                return original(*args, **kwargs)
            clock.local.depth = 1
            t0 = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                seconds = time.perf_counter() - t0
                clock.seconds += seconds
                clock.calls += 1
                tally = clock.methods.setdefault(name, [0, 0.0])
                tally[0] += 1
                tally[1] += seconds
                clock.local.depth = 0

        return timed

    def __exit__(self, *exc):
        for cls, name, original in self.saved:
            setattr(cls, name, original)


def _search_workers(url, name, count, cwd):
    """Run ``count`` ``symupdates search worker`` processes to the end, in the environment
    ``symupdates search run --workers count`` gives them; return the wall seconds and how
    many trials were failed under a worker for a late heartbeat."""
    from symupdates.lab.search import worker_env

    command = [sys.executable, "-m", "symupdates", "search", "worker", name, "--storage", url]
    env = worker_env(count, _child_env())
    t0 = time.perf_counter()
    procs = [subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(count)]  # fmt: skip
    logs = []
    for p in procs:
        out, err = p.communicate(timeout=3600)
        if p.returncode != 0:
            raise RuntimeError(f"a search worker failed:\n{out[-2000:]}\n{err[-3000:]}")
        logs.append(out)
    seconds = time.perf_counter() - t0
    # a late heartbeat costs a trial run twice: count them, so the throughput is read with them
    late = sum(line.count("was failed by another worker") for line in logs)
    return seconds, late


def search_throughput(quick, threads):
    """SEARCH: trials per minute of ``symupdates search`` on the digits MLP with 1 and 2 local
    worker processes (SQLite storage, one epoch per trial, default compile mode; no pruning,
    so every trial is one epoch), and the storage's share of a trial's time, from an
    in-process worker with the default pruner whose storage is timed.

    A first search of the same model warms the compile caches, so every measured trial
    costs what a trial costs in a long search: loading the compiled step, one epoch, the
    validations and the storage's reads and writes.
    """
    from symupdates.lab import search

    rules = ["sgd", "adam"]
    trials = 4 if quick else 20
    out = {"rules": rules, "trials_per_rule": trials, "epochs": 1}
    with tempfile.TemporaryDirectory(prefix="symupdates-search-bench-") as tmp:
        url = f"sqlite:///{os.path.join(tmp, 'bench.db')}"
        folder = os.path.join(tmp, "trials")
        search.create("warm", url, rules, trials=1, out_dir=folder)
        _search_workers(url, "warm", 1, tmp)  # compiles each rule's step once: the caches are warm
        runs = {}
        for workers in (1, 2):
            name = f"w{workers}"
            search.create(name, url, rules, trials=trials, out_dir=folder, pruner="none")
            seconds, late = _search_workers(url, name, workers, tmp)
            runs[workers] = {"seconds": seconds, "trials_per_minute": 60 * len(rules) * trials / seconds, "late": late}
        out["runs"] = runs
        out["speedup"] = runs[2]["trials_per_minute"] / runs[1]["trials_per_minute"]
        # the storage's share: one worker in this process, its storage timed, with the default
        # (median) pruner, whose reads of the study count too
        search.create("timed", url, rules, trials=trials, out_dir=folder)
        with _StorageClock() as clock:
            t0 = time.perf_counter()
            done = search.work("timed", url)
            total = time.perf_counter() - t0
        out["storage"] = {"trials": done, "seconds": total, "storage_seconds": clock.seconds, "calls": clock.calls,
                          "share": clock.seconds / total}  # fmt: skip
        out["compile"] = _compile_share(url, "timed", rules)
    return out


def _compile_share(url, name, rules):
    """The compile share of the search's trials: each trial's seconds in ``lab.fit`` before
    its first step (building the graphs and compiling them, from the warm caches: its
    history's ``compile_seconds``) against the trial's whole time (its result's ``seconds``)."""
    import optuna

    compiling = whole = 0.0
    count = 0
    for rule in rules:
        for t in optuna.load_study(study_name=f"{name}/{rule}", storage=url).get_trials(deepcopy=False):
            result = t.user_attrs.get("result", {})
            history = os.path.join(result.get("folder", ""), "history.json")
            if "seconds" in result and os.path.exists(history):
                with open(history) as f:
                    compiling += json.load(f)["meta"]["compile_seconds"]
                whole += result["seconds"]
                count += 1
    return {"trials": count, "compile_seconds": compiling, "trial_seconds": whole, "share": compiling / whole}


WORKLOADS = {"W1": w1, "W2": w2, "W3": w3, "MEM": memory, "SKIP": skip, "W4": w4, "SEARCH": search_throughput}


def main(name, quick, threads, out):
    t0 = time.perf_counter()
    result = WORKLOADS[name](quick, threads)
    result["seconds"] = time.perf_counter() - t0
    with open(out, "w") as f:
        json.dump(result, f)
