"""Python's cyclic garbage collector paused while a compile runs.

A compile makes hundreds of thousands of Python objects that live a while (the captured
FX graphs, their fake tensors, the MLIR bindings' handles), so the collector's thresholds
start full collections in the middle of it, each traversing every object of the process
(torch's and transformers' too): GPT-2 with 12 layers, 2 of them, 0.55 s of a 5.3 s
compile, and 0.12 s more of younger generations' (session 35, `gc.callbacks`). Paused, the
compile's garbage (101,000 objects there, 14 MB more at the peak) waits for the
collections after it; every object freed by reference counting is freed as before.
"""

from __future__ import annotations

import contextlib
import gc
import threading

_lock = threading.Lock()
_depth = 0
_was_enabled = False


@contextlib.contextmanager
def paused():
    """The collector off inside (nested compiles and threads: off until the last leaves),
    then as it was before the first entered."""
    global _depth, _was_enabled
    with _lock:
        if _depth == 0:
            _was_enabled = gc.isenabled()
            gc.disable()
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0 and _was_enabled:
                gc.enable()
