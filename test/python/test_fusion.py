"""Fusion: how many kernels each pattern takes, and that fused code matches eager.

Counts are `compiled.stats.kernels` after a call: the loop nests the compiled
code ran. Row reductions (softmax, log_softmax, layer_norm, rmsnorm) take one
kernel: every op is computed per row inside one parallel loop.
"""

import pytest
import torch
import torch.nn.functional as F

import mlirfuse
from conftest import DEVICE, assert_same

torch.manual_seed(0)
R, C = 32, 64


def gelu_bias(y, bias):
    x = bias + y
    return x * 0.5 * (1.0 + torch.tanh(0.79788456 * x * (1 + 0.044715 * x * x)))


def chunk3(x):
    a, b, c = x.chunk(3, 1)
    return a * b + c


def x():
    return torch.randn(R, C)


def row():
    return torch.randn(C)


ONE_KERNEL = {
    "gelu_bias": (gelu_bias, lambda: (x(), row())),
    "swish": (lambda x: x * torch.sigmoid(x), lambda: (x(),)),
    "mish": (lambda x: x.mul(torch.tanh(F.softplus(x))), lambda: (x(),)),
    "hard_sigmoid": (F.hardsigmoid, lambda: (x(),)),
    "hard_swish": (lambda x: x * (x + 3.0).clamp(min=0.0, max=6.0).div(6.0), lambda: (x(),)),
    "hard_mish": (lambda x: 0.5 * x * (x + 2).clamp(min=0, max=2), lambda: (x(),)),
    "scaleshift_relu": (lambda x, s, b: torch.relu(x * s + b), lambda: (x(), row(), row())),
    "exp_axpy": (lambda x, y: (x + 0.5 * y).exp(), lambda: (x(), x())),
    "clamp_add": (lambda a, b: torch.clamp(a + b, 0, 2), lambda: (x(), x())),
    "type_as": (lambda x, y: (x > 0).type_as(x) * x + y, lambda: (x(), x())),
    "where_max": (lambda x, y: torch.where(x > y, x, y), lambda: (x(), x())),
    "lerp_broadcast": (lambda a, b: torch.lerp(a + 1, b, 0.5), lambda: (x(), row())),
    "chunk": (chunk3, lambda: (torch.randn(R, 3 * C),)),
    "cat": (lambda x, y: torch.cat([x + y, x * y]), lambda: (x(), x())),
    "int_chain": (lambda a, b: (a * b + a) & 7,
                  lambda: (torch.randint(0, 100, (R, C)), torch.randint(0, 100, (R, C)))),
    # Row reductions: one kernel each (one parallel loop over rows).
    "softmax": (lambda x: torch.softmax(x, -1), lambda: (x(),)),
    "log_softmax": (lambda x: torch.log_softmax(x, -1), lambda: (x(),)),
    "layer_norm": (lambda x, w, b: F.layer_norm(x, (C,), w, b), lambda: (x(), row(), row())),
    "rmsnorm": (lambda x, w: x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-6) * w,
                lambda: (x(), row())),
}

# On the GPU a concatenation is a kernel per piece writing its slice of the result (a
# piece's tile under one select would need an scf.if inside the kernel); the first
# piece still goes through a temporary and a copy (one-shot bufferization's choice).
GPU_KERNELS = {"cat": 3}


@pytest.mark.parametrize("name", sorted(ONE_KERNEL))
def test_one_kernel(name):
    fn, make = ONE_KERNEL[name]
    args = make()
    compiled = mlirfuse.compile(fn, args)
    torch.testing.assert_close(compiled(*args), fn(*args), rtol=1e-5, atol=1e-5)
    expected = GPU_KERNELS.get(name, 1) if DEVICE == "cuda" else 1
    assert compiled.stats.kernels == expected, compiled.ir("kernels")


class LSTMCell(torch.nn.Module):
    def __init__(self, n_in=32, n_hidden=64):
        super().__init__()
        self.w_ih = torch.nn.Parameter(torch.randn(4 * n_hidden, n_in) / 8)
        self.w_hh = torch.nn.Parameter(torch.randn(4 * n_hidden, n_hidden) / 8)
        self.b_ih = torch.nn.Parameter(torch.randn(4 * n_hidden))
        self.b_hh = torch.nn.Parameter(torch.randn(4 * n_hidden))

    def forward(self, x, hx, cx):
        gates = x @ self.w_ih.t() + hx @ self.w_hh.t() + self.b_ih + self.b_hh
        i, f, g, o = gates.chunk(4, 1)
        i, f, g, o = torch.sigmoid(i), torch.sigmoid(f), torch.tanh(g), torch.sigmoid(o)
        cy = f * cx + i * g
        return o * torch.tanh(cy), cy


def test_lstm_cell_is_its_matmuls_plus_one_pointwise_kernel():
    """The bias add moves below gates.chunk(4) (mlirfuse-bubble-up-slices) into each
    gate's sigmoid or tanh, and cy, returned and read by hy, is a second result of hy's
    kernel (mlirfuse-fuse-multi-use): one kernel where there were three."""
    cell = LSTMCell()
    args = (torch.randn(8, 32), torch.randn(8, 64), torch.randn(8, 64))
    compiled = mlirfuse.compile(cell, args)
    with torch.no_grad():  # weights require grad: compiled code runs under no_grad only
        torch.testing.assert_close(compiled(*args), cell(*args), rtol=1e-5, atol=1e-5)
    # The matmuls are library calls (MKL, cuBLAS), no loop nests of ours.
    stage, gemm = ("loops", "call @mlirfuse_cpu_gemm") if DEVICE == "cpu" \
        else ("gpu", "call @mlirfuse_gemm")
    assert compiled.stats.kernels == 1, compiled.ir(stage)
    assert compiled.ir(stage).count(gemm) == 2


def test_matmul_epilogue_fuses():
    model = torch.nn.Sequential(torch.nn.Linear(64, 32), torch.nn.ReLU()).eval()
    args = (torch.randn(16, 64),)
    compiled = mlirfuse.compile(model, args)
    with torch.no_grad():
        torch.testing.assert_close(compiled(*args), model(*args))
    assert compiled.stats.kernels == 1  # weight transpose folds into the matmul's maps


@pytest.mark.parametrize("dtype", [torch.int32, torch.int64, torch.bool, torch.float16,
                                   torch.bfloat16, torch.float64])
def test_dtype_chains_fuse(dtype):
    if dtype == torch.bool:
        fn = lambda a, b: (a & b) | ~a  # noqa: E731
        args = (torch.rand(R, C) > 0.5, torch.rand(R, C) > 0.5)
    elif dtype.is_floating_point:
        fn = lambda a, b: torch.relu(a * b + a) - 0.5 * b  # noqa: E731
        args = (torch.randn(R, C, dtype=dtype), torch.randn(R, C, dtype=dtype))
    else:
        fn = lambda a, b: (a * b + a) // 3 - b  # noqa: E731
        args = (torch.randint(-50, 50, (R, C), dtype=dtype),
                torch.randint(1, 50, (R, C), dtype=dtype))
    compiled = mlirfuse.compile(fn, args)
    out = compiled(*args)
    assert out.dtype == dtype
    tol = {torch.float16: 1e-2, torch.bfloat16: 5e-2}.get(dtype, 1e-6)
    torch.testing.assert_close(out, fn(*args), rtol=tol, atol=tol)
    assert compiled.stats.kernels == 1


def test_fused_stage_shows_groups():
    compiled = mlirfuse.compile(lambda x: torch.softmax(x, -1), (x(),))
    fused = compiled.ir("fused")
    assert fused.count('"mlirfuse.group"') == 1
    assert 'kernel = "kernel_0"' in fused
    guarded = compiled.ir("guarded")
    assert guarded.count('"mlirfuse.guard"') == 2  # the input and the output


def test_many_rows_with_per_row_temporaries():
    # Regression: per-row temporaries promoted to the stack inside the row loop grew the
    # stack every iteration and crashed the process at 4096 rows of layer_norm.
    x, w, b = torch.randn(4096, 1024), torch.randn(1024), torch.randn(1024)
    fn = lambda x, w, b: F.layer_norm(x, (1024,), w, b)  # noqa: E731
    compiled = mlirfuse.compile(fn, (x, w, b))
    torch.testing.assert_close(compiled(x, w, b), fn(x, w, b), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("count", [18, 70])
def test_wide_elementwise_op(count):
    """One elementwise op reading 18 tensors (a fused chain of adds) is one kernel; it
    failed to compile before (a fusion group took at most 16 inputs: an internal error).
    70 is more than a kernel takes (64): a CompileError naming the op, not a crash, with
    on_unsupported="error"; by default the graph is split in two, both compiled."""
    def chain(*xs):
        out = xs[0]
        for x in xs[1:]:
            out = out * 0.5 + x
        return out

    xs = [torch.randn(64) for _ in range(count)]
    compiled = mlirfuse.compile(chain)
    assert_same(compiled(*xs), chain(*xs))
    assert compiled.stats.eager_ops == 0
    if count <= 64:
        assert compiled.stats.kernels == 1
    else:
        assert len(compiled.explain().pieces) == 2
        strict = mlirfuse.compile(chain, on_unsupported="error")
        with pytest.raises(mlirfuse.CompileError, match="'linalg.generic' reads 70 tensors"):
            strict(*xs)


def test_reductions_sharing_one_fill():
    """cosine_similarity's three row sums started from one zero fill (CSE merged them);
    tiled, the two inner sums started from the tile the root accumulates into and read
    garbage: results of 1e35 (mlirfuse-tile-kernels now gives each its own fill)."""
    def f(a, b):
        return torch.nn.functional.cosine_similarity(a, b, dim=1)

    a, b = torch.randn(5, 5) * 4, torch.randn(5, 5) * 4
    for _ in range(3):  # the garbage differed from call to call
        assert_same(mlirfuse.compile(f)(a, b), f(a, b))


@pytest.mark.parametrize("fn", [
    lambda x: (lambda t: torch.cat([t, t], -1)[..., ::2])(torch.tanh(x)),
    lambda x: (lambda t: torch.cat([t, t * 2], 0))(torch.tanh(x)),
    lambda x: (lambda t: torch.stack([t, t], -1))(torch.tanh(x))], ids=["cat", "cat2", "stack"])
def test_concatenating_one_computed_tensor_twice(fn):
    """torch.cat([t, t]) of a computed t killed the process while compiling (SIGSEGV in
    upstream fuse_into_containing_op, mlirfuse-tile-kernels: issue 15's first program)."""
    x = torch.randn(64, 2)
    assert_same(mlirfuse.compile(fn)(x), fn(x))
