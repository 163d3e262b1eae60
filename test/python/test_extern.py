"""Extern calls: ops with no native code run torch's kernel from compiled code
(compiler/extern.py, runtime/cpu/mlirfuse_extern.cpp), so the graph compiles whole."""

import re
import shutil
import subprocess
import sys

import pytest
import torch

import mlirfuse
from conftest import assert_same, check_in_threads, extern_calls_here

pytestmark = pytest.mark.skipif(not extern_calls_here(),
                                reason="extern calls on CUDA are off (MLIRFUSE_CUDA_EXTERN=0)")


def qr_between(x):
    y = x @ x.mT + torch.eye(x.shape[0], device=x.device)  # compiled before (threads have
    # no default device of their own)
    q, r = torch.linalg.qr(y)  # torch-mlir has no lowering: LAPACK through torch
    return q * 2, r.abs().sum(1)  # compiled after


def _assert_draws_as_eager(compiled, fn, x):
    """Under the same seed, the compiled call gives eager's values, and the generator is
    left as eager leaves it (the next draw is the same)."""
    for seed in (1, 2):
        torch.manual_seed(seed)
        got, after = compiled(x), torch.rand(3)
        torch.manual_seed(seed)
        want, want_after = fn(x), torch.rand(3)
        assert_same(got, want)
        assert_same(after, want_after)


def test_lapack_op_compiles_whole_as_an_extern_call():
    x = torch.randn(6, 6)
    compiled = mlirfuse.compile(qr_between)
    assert_same(compiled(x), qr_between(x))
    assert compiled.stats.eager_ops == 0 and compiled.stats.extern_calls == 1
    report = compiled.explain()
    assert len(report.pieces) == 1 and report.eager == []
    (call,) = report.externs
    assert call.op == "aten.linalg_qr.default" and "stage 'linalg'" in call.reason
    assert "1 extern call(s)" in str(report) and "linalg_qr" in str(report)
    assert "call @mlirfuse_extern_op_0" in compiled.ir("raw")
    assert "call @mlirfuse_extern_call" in compiled.ir("bufferized")
    x2 = torch.randn(6, 6)  # the next call: no compile
    assert_same(compiled(x2), qr_between(x2))
    assert compiled.stats.compilations == 1


def test_extern_calls_off_runs_the_op_eager():
    x = torch.randn(6, 6)
    compiled = mlirfuse.compile(qr_between, extern_calls=False)
    assert_same(compiled(x), qr_between(x))
    assert compiled.stats.eager_ops == 1 and compiled.stats.extern_calls == 0
    assert len(compiled.explain().pieces) == 2


def test_random_ops_draw_from_torchs_generator_in_order():
    def f(x):
        return torch.nn.functional.dropout(x * 2, 0.5, training=True) + torch.rand_like(x)

    x = torch.randn(32, 32)
    compiled = mlirfuse.compile(f)
    _assert_draws_as_eager(compiled, f, x)
    assert compiled.stats.extern_calls == 2 and compiled.stats.eager_ops == 0
    assert all("generator" in e.reason for e in compiled.explain().externs)


def test_bernoulli_is_torchs_bernoulli():
    """torch.bernoulli is an extern call of aten.bernoulli itself: decomposed, it drew
    through aten.rand, which on CUDA draws other numbers than CUDA's bernoulli kernel
    (test_a_functions_own_seeding_runs_before_each_call failed on the H200)."""
    def f(x):
        return torch.bernoulli(x.sigmoid()) * x

    x = torch.randn(64)
    compiled = mlirfuse.compile(f)
    _assert_draws_as_eager(compiled, f, x)
    assert [e.op for e in compiled.explain().externs] == ["aten.bernoulli.default"]


def test_long_sort_runs_torchs_sort():
    """tm_tensor's sort is quadratic (hazards.SORT_LIMIT): a long one is torch's."""
    def f(x):
        values, indices = torch.sort(x * 3, dim=-1, descending=True)
        return values + 1, indices

    x = torch.randn(4, 5000)
    compiled = mlirfuse.compile(f)
    assert_same(compiled(x), f(x))
    assert [e.op for e in compiled.explain().externs] == ["aten.sort.default"]


@pytest.mark.cpu_only("CUDA's multinomial checks its probabilities on the device (an "
                     "assert that ends the CUDA context), not with an error to raise")
def test_an_ops_own_error_raises_torchs_message():
    """An error inside an extern call cannot unwind through compiled code: it is kept,
    the call's results are zeroed, and the call raises torch's message afterwards."""
    def f(p):
        return torch.multinomial(p * 1, 4, replacement=True) + 1

    compiled = mlirfuse.compile(f)
    p = torch.rand(3, 5) + 0.1
    torch.manual_seed(0)
    got = compiled(p)
    torch.manual_seed(0)
    assert_same(got, f(p))
    with pytest.raises(RuntimeError, match="multinomial distribution|probability"):
        compiled(-p)
    torch.manual_seed(5)
    got = compiled(p)  # the process and the function work on
    torch.manual_seed(5)
    assert_same(got, f(p))


def test_extern_calls_in_threads():
    x = [torch.randn(6, 6) for _ in range(4)]
    compiled = mlirfuse.compile(qr_between)
    compiled(x[0])

    def check(t):
        for _ in range(20):
            assert_same(compiled(t), qr_between(t))

    check_in_threads(check, x)


def test_extern_call_beside_an_eager_op():
    """A graph still partitioned (nonzero's shape depends on the data) runs its extern
    calls inside the compiled pieces."""
    def f(x):
        y = torch.special.laguerre_polynomial_l(x, 3) * 2
        return y + torch.nonzero(x > 0).sum()

    x = torch.randn(5, 4)
    compiled = mlirfuse.compile(f)
    assert_same(compiled(x), f(x))
    assert compiled.stats.extern_calls == 1
    eager = [e.op for e in compiled.explain().eager]
    assert "aten.nonzero.default" in eager and not any("laguerre" in e for e in eager)


def test_integer_and_boolean_results():
    def f(x):
        return torch.argsort(x, dim=0, stable=True), torch.isin(x.round(), x.round().flip(0))

    x = torch.randn(300, 3)
    compiled = mlirfuse.compile(f)
    assert_same(compiled(x), f(x))
    assert compiled.stats.eager_ops == 0


def test_backend_counts_extern_calls():
    mlirfuse.reset_stats()
    fn = torch.compile(qr_between, backend="mlirfuse")
    x = torch.randn(6, 6)
    assert_same(fn(x), qr_between(x))
    totals = mlirfuse.stats()
    assert totals.extern_calls == 1 and totals.eager_ops == 0


def test_lapack_checks_raise_eagers_error():
    """cholesky, solve and inv decompose to an `_ex` op and `_linalg_check_errors`,
    ordered by an effect token: capture took no token (the function ran eager whole);
    now the check is an extern call, and a singular matrix raises eager's error."""
    def f(a, b):
        return torch.linalg.solve(a, b) + torch.linalg.inv(a).sum() + \
            torch.linalg.cholesky(a @ a.mT + torch.eye(a.shape[0])).sum()

    a, b = torch.randn(5, 5), torch.randn(5, 2)
    compiled = mlirfuse.compile(f)
    assert_same(compiled(a, b), f(a, b), rtol=1e-4, atol=1e-4)
    assert compiled.stats.eager_ops == 0 and compiled.stats.fallbacks == 0
    if "aten._linalg_check_errors.default" not in [e.op for e in compiled.explain().externs]:
        pytest.skip(f"torch {torch.__version__}'s export drops _linalg_check_errors (no "
                    "effect token): the compiled code cannot raise eager's error")
    singular = torch.zeros(5, 5)
    with pytest.raises(RuntimeError) as eager:
        f(singular, b)
    with pytest.raises(RuntimeError) as got:
        compiled(singular, b)
    assert str(got.value) == str(eager.value) and "singular" in str(got.value)


def test_tensors_without_elements():
    """A tensor with no elements may have a null address, which torch's from_blob rejects
    for a CUDA device (every op database sample of svd, eigh and inv on the H200): such
    tensors are made empty instead."""
    def f(x):
        u, s, vh = torch.linalg.svd(x)
        return u, s * 2, vh

    for shape in [(0, 0), (3, 0, 4), (4, 4)]:
        x = torch.randn(shape)
        compiled = mlirfuse.compile(f)
        assert_same(compiled(x), f(x), rtol=1e-4, atol=1e-4)
        assert compiled.stats.extern_calls == 1


def test_a_functions_own_seeding_runs_before_each_call():
    """torch.manual_seed inside the function, before its random ops, ran once at trace
    time and made the capture fail (dynamo split the function): it is a prologue now,
    replayed before each call; the random ops are extern calls drawing eager's numbers."""
    def f(x):
        torch.manual_seed(42)
        return torch.bernoulli(x.sigmoid()) + torch.rand_like(x) * x

    x = torch.randn(64)
    compiled = mlirfuse.compile(f)
    _assert_draws_as_eager(compiled, f, x)
    assert compiled.stats.eager_ops == 0 and compiled.stats.fallbacks == 0
    assert compiled.stats.extern_calls == 2


def test_seeding_after_a_random_op_is_not_replayed():
    """A seed between random ops cannot be a prologue: the function runs through dynamo
    (split at the seeding), with eager's results."""
    def g(x):
        y = torch.rand_like(x)
        torch.manual_seed(1)
        return y + torch.rand_like(x)

    x = torch.randn(16)
    compiled = mlirfuse.compile(g)
    for _ in range(2):
        torch.manual_seed(0)
        got = compiled(x)
        torch.manual_seed(0)
        assert_same(got, g(x))
    assert compiled.stats.eager_ops >= 1
    assert "seeds or draws" in " ".join(compiled.explain().notes)


def test_a_function_that_saves_seeds_and_restores_the_generator():
    """torch.testing's freeze_rng_state (the op database wraps every random op in it):
    the state is got and seeded before the random ops and restored after them; the
    compiled call does the same around the graph, so the generator ends as eager's."""
    from torch.testing._utils import freeze_rng_state

    def f(x):
        with freeze_rng_state():
            torch.manual_seed(42)
            return torch.nn.functional.dropout(x, 0.3, training=True) + torch.rand_like(x)

    x = torch.randn(32)
    compiled = mlirfuse.compile(f)
    _assert_draws_as_eager(compiled, f, x)
    assert compiled.stats.eager_ops == 0 and compiled.stats.extern_calls == 2


def test_an_op_failing_several_times_in_a_graph_is_an_extern_call_each_time():
    """Once one call of an op failed to compile, its other calls were screened as failed
    ones (eager), not made extern calls: the graph was partitioned around them
    (svd_lowrank of the op database: qr in a loop)."""
    def f(x):
        for _ in range(3):  # one signature: the same op, dtypes and constants
            x = torch.special.hermite_polynomial_he(x, 3).tanh() * 0.5
        return x

    x = torch.randn(6, 3)
    compiled = mlirfuse.compile(f)
    assert_same(compiled(x), f(x))
    assert compiled.stats.eager_ops == 0 and compiled.stats.extern_calls == 3


def pinv_of_constant_tolerance(x):
    # torch.full folds to a constant: a global of the host code after bufferization.
    return torch.linalg.pinv(x, atol=torch.full((), 0.1, device=x.device)) * 2


def test_constant_operand_is_in_host_memory():
    """A constant operand of an extern call is a global of the host code; the spec says so
    (`host 1`) and the runtime gives the op a device copy. On the H200 the op got the host
    address as a CUDA tensor ("resides on host memory"; before: a segfault)."""
    x = torch.randn(5, 5)
    compiled = mlirfuse.compile(pinv_of_constant_tolerance)
    assert_same(compiled(x), pinv_of_constant_tolerance(x), rtol=1e-4, atol=1e-4)
    assert compiled.stats.extern_calls == 1 and compiled.stats.eager_ops == 0
    (spec,) = re.findall(r'mlirfuse.extern = "([^"]*)"', compiled.ir("bufferized"))
    assert "\\0Aarg T 1\\0A" in spec and spec.endswith("\\0Ahost 1")


@pytest.mark.skipif(shutil.which("nm") is None, reason="needs binutils' nm")
def test_runtime_library_exports_only_its_functions():
    """The library is loaded RTLD_GLOBAL; the C++ template instantiations it holds must not
    be what libraries loaded later bind to (cuDNN called its std::ostream::_M_insert<long>
    and crashed on the H200)."""
    from mlirfuse.runtime import extern
    listing = subprocess.run(["nm", "-D", "--defined-only", extern.library_path()],
                             capture_output=True, text=True, check=True).stdout
    names = sorted(line.split()[-1] for line in listing.splitlines() if line.strip())
    assert names and all(n.startswith("mlirfuse_extern_") for n in names), names[:10]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_extern_call_then_cudnn_convolution():
    """On the H200, a cuDNN convolution after an extern call segfaulted in cuDNN's engine
    setup (through the runtime library's exported std::ostream code); one process, as a
    user's program, so a crash fails this test instead of killing the suite."""
    script = (
        "import torch, mlirfuse\n"
        "f = lambda x: torch.linalg.pinv(x, atol=torch.full((), 0.1, device=x.device)) * 2\n"
        "x = torch.randn(5, 5, device='cuda')\n"
        "c = mlirfuse.compile(f)\n"
        "assert torch.allclose(c(x), f(x), rtol=1e-4, atol=1e-4)\n"
        "assert c.stats.extern_calls == 1 and c.stats.eager_ops == 0\n"
        "conv = lambda a, w: torch.nn.functional.conv2d(a, w, padding=1).relu()\n"
        "a, w = torch.randn(2, 8, 9, 9, device='cuda'), torch.randn(4, 8, 3, 3, device='cuda')\n"
        "cc = mlirfuse.compile(conv)\n"
        "assert torch.allclose(cc(a, w), conv(a, w), rtol=2e-2, atol=2e-2)\n"
        "print('ok')\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0 and "ok" in done.stdout, done.stderr[-3000:]


def test_a_mark_copied_to_a_placeholder_is_no_extern_call():
    """A graph made from another can carry an extern call's mark in a placeholder's meta
    (the H200's training of a batch of another size: "'str' object has no attribute
    '_schema'", an internal error, and the graph ran eager)."""
    from mlirfuse.compiler import extern

    gm = torch.fx.symbolic_trace(lambda x: torch.ops.aten.sort.default(x)[0])
    placeholder = next(n for n in gm.graph.nodes if n.op == "placeholder")
    sort = next(n for n in gm.graph.nodes if n.target is torch.ops.aten.sort.default)
    for node in (sort, placeholder):
        node.meta.update({extern.MARK: "a spec", extern.WHY: "a test"})
    assert extern.marked_nodes(gm) == [sort]
