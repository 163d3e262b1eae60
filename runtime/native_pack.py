"""A compiled call's argument block packed and run in C: runtime/cpu/mlirfuse_pack.cpp.

Each call of compiled code (CPU or CUDA) packs its tensors' memref descriptors into one
block (runtime/memref.py). In Python that read every tensor's data_ptr(), shape and
stride() through the interpreter: 1-1.5 us a tensor, 90-140 us of a small ResNet's call
(its 99 parameters are arguments). The C library reads torch's own C++ tensors instead.

It is C++ on torch's and Python's headers, so it is built for this process's torch and
Python (in the file's hash), once per cache folder ($MLIRFUSE_CACHE_DIR/runtime), about
15 s: in a background thread of a process that has called compiled code BUILD_AFTER
times, calls packing in Python meanwhile; a process finding it built loads it at once.
Where it cannot be built (no C++ compiler, no Python headers) calls keep packing in
Python, as they did (logged once). MLIRFUSE_NATIVE_PACK=0 turns it off.
"""

from __future__ import annotations

import ctypes
import logging
import os
import sys
import sysconfig
import threading

import torch

from . import native

SOURCE = os.path.join(os.path.dirname(__file__), "cpu", "mlirfuse_pack.cpp")
EXPORTS = os.path.join(os.path.dirname(__file__), "cpu", "mlirfuse_pack.map")

#: mlirfuse_pack_call's answer when an extern call's error counter moved.
EXTERN_FAILED = -2
#: Its answer for a tensor it does not read (nothing ran: pack in Python).
FALLBACK = -3

# int64 (void (*fn)(void **), list tensors, const int64 *ranks, int64 n, int64 (*errors)()),
# called with the GIL held (it releases it around the compiled code).
_SIGNATURE = ctypes.PYFUNCTYPE(ctypes.c_int64, ctypes.c_void_p, ctypes.py_object,
                               ctypes.c_void_p, ctypes.c_int64, ctypes.c_void_p)

_log = logging.getLogger(__name__)
_lock = threading.Lock()
_caller = None
_builder: threading.Thread | None = None
_asks = 0
#: Calls of compiled code in a process before it builds the library (when not built).
BUILD_AFTER = 100


def _enabled() -> bool:
    return os.environ.get("MLIRFUSE_NATIVE_PACK", "1") != "0"


def _flags() -> tuple[tuple[str, ...], tuple[str, ...]]:
    api = os.path.join(os.path.dirname(torch.__file__), "include", "torch", "csrc", "api",
                       "include")
    # Python's own symbols come from the process that loads it (no -lpython).
    return native.torch_flags(EXPORTS, (api, sysconfig.get_paths()["include"]), ("-ltorch_python",))


def _arguments() -> tuple:
    flags, libraries = _flags()
    with open(EXPORTS) as f:
        salt = torch.__version__ + sys.version + f.read()
    return flags, libraries, salt


def _load(path: str) -> None:
    global _caller
    function = ctypes.PyDLL(path).mlirfuse_pack_call
    _caller = _SIGNATURE(ctypes.cast(function, ctypes.c_void_p).value)


def _build() -> None:
    try:
        flags, libraries, salt = _arguments()
        _load(native.build(SOURCE, "mlirfuse_pack", os.environ.get("CXX", "c++"), flags,
                           libraries, salt=salt))
    except (native.BuildError, OSError, AttributeError) as e:
        _log.info("mlirfuse: calls pack their arguments in Python (%s)", str(e)[:500])


def _load_built() -> None:
    """Loads the library if this cache folder has it built."""
    try:
        flags, libraries, salt = _arguments()
        path = native.built_path(SOURCE, "mlirfuse_pack", flags, libraries, salt)
        if native.usable(path):
            _load(path)
    except (OSError, AttributeError) as e:
        _log.info("mlirfuse: the built packing library does not load (%s)", str(e)[:500])


def caller():
    """The C function `mlirfuse_pack_call` (see its source), or None: while it is not
    built (the build starts in the background at the BUILD_AFTER-th ask of a process, so
    a process with a few calls, a test's with a cache folder of its own, never pays for
    it), where it cannot be, or with MLIRFUSE_NATIVE_PACK=0."""
    global _builder, _asks
    if _caller is not None or _builder is not None:
        return _caller
    if not _enabled():
        return None
    _asks += 1
    if _asks == 1:
        _load_built()
        if _caller is not None:
            return _caller
    if _asks >= BUILD_AFTER:
        _start()
    return _caller


def _start() -> None:
    global _builder
    with _lock:
        if _builder is None:
            _builder = threading.Thread(target=_build, name="mlirfuse-native-pack",
                                        daemon=True)
            _builder.start()


def wait():
    """caller(), once its build (started here if not yet) has finished."""
    if caller() is None and _enabled():
        _start()
    if _builder is not None:
        _builder.join()
    return _caller
