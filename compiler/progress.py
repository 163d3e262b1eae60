"""A progress line for long compiles (issue 19): the stage a compile is in, on a terminal.

A compile of a 12-layer model takes tens of seconds; without a sign of life a user cannot
tell it from a hang. `showing(label, enabled)` wraps one compile (a Specialization): if it
is still running after DELAY seconds and standard error is a terminal, a tqdm line shows
`mlirfuse: compiling <label>: stage <n>, <stage> [<elapsed>]`, updated as each phase
starts (compiler/timings.py: capture, import, every stage by its name, llc, jit), and
removed when the compile ends. Nothing is written when standard error is not a terminal
(logs, CI, pipes), with the option progress=False, or when tqdm is not installed. The
stages run whole-module passes, so there is no per-kernel step to count.
"""

from __future__ import annotations

import contextlib
import shutil
import sys
import threading
import time

from . import timings

DELAY = 1.0  # seconds a compile runs before its line appears


class _Line:
    """The progress line of one compile: created by a timer after DELAY, updated by the
    compile's thread as phases start."""

    def __init__(self, label: str, stream):
        self.label, self.stream = label, stream
        self.phase, self.count = "starting", 0
        self.start = time.time()  # tqdm's clock: its elapsed time counts from the compile's
        self.bar = None
        self.lock = threading.Lock()
        self.closed = False

    def show(self) -> None:
        try:
            from tqdm import tqdm
        except ImportError:  # no tqdm: no line
            return
        with self.lock:
            if self.closed or self.bar is not None:
                return
            # The terminal's size, 80 x 24 where it reports none (a bare pty): tqdm's own
            # reading gives 0 rows there, and it then hides the line.
            size = shutil.get_terminal_size()
            self.bar = tqdm(total=None, file=self.stream, leave=False, ncols=size.columns,
                            nrows=size.lines,
                            bar_format="mlirfuse: compiling {desc} [{elapsed}]")
            self.bar.start_t = self.start
            self._describe()

    def started(self, phase: str) -> None:
        with self.lock:
            self.phase, self.count = phase, self.count + 1
            if self.bar is not None:
                self._describe()

    def _describe(self) -> None:
        self.bar.set_description_str(f"{self.label}: stage {self.count}, {self.phase}")
        self.bar.refresh()

    def close(self) -> None:
        with self.lock:
            self.closed = True
            if self.bar is not None:
                self.bar.close()


def _terminal(stream) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


@contextlib.contextmanager
def showing(label: str, enabled: bool = True, stream=None):
    """Shows the progress line of the compile run inside the block (see the module's
    docstring); `stream` is standard error unless given."""
    stream = sys.stderr if stream is None else stream
    if not enabled or not _terminal(stream):
        yield
        return
    line = _Line(label, stream)
    timer = threading.Timer(DELAY, line.show)
    timer.daemon = True
    if DELAY <= 0:
        line.show()
    else:
        timer.start()
    try:
        with timings.listening(line.started):
            yield
    finally:
        timer.cancel()
        line.close()
