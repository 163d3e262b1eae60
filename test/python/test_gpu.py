"""The CUDA target: kernels through gpu/nvvm to PTX, run on torch's current stream.

The tests that need no GPU (the "gpu" and "ptx" stages, llc as a subprocess: CI runs
them) are in test_gpu_stages.py. These need a CUDA device and skip without one. The
whole numerics suite also runs on CUDA tensors with MLIRFUSE_TEST_DEVICE=cuda
(conftest.py makes CUDA the default device).
"""

import pytest
import torch
import torch.nn.functional as F

import mlirfuse
from mlirfuse.compiler import specialize
from mlirfuse.compiler.options import Options
from conftest import assert_same

needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(),
                                reason="needs a CUDA device (none on this machine)")


def gelu_bias(y, bias):
    x = bias + y
    return x * 0.5 * (1.0 + torch.tanh(0.79788456 * x * (1 + 0.044715 * x * x)))


def rmsnorm(x, w):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-6) * w


def lstm_cell(x, hx, cx, w_ih, w_hh, b_ih, b_hh):
    gates = x @ w_ih.t() + hx @ w_hh.t() + b_ih + b_hh
    i, f, g, o = gates.chunk(4, 1)
    cy = torch.sigmoid(f) * cx + torch.sigmoid(i) * torch.tanh(g)
    return torch.sigmoid(o) * torch.tanh(cy)


R, C = 64, 256
WORKLOADS = {
    "gelu_bias": (gelu_bias, lambda d: (torch.randn(R, C, device=d), torch.randn(C, device=d))),
    "swish": (lambda x: x * torch.sigmoid(x), lambda d: (torch.randn(R, C, device=d),)),
    "mish": (lambda x: x.mul(torch.tanh(F.softplus(x))), lambda d: (torch.randn(R, C, device=d),)),
    "hard_swish": (lambda x: x * (x + 3.0).clamp(min=0.0, max=6.0).div(6.0),
                   lambda d: (torch.randn(R, C, device=d),)),
    "layer_norm": (lambda x, w, b: F.layer_norm(x, (C,), w, b),
                   lambda d: (torch.randn(R, C, device=d), torch.randn(C, device=d),
                              torch.randn(C, device=d))),
    "rmsnorm": (rmsnorm, lambda d: (torch.randn(R, C, device=d), torch.randn(C, device=d))),
    "softmax": (lambda x: torch.softmax(x, -1), lambda d: (torch.randn(R, C, device=d),)),
    "scaleshift_relu": (lambda x, s, b: torch.relu(x * s + b),
                        lambda d: (torch.randn(R, C, device=d), torch.randn(C, device=d),
                                   torch.randn(C, device=d))),
    "lstm_cell": (lstm_cell, lambda d: tuple(torch.randn(*s, device=d) for s in (
        (8, 32), (8, 32), (8, 32), (128, 32), (128, 32), (128,), (128,)))),
    "column_sum": (lambda x: x.sum(0) * 2, lambda d: (torch.randn(R, C, device=d),)),
    "argmax": (lambda x: x.argmax(-1), lambda d: (torch.randn(R, C, device=d),)),
    "cumsum": (lambda x: torch.cumsum(x, 0) + 1, lambda d: (torch.randn(R, device=d),)),
    # Regression: the CPU's fused concatenation (pads under a select) put an scf.if
    # yielding buffers into the kernel, which the GPU mapping cannot spread over threads.
    "cat": (lambda x, y: torch.cat([x + y, x * y]),
            lambda d: (torch.randn(R, C, device=d), torch.randn(R, C, device=d))),
}


def _stages(fn, args, chip="sm_90"):
    return specialize.lower(fn, args, Options(), stop_after="ptx", target=f"cuda:{chip}")[2].texts


def test_unknown_device_option_is_an_error():
    with pytest.raises(ValueError, match="device='tpu'"):
        mlirfuse.compile(lambda x: x + 1, device="tpu")
    with pytest.raises(ValueError, match="sm_90"):
        mlirfuse.compile(lambda x: x + 1, chip="ampere")


@needs_cuda
@pytest.mark.parametrize("name", sorted(WORKLOADS))
def test_cuda_matches_eager(name, no_grad):
    fn, make = WORKLOADS[name]
    args = make("cuda")
    compiled = mlirfuse.compile(fn)
    out = compiled(*args)
    assert_same(out, fn(*args), rtol=1e-4, atol=1e-4)
    assert compiled.stats.compilations == 1
    assert "gpu.launch_func" in compiled.ir("gpu")
    out = compiled(*make("cuda"))  # fresh inputs: the same code, other values
    assert compiled.stats.compilations == 1


@needs_cuda
def test_cuda_runs_on_the_current_stream(no_grad):
    """Kernels launch on torch.cuda.current_stream(): results are complete after that
    stream's work, with nothing synchronized by the compiled code."""
    fn, make = WORKLOADS["softmax"]
    x = make("cuda")[0]
    compiled = mlirfuse.compile(fn)
    compiled(x)
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        big = torch.randn(4096, 4096, device="cuda")
        for _ in range(4):
            big = big @ big / 64  # queue work ahead of the kernel on the side stream
        out = compiled(x * 1.0)
        expected = fn(x)
    side.synchronize()
    assert_same(out, expected, rtol=1e-5, atol=1e-5)


@needs_cuda
def test_cuda_torch_compile_backend(no_grad):
    fn, make = WORKLOADS["layer_norm"]
    args = make("cuda")
    out = torch.compile(fn, backend="mlirfuse")(*args)
    assert_same(out, fn(*args), rtol=1e-4, atol=1e-4)


@needs_cuda
def test_cuda_module_with_parameters_and_guards(no_grad):
    model = torch.nn.Sequential(torch.nn.Linear(32, 64), torch.nn.GELU(),
                                torch.nn.LayerNorm(64)).cuda().eval()
    compiled = mlirfuse.compile(model)
    x = torch.randn(16, 32, device="cuda")
    assert_same(compiled(x), model(x), rtol=1e-4, atol=1e-4)
    xt = torch.randn(32, 16, device="cuda").t()  # other strides: the guard fails
    assert_same(compiled(xt), model(xt), rtol=1e-4, atol=1e-4)
    assert compiled.stats.guard_failures == 1 and compiled.stats.compilations == 2


@needs_cuda
def test_cuda_bad_ptx_is_an_exception_not_a_crash(no_grad):
    """PTX for a chip the device cannot run fails to load: a CompileError at 'jit', or
    by default the op runs eager."""
    fn = lambda x: x * 2  # noqa: E731
    compiled = mlirfuse.compile(fn, chip="sm_100a", on_unsupported="error")
    with pytest.raises(mlirfuse.CompileError, match="cuModuleLoadData"):
        compiled(torch.randn(8, device="cuda"))
    compiled = mlirfuse.compile(fn, chip="sm_100a")
    x = torch.randn(8, device="cuda")
    assert_same(compiled(x), fn(x))
    assert "cuModuleLoadData" in compiled.explain().eager[0].reason


@needs_cuda
def test_cuda_tensors_on_the_cpu_device_option_is_an_error(no_grad):
    fn = lambda x: x + 1  # noqa: E731
    with pytest.raises(mlirfuse.CompileError, match="compiled for cpu"):
        mlirfuse.compile(fn, device="cpu", on_unsupported="error")(torch.randn(4, device="cuda"))
    x = torch.randn(4, device="cuda")
    compiled = mlirfuse.compile(fn, device="cpu")
    assert_same(compiled(x), fn(x))  # the op runs eager, on the tensor's device
    assert "moves data between devices" in compiled.explain().eager[0].reason


@needs_cuda
def test_cuda_misaligned_argument_recompiles_without_vector_loads(no_grad):
    """Code built for 16-byte aligned tensors (vector loads) is not run on a view that is
    not: its guard fails, and the new specialization uses scalar accesses."""
    fn = WORKLOADS["swish"][0]
    compiled = mlirfuse.compile(fn)
    aligned = torch.randn(64, 256, device="cuda")
    assert_same(compiled(aligned), fn(aligned), rtol=1e-5, atol=1e-5)
    assert "ld.global.v4" in compiled.ir("ptx")
    shifted = torch.randn(64 * 256 + 1, device="cuda")[1:].view(64, 256)
    assert_same(compiled(shifted), fn(shifted), rtol=1e-5, atol=1e-5)
    assert compiled.stats.guard_failures == 1 and compiled.stats.compilations == 2
    assert "ld.global.v4" not in compiled.ir("ptx")


@needs_cuda
@pytest.mark.parametrize("name", ["mlp", "attention"])
def test_cuda_contractions_are_cublas_calls(name, no_grad):
    """Matmuls (transposed, batched over several loops) become cuBLAS calls, their
    epilogues kernels of their own; nothing of a producer is fused into them."""
    if name == "mlp":
        model = torch.nn.Sequential(torch.nn.Linear(64, 256), torch.nn.GELU(),
                                    torch.nn.Linear(256, 64)).cuda().eval()
        args = (torch.randn(32, 64, device="cuda"),)
        calls = 2
    else:
        def model(q, k, v):
            return torch.softmax(q @ k.transpose(-1, -2) * 0.125, -1) @ v
        args = tuple(torch.randn(2, 4, 32, 16, device="cuda") for _ in range(3))
        calls = 2
    compiled = mlirfuse.compile(model)
    assert_same(compiled(*args), model(*args), rtol=1e-4, atol=1e-4)
    assert compiled.ir("gpu").count("call @mlirfuse_gemm") == calls


def test_broadcast_operand_is_no_cublas_call_without_a_gpu():
    """A matmul operand with stride 0 (an expanded tensor) cannot be a cuBLAS matrix (its
    leading dimension would be 0: the H100 computed wrong results); the contraction
    stays a generated kernel. The same matmul on contiguous data is a cuBLAS call."""
    def f(x):
        return x.t() @ (x * 2)

    expanded = torch.randn(1, 8).expand(6, 8)
    assert "call @mlirfuse_gemm" not in _stages(f, (expanded,))["gpu"]
    assert "call @mlirfuse_gemm" in _stages(f, (expanded.contiguous(),))["gpu"]


@needs_cuda
def test_cuda_compiled_functions_are_freed_without_a_crash(no_grad):
    """Dropping compiled functions, then compiling and running more, works: each
    specialization's host code is a shared library, unloaded with its kernel modules
    (runtime/host_library.py). With the ExecutionEngine's JIT code freed, a later C++
    exception crashed in the unwinder on the H200 (test_free_gpu.py runs the suites that
    showed it)."""
    import gc

    x = torch.randn(64, 256, device="cuda")
    for k in range(12):
        fn = (lambda t, k=k: torch.softmax(t * (k + 1), -1) + k)
        compiled = mlirfuse.compile(fn, (x,))
        torch.testing.assert_close(compiled(x), fn(x))
        del compiled
        gc.collect()
    torch.cuda.synchronize()


CONVOLUTIONS = {
    "bias_relu": (lambda x, w, b: torch.relu(F.conv2d(x, w, b, padding=1)),
                  lambda d: (torch.randn(4, 16, 12, 12, device=d),
                             torch.randn(32, 16, 3, 3, device=d), torch.randn(32, device=d))),
    "batch_one": (lambda x, w: F.conv2d(x, w, padding=1),
                  lambda d: (torch.randn(1, 8, 10, 10, device=d), torch.randn(4, 8, 3, 3, device=d))),
    "stride_dilation": (lambda x, w, b: F.conv2d(x, w, b, stride=2, dilation=2, padding=2),
                        lambda d: (torch.randn(2, 3, 17, 15, device=d),
                                   torch.randn(5, 3, 3, 3, device=d), torch.randn(5, device=d))),
    "one_channel": (lambda x, w: F.conv2d(x, w),
                    lambda d: (torch.randn(2, 1, 9, 9, device=d), torch.randn(4, 1, 3, 3, device=d))),
    "float64": (lambda x, w: F.conv2d(x, w),
                lambda d: (torch.randn(2, 8, 9, 9, device=d, dtype=torch.float64),
                           torch.randn(4, 8, 3, 3, device=d, dtype=torch.float64))),
    "grouped": (lambda x, w: F.conv2d(x, w, groups=2),  # no cuDNN call: generated code
                lambda d: (torch.randn(2, 4, 9, 9, device=d), torch.randn(4, 2, 3, 3, device=d))),
}


@pytest.mark.parametrize("name", sorted(CONVOLUTIONS))
def test_convolutions_are_cudnn_calls_without_a_gpu(name):
    """2-D convolutions become cuDNN calls (mlirfuse-library-conv), not generated kernels
    (a direct convolution kernel was 130x eager's time on the H200); grouped ones stay
    generated code."""
    fn, make = CONVOLUTIONS[name]
    texts = _stages(fn, make("cpu"))
    calls = texts["gpu"].count("call @mlirfuse_conv2d")
    assert calls == (0 if name == "grouped" else 1)
    if name == "bias_relu":
        # The padding's fill and copy, then cuDNN, then bias + relu in one kernel
        # (mlirfuse-conv-bias-epilogue: no bias broadcast before the call), a thread per
        # 4-float vector: 4 * 32 * 12 * 12 / 4 / 256 = 18 blocks.
        launches = [line for line in texts["gpu"].splitlines() if "gpu.launch_func" in line]
        assert len(launches) == 3
        assert "blocks in (%c18," in launches[-1] and "memref<32xf32>" in launches[-1]
    assert ".entry" in texts["ptx"] or "gpu.launch_func" not in texts["gpu"]


@needs_cuda
@pytest.mark.parametrize("tf32", [False, True])
@pytest.mark.parametrize("name", sorted(CONVOLUTIONS))
def test_cuda_convolutions_match_eager(name, tf32, no_grad):
    """cuDNN's result, under torch.backends.cudnn.allow_tf32 as eager's (TF32 tensor
    cores allowed: a looser tolerance, the two may pick different algorithms)."""
    fn, make = CONVOLUTIONS[name]
    args = make("cuda")
    before = torch.backends.cudnn.allow_tf32
    torch.backends.cudnn.allow_tf32 = tf32
    try:
        compiled = mlirfuse.compile(fn)
        tol = 2e-2 if tf32 and args[0].dtype == torch.float32 else 1e-4
        assert_same(compiled(*args), fn(*args), rtol=tol, atol=tol)
        fresh = make("cuda")
        assert_same(compiled(*fresh), fn(*fresh), rtol=tol, atol=tol)
    finally:
        torch.backends.cudnn.allow_tf32 = before


@needs_cuda
def test_cuda_pool_indices_run_eager(no_grad):
    """On the H200 max pooling's indices came out wrong: those run eager; max pooling
    without indices still compiles. (as_strided, here before, compiles now:
    test_gpu_constants.py.)"""
    x = torch.randn(2, 4, 6, 6, device="cuda")
    cases = [lambda x: torch.nn.functional.max_pool2d(x, 2, return_indices=True),
             lambda x: torch.nn.functional.adaptive_max_pool2d(x, (3, 2), return_indices=True)]
    for fn in cases:
        assert_same(mlirfuse.compile(fn)(x), fn(x))
    torch.cuda.synchronize()
    pool = mlirfuse.compile(lambda x: torch.nn.functional.max_pool2d(x, 2) + 1)
    pool(x)
    assert pool.stats.eager_ops == 0


@needs_cuda
@pytest.mark.parametrize("fn", [
    lambda x: torch.cumsum(x, 1), lambda x: torch.cumprod(x.half(), 1),
    lambda x: torch.sort(x, 1)[0], lambda x: torch.topk(x, 2, 1)[0]],
    ids=["cumsum", "cumprod-f16", "sort", "topk"])
def test_cuda_scans_and_sorts_of_no_rows(fn, no_grad):
    """A scan, sort or topk along the rows of a [0, 8] tensor: temporaries of 0 bytes
    still make a workspace argument, which the call did not pass; the host code read past
    its arguments (SIGSEGV on the H200; bench/fuzz.py seeds 769, 1021, 1596)."""
    x = torch.randn(0, 8, device="cuda")
    assert_same(mlirfuse.compile(fn)(x), fn(x))
    torch.cuda.synchronize()


@needs_cuda
@pytest.mark.parametrize("shape", [(2, 1, 8), (3, 1, 40), (2, 2, 8)])
def test_cuda_argmax_then_arithmetic(shape, no_grad):
    """An argmax whose index feeds more arithmetic in the same kernel keeps its running
    maximum in shared memory; the reduction loop read the fill's -inf at every step, and
    the last index won (the H200, bench/fuzz.py seed 623; lit gpu-registers.mlir)."""
    f = lambda x: torch.tanh(x.add_(1)).argmax(2) * 2 + 1  # noqa: E731
    x = torch.randn(shape, device="cuda")
    ours, theirs = x.clone(), x.clone()
    assert_same(mlirfuse.compile(f)(ours), f(theirs))
    assert_same(ours, theirs)
