"""The MLIR ExecutionEngine, wrapped for calls with torch tensors."""

from __future__ import annotations

import ctypes
import os
import threading

import torch
from torch_mlir import ir
from torch_mlir.execution_engine import ExecutionEngine

from . import cpu_library, cpu_runtime, extern, native, shared_kernels
from .memref import ArgumentLayout


# LLVM options of the JIT's code generator (the LLVM inside torch-mlir, which only
# mlirfuse uses in this process), set once per process. Store merging in instruction
# selection (narrow stores of one block combined into wider ones) searched every pair of
# a block's stores: an entry function calling a 12-layer GPT-2's ~200 kernels spent 4 s
# there, of a 5 s JIT (0.8 s without it). Kernels store whole vectors already (mlirfuse-
# vectorize-kernels), and the IR's own vectorizers still merge adjacent scalar stores.
CODEGEN_OPTIONS = ["-combiner-store-merging=false"]
_options_set = False
_options_lock = threading.Lock()


def _set_codegen_options() -> None:
    """Sets CODEGEN_OPTIONS in torch-mlir's LLVM, once. Through LLVM's C API, which reports
    an option it does not know to no one (nothing fails)."""
    global _options_set
    with _options_lock:
        if _options_set:
            return
        _options_set = True
        import torch_mlir._mlir_libs as libs

        try:
            capi = ctypes.CDLL(os.path.join(os.path.dirname(libs.__file__),
                                           "libTorchMLIRAggregateCAPI.so"))
            argv = (ctypes.c_char_p * (len(CODEGEN_OPTIONS) + 1))(
                b"mlirfuse", *[o.encode() for o in CODEGEN_OPTIONS])
            capi.LLVMParseCommandLineOptions(len(CODEGEN_OPTIONS) + 1, argv, None)
        except (OSError, AttributeError):  # another build of torch-mlir: only slower
            pass


def jit(module: ir.Module, opt_level: int, libraries: list[str]) -> ExecutionEngine:
    """The ExecutionEngine of an LLVM-dialect module, position-independent (its object can
    be linked into a library: cpu_library, mlirfuse.export), with CODEGEN_OPTIONS set."""
    _set_codegen_options()
    return ExecutionEngine(module, opt_level=opt_level, shared_libs=libraries, enable_pic=True)


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
        # Extern calls (compiler/extern.py) run torch's kernels through runtime/extern.py;
        # their specs are parsed now, so a call that cannot work fails the compile.
        specs = extern.prepare_module(module)
        self._extern = bool(specs)
        #: The extern calls' specs (a warm start prepares them again: compiler/warm_start.py).
        self.extern_specs = specs
        libraries = cpu_runtime.libraries() + ([extern.library_path()] if specs else [])
        self.engine = self.library = None
        # A process that compiled this module before left its code on disk (cpu_library).
        name = cpu_library.key(module, libraries, opt_level) if cpu_library.enabled() else None
        #: The name of this code's library on disk (cpu_library), None when not kept there.
        self.library_name = name
        address = self._load(cpu_library.lookup(name), entry) if name else None
        #: True when the code was loaded from disk (no JIT ran).
        self.from_disk = address is not None
        #: The background link of this code into its library on disk (None: none).
        self.stored: threading.Thread | None = None
        #: The code of other modules whose kernels this code calls (kept alive with it).
        self.lenders: list[object] = []
        if address is None:
            # Kernels this process compiled before are declared, not compiled again.
            kernels = shared_kernels.name_kernels(
                module, cpu_library.salt(libraries, opt_level)) \
                if native.sharing_kernels() else []
            path = cpu_library.path_of(name) if name else None
            lent = shared_kernels.declare_known(module, kernels, path)
            self.engine = jit(module, opt_level, libraries)
            shared_kernels.link(self.engine, lent)
            self.lenders = [owner for _, _, owner, _ in lent]
            address = self.engine.raw_lookup("_mlir_ciface_" + entry)
            if not address:
                raise RuntimeError(f"entry function {entry!r} could not be linked: the JIT "
                                   "reported unresolved symbols on stderr ('JIT session error')")
            borrowed = {kernel for kernel, *_ in lent}
            shared_kernels.register(self, self.engine, [k for k in kernels if k not in borrowed],
                                    path)
            if name:
                self.stored = cpu_library.store(self.engine, name, libraries,
                                                [path for *_, path in lent])
        self._address, self._layout = address, ArgumentLayout(ranks)
        self._errors = extern.errors_address() if self._extern else 0

    @classmethod
    def from_library(cls, path: str, ranks: list[int], specs: list[str] = (),
                     entry: str = "main") -> "Executable":
        """The code of a library on disk (cpu_library), loaded with no module at hand (a warm
        start: compiler/warm_start.py); `specs`: its extern calls'. Raises OSError when it
        does not load, extern.ExternError when an extern call cannot be prepared."""
        cpu_runtime.load()  # built, initialized (the BLAS pointed at torch's) and loaded
        extern.prepare_all(specs)  # (loads the extern library the code needs by soname)
        self = cls.__new__(cls)
        self.engine, self.library, self.stored, self.lenders = None, None, None, []
        self._extern, self.extern_specs = bool(specs), list(specs)
        self.from_disk = True
        self.library_name = None
        address = self._load(path, entry)
        if address is None:
            raise OSError(f"{path} does not load")
        self._address, self._layout = address, ArgumentLayout(ranks)
        self._errors = extern.errors_address() if self._extern else 0
        return self

    def _load(self, path: str | None, entry: str) -> int | None:
        """The packed entry's address in the library at `path`, None when it does not load."""
        if path is None:
            return None
        cpu_runtime.load()  # what it needs by soname
        try:
            self.library = native.HostLibrary(path)
        except OSError:  # a runtime library it links was removed since: compile again
            return None
        return self.library.address("_mlir__mlir_ciface_" + entry)

    def __call__(self, tensors: list[torch.Tensor]) -> int:
        """Runs the entry function on `tensors` (inputs then outputs), in place.

        Returns:
          The guard status: 0 when the kernels ran, else 1 + the index of the
          first argument whose sizes or strides the code was not built for.
        Raises:
          extern.ExternError with torch's message when an op of an extern call raised.
        """
        return extern.checked(self._layout.call(self._address, tensors, self._errors))
