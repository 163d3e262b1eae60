"""The MLIR ExecutionEngine, wrapped for calls with torch tensors."""

from __future__ import annotations

import ctypes
import functools

import torch
from torch_mlir import ir
from torch_mlir.execution_engine import ExecutionEngine

from mlirfuse.runtime.memref import ArgumentLayout

PACKED = ctypes.CFUNCTYPE(None, ctypes.c_void_p)


@functools.cache
def openmp_library() -> str:
    """The path of libiomp5.so from the intel-openmp wheel (installed under the
    environment's lib/)."""
    from importlib import metadata

    for f in metadata.files("intel-openmp") or []:
        if f.name == "libiomp5.so":
            return str(f.locate())
    raise RuntimeError("intel-openmp's libiomp5.so is not installed")


@functools.cache
def _openmp() -> ctypes.CDLL:
    lib = ctypes.CDLL(openmp_library())  # the same object the ExecutionEngine loads
    lib.omp_set_num_threads.argtypes = [ctypes.c_int]
    return lib


_threads = [0]


def use_torch_threads() -> None:
    """Kernels run on as many OpenMP threads as torch uses (torch.get_num_threads())."""
    n = torch.get_num_threads()
    if n != _threads[0]:
        _openmp().omp_set_num_threads(n)
        _threads[0] = n


class Executable:
    """A JIT-compiled module whose entry takes input and output memrefs and returns an i32.

    Args:
      module: LLVM-dialect module with an `llvm.emit_c_interface` entry function.
      ranks: the rank of each memref argument, inputs then outputs.
      entry: the entry function's name.
      opt_level: LLVM optimization level.
    """

    def __init__(self, module: ir.Module, ranks: list[int], entry: str = "main",
                 opt_level: int = 3):
        self.engine = ExecutionEngine(module, opt_level=opt_level,
                                      shared_libs=[openmp_library()])
        address = self.engine.raw_lookup("_mlir_ciface_" + entry)
        if not address:
            raise RuntimeError(f"entry function {entry!r} could not be linked: the JIT reported "
                               "unresolved symbols on stderr ('JIT session error')")
        self._fn = PACKED(address)
        self._layout = ArgumentLayout(ranks)

    def __call__(self, tensors: list[torch.Tensor]) -> int:
        """Runs the entry function on `tensors` (inputs then outputs), in place.

        Returns:
          The guard status: 0 when the kernels ran, else 1 + the index of the
          first argument whose sizes or strides the code was not built for.
        """
        use_torch_threads()
        block = self._layout.pack(tensors)
        self._fn(ctypes.addressof(block))
        return block[self._layout.result] & 0xFFFFFFFF
