"""CPU code kept on disk as shared libraries: a later process loads it instead of JIT-compiling.

The ExecutionEngine compiles a specialization's LLVM-dialect module (position-independent
code); its object (`dump_to_object_file`) is linked by the C compiler into a shared library
against the runtime libraries the code calls (OpenMP, BLAS, half conversions, extern
calls), under $MLIRFUSE_CACHE_DIR/cpu (default ~/.cache/mlirfuse/cpu), named by a hash of
the module's text and of everything else that changes the machine code: the
optimization level, the CPU (the JIT compiles for the host's), the runtime libraries'
paths (they hold their sources' hashes) and the versions of mlirfuse and torch-mlir. A
process compiling the same module again loads the library (host_library.HostLibrary) and
runs no JIT: in GPT-2 with 12 layers the JIT was a quarter of the compile (RESULTS.md,
"Compile time, where it goes"). The link runs in a background thread, off the compile's
path; the file appears atomically (a rename), so a concurrent process sees all of it or
nothing; the process's exit waits for links still running (at most EXIT_WAIT_S). The
folder keeps at most MLIRFUSE_CPU_CODE_CACHE_MB megabytes (default 1024): after each
link the least recently used libraries go. A library that does not load (a runtime library removed since) is a miss.
MLIRFUSE_CPU_CODE_CACHE=0 turns this off.
"""

from __future__ import annotations

import atexit
import functools
import hashlib
import os
import subprocess
import tempfile
import threading
import time
import warnings

import torch
from torch_mlir import ir

from . import native

# bump when the build below changes (2: the runtime needed by soname; 3: -Bsymbolic, and
# lenders' libraries linked)
VERSION = "3"
# How long the process's exit waits for links still running (they take ~50 ms each).
EXIT_WAIT_S = 10.0
_warned = False
_pending: list[threading.Thread] = []
_linking: dict[str, threading.Thread] = {}  # path -> the link writing it in this process


def enabled() -> bool:
    return os.environ.get("MLIRFUSE_CPU_CODE_CACHE", "1") != "0"


def cache_dir() -> str:
    return os.path.join(native.cache_root(), "cpu")


@functools.cache
def cpu() -> str:
    """What the JIT compiles for: the host CPU's model and its feature flags."""
    model = flags = ""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name") and not model:
                    model = line.split(":", 1)[1].strip()
                elif line.startswith("flags") and not flags:
                    flags = line.split(":", 1)[1].strip()
    except OSError:
        pass
    return f"{model}|{hashlib.sha256(flags.encode()).hexdigest()[:16]}|" \
           f"{torch.backends.cpu.get_cpu_capability()}"


def key(module: ir.Module, libraries: list[str], opt_level: int) -> str:
    """The name of `module`'s library: a hash of its text and of what else changes its
    machine code."""
    # The text, not the bytecode: that holds the locations (source lines, file names),
    # which differ between processes and change no machine code.
    digest = hashlib.sha256(module.operation.get_asm(binary=True))
    digest.update(salt(libraries, opt_level).encode())
    return digest.hexdigest()[:32]


def salt(libraries: list[str], opt_level: int) -> str:
    """What changes the machine code of a module's text, beside the text."""
    return "\0".join([VERSION, native.toolchain_versions(), cpu(), str(opt_level), *libraries])


def path_of(name: str) -> str:
    """Where library `name` is kept (native.code_folder: a folder private to the user)."""
    return os.path.join(native.code_folder(cache_dir()), f"cpu-{name}.so")


def lookup(name: str) -> str | None:
    """The library's path when a process built it before (marked used now), else None;
    never a library others could write (native.usable: refused with a warning)."""
    path = path_of(name)
    wait(path)
    return path if native.usable(path, mark_used=True) else None


def wait(path: str) -> None:
    """Lets a link of this process still writing `path` end: the same code compiled
    again in this process (another compile of the same function) loads it rather than
    compiling it again."""
    thread = _linking.get(path)
    if thread is not None:
        thread.join()


def store(engine, name: str, libraries: list[str],
          lenders: list[str | None] = ()) -> threading.Thread | None:
    """Writes `engine`'s object now and links it into the library `name` in a background
    thread (returned, for tests to join); a failure warns once and leaves no file.
    `lenders`: the libraries holding kernels the code calls (runtime/shared_kernels.py),
    linked too; one that is not on disk (None, or its link failed) means no library."""
    if None in lenders:
        return None
    path = path_of(name)
    work = tempfile.mkdtemp(prefix="mlirfuse-cpu-", dir=os.path.dirname(path))
    obj = os.path.join(work, "code.o")
    try:
        engine.dump_to_object_file(obj)
    except Exception as e:  # noqa: BLE001 - the cache is an optimization, never a failure
        _warn(f"the JIT's object could not be written: {e}")
        _remove(work)
        return None
    thread = threading.Thread(target=_link, args=(obj, work, path, libraries, list(lenders)),
                              name="mlirfuse-cpu-link", daemon=True)
    if not _pending:
        atexit.register(_finish)
    _pending[:] = [t for t in _pending if t.is_alive()] + [thread]
    _linking[path] = thread
    thread.start()
    return thread


def _finish() -> None:
    """At exit: lets the links still running end (a short script's only compile)."""
    deadline = time.monotonic() + EXIT_WAIT_S
    for thread in _pending:
        thread.join(max(0.0, deadline - time.monotonic()))


def _link(obj: str, work: str, path: str, libraries: list[str], lenders: list[str]) -> None:
    partial = os.path.join(work, "code.so")
    compiler = os.environ.get("CC", "cc")
    try:
        for lender in lenders:  # linked by their paths (no soname): the loader follows them
            wait(lender)
            if not native.usable(lender, mark_used=True):
                return
        # -Bsymbolic: the library's own names (main, its kernels) bind to its own code. A
        # lender loaded as a borrower's dependency had its `main` bound to the borrower's
        # (the loader looks a dependency's names up in the borrower's scope first): the
        # lender then ran the borrower's code ("output 2 broke its guard").
        done = subprocess.run([compiler, "-shared", "-Wl,-Bsymbolic", "-o", partial, obj,
                               *lenders, *native.link_flags(libraries), "-lm"],
                              capture_output=True, text=True)
        if done.returncode != 0:
            _warn(f"'{compiler} -shared' failed: {done.stderr.strip()[:500]}")
            return
        os.replace(partial, path)  # atomic: another process sees all of it or nothing
        native.evict(os.path.dirname(path), ".so",
                     native.limit_bytes("MLIRFUSE_CPU_CODE_CACHE_MB", 1024))
    except OSError as e:
        _warn(f"linking failed: {e}")
    finally:
        _remove(work)
        if _linking.get(path) is threading.current_thread():
            del _linking[path]


def _remove(folder: str) -> None:
    for name in os.listdir(folder) if os.path.isdir(folder) else []:
        try:
            os.unlink(os.path.join(folder, name))
        except OSError:
            pass
    try:
        os.rmdir(folder)
    except OSError:
        pass


def _warn(message: str) -> None:
    global _warned
    if not _warned:
        _warned = True
        warnings.warn(f"mlirfuse: CPU code on disk: {message}", stacklevel=3)
