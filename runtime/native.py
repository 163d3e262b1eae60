"""mlirfuse's own C runtime libraries, built at first use with the system C compiler.

Each library is one C file under runtime/, compiled into $MLIRFUSE_CACHE_DIR/runtime
(default ~/.cache/mlirfuse/runtime) under a name holding a hash of its source, so a
changed source builds anew and concurrent processes never see a half-written file.
"""

from __future__ import annotations

import _ctypes
import ctypes
import functools
import hashlib
import os
import re
import stat
import subprocess
import sys
import warnings


class BuildError(RuntimeError):
    """The C compiler failed on a runtime library."""


def cache_root() -> str:
    """$MLIRFUSE_CACHE_DIR, default ~/.cache/mlirfuse: the folder of every cache."""
    return os.environ.get("MLIRFUSE_CACHE_DIR") or os.path.join(
        os.path.expanduser("~"), ".cache", "mlirfuse")


def cache_dir() -> str:
    return os.path.join(cache_root(), "runtime")


def private_folder(folder: str) -> str | None:
    """Makes `folder` (0700) and says why it is not usable for code: None when it is
    this user's and no one else may write it (it is then made private: a folder an older
    mlirfuse made 0755), else the reason. Cached code becomes machine code in this
    process: a folder others can write is an injection point."""
    try:
        os.makedirs(folder, mode=0o700, exist_ok=True)
        info = os.stat(folder)
    except OSError as e:
        return f"{folder} could not be made: {e}"
    mode = stat.S_IMODE(info.st_mode)
    if info.st_uid != os.getuid() or mode & 0o022:
        return f"{folder} is not private to this user (owner {info.st_uid}, mode " \
               f"{oct(mode)}): its entries are not used"
    if mode & 0o077:  # this user's, and no one else could write it (an older mlirfuse's)
        try:
            os.chmod(folder, 0o700)
        except OSError as e:
            return f"{folder} could not be made private: {e}"
    return None


_private_fallback: dict[str, str] = {}
BUILD = "2"  # bump when build()'s command changes (2: sonames)


def code_folder(folder: str) -> str:
    """`folder` when it is fit to hold code (private_folder), else (warned once) a folder
    private to this process: builds still work, they are not kept."""
    why = private_folder(folder)
    if why is None:
        return folder
    if folder not in _private_fallback:
        import tempfile

        _private_fallback[folder] = tempfile.mkdtemp(prefix="mlirfuse-private-")
        warnings.warn(f"mlirfuse: {why}; code is built in {_private_fallback[folder]} "
                      "for this process instead", stacklevel=3)
    return _private_fallback[folder]


def usable(path: str, mark_used: bool = False) -> bool:
    """Whether a cached file exists and may be loaded (trusted_file): one others could
    write is refused with a warning and built again (and replaced). `mark_used` sets its
    modification time, which orders the eviction (least recently used first)."""
    try:
        why = trusted_file(path)
    except OSError:
        return False
    if why:
        warnings.warn(f"mlirfuse: {why}", stacklevel=3)
        return False
    if mark_used:
        try:
            os.utime(path)
        except OSError:
            pass
    return True


@functools.cache
def toolchain_versions() -> str:
    """The versions of what turns a cached module into machine code: torch, torch-mlir."""
    from importlib import metadata

    import torch

    try:
        torch_mlir = metadata.version("torch-mlir")
    except metadata.PackageNotFoundError:
        torch_mlir = "?"
    return f"torch {torch.__version__}, torch-mlir {torch_mlir}"


def trusted_file(path: str) -> str | None:
    """None when the file at `path` is this user's and no one else may write it, else
    why it is not (FileNotFoundError when there is none)."""
    info = os.stat(path)
    if info.st_uid != os.getuid() or stat.S_IMODE(info.st_mode) & 0o022:
        return f"{path} is writable by others or not this user's: not used"
    return None


def evict(folder: str, suffix: str, limit: int) -> None:
    """Removes the least recently used files named *`suffix` in `folder` (their
    modification times: a cache marks a file used with os.utime) until those left take at
    most `limit` bytes. A removed library that a process has loaded stays mapped there."""
    try:
        entries = [e for e in os.scandir(folder) if e.name.endswith(suffix)]
        stats = sorted((e.stat().st_mtime, e.stat().st_size, e.path) for e in entries)
    except OSError:
        return
    total = sum(size for _, size, _ in stats)
    for _, size, path in stats:
        if total <= limit:
            break
        try:
            os.unlink(path)
            total -= size
        except OSError:
            pass


def limit_bytes(variable: str, default_mb: int) -> int:
    """A cache's size limit: $`variable` megabytes, else `default_mb`."""
    try:
        return int(float(os.environ.get(variable, default_mb)) * 2**20)
    except ValueError:
        return default_mb * 2**20


def sharing_kernels() -> bool:
    """Whether kernels are shared across compiled modules (MLIRFUSE_SHARE_KERNELS, on
    unless 0): the CPU's code (runtime/shared_kernels.py) and CUDA's kernel modules
    (runtime/cuda.py)."""
    return os.environ.get("MLIRFUSE_SHARE_KERNELS", "1") != "0"


def _sources(source: str) -> dict[str, bytes]:
    """`source` and the files of its folder it includes (`#include "name"`), recursively,
    with their contents: what its build reads of ours."""
    out, todo = {}, [source]
    while todo:
        path = todo.pop()
        if path in out:
            continue
        with open(path, "rb") as f:
            out[path] = f.read()
        names = re.findall(rb'^\s*#\s*include\s+"([^"]+)"', out[path], re.M)
        todo += [p for p in (os.path.join(os.path.dirname(path), n.decode()) for n in names)
                 if os.path.exists(p)]
    return out


def built_path(source: str, name: str, flags: tuple[str, ...] = (),
               libraries: tuple[str, ...] = ("-ldl",), salt: str = "") -> str:
    """Where build() puts (or put) `source` built with these arguments; usable(path) says
    whether it is there."""
    digest = hashlib.sha256(repr((BUILD, flags, libraries, salt)).encode())
    for text in _sources(source).values():
        digest.update(text)
    return os.path.join(code_folder(cache_dir()), f"lib{name}-{digest.hexdigest()[:16]}.so")


def build(source: str, name: str, compiler: str | None = None,
          flags: tuple[str, ...] = (), libraries: tuple[str, ...] = ("-ldl",),
          salt: str = "") -> str:
    """Builds `source` into lib<name>-<hash>.so if not built yet; returns its path.

    Args:
      compiler: the compiler command ($CC, else cc, when None).
      flags: compile flags before the source (include paths...); libraries: after it.
      salt: what else the binary depends on (a C++ library's version): in the hash.
    Raises:
      BuildError with the compiler's message.
    """
    path = built_path(source, name, flags, libraries, salt)
    if usable(path):
        return path
    partial = f"{path}.{os.getpid()}.tmp"
    compiler = compiler or os.environ.get("CC", "cc")
    # A soname: code linked against this library needs it by name, not by this path, so
    # it takes the copy this process loaded (and initialized), wherever that lives (code
    # from a team's machine, whose cache folder is another: compiler/warm_start.py).
    done = subprocess.run([compiler, "-O2", "-shared", "-fPIC", *flags,
                           f"-Wl,-soname,{os.path.basename(path)}", "-o", partial, source,
                           *libraries], capture_output=True, text=True)
    if done.returncode != 0:
        raise BuildError(f"building {os.path.basename(source)} with '{compiler}' failed: "
                         f"{done.stderr.strip()[:2000]}")
    os.replace(partial, path)
    return path


def build_for(source: str, name: str, init: str, library: str | None, missing: str) -> str:
    """Builds `source` like build(), then points it at the shared library at `library`
    (a path in this process: torch's libgomp, libtorch_cpu) through its C function
    `int init(const char *path)`, 0 on success; warns `missing` when there is no such
    library or init fails (the C code then falls back on its own). Returns its path."""
    path = build(source, name)
    function = getattr(ctypes.CDLL(path), init)
    function.argtypes = [ctypes.c_char_p]
    if library is None or function(library.encode()):
        warnings.warn(missing)
    return path


def torch_flags(exports: str, headers: tuple[str, ...] = (), libraries: tuple[str, ...] = ()
                ) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(compile flags, link arguments) of a C++ library on this process's torch (its
    headers and C++ ABI, libtorch_cpu and c10 found where torch is) exporting what the
    version script `exports` says; `headers`, `libraries`: more of each."""
    import torch  # (as in toolchain_versions: not imported with this module)

    root = os.path.dirname(torch.__file__)
    lib = os.path.join(root, "lib")
    abi = int(torch.compiled_with_cxx11_abi())
    flags = ("-std=c++17", "-w", f"-D_GLIBCXX_USE_CXX11_ABI={abi}",
             "-I" + os.path.join(root, "include"), *(f"-I{h}" for h in headers))
    return flags, ("-L" + lib, *libraries, "-ltorch_cpu", "-lc10", "-Wl,-rpath," + lib,
                   "-Wl,--version-script=" + exports)


def half_conversions() -> str:
    """runtime/cpu/mlirfuse_fp.c built: compiler-rt's f16 and bf16 conversions, which
    LLVM calls where it has no instruction for one (the JIT has no compiler-rt)."""
    return build(os.path.join(os.path.dirname(__file__), "cpu", "mlirfuse_fp.c"), "mlirfuse_fp")


def link_flags(libraries: list[str]) -> list[str]:
    """Linker arguments for code that calls the runtime libraries at `libraries` (built
    by build(), with sonames): the libraries, and where to find those not loaded yet."""
    folders = sorted({os.path.dirname(p) for p in libraries})
    return [*libraries, *(f"-Wl,-rpath,{folder}" for folder in folders)]


class HostLibrary:
    """A loaded shared library of compiled code (GPU host code, CPU code from disk, an
    artifact's): `address(name)` of its functions; `close()` unloads it
    (its destructors run), also when garbage collected."""

    def __init__(self, path: str):
        self._handle = None  # until loaded: __del__ runs when the load raises, too
        # RTLD_LOCAL: two specializations' libraries define the same names (main...).
        self._lib = ctypes.CDLL(path, mode=os.RTLD_NOW | os.RTLD_LOCAL)
        self._handle = self._lib._handle

    def address(self, name: str) -> int | None:
        try:
            return ctypes.cast(getattr(self._lib, name), ctypes.c_void_p).value
        except AttributeError:
            return None

    def close(self, _dlclose=_ctypes.dlclose) -> None:
        # `_dlclose` bound here: at interpreter exit this module's globals are None
        # before the objects in them are freed ("'NoneType' object has no attribute
        # 'dlclose'" under pytest on the H200).
        handle, self._handle = self._handle, None
        if handle is not None:
            _dlclose(handle)

    def __del__(self, _finalizing=sys.is_finalizing):
        # At exit the library stays loaded: its destructors run with the process's.
        if not _finalizing():
            self.close()
