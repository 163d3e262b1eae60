"""Matmuls through the BLAS (mlirfuse-library-gemm): the layouts a GEMM takes as flags
(transposes, row strides of slices, batches), accumulation into a bias, f64, and what
stays generated code (integers, broadcast operands). On the CPU the calls go to the MKL
inside torch (runtime/blas.py); on CUDA (MLIRFUSE_TEST_DEVICE=cuda) to cuBLAS."""

from __future__ import annotations

import ctypes
import os
import shutil

import pytest
import torch

import mlirfuse
from conftest import DEVICE, assert_same
from mlirfuse.runtime import blas

pytestmark = pytest.mark.usefixtures("no_grad")

CALL = "call @mlirfuse_gemm" if DEVICE == "cuda" else "call @mlirfuse_cpu_gemm"
CALL_STAGE = "gpu" if DEVICE == "cuda" else "bufferized"


def _randn(*shape, seed=0, dtype=torch.float32):
    gen = torch.Generator(torch.get_default_device()).manual_seed(seed)
    return torch.randn(*shape, generator=gen, dtype=dtype)


LAYOUTS = {
    "plain": lambda: (_randn(24, 40), _randn(40, 16, seed=1)),
    "a_transposed": lambda: (_randn(40, 24).t(), _randn(40, 16, seed=1)),
    "b_transposed": lambda: (_randn(24, 40), _randn(16, 40, seed=1).t()),
    "both_transposed": lambda: (_randn(40, 24).t(), _randn(16, 40, seed=1).t()),
    "row_slices": lambda: (_randn(30, 48)[3:27, 4:44], _randn(50, 20, seed=1)[5:45, 2:18]),
}


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_matmul_layouts_are_library_calls(layout):
    a, b = LAYOUTS[layout]()
    compiled = mlirfuse.compile(torch.matmul)
    assert_same(compiled(a, b), a @ b, rtol=1e-4, atol=1e-4)
    assert compiled.ir(CALL_STAGE).count(CALL) == 1


@pytest.mark.parametrize("shapes", [((1, 40), (40, 16)), ((24, 40), (40, 1)), ((40,), (40, 3))])
def test_matrix_vector_products(shapes):
    """A unit dimension folds away (a matrix-vector product): generated code, right."""
    a, b = _randn(*shapes[0]), _randn(*shapes[1], seed=1)
    assert_same(mlirfuse.compile(torch.matmul)(a, b), a @ b, rtol=1e-4, atol=1e-4)


def test_batched_and_broadcast_batch():
    def f(x, y, w):
        return torch.bmm(x, y), x @ w  # w is shared by every batch

    x, y, w = _randn(3, 8, 20), _randn(3, 20, 12, seed=1), _randn(20, 12, seed=2)
    compiled = mlirfuse.compile(f)
    assert_same(compiled(x, y, w), f(x, y, w), rtol=1e-4, atol=1e-4)
    assert compiled.ir(CALL_STAGE).count(CALL) == 2


def test_attention_products_are_library_calls():
    """Heads are views whose loops do not nest like one batch (q @ k^T over batch x
    heads) or one reduction (the output projection sums over heads and head dims):
    BLAS calls on packed copies, no generated matmul."""
    b, s, h, d = 2, 16, 4, 8

    def attention(x, w_qkv, w_out):
        q, k, v = (x @ w_qkv.t()).view(b, s, 3, h, d).permute(2, 0, 3, 1, 4).unbind(0)
        weights = torch.softmax(q @ k.transpose(-1, -2) * d ** -0.5, -1)
        return (weights @ v).transpose(1, 2).reshape(b, s, h * d) @ w_out.t()

    args = _randn(b, s, h * d), _randn(3 * h * d, h * d, seed=1), _randn(h * d, h * d, seed=2)
    compiled = mlirfuse.compile(attention)
    assert_same(compiled(*args), attention(*args), rtol=1e-4, atol=1e-4)
    assert compiled.ir(CALL_STAGE).count(CALL) == 4
    # Packed into contiguous copies first (pack=true): one call each, no host loop.
    assert "mlirfuse.host" not in compiled.ir(CALL_STAGE)


def test_linear_with_bias_and_epilogue():
    model = torch.nn.Sequential(torch.nn.Linear(64, 48), torch.nn.GELU(),
                                torch.nn.Linear(48, 8)).eval()
    x = _randn(32, 64)
    compiled = mlirfuse.compile(model)
    assert_same(compiled(x), model(x), rtol=1e-4, atol=1e-4)
    assert compiled.ir(CALL_STAGE).count(CALL) == 2


def test_addmm_accumulates_into_its_input():
    def f(c, a, b):
        return torch.addmm(c, a, b)

    c, a, b = _randn(16, 24), _randn(16, 32, seed=1), _randn(32, 24, seed=2)
    assert_same(mlirfuse.compile(f)(c, a, b), f(c, a, b), rtol=1e-4, atol=1e-4)


def test_float64_is_a_library_call():
    a, b = _randn(12, 30, dtype=torch.float64), _randn(30, 7, seed=1, dtype=torch.float64)
    compiled = mlirfuse.compile(torch.matmul)
    assert_same(compiled(a, b), a @ b)
    assert CALL in compiled.ir(CALL_STAGE)


def test_broadcast_operand_stays_generated_code():
    expanded = _randn(1, 8).expand(6, 8)
    fn = lambda x: x.t() @ (x * 2)  # noqa: E731
    compiled = mlirfuse.compile(fn)
    assert_same(compiled(expanded), fn(expanded), rtol=1e-4, atol=1e-4)
    assert CALL not in compiled.ir(CALL_STAGE)


@pytest.mark.cpu_only("eager CUDA has no integer matmul to compare with")
def test_integer_matmul_stays_generated_code():
    a, b = torch.randint(-9, 9, (6, 5)), torch.randint(-9, 9, (5, 4))
    compiled = mlirfuse.compile(torch.matmul)
    assert_same(compiled(a, b), a @ b)
    assert CALL not in compiled.ir(CALL_STAGE)


@pytest.mark.cpu_only("the CPU's BLAS runtime")
def test_cpu_gemm_finds_torchs_blas():
    assert blas.ready(), "sgemm_ was not found in libtorch_cpu.so: matmuls run as loops"


@pytest.mark.cpu_only("the CPU's BLAS runtime")
def test_cpu_gemm_loops_without_a_blas(tmp_path):
    """The runtime's own loops (a torch without an exported sgemm_), on transposed and
    strided operands, accumulating: a second copy of the library, never initialized."""
    copy = tmp_path / "libmlirfuse_blas_copy.so"
    shutil.copy(blas.library_path(), copy)
    lib = ctypes.CDLL(os.fspath(copy))
    assert not lib.mlirfuse_blas_ready()
    a = _randn(7, 5).t()            # 5 x 7, strides (1, 5)
    b = _randn(20, 6, seed=1)[::2]  # 10 rows of which 7 used below: strides (12, 1)
    b = b[:7]
    c = _randn(5, 6, seed=2)
    expected = c + a @ b
    i64 = ctypes.c_int64
    args = [ctypes.c_int32(0), i64(1), i64(5), i64(6), i64(7)]
    for t, (row, col) in ((a, a.stride()), (b, b.stride()), (c, c.stride())):
        args += [i64(t.data_ptr()), i64(0), i64(0), i64(row), i64(col)]
    lib.mlirfuse_cpu_gemm(*args, ctypes.c_int32(1))
    torch.testing.assert_close(c, expected, rtol=1e-5, atol=1e-5)


CONVS = {
    "plain_bias_relu": (dict(padding=1), (2, 8, 10, 10), (16, 8, 3, 3)),
    "strided": (dict(stride=2, padding=2), (2, 3, 17, 17), (8, 3, 5, 5)),
    "dilated": (dict(dilation=2), (1, 4, 12, 12), (6, 4, 3, 3)),
    "pointwise": (dict(), (2, 16, 7, 7), (32, 16, 1, 1)),
    "grouped": (dict(groups=2, padding=1), (2, 8, 9, 9), (8, 4, 3, 3)),
}


@pytest.mark.parametrize("name", sorted(CONVS))
def test_convolutions(name):
    """2-D convolutions as an im2col gather and a matmul (mlirfuse-conv-to-gemm; on the
    CPU a BLAS call per image, was a 7-deep scalar loop nest); grouped ones stay
    generated code. Results against eager. (By default the CPU runs torch's kernel for
    them, compiler/library_kernels.py: here the generated code, library_kernels=False.)"""
    kwargs, x_shape, w_shape = CONVS[name]
    x, w, b = _randn(*x_shape), _randn(*w_shape, seed=1), _randn(w_shape[0], seed=2)

    def conv(x, w, b):
        return torch.relu(torch.nn.functional.conv2d(x, w, b, **kwargs))

    compiled = mlirfuse.compile(conv, library_kernels=False)
    assert_same(compiled(x, w, b), conv(x, w, b), rtol=1e-4, atol=1e-4)
    if DEVICE == "cpu":  # the GPU keeps its generated convolution kernel for now
        assert (CALL in compiled.ir(CALL_STAGE)) == (name != "grouped")
