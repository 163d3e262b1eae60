"""Constant tables of the graph on the GPU (lowering/cuda/gpu_constants.py): a kernel reads
its own copy in device memory, never the host module's global.

The lowering tests need no GPU (they stop at the "gpu" and "ptx" stages; CI runs them);
the calls need a CUDA device and skip without one."""

import re

import pytest
import torch

import mlirfuse
from mlirfuse.compiler import specialize
from mlirfuse.compiler.options import Options
from conftest import assert_same

needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(),
                                reason="needs a CUDA device (none on this machine)")


def group_norm(x, w, b):
    # torch-mlir's decomposition gathers through constant index tables (i64 globals).
    return torch.nn.functional.group_norm(x, 3, w, b)


def _stages(fn, args):
    return specialize.lower(fn, args, Options(), stop_after="ptx", target="cuda:sm_90")[2].texts


def _launch_operands_from_globals(gpu: str) -> list[str]:
    """Values the host code makes with memref.get_global that a launch takes."""
    host = gpu.split("gpu.module")[0]
    globals_ = set(re.findall(r"(%[\w.]+) = memref.get_global", host))
    launched = set(re.findall(r"args\(([^)]*)\)", host))
    return [v for args in launched for v in re.findall(r"%[\w.]+", args) if v in globals_]


def test_kernels_read_constant_tables_from_device_globals_without_a_gpu():
    """Before: the kernel took the host global's address as an argument (on the H200 the
    driver's heterogeneous memory management made that work by accident; as_strided's
    tables were an illegal address)."""
    texts = _stages(group_norm, (torch.randn(2, 6, 5), torch.randn(6), torch.randn(6)))
    assert "memref.get_global" in texts["gpu"]
    assert _launch_operands_from_globals(texts["gpu"]) == []
    # The table's values are in the PTX: a .global array with an initializer.
    tables = re.findall(r"\.global \.align \d+ \.b8 (__constant_\w+)\[\d+\]( = \{[^}]*\})?;",
                        texts["ptx"])
    assert tables and any(init for _, init in tables)


def test_ptx_of_a_table_has_its_values_without_a_gpu():
    """The kernel module is cloned for translation, not printed and parsed again: parsed,
    a dense_resource table's data was gone and the translation crashed the process."""
    texts = _stages(lambda x: torch.as_strided(x, (3, 3), (2, 1), 1) * 2, (torch.randn(4, 6),))
    ptx = texts["ptx"]
    assert re.search(r"\.global \.align \d+ \.b8 __constant_\w+\[\d+\] = \{", ptx), ptx[:2000]


@needs_cuda
@pytest.mark.parametrize("case", ["group_norm", "as_strided", "as_strided_copy"])
def test_cuda_constant_tables_match_eager(case, no_grad):
    fn, args = {
        "group_norm": (group_norm, (torch.randn(2, 6, 5, device="cuda"),
                                    torch.randn(6, device="cuda"), torch.randn(6, device="cuda"))),
        "as_strided": (lambda x: torch.as_strided(x, (3, 3), (2, 1), 1) * 2,
                       (torch.randn(4, 6, device="cuda"),)),
        "as_strided_copy": (lambda x: torch.ops.aten.as_strided_copy(x, (2, 4), (3, 1), 2) + 1,
                            (torch.randn(5, 5, device="cuda"),)),
    }[case]
    compiled = mlirfuse.compile(fn)
    assert_same(compiled(*args), fn(*args))
    torch.cuda.synchronize()
    assert compiled.stats.eager_ops == 0
