"""The CPU's GEMM: runtime/cpu/mlirfuse_blas.c, whose mlirfuse_cpu_gemm (the call
mlirfuse-library-gemm emits for a contraction) runs MKL's sgemm_/dgemm_ from the
libtorch_cpu torch already loaded: torch.mm's own kernels, on torch's threads.

Built at first use (runtime/native.py) and loaded by ctypes (to point it at the BLAS)
and by the ExecutionEngine (whose code calls it): the same shared object, one state.
"""

from __future__ import annotations

import ctypes
import functools
import os

import torch

from . import native

SOURCE = os.path.join(os.path.dirname(__file__), "cpu", "mlirfuse_blas.c")


def _torch_blas() -> str:
    """The library that exports torch's BLAS (sgemm_): libtorch_cpu."""
    return os.path.join(os.path.dirname(torch.__file__), "lib", "libtorch_cpu.so")


@functools.cache
def library_path() -> str:
    """Builds the library if needed, points it at torch's BLAS (once); returns its path."""
    return native.build_for(SOURCE, "mlirfuse_blas", "mlirfuse_blas_init", _torch_blas(),
                            "mlirfuse: torch exports no sgemm_ (a build without MKL); CPU "
                            "matmuls run as plain loops")


def ready() -> bool:
    """Whether compiled matmuls call the BLAS (else they run as plain loops)."""
    return bool(ctypes.CDLL(library_path()).mlirfuse_blas_ready())
