"""Threads calling compiled functions: compiles run one at a time, a thread that misses
waits for the compile another thread started instead of compiling again, every result is
eager's, and the stats add up (issue 15: 4 threads failed in capture, torch.export is not
reentrant)."""

from __future__ import annotations

import threading

import pytest
import torch

import mlirfuse
from conftest import assert_same

pytestmark = pytest.mark.usefixtures("no_grad")

FUNCTIONS = [
    lambda x: torch.tanh(x) * 2 + 1,
    lambda x: torch.softmax(x, -1),
    lambda x: (x * x).sum(-1, keepdim=True) + x,
    lambda x: torch.special.laguerre_polynomial_l(x, 3) + x.exp(),  # partly eager: a partitioned graph
]
SHAPES = [(4, 8), (3, 16), (8, 8), (1, 32), (5, 7)]


def _drive(compiled, threads: int, calls: int) -> list[BaseException]:
    errors, start = [], threading.Barrier(threads)

    def worker(seed: int):
        gen = torch.Generator(torch.get_default_device()).manual_seed(seed)
        try:
            with torch.no_grad():
                start.wait()
                for i in range(calls):
                    k = (seed + i) % len(FUNCTIONS)
                    x = torch.randn(SHAPES[(seed * 7 + i) % len(SHAPES)], generator=gen)
                    assert_same(compiled[k](x), FUNCTIONS[k](x), rtol=1e-5, atol=1e-5)
        except BaseException as e:  # reported by the main thread
            errors.append(e)

    pool = [threading.Thread(target=worker, args=(s,)) for s in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    return errors


def test_threads_compile_each_specialization_once():
    mlirfuse.reset_stats()
    compiled = [mlirfuse.compile(f, dynamic=False) for f in FUNCTIONS]
    threads, calls = 8, 60
    errors = _drive(compiled, threads, calls)
    assert not errors, errors[0]
    for c in compiled:
        assert c.stats.compilations == len(SHAPES), c.stats
        assert c.stats.fallbacks == 0 and c.stats.guard_failures == len(SHAPES) - 1
    assert sum(c.stats.cache_hits for c in compiled) + len(FUNCTIONS) * len(SHAPES) == \
        threads * calls
    totals = mlirfuse.stats()
    assert totals.compilations == len(FUNCTIONS) * len(SHAPES)
    assert totals.cache_hits + totals.compilations == threads * calls
