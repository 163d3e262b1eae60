"""Dynamic shapes (option `dynamic`): one compilation serves every size.

Each test compares with eager PyTorch on several sizes and counts compilations.
"""

import pytest
import torch
import torch.nn.functional as F

import mlirfuse
from mlirfuse.compiler import api

# On CUDA tensors (MLIRFUSE_TEST_DEVICE=cuda) these run only where code for symbolic
# sizes is on for the GPU (api.CUDA_DYNAMIC); otherwise every size specializes there
# (test_cuda_specializes_every_size).
SYMBOLIC = pytest.mark.skipif(
    torch.get_default_device().type != "cpu" and not api.CUDA_DYNAMIC,
    reason="code for symbolic sizes on CUDA is off (MLIRFUSE_CUDA_DYNAMIC)")


def _rows(n, seed=0, cols=32):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, cols, generator=g, device="cpu").to(torch.get_default_device())


def mlp_softmax(x, y):
    return (torch.relu(x + y) * torch.sigmoid(x)).sum(1), (x * 2).softmax(-1)


def _check(compiled, fn, sizes, make):
    for n in sizes:
        args = make(n)
        expected = fn(*args)
        got = compiled(*args)
        expected = expected if isinstance(expected, tuple) else (expected,)
        got = got if isinstance(got, tuple) else (got,)
        for e, g in zip(expected, got):
            torch.testing.assert_close(g, e, rtol=1e-5, atol=1e-5)


@SYMBOLIC
def test_automatic_dynamic_compiles_twice_for_any_number_of_sizes():
    """dynamic=None: the first size specializes; the second, differing only in sizes,
    compiles symbolic code that serves every later size."""
    compiled = mlirfuse.compile(mlp_softmax)
    _check(compiled, mlp_softmax, [16, 5, 100, 7, 300, 2],
           lambda n: (_rows(n), _rows(n, seed=1)))
    assert compiled.stats.compilations == 2


@SYMBOLIC
def test_dynamic_true_compiles_once():
    compiled = mlirfuse.compile(mlp_softmax, dynamic=True)
    _check(compiled, mlp_softmax, [16, 5, 100, 3], lambda n: (_rows(n), _rows(n, seed=1)))
    assert compiled.stats.compilations == 1
    assert compiled.stats.guard_failures == 0


@SYMBOLIC
def test_dynamic_false_specializes_every_size():
    compiled = mlirfuse.compile(mlp_softmax, dynamic=False)
    _check(compiled, mlp_softmax, [16, 5, 7], lambda n: (_rows(n), _rows(n, seed=1)))
    assert compiled.stats.compilations == 3


@SYMBOLIC
def test_size_one_is_specialized_as_torch_does():
    """Sizes 0 and 1 broadcast differently: the symbolic code's guard rejects them and
    they get a specialization of their own, with eager's results."""
    compiled = mlirfuse.compile(mlp_softmax, dynamic=True)
    _check(compiled, mlp_softmax, [8, 1, 9], lambda n: (_rows(n), _rows(n, seed=1)))
    assert compiled.stats.compilations == 2


@SYMBOLIC
def test_sizes_eager_rejects_raise_as_eager():
    """Two arguments whose sizes are one symbol: a call where they differ breaks the
    guard (never runs the kernels on mismatched buffers) and raises eager's error."""
    compiled = mlirfuse.compile(mlp_softmax, dynamic=True)
    compiled(_rows(8), _rows(8, seed=1))
    with pytest.raises(RuntimeError, match="must match the size"):
        compiled(_rows(3), _rows(4))


@SYMBOLIC
def test_guarded_stage_shows_symbols_and_ranges():
    """Automatic dynamic makes symbolic only the size that changed: the rows."""
    compiled = mlirfuse.compile(mlp_softmax)
    compiled(_rows(8), _rows(8, seed=1))
    compiled(_rows(9), _rows(9, seed=1))
    guarded = compiled.ir("guarded")
    assert "tensor<?x32xf32>" in guarded
    assert "symbols = array<i64: 0, -1>" in guarded
    assert "mlirfuse.symbol_ranges = array<i64: 2, -1>" in guarded


def reshape_and_reduce(x, bias):
    y = (x + bias).view(-1, 4, 8)
    return y.sum(0), torch.tanh(y).mean(-1), F.layer_norm(x, (32,))


@SYMBOLIC
def test_reshapes_reductions_over_the_symbolic_dimension_and_broadcasts():
    bias = _rows(1, seed=5)[0]
    compiled = mlirfuse.compile(reshape_and_reduce, dynamic=True)
    _check(compiled, reshape_and_reduce, [6, 50, 3], lambda n: (_rows(n), bias))
    assert compiled.stats.compilations == 1


@SYMBOLIC
def test_a_guard_failure_names_the_symbols():
    compiled = mlirfuse.compile(mlp_softmax, dynamic=True, on_guard_failure="error")
    compiled(_rows(8), _rows(8, seed=1))
    with pytest.raises(mlirfuse.GuardError, match=r"in \[2, inf\]"):
        compiled(_rows(1), _rows(1, seed=1))


def test_invalid_option():
    with pytest.raises(ValueError, match="dynamic must be"):
        mlirfuse.compile(mlp_softmax, dynamic="yes")


@SYMBOLIC
def test_threads_share_one_compilation_for_every_size():
    """Calls of many sizes from 6 threads at once: one compilation (dynamic=True), every
    result eager's."""
    from concurrent.futures import ThreadPoolExecutor

    compiled = mlirfuse.compile(mlp_softmax, dynamic=True)
    sizes = [4 + (i * 7) % 50 for i in range(60)]

    def call(n):
        x, y = _rows(n, seed=n), _rows(n, seed=n + 1)
        for g, e in zip(compiled(x, y), mlp_softmax(x, y)):
            torch.testing.assert_close(g, e, rtol=1e-5, atol=1e-5)

    with ThreadPoolExecutor(6) as pool:
        list(pool.map(call, sizes))
    assert compiled.stats.compilations == 1


def view_rows(x):
    return (x * 2).view(-1, 4).sum(0)


@SYMBOLIC
def test_code_that_differs_from_eager_is_not_kept():
    """torch-mlir lowers x.view(-1, 4) of a [?, ?] tensor as no reshape (the kernel wrote
    16 values per row into a result of 4, past its end): the check at compile time
    (compiler/dynamic_check.py) rejects that code and the sizes are specialized."""
    compiled = mlirfuse.compile(view_rows, dynamic=True)
    for n in (8, 12, 16, 20):
        x = _rows(n, cols=16)
        torch.testing.assert_close(compiled(x), view_rows(x))
    assert any("unlike eager" in n or "past the end" in n for n in compiled._dynamic_notes)
    # Tried once: the later sizes specialize without another symbolic compile (before:
    # one attempt per new size, each a capture and a compile).
    assert len(compiled._dynamic_notes) == 1 and compiled.stats.compilations == 4


@SYMBOLIC
def test_torch_compile_takes_dynamos_symbolic_shapes():
    """mark_dynamic: the graph dynamo hands over has a symbolic batch (and the symbol as an
    int input, read from the tensor's size instead): one compilation for every size."""
    torch._dynamo.reset()
    mlirfuse.reset_stats()
    fn = torch.compile(mlp_softmax, backend="mlirfuse")
    x, y = _rows(8), _rows(8, seed=1)
    torch._dynamo.mark_dynamic(x, 0)
    torch._dynamo.mark_dynamic(y, 0)
    fn(x, y)
    for n in (12, 5, 40):
        x, y = _rows(n), _rows(n, seed=1)
        for g, e in zip(fn(x, y), mlp_softmax(x, y)):
            torch.testing.assert_close(g, e, rtol=1e-5, atol=1e-5)
    assert mlirfuse.stats().compilations == 1


@SYMBOLIC
def test_torch_compile_automatic_dynamic():
    """Dynamo's automatic dynamic: a static graph first, then one with the changed size
    symbolic: two compilations for any number of sizes."""
    torch._dynamo.reset()
    mlirfuse.reset_stats()
    fn = torch.compile(mlp_softmax, backend="mlirfuse")
    for n in (8, 12, 5, 40, 33):
        x, y = _rows(n), _rows(n, seed=1)
        for g, e in zip(fn(x, y), mlp_softmax(x, y)):
            torch.testing.assert_close(g, e, rtol=1e-5, atol=1e-5)
    assert mlirfuse.stats().compilations == 2


@pytest.mark.skipif(torch.get_default_device().type != "cuda" or api.CUDA_DYNAMIC,
                    reason="the CUDA fallback with MLIRFUSE_CUDA_DYNAMIC off, on CUDA tensors "
                           "(MLIRFUSE_TEST_DEVICE=cuda)")
def test_cuda_specializes_every_size():
    compiled = mlirfuse.compile(mlp_softmax)
    _check(compiled, mlp_softmax, [16, 5, 7], lambda n: (_rows(n), _rows(n, seed=1)))
    assert compiled.stats.compilations == 3


@SYMBOLIC
def test_views_to_symbolic_sizes_are_expands_of_their_input():
    """`y.view(2, n, -1, 32)` with n read from another tensor (GPT-2's heads: n is the input
    ids' length) and -1 for the heads: torch-mlir could not tell n was y's dimension 1 and
    lowered a tensor.reshape of computed sizes, which fusion does not cross (GPT-2's dynamic
    code had more kernels than its static code). The view's sizes are y's own dimensions
    now (capture: identity_views.sizes_from_source), lowered as an expand_shape."""
    from mlirfuse.compiler import capture as capture_mod
    from mlirfuse.compiler.compiled_graph import lower_graph
    from mlirfuse.compiler.options import Options
    from mlirfuse.compiler.specialize import graph_inputs
    from mlirfuse.compiler.symbolic import SymbolicShapes

    def f(x):
        n = x.shape[1]
        return torch.relu(x).view(2, n, -1, 32) + 1

    x = torch.randn(2, 24, 64)
    cap = capture_mod.capture(f, (x,), dynamic=[(1,)])
    _, record = lower_graph(cap.graph_module, graph_inputs(cap, (x,)), Options(), "linalg",
                            "cpu", SymbolicShapes(cap.graph_module))
    assert "tensor.reshape" not in record.texts["linalg"]
    assert "tensor.expand_shape" in record.texts["linalg"]
    compiled = mlirfuse.compile(f, dynamic=True)
    for n in (24, 7, 33):
        y = torch.randn(2, n, 64)
        torch.testing.assert_close(compiled(y), f(y))
    assert compiled.stats.compilations == 1


def test_a_view_of_a_dropped_view_takes_the_first_views_input():
    """Two identity views in a row (attention's expand of a view): dropping the first gives
    the second a new input, which the walk must read then (a walk that read every input
    first made the graph use a deleted node, and nn.TransformerEncoder failed capture: the
    demo's transformer_encoder ran eager)."""
    from mlirfuse.compiler import capture as capture_mod

    def f(x, w):
        y = torch.ops.aten.view.default(x, [2, 4, 8])
        z = torch.ops.aten.expand.default(y, [2, 4, 8])
        return torch.bmm(z, w)

    args = (torch.randn(2, 4, 8), torch.randn(2, 8, 3))
    cap = capture_mod.capture(f, args)
    cap.graph_module.graph.lint()
    assert not [n for n in cap.graph_module.graph.nodes
                if n.target in (torch.ops.aten.view.default, torch.ops.aten.expand.default)]
    torch.testing.assert_close(mlirfuse.compile(f)(*args), f(*args))


@SYMBOLIC
@pytest.mark.parametrize("causal", [True, False])
def test_attention_is_symbolic_in_its_sequence_length(causal):
    """F.scaled_dot_product_attention (nanoGPT's attention) at lengths 17, 5, 33: two
    compilations. Before, causal: torch's decomposition (C++ reading the sizes as numbers)
    and empty_strided's (int() of a size) made every length the example's: three."""
    def attend(q, k, v):
        return F.scaled_dot_product_attention(q, k, v, is_causal=causal)

    def make(n):
        g = torch.Generator().manual_seed(n)
        return tuple(torch.randn(2, 4, n, 16, generator=g, device="cpu").to(
            torch.get_default_device()) for _ in range(3))

    compiled = mlirfuse.compile(attend)
    _check(compiled, attend, [17, 5, 33], make)
    assert compiled.stats.compilations == 2
    assert compiled._dynamic_notes == []


@SYMBOLIC
def test_scores_viewed_as_heads_are_an_expand():
    """Attention's scores [b * h, s, t] viewed as [b, h, s, t] over two symbolic lengths:
    torch-mlir lowers the view to a tensor.reshape of computed sizes (it matched neither
    length), which no fusion crosses and which copies; mlirfuse-reshape-to-expand makes it
    an expand_shape (Llama's dynamic code on the CPU: 1.27x its static code's time before,
    1.11-1.17 after)."""
    from mlirfuse.compiler import capture as capture_mod
    from mlirfuse.compiler.compiled_graph import lower_graph
    from mlirfuse.compiler.options import Options
    from mlirfuse.compiler.specialize import graph_inputs
    from mlirfuse.compiler.symbolic import SymbolicShapes

    def f(q, k):
        scores = torch.bmm(q, k.transpose(1, 2))
        return scores.view(2, 4, q.shape[1], k.shape[1]).softmax(-1)

    q, k = torch.randn(8, 12, 16), torch.randn(8, 9, 16)
    cap = capture_mod.capture(f, (q, k), dynamic=[(1,), (1,)])
    _, record = lower_graph(cap.graph_module, graph_inputs(cap, (q, k)), Options(), "fused",
                            "cpu", SymbolicShapes(cap.graph_module))
    assert "tensor.reshape" in record.texts["linalg"]
    assert "tensor.reshape" not in record.texts["fused"]
    compiled = mlirfuse.compile(f, dynamic=True)
    for s, t in ((12, 9), (5, 17), (3, 3)):
        q = torch.randn(8, s, 16, device="cpu").to(torch.get_default_device())
        k = torch.randn(8, t, 16, device="cpu").to(torch.get_default_device())
        torch.testing.assert_close(compiled(q, k), f(q, k))
    assert compiled.stats.compilations == 1


@pytest.mark.skipif(torch.get_default_device().type != "cpu",
                    reason="library kernels by choice are the CPU's (compiler/library_kernels.py)")
def test_a_convolution_keeps_its_library_kernel_over_symbolic_sizes(every_convolution_torchs):
    """A 2-D convolution runs torch's kernel (oneDNN) as an extern call (small ones too
    here: by default they are generated code where their sizes are static). Over a symbolic
    batch the call takes the batch at run time (its result's batch is the input's): 2
    compilations. (Before: the extern call took static sizes only and the symbolic code
    was im2col and BLAS per image, 4x the static code's time for a 3x3 convolution of a
    batch of 8.) A varying image size without padding makes output sizes no input has
    (s - 2): the sizes specialize, saying why, and the library kernel stays."""
    m = torch.nn.Sequential(torch.nn.Conv2d(4, 8, 3, padding=1), torch.nn.ReLU()).eval()
    compiled = mlirfuse.compile(m)
    with torch.no_grad():
        for n in (2, 5, 3, 7):
            x = torch.randn(n, 4, 8, 8)
            torch.testing.assert_close(compiled(x), m(x), rtol=1e-4, atol=1e-4)
    assert compiled.stats.compilations == 2
    assert compiled._last.dynamic_dims is not None and len(compiled._last.externs) == 1
    m = torch.nn.Sequential(torch.nn.Conv2d(4, 8, 3), torch.nn.ReLU()).eval()
    compiled = mlirfuse.compile(m)
    with torch.no_grad():
        for size in (8, 6, 10):
            x = torch.randn(2, 4, size, size)
            torch.testing.assert_close(compiled(x), m(x), rtol=1e-4, atol=1e-4)
    assert compiled.stats.compilations == 3
    assert compiled._last.dynamic_dims is None and len(compiled._last.externs) == 1
    assert "library kernel by choice needs static sizes" in compiled._dynamic_notes[0]
