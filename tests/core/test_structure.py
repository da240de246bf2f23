"""Structure of the compiled W1 training step: the graph properties that make it fast.

These are not timings. The graphs are rewritten with each backend's own rewrites (Numba,
the C VM, JAX; the graph rewrites of PyTensor 3.3 wrap Numba's loops in
``ScalarizedElemwise``/``FusedElemwise`` nodes, still one loop each, and leave fusion
under JAX to XLA) and inspected without compiling or running them (the Python linker
builds the thunks), so the tests stay fast. ``benchmarks/graphs.py`` holds the W1 model
and, for four rules, the same updates written by hand in raw PyTensor; every rule of the
registry (tests/rules.py) is checked, against its hand-written twin where there is one.
"""

from __future__ import annotations

import pytensor
import pytest
from pytensor.compile.mode import Mode, get_mode
from pytensor.graph.fg import Output
from pytensor.tensor.elemwise import Elemwise

from benchmarks.graphs import CLIP_NORM, hand_updates, mlp_cost, su_updates
from benchmarks.graphs import RULES as HAND_WRITTEN
from tests.rules import RULES, each_rule

BACKENDS = ["NUMBA", "CVM", "JAX"]
MATMUL_OPS = ("Dot", "Gemm", "Gemv", "Ger")


def rewritten(backend, which, rule="adam"):
    """``pytensor.function`` of the W1 step with ``backend``'s rewrites, Python linker.

    ``which`` is ``"su"``, ``"hand"`` or ``"model"`` (cost and gradients, no update).
    Returns the function and its parameters.
    """
    params, X, y, cost = mlp_cost()
    mode = Mode(linker="py", optimizer=get_mode(backend).optimizer)
    if which == "model":
        return pytensor.function([X, y], [cost, *pytensor.grad(cost, params)], mode=mode), params
    if which == "su":  # the parameters the rule takes (Muon: the weight matrices; the biases stay constant)
        params = [p for p in params if p.type.ndim in RULES[rule].ranks]
        updates = RULES[rule].fn(cost, params, learning_rate=RULES[rule].lr, clip_norm=CLIP_NORM)
    else:
        updates = hand_updates(rule, cost, params)
    return pytensor.function([X, y], cost, updates=updates, mode=mode), params


def matmuls(f):
    """The matrix products (dot, gemm, gemv, ger and their C variants) left in the graph."""
    names = [type(node.op).__name__ for node in f.maker.fgraph.apply_nodes]
    return sorted(name for name in names if any(op in name for op in MATMUL_OPS))


def fuses(backend):
    """Whether ``backend``'s rewrites build fused loops (PyTensor >= 3.3 leaves fusion to XLA under JAX)."""
    return "fusion" not in get_mode(backend).provided_optimizer.exclude


def loop_elemwise(node):
    """The one ``Elemwise`` a node runs as a single loop, or None.

    The node itself, or the inner ``Elemwise`` of the Numba wrappers of PyTensor >= 3.3
    (``ScalarizedElemwise``: native scalar inputs; ``FusedElemwise``: fused reductions
    or indexing), which lower to one loop.
    """
    if isinstance(node.op, Elemwise):
        return node.op
    inner = getattr(node.op, "fgraph", None)
    if inner is None or type(node.op).__name__ not in ("ScalarizedElemwise", "FusedElemwise"):
        return None
    (elemwise,) = [n.op for n in inner.apply_nodes if isinstance(n.op, Elemwise)] or [None]
    return elemwise


def update_outputs(f):
    """``{shared variable: the graph output holding its new value}``."""
    fgraph = f.maker.fgraph
    k = len(f.maker.outputs)
    out = {}
    for inp in f.maker.inputs:
        if inp.update is not None:
            out[inp.variable] = fgraph.outputs[k]
            k += 1
    return out


@pytest.fixture(scope="module")
def model_matmuls():
    """The products of the forward and backward pass alone: 3 forward, 3 weight
    gradients, 2 input gradients."""
    counts = {backend: len(matmuls(rewritten(backend, "model")[0])) for backend in BACKENDS}
    assert counts == dict.fromkeys(BACKENDS, 8)
    return counts


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("case", each_rule())
def test_no_duplicated_matmuls(backend, case, model_matmuls):
    # The C backend's rewrites fold a scalar times a matrix product into a copy of the
    # product when the product has other uses; the hand-written Adam gets 17 products.
    f, params = rewritten(backend, "su", case.name)
    ours = matmuls(f)
    if case.name in HAND_WRITTEN:
        hand = matmuls(rewritten(backend, "hand", case.name)[0])
        assert len(ours) <= len(hand), (ours, hand)
    own = case.matmuls_per_matrix * sum(p.type.ndim == 2 for p in params)  # the rule's own products (Muon's)
    assert len(ours) == model_matmuls[backend] + own, ours


def test_hand_written_adam_triggers_the_duplication_under_the_c_backend():
    # Guards the test above: the hand-written baseline does show the problem it avoids.
    assert len(matmuls(rewritten("CVM", "hand")[0])) > 8


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("case", each_rule(lambda case: not case.separate_passes))
def test_one_fused_loop_per_parameter(backend, case):
    if not fuses(backend):
        pytest.skip(f"{backend}: PyTensor leaves elementwise fusion to the backend's compiler")
    rule = case.name
    f, params = rewritten(backend, "su", rule)
    outputs = update_outputs(f)
    state_of = {p: [v for name, v in _state(f, rule).items() if name.startswith(f"{p.name}/")] for p in params}
    loops = set()
    for p in params:
        nodes = {outputs[var].owner for var in [p, *state_of[p]]}
        assert len(nodes) == 1, f"{rule}: {p.name} and its state are updated by {len(nodes)} nodes"
        (node,) = nodes
        assert loop_elemwise(node) is not None, node
        loops.add(node)
    assert len(loops) == len(params)
    # The loop reads each state variable itself: nothing else in the graph touches it.
    fgraph = f.maker.fgraph
    fg_input = dict(zip([inp.variable for inp in f.maker.inputs], fgraph.inputs, strict=True))
    for p in params:
        (loop,) = {outputs[p].owner}
        for var in state_of[p]:
            readers = {client for client, _ in fgraph.clients[fg_input[var]] if not isinstance(client.op, Output)}
            assert readers == {loop}, f"{var.name} is read by {readers}"


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("case", each_rule(lambda case: case.separate_passes))
def test_each_variable_is_written_by_one_loop(backend, case):
    """A rule whose update needs several passes (its row's ``separate_passes`` says why)
    still writes each parameter and each state variable with one elementwise loop."""
    if not fuses(backend):
        pytest.skip(f"{backend}: PyTensor leaves elementwise fusion to the backend's compiler")
    f, params = rewritten(backend, "su", case.name)
    outputs = update_outputs(f)
    for var in [*params, *_state(f, case.name).values()]:
        assert loop_elemwise(outputs[var].owner) is not None, f"{var.name} is written by {outputs[var].owner}"


def _state(f, rule):
    """The named state of the symupdates updates compiled into ``f``."""
    names = {}
    for inp in f.maker.inputs:
        name = getattr(inp.variable, "name", None) or ""
        if inp.update is not None and name.count("/") == 2:
            names[name] = inp.variable
    return names


def _reductions(f):
    """The reductions over arrays left in a compiled graph (not over a vector of stacked scalars)."""
    from pytensor.tensor.basic import MakeVector
    from pytensor.tensor.elemwise import CAReduce

    def stacked_scalars(var):
        return var.owner is not None and isinstance(var.owner.op, MakeVector)

    out = []
    for n in f.maker.fgraph.apply_nodes:
        op = n.op
        name = type(op).__name__
        if name == "FusedElemwise":  # PyTensor >= 3.3, Numba: reductions fused into a loop
            out += [(n, i) for i, spec in enumerate(op.reduced_outputs) if spec is not None]
            continue
        if name == "ScalarCAReduce":  # PyTensor >= 3.3, Numba: a full reduction returning a native scalar
            (op,) = [m.op for m in op.fgraph.apply_nodes if isinstance(m.op, CAReduce)]
        if isinstance(op, CAReduce) and n.inputs[0].type.ndim > 0 and not stacked_scalars(n.inputs[0]):
            out.append(n)
    return out


@pytest.mark.parametrize("backend", BACKENDS)
def test_skip_nonfinite_shares_the_norm_of_clipping_and_allocates_no_temporary(backend):
    """With clipping, the finiteness check reuses the global norm: no extra pass over the gradients.

    Without clipping it adds one reduction per gradient, reading the gradient itself (no
    boolean array in between), and nothing else of a parameter's size.
    """
    params, X, y, cost = mlp_cost()
    mode = Mode(linker="py", optimizer=get_mode(backend).optimizer)

    def step(**flags):
        return pytensor.function([X, y], cost, updates=su_updates("adam", cost, params, **flags), mode=mode)

    clipped, clipped_skip = step(), step(skip_nonfinite=True)
    assert len(_reductions(clipped_skip)) == len(_reductions(clipped))
    plain, plain_skip = step(clip_norm=None), step(clip_norm=None, skip_nonfinite=True)
    assert len(_reductions(plain_skip)) == len(_reductions(plain)) + len(params)
    if not fuses(backend):  # unfused graph (XLA fuses): the skip's switches are separate nodes here
        return
    for f, without in ((clipped_skip, clipped), (plain_skip, plain)):
        assert _elementwise_outputs(f) == _elementwise_outputs(without)


def _elementwise_outputs(f):
    """(dtype, ndim) of every array an elementwise loop writes: a check must add none."""
    nodes = [n for n in f.maker.fgraph.apply_nodes if loop_elemwise(n) is not None]
    outs = [o for n in nodes for o in n.outputs if getattr(o.type, "ndim", 0) > 0]
    return sorted((o.dtype, o.type.ndim) for o in outs)
