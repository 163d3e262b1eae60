"""The MLIR ExecutionEngine, wrapped for calls with torch tensors."""

from __future__ import annotations

import ctypes

import torch
from torch_mlir import ir
from torch_mlir.execution_engine import ExecutionEngine

from mlirfuse.runtime.memref import PackedArgs

_PACKED = ctypes.CFUNCTYPE(None, ctypes.c_void_p)


class Executable:
    """A JIT-compiled module whose entry takes input and output memrefs.

    Args:
      module: LLVM-dialect module with an `llvm.emit_c_interface` entry function.
      entry: the entry function's name.
      opt_level: LLVM optimization level.
    """

    def __init__(self, module: ir.Module, entry: str = "main", opt_level: int = 3):
        self.engine = ExecutionEngine(module, opt_level=opt_level)
        address = self.engine.raw_lookup("_mlir_ciface_" + entry)
        if not address:
            raise RuntimeError(f"entry function {entry!r} not found in the compiled module")
        self._fn = _PACKED(address)

    def __call__(self, tensors: list[torch.Tensor]) -> None:
        """Runs the entry function on `tensors` (inputs then outputs), in place."""
        args = PackedArgs(tensors)
        self._fn(ctypes.addressof(args.packed))
