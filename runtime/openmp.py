"""The CPU kernels' threads: runtime/cpu/mlirfuse_omp.c, the __kmpc_* entry points of
MLIR's OpenMP code, run on the libgomp torch already loaded (one OpenMP runtime in the
process; its thread count is torch's, torch.set_num_threads sets it).

The library is built at first use (runtime/native.py) and loaded twice, by ctypes (to
point it at libgomp) and by the ExecutionEngine (whose code calls it): the same shared
object, one state.
"""

from __future__ import annotations

import ctypes
import functools
import os

import torch  # noqa: F401  (loads libgomp)

from . import native

SOURCE = os.path.join(os.path.dirname(__file__), "cpu", "mlirfuse_omp.c")


def _libgomp() -> str | None:
    """The GNU OpenMP runtime torch loaded, found among the process's mappings."""
    with open("/proc/self/maps") as f:
        for line in f:
            path = line.split()[-1]
            if os.path.basename(path).startswith("libgomp"):
                return path
    return None


@functools.cache
def library_path() -> str:
    """Builds the library if needed, points it at libgomp (once); returns its path."""
    return native.build_for(SOURCE, "mlirfuse_omp", "mlirfuse_omp_init", _libgomp(),
                            "mlirfuse: torch's libgomp was not found; CPU kernels run on one "
                            "thread")


def last_team() -> int:
    """How many threads ran the last parallel region of compiled CPU code."""
    return ctypes.c_int.in_dll(ctypes.CDLL(library_path()), "mlirfuse_omp_last_team").value
