"""GPU host code as a shared library: LLVM IR → opt → llc → cc -shared, loaded with dlopen.

The CUDA target's host module (launches, cuBLAS and cuDNN calls, extern calls, the kernel
modules' load in a global constructor and unload in a destructor) used to run in an MLIR
ExecutionEngine. Freeing such an engine made a later C++ exception crash the process
inside the unwinder on the H200's Ubuntu 24.04 (libgcc 14): `_Unwind_Find_FDE` read the
freed code's frame tables, which the JIT had registered with `__register_frame` and
deregistered before freeing (the unwinder's b-tree of registered frames, new in GCC 13,
kept a stale entry; libgcc 12 elsewhere did not crash). So the engines were kept until
exit, and each specialization's code with them. A shared library's frame tables are
found through the dynamic linker (`dl_iterate_phdr`), never registered: dlclose frees it
and runs its destructors (the kernel modules are unloaded), and nothing points at it
afterwards.

The library is cached on disk under a hash of its IR, its libraries, the tools' versions
and `salt`: a second process loads it without running llc (issue 19's warm start).
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import tempfile

from torch_mlir import ir

from ..compiler import timings
from ..lowering.cuda import nvptx
from . import native

VERSION = "4"  # bump when the build below changes


class HostBuildError(RuntimeError):
    """opt, llc or the C compiler failed on a host module."""


def cache_dir() -> str:
    return os.path.join(native.cache_root(), "host")


def _run(args: list[str], what: str) -> None:
    done = subprocess.run(args, capture_output=True, text=True)
    if done.returncode != 0:
        raise HostBuildError(f"{what} failed (exit {done.returncode}): "
                             f"{done.stderr.strip()[:2000]}")


def packed_wrapper(llvm_ir: str, name: str) -> str:
    """LLVM IR of `_mlir_<name>(ptr %args)`, the ExecutionEngine's packed form of function
    `name` (runtime/memref.py's ArgumentLayout builds its block): args[i] points to where
    argument i is, args[n] to where the result goes.

    Raises:
      HostBuildError when the module defines no `name`.
    """
    found = re.search(rf"^define (\S+) @{re.escape(name)}\(([^)]*)\)", llvm_ir, re.M)
    if found is None:
        raise HostBuildError(f"the host module defines no function {name!r}")
    result, params = found.group(1), [p.split()[0] for p in found.group(2).split(",") if p]
    lines = [f"define void @_mlir_{name}(ptr %args) {{"]
    for i, t in enumerate(params):
        lines += [f"  %p{i} = getelementptr ptr, ptr %args, i64 {i}",
                  f"  %q{i} = load ptr, ptr %p{i}", f"  %a{i} = load {t}, ptr %q{i}"]
    call = f"call {result} @{name}(" + ", ".join(f"{t} %a{i}" for i, t in enumerate(params)) + ")"
    if result == "void":
        lines.append("  " + call)
    else:
        n = len(params)
        lines += [f"  %r = {call}", f"  %pr = getelementptr ptr, ptr %args, i64 {n}",
                  "  %qr = load ptr, ptr %pr", f"  store {result} %r, ptr %qr"]
    return "\n".join(lines + ["  ret void", "}", ""])


def build(module: ir.Module, libraries: list[str], opt_level: int = 3, salt: str = "",
          entry: str = "_mlir_ciface_main") -> str:
    """Compiles an LLVM-dialect module into a shared library linked against `libraries`
    (paths: the runtime libraries whose functions it calls); returns its path. The library
    also defines `_mlir_<entry>`, the packed form of `entry` (packed_wrapper).

    Raises:
      HostBuildError, or nvptx.ToolError when llc or opt is missing.
    """
    from torch_mlir.dialects import llvm as llvm_dialect  # (0.25 s to import: not on a load)

    llvm_ir = nvptx.downgrade_float_literals(
        llvm_dialect.translate_module_to_llvmir(module.operation))
    llvm_ir += "\n" + packed_wrapper(llvm_ir, entry)
    compiler = os.environ.get("CC", "cc")
    key = hashlib.sha256("\0".join(
        [VERSION, nvptx.llc_version(), compiler, str(opt_level), salt, *libraries,
         llvm_ir]).encode()).hexdigest()[:32]
    path = os.path.join(native.code_folder(cache_dir()), f"host-{key}.so")
    if native.usable(path):
        return path
    with tempfile.TemporaryDirectory(prefix="mlirfuse-host-") as tmp, timings.phase("llc"):
        source, optimized, obj = (os.path.join(tmp, n) for n in ("host.ll", "host.bc", "host.o"))
        with open(source, "w") as f:
            f.write(llvm_ir)
        # Both off for the host code's long entry block (its guards' compares, its
        # descriptors' stores), where they were quadratic and changed nothing: GPT-2 with
        # 12 layers, constraint elimination 1.8 of opt's 2.7 s, store merging 0.5 of
        # llc's 1.8 s; the object was the same size.
        _run([nvptx.tool("opt"), f"-O{opt_level}", "-enable-constraint-elimination=false",
              source, "-o", optimized], "opt (host code)")
        _run([nvptx.tool("llc"), f"-O{opt_level}", "-combiner-store-merging=false",
              "-relocation-model=pic", "-filetype=obj", optimized, "-o", obj],
             "llc (host code)")
        partial = f"{path}.{os.getpid()}.tmp"
        _run([compiler, "-shared", "-o", partial, obj, *native.link_flags(libraries)],
             f"{compiler} -shared")
        os.replace(partial, path)  # atomic: a concurrent process sees all or nothing
    return path


# The class moved to native.py (no torch-mlir there: runtime/artifact.py loads with it).
HostLibrary = native.HostLibrary
