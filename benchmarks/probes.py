"""Measurements that need a process of their own: ``python -m benchmarks.probes KIND ...``.

``compile GRAPH WHICH MODE``  time building, compiling and first calling one graph (W3)
``w4 WHICH MODE N``           the same for Adam with clipping on N tensors (W4)
``memory CONTENDER N``        resident memory around Adam steps on N float32 parameters
``buffers N``                 resident memory each symupdates rule's state takes
``storage TRIALS PRUNER``     every storage call of one in-process search worker, by method

Each prints one JSON line. Caches are whatever the environment points at: ``run.py``
gives the cold runs fresh ``base_compiledir`` and ``NUMBA_CACHE_DIR`` directories.
"""

from __future__ import annotations

import gc
import json
import resource
import sys
import time

import numpy as np


def _cpu():
    """CPU seconds of this process and of its finished children (the C compiler)."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


def _import_for(mode):
    """Import the libraries ``mode`` compiles with; returns the wall and CPU seconds it took."""
    w0, c0 = time.perf_counter(), _cpu()
    if mode == "JAX-jit":
        import jax  # noqa: F401
        import optax  # noqa: F401
    else:
        import pytensor  # noqa: F401

        import symupdates  # noqa: F401

        if mode == "NUMBA":
            import numba  # noqa: F401

            import pytensor.link.numba.dispatch  # noqa: F401
        elif mode == "JAX":
            import jax  # noqa: F401

            import pytensor.link.jax.dispatch  # noqa: F401
    return {"wall": time.perf_counter() - w0, "cpu": _cpu() - c0}


def compile_probe(graph, which, mode):
    """Build, compile and call once; imports of the libraries are done (and timed) first."""
    imports = _import_for(mode)
    import pytensor

    from benchmarks import contenders, graphs

    X, y = graphs.batch()
    w0, c0 = time.perf_counter(), _cpu()
    if mode == "JAX-jit":
        step = contenders.optax_w1(X, y)
        built = {"wall": time.perf_counter() - w0, "cpu": _cpu() - c0}
        step()
        nodes = None
    else:
        if graph == "step":
            f, _ = graphs.train_step(which, "adam", mode=mode)
            call = lambda: f(X, y)  # noqa: E731
        elif graph == "update":
            f, params = graphs.update_step(which, "adam", mode=mode)
            grads = graphs.initial_values(seed=1)
            call = lambda: f(*grads)  # noqa: E731
        elif graph == "model":
            params, Xv, yv, cost = graphs.mlp_cost()
            f = pytensor.function([Xv, yv], [cost, *pytensor.grad(cost, params)], mode=mode)
            call = lambda: f(X, y)  # noqa: E731
        else:
            raise ValueError(graph)
        built = {"wall": time.perf_counter() - w0, "cpu": _cpu() - c0}
        call()
        nodes = len(f.maker.fgraph.apply_nodes)
    total = {"wall": time.perf_counter() - w0, "cpu": _cpu() - c0}
    return {"imports": imports, "build_and_function": built, "total": total, "nodes": nodes}


def w4_probe(which, mode, n):
    """W4: build, compile and call once Adam with clipping on 1e6 parameters in ``n``
    tensors; ``which`` is a key of ``graphs.BUILDERS`` or ``optax`` (mode ``JAX-jit``)."""
    imports = _import_for(mode)
    from benchmarks import contenders, graphs

    values, grads = graphs.many_tensors(int(n))
    w0, c0 = time.perf_counter(), _cpu()
    if mode == "JAX-jit":
        step, _ = contenders.optax_w4(values, grads)
        build, nodes = None, None
    else:
        step, build, _ = graphs.w4_step(which, values, grads, mode=None if mode == "NUMBA" else mode)
        nodes = len(step.maker.fgraph.apply_nodes)
    function = {"wall": time.perf_counter() - w0, "cpu": _cpu() - c0}
    step()
    total = {"wall": time.perf_counter() - w0, "cpu": _cpu() - c0}
    return {"imports": imports, "build": build, "function": function, "total": total, "nodes": nodes}


def _adam_step(name, values, grads):
    """One Adam update (no clipping) on ``values`` for contender ``name``; returns ``step``."""
    from benchmarks import contenders, graphs

    if name in ("su", "hand"):
        f, _ = graphs.w2_step(name, values, grads)
        return f
    if name.startswith("torch"):
        return contenders.torch_w2(name, values, grads)
    if name == "optax":
        return contenders.optax_w2(values, grads)
    if name == "numpy":
        return contenders.numpy_w2(values, grads)
    raise ValueError(name)


def memory_probe(name, n):
    """Resident memory of Adam steps on ``n`` parameters in 4 tensors.

    The same step is first built and run on 4 x 16 parameters, so the libraries'
    own memory (imports, JIT compilers, compiled code) is in the ``baseline``; then the
    real gradients and parameters are made, the step built and run once, the kernel's
    high-water mark reset, and 3 more steps run. ``peak - baseline`` is what the
    parameters, gradients, optimizer state and any temporaries of a step occupy.
    """
    if name.startswith("torch"):
        import torch

        torch.set_num_threads(1)
    from benchmarks.timing import peak_rss_bytes, reset_peak_rss, rss_bytes

    rng = np.random.default_rng(0)
    small = [rng.standard_normal(16).astype("float32") for _ in range(4)]
    warm = _adam_step(name, small, [v.copy() for v in small])
    for _ in range(2):
        warm()
    del warm
    gc.collect()
    baseline = rss_bytes()
    values = [rng.standard_normal(n // 4).astype("float32") for _ in range(4)]
    grads = [rng.standard_normal(n // 4).astype("float32") for _ in range(4)]
    step = _adam_step(name, values, grads)
    del values, grads  # each contender keeps its own parameters and one reference to (or copy of) the gradients
    gc.collect()
    step()
    gc.collect()
    before = rss_bytes()
    reset_peak_rss()
    for _ in range(3):
        step()
    peak = peak_rss_bytes()
    return {"n": n, "baseline": baseline, "before_steps": before, "peak": peak, "after": rss_bytes()}


def buffers_probe(n):
    """For every symupdates rule: the resident memory its state takes, in parameter sizes.

    The parameters (4 tensors, ``n`` float32 in all) and gradients exist first; the
    resident memory is read before and after building the updates (no compilation),
    and after dropping them again.
    """
    import pytensor

    import symupdates as su
    from benchmarks.timing import rss_bytes
    from benchmarks.workloads import DOCUMENTED_BUFFERS

    rng = np.random.default_rng(0)
    params = [pytensor.shared(rng.standard_normal(n // 4).astype("float32"), name=f"p{i}") for i in range(4)]
    grads = [pytensor.shared(rng.standard_normal(n // 4).astype("float32"), name=f"g{i}") for i in range(4)]
    param_bytes = sum(p.get_value(borrow=True).nbytes for p in params)
    shapes = {p.get_value(borrow=True).shape for p in params}
    rows = {}
    for label, (kwargs, documented) in DOCUMENTED_BUFFERS.items():
        rule = getattr(su, label.split()[0])
        gc.collect()
        before = rss_bytes()
        updates = rule(grads, params, **kwargs)
        gc.collect()
        grown = rss_bytes() - before
        state = [v for v in updates.state.values() if v.get_value(borrow=True).shape in shapes]
        rows[label] = {
            "documented": documented,
            "state_variables": len(state) / len(params),
            "resident": grown / param_bytes,
        }
        del updates, state
    return {"n": n, "param_bytes": param_bytes, "rules": rows}


def storage_probe(trials, pruner):
    """One search worker in this process (digits, sgd and adam, ``trials`` one-epoch trials
    each, the ``median`` or ``none`` pruner), after a first search warmed the compile caches:
    its time, and every storage call (SEARCH's timer) by method."""
    import os
    import tempfile

    from benchmarks.workloads import _StorageClock
    from symupdates.lab import search

    with tempfile.TemporaryDirectory(prefix="symupdates-storage-probe-") as tmp:
        url = f"sqlite:///{os.path.join(tmp, 'probe.db')}"
        search.create("warm", url, ["sgd", "adam"], trials=1, out_dir=tmp)
        search.work("warm", url)
        search.create("timed", url, ["sgd", "adam"], trials=trials, out_dir=tmp, pruner=pruner)
        with _StorageClock() as clock:
            t0 = time.perf_counter()
            done = search.work("timed", url)
            seconds = time.perf_counter() - t0
    methods = {name: {"calls": c, "seconds": t} for name, (c, t) in sorted(clock.methods.items(), key=lambda kv: -kv[1][1])}
    return {"trials": done, "seconds": seconds, "storage_seconds": clock.seconds, "share": clock.seconds / seconds,
            "calls": clock.calls, "calls_per_trial": clock.calls / done, "methods": methods}  # fmt: skip


def main(argv):
    kind, *args = argv
    if kind == "compile":
        result = compile_probe(*args)
    elif kind == "w4":
        result = w4_probe(*args)
    elif kind == "memory":
        result = memory_probe(args[0], int(args[1]))
    elif kind == "buffers":
        result = buffers_probe(int(args[0]))
    elif kind == "storage":
        result = storage_probe(int(args[0]), args[1])
    else:
        raise SystemExit(f"unknown probe {kind!r}")
    print(json.dumps(result))


if __name__ == "__main__":
    main(sys.argv[1:])
