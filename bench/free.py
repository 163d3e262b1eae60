"""Compiling and dropping specializations in a loop: the process's memory stays flat.

    python bench/free.py [--device cpu|cuda] [--count 500] [--no-unload] [--collect] [--trace]

Each iteration compiles a new specialization (a fused elementwise function of a new
shape), calls it, checks the result, and drops it; RSS (and on CUDA the driver's used
memory) is printed every --every iterations. GPU code is a shared library per
specialization (runtime/host_library.py), unloaded with its kernel modules when the
function is freed; --no-unload leaves the kernel modules loaded (the device memory they
hold then grows). Compiled functions are freed as Python frees them (a cycle: when the garbage collector
runs, often inside the next compile), or with --collect right after each is dropped.
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import os
import resource
import sys
import tracemalloc

import torch

import mlirfuse


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def device_used_mb() -> float:
    """This process's device memory (nvidia-smi's per-process figure: the driver's
    mem_get_info counts every process on the GPU), else the device's used memory."""
    import subprocess

    try:
        rows = subprocess.run(["nvidia-smi", "--query-compute-apps=pid,used_memory",
                               "--format=csv,noheader,nounits"], capture_output=True,
                              text=True, timeout=30).stdout.splitlines()
        for row in rows:
            pid, used = (field.strip() for field in row.split(","))
            if int(pid) == os.getpid():
                return float(used)
    except (OSError, ValueError, subprocess.SubprocessError):
        pass
    free, total = torch.cuda.mem_get_info()
    return (total - free) / 2**20


def host_libraries_mapped() -> int:
    """Host libraries of specializations (runtime/host_library.py) still mapped."""
    with open("/proc/self/maps") as f:
        return len({line.split()[-1] for line in f if "/host-" in line and ".so" in line})


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cpu")
    p.add_argument("--count", type=int, default=500)
    p.add_argument("--every", type=int, default=50)
    p.add_argument("--no-unload", action="store_true", help="leave kernel modules loaded")
    p.add_argument("--collect", action="store_true", help="gc.collect() after each drop")
    p.add_argument("--trace", action="store_true",
                   help="print where Python's own allocations grew (tracemalloc)")
    args = p.parse_args()
    if args.device == "cuda":
        from mlirfuse.runtime import cuda as runtime

        if args.no_unload:
            ctypes.c_int.in_dll(runtime.library(), "mlirfuse_unload_modules").value = 0

    def fn(x, y):
        return torch.relu(x * y + 1.0).sum(-1)

    first = None
    with torch.no_grad():
        for i in range(args.count):
            x = torch.randn(4 + i % 64, 16 + i // 64, device=args.device)
            y = torch.randn_like(x)
            compiled = mlirfuse.compile(fn)
            got = compiled(x, y)
            torch.testing.assert_close(got, fn(x, y), rtol=1e-5, atol=1e-5)
            del compiled, got
            if args.collect:  # else freed whenever the garbage collector runs: in a compile
                gc.collect()
            if i % args.every == 0 or i == args.count - 1:
                used = (f", device {device_used_mb():.0f} MiB, host libraries mapped "
                        f"{host_libraries_mapped()}") if args.device == "cuda" else ""
                print(f"{i + 1} compiled and dropped: RSS {rss_mb():.0f} MiB{used}", flush=True)
                first = first or rss_mb()
                if args.trace and i == args.every:
                    tracemalloc.start(8)
                    snapshot = tracemalloc.take_snapshot()
    if args.trace:
        gc.collect()
        stats = tracemalloc.take_snapshot().compare_to(snapshot, "traceback")
        print(f"Python allocations grew {sum(s.size_diff for s in stats) / 2**20:.1f} MiB; most:")
        for stat in stats[:6]:
            print(f"  {stat.size_diff / 1024:+.0f} KiB in {stat.count_diff:+d} blocks at")
            for line in stat.traceback.format()[-8:]:
                print("   ", line)
    grown = rss_mb() - first
    print(f"RSS grew {grown:.0f} MiB over {args.count} specializations "
          f"({1024 * grown / args.count:.0f} KiB each); peak {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")


if __name__ == "__main__":
    sys.exit(main())
