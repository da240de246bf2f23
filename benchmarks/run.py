"""Run the performance suite and write its markdown tables.

    python benchmarks/run.py            # full suite (W4, many tensors, takes most of it)
    python benchmarks/run.py --quick    # fewer rounds, sizes and tensor counts

Each workload (W1 train step, W2 update only, W3 compile, W4 many tensors, MEM memory,
SKIP skip_nonfinite) runs in a worker process of its own with the thread count fixed in
its environment (BLAS, OpenMP, XLA, torch), every contender interleaved with the others
in rounds. The tables report min and
median per contender and their ratios to symupdates; claims are made on ratios only.
"""

from __future__ import annotations

import argparse
import datetime
import importlib.metadata
import json
import os
import platform
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
ORDER = ["W1", "W2", "W3", "W4", "MEM", "SKIP", "SEARCH"]
REFERENCE = "symupdates"
#: The W1 group of fit's monitor cadence (benchmarks.workloads fills it).
CADENCE = "adam, monitors every k steps"
LIVE = "hand-written, live hyperparameters"


def thread_env(threads):
    """Environment variables that pin BLAS, OpenMP and XLA to ``threads`` threads."""
    env = {name: str(threads) for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}
    if threads == 1:  # XLA's CPU backend otherwise uses every core
        env["XLA_FLAGS"] = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
    return env


def run_worker(name, quick, threads):
    env = dict(os.environ)
    env.update(thread_env(threads))
    env["PYTHONPATH"] = ROOT + os.pathsep + env.get("PYTHONPATH", "")
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as f:
        out = f.name
    cmd = [sys.executable, os.path.join(HERE, "run.py"), "--worker", name, "--threads", str(threads), "--json", out]
    if quick:
        cmd.append("--quick")
    t0 = time.perf_counter()
    subprocess.run(cmd, env=env, cwd=ROOT, check=True)
    with open(out) as f:
        result = json.load(f)
    os.unlink(out)
    print(f"  {name} done in {time.perf_counter() - t0:.0f} s", file=sys.stderr, flush=True)
    return result


# ---------------------------------------------------------------- environment


def _version(distribution):
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def _cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _memory_gb():
    try:
        with open("/proc/meminfo") as f:
            return round(int(f.readline().split()[1]) / 2**20, 1)
    except (OSError, ValueError, IndexError):
        return None


def _commit():
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT, capture_output=True, text=True)
        return head.stdout.strip() + (" + uncommitted changes" if dirty.stdout.strip() else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def environment(threads, quick):
    versions = {m: _version(m) for m in ("numpy", "pytensor", "numba", "torch", "jax", "optax", "symupdates")}
    return {
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{_cpu_model()}, {os.cpu_count()} cores, {_memory_gb()} GiB RAM, {platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "versions": versions,
        "commit": _commit(),
        "threads": threads,
        "quick": quick,
        "load_before": os.getloadavg(),
    }


# ---------------------------------------------------------------- markdown


def _table(header, rows):
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" if i == 0 else "--:" for i in range(len(header))) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _ms(s):
    return f"{s * 1e3:.3f}"


def _us(s):
    return f"{s * 1e6:.0f} µs" if s < 1e-3 else f"{s * 1e3:.2f} ms"


def _order(rows):
    """symupdates first, then the hand-written graph, then the others by min time."""
    def key(item):
        name, row = item
        return (name != REFERENCE, not name.startswith("hand"), name.startswith("roofline"), row["min"])

    return sorted(rows.items(), key=key)


def _verdict(ok):
    return "**met**" if ok else "**not met**"


def _paired(row, inverse=False):
    """A row's paired ratio to symupdates as "median [low, high]"; ``inverse`` gives symupdates / it."""
    p = row.get("paired")
    if p is None:
        return "-"
    ratio, low, high = (1 / p["ratio"], 1 / p["high"], 1 / p["low"]) if inverse else (p["ratio"], p["low"], p["high"])
    return f"{ratio:.3f} [{low:.3f}, {high:.3f}]"


def _paired_high(row, inverse=False):
    """The upper end of the 95% interval of the paired ratio (or of its inverse)."""
    p = row["paired"]
    return 1 / p["low"] if inverse else p["high"]


def markdown_w1(r):
    out = ["### W1: training step", "",
           "MLP 784-256-256-10 (ReLU, softmax cross-entropy), batch 128, float32, global-norm "
           "clipping at 5.0; one call = forward, backward, clipping and the update. Times per "
           f"call over {r['rounds']} interleaved rounds of {r['block']} calls per contender.", ""]
    adam = r["groups"]["adam"]
    rows = [[name, _ms(x["min"]), _ms(x["median"]), f"{x['min_ratio']:.3f}", f"{x['median_ratio']:.3f}", _paired(x),
             f"{adam['loss_rel_diff'][name]:.0e}"] for name, x in _order(adam["rows"])]
    out += ["Adam, every contender (the paired ratio is taken round by round, median and bootstrap 95% interval):", "",
            _table(["contender", "min (ms)", "median (ms)", "min / symupdates", "median / symupdates",
                    "paired / symupdates [95% CI]", "loss vs symupdates (3 steps)"], rows), ""]
    rows = []
    for rule, g in r["groups"].items():
        if rule in ("adam", CADENCE):
            continue
        agree = g.get("loss_rel_diff", {})
        for name, x in _order(g["rows"]):
            rows.append([rule, name, _ms(x["min"]), _ms(x["median"]), f"{x['min_ratio']:.3f}", f"{x['median_ratio']:.3f}",
                         _paired(x), f"{agree[name]:.0e}" if name in agree else "—"])
    out += ["Other rules, symupdates against the same update written by hand:", "",
            _table(["rule", "contender", "min (ms)", "median (ms)", "min / symupdates", "median / symupdates",
                    "paired / symupdates [95% CI]", "loss vs symupdates (3 steps)"], rows), ""]
    hand = adam["rows"]["hand-written PyTensor"]
    by_min = min(adam["rows"], key=lambda n: adam["rows"][n]["min"])
    by_med = min(adam["rows"], key=lambda n: adam["rows"][n]["median"])
    live = adam["rows"].get(LIVE)
    out += [f"- symupdates / hand-written, paired: {_paired(hand, inverse=True)}; target ≤ 1.02 (the interval's upper "
            f"end): {_verdict(_paired_high(hand, inverse=True) <= 1.02)}."
            + (f" Against the hand-written graph with the same live hyperparameters: {_paired(live, inverse=True)}." if live else ""),
            f"- Fastest contender by min: {by_min}; by median: {by_med}; target: symupdates fastest "
            f"{_verdict(by_min == REFERENCE)} (by min)."]
    monitored = r["groups"].get("adam, monitored")
    if monitored:
        for name, x in _order(monitored["rows"]):
            if name != REFERENCE:
                out.append(f"- {name} / symupdates, paired: {_paired(x)}; target ≤ 1.05 (the interval's upper end): "
                           f"{_verdict(_paired_high(x) <= 1.05)}.")
    cadence = r["groups"].get(CADENCE)
    if cadence:
        out += ["", f"`fit`'s monitor cadence (`monitor_every`): the update ratio on the host every k-th step "
                f"(`symupdates.monitor.Snapshot`) or in the compiled step at every step, against fit's step without it. "
                f"A round of {cadence['block']} calls per contender is cut into runs of k = {cadence['every']} "
                f"consecutive calls, each holding one monitored step; a round's time is the median of the runs' "
                f"summed times (training time, robust to an interrupted run), and the ratio is paired by round:", ""]
        rows = [[name, _ms(x["per_step"]), _paired(x)] for name, x in _order(cadence["rows"])]
        out += [_table(["contender", "time per step (ms)", "paired / symupdates [95% CI]"], rows), ""]
        for name, x in _order(cadence["rows"]):
            if "host" in name:
                out.append(f"- {name}: a snapshot and its comparison take {_ms(x['watch_seconds'])} ms (median), "
                           f"{100 * x['watch_share']:.2f}% of the training time at one in {cadence['every']} steps "
                           f"(paired ratio of whole runs: {_paired(x)}); target ≤ 2%: {_verdict(x['watch_share'] <= 0.02)}.")
    out.append("")
    return "\n".join(out)


def markdown_w2(r):
    sizes = [str(n) for n in r["sizes"]]
    by = r["by_size"]
    names = [name for name, _ in _order(by[sizes[-1]]["rows"])]
    head = ["contender"] + [f"N = {int(n):.0e}" for n in sizes]
    def cell(n, name, fmt):
        row = by[n]["rows"].get(name)
        return fmt(row) if row else "-"

    gb = [[name] + [cell(n, name, lambda r: f"{r['gbps_min']:.1f} ({r['gbps_median']:.1f})") for n in sizes] for name in names]
    ratio = [[name] + [cell(n, name, lambda r: f"{r['min_ratio']:.2f} ({r['median_ratio']:.2f})") for n in sizes]
             for name in names if not name.startswith("roofline")]
    paired = [[name] + [cell(n, name, _paired) for n in sizes] for name in names if not name.startswith("roofline")]
    calls = [[name] + [cell(n, name, lambda r: _us(r["min"])) for n in sizes] for name in names]
    out = ["### W2: Adam update only", "",
           "N float32 parameters in 4 equal tensors, gradients already in memory, no clipping. "
           "Effective bandwidth counts 28 bytes per parameter per step (read p, g, m, v; write p, m, v). "
           "The roofline rows are a Numba loop with the same in-place traffic and no arithmetic, "
           "on 1 and 2 threads. GB/s from the min time (median in parentheses):", "",
           _table(head, gb), "", "Time per call relative to symupdates, min (median):", "",
           _table(head, ratio), "", "Paired ratio to symupdates, median [bootstrap 95% interval] of the per-round ratios:", "",
           _table(head, paired), "", "Min time per call:", "", _table(head, calls), ""]
    big, small = by[sizes[-1]]["rows"], by[sizes[0]]["rows"]
    su = big[REFERENCE]
    roof2 = big["roofline, 2 threads"]["gbps_min"]
    roof1 = big["roofline, 1 thread"]["gbps_min"]
    frac1 = su["gbps_min"] / roof1
    fused_ok = all(by[n]["rows"]["torch fused"]["paired"]["low"] >= 1.0 for n in sizes)
    out += [f"- N = {int(sizes[-1]):.0e}: symupdates {su['gbps_min']:.1f} GB/s = {frac1:.0%} of the 1-thread in-place "
            f"roofline ({roof1:.1f} GB/s); target ≥ 95%: {_verdict(frac1 >= 0.95)}. The 2-thread roofline loop reached "
            f"{roof2:.1f} GB/s ({roof2 / roof1:.2f}× one thread; symupdates is at {su['gbps_min'] / roof2:.0%} of it). "
            "PyTensor's Numba loops run on one thread: going past the 1-thread roofline would need PyTensor to "
            "emit parallel loops (Numba's `prange`) for large elementwise updates, and a second core that is "
            "free; on this shared machine the 2-thread loop " + ("gained little." if roof2 <= 1.1 * roof1 else "did gain."),
            "- torch fused / symupdates, paired, at every size: "
            + ", ".join(f"{by[n]['rows']['torch fused']['paired']['ratio']:.2f} [{by[n]['rows']['torch fused']['paired']['low']:.2f}, "
                        f"{by[n]['rows']['torch fused']['paired']['high']:.2f}] at {int(n):.0e}" for n in sizes)
            + f"; target: at least as fast as torch fused at every size (each interval at or above 1): {_verdict(fused_ok)}.",
            f"- N = {int(sizes[0]):.0e} (call overhead): symupdates / hand-written, paired = "
            f"{_paired(small['hand-written PyTensor'], inverse=True)}; target ≤ 1: "
            f"{_verdict(_paired_high(small['hand-written PyTensor'], inverse=True) <= 1.0)}"
            + (f"; against the hand-written graph with live hyperparameters: {_paired(small[LIVE], inverse=True)}." if LIVE in small else "."),
            ""]
    return "\n".join(out)


_GRAPHS = {"step": "W1 step", "update": "W1 update alone", "model": "forward + gradients, no update"}
_WHO = {"su": REFERENCE, "hand": "hand-written PyTensor", "hand_live": "hand-written, live hyperparameters",
        "-": "(model only)", "optax": "optax (jax.jit)"}


def markdown_w3(r):
    rows = []
    for c in r["cases"]:
        cold, warm = c["cold"]["total"], c["warm"]["total"]
        rows.append([_GRAPHS[c["graph"]], _WHO[c["which"]], c["mode"], f"{cold['wall']:.1f}", f"{cold['cpu']:.1f}",
                     f"{warm['wall']:.2f}", f"{warm['cpu']:.2f}", c["cold"]["nodes"] or "-"])
    out = ["### W3: compile time", "",
           "Building the graph, `pytensor.function` and the first call (which compiles under Numba), "
           "in a subprocess with fresh PyTensor `base_compiledir` and Numba cache (cold), then in a "
           "second subprocess sharing those caches (warm). Library imports are done before the clock "
           "starts. Seconds of wall-clock and of CPU time, the C compiler's included (CPU time is less "
           "affected by other load):", "",
           _table(["graph", "contender", "mode", "cold wall", "cold CPU", "warm wall", "warm CPU", "nodes"], rows), ""]
    find = {(c["graph"], c["which"], c["mode"]): c for c in r["cases"]}
    step = find.get(("step", "su", "NUMBA"))
    if step:
        model = find.get(("model", "-", "NUMBA"))
        cold, warm = step["cold"]["total"]["wall"], step["warm"]["total"]["wall"]
        out.append(f"- symupdates W1 step, Numba: cold {cold:.1f} s (target ≤ 5 s: {_verdict(cold <= 5)}), "
                   f"warm {warm:.2f} s (target ≤ 0.5 s: {_verdict(warm <= 0.5)}).")
        jax_step = find.get(("step", "su", "JAX"))
        if jax_step:
            cold, warm = jax_step["cold"]["total"]["wall"], jax_step["warm"]["total"]["wall"]
            out.append(f"- The same symupdates W1 step under PyTensor's JAX backend (`mode=\"JAX\"`): cold {cold:.1f} s "
                       f"(≤ 5 s: {_verdict(cold <= 5)}), warm {warm:.2f} s (≤ 0.5 s: {_verdict(warm <= 0.5)}); "
                       "JAX keeps no compiled code between processes unless its persistent compilation cache is turned on, so warm is a second cold compile.")
        if model:
            out.append(f"- The model alone (forward + gradients, no update) takes {model['cold']['total']['wall']:.1f} s cold "
                       f"and {model['warm']['total']['wall']:.2f} s warm: the floor for any optimizer.")
    su_u, hand_u = find.get(("update", "su", "NUMBA")), find.get(("update", "hand", "NUMBA"))
    if su_u and hand_u:
        ratio = su_u["cold"]["total"]["cpu"] / hand_u["cold"]["total"]["cpu"]
        out.append(f"- The update alone, cold CPU time symupdates / hand-written: {ratio:.2f}.")
    out.append("")
    return "\n".join(out)


def markdown_mem(r):
    rows = []
    names = {"su": REFERENCE, "hand": "hand-written PyTensor", "optax": "optax (jax.jit)", "numpy": "NumPy"}
    for name, x in r["steps"].items():
        n = x["n"]
        expected = 16 * n  # parameters, gradients, m and v in float32
        held, peak = x["before_steps"] - x["baseline"], x["peak"] - x["baseline"]
        rows.append([names.get(name, name), f"{expected / 1e6:.0f}", f"{held / 1e6:.0f}", f"{peak / 1e6:.0f}",
                     f"{peak / expected:.2f}", f"{(x['peak'] - x['before_steps']) / 1e6:.0f}"])
    out = ["### Memory", "",
           "Adam on 1e7 float32 parameters (4 tensors), each contender in its own process. The baseline "
           "is the process after running the same step on 64 parameters (imports, JIT compilers, compiled "
           "code); then parameters and gradients are made, the step is built and run once, the "
           "kernel's peak-RSS mark is reset and 3 more steps run. MB (10^6 bytes):", "",
           _table(["contender", "params + grads + m + v", "held before the steps", "peak during the steps",
                   "peak / (params + grads + m + v)", "peak − held (temporaries)"], rows), ""]
    b = r["buffers"]
    rows = [[rule, x["documented"], f"{x['state_variables']:g}", f"{x['resident']:.2f}"] for rule, x in b["rules"].items()]
    ok = all(abs(x["resident"] - x["documented"]) < 0.1 and x["state_variables"] == x["documented"] for x in b["rules"].values())
    out += [f"Parameter-sized state of every symupdates rule, {b['n']:.0e} parameters: resident memory "
            "gained by building the updates, in units of the parameters' size:", "",
            _table(["rule", "documented buffers", "state variables", "measured (× parameter size)"], rows), "",
            f"- Every rule allocates exactly its documented number of buffers: {_verdict(ok)}.", ""]
    return "\n".join(out)


def markdown_skip(r):
    head = ["N", "clipping", "step without (median)", "with / without: paired median [95% CI]", "min / min",
            "floor: (without + one read of the gradients) / without", "temporaries without / with (MB)", "target ≤ 1.05"]
    rows = []
    for n in r["sizes"]:
        for clip, x in r["by_size"][str(n)].items():
            p = x["paired"]
            t = x["temporaries"]
            f = x.get("floor")
            floor = f"{f['ratio']:.3f} [{f['low']:.3f}, {f['high']:.3f}]" if f else "— (the norm reads them)"
            rows.append([f"{n:.0e}", clip, _us(x["off_median"]), f"{p['ratio']:.3f} [{p['low']:.3f}, {p['high']:.3f}]",
                         f"{x['min_ratio']:.3f}", floor, f"{t['off'] / 1e6:.0f} / {t['on'] / 1e6:.0f}",
                         _verdict(p["high"] <= 1.05)])
    return "\n".join([
        "### skip_nonfinite: the cost of all-or-nothing", "",
        "Adam's update alone on N float32 parameters in 4 tensors (gradients in memory), with "
        "`skip_nonfinite=True` against the same step without it, each compiled with PyTensor's default "
        "mode. The two are interleaved in rounds; the ratio is taken per round and the median and its "
        "bootstrap 95% interval are reported (a target is met when the interval's upper end is under it). "
        "Temporaries: the peak resident memory of 3 calls above what the process held before them. "
        "Without clipping two more contenders run in the same rounds: one plain read of every gradient "
        "(a `sum` of each) and an empty compiled call. A check that must see every gradient before the "
        "update writes anything costs at least that read, so `(without + read − empty call) / without` "
        "is the floor for such a check.", "",
        _table(head, rows), ""])


def slope(points):
    """The least-squares slope of log(time) against log(count): 1 grows as the count, 2 as its square."""
    import math

    xs = [math.log(n) for n, t in points]
    ys = [math.log(t) for n, t in points]
    if len(xs) < 2:
        return None
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sum((x - mx) ** 2 for x in xs)


def _w4_names(r):
    """W4's contender names by ``(builder, mode)`` (the worker sends them)."""
    return {tuple(key.split("|")): name for key, name in r["names"].items()}


def _w4_series(r):
    """``{panel: {contender: [(count, seconds), ...]}}`` of W4: build, cold compile, warm
    compile and step (median), each point measured in this run."""
    W4_NAMES = _w4_names(r)
    build_names = {"su": REFERENCE, "hand": "hand-written PyTensor", "hand_packed": W4_NAMES[("hand_packed", "NUMBA")]}
    out = {"build": {build_names[w]: sorted((int(n), t) for n, t in by.items()) for w, by in r["build"].items()},
           "cold": {}, "warm": {}, "step": {}}
    for c in r["compiles"]:
        if "cold" in c:
            name = W4_NAMES[(c["which"], c["mode"])]
            out["cold"].setdefault(name, []).append((c["n"], c["cold"]["total"]["wall"]))
            out["warm"].setdefault(name, []).append((c["n"], c["warm"]["total"]["wall"]))
    for n, x in r["steps"].items():
        for name, row in x["rows"].items():
            out["step"].setdefault(name, []).append((int(n), row["median"]))
    return out


_W4_PANELS = {"build": "building the updates", "cold": "cold compile (first call)", "warm": "warm compile",
              "step": "one step (median)"}


def plot_w4(r, path):
    """Time against the tensor count, log-log, one panel per measurement; written to ``path``."""
    import matplotlib
    import matplotlib.ticker

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    series = _w4_series(r)
    names = sorted({name for panel in series.values() for name in panel})
    colors = dict(zip(names, plt.get_cmap("tab20").colors, strict=False))
    fig, axes = plt.subplots(1, 4, figsize=(16, 4.6), constrained_layout=True)
    for ax, (panel, title) in zip(axes, _W4_PANELS.items(), strict=True):
        for name, points in sorted(series[panel].items()):
            points = sorted(points)
            ax.plot([n for n, _ in points], [t for _, t in points], "o-", color=colors[name], label=name,
                    lw=2.2 if name == REFERENCE else 1.3)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ticks = sorted({n for points in series[panel].values() for n, _ in points})
        ax.set_xticks(ticks, [str(n) for n in ticks])
        ax.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())
        ax.set_xlabel("tensors (1e6 parameters in all)")
        ax.set_ylabel("seconds")
        ax.set_title(title)
        ax.grid(True, which="both", alpha=0.3)
    handles = {h.get_label(): h for ax in axes for h in ax.get_lines()}
    fig.legend(handles.values(), handles.keys(), loc="outside lower center", ncol=4, frameon=False)
    fig.suptitle("W4: Adam with global-norm clipping, the same 1e6 parameters in more and more tensors")
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _secs(t):
    return f"{t:.3g}"


def markdown_w4(r, figure=None):
    W4_NAMES = _w4_names(r)
    counts = [str(n) for n in r["counts"]]
    series = _w4_series(r)
    out = ["### W4: many tensors", "",
           f"Adam with global-norm clipping at 5.0 on {r['total']:.0e} float32 parameters split into "
           f"{', '.join(counts)} tensors of equal length, the gradients in memory: how building the "
           "updates, compiling them and one step grow with the number of tensors. Compiles run in a "
           "subprocess with fresh caches (cold), then again with the same caches (warm); PyTensor's "
           f"Numba backend is measured up to {r['numba_max']} tensors (its cold compile grows faster than the "
           "count), "
           + (f"its C backend up to {r['cvm_max']} and " if r.get("cvm_max") else "its C backend only in the full run, ")
           + "its JAX backend at every count. A cold compile over "
           f"{r['budget']} s is stopped and shown as `> {r['budget']}`. The slope is the least-squares "
           "slope of log time against log count over the counts measured: 1 means time grows as the "
           "count, 0 that it does not grow.", ""]
    if figure:
        out += [f"![W4: time against the number of tensors, log-log]({figure})", ""]
    builds = r["build"]
    all_counts = sorted({int(n) for by in builds.values() for n in by})
    names = {"su": REFERENCE, "hand": "hand-written PyTensor", "hand_packed": W4_NAMES.get(("hand_packed", "NUMBA"), "-")}
    rows = []
    for which, by in builds.items():
        s_ = slope(sorted((int(n), t) for n, t in by.items()))
        rows.append([names[which]] + [_secs(by[str(n)]) if str(n) in by else "-" for n in all_counts]
                    + [f"{s_:.2f}" if s_ is not None else "-"])
    out += ["Building the updates (seconds, the least of 3 tries for symupdates and up to 100 tensors, 1 try beyond; no compiling):", "",
            _table(["contender"] + [f"{n} tensors" for n in all_counts] + ["slope"], rows), ""]
    by_case = {}
    for c in r["compiles"]:
        by_case.setdefault((c["which"], c["mode"]), {})[str(c["n"])] = c
    rows = []
    for key, by in by_case.items():
        def cell(n, by=by):
            c = by.get(n)
            if c is None:
                return "-"
            if "over" in c:
                return f"> {c['over']}"
            return f"{_secs(c['cold']['total']['wall'])} / {_secs(c['warm']['total']['wall'])}"

        name = W4_NAMES[key]
        s_cold = slope(sorted(series["cold"].get(name, [])))
        rows.append([name, key[1]] + [cell(n) for n in counts] + [f"{s_cold:.2f}" if s_cold is not None else "-"])
    out += ["Compiling (seconds of wall-clock, cold / warm: building, `pytensor.function` or `jax.jit`, and the first call):", "",
            _table(["contender", "mode"] + [f"{n} tensors" for n in counts] + ["slope (cold)"], rows), ""]
    def keys_in_order(field):
        """The keys of ``field`` over every count's step results, in first-seen order."""
        return list(dict.fromkeys(k for n in counts for k in r["steps"][n][field]))

    def per_count(field, key, fmt):
        return [fmt(r["steps"][n][field][key]) if key in r["steps"][n][field] else "-" for n in counts]

    rows = []
    for name in keys_in_order("rows"):
        s_ = slope(sorted(series["step"].get(name, [])))
        agree = max(r["steps"][n]["agree"].get(name, 0.0) for n in counts)
        rows.append([name, *per_count("rows", name, lambda row: f"{_us(row['min'])} ({_us(row['median'])})"),
                     f"{s_:.2f}" if s_ is not None else "-", f"{agree:.0e}"])
    out += ["One step, min (median) per call, every contender interleaved in rounds:", "",
            _table(["contender"] + [f"{n} tensors" for n in counts] + ["slope (median)", "max rel. difference to symupdates after 3 steps"], rows), ""]
    rows = [[k, *per_count("pairs", k, lambda p: f"{p['ratio']:.3f} [{p['low']:.3f}, {p['high']:.3f}]")]
            for k in keys_in_order("pairs")]
    out += ["Paired ratios of the step, median [bootstrap 95% interval] of the per-round ratios:", "",
            _table(["ratio"] + [f"{n} tensors" for n in counts], rows), ""]
    # targets
    su_build = builds["su"].get("1000")
    out.append(f"- Building the updates for 1,000 tensors: {_secs(su_build)} s (hand-written: "
               f"{_secs(builds['hand']['1000'])} s); target ≤ 2 s: {_verdict(su_build <= 2)}.")
    for mode, against in (("NUMBA", "hand"), ("NUMBA", "hand_live"), ("JAX", "hand"), ("CVM", "hand")):
        ours, hand = by_case.get(("su", mode), {}), by_case.get((against, mode), {})
        ratios = [(n, ours[n]["cold"]["total"]["wall"] / hand[n]["cold"]["total"]["wall"])
                  for n in counts if n in ours and n in hand and "cold" in ours[n] and "cold" in hand[n]]
        if ratios:
            worst = max(x for _, x in ratios)
            label = {"NUMBA": "Numba", "JAX": "PyTensor's JAX backend", "CVM": "the C backend (CVM)"}[mode]
            other = "hand-written, live hyperparameters" if against == "hand_live" else "hand-written"
            out.append(f"- Cold compile under {label}, symupdates / {other}: "
                       + ", ".join(f"{x:.2f} at {n}" for n, x in ratios)
                       + f" (one cold compile each, no interval); target ≤ 1.1 at every count: {_verdict(worst <= 1.1)}.")
    for a, b, target in ((REFERENCE, "hand-written PyTensor", 1.05),
                         (REFERENCE, W4_NAMES.get(("hand_live", "NUMBA"), "-"), 1.05),
                         (W4_NAMES.get(("su", "CVM"), "-"), W4_NAMES.get(("hand", "CVM"), "-"), 1.05),
                         (W4_NAMES.get(("su", "JAX"), "-"), W4_NAMES.get(("hand", "JAX"), "-"), 1.05)):
        key = f"{a} / {b}"
        ps = [(n, r["steps"][n]["pairs"][key]) for n in counts if key in r["steps"][n]["pairs"]]
        if ps:
            ok = all(p["high"] <= target for _, p in ps)
            out.append(f"- Step, {key}: " + ", ".join(f"{p['ratio']:.3f} (≤ {p['high']:.3f}) at {n}" for n, p in ps)
                       + f"; target ≤ {target} at every count (upper end): {_verdict(ok)}.")
    for who in (REFERENCE, W4_NAMES.get(("su", "CVM"), "-"), W4_NAMES.get(("su", "JAX"), "-")):
        key = f"{who} / torch foreach"
        ps = [(n, r["steps"][n]["pairs"][key]) for n in counts if key in r["steps"][n]["pairs"]]
        if ps:
            ok = all(p["high"] < 1 for _, p in ps)
            out.append(f"- Step, {who} ahead of torch foreach: " + ", ".join(f"{p['ratio']:.3f} (≤ {p['high']:.3f}) at {n}" for n, p in ps)
                       + f"; target: the interval's upper end below 1 at every count measured: {_verdict(ok)}.")
    out.append("")
    return "\n".join(out)


def markdown_search(r):
    runs = r["runs"]
    st = r["storage"]
    rows = [[str(w), f"{runs[str(w)]['seconds']:.1f}", f"{runs[str(w)]['trials_per_minute']:.1f}"] for w in (1, 2)]
    return "\n".join([
        "### SEARCH: hyperparameter search throughput", "",
        f"`symupdates search` on the bundled digits, MLP 64-64-64-10, one epoch per trial, "
        f"{r['trials_per_rule']} trials for each of {', '.join(r['rules'])}, SQLite storage, default compile mode; "
        "the worker processes are started with `symupdates search worker` and timed from start to end "
        "(imports included), after a first search has warmed the compile caches.", "",
        _table(["workers", "wall time (s)", "trials per minute"], rows), "",
        f"- 2 workers / 1 worker: {r['speedup']:.2f}×; target ≥ 1.7× on 2 cores: {_verdict(r['speedup'] >= 1.7)}."
        + (f" Trials failed for a late heartbeat and run again: {runs['1'].get('late', 0)} with 1 worker, "
           f"{runs['2'].get('late', 0)} with 2." if runs['1'].get('late') or runs['2'].get('late') else ""),
        f"- The storage's share of a worker's time (one worker in this process, the default median pruner; every call "
        f"of Optuna's RDBStorage and of its in-process cache timed, private methods and heartbeats included; "
        f"{st['trials']} trials, {st['calls']} calls, {st['storage_seconds']:.2f} s of {st['seconds']:.1f} s): "
        f"{100 * st['share']:.2f}%; target < 2%: {_verdict(st['share'] < 0.02)}.",
    ] + ([
        f"- The compile share of a trial (the same trials: building and compiling the training step from the warm "
        f"caches, as every trial does, against the trial's time): {100 * r['compile']['share']:.0f}% "
        f"({r['compile']['compile_seconds']:.1f} s of {r['compile']['trial_seconds']:.1f} s over "
        f"{r['compile']['trials']} trials)."] if "compile" in r else []) + [""])


RENDER = {"W1": markdown_w1, "W2": markdown_w2, "W3": markdown_w3, "W4": markdown_w4, "MEM": markdown_mem, "SKIP": markdown_skip,
          "SEARCH": markdown_search}


def markdown(env, results, figures=None):
    figures = figures or {}
    v = env["versions"]
    out = [f"## Performance (measured {env['date']})", "",
           f"Machine: {env['machine']}. Python {env['python']}, NumPy {v['numpy']}, PyTensor {v['pytensor']} "
           f"(default mode: Numba {v['numba']}), torch {v['torch']}, JAX {v['jax']}, optax {v['optax']}; "
           f"symupdates {v['symupdates']} at {env['commit']}. Every contender runs on {env['threads']} "
           f"thread(s) unless a row says otherwise. Load average before the run: "
           f"{', '.join(f'{x:.1f}' for x in env['load_before'])}; after: "
           f"{', '.join(f'{x:.1f}' for x in env['load_after'])}. "
           f"`{env.get('command', 'python benchmarks/run.py' + (' --quick' if env['quick'] else ''))}` took {env['seconds']:.0f} s.", ""]
    for name in ORDER:
        if name in results:
            out.append(RENDER[name](results[name], **figures.get(name, {})))
    return "\n".join(out)


def _write_json(path, data):
    """Write ``data`` to ``path`` atomically (a reader never sees half a file)."""
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "w") as f:
        json.dump(data, f, indent=1)
    os.replace(tmp, path)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer rounds, sizes and tensor counts")
    parser.add_argument("--threads", type=int, default=1, help="threads for every library (default 1)")
    parser.add_argument("--only", default=",".join(ORDER), help="comma-separated workloads (default: all)")
    parser.add_argument("--out", help="markdown output (default benchmarks/latest[-quick].md)")
    parser.add_argument("--json", help="the raw results (default: beside the markdown, as .json; a worker writes only this)")
    parser.add_argument("--render", metavar="JSON", help="write the markdown (and figure) of a run's saved raw results; run nothing")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        sys.path.insert(0, ROOT)
        from benchmarks.workloads import main as worker_main

        worker_main(args.worker, args.quick, args.threads, args.json)
        return
    if args.render:
        with open(args.render) as f:
            saved = json.load(f)
        env, results = saved["environment"], saved["results"]
        out = args.out or os.path.splitext(args.render)[0] + ".md"
    else:
        out = args.out or os.path.join(HERE, "latest-quick.md" if args.quick else "latest.md")
        t0 = time.perf_counter()
        env = environment(args.threads, args.quick)
        env["command"] = " ".join(["python benchmarks/run.py", *(sys.argv[1:] if argv is None else argv)])
        results = {}
        raw = args.json or os.path.splitext(out)[0] + ".json"
        for name in [n.strip().upper() for n in args.only.split(",")]:
            print(f"{name} ...", file=sys.stderr, flush=True)
            results[name] = run_worker(name, args.quick, args.threads)
            env["seconds"] = time.perf_counter() - t0
            env["load_after"] = os.getloadavg()
            _write_json(raw, {"environment": env, "results": results})  # kept as each workload ends
        print(f"raw results in {raw} (`python benchmarks/run.py --render {os.path.relpath(raw)}` redraws them)", file=sys.stderr)
    figures = {}
    if "W4" in results:  # the figure sits beside the markdown that shows it
        figure = os.path.splitext(os.path.basename(out))[0] + "-w4.png"
        plot_w4(results["W4"], os.path.join(os.path.dirname(os.path.abspath(out)), figure))
        figures["W4"] = {"figure": figure}
    text = markdown(env, results, figures)
    with open(out, "w") as f:
        f.write(text + "\n")
    print(text)
    print(f"\nwritten to {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
