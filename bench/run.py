"""Benchmark of /work/shared/BENCH.md: eager vs torch.compile (inductor) vs mlirfuse,
and mlirfuse before fusion (mlirfuse-unfused: `fuse=False`) vs after.

    python bench/run.py [--workloads a,b] [--out bench/out/RESULTS-run.md] [--quick]

Per workload, in one fresh process (a child of this one, so that a crash in
one workload cannot end the run and every first call is a cold compile):
  1. eager runs once: the reference;
  2. inductor (torch.compile, default mode), mlirfuse and mlirfuse-unfused compile
     on their first call (timed: compile seconds) and their results are checked
     against eager (max abs error, and allclose at the workload's tolerance);
  3. warm-up calls, then timed calls in rounds: each round runs every system,
     plus the copy roofline, in a random order, with the cache flushed (a 64 MB
     buffer written) before every timed call (not with --warm: the inputs stay
     in cache). A system stops after --calls
     timed calls, or when its timed calls add up to --time-cap seconds and it
     has at least --min-calls; the median is reported with the count used
     (this is what bounds the slow ones: mlirfuse's naive matmuls in lstm_cell,
     mlp and transformer run 100-500x slower than eager, fused or not).
The copy roofline is `src.clone()` of a float32 buffer of half the bytes the
workload must read and write once (its inputs, weights and outputs), so the
copy moves the same bytes.

Training workloads time `out = fn(*inputs); out.sum().backward()` for eager and inductor;
mlirfuse's training steps are timed by bench/train.py (with peak memory), n/a here. Inference
workloads call every system under torch.no_grad(), and a mlirfuse system whose
compiled function ran any call eager (stats.fallbacks) is reported as an error.

Modules: bench/child.py (one workload, in the child), bench/measure.py (load,
quiet waits, warm-up, timed rounds), bench/report.py (the tables, RESULTS.md),
bench/workloads.py (the workloads). A crash of a compiled system in its first
call reruns the workload without that system. Logs: bench/out/<workload>.log.
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
import json
import signal
import subprocess
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from bench.child import SYSTEMS, run_child  # noqa: E402


def _system_of(phase: str) -> str:
    """The system a child's phase belongs to: "mlirfuse-unfused-compile" -> "mlirfuse-unfused"."""
    for suffix in ("-compile", "-check"):
        if phase.endswith(suffix):
            return phase[: -len(suffix)]
    return phase


def _run_workload(name: str, opts, log_dir: str) -> dict:
    """Runs one workload in child processes; a system that crashes its child in its first
    call is skipped in a rerun. Returns the child's result."""
    base = [
        sys.executable, os.path.abspath(__file__), "--child", name,
        "--rows-scale", str(opts.rows_scale), "--device", opts.device, "--seed", str(opts.seed),
        "--calls", str(opts.calls), "--min-calls", str(opts.min_calls),
        "--time-cap", str(opts.time_cap), "--warmup", str(opts.warmup),
        "--warmup-cap", str(opts.warmup_cap), "--quiet-wait", str(opts.quiet_wait),
        "--load-threshold", str(opts.load_threshold), "--discard-budget", str(opts.discard_budget),
    ] + (["--warm"] if opts.warm else [])
    skip: dict[str, str] = {}  # system -> why
    if name in opts.skip_unfused.split(","):
        skip["mlirfuse-unfused"] = "n/a (skipped: --skip-unfused)"
    res = None
    for attempt in range(len(SYSTEMS)):  # the first try, and one more per compiler at most
        with tempfile.TemporaryDirectory(prefix="mlirfuse-bench-") as tmp:
            result_file = os.path.join(tmp, "result.json")
            env = dict(os.environ, TORCHINDUCTOR_CACHE_DIR=os.path.join(tmp, "inductor"))
            cmd = base + ["--result-file", result_file]
            if skip:
                cmd += ["--skip", json.dumps(skip)]
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
        if rc == "timeout":
            how = "timed out"
        elif isinstance(rc, int) and rc < 0:
            how = f"killed by {signal.Signals(-rc).name}"
        else:
            how = f"exit {rc}"
        where = res["phase"].replace("-compile", " first call (compile and run)")
        why = f"process {how} in {where}; traceback in bench/out/{name}.log"
        print(f"  {why}", flush=True)
        crashed = _system_of(res["phase"])
        if crashed in SYSTEMS[1:] and crashed not in skip:
            skip[crashed] = why
            continue  # again without the system that crashed
        res["error"] = why
        break
    return res


def run_parent(opts) -> None:
    from bench import report
    from bench import workloads as W

    names = opts.workloads.split(",") if opts.workloads else list(W.WORKLOADS)
    unknown = [n for n in names + list(filter(None, opts.skip_unfused.split(","))) if n not in W.WORKLOADS]
    if unknown:
        sys.exit(f"unknown workload(s) {unknown}; known: {', '.join(W.WORKLOADS)}")
    log_dir = os.path.join(REPO, "bench", "out")
    os.makedirs(log_dir, exist_ok=True)
    start = time.time()
    tree_at_start = report.tree_state()
    results = []
    for name in names:
        print(f"== {name}", flush=True)
        res = _run_workload(name, opts, log_dir)
        results.append(res)
        s = res.get("systems", {})
        summary = ", ".join(
            f"{k} {s[k]['ms']:.3g} ms" if "ms" in s.get(k, {}) else f"{k} {s.get(k, {}).get('error', '—')[:80]}"
            for k in SYSTEMS
        )
        print(f"  {summary}", flush=True)
    report.write(results, report.collect_meta(start, tree_at_start), opts, log_dir)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--workloads", default="", help="comma-separated names (default: all of BENCH.md)")
    p.add_argument("--out", default="", help="markdown output (default bench/out/RESULTS-run.md, "
                   "with --quick bench/out/RESULTS-quick.md; bench/RESULTS.md is written by hand)")
    p.add_argument("--skip-unfused", default="", metavar="A,B",
                   help="workloads not to measure mlirfuse-unfused on (default: none; the time cap "
                   "bounds the slow ones)")
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
    p.add_argument("--warm", action="store_true",
                   help="no cache flush before timed calls: the inputs stay in cache, as in a "
                        "model's inner loop (issue 18 times both)")
    p.add_argument("--quiet-wait", type=float, default=15,
                   help="seconds to wait for other processes to leave the CPUs before compiling and timing")
    p.add_argument("--load-threshold", type=float, default=0.3,
                   help="a timed call during which other processes used more cores than this is run again")
    p.add_argument("--discard-budget", type=float, default=20,
                   help="seconds per workload that may go to calls thrown away for load")
    p.add_argument("--workload-timeout", type=float, default=900, help="seconds per workload process")
    p.add_argument("--child", help=argparse.SUPPRESS)
    p.add_argument("--result-file", help=argparse.SUPPRESS)
    p.add_argument("--skip", default="", help=argparse.SUPPRESS)  # JSON {system: why}
    opts = p.parse_args()
    if opts.quick:
        opts.calls, opts.min_calls, opts.time_cap, opts.warmup = min(opts.calls, 10), 3, 0.5, 1
    if opts.child:
        run_child(opts)
    else:
        run_parent(opts)


if __name__ == "__main__":
    main()
