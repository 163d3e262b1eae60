"""Kernels shared across modules (runtime/shared_kernels.py): the compile time they save.

    python bench/shared_kernels.py [--runs 2]

Six functions share a block (GELU of a sum, layer_norm, softmax over [64, 256]) and each
ends otherwise; each compiled in turn in a fresh process, with MLIRFUSE_SHARE_KERNELS=1
and 0 alternately, an empty cache folder each. Prints per function the first call's
seconds, the JIT's, and the kernels it borrowed.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile

CHILD = r"""
import sys, time, torch, mlirfuse
def block(x, w):
    y = torch.nn.functional.gelu(x + w)
    return torch.softmax(torch.nn.functional.layer_norm(y, (256,)) * 1.5, -1)
tails = [lambda y: y.sum(0), lambda y: y.amax(0), lambda y: y.mean(-1),
         lambda y: (y * y).sum(-1), lambda y: y.abs().amin(0), lambda y: y.t().cumsum(-1)]
x, w = torch.randn(64, 256), torch.randn(256)
keep, line = [], []
for i, tail in enumerate(tails):
    def f(x, w, tail=tail):
        return tail(block(x, w))
    compiled = mlirfuse.compile(f)
    keep.append(compiled)
    start = time.perf_counter()
    torch.testing.assert_close(compiled(x, w), f(x, w))
    seconds = time.perf_counter() - start
    graph = compiled._last.graph
    pieces = graph.pieces if hasattr(graph, "pieces") else [graph]
    lent = sum(len(p.executable.lenders) for p in pieces)
    line.append(f"{seconds:.3f} s (jit {compiled.timings().get('jit', 0):.3f}, {lent} borrowed)")
print(" | ".join(line))
"""


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=2)
    args = p.parse_args()
    for _ in range(args.runs):
        for share in ("1", "0"):
            env = dict(os.environ, MLIRFUSE_CACHE_DIR=tempfile.mkdtemp(),
                       MLIRFUSE_SHARE_KERNELS=share)
            done = subprocess.run([sys.executable, "-c", CHILD], env=env, capture_output=True,
                                  text=True)
            print(f"share {share}: " + (done.stdout.strip() or done.stderr[-800:]), flush=True)


if __name__ == "__main__":
    main()
