"""The runtime libraries compiled CPU code links (the JIT's, mlirfuse.export's, an
artifact's loader), without torch-mlir: runtime/artifact.py runs with torch alone."""

from __future__ import annotations

import ctypes
import os

from . import blas, native, openmp


def libraries() -> list[str]:
    """Their paths, built on first use: the OpenMP loops' __kmpc_* (openmp.py), the
    matmuls' mlirfuse_cpu_gemm (blas.py), compiler-rt's half conversions (native.py)."""
    return [openmp.library_path(), blas.library_path(), native.half_conversions()]


_loaded: list = []


def load() -> list[str]:
    """libraries(), each loaded into this process (once), global: code on disk needs them
    by their sonames (native.build) and takes these, built and initialized here; an
    artifact's code, linked with none, finds their symbols in the global scope."""
    paths = libraries()
    if not _loaded:
        _loaded.extend(ctypes.CDLL(p, mode=os.RTLD_NOW | os.RTLD_GLOBAL) for p in paths)
    return paths
