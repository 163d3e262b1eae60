"""Graphs whose code fails in the JIT: their ops run as extern calls (torch's kernels
called from compiled code, compiler/extern.py) with eager's results, and nothing fails
the user's call (bench/failing_jit.py runs the same over BENCH and the small models)."""

import pytest
import torch

import mlirfuse
from conftest import assert_same, extern_calls_here

pytestmark = pytest.mark.skipif(not extern_calls_here(),
                                reason="extern calls on CUDA are off (MLIRFUSE_CUDA_EXTERN=0)")


@pytest.mark.cpu_only("fails the CPU's JIT (engine.jit); CUDA code is a host library")
def test_a_graph_failing_in_the_jit_runs_its_ops_as_extern_calls(monkeypatch):
    """When a piece's kernels fail in the JIT, its ops become extern calls; an op the graph
    gives a number for a Tensor argument (layer_norm's decomposition: `div.Tensor(sum, 61)`)
    calls the Scalar overload: the dispatcher's boxed call takes no number for a Tensor
    ("Expected Tensor but got Int": the user's call failed)."""
    from mlirfuse.compiler import decompositions, screen
    from mlirfuse.runtime import engine

    jit = engine.jit

    def failing(module, *args):
        if "@mlirfuse_k" in str(module):  # code with kernels (mlirfuse_kernel_, mlirfuse_k_)
            raise RuntimeError("the JIT failed")
        return jit(module, *args)

    monkeypatch.setattr(engine, "jit", failing)

    def f(x):
        return torch.nn.functional.layer_norm(x, (61,)) * 3

    x = torch.randn(5, 61)
    # The failures are learned by the process (its ops are extern calls from then on):
    # forgotten after the test, so later tests compile them.
    known, learned = dict(screen.KNOWN), dict(decompositions.LEARNED)
    try:
        compiled = mlirfuse.compile(f)
        assert_same(compiled(x), f(x))
        assert compiled.stats.extern_calls > 0
        assert "does not compile (stage 'jit'): RuntimeError: the JIT failed" \
            in str(compiled.explain())
    finally:
        screen.KNOWN.clear()
        screen.KNOWN.update(known)
        decompositions.LEARNED.clear()
        decompositions.LEARNED.update(learned)


def test_a_number_for_a_tensor_argument_takes_the_scalar_overload():
    from mlirfuse.compiler import extern

    graph = torch.fx.Graph()
    x = graph.placeholder("x")
    x.meta["val"] = torch.empty(3, 4, device="cpu")
    node = graph.call_function(torch.ops.aten.div.Tensor, (x, 64))
    node.meta["val"] = torch.empty(3, 4, device="cpu")
    spec, inputs = extern.spec_of(node, torch.device("cpu"))
    assert "op aten::div\noverload Scalar\n" in spec and "arg I 64" in spec and inputs == [x]
    node = graph.call_function(torch.ops.aten.lerp.Tensor, (x, x, 0.5))  # lerp.Scalar
    node.meta["val"] = torch.empty(3, 4, device="cpu")
    assert "overload Scalar" in extern.spec_of(node, torch.device("cpu"))[0]
