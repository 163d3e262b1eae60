"""Half-precision matmuls on CUDA: cuBLAS on tensor cores, f32 sums, not generated code.

torch-mlir lowers a bf16 or f16 matmul to a contraction of half inputs summed into an
f32 result and a rounding after it (structured.is_widening_mul_add); torch's
decompositions of a half addmm or linear extend both inputs to f32 first, which fusion
folds into the contraction (mlirfuse-shield-contractions). mlirfuse-library-gemm makes
it a cuBLAS call (dtype 4 or 5); with MLIRFUSE_CUDA_HALF_GEMM=0 (library_gemm.HALF_INPUTS
off) it is generated code (GPT-2 124M in bf16 took 1.1 s a call on the H200, eager 9
ms). The lowering tests need no GPU; the others skip without one.
"""

import re
import sys
import os

import pytest
import torch

import mlirfuse
from conftest import assert_same
from mlirfuse.compiler.passes import library_gemm
from mlirfuse.lowering.cuda import align_gemm_rows

sys.path.insert(0, os.path.dirname(__file__))
from test_gpu_dynamic import _gpu_stage  # noqa: E402

needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(),
                                reason="needs a CUDA device (none on this machine)")


def _gemm_dtype_codes(text: str) -> list[int]:
    """The dtype code (first argument) of each cuBLAS call in host code `text`."""
    constants = dict(re.findall(r"(%\S+) = arith.constant (\d+) : i32", text))
    return [int(constants[re.search(r"@mlirfuse_gemm\((%\w+)", line).group(1)])
            for line in text.splitlines() if "call @mlirfuse_gemm" in line]


def two_linears(x, w, w2):
    return torch.nn.functional.gelu(x @ w.t()) @ w2


@pytest.mark.parametrize("dtype,code", [(torch.bfloat16, 5), (torch.float16, 4)])
def test_half_matmuls_lower_to_cublas_calls(monkeypatch, dtype, code):
    """Both matmuls of a half-precision MLP are cuBLAS calls of half inputs and an f32
    result, the GELU between them one kernel; off, the matmuls were kernels."""
    x, w, w2 = (torch.randn(*s, dtype=dtype) for s in ((16, 64), (256, 64), (256, 32)))
    monkeypatch.setattr(library_gemm, "HALF_INPUTS", False)
    text, _ = _gpu_stage(two_linears, (x, w, w2), None)
    assert "call @mlirfuse_gemm" not in text
    monkeypatch.setattr(library_gemm, "HALF_INPUTS", True)
    text, _ = _gpu_stage(two_linears, (x, w, w2), None)
    assert _gemm_dtype_codes(text) == [code, code], text
    # The GELU (after the first) and the rounding of the result (after the second).
    assert text.count("gpu.launch_func") == 2


@needs_cuda
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_cuda_half_matmuls_match_eager(dtype):
    """A half-precision MLP of real width through cuBLAS matches eager's (which sums in
    f32 too) within half precision's rounding."""
    x = torch.randn(256, 1024, device="cuda", dtype=dtype)
    w = torch.randn(4096, 1024, device="cuda", dtype=dtype) / 32
    w2 = torch.randn(4096, 1024, device="cuda", dtype=dtype) / 64
    compiled = mlirfuse.compile(two_linears)
    assert_same(compiled(x, w, w2), two_linears(x, w, w2), rtol=2e-2, atol=2e-2)
    assert compiled.stats.eager_ops == 0


def _linear_mlp(dtype, device="cpu"):
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(64, 256), torch.nn.GELU(),
                               torch.nn.Linear(256, 32)).to(device, dtype).eval()


@pytest.mark.parametrize("dtype,code", [(torch.bfloat16, 5), (torch.float16, 4)])
def test_half_linears_lower_to_cublas_calls(dtype, code):
    """nn.Linear with a bias in half precision: torch's decomposition extends x and the
    weight to f32 and multiplies in f32; those extensions fold into the contraction, so
    both linears are cuBLAS calls of the half tensors (the weights read in place, no
    transposed or f32 copy), and the bias, GELU and rounding are one kernel after each.
    Before, each matmul was an f32 cuBLAS call over f32 copies made by kernels of their
    own (BENCH's mlp in bf16: 9.5x inductor on the H200)."""
    model = _linear_mlp(dtype)
    text, _ = _gpu_stage(model, (torch.randn(16, 64, dtype=dtype, device="cpu"),), None)
    assert _gemm_dtype_codes(text) == [code, code], text
    assert text.count("gpu.launch_func") == 2


@needs_cuda
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_cuda_half_linears_match_eager(dtype):
    """The half-precision linears through cuBLAS match eager's within half rounding."""
    model = _linear_mlp(dtype, "cuda")
    x = torch.randn(512, 64, device="cuda", dtype=dtype)
    with torch.no_grad():
        compiled = mlirfuse.compile(model)
        assert_same(compiled(x), model(x), rtol=2e-2, atol=2e-2)
    assert compiled.stats.eager_ops == 0


def _lm_head(dtype, device="cpu"):
    torch.manual_seed(0)
    return torch.nn.Linear(256, 1001, bias=False).to(device, dtype).eval()


def test_lm_head_result_rows_are_aligned(monkeypatch):
    """A bf16 LM head of an odd vocabulary (1001): with mlirfuse-align-gemm-rows (on unless
    MLIRFUSE_CUDA_ALIGN_GEMM_ROWS=0) the cuBLAS call writes rows of 1004 f32 (16-byte aligned) and the rounding kernel
    reads the [:, :1001] view; without it, rows of 1001 (GPT-2's 50257 columns: eager,
    which does the same, runs GPT-2 124M in bf16 2.3x slower than inductor)."""
    x = torch.randn(64, 256, dtype=torch.bfloat16, device="cpu")  # the module's device

    def leading_dims(text):
        calls = [line for line in text.splitlines() if "call @mlirfuse_gemm" in line]
        return [re.search(r"@mlirfuse_gemm\(([^)]*)\)", c).group(1).split(", ")[18]
                for c in calls]

    monkeypatch.setattr(align_gemm_rows, "ENABLED", False)
    assert leading_dims(_gpu_stage(_lm_head(torch.bfloat16), (x,), None)[0]) == ["%c1001_i64"]
    monkeypatch.setattr(align_gemm_rows, "ENABLED", True)
    text, _ = _gpu_stage(_lm_head(torch.bfloat16), (x,), None)
    assert leading_dims(text) == ["%c1004_i64"]
    assert "strided<[1004, 1]>" in text


@needs_cuda
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float32])
def test_cuda_aligned_gemm_rows_match_eager(monkeypatch, dtype):
    """The LM head through rows padded to 16 bytes matches eager."""
    monkeypatch.setattr(align_gemm_rows, "ENABLED", True)
    model = _lm_head(dtype, "cuda")
    x = torch.randn(8, 37, 256, device="cuda", dtype=dtype)
    with torch.no_grad():
        compiled = mlirfuse.compile(model)
        tolerance = 2e-2 if dtype == torch.bfloat16 else 1e-4
        assert_same(compiled(x), model(x), rtol=tolerance, atol=tolerance)
    assert compiled.stats.eager_ops == 0


@needs_cuda
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float32])
def test_cuda_a_large_gemm_of_odd_columns_runs_on_aligned_kernels(monkeypatch, dtype):
    """A GEMM of 4099 columns (not a multiple of 8) large enough to matter: the runtime
    splits it into 4096 columns on an aligned kernel and 3 on another; both parts right,
    and in bf16 the large part on a cuBLAS kernel not of alignment 1 (GPT-2's LM head ran
    one, all of it: 1.68 ms of 3.4;
    float32's CUDA-core kernels are named align1 whatever the alignment)."""
    monkeypatch.setattr(align_gemm_rows, "ENABLED", True)
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(768, 4099, bias=False),
                                torch.nn.ReLU()).to("cuda", dtype).eval()
    x = torch.randn(64, 768, device="cuda", dtype=dtype)
    with torch.no_grad():
        compiled = mlirfuse.compile(model)
        tolerance = 2e-2 if dtype == torch.bfloat16 else 1e-4
        assert_same(compiled(x), model(x), rtol=tolerance, atol=tolerance)
        with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CUDA]) as p:
            compiled(x)
            torch.cuda.synchronize()
    names = [e.key for e in p.key_averages() if e.device_type == torch.autograd.DeviceType.CUDA]
    # The 3 columns' small GEMM may run an align1 kernel; the 4096 columns' must not (on
    # the H200 it is nvjet's: no "gemm" in its name).
    aligned = [n for n in names if n != "main_kernel" and "align1" not in n
               and not n.startswith(("Memcpy", "Memset"))]
    assert dtype == torch.float32 or aligned, names
