"""Many parameter tensors: the graph grows linearly with their number, and building it stays cheap.

No timings here (the benchmark suite's W4 measures them): these tests count nodes, so a
change that makes the graph or the compiled loops grow faster than the tensor count
fails, and they check the two things that keep building cheap, shared coefficients and
the caller's stack recorded once.
"""

from __future__ import annotations

import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest
from pytensor.compile.mode import Mode, get_mode

import symupdates as su
from symupdates.numerics import coef, one_minus
from tests.core.test_structure import loop_elemwise

try:  # PyTensor 3
    from pytensor.graph.traversal import applys_between
except ImportError:  # PyTensor 2.38
    from pytensor.graph.basic import applys_between

COUNTS = (2, 4, 8)


def _model(n, *, matrices=False, seed=0):
    """``n`` float32 parameters (vectors of 5 elements, or 3x4 matrices) and their gradient inputs."""
    rng = np.random.default_rng(seed)
    shape = (3, 4) if matrices else (5,)
    params = [pytensor.shared(rng.standard_normal(shape).astype("float32"), name=f"p{i}") for i in range(n)]
    grads = [pt.tensor(f"g{i}", dtype="float32", shape=(None,) * len(shape)) for i in range(n)]
    return params, grads


#: (label, rule builder (grads, params) -> Updates, parameters are matrices)
CASES = [
    ("adam, clipped", lambda g, p: su.adam(g, p, clip_norm=1.0), False),
    ("adam, clipped, skip_nonfinite", lambda g, p: su.adam(g, p, clip_norm=1.0, skip_nonfinite=True), False),
    ("sgd", lambda g, p: su.sgd(g, p, learning_rate=0.1), False),
    ("nadam, weight decay", lambda g, p: su.nadam(g, p, weight_decay=0.01), False),
    ("adafactor", lambda g, p: su.adafactor(g, p), True),
    ("muon", lambda g, p: su.muon(g, p), True),
    ("ema of adamw", lambda g, p: su.ema(su.adamw(g, p), p, decay=0.99), False),
]


def _counts(build, n, matrices):
    """``(nodes of the built graph, loops and reductions of the Numba-rewritten graph)``."""
    params, grads = _model(n, matrices=matrices)
    updates = build(grads, params)
    built = len(list(applys_between(grads, [new for _, new in updates])))
    mode = Mode(linker="py", optimizer=get_mode("NUMBA").optimizer)
    f = pytensor.function(grads, [], updates=updates, mode=mode)
    loops = sum(1 for node in f.maker.fgraph.apply_nodes if loop_elemwise(node) is not None or "Reduce" in type(node.op).__name__)
    return built, loops


def _per_tensor(counts):
    """The increment per added tensor, if ``counts`` (at ``COUNTS`` tensors) is exactly linear, else None."""
    (a, b, c), (n1, n2, n3) = counts, COUNTS
    step = (b - a) / (n2 - n1)
    return step if (c - b) == step * (n3 - n2) else None


def _at_most_linear(counts):
    """The first increment per added tensor, if the later one is positive and no larger, else None.

    Compiled loops may grow a little slower than linearly: PyTensor 3.3's fusion
    (``ScalarizedElemwise``) sometimes merges loops of different tensors (Adafactor's
    loops at 2, 4, 8 and 16 tensors there: 21, 41, 72, 144). They must never grow faster.
    """
    (a, b, c), (n1, n2, n3) = counts, COUNTS
    first, then = (b - a) / (n2 - n1), (c - b) / (n3 - n2)
    return first if 0 < then <= first else None


@pytest.mark.parametrize("label, build, matrices", CASES, ids=[c[0] for c in CASES])
def test_the_graph_grows_linearly_with_the_number_of_tensors(label, build, matrices):
    built, loops = zip(*(_counts(build, n, matrices) for n in COUNTS), strict=True)
    assert _per_tensor(built) is not None, f"{label}: built nodes {built} for {COUNTS} tensors"
    per_loop = _at_most_linear(loops)
    assert per_loop is not None, f"{label}: compiled loops {loops} for {COUNTS} tensors"
    # Each tensor costs a handful of loops (its update, its norm, Adafactor's and Muon's
    # passes), never a number that depends on how many other tensors there are.
    assert per_loop <= 40, (label, loops)


def test_the_linearity_check_fails_on_a_quadratic_graph():
    """Guards the test above: a graph whose every tensor reads every other's norm is caught."""

    def quadratic(grads, params):
        pairs = []
        for i, (p, g) in enumerate(zip(params, grads, strict=True)):
            for h in grads[:i]:
                g = g + pt.sum(h)
            pairs.append((p, p - g))
        return pairs

    built, _ = zip(*(_counts(quadratic, n, False) for n in COUNTS), strict=True)
    assert _per_tensor(built) is None, built
    assert _at_most_linear(built) is None, built
    assert _at_most_linear((21, 41, 72)) == 10 and _at_most_linear((5, 9, 17)) == 2
    assert _at_most_linear((5, 9, 25)) is None and _at_most_linear((5, 9, 9)) is None


def test_coefficients_are_built_once_per_dtype_and_rank():
    lr = pt.scalar("lr", dtype="float64")
    v32, w32, v64 = pt.vector(dtype="float32"), pt.matrix(dtype="float32"), pt.vector(dtype="float64")
    assert coef(lr, v32) is coef(lr, pt.vector(dtype="float32"))
    assert coef(lr, v32) is not coef(lr, w32)
    assert (coef(lr, v32).dtype, coef(lr, v32).type.ndim, coef(lr, v32).type.shape) == ("float32", 1, (1,))
    assert (coef(lr, w32).type.shape, coef(lr, v64).dtype) == ((1, 1), "float64")
    assert coef(lr, pt.scalar(dtype="float64")) is lr  # nothing to cast, nothing to broadcast
    assert one_minus(lr) is one_minus(lr)
    np.testing.assert_allclose(one_minus(lr).eval({lr: 0.25}, mode="FAST_COMPILE"), 0.75)
    # A clone shares its original's tag; it gets casts of its own, not the original's.
    clone = lr.clone()
    assert coef(clone, v32) is not coef(lr, v32)
    assert coef(clone, v32).owner.inputs[0].owner.inputs[0] is clone
    assert coef(lr, v32).owner.inputs[0].owner.inputs[0] is lr


def test_one_cast_of_each_hyperparameter_however_many_tensors():
    params, grads = _model(50)
    updates = su.adam(grads, params, clip_norm=1.0)
    nodes = list(applys_between(grads, [new for _, new in updates]))
    casts = [n for n in nodes if type(getattr(n.op, "scalar_op", None)).__name__ == "Cast"]
    assert len(casts) < 20, len(casts)  # one per coefficient, not one per coefficient and tensor


def test_the_new_nodes_carry_the_line_that_asked_for_the_updates():
    params, grads = _model(3)
    limit = pytensor.config.traceback__limit
    updates = su.adam(grads, params, clip_norm=1.0)  # the line the traces point at
    assert pytensor.config.traceback__limit == limit
    nodes = list(applys_between(grads, [new for _, new in updates]))
    assert nodes
    for node in nodes:
        for out in node.outputs:
            (trace,) = out.tag.trace
            filename, line, function, source = trace[-1]
            assert filename == __file__ and function == "test_the_new_nodes_carry_the_line_that_asked_for_the_updates"
            assert source.startswith("updates = su.adam(grads, params, clip_norm=1.0)"), source
            assert len(trace) <= max(limit, 1)


def test_traces_are_left_to_pytensor_when_it_is_told_to_keep_none():
    params, grads = _model(2)
    with pytensor.config.change_flags(traceback__limit=0):
        updates = su.sgd(grads, params, learning_rate=0.1)
    nodes = list(applys_between(grads, [new for _, new in updates]))
    assert all(out.tag.trace == [] for node in nodes for out in node.outputs)


def test_an_error_inside_the_build_leaves_pytensor_tracing_as_it_was():
    params, grads = _model(2)
    limit = pytensor.config.traceback__limit
    with pytest.raises(ValueError):
        su.muon(grads, params)  # vectors: Muon takes matrices only
    assert pytensor.config.traceback__limit == limit


def test_the_garbage_collector_is_switched_back_on_however_the_build_ends():
    import gc

    params, grads = _model(2)
    assert gc.isenabled()
    su.sgd(grads, params, learning_rate=0.1)
    assert gc.isenabled()
    with pytest.raises(ValueError):
        su.muon(grads, params)
    assert gc.isenabled()
    gc.disable()
    try:  # a caller who switched it off keeps it off
        su.sgd(grads, params, learning_rate=0.1)
        assert not gc.isenabled()
    finally:
        gc.enable()
