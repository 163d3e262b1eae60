"""PyTorch's op database through mlirfuse: which ops compile natively, which run partly
eager, and which go wrong, crash or fail.

    python bench/opinfo.py [--device cpu|cuda] [--ops a,b,...] [--samples 2] [--dtype float32]
                           [--workers N] [--out bench/out/opinfo-cpu.jsonl] [--resume]
                           [--table FILE]

Every op of `torch.testing._internal.common_methods_invocations.op_db` that supports the
dtype on the device is wrapped in a function of its sample's tensors (the other arguments
are constants of the function), compiled with `mlirfuse.compile` and called on the first
`--samples` samples; each result is compared with eager's on the same tensors (random ops
under the same seed). Per sample:

  native   correct, and the whole graph ran compiled (stats.eager_ops == 0, no fallback);
           the record's `extern_calls` counts ops the compiled code ran with torch's
           own kernel (compiler/extern.py), `externs` names them
  partly   correct, with some ops (or all) run as eager torch ops
  wrong    a result differs from eager's
  error    the compiled function raised where eager did not
  crash    the worker process died (a signal) or hung past --timeout
  skipped  eager itself raised on the sample

An op takes its worst sample's status (crash > wrong > error > partly > native). The ops
run in worker processes that are restarted when one dies, so a crash is a finding, not
the end of the run. Results go to a JSON-lines file, one line per op; `--table` writes
the markdown table. `run_op` is also what test/python/test_opinfo.py calls.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import traceback

# As a script, bench/ is on the path; `bench.workers` needs the repository's root.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

ORDER = ["crash", "wrong", "error", "partly", "native", "skipped"]


def op_name(op) -> str:
    return op.name + (f".{op.variant_test_name}" if op.variant_test_name else "")


def ops_for(device: str, dtype_name: str) -> list:
    import torch
    from torch.testing._internal.common_methods_invocations import op_db

    dtype = getattr(torch, dtype_name)
    return [op for op in op_db if dtype in op.supported_dtypes(device)]


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    lines = [l.strip() for l in text.splitlines() if l.strip()]
    # A CompileError's first line names the stage; its "error:" line says what failed.
    detail = next((l for l in lines if l.startswith("error:")), lines[0] if lines else "")
    head = lines[0] if lines else ""
    text = head if detail == head else f"{head} {detail}"
    return f"{type(e).__name__}: {text}"[:300]


def _tolerance(dtype):
    import torch

    return {torch.float16: (1e-2, 1e-2), torch.bfloat16: (2e-2, 2e-2),
            torch.float32: (1e-4, 1e-4), torch.complex64: (1e-4, 1e-4)}.get(dtype, (1e-7, 1e-7))


# Ops whose results are uninitialized memory: only their metadata is eager's to match.
UNINITIALIZED = {"empty", "empty_like", "empty_strided", "new_empty", "new_empty_strided",
                 "empty_permuted"}
# Ops with results that are uninitialized unless dropout is on (the random generator's
# seed and offset): the results before that index are compared.
COMPARED_RESULTS = {"torch.ops.aten._efficient_attention_forward": 2,
                    "torch.ops.aten._flash_attention_forward": 2}


def compare(actual, expected, path="result", values=True) -> str | None:
    """None when `actual` matches eager's `expected`, else what differs."""
    import torch

    if isinstance(expected, torch.Tensor):
        if not isinstance(actual, torch.Tensor):
            return f"{path}: {type(actual).__name__}, eager gives a tensor"
        for what in ("dtype", "shape", "device"):
            if getattr(actual, what) != getattr(expected, what):
                return f"{path}: {what} {getattr(actual, what)}, eager {getattr(expected, what)}"
        if not values:
            return None
        rtol, atol = _tolerance(expected.dtype)
        try:
            torch.testing.assert_close(actual, expected, rtol=rtol, atol=atol, equal_nan=True,
                                       check_stride=False, check_layout=False)
        except AssertionError as e:
            return f"{path}: " + " ".join(str(e).split())[:200]
        return None
    if isinstance(expected, (tuple, list)):
        if not isinstance(actual, (tuple, list)) or len(actual) != len(expected):
            return f"{path}: {type(actual).__name__} of {len(actual) if hasattr(actual, '__len__') else '?'}, eager {len(expected)}"
        for i, (a, e) in enumerate(zip(actual, expected)):
            why = compare(a, e, f"{path}[{i}]", values)
            if why:
                return why
        return None
    if isinstance(expected, (bool, int, float, complex)) and not isinstance(expected, bool):
        try:
            torch.testing.assert_close(actual, expected, rtol=1e-5, atol=1e-6, equal_nan=True)
        except (AssertionError, TypeError) as e:
            return f"{path}: {actual!r}, eager {expected!r} ({' '.join(str(e).split())[:80]})"
        return None
    return None if actual == expected else f"{path}: {actual!r}, eager {expected!r}"


def wrap(op, sample):
    """A function of the sample's tensors that calls the op; the tensors it takes."""
    import torch
    import torch.utils._pytree as pytree

    leaves, spec = pytree.tree_flatten((sample.input, sample.args, sample.kwargs))
    slots = [i for i, x in enumerate(leaves) if isinstance(x, torch.Tensor)]

    def fn(*tensors):
        filled = list(leaves)
        for i, t in zip(slots, tensors):
            filled[i] = t
        inp, args, kwargs = pytree.tree_unflatten(filled, spec)
        return op.op(inp, *args, **kwargs)

    return fn, [leaves[i] for i in slots]


def _clone(tensors):
    return [t.clone() for t in tensors]


class DeviceFault(Exception):
    """A compiled kernel faulted (an illegal address...): the CUDA context is lost."""


def run_sample(op, sample, options: dict) -> dict:
    """Compiles and runs one sample; returns {"status", "reason", "eager_ops"}."""
    import torch

    import mlirfuse

    fn, tensors = wrap(op, sample)
    cuda = any(t.is_cuda for t in tensors) or torch.cuda.is_initialized()
    with torch.no_grad():
        try:
            torch.manual_seed(0)
            expected = fn(*_clone(tensors))
            if cuda:
                torch.cuda.synchronize()
        except Exception as e:
            return {"status": "skipped", "reason": "eager: " + _first_line(e)}
        try:
            compiled = mlirfuse.compile(fn, **options)
            torch.manual_seed(0)
            actual = compiled(*_clone(tensors))
            if cuda:  # a kernel's fault shows here, not in a later op
                torch.cuda.synchronize()
        except torch.AcceleratorError as e:  # the context is lost: the worker must go
            raise DeviceFault(_first_line(e)) from e
        except Exception as e:
            return {"status": "error", "reason": _first_line(e)}
    if op.name in COMPARED_RESULTS:
        actual, expected = actual[:COMPARED_RESULTS[op.name]], expected[:COMPARED_RESULTS[op.name]]
    why = compare(actual, expected, values=op.name not in UNINITIALIZED)
    stats = compiled.stats
    eager_ops = getattr(stats, "eager_ops", 0)
    if why:
        return {"status": "wrong", "reason": why, "eager_ops": eager_ops}
    externs = {"extern_calls": getattr(stats, "extern_calls", 0)}
    if externs["extern_calls"]:
        externs["externs"] = ", ".join(sorted({e.op for e in compiled.explain().externs}))
    if eager_ops or stats.fallbacks:
        report = compiled.explain()
        reason = "; ".join([f"{e.op}: {e.reason}" for e in report.eager] + report.notes)[:300]
        return {"status": "partly", "reason": reason, "eager_ops": eager_ops, **externs}
    return {"status": "native", "reason": "", "eager_ops": 0, **externs}


def run_op(op, device: str, dtype_name: str, samples: int, options: dict) -> dict:
    """Runs the first `samples` samples of `op`; returns its record."""
    import torch

    dtype = getattr(torch, dtype_name)
    results = []
    try:
        for sample in list(op.sample_inputs(device, dtype, requires_grad=False))[:samples]:
            results.append(run_sample(op, sample, options))
    except DeviceFault:
        raise
    except Exception as e:  # sample generation itself failed
        results.append({"status": "skipped", "reason": "samples: " + _first_line(e)})
    counted = [r for r in results if r["status"] != "skipped"] or results
    worst = min(counted, key=lambda r: ORDER.index(r["status"])) if counted else \
        {"status": "skipped", "reason": "no samples"}
    record = {"op": op_name(op), "status": worst["status"], "reason": worst.get("reason", ""),
              "samples": [r["status"] for r in results]}
    externs = sorted({name for r in results for name in r.get("externs", "").split(", ")
                      if name})
    if externs:
        record["extern_calls"] = max(r.get("extern_calls", 0) for r in results)
        record["externs"] = ", ".join(externs)
    return record


def worker(device: str, dtype_name: str, samples: int, options: dict) -> None:
    """Reads op indices from stdin, writes one JSON line per op to stdout."""
    import warnings

    warnings.filterwarnings("ignore")
    ops = ops_for(device, dtype_name)
    out = sys.stdout
    sys.stdout = sys.stderr  # what the ops print must not reach the protocol
    for line in sys.stdin:
        index = int(line)
        fault = False
        try:
            record = run_op(ops[index], device, dtype_name, samples, options)
        except DeviceFault as e:
            record = {"op": op_name(ops[index]), "status": "crash",
                      "reason": f"the device faulted: {e}"}
            fault = True
        except Exception:
            record = {"op": op_name(ops[index]), "status": "error",
                      "reason": "sweep: " + traceback.format_exc().splitlines()[-1]}
        record["index"] = index
        out.write(json.dumps(record) + "\n")
        out.flush()
        if fault:  # the CUDA context is unusable: the parent starts a fresh worker
            os._exit(3)


def sweep(device: str, dtype_name: str, samples: int, workers: int, names: list[str] | None,
          options: dict, out_path: str, timeout: float, resume: bool = False) -> list[dict]:
    """Runs the ops in `workers` restartable worker processes; appends records to out_path.
    With `resume`, ops that already have a record in out_path are not run again (a sweep
    cut off by a time limit goes on where it stopped)."""
    from bench import workers as pool

    ops = ops_for(device, dtype_name)
    done = {r["op"] for r in load(out_path)} if resume and os.path.exists(out_path) else set()
    todo = [str(i) for i, op in enumerate(ops) if (names is None or op_name(op) in names
            or op.name in names) and op_name(op) not in done]
    argv = [sys.executable, os.path.abspath(__file__), "--worker", "--device", device,
            "--dtype", dtype_name, "--samples", str(samples),
            "--options", json.dumps(options)]
    os.makedirs(os.path.dirname(out_path) or ".", exist_ok=True)
    records = []
    with open(out_path, "a") as out:
        def on_record(task: str, record: dict) -> None:
            record.setdefault("op", op_name(ops[int(task)]))
            record.setdefault("index", int(task))
            record.setdefault("reason", "")
            records.append(record)
            out.write(json.dumps(record) + "\n")
            out.flush()
            print(f"[{len(records)}/{len(todo)}] {record['op']}: {record['status']} "
                  f"{record['reason'][:100]}", flush=True)

        pool.run(argv, todo, workers, timeout, on_record, out_path + ".log")
    return records


def load(path: str) -> list[dict]:
    """The last record of each op in a results file."""
    by_op = {}
    with open(path) as f:
        for line in f:
            if line.strip():
                r = json.loads(line)
                by_op[r["op"]] = r
    return sorted(by_op.values(), key=lambda r: r["op"])


def summary(records: list[dict]) -> dict[str, int]:
    counts = {s: 0 for s in ORDER}
    for r in records:
        counts[r["status"]] += 1
    return counts


# Why an op is not native, by the first words of its reason (the first that matches).
CATEGORIES = [
    ("random", ("draws random numbers", "seeds or draws")),
    ("no torch-mlir lowering", ("pass 'torch-reduce-op-variants'", "failed to legalize",
                                "torch-finalizing-backend-type-conversion")),
    ("data-dependent shape or value", ("depends on the data", "returns a Python value",
                                       "takes a Python value", "DataDependent",
                                       "DynamicOutputShape", "GuardOnDataDependent",
                                       "PendingUnbacked")),
    ("toolchain hazard (crash or wrong lowering)", ("crashes", "ignores", "inf from",
                                                    "wrong from the GPU", "illegal address",
                                                    "divides by a size of 0")),
    ("complex or other dtypes", ("stage 'jit'", "KeyError: torch.", "complex")),
    ("capture", ("could not be captured",)),
    ("lowering error", ("does not compile",)),
]


def category(reason: str) -> str:
    for name, needles in CATEGORIES:
        if any(n in reason for n in needles):
            return name
    return "other"


def table(records: list[dict], title: str, only_not_native: bool = False) -> str:
    counts = summary(records)
    run = len(records) - counts["skipped"]
    lines = [f"### {title}", "",
             f"{len(records)} ops, {run} run (eager raised on every sample of "
             f"{counts['skipped']}): " + ", ".join(f"{counts[s]} {s}" for s in ORDER[:-1])
             + (f"; native {100.0 * counts['native'] / run:.1f}%" if run else ""), ""]
    extern = sum(1 for r in records if r["status"] == "native" and r.get("externs"))
    lines += [f"Of the native ops, {extern} run torch's kernel for an op from the compiled "
              f"code (extern calls, compiler/extern.py); without them "
              f"{counts['native'] - extern} native"
              + (f" ({100.0 * (counts['native'] - extern) / run:.1f}%)." if run else "."), ""]
    kinds: dict[str, int] = {}
    for r in records:
        if r["status"] == "partly":
            kinds[category(r["reason"])] = kinds.get(category(r["reason"]), 0) + 1
    lines += ["Not native, by cause: " + ", ".join(
        f"{k} {v}" for k, v in sorted(kinds.items(), key=lambda kv: -kv[1])), ""]
    lines += ["| op | status | cause | reason |", "| --- | --- | --- | --- |"]
    for r in records:
        if only_not_native and r["status"] in ("native", "skipped") and not r.get("externs"):
            continue
        reason = r["reason"].replace("|", "\\|").replace("\n", " ")
        cause = category(r["reason"]) if r["status"] == "partly" else \
            (f"extern: {r['externs']}" if r.get("externs") else "")
        lines.append(f"| {r['op']} | {r['status']} | {cause} | {reason} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cpu")
    p.add_argument("--dtype", default="float32")
    p.add_argument("--samples", type=int, default=2)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--ops", default="", help="comma-separated op names (default: all)")
    p.add_argument("--options", default="{}", help="mlirfuse.compile options, as JSON")
    p.add_argument("--timeout", type=float, default=300.0, help="seconds per op")
    p.add_argument("--out", default="")
    p.add_argument("--table", default="", help="write the markdown table of --out here")
    p.add_argument("--title", default="", help="the table's title")
    p.add_argument("--not-native", action="store_true", help="table only the ops not native")
    p.add_argument("--resume", action="store_true",
                   help="skip the ops that already have a record in --out")
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    options = json.loads(args.options)
    if args.worker:
        return worker(args.device, args.dtype, args.samples, options)
    out = args.out or f"bench/out/opinfo-{args.device}-{args.dtype}.jsonl"
    if not args.table or args.ops or not os.path.exists(out):
        names = set(args.ops.split(",")) if args.ops else None
        sweep(args.device, args.dtype, args.samples, args.workers, names, options, out,
              args.timeout, args.resume)
    records = load(out)
    print(json.dumps(summary(records)))
    if args.table:
        with open(args.table, "w") as f:
            f.write(table(records, args.title or f"{args.device}, {args.dtype}",
                          args.not_native))


if __name__ == "__main__":
    main()
