"""Where a compile's time goes: seconds per phase (issue 19's first step: measure).

A Specialization records its compile (`recording`); the code it runs marks its phases
(`phase`): "capture" (torch.export and the graph's rewrites), "import" (torch-mlir's FX
importer), each stage by its name ("torch", "linalg", ... "llvm"), "jit" (the
ExecutionEngine, or on CUDA the host library's load), and nested inside stages, "llc" (PTX
and host code through llc, opt and the C compiler: 0 when they came from the disk cache).
A phase that runs several times (partitioned graphs, decomposition rounds) adds up.
`CompiledFunction.timings()` returns them; with `dump_dir` they are written to
timings.json there.
"""

from __future__ import annotations

import contextlib
import threading
import time

_current = threading.local()


@contextlib.contextmanager
def recording():
    """Records the phases run inside the block (this thread) into the dict it yields."""
    outer = getattr(_current, "record", None)
    record: dict[str, float] = {}
    _current.record = record
    try:
        yield record
    finally:
        _current.record = outer


@contextlib.contextmanager
def listening(listener):
    """Calls `listener(name)` as each phase of this thread starts, inside the block (the
    progress line of a long compile: compiler/progress.py)."""
    outer = getattr(_current, "listener", None)
    _current.listener = listener
    try:
        yield
    finally:
        _current.listener = outer


@contextlib.contextmanager
def phase(name: str):
    """Adds the block's wall time to phase `name` of the compile being recorded, if any."""
    listener = getattr(_current, "listener", None)
    if listener is not None:
        listener(name)
    record = getattr(_current, "record", None)
    if record is None:
        yield
        return
    start = time.perf_counter()
    try:
        yield
    finally:
        record[name] = record.get(name, 0.0) + time.perf_counter() - start
