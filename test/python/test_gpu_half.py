"""Half-precision matmuls on CUDA: cuBLAS on tensor cores, f32 sums, not generated code.

torch-mlir lowers a bf16 or f16 matmul to a contraction of half inputs summed into an
f32 result and a rounding after it (structured.is_widening_mul_add). With
MLIRFUSE_CUDA_HALF_GEMM=1 (library_gemm.HALF_INPUTS; off until the H200 has run it)
mlirfuse-library-gemm makes it a cuBLAS call (dtype 4 or 5); off, it is generated code
(GPT-2 124M in bf16 took 1.1 s a call on the H200, eager 9 ms). The first test needs
no GPU; the other skips without one.
"""

import re
import sys
import os

import pytest
import torch

import mlirfuse
from conftest import assert_same
from mlirfuse.compiler.passes import library_gemm

sys.path.insert(0, os.path.dirname(__file__))
from test_gpu_dynamic import _gpu_stage  # noqa: E402

needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(),
                                reason="needs a CUDA device (none on this machine)")


def two_linears(x, w, w2):
    return torch.nn.functional.gelu(x @ w.t()) @ w2


@pytest.mark.parametrize("dtype,code", [(torch.bfloat16, 5), (torch.float16, 4)])
def test_half_matmuls_lower_to_cublas_calls(monkeypatch, dtype, code):
    """Both matmuls of a half-precision MLP are cuBLAS calls of half inputs and an f32
    result, the GELU between them one kernel; off, the matmuls were kernels."""
    x, w, w2 = (torch.randn(*s, dtype=dtype) for s in ((16, 64), (256, 64), (256, 32)))
    text, _ = _gpu_stage(two_linears, (x, w, w2), None)
    assert "call @mlirfuse_gemm" not in text  # the default until the H200 runs it
    monkeypatch.setattr(library_gemm, "HALF_INPUTS", True)
    text, _ = _gpu_stage(two_linears, (x, w, w2), None)
    calls = [line for line in text.splitlines() if "call @mlirfuse_gemm" in line]
    assert len(calls) == 2, text
    constants = dict(re.findall(r"(%\S+) = arith.constant (\d+) : i32", text))
    assert all(constants[re.search(r"@mlirfuse_gemm\((%\w+)", c).group(1)] == str(code)
               for c in calls)
    # The GELU (after the first) and the rounding of the result (after the second).
    assert text.count("gpu.launch_func") == 2


@needs_cuda
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_cuda_half_matmuls_match_eager(monkeypatch, dtype):
    """A half-precision MLP of real width through cuBLAS matches eager's (which sums in
    f32 too) within half precision's rounding."""
    monkeypatch.setattr(library_gemm, "HALF_INPUTS", True)
    x = torch.randn(256, 1024, device="cuda", dtype=dtype)
    w = torch.randn(4096, 1024, device="cuda", dtype=dtype) / 32
    w2 = torch.randn(4096, 1024, device="cuda", dtype=dtype) / 64
    compiled = mlirfuse.compile(two_linears)
    assert_same(compiled(x, w, w2), two_linears(x, w, w2), rtol=2e-2, atol=2e-2)
    assert compiled.stats.eager_ops == 0
