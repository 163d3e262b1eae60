"""The runtime libraries compiled CPU code links (the JIT's, mlirfuse.export's, an
artifact's loader), without torch-mlir: runtime/artifact.py runs with torch alone."""

from __future__ import annotations

from . import blas, native, openmp


def libraries() -> list[str]:
    """Their paths, built on first use: the OpenMP loops' __kmpc_* (openmp.py), the
    matmuls' mlirfuse_cpu_gemm (blas.py), compiler-rt's half conversions (native.py)."""
    return [openmp.library_path(), blas.library_path(), native.half_conversions()]
