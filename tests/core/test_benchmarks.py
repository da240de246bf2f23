"""The benchmark suite's own arithmetic and its extra contender, without timing anything."""

from __future__ import annotations

import statistics

import numpy as np
import pytensor
import pytest

import symupdates as su

from benchmarks.graphs import BUILDERS, many_tensors
from benchmarks.run import slope
from benchmarks.timing import paired_ratio, per_cadence
from benchmarks.workloads import _every_kth_watched


@pytest.mark.parametrize(("power", "expected"), [(0.0, 0.0), (1.0, 1.0), (2.0, 2.0), (0.5, 0.5)])
def test_slope_is_the_power_of_the_count(power, expected):
    points = [(n, 3e-3 * n**power) for n in (10, 30, 100, 300)]
    assert slope(points) == pytest.approx(expected, abs=1e-12)
    assert slope(points[:1]) is None


def test_paired_ratio_takes_the_ratio_round_by_round():
    rng = np.random.default_rng(0)
    block, rounds = 5, 12
    drift = np.repeat(rng.uniform(1.0, 3.0, rounds), block)  # the machine's speed, round by round
    times = {"a": list(2.0 * drift), "b": list(drift)}
    p = paired_ratio(times, "a", "b", block)
    assert (p["ratio"], p["low"], p["high"], p["rounds"]) == (pytest.approx(2.0), pytest.approx(2.0), pytest.approx(2.0), rounds)
    same = paired_ratio(times, "b", "b", block)
    assert (same["ratio"], same["low"], same["high"]) == (1.0, 1.0, 1.0)


def test_a_per_cadence_paired_ratio_counts_the_one_slow_call_in_k_but_not_an_interruption():
    """One call in 4 takes 5 units instead of 1: the median of a round's calls does not see
    it, the per-cadence statistic does: (3 + 5) / 4 = 2. A call the machine interrupted
    (100 units) moves a plain mean but not the median over a round's runs of 4 calls."""
    k, rounds = 4, 6
    block = 3 * k
    watched = [1.0, 1.0, 1.0, 5.0] * 3
    watched[1] = 100.0
    times = {"watched": watched * rounds, "plain": [1.0] * block * rounds}
    assert paired_ratio(times, "watched", "plain", block)["ratio"] == 1.0
    p = paired_ratio(times, "watched", "plain", block, statistic=per_cadence(k))
    assert (p["ratio"], p["low"], p["high"]) == (2.0, 2.0, 2.0)
    assert paired_ratio(times, "watched", "plain", block, statistic=statistics.fmean)["ratio"] > 10


def test_the_cadence_contender_watches_every_kth_call_as_fit_does(monkeypatch):
    w = pytensor.shared(np.array([3.0, 4.0]), name="w")
    f = pytensor.function([], [], updates=[(w, 0.5 * w)], mode="FAST_COMPILE")
    compared = []
    original = su.monitor.Snapshot.compare
    monkeypatch.setattr(su.monitor.Snapshot, "compare", lambda self: compared.append(original(self)))
    step = _every_kth_watched(lambda X, y: f(), [w], None, None, 3)
    for _ in range(7):
        step()
    assert [c["update_ratio"] for c in compared] == [0.5, 0.5]  # calls 3 and 6
    np.testing.assert_allclose(w.get_value(), np.array([3.0, 4.0]) / 2**7)


def test_many_tensors_splits_the_total():
    values, grads = many_tensors(7, total=100)
    assert [v.size for v in values] == [15, 15, 14, 14, 14, 14, 14]
    assert [g.shape for g in grads] == [v.shape for v in values]
    assert all(v.dtype == np.float32 for v in values + grads)


def test_the_packed_contender_makes_the_same_steps_as_the_per_tensor_graph():
    """W4's multi-tensor path (one buffer for every tensor) is the same Adam with clipping."""
    values, grads = many_tensors(5, total=53)
    finals = {}
    for which in ("hand", "hand_packed", "su"):
        params = [pytensor.shared(v.copy(), name=f"p{i}") for i, v in enumerate(values)]
        grad_vars = [pytensor.shared(g, name=f"g{i}") for i, g in enumerate(grads)]
        f = pytensor.function([], [], updates=BUILDERS[which]("adam", grad_vars, params), mode="FAST_COMPILE")
        for _ in range(3):
            f()
        finals[which] = np.concatenate([p.get_value() for p in params])
    assert not np.allclose(finals["hand"], np.concatenate(values))  # the steps moved the parameters
    np.testing.assert_allclose(finals["hand_packed"], finals["hand"], rtol=0, atol=1e-6)
    np.testing.assert_allclose(finals["su"], finals["hand"], rtol=0, atol=1e-6)
