"""How the benchmark measures: load of other processes, quiet waits, warm-up and timed calls.

This machine is shared (other engineers' tests run on the same cores), so:
  - `LoadMeter` measures the CPU time other processes took over a span (from /proc);
  - `wait_for_quiet` waits until they leave the CPUs before compiling and timing;
  - `time_rounds` throws away (and runs again) a timed call during which other
    processes took more than a threshold of cores.
Timed calls run in rounds: each round runs every system not yet done, in a random
order, with the cache flushed (a buffer written) before every timed call.
"""

from __future__ import annotations

import dataclasses
import gc
import os
import random
import time
from typing import Callable


def _busy_ticks() -> tuple[int, int]:
    """(busy clock ticks of all CPUs, this process's own ticks) from /proc."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:9]]
    busy = sum(v) - v[3] - v[4]  # all but idle and iowait; steal counts as taken
    with open("/proc/self/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    own = int(fields[11]) + int(fields[12])  # utime + stime, all threads
    return busy, own


class LoadMeter:
    """CPU time taken by other processes (in cores) between start() and stop()."""

    hz = os.sysconf("SC_CLK_TCK")

    def start(self):
        self.t0, (self.b0, self.o0) = time.perf_counter(), _busy_ticks()
        return self

    def stop(self) -> float:
        dt = time.perf_counter() - self.t0
        b, o = _busy_ticks()
        return max(0.0, (b - self.b0) - (o - self.o0)) / self.hz / max(dt, 1e-9)


def wait_for_quiet(limit_s: float, threshold: float = 0.25, window_s: float = 1.0) -> tuple[float, float]:
    """Waits (up to limit_s) until other processes use under `threshold` cores for a window.

    Returns (seconds waited, the last window's load of other processes in cores)."""
    start = time.perf_counter()
    while True:
        meter = LoadMeter().start()
        time.sleep(window_s)
        load = meter.stop()
        waited = time.perf_counter() - start
        if load < threshold or waited >= limit_s:
            return waited, load


def warm_up(calls: dict[str, Callable], count: int, cap_s: float, sync: Callable) -> None:
    """Runs each call up to `count` times, stopping a system after `cap_s` seconds (at least 1 call)."""
    for call in calls.values():
        start = time.perf_counter()
        for _ in range(count):
            call()
            sync()
            if time.perf_counter() - start > cap_s:
                break


@dataclasses.dataclass
class Timing:
    """What `time_rounds` measured.

    Attributes:
      times: per system, the seconds of each kept timed call.
      discarded: per system, the calls thrown away because other processes took the CPUs.
      load_during: cores other processes used over the whole timing.
      load_kept: cores other processes used during the kept calls.
      budget_spent: whether the discard budget ran out (later calls were kept regardless).
    """

    times: dict[str, list[float]]
    discarded: dict[str, int]
    load_during: float
    load_kept: float
    budget_spent: bool


def time_rounds(calls: dict[str, Callable], *, target: int, min_calls: int, time_cap: float,
                load_threshold: float, discard_budget: float, flush, sync: Callable,
                seed: int) -> Timing:
    """Timed calls in rounds, every system in a random order, `flush` written before each call.

    A system stops after `target` timed calls, or when its timed calls add up to
    `time_cap` seconds and it has at least `min_calls`. A call during which other
    processes used more than `load_threshold` cores is thrown away and run again,
    until `discard_budget` seconds have gone that way."""
    meter = LoadMeter().start()
    rng = random.Random(seed)
    times = {name: [] for name in calls}
    total = {name: 0.0 for name in calls}

    def done(name):
        n = len(times[name])
        return n >= target or (n >= min_calls and total[name] >= time_cap)

    discarded = {name: 0 for name in calls}
    budget_left = discard_budget
    kept_busy = kept_time = 0.0
    rounds = 0
    while not all(done(n) for n in calls):
        order = [n for n in calls if not done(n)]
        rng.shuffle(order)
        for name in order:
            while True:
                window = LoadMeter().start()
                flush.fill_(float(rounds % 7))
                sync()
                gc.disable()
                t0 = time.perf_counter()
                out = calls[name]()
                sync()
                dt = time.perf_counter() - t0
                gc.enable()
                del out
                load = window.stop()
                span = time.perf_counter() - window.t0
                if load <= load_threshold or budget_left <= 0:
                    break
                discarded[name] += 1
                budget_left -= span + 0.2
                time.sleep(0.2)
            kept_busy += load * span
            kept_time += span
            times[name].append(dt)
            total[name] += dt
        rounds += 1
    return Timing(times=times, discarded=discarded, load_during=meter.stop(),
                  load_kept=kept_busy / max(kept_time, 1e-9), budget_spent=budget_left <= 0)
