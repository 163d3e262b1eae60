"""Tasks run in worker processes that are restarted when one dies: a crash (a signal, a
hang, a lost CUDA context) is a finding, not the end of the run. bench/opinfo.py and
bench/fuzz.py use it.

A worker is `argv`, a process that reads one task per line on stdin and writes one JSON
record per task on stdout; a record with status "crash" means the worker is exiting (its
device faulted), and a fresh one takes the next task.
"""

from __future__ import annotations

import json
import selectors
import subprocess
import time
from typing import Callable


class _Worker:
    def __init__(self, argv: list[str], log):
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=log, text=True, bufsize=1)
        self.task, self.started = None, 0.0

    def send(self, task: str) -> None:
        self.task, self.started = task, time.monotonic()
        self.proc.stdin.write(task + "\n")
        self.proc.stdin.flush()

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait()


def run(argv: list[str], tasks: list[str], workers: int, timeout: float,
        on_record: Callable[[str, dict], None], log_path: str = "/dev/null") -> None:
    """Runs every task; calls on_record(task, record) as each finishes. A worker that dies
    or passes `timeout` seconds on a task gives {"status": "crash", "reason": ...}."""
    pending = list(reversed(tasks))
    log = open(log_path, "a")
    pool: list[_Worker] = []
    sel = selectors.DefaultSelector()

    def start() -> _Worker:
        w = _Worker(argv, log)
        sel.register(w.proc.stdout, selectors.EVENT_READ, w)
        pool.append(w)
        return w

    def finish(w: _Worker, record: dict) -> None:
        task, w.task = w.task, None
        on_record(task, record)

    def replace(w: _Worker) -> None:
        sel.unregister(w.proc.stdout)
        w.kill()
        pool.remove(w)
        if pending:
            start().send(pending.pop())

    for _ in range(min(workers, len(tasks))):
        start().send(pending.pop())
    try:
        while any(w.task is not None for w in pool):
            for key, _ in sel.select(timeout=1.0):
                w = key.data
                line = w.proc.stdout.readline()
                if not line:  # the worker died
                    finish(w, {"status": "crash",
                               "reason": f"worker died (exit {w.proc.wait()})"})
                    replace(w)
                    continue
                record = json.loads(line)
                finish(w, record)
                if record.get("status") == "crash":  # it exits: a fresh one takes over
                    replace(w)
                elif pending:
                    w.send(pending.pop())
            for w in list(pool):
                if w.task is not None and time.monotonic() - w.started > timeout:
                    finish(w, {"status": "crash", "reason": f"hung past {timeout:.0f} s"})
                    replace(w)
    finally:
        for w in pool:
            w.proc.stdin.close()
            w.kill()
        log.close()
