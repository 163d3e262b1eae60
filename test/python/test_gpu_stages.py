"""The CUDA target's stages without a GPU: kernels through gpu/nvvm to PTX, llc as a
subprocess (CI runs these; test_gpu.py runs the code on a GPU)."""

import json
import os
import re
import subprocess
import sys

import pytest
import torch

from mlirfuse.lowering.cuda import nvptx
from test_gpu import WORKLOADS, _stages


@pytest.mark.parametrize("name", ["softmax", "layer_norm", "gelu_bias", "cumsum", "cat"])
def test_gpu_and_ptx_stages_without_a_gpu(name):
    """Every kernel is a gpu.launch_func of an outlined gpu.func, compiled to sm_90 PTX."""
    fn, make = WORKLOADS[name]
    texts = _stages(fn, make("cpu"))
    assert "gpu.launch_func" in texts["gpu"] and "gpu.func" in texts["gpu"]
    assert "scf.forall" not in texts["gpu"]
    ptx = texts["ptx"]
    assert ".target sm_90" in ptx and ".entry" in ptx
    if name in ("softmax", "layer_norm"):  # a row per warp, reduced with warp shuffles
        assert "gpu.shuffle xor" in texts["gpu"] and "gpu.all_reduce" not in texts["gpu"]
        assert "shfl.sync" in ptx and "bar.sync" not in ptx
    if name == "layer_norm":  # the variance in f32, as eager's kernel (torch-mlir's: f64)
        assert "f32 to f64" not in texts["gpu"]
    if name in ("softmax", "gelu_bias"):  # libdevice linked and inlined: no calls left
        assert "__nv_" not in ptx


def test_bf16_softmax_reads_its_row_once_without_a_gpu():
    """Softmax over bf16 rows (torch's decomposition: exp's row in f32): every op of the
    kernel takes 4 points a lane (gpu_vectors.share_lanes), so the row is read once and
    exp's row stays in registers. Before, the max read 8 bf16 a lane and exp 4: exp read
    the row again, 2 bytes a load, and stored its row in 32 KiB of shared memory that the
    sum and the division read back (1.69x the copy's time on the H200, session 31)."""
    x = torch.randn(64, 1024).to(torch.bfloat16)  # CPU tensors: torch's decomposition, as CUDA
    ptx = _stages(lambda x: torch.softmax(x, -1), (x,))["ptx"]
    assert ".shared" not in ptx
    assert re.findall(r"ld\.global\S*", ptx) == ["ld.global.v4.b16"] * 8
    assert re.findall(r"st\.global\S*", ptx) == ["st.global.v2.b32"] * 8
    # The division by the row's sum: one reciprocal a row, a multiply per element (an
    # IEEE division is a dozen instructions; bf16 softmax was bound by them, 1.10x the
    # copy). A division whose result stays f32 keeps eager's IEEE division.
    assert "div.rn.f32" not in ptx and ptx.count("rcp.rn.f32") == 1
    ptx32 = _stages(lambda x, s: x / s, (x.float(), x.float().sum(-1, keepdim=True)))["ptx"]
    assert "div.rn.f32" in ptx32


def test_lstm_cell_is_one_launch_besides_its_gemms_without_a_gpu():
    """The bias add moves below gates.chunk(4) into each gate (mlirfuse-bubble-up-slices)
    and cy, returned and read by hy, is a second result of hy's kernel
    (mlirfuse-fuse-multi-use): one launch writing both, where there were three."""
    def cell(x, hx, cx, w_ih, w_hh, b_ih, b_hh):
        gates = x @ w_ih.t() + hx @ w_hh.t() + b_ih + b_hh
        i, f, g, o = gates.chunk(4, 1)
        cy = torch.sigmoid(f) * cx + torch.sigmoid(i) * torch.tanh(g)
        return torch.sigmoid(o) * torch.tanh(cy), cy

    texts = _stages(cell, WORKLOADS["lstm_cell"][1]("cpu"))
    assert texts["gpu"].count("gpu.launch_func") == 1
    assert texts["gpu"].count("call @mlirfuse_gemm") == 2
    ptx = texts["ptx"]
    assert ptx.count(".entry") == 1 and ptx.count("st.global") == 2  # hy and cy


def test_host_loops_of_gemm_calls_stay_on_the_host_without_a_gpu():
    """Attention's products over batch x heads are host loops of cuBLAS calls
    (mlirfuse-library-gemm). A loop of calls was launched as a one-thread kernel, whose
    PTX called mlirfuse_gemm: the driver rejected it (CUDA error 218, invalid PTX)."""
    b, s, h, d = 2, 16, 4, 8

    def attention(x, w_qkv, w_out):
        q, k, v = (x @ w_qkv.t()).view(b, s, 3, h, d).permute(2, 0, 3, 1, 4).unbind(0)
        weights = torch.softmax(q @ k.transpose(-1, -2) * d ** -0.5, -1)
        return (weights @ v).transpose(1, 2).reshape(b, s, h * d) @ w_out.t()

    args = torch.randn(b, s, h * d), torch.randn(3 * h * d, h * d), torch.randn(h * d, h * d)
    texts = _stages(attention, args)
    assert texts["gpu"].count("call @mlirfuse_gemm") == 4
    assert "mlirfuse_gemm" not in texts["ptx"]
    # Heads packed into contiguous copies first: one call each, no loop of launches.
    assert "mlirfuse.host" not in texts["gpu"]


def test_division_by_a_constant_is_a_multiply_without_a_gpu():
    """x / 6.0 runs as x * (1 / 6.0), as eager CUDA computes a tensor divided by a scalar:
    no IEEE division sequence (div.rn.f32) in hard_swish's PTX."""
    fn, make = WORKLOADS["hard_swish"]
    ptx = _stages(fn, make("cpu"))["ptx"]
    assert "div.rn.f32" not in ptx and "0f3E2AAAAB" in ptx  # 1/6 in f32


@pytest.mark.parametrize("length", [3000, 4099])
def test_odd_lengths_have_static_tiles_without_a_gpu(length):
    """A rank-1 kernel whose length is no multiple of the 1024-element tile (4099 is a
    prime) compiles: its tiles divide the length (the GPU code generator needs static
    sizes; the CPU's shorter last tile failed in mlirfuse-map-to-gpu)."""
    texts = _stages(lambda x: torch.exp(x) * x, (torch.randn(length),))
    assert "gpu.launch_func" in texts["gpu"] and ".entry" in texts["ptx"]


def test_ptx_cache_means_no_llc_in_a_second_process(tmp_path):
    """PTX is cached on disk by kernel IR, chip and tool versions: a second process
    compiling the same graph runs llc zero times."""
    script = (
        "import json, torch\n"
        "from mlirfuse.compiler import specialize\n"
        "from mlirfuse.compiler.options import Options\n"
        "from mlirfuse.lowering.cuda import nvptx\n"
        "torch.manual_seed(0)\n"
        "f = lambda x: torch.softmax(x * 2, -1)\n"
        "specialize.lower(f, (torch.randn(8, 32),), Options(), stop_after='ptx', "
        "target='cuda:sm_90')\n"
        "print(json.dumps([nvptx.Counters.llc_runs, nvptx.Counters.cache_hits]))\n")
    env = dict(os.environ, MLIRFUSE_CACHE_DIR=str(tmp_path))
    runs = [json.loads(subprocess.run([sys.executable, "-c", script], env=env, check=True,
                                      capture_output=True, text=True).stdout)
            for _ in range(2)]
    assert runs[0][0] >= 1 and runs[0][1] == 0
    assert runs[1] == [0, runs[0][0]]


def test_a_kernel_of_two_modules_is_compiled_to_ptx_once_without_a_gpu(monkeypatch, tmp_path):
    """Issue 19's "each distinct kernel compiled once", across modules on CUDA: the same
    kernel in two separately compiled graphs is the same LLVM IR (each module's kernels
    are `main_kernel`s), so its PTX comes from llc once; the second graph runs llc for its
    own kernel only (the runtime then loads the shared PTX once: test_share_kernels)."""
    from test_share_kernels import norm, norm_and_softmax

    monkeypatch.setenv("MLIRFUSE_CACHE_DIR", str(tmp_path))
    x = torch.randn(7, 61, device="cpu")

    def counts():
        return nvptx.Counters.llc_runs, nvptx.Counters.cache_hits

    start = counts()
    _stages(norm, (x,))  # the layer_norm kernel
    middle = counts()
    _stages(norm_and_softmax, (x,))  # the same layer_norm kernel, a softmax kernel
    end = counts()
    assert middle[0] - start[0] == 1 and middle[1] == start[1]
    assert end[0] - middle[0] == 1 and end[1] - middle[1] == 1
