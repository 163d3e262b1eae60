"""The lock every compile takes.

torch.export is not reentrant (two threads tracing at once failed with "ProxyTorchDispatchMode
slot already occupied"), and a compile updates process-wide tables (screen.KNOWN, the
learned decompositions). So compiles run one at a time in the process, as dynamo's own
compile lock makes them; calls of compiled code never take the lock. A thread that misses
takes it, then looks again: another thread may have compiled what it needs meanwhile.

A compile that must not inherit its caller's thread-local dispatch state (AOTAutograd
runs a forward graph inside an autograd.Function, where torch.export fails with
"Attempting to use FunctionalTensor on its own") runs in a clean thread (`in_clean_thread`),
to which a caller holding the lock lends it while it waits.
"""

from __future__ import annotations

import threading
from typing import Any, Callable


class CompileLock:
    """A reentrant lock whose holder can lend it to a helper thread it waits for."""

    def __init__(self):
        self._lock = threading.RLock()
        self._local = threading.local()  # depth: how many times this thread holds it
        self._lent: set[int] = set()  # helper threads working for a holder

    def held(self) -> bool:
        """Whether this thread holds the lock (or works for a thread that does)."""
        return getattr(self._local, "depth", 0) > 0 or threading.get_ident() in self._lent

    def __enter__(self) -> "CompileLock":
        if threading.get_ident() not in self._lent:
            self._lock.acquire()
        self._local.depth = getattr(self._local, "depth", 0) + 1
        return self

    def __exit__(self, *exc) -> None:
        self._local.depth -= 1
        if threading.get_ident() not in self._lent:
            self._lock.release()


COMPILE_LOCK = CompileLock()


def in_clean_thread(fn: Callable, *args) -> Any:
    """Runs fn(*args) in a new thread (default grad mode, no dispatch modes, no excluded
    dispatch keys), waits for it and returns or raises what it did. A caller that holds
    COMPILE_LOCK lends it to the thread for that time."""
    box: dict[str, Any] = {}
    lend = COMPILE_LOCK.held()

    def work():
        ident = threading.get_ident()
        if lend:
            COMPILE_LOCK._lent.add(ident)
        try:
            box["result"] = fn(*args)
        except BaseException as e:  # re-raised in the caller
            box["error"] = e
        finally:
            COMPILE_LOCK._lent.discard(ident)

    thread = threading.Thread(target=work, name="mlirfuse-compile")
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    return box.get("result")
