"""Benchmark of /work/shared/BENCH.md: eager vs torch.compile (inductor) vs mlirfuse.

    python bench/run.py [--workloads a,b] [--out bench/RESULTS.md] [--quick]

Per workload, in one fresh process (a child of this one, so that a crash in
one workload cannot end the run and every first call is a cold compile):
  1. eager runs once: the reference;
  2. inductor (torch.compile, default mode) and mlirfuse compile on their first
     call (timed: compile seconds, cold) and their results are checked against
     eager (max abs error, and allclose at the workload's tolerance);
  3. warm-up calls, then timed calls in rounds: each round runs every system,
     plus the copy roofline, in a random order, with the cache flushed (a 64 MB
     buffer written) before every timed call. A system stops after --calls
     timed calls, or when its timed calls add up to --time-cap seconds and it
     has at least --min-calls; the median is reported with the count used.
The copy roofline is `src.clone()` of a float32 buffer of half the bytes the
workload must read and write once (its inputs, weights and outputs), so the
copy moves the same bytes.

Training workloads time `out = fn(*inputs); out.sum().backward()`.
"""

from __future__ import annotations

import os
import sys

# glibc malloc: without these, 16 MiB outputs are mmapped and page-faulted at
# every call and times are bimodal (BENCH.md). They only act when set before
# the process starts, so re-exec with them.
_MALLOC_ENV = {"MALLOC_MMAP_THRESHOLD_": "33554432", "MALLOC_TRIM_THRESHOLD_": "4294967296"}
if any(os.environ.get(k) != v for k, v in _MALLOC_ENV.items()):
    if os.environ.get("_MLIRFUSE_BENCH_REEXEC"):
        sys.exit("bench/run.py: re-exec did not set the malloc environment")
    _env = dict(os.environ, **_MALLOC_ENV, _MLIRFUSE_BENCH_REEXEC="1")
    os.execve(sys.executable, [sys.executable, os.path.abspath(__file__)] + sys.argv[1:], _env)

import argparse
import gc
import json
import math
import platform
import random
import statistics
import subprocess
import tempfile
import time
import traceback

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

SYSTEMS = ("eager", "inductor", "mlirfuse")


# ------------------------------------------------------------------------ child: one workload


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    line = text.splitlines()[0] if text else ""
    return f"{type(e).__name__}: {line}"


def _leaves(out):
    from bench.workloads import _leaves as leaves

    return leaves(out)


def _compare(out, ref, atol, rtol) -> tuple[float, bool, str]:
    """Max abs error over all result tensors, whether all are close, and why not."""
    import torch

    outs, refs = _leaves(out), _leaves(ref)
    if len(outs) != len(refs):
        return math.inf, False, f"{len(outs)} results, eager has {len(refs)}"
    err, ok, why = 0.0, True, ""
    for o, r in zip(outs, refs):
        if o is None or tuple(o.shape) != tuple(r.shape):
            return math.inf, False, f"shape {None if o is None else tuple(o.shape)} vs {tuple(r.shape)}"
        o, r = o.detach().float().cpu(), r.detach().float().cpu()
        e = (o - r).abs().max().item() if o.numel() else 0.0
        if math.isnan(e):
            return math.inf, False, "NaN in result"
        err = max(err, e)
        if not torch.allclose(o, r, atol=atol, rtol=rtol):
            ok, why = False, f"not allclose(atol={atol}, rtol={rtol})"
    return err, ok, why


def run_child(args) -> None:
    import torch

    result_path = args.result_file
    res: dict = {"name": args.child, "systems": {}, "phase": "setup"}

    def save():
        with open(result_path, "w") as f:
            json.dump(res, f)

    def phase(name):
        res["phase"] = name
        save()
        print(f"  [{args.child}] {name}", flush=True)

    save()
    # Import everything before the first compile, so compile times do not count imports.
    import torch._dynamo
    import torch._inductor.config  # noqa: F401
    import torch.export  # noqa: F401
    import mlirfuse
    import torch_mlir.fx  # noqa: F401

    from bench import workloads as W

    device = args.device
    cuda = device.startswith("cuda")
    sync = torch.cuda.synchronize if cuda else (lambda: None)
    w = W.make(args.child, rows_scale=args.rows_scale, device=device, seed=args.seed)
    nbytes = w.bytes_moved()
    res.update(bytes=nbytes, flops=w.flops, train=w.train, note=w.note)

    def runner(forward):
        if w.train:
            return lambda: W.train_step(forward, w)

        def call():
            with torch.no_grad():
                return forward(*w.inputs)

        return call

    calls = {}
    skip = set(args.skip.split(",")) if args.skip else set()

    # --- eager: the reference
    phase("eager")
    eager = runner(w.fn)
    ref = eager()
    ref = tuple(t.detach().clone() for t in _leaves(ref))
    calls["eager"] = eager
    res["systems"]["eager"] = {"err": 0.0, "ok": True}

    # --- inductor and mlirfuse: first call cold (compile), then the check
    def first_call(system, forward, compiled_obj=None):
        phase(f"{system}-compile")
        entry = res["systems"].setdefault(system, {})
        call = runner(forward)
        try:
            sync()
            t0 = time.perf_counter()
            out = call()
            sync()
            entry["first_call_s"] = time.perf_counter() - t0
        except Exception as e:
            entry["error"] = _first_line(e)
            entry["traceback"] = traceback.format_exc()[-4000:]
            if system == "mlirfuse" and w.train:
                entry["error"] = "n/a, no backward in mlirfuse yet: " + entry["error"]
            save()
            return
        if system == "mlirfuse":
            entry["compile_s"] = compiled_obj.compile_seconds
            entry["kernels"] = compiled_obj.stats.kernels
        else:
            entry["compile_s"] = entry["first_call_s"]
        phase(f"{system}-check")
        err, ok, why = _compare(out, ref, w.atol, w.rtol)
        entry.update(err=err, ok=ok, why=why)
        del out
        calls[system] = call
        save()

    if "inductor" not in skip:
        torch._dynamo.reset()
        first_call("inductor", torch.compile(w.fn))
    else:
        res["systems"]["inductor"] = {"error": "skipped"}
    if "mlirfuse" in skip:
        res["systems"]["mlirfuse"] = {"error": args.skip_reason or "skipped"}
    elif cuda:
        res["systems"]["mlirfuse"] = {"error": "n/a, mlirfuse compiles for the CPU only"}
    else:
        try:
            compiled = mlirfuse.compile(w.fn)
        except Exception as e:
            res["systems"]["mlirfuse"] = {"error": _first_line(e)}
        else:
            first_call("mlirfuse", compiled, compiled)

    # --- the copy roofline: a clone moving the same bytes
    src = torch.randn(max(1, nbytes // 8), device=device)  # float32: clone reads 4n and writes 4n
    calls["copy"] = lambda: src.clone()

    # --- warm-up
    phase("warm-up")
    for name, call in calls.items():
        start = time.perf_counter()
        for i in range(args.warmup):
            call()
            sync()
            if time.perf_counter() - start > args.warmup_cap:
                break

    # --- timed calls, in rounds, random order, cache flushed before each
    phase("timing")
    flush = torch.empty((256 if cuda else 64) * 2**20 // 4, device=device)
    rng = random.Random(args.seed)
    times = {name: [] for name in calls}
    total = {name: 0.0 for name in calls}

    def done(name):
        n = len(times[name])
        return n >= args.calls or (n >= args.min_calls and total[name] >= args.time_cap)

    rounds = 0
    while not all(done(n) for n in calls):
        order = [n for n in calls if not done(n)]
        rng.shuffle(order)
        for name in order:
            flush.fill_(float(rounds % 7))
            sync()
            gc.disable()
            t0 = time.perf_counter()
            out = calls[name]()
            sync()
            dt = time.perf_counter() - t0
            gc.enable()
            del out
            times[name].append(dt)
            total[name] += dt
        rounds += 1

    for name, ts in times.items():
        entry = res["systems"].setdefault(name, {}) if name != "copy" else res.setdefault("copy", {})
        entry["ms"] = statistics.median(ts) * 1e3
        entry["n"] = len(ts)
        entry["min_ms"] = min(ts) * 1e3
    phase("done")


# ------------------------------------------------------------------------ parent: the table


def _sh(cmd: str) -> str:
    try:
        return subprocess.run(cmd, shell=True, capture_output=True, text=True, cwd=REPO).stdout.strip()
    except Exception:
        return "?"


def _machine() -> str:
    model = ""
    for line in _sh("lscpu").splitlines():
        if line.startswith("Model name:"):
            model = line.split(":", 1)[1].strip()
    l3 = ""
    for line in _sh("lscpu").splitlines():
        if line.startswith("L3 cache:"):
            l3 = ", L3 " + line.split(":", 1)[1].strip()
    mem = ""
    try:
        with open("/proc/meminfo") as f:
            mem = f", {int(f.readline().split()[1]) / 2**20:.0f} GiB RAM"
    except OSError:
        pass
    return f"{model or platform.processor()}, {os.cpu_count()} CPUs{l3}{mem}, {platform.system()} {platform.release()}"


def _ms(x):
    if x is None:
        return "—"
    return f"{x:.3g}" if x < 100 else f"{x:.0f}"


def _ratio(a, b):
    if a is None or b is None or b == 0:
        return "—"
    return f"{a / b:.2f}"


def _esc(s: str, limit: int = 160) -> str:
    s = s.replace("|", "\\|").replace("\n", " ")
    return s if len(s) <= limit else s[: limit - 1] + "…"


def _cell(entry: dict, target: int) -> str:
    if "ms" not in entry:
        return "error: " + _esc(entry.get("error", entry.get("why", "no result")))
    cell = _ms(entry["ms"])
    if entry.get("n", target) < target:
        cell += f" (n={entry['n']})"
    if entry.get("ok") is False:
        cell += " WRONG"
    return cell


def render(results: list[dict], meta: dict, opts) -> str:
    lines = [
        "# mlirfuse benchmark results",
        "",
        f"- machine: {meta['machine']}",
        f"- date: {meta['date']}",
        f"- torch {meta['torch']}, python {meta['python']}, mlirfuse commit {meta['commit']}"
        + (" (plus uncommitted changes)" if meta["dirty"] else ""),
        f"- threads: torch {meta['threads']} (eager, inductor); mlirfuse code runs on 1 thread (naive lowering)",
        f"- device {opts.device}, rows scale {opts.rows_scale}"
        + (", **--quick** (few calls, not for comparison)" if opts.quick else ""),
        f"- command: `{meta['command']}`, wall time {meta['wall_s'] / 60:.1f} min",
        f"- timing: median of {opts.calls} timed calls per system after warm-up; a system stops earlier "
        f"once its timed calls add up to {opts.time_cap:g} s and it has at least {opts.min_calls} "
        "(the count is then given as n=); systems and the copy interleaved in random order; "
        "a 64 MB buffer written before every timed call; "
        "MALLOC_MMAP_THRESHOLD_=33554432, MALLOC_TRIM_THRESHOLD_=4294967296",
        "- compile s: wall time of the first call in a fresh process per workload "
        "(a cold inductor cache: TORCHINDUCTOR_CACHE_DIR is a new empty folder), modules "
        "imported beforehand; for mlirfuse `compile_seconds`, for training workloads forward "
        "and backward compile",
        "- copy-roofline: `clone()` of a buffer half the bytes the workload must read and write once "
        "(inputs, weights, outputs; for training the gradients), so it moves the same bytes",
        "- max err: max abs difference of mlirfuse's result from eager's (inductor's is in the "
        "second table); WRONG marks a result outside the workload's tolerance",
        "",
        "| workload | eager ms | inductor ms | mlirfuse ms | mlirfuse/eager | mlirfuse/inductor "
        "| copy-roofline ms | mlirfuse/copy | kernels | mlirfuse compile s | inductor compile s | max err |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        s = r.get("systems", {})
        e, i, m = (s.get(k, {}) for k in SYSTEMS)
        copy = r.get("copy", {})
        em, im, mm, cm = e.get("ms"), i.get("ms"), m.get("ms"), copy.get("ms")
        if "error" in r and not s:
            lines.append(f"| {r['name']} | error: {_esc(r['error'])} |" + " |" * 11)
            continue
        if "err" in m:
            err = f"{m['err']:.1e}" + ("" if m.get("ok") else " WRONG")
        else:
            err = "—"
        lines.append(
            "| " + " | ".join([
                r["name"],
                _cell(e, opts.calls),
                _cell(i, opts.calls),
                _cell(m, opts.calls),
                _ratio(mm, em),
                _ratio(mm, im),
                _cell(copy, opts.calls),
                _ratio(mm, cm),
                str(m["kernels"]) if "kernels" in m else "—",
                f"{m['compile_s']:.2f}" if "compile_s" in m else "—",
                f"{i['compile_s']:.2f}" if "compile_s" in i else "—",
                err,
            ]) + " |"
        )

    lines += [
        "",
        "Bandwidth (bytes the workload must move / median time, and as a share of the copy's "
        "bandwidth: copy ms / system ms), GEMM throughput where the workload is matmul-bound, "
        "and the counts of timed calls:",
        "",
        "| workload | MB moved | copy GB/s | eager GB/s (share) | inductor GB/s (share) "
        "| mlirfuse GB/s (share) | GFLOP/s eager / inductor / mlirfuse | calls eager / inductor / mlirfuse / copy "
        "| inductor max err | first call s inductor / mlirfuse |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        s = r.get("systems", {})
        if not s or "bytes" not in r:
            continue
        nb, copy = r["bytes"], r.get("copy", {})
        cm = copy.get("ms")

        def bw(entry):
            if "ms" not in entry:
                return "—"
            share = f" ({cm / entry['ms']:.0%})" if cm else ""
            return f"{nb / entry['ms'] / 1e6:.1f}{share}"

        def gf(entry):
            return f"{r['flops'] / entry['ms'] / 1e6:.1f}" if "ms" in entry else "—"

        e, i, m = (s.get(k, {}) for k in SYSTEMS)
        flops = " / ".join(gf(x) for x in (e, i, m)) if r.get("flops") else "—"
        counts = " / ".join(str(x.get("n", "—")) for x in (e, i, m, copy))
        ierr = f"{i['err']:.1e}" + ("" if i.get("ok") else " WRONG") if "err" in i else "—"
        first = " / ".join(f"{x['first_call_s']:.2f}" if "first_call_s" in x else "—" for x in (i, m))
        lines.append(
            f"| {r['name']} | {nb / 1e6:.1f} | {nb / cm / 1e6:.1f} | {bw(e)} | {bw(i)} | {bw(m)} "
            f"| {flops} | {counts} | {ierr} | {first} |"
            if cm else f"| {r['name']} | {nb / 1e6:.1f} | — | {bw(e)} | {bw(i)} | {bw(m)} | {flops} | {counts} | {ierr} | {first} |"
        )

    errors = [
        (r["name"], k, r["systems"][k]["error"])
        for r in results for k in SYSTEMS
        if k in r.get("systems", {}) and "error" in r["systems"][k]
    ] + [(r["name"], "run", r["error"]) for r in results if "error" in r]
    if errors:
        lines += ["", "Errors (first line):", ""]
        lines += [f"- {name}, {system}: `{_esc(msg, 400)}`" for name, system, msg in errors]
    notes = [r for r in results if r.get("note")]
    if notes:
        lines += ["", "Notes:", ""] + [f"- {r['name']}: {r['note']}" for r in notes]
    return "\n".join(lines) + "\n"


def run_parent(opts) -> None:
    from bench import workloads as W

    names = opts.workloads.split(",") if opts.workloads else list(W.WORKLOADS)
    unknown = [n for n in names if n not in W.WORKLOADS]
    if unknown:
        sys.exit(f"unknown workload(s) {unknown}; known: {', '.join(W.WORKLOADS)}")
    log_dir = os.path.join(REPO, "bench", "out")
    os.makedirs(log_dir, exist_ok=True)
    start = time.time()
    results = []
    for name in names:
        print(f"== {name}", flush=True)
        base = [
            sys.executable, os.path.abspath(__file__), "--child", name,
            "--rows-scale", str(opts.rows_scale), "--device", opts.device, "--seed", str(opts.seed),
            "--calls", str(opts.calls), "--min-calls", str(opts.min_calls),
            "--time-cap", str(opts.time_cap), "--warmup", str(opts.warmup),
            "--warmup-cap", str(opts.warmup_cap),
        ]
        skip, skip_reason, res = "", "", None
        for attempt in range(3):
            with tempfile.TemporaryDirectory(prefix="mlirfuse-bench-") as tmp:
                result_file = os.path.join(tmp, "result.json")
                env = dict(os.environ, TORCHINDUCTOR_CACHE_DIR=os.path.join(tmp, "inductor"))
                cmd = base + ["--result-file", result_file]
                if skip:
                    cmd += ["--skip", skip, "--skip-reason", skip_reason]
                with open(os.path.join(log_dir, f"{name}.log"), "a" if attempt else "w") as log:
                    try:
                        proc = subprocess.run(cmd, env=env, stderr=log, timeout=opts.workload_timeout)
                        rc = proc.returncode
                    except subprocess.TimeoutExpired:
                        rc = "timeout"
                try:
                    with open(result_file) as f:
                        res = json.load(f)
                except (OSError, ValueError):
                    res = {"name": name, "phase": "setup"}
            if rc == 0:
                break
            why = f"process ended ({'timed out' if rc == 'timeout' else f'exit {rc}'}) in phase {res['phase']}"
            print(f"  {why}", flush=True)
            crashed = res["phase"].split("-")[0]
            if crashed in ("inductor", "mlirfuse") and crashed not in skip.split(","):
                skip = ",".join(filter(None, [skip, crashed]))
                skip_reason = why
                continue  # again without the system that crashed
            res["error"] = why
            break
        results.append(res)
        s = res.get("systems", {})
        summary = ", ".join(
            f"{k} {s[k]['ms']:.3g} ms" if "ms" in s.get(k, {}) else f"{k} {s.get(k, {}).get('error', '—')[:80]}"
            for k in SYSTEMS
        )
        print(f"  {summary}", flush=True)

    import torch

    meta = dict(
        machine=_machine(),
        date=_sh("date"),
        torch=torch.__version__,
        python=platform.python_version(),
        commit=_sh("git rev-parse --short HEAD"),
        dirty=bool(_sh("git status --porcelain --untracked-files=no")),
        threads=torch.get_num_threads(),
        command="python bench/run.py " + " ".join(sys.argv[1:]),
        wall_s=time.time() - start,
    )
    text = render(results, meta, opts)
    print()
    print(text)
    default = os.path.join("out", "RESULTS-quick.md") if opts.quick else "RESULTS.md"
    out = opts.out or os.path.join(REPO, "bench", default)
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    with open(out, "w") as f:
        f.write(text)
    with open(os.path.splitext(out)[0] + ".json", "w") as f:
        json.dump({"meta": meta, "results": results}, f, indent=1)
    print(f"written to {out}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--workloads", default="", help="comma-separated names (default: all of BENCH.md)")
    p.add_argument("--out", default="", help="markdown output (default bench/RESULTS.md; "
                   "with --quick bench/out/RESULTS-quick.md)")
    p.add_argument("--quick", action="store_true", help="few timed calls: a smoke test, not numbers")
    p.add_argument("--calls", type=int, default=30, help="timed calls per system (target)")
    p.add_argument("--min-calls", type=int, default=5, help="timed calls per system at least")
    p.add_argument("--time-cap", type=float, default=3.0,
                   help="seconds of timed calls after which a system stops (once it has --min-calls)")
    p.add_argument("--warmup", type=int, default=3, help="warm-up calls per system (at most)")
    p.add_argument("--warmup-cap", type=float, default=0.5, help="seconds of warm-up per system (at least 1 call)")
    p.add_argument("--rows-scale", type=int, default=1, help="scale of the first dimension (GPU: 16)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--workload-timeout", type=float, default=900, help="seconds per workload process")
    p.add_argument("--child", help=argparse.SUPPRESS)
    p.add_argument("--result-file", help=argparse.SUPPRESS)
    p.add_argument("--skip", default="", help=argparse.SUPPRESS)
    p.add_argument("--skip-reason", default="", help=argparse.SUPPRESS)
    opts = p.parse_args()
    if opts.quick:
        opts.calls, opts.min_calls, opts.time_cap, opts.warmup = min(opts.calls, 10), 3, 0.5, 1
    if opts.child:
        run_child(opts)
    else:
        run_parent(opts)


if __name__ == "__main__":
    main()
