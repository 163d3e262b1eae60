"""Extern calls' runtime: runtime/cpu/mlirfuse_extern.cpp, built against this process's torch.

Compiled code calls `mlirfuse_extern_call` to run one op with torch's own kernel
(compiler/extern.py decides which ops, mlirfuse-bridge-extern-calls emits the call). The
library is C++ on torch's headers and libraries, so it is built with the C++ compiler
for the torch that is loaded (its version and C++ ABI are in the file's hash), at first
use, into $MLIRFUSE_CACHE_DIR/runtime; about 10 s once per torch version.
"""

from __future__ import annotations

import ctypes
import functools
import os
import warnings

import torch

from . import native
from .native_pack import EXTERN_FAILED

SOURCE = os.path.join(os.path.dirname(__file__), "cpu", "mlirfuse_extern.cpp")
EXPORTS = os.path.join(os.path.dirname(__file__), "cpu", "mlirfuse_extern.map")
SYMBOL = "mlirfuse_extern_call"


class ExternError(RuntimeError):
    """An op run by an extern call raised (its message is torch's)."""


@functools.cache
def library_path() -> str:
    """Builds the library if needed; returns its path.

    Raises:
      native.BuildError when the C++ compiler fails (or there is none).
    """
    flags, libraries = native.torch_flags(EXPORTS)
    compiler = os.environ.get("CXX", "c++")
    with open(EXPORTS) as f:
        exports = f.read()
    return native.build(SOURCE, "mlirfuse_extern", compiler, flags, libraries,
                        salt=torch.__version__ + exports)


@functools.cache
def available() -> bool:
    """Whether the library builds here (a C++ compiler, torch's headers); warns once
    when it does not: then ops without native code run eager instead."""
    try:
        library_path()
    except native.BuildError as e:
        warnings.warn(f"mlirfuse: extern calls are off (ops without native code run eager): "
                      f"{str(e)[:500]}")
        return False
    return True


@functools.cache
def library() -> ctypes.CDLL:
    lib = ctypes.CDLL(library_path())
    lib.mlirfuse_extern_prepare.argtypes = [ctypes.c_char_p, ctypes.c_int64]
    lib.mlirfuse_extern_prepare.restype = ctypes.c_int
    lib.mlirfuse_extern_errors.restype = ctypes.c_int64
    lib.mlirfuse_extern_last_error.restype = ctypes.c_char_p
    return lib


def prepare(spec: str) -> None:
    """Parses `spec` in the library (its op looked up in torch's dispatcher).

    Raises:
      ExternError when the op or an argument is not understood.
    """
    data = spec.encode()
    if library().mlirfuse_extern_prepare(data, len(data)):
        raise ExternError(library().mlirfuse_extern_last_error().decode(errors="replace"))


def prepare_module(module) -> list[str]:
    """Prepares the extern calls of an LLVM-dialect module (the specs of the globals
    mlirfuse-bridge-extern-calls made); returns their specs (none: no extern calls).

    Raises:
      ExternError as prepare.
    """
    from torch_mlir import ir

    specs = []
    for op in module.body.operations:
        op = op.operation
        if op.name != "llvm.mlir.global":
            continue
        name = ir.StringAttr(op.attributes["sym_name"]).value
        if name.startswith("mlirfuse_extern_op_") and name.endswith("_spec"):
            data = ir.DenseIntElementsAttr(op.attributes["value"])
            specs.append(bytes(int(v) & 0xFF for v in data).decode())
    prepare_all(specs)
    return specs


def prepare_all(specs: list[str]) -> None:
    """prepare() for each spec (a warm start's, kept from the module: warm_start.py)."""
    for spec in specs:
        prepare(spec)


def checked(status: int) -> int:
    """`status` of ArgumentLayout.call; raises ExternError with torch's message when it
    says an op of an extern call raised (as eager would: the error cannot unwind through
    compiled code, so it is kept and taken here)."""
    if status == EXTERN_FAILED:
        raise ExternError(take_error())
    return status


def errors_address() -> int:
    """The address of the library's `int64 mlirfuse_extern_errors(void)` (this thread's
    extern-call errors so far): runtime/memref.py's ArgumentLayout.call compares it before
    and after a call of compiled code with extern calls, whose errors cannot unwind
    through it; take_error() then has torch's message."""
    return ctypes.cast(library().mlirfuse_extern_errors, ctypes.c_void_p).value


def errors() -> int:
    """Errors of this thread's extern calls so far."""
    return library().mlirfuse_extern_errors()


def take_error() -> str:
    """The first error of this thread's extern calls since the last take."""
    return library().mlirfuse_extern_last_error().decode(errors="replace")
