"""Where a GPU workload's time goes: per-kernel device times of eager, inductor and mlirfuse.

Run on the device machine (after test/run_gpu.sh's setup):

    python3 bench/profile_gpu.py lstm_cell transformer conv2d [--conv-as-gemm]

For each workload (BENCH.md GPU shapes; `conv2d`: a 3x3 convolution with bias and relu,
128x64x28x28 -> 128 channels; `resnet_block`: the demo's, batch 32) and each system, it
runs 20 calls under torch.profiler and prints the kernels with their mean device time
per call and the total, the time per call (do_bench) and the host's time per call. `--conv-as-gemm` compiles convolutions as im2col + cuBLAS on the GPU too
(mlirfuse-conv-to-gemm, the CPU's lowering), to compare with the direct kernel.
"""

from __future__ import annotations

import argparse
import collections
import os
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(__file__))
import workloads  # noqa: E402

import mlirfuse  # noqa: E402

CALLS = 20


def conv2d_fn(x, w, b):
    return torch.relu(F.conv2d(x, w, b, padding=1))


def make(name: str):
    if name == "resnet_block":  # the demo's block (examples/models.py), batch 32
        sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "examples"))
        import models
        model, inputs = models.resnet_block(batch=32)
        return model.cuda(), tuple(t.cuda() for t in inputs)
    if name == "conv2d":
        g = torch.Generator(device="cuda").manual_seed(0)
        args = (torch.randn(128, 64, 28, 28, device="cuda", generator=g),
                torch.randn(128, 64, 3, 3, device="cuda", generator=g) * 0.05,
                torch.randn(128, device="cuda", generator=g))
        return conv2d_fn, args
    w = workloads.make(name, rows_scale=16, device="cuda")
    return w.fn, w.inputs


def kernel_times(fn, inputs) -> list[tuple[str, float, int]]:
    """(kernel name, mean µs per call, launches per call), longest first."""
    from torch.profiler import ProfilerActivity, profile
    for _ in range(3):
        fn(*inputs)
    torch.cuda.synchronize()
    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        for _ in range(CALLS):
            fn(*inputs)
        torch.cuda.synchronize()
    total = collections.defaultdict(float)
    count = collections.Counter()
    for e in prof.events():
        if e.device_type == torch.autograd.DeviceType.CUDA:
            total[e.name] += e.device_time
            count[e.name] += 1
    rows = [(n, t / CALLS, count[n] // CALLS) for n, t in total.items()]
    return sorted(rows, key=lambda r: -r[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="+")
    parser.add_argument("--conv-as-gemm", action="store_true")
    args = parser.parse_args()
    if args.conv_as_gemm:
        from mlirfuse.lowering import stages
        fused = stages.fused
        stages.fused = lambda **kw: fused(**{**kw, "conv_as_gemm": True})
    for name in args.names:
        fn, inputs = make(name)
        with torch.no_grad():
            ref = fn(*inputs)
            systems = {"eager": fn, "inductor": torch.compile(fn), "mlirfuse": mlirfuse.compile(fn)}
            for system, f in systems.items():
                out = f(*inputs)
                outs = out if isinstance(out, tuple) else (out,)
                refs = ref if isinstance(ref, tuple) else (ref,)
                err = max(((o - r).norm() / r.norm()).item() for o, r in zip(outs, refs))
                rows = kernel_times(f, inputs)
                from triton.testing import do_bench
                ms = do_bench(lambda: f(*inputs), warmup=25, rep=100, return_mode="median")
                host = []
                for _ in range(50):  # the host's time per call (launches are asynchronous)
                    torch.cuda.synchronize()
                    start = time.perf_counter()
                    f(*inputs)
                    host.append(time.perf_counter() - start)
                host_us = sorted(host)[len(host) // 2] * 1e6
                print(f"== {name} / {system}: {ms * 1000:.1f} us a call (do_bench median), "
                      f"host {host_us:.1f} us, "
                      f"{sum(r[1] for r in rows):.1f} us of kernels in "
                      f"{sum(r[2] for r in rows)} launches, rel. error {err:.1e}")
                for kname, us, n in rows[:14]:
                    print(f"   {us:9.1f} us  x{n:<3d} {kname[:110]}")


if __name__ == "__main__":
    main()
