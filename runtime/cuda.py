"""The CUDA runtime library (runtime/cuda/mlirfuse_cuda.c) and executables that use it.

The library is compiled at first use with the system C compiler into
$MLIRFUSE_CACHE_DIR/runtime (default ~/.cache/mlirfuse/runtime), named by a hash
of its source, and loaded by ctypes (to set the stream and read errors) and by
each compiled host library (runtime/host_library.py), which links it and calls its
mgpu* functions: the same shared object, so they share its state.

Imports nothing of torch-mlir until a module is compiled: a CUDA artifact
(runtime/artifact.py) loads its code here with torch alone.
"""

from __future__ import annotations

import ctypes
import functools
import os

import torch

from . import extern, native
from .memref import ArgumentLayout

SOURCE = os.path.join(os.path.dirname(__file__), "cuda", "mlirfuse_cuda.c")


class CudaError(RuntimeError):
    """A CUDA driver call of compiled code failed; the message names the kernel."""


@functools.cache
def library_path() -> str:
    """Builds the runtime library if needed; returns its path."""
    try:
        return native.build(SOURCE, "mlirfuse_cuda", libraries=("-ldl", "-lpthread"))
    except native.BuildError as e:
        raise CudaError(str(e)) from None


@functools.cache
def library() -> ctypes.CDLL:
    lib = ctypes.CDLL(library_path())
    lib.mlirfuse_cuda_init.argtypes = [ctypes.c_int]
    lib.mlirfuse_cuda_init.restype = ctypes.c_int
    lib.mlirfuse_begin.argtypes = [ctypes.c_void_p, ctypes.c_int]
    lib.mlirfuse_begin.restype = None
    lib.mlirfuse_last_error.restype = ctypes.c_char_p
    lib.mlirfuse_cublas_open.argtypes = [ctypes.c_char_p]
    lib.mlirfuse_cublas_open.restype = ctypes.c_int
    lib.mlirfuse_cudnn_open.argtypes = [ctypes.c_char_p]
    lib.mlirfuse_cudnn_open.restype = ctypes.c_int
    lib.mlirfuse_set_conv_tf32.argtypes = [ctypes.c_int]
    lib.mlirfuse_set_conv_tf32.restype = None
    return lib


def _loaded_library(prefix: str) -> str | None:
    """The path of a shared library whose name starts with `prefix`, among the process's
    mappings (torch's own copy: one copy in the process)."""
    with open("/proc/self/maps") as f:
        for line in f:
            path = line.split()[-1]
            if os.path.basename(path).startswith(prefix):
                return path
    return None


@functools.cache
def cublas_path() -> str:
    """The libcublas torch uses: made loaded by asking torch for its handle, then found
    among the process's mappings (the same library: one copy in the process)."""
    torch.cuda.current_blas_handle()
    path = _loaded_library("libcublas.so")
    if path is None:
        raise CudaError("torch's libcublas is not loaded in this process: cuBLAS calls need it")
    return path


def open_cublas() -> None:
    """Makes the runtime's mlirfuse_gemm usable (cuBLAS opened once per process)."""
    if library().mlirfuse_cublas_open(cublas_path().encode()):
        raise CudaError(last_error())


@functools.cache
def cudnn_path() -> str:
    """The libcudnn torch uses (loaded by asking torch for its version)."""
    torch.backends.cudnn.version()
    path = _loaded_library("libcudnn.so")
    if path is None:
        raise CudaError("torch's libcudnn is not loaded in this process: convolutions need it")
    return path


def open_cudnn() -> None:
    """Makes the runtime's mlirfuse_conv2d usable (cuDNN opened once per process)."""
    if library().mlirfuse_cudnn_open(cudnn_path().encode()):
        raise CudaError(last_error())


def module_counts() -> tuple[int, int]:
    """(kernel modules the driver loaded, loads served by a module of the same code loaded
    before): this process's counts. The same kernel in several compiled modules (a cut
    graph's pieces, other functions, specializations) is loaded once per device while one
    of them lives; its PTX came from llc once (nvptx.py's disk cache: the same LLVM IR).
    """
    lib = library()
    return (ctypes.c_int.in_dll(lib, "mlirfuse_modules_loaded").value,
            ctypes.c_int.in_dll(lib, "mlirfuse_modules_shared").value)


def _errors() -> ctypes.c_int:
    return ctypes.c_int.in_dll(library(), "mlirfuse_error_count")


def last_error() -> str:
    return library().mlirfuse_last_error().decode(errors="replace")


def _declares(module, name: str) -> bool:
    from torch_mlir import ir

    return any("sym_name" in op.operation.attributes
               and ir.StringAttr(op.operation.attributes["sym_name"]).value == name
               for op in module.body.operations)


class CudaExecutable:
    """A compiled host module whose kernels run on `device`, on torch's current stream: a
    shared library (host_library.py), unloaded with its kernel modules when this is freed.

    Args:
      module: LLVM-dialect host module with gpu.binary kernels and an
        `llvm.emit_c_interface` entry returning the guard status.
      ranks: the rank of each memref argument (inputs, outputs, workspace).
      device: the CUDA device index.
    Raises:
      CudaError if the driver cannot be loaded or a kernel module fails to load.
    """

    def __init__(self, module, ranks: list[int], device: int, entry: str = "main",
                 opt_level: int = 3):
        self._start(device, _declares(module, "mlirfuse_gemm"),
                    _declares(module, "mlirfuse_conv2d"))
        # Extern calls (compiler/extern.py): torch's kernels on torch's current stream, the
        # one the kernels run on.
        #: The extern calls' specs (a warm start prepares them again).
        self.extern_specs = extern.prepare_module(module)
        self._extern = bool(self.extern_specs)
        libraries = [library_path()] + ([extern.library_path()] if self._extern else [])
        from ..lowering.cuda import nvptx
        from . import host_library

        try:  # host_library.py: why a shared library and not the ExecutionEngine
            path = host_library.build(module, libraries, opt_level, salt=f"cuda:{device}",
                                      entry="_mlir_ciface_" + entry)
        except (host_library.HostBuildError, nvptx.ToolError) as e:
            raise CudaError(str(e)) from None
        self._load(path, ranks, entry)

    @classmethod
    def from_library(cls, path: str, ranks: list[int], device: int, gemm: bool,
                     convolutions: bool, specs: list[str] = (),
                     entry: str = "main") -> "CudaExecutable":
        """The host library at `path` (host_library.build made it, kernels inside), loaded
        with no module at hand (a warm start: compiler/warm_start.py); `gemm`,
        `convolutions`: whether its code calls cuBLAS, cuDNN; `specs`: its extern calls'."""
        self = cls.__new__(cls)
        self._start(device, gemm, convolutions)
        extern.prepare_all(specs)  # (loads the extern library the code needs by soname)
        self._extern, self.extern_specs = bool(specs), list(specs)
        self._load(path, ranks, entry)
        return self

    def _start(self, device: int, gemm: bool, convolutions: bool) -> None:
        lib = library()
        torch.cuda.init()  # torch's primary context exists before ours is made current
        if lib.mlirfuse_cuda_init(device):
            raise CudaError(last_error())
        self.device = device
        #: Whether the code calls cuBLAS, cuDNN (a warm start loads them the same).
        self.gemm, self._convolutions = gemm, convolutions
        if gemm:
            open_cublas()
        if convolutions:
            open_cudnn()
        self._errors = _errors()

    def _load(self, path: str, ranks: list[int], entry: str) -> None:
        lib = library()
        #: The host library on disk (a warm start's entry names it).
        self.library_path = path
        before = self._errors.value
        # Kernel modules of the same code as one loaded are shared (the runtime's table).
        ctypes.c_int.in_dll(lib, "mlirfuse_share_modules").value = native.sharing_kernels()
        self._host = native.HostLibrary(path)  # its constructors load the kernels
        if self._errors.value != before:
            raise CudaError(last_error())
        address = self._host.address("_mlir__mlir_ciface_" + entry)  # the packed form
        if not address:
            raise CudaError(f"entry function {entry!r} could not be linked")
        self._address, self._layout = address, ArgumentLayout(ranks)
        self._extern_errors = extern.errors_address() if self._extern else 0
        self._begin = lib.mlirfuse_begin
        self._set_tf32 = lib.mlirfuse_set_conv_tf32
        self._stream = torch._C._cuda_getCurrentRawStream

    def __call__(self, tensors: list[torch.Tensor]) -> int:
        """Launches the kernels on the current stream (no synchronization).

        Returns:
          The guard status (0 when the kernels were launched).
        Raises:
          CudaError naming the kernel whose launch failed.
        """
        before = self._errors.value
        self._begin(self._stream(self.device), self.device)
        if self._convolutions:  # as eager: TF32 unless torch.backends.cudnn.allow_tf32 is off
            self._set_tf32(torch.backends.cudnn.allow_tf32)
        status = self._layout.call(self._address, tensors, self._extern_errors)
        if self._errors.value != before:
            raise CudaError(last_error())
        return extern.checked(status)
