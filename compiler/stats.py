"""What compiled functions have done: each function's counters and the process's totals.

Every count goes to the function's own Stats and to the process-wide totals
(`mlirfuse.stats()`), which is how a user of `torch.compile(backend="mlirfuse")`, who
never holds the compiled functions, sees them.
"""

from __future__ import annotations

import dataclasses
import threading


@dataclasses.dataclass
class Stats:
    """What a compiled function has done.

    Attributes:
      compilations: specializations compiled (of forward and backward graphs alike).
      backward_compilations: those of backward graphs (training).
      cache_loads: those whose code was loaded from the on-disk cache instead of compiled
        (compiler/graph_cache.py: capture ran, the stages did not).
      cache_hits: calls served by a specialization compiled before the call.
      guard_failures: calls whose arguments no compiled specialization accepted.
      fallbacks: calls run wholly by eager PyTorch instead of compiled code (a guard
        policy, a function that could not be captured at all, or not traced with its
        backward, or that holds a tensor requiring grad under grad mode).
      kernels: kernels in the code the last call ran (0 after an eager fallback).
      eager_ops: ops of the graph that ran as eager torch ops in the last call (0: it ran
        compiled whole); `explain()` says which and why.
      extern_calls: ops of the graph that ran torch's own kernel from the compiled code
        in the last call (extern calls: ops with no native code, compiler/extern.py);
        `explain()` says which and why.

    In the process totals (`mlirfuse.stats()`), kernels, eager_ops and extern_calls are
    summed over
    every call of every function instead.
    """

    compilations: int = 0
    backward_compilations: int = 0
    cache_loads: int = 0
    cache_hits: int = 0
    guard_failures: int = 0
    fallbacks: int = 0
    kernels: int = 0
    eager_ops: int = 0
    extern_calls: int = 0


_TOTALS = Stats()
_LOCK = threading.Lock()
_COUNTERS = ("compilations", "backward_compilations", "cache_loads", "cache_hits",
             "guard_failures", "fallbacks")


def count(stats: Stats, field: str, n: int = 1) -> None:
    """Adds `n` to a counter of `stats` and of the process totals."""
    with _LOCK:
        setattr(stats, field, getattr(stats, field) + n)
        setattr(_TOTALS, field, getattr(_TOTALS, field) + n)


def ran(stats: Stats, kernels: int, eager_ops: int, extern_calls: int = 0) -> None:
    """Records what a call ran."""
    with _LOCK:
        stats.kernels, stats.eager_ops, stats.extern_calls = kernels, eager_ops, extern_calls
        _TOTALS.kernels += kernels
        _TOTALS.eager_ops += eager_ops
        _TOTALS.extern_calls += extern_calls


def totals() -> Stats:
    """The process-wide totals of every compiled function (a copy)."""
    with _LOCK:
        return dataclasses.replace(_TOTALS)


def reset() -> None:
    """Zeroes the process-wide totals (each function's own stats are kept)."""
    with _LOCK:
        for f in dataclasses.fields(Stats):
            setattr(_TOTALS, f.name, 0)
