"""Threads calling compiled functions, as a server's pool does.

    python bench/threads.py [--threads 8] [--calls 1000] [--device cpu|cuda]

Four functions (one partly eager) over five shapes, called by every thread in turns;
every result is checked against eager. Prints the errors, wrong results and the
compilations per function (each specialization should compile once: 5 each).
"""

from __future__ import annotations

import argparse
import sys
import threading
import time

import torch

import mlirfuse

FUNCTIONS = [
    lambda x: torch.tanh(x) * 2 + 1,
    lambda x: torch.softmax(x, -1),
    lambda x: (x * x).sum(-1, keepdim=True) + x,
    lambda x: torch.special.bessel_j0(x) + x.exp(),
]
SHAPES = [(4, 8), (3, 16), (8, 8), (1, 32), (5, 7)]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=8)
    p.add_argument("--calls", type=int, default=1000)
    p.add_argument("--device", default="cpu")
    args = p.parse_args()
    compiled = [mlirfuse.compile(f) for f in FUNCTIONS]
    errors, wrong, start = [], [0], threading.Barrier(args.threads)

    def worker(seed: int):
        gen = torch.Generator(args.device).manual_seed(seed)
        try:
            with torch.no_grad():
                start.wait()
                for i in range(args.calls):
                    k = (seed + i) % len(FUNCTIONS)
                    x = torch.randn(SHAPES[(seed * 7 + i) % len(SHAPES)], generator=gen,
                                    device=args.device)
                    if not torch.allclose(compiled[k](x), FUNCTIONS[k](x), rtol=1e-5, atol=1e-5):
                        wrong[0] += 1
        except Exception as e:
            errors.append(f"{type(e).__name__}: {e}")

    begin = time.perf_counter()
    pool = [threading.Thread(target=worker, args=(s,)) for s in range(args.threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    seconds = time.perf_counter() - begin
    print(f"{args.threads} threads x {args.calls} calls on {args.device}: "
          f"{len(errors)} errors, {wrong[0]} wrong, {seconds:.1f} s")
    for e in errors[:5]:
        print("  ", e)
    for i, c in enumerate(compiled):
        print(f"  function {i}: {c.stats}")
    sys.exit(1 if errors or wrong[0] else 0)


if __name__ == "__main__":
    main()
