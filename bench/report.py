"""The benchmark's report: the machine and run metadata, the tables, RESULTS.md.

Three tables, one row per workload:
  1. speed: eager, inductor, mlirfuse (fused) ms, the ratios, the copy roofline, max err;
  2. fusion before and after: mlirfuse-unfused (fuse=False) and mlirfuse ms and kernels,
     the speedup of fusion, and the compile times;
  3. bandwidth, GEMM throughput, call counts, first-call times and the load while timing.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time

from bench.child import SYSTEMS

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


# ------------------------------------------------------------------------ metadata


def _sh(cmd: str) -> str:
    try:
        return subprocess.run(cmd, shell=True, capture_output=True, text=True, cwd=REPO).stdout.strip()
    except Exception:
        return "?"


def tree_state() -> str:
    """HEAD and the uncommitted changes of the compiler's code, to see if they moved during the run."""
    return _sh("git rev-parse HEAD") + _sh("git diff HEAD -- compiler lowering runtime dialects | sha1sum")


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


def collect_meta(start: float, tree_at_start: str) -> dict:
    """The run's metadata; `start` is its time.time() at the start."""
    import torch

    return dict(
        machine=_machine(),
        date=_sh("date"),
        torch=torch.__version__,
        python=platform.python_version(),
        commit=_sh("git rev-parse --short HEAD"),
        dirty=bool(_sh("git status --porcelain --untracked-files=no")),
        threads=torch.get_num_threads(),
        command="python bench/run.py " + " ".join(sys.argv[1:]),
        wall_s=time.time() - start,
        tree_changed=tree_state() != tree_at_start,
    )


# ------------------------------------------------------------------------ cells


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
        msg = entry.get("error", entry.get("why", "no result"))
        return _esc(msg) if msg.startswith("n/a") else "error: " + _esc(msg)
    cell = _ms(entry["ms"])
    if entry.get("n", target) < target:
        cell += f" (n={entry['n']})"
    if entry.get("ok") is False:
        cell += " WRONG"
    return cell


def _err(entry: dict) -> str:
    return f"{entry['err']:.1e}" + ("" if entry.get("ok") else " WRONG") if "err" in entry else "—"


def _secs(entry: dict, key: str = "compile_s") -> str:
    return f"{entry[key]:.2f}" if key in entry else "—"


def _row(cells) -> str:
    return "| " + " | ".join(cells) + " |"


# ------------------------------------------------------------------------ the page


def _header(meta: dict, opts) -> list[str]:
    return [
        "# mlirfuse benchmark results",
        "",
        f"- machine: {meta['machine']}",
        f"- date: {meta['date']}",
        f"- torch {meta['torch']}, python {meta['python']}, mlirfuse commit {meta['commit']}"
        + (" (plus uncommitted changes)" if meta["dirty"] else "")
        + (" — **the compiler's code changed while this ran** (other engineers commit and edit "
           "concurrently), so workloads may have run different versions" if meta["tree_changed"] else ""),
        f"- threads: torch {meta['threads']} (eager, inductor); mlirfuse kernels run on OpenMP threads, as many as torch uses",
        f"- device {opts.device}, rows scale {opts.rows_scale}"
        + (", **--quick** (few calls, not for comparison)" if opts.quick else ""),
        f"- command: `{meta['command']}`, wall time {meta['wall_s'] / 60:.1f} min",
        f"- timing: median of {opts.calls} timed calls per system after warm-up; a system stops earlier "
        f"once its timed calls add up to {opts.time_cap:g} s and it has at least {opts.min_calls} "
        "(the count is then given as n=); systems and the copy interleaved in random order; "
        "a 64 MB buffer written before every timed call; "
        "MALLOC_MMAP_THRESHOLD_=33554432, MALLOC_TRIM_THRESHOLD_=4294967296",
        "- systems: eager; inductor (`torch.compile`, default mode); mlirfuse (`mlirfuse.compile(fn)`, "
        "fused); mlirfuse-unfused (`mlirfuse.compile(fn, fuse=False)`: one kernel per linalg op, the "
        "baseline of the fusion); all measured in the same process, interleaved",
        "- inference workloads call every system under `torch.no_grad()`, and a workload whose "
        "compiled function ran any call eager (`compiled.stats.fallbacks > 0`) shows an error "
        "instead of a time; the training workloads' mlirfuse steps are timed by bench/train.py",
        "- compile s: wall time of the first call in a fresh process per workload "
        "(a cold inductor cache: TORCHINDUCTOR_CACHE_DIR is a new empty folder), modules "
        "imported beforehand; for mlirfuse `compile_seconds`; mlirfuse-unfused compiles second "
        "in the same process, after mlirfuse, so it is warm (the first compile in a process "
        "takes about 0.5 s more), and mlirfuse compiles once more after it (warm) for comparison",
        "- copy-roofline: `clone()` of a buffer half the bytes the workload must read and write once "
        "(inputs, weights, outputs; for training the gradients), so it moves the same bytes",
        "- load: before compiling and before timing, each workload waits (up to "
        f"{opts.quiet_wait:g} s) until other processes use under 0.25 cores; the CPU time other "
        "processes took while timing is in the third table (this machine is shared: tests of "
        "other engineers run on the same 2 cores, and 2-thread eager/inductor suffer most); "
        f"a timed call during which other processes used over {opts.load_threshold:g} cores "
        f"(from /proc/stat) is thrown away and run again, up to {opts.discard_budget:g} s per workload",
        "- max err: max abs difference of a result from eager's; WRONG marks a result outside "
        "the workload's tolerance",
    ]


def _error_row(r: dict, columns: int) -> str:
    """A workload whose child failed before any system ran: its error across the row."""
    return f"| {r['name']} | error: {_esc(r['error'])} |" + " |" * (columns - 2)


def _speed_table(results: list[dict], opts) -> list[str]:
    lines = [
        "",
        "Speed (mlirfuse is the fused compile):",
        "",
        "| workload | eager ms | inductor ms | mlirfuse ms | mlirfuse/eager | mlirfuse/inductor "
        "| copy-roofline ms | mlirfuse/copy | mlirfuse max err | inductor max err |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        s = r.get("systems", {})
        if "error" in r and not s:
            lines.append(_error_row(r, columns=10))
            continue
        e, i, m = (s.get(k, {}) for k in SYSTEMS[:3])
        copy = r.get("copy", {})
        em, im, mm, cm = e.get("ms"), i.get("ms"), m.get("ms"), copy.get("ms")
        lines.append(_row([
            r["name"], _cell(e, opts.calls), _cell(i, opts.calls), _cell(m, opts.calls),
            _ratio(mm, em), _ratio(mm, im), _cell(copy, opts.calls), _ratio(mm, cm), _err(m), _err(i),
        ]))
    return lines


def _fusion_table(results: list[dict], opts) -> list[str]:
    lines = [
        "",
        "Fusion, before (mlirfuse-unfused: `fuse=False`) and after (mlirfuse), with compile times; "
        "kernels: loop nests the compiled code runs per call; speedup: unfused ms / fused ms:",
        "",
        "| workload | unfused ms | unfused kernels | fused ms | fused kernels | fusion speedup "
        "| unfused compile s (warm) | fused compile s cold / warm | inductor compile s | unfused max err |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        s = r.get("systems", {})
        if "error" in r and not s:
            lines.append(_error_row(r, columns=10))
            continue
        i, m, u = (s.get(k, {}) for k in ("inductor", "mlirfuse", "mlirfuse-unfused"))
        lines.append(_row([
            r["name"], _cell(u, opts.calls), str(u.get("kernels", "—")),
            _cell(m, opts.calls), str(m.get("kernels", "—")), _ratio(u.get("ms"), m.get("ms")),
            _secs(u), f"{_secs(m)} / {_secs(m, 'warm_compile_s')}", _secs(i), _err(u),
        ]))
    return lines


def _bandwidth_table(results: list[dict]) -> list[str]:
    lines = [
        "",
        "Bandwidth (bytes the workload must move / median time, and as a share of the copy's "
        "bandwidth: copy ms / system ms), GEMM throughput where the workload is matmul-bound, "
        "and the counts of timed calls:",
        "",
        "| workload | MB moved | copy GB/s | eager GB/s (share) | inductor GB/s (share) "
        "| mlirfuse GB/s (share) | unfused GB/s (share) "
        "| GFLOP/s eager / inductor / mlirfuse / unfused | calls eager / inductor / mlirfuse / unfused / copy "
        "| first call s inductor / mlirfuse / unfused "
        "| other processes' CPU while timing, cores: all / kept calls / calls thrown away |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
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

        e, i, m, u = (s.get(k, {}) for k in SYSTEMS)
        flops = " / ".join(gf(x) for x in (e, i, m, u)) if r.get("flops") else "—"
        counts = " / ".join(str(x.get("n", "—")) for x in (e, i, m, u, copy))
        first = " / ".join(_secs(x, "first_call_s") for x in (i, m, u))
        load = "—"
        if "load_kept" in r:
            thrown = sum(r.get("discarded", {}).values())
            load = f"{r['load_during']:.2f} / {r['load_kept']:.2f} / {thrown}"
            if r.get("discard_budget_spent"):
                load += " (budget spent)"
        copy_bw = f"{nb / cm / 1e6:.1f}" if cm else "—"
        lines.append(_row([r["name"], f"{nb / 1e6:.1f}", copy_bw, bw(e), bw(i), bw(m), bw(u),
                           flops, counts, first, load]))
    return lines


def _footer(results: list[dict]) -> list[str]:
    lines = []
    errors = [
        (r["name"], k, r["systems"][k]["error"])
        for r in results for k in SYSTEMS
        if k in r.get("systems", {}) and "error" in r["systems"][k]
    ] + [(r["name"], "run", r["error"]) for r in results if "error" in r]
    errors += [
        (r["name"], k, f"{x['compilations']} compilations: it recompiled during warm-up or timing")
        for r in results for k, x in r.get("systems", {}).items() if x.get("compilations", 1) > 1
    ]
    if errors:
        lines += ["", "Errors (first line):", ""]
        lines += [f"- {name}, {system}: `{_esc(msg, 400)}`" for name, system, msg in errors]
    notes = [r for r in results if r.get("note")]
    if notes:
        lines += ["", "Notes:", ""] + [f"- {r['name']}: {r['note']}" for r in notes]
    return lines


def render(results: list[dict], meta: dict, opts) -> str:
    lines = (_header(meta, opts) + _speed_table(results, opts) + _fusion_table(results, opts)
             + _bandwidth_table(results) + _footer(results))
    return "\n".join(lines) + "\n"


def default_out(quick: bool) -> str:
    """Where a run's page goes without --out: bench/out/, never bench/RESULTS.md itself
    (that file keeps every run's figures and their story; a run replaced all 640 lines of
    it with its own 80)."""
    return os.path.join(REPO, "bench", "out", "RESULTS-quick.md" if quick else "RESULTS-run.md")


def write(results: list[dict], meta: dict, opts, log_dir: str) -> str:
    """Prints the page, writes it (markdown) and the raw results (JSON in log_dir); returns the path."""
    text = render(results, meta, opts)
    print()
    print(text)
    out = opts.out or default_out(opts.quick)
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    with open(out, "w") as f:
        f.write(text)
    with open(os.path.join(log_dir, os.path.splitext(os.path.basename(out))[0] + ".json"), "w") as f:
        json.dump({"meta": meta, "results": results}, f, indent=1)
    print(f"written to {out}")
    return out
