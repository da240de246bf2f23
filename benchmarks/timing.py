"""Interleaved timing, statistics and resident-memory probes shared by the workloads."""

from __future__ import annotations

import ctypes
import gc
import random
import statistics
import time


def interleaved(contenders, rounds, block, warmup=3):
    """Time every contender in ``rounds`` rounds, each running ``block`` timed calls.

    The contenders take turns inside each round (the order rotates from round to round),
    so a slow spell of a shared machine hits all of them alike. Every call is timed on
    its own; each callable must return only when its work is done (JAX results are
    blocked on by the callable itself).

    Returns ``{name: [seconds per call, ...]}``.
    """
    names = list(contenders)
    for name in names:
        for _ in range(warmup):
            contenders[name]()
    times = {name: [] for name in names}
    clock = time.perf_counter
    for r in range(rounds):
        k = r % len(names)
        for name in names[k:] + names[:k]:
            fn, out = contenders[name], times[name]
            for _ in range(block):
                t0 = clock()
                fn()
                out.append(clock() - t0)
    return times


def summary(times, reference, block=None, statistic=statistics.median):
    """Min, median and their ratios to ``reference`` for each contender, in seconds.

    With ``block`` (the calls per contender per round of :func:`interleaved`), each row
    also holds ``"paired"``: the :func:`paired_ratio` of the contender to ``reference``,
    the ratio the claims are made on, with ``statistic`` taken over each round's calls.
    """
    ref_min = min(times[reference])
    ref_med = statistics.median(times[reference])
    rows = {}
    for name, ts in times.items():
        lo, med = min(ts), statistics.median(ts)
        rows[name] = {"min": lo, "median": med, "mean": statistics.fmean(ts), "min_ratio": lo / ref_min,
                      "median_ratio": med / ref_med, "calls": len(ts)}
        if block is not None:
            rows[name]["paired"] = paired_ratio(times, name, reference, block, statistic=statistic)
    return rows


def per_cadence(k):
    """A round statistic for a cost paid once every ``k`` calls: the median, over the
    round's runs of ``k`` consecutive calls, of their summed time.

    Each run of ``k`` calls holds exactly one costly call, so the sum is the time of ``k``
    training steps as a loop pays it; the median over runs drops a run the machine
    interrupted, as the median of single calls does (and a plain mean does not).
    """

    def statistic(times):
        return statistics.median(sum(times[i : i + k]) for i in range(0, len(times) - k + 1, k))

    return statistic


def paired_ratio(times, name, reference, block, resamples=2000, seed=0, statistic=statistics.median):
    """The ratio ``name / reference`` taken round by round, with a bootstrap 95% interval.

    ``times`` comes from :func:`interleaved`: each contender ran ``block`` calls per
    round, in turn with the others, so the two medians of one round saw the same state
    of the machine. Their ratio per round cancels most of a shared machine's drift; the
    result is the median of those ratios and the 2.5 and 97.5 percentiles of the median
    over ``resamples`` bootstrap resamples of the rounds.

    ``statistic`` summarises a round's calls: the median by default (robust to a call
    the machine interrupted); :func:`per_cadence` when one call in ``k`` does more work
    on purpose and the total time is what counts (then ``block`` must be a multiple of
    ``k``).

    Returns ``{"ratio": median, "low": ..., "high": ..., "rounds": n}``.
    """
    a, b = times[name], times[reference]
    rounds = min(len(a), len(b)) // block
    ratios = [
        statistic(a[r * block : (r + 1) * block]) / statistic(b[r * block : (r + 1) * block])
        for r in range(rounds)
    ]
    rng = random.Random(seed)
    medians = sorted(statistics.median(rng.choices(ratios, k=rounds)) for _ in range(resamples))
    return {
        "ratio": statistics.median(ratios),
        "low": medians[int(0.025 * resamples)],
        "high": medians[int(0.975 * resamples) - 1],
        "rounds": rounds,
    }


def _status_kb(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def rss_bytes():
    """The resident set size of this process now, after returning freed heap memory to the
    system (``malloc_trim``), so memory a library freed is not counted."""
    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except OSError:  # not glibc
        pass
    return _status_kb("VmRSS") * 1024


def peak_rss_bytes():
    """The highest resident set size since the start or the last :func:`reset_peak_rss`."""
    return _status_kb("VmHWM") * 1024


def reset_peak_rss():
    """Reset the kernel's high-water mark of resident memory to the current size (Linux)."""
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
