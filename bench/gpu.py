"""The GPU benchmark (BENCH.md, GPU shapes: 16x the rows): eager, inductor and mlirfuse.

Run on the device machine (test/run_gpu.sh sets up torch-mlir and llc there):

    python3 bench/gpu.py [--out results.json] [--only name,name] [--compile-only]
    python3 bench/gpu.py --only NAME --append rows.jsonl   (one process per workload)
    python3 bench/gpu.py --table rows.jsonl
    python3 bench/gpu.py --dtype bfloat16       (parameters and inputs cast, as served)

Per workload, in one process: every system's result is checked against eager
(relative L2 error); times are medians of `triton.testing.do_bench` (CUDA events,
L2 flushed before every call); the roofline is a device-to-device copy moving
the workload's bytes (inputs, weights and outputs, once each). Compile time is
the first call's wall time (cold: this process compiled nothing before for
mlirfuse; inductor's first workload carries its fixed start-up cost).
`--compile-only` measures first calls only: run it in a second process for the
warm-cache compile times. The training workloads are left out: mlirfuse compiles
inference only (a call that needs autograd runs eager).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(__file__))
import workloads  # noqa: E402

import mlirfuse  # noqa: E402

NAMES = ["gelu_bias", "swish", "mish", "hard_swish", "layer_norm", "rmsnorm", "softmax",
         "scaleshift_relu", "lstm_cell", "mlp", "transformer"]
MEMORY_BOUND = NAMES[:8]


def rel_error(out, ref) -> float:
    worst = 0.0
    for a, b in zip(workloads._leaves(out), workloads._leaves(ref)):
        a, b = a.double(), b.double()
        if not torch.isfinite(a).all() and not torch.equal(a.isnan(), b.isnan()):
            return float("nan")
        worst = max(worst, ((a - b).norm() / b.norm().clamp_min(1e-30)).item())
    return worst


def first_call(fn, inputs) -> tuple[float, object]:
    torch.cuda.synchronize()
    start = time.perf_counter()
    out = fn(*inputs)
    torch.cuda.synchronize()
    return time.perf_counter() - start, out


def bench_ms(fn) -> float:
    from triton.testing import do_bench

    return do_bench(fn, warmup=50, rep=200, return_mode="median")


def copy_ms(nbytes: int) -> float:
    """A device-to-device copy moving `nbytes` (half read, half written)."""
    n = max(1, nbytes // 8)  # float32 elements per side
    src = torch.randn(n, device="cuda")
    dst = torch.empty_like(src)
    return bench_ms(lambda: dst.copy_(src))


def cast(w: workloads.Workload, dtype: torch.dtype) -> tuple:
    """The workload's function and inputs with floating parameters and inputs in `dtype`."""
    fn = w.fn.to(dtype) if isinstance(w.fn, torch.nn.Module) else w.fn
    inputs = tuple(t.to(dtype) if isinstance(t, torch.Tensor) and t.is_floating_point() else t
                   for t in w.inputs)
    return fn, inputs


def run(name: str, compile_only: bool, dtype: torch.dtype = torch.float32) -> dict:
    w = workloads.make(name, rows_scale=16, device="cuda")
    fn, inputs = cast(w, dtype)
    w.fn, w.inputs = fn, inputs  # bytes_moved counts the cast tensors
    row = {"name": name, "dtype": str(dtype).removeprefix("torch.")}
    with torch.no_grad():
        ref = fn(*inputs)
        systems = {"eager": fn}
        row["inductor_compile_s"], out = first_call(compiled_ind := torch.compile(fn), inputs)
        row["inductor_error"] = rel_error(out, ref)
        systems["inductor"] = compiled_ind
        try:
            mf = mlirfuse.compile(fn)
            row["mlirfuse_compile_s"], out = first_call(mf, inputs)
            row["mlirfuse_error"] = rel_error(out, ref)
            row["kernels"] = mf.stats.kernels
            systems["mlirfuse"] = mf
        except Exception as e:  # reported in the table, never hidden
            row["mlirfuse_failure"] = f"{type(e).__name__}: {str(e).splitlines()[0][:200]}"
        if compile_only:
            return row
        bytes_moved = w.bytes_moved()
        row["bytes"] = bytes_moved
        row["copy_ms"] = copy_ms(bytes_moved)
        for system, f in systems.items():
            row[f"{system}_ms"] = bench_ms(lambda: f(*inputs))
    return row


def table(rows: list[dict]) -> str:
    head = ("| workload | eager ms | inductor ms | mlirfuse ms | copy ms | mlirfuse / copy | "
            "mlirfuse / inductor | mlirfuse / eager | rel. error | compile s (mlirfuse, inductor) |")
    lines = [head, "|" + "---|" * 10]
    for r in rows:
        if "mlirfuse_failure" in r:
            lines.append(f"| {r['name']} | {r.get('eager_ms', 0):.3f} | "
                         f"{r.get('inductor_ms', 0):.3f} | failed: {r['mlirfuse_failure']} |"
                         + " |" * 6)
            continue
        mf = r.get("mlirfuse_ms")
        if mf is None:
            lines.append(f"| {r['name']} | | | | | | | | {r.get('mlirfuse_error', 0):.1e} | "
                         f"{r.get('mlirfuse_compile_s', 0):.2f}, "
                         f"{r.get('inductor_compile_s', 0):.2f} |")
            continue
        copy = r["copy_ms"] if r["name"] in MEMORY_BOUND else None
        lines.append(
            f"| {r['name']} | {r['eager_ms']:.3f} | {r['inductor_ms']:.3f} | {mf:.3f} | "
            f"{r['copy_ms']:.3f} | {f'{mf / copy:.2f}' if copy else '(GEMM)'} | "
            f"{mf / r['inductor_ms']:.2f} | {mf / r['eager_ms']:.2f} | "
            f"{r['mlirfuse_error']:.1e} | {r['mlirfuse_compile_s']:.2f}, "
            f"{r['inductor_compile_s']:.2f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=None)
    parser.add_argument("--only", default=None)
    parser.add_argument("--compile-only", action="store_true")
    parser.add_argument("--append", default=None, help="also append each row (JSON) here")
    parser.add_argument("--table", default=None, help="only print the table of a --append file")
    parser.add_argument("--dtype", default="float32", choices=["float32", "bfloat16", "float16"])
    args = parser.parse_args()
    if args.table:
        with open(args.table) as f:
            print(table([json.loads(line) for line in f if line.strip()]))
        return
    names = args.only.split(",") if args.only else NAMES
    rows = []
    for name in names:
        rows.append(run(name, args.compile_only, getattr(torch, args.dtype)))
        print(json.dumps(rows[-1]), flush=True)
        if args.append:
            with open(args.append, "a") as f:
                f.write(json.dumps(rows[-1]) + "\n")
    print(f"device: {torch.cuda.get_device_name()}, torch {torch.__version__}")
    print(table(rows))
    if args.out:
        with open(args.out, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
