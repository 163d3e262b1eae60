"""One workload, measured in a fresh process (a child of bench/run.py).

  1. eager runs once: the reference;
  2. inductor (torch.compile, default mode), mlirfuse (fused) and mlirfuse-unfused
     (`fuse=False`: one kernel per linalg op, the baseline of the fusion) compile
     on their first call (timed: compile seconds, cold for inductor and mlirfuse;
     mlirfuse-unfused compiles second in the same process, warm, so mlirfuse compiles
     once more after it, warm too: `warm_compile_s`) and their results are checked
     against eager (max abs error, and allclose at the workload's tolerance);
  3. warm-up calls, then timed calls in rounds (bench/measure.py), with the copy roofline.

mlirfuse compiles inference only: under grad mode with inputs or parameters that
require grad, a call runs eager PyTorch and counts in `compiled.stats.fallbacks`.
Inference workloads call it under torch.no_grad(); after the first call and after
timing the child checks that `stats.fallbacks == 0`, and otherwise reports an error
instead of a time, so an eager fallback is never reported as mlirfuse's time.
Training workloads report mlirfuse as n/a.

The result is a JSON file (`--result-file`), written after every phase so that the
parent knows where a crash happened.
"""

from __future__ import annotations

import json
import math
import statistics
import time
import traceback

SYSTEMS = ("eager", "inductor", "mlirfuse", "mlirfuse-unfused")
# the mlirfuse systems and their `fuse` option
MLIRFUSE_FUSE = {"mlirfuse": True, "mlirfuse-unfused": False}
TRAIN_NA = "n/a here (training steps: bench/train.py)"


def first_line(e: BaseException) -> str:
    text = str(e).strip()
    line = text.splitlines()[0] if text else ""
    return f"{type(e).__name__}: {line}"


def compare(out, ref, atol, rtol) -> tuple[float, bool, str]:
    """Max abs error over all result tensors, whether all are close, and why not."""
    import torch

    from bench.workloads import _leaves

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


def fallback_error(compiled, when: str) -> str | None:
    """An error message if `compiled` ran any call eager (stats.fallbacks), else None."""
    fb = compiled.stats.fallbacks
    if fb == 0:
        return None
    return f"eager fallback in {fb} call(s) {when} (compiled.stats.fallbacks): not mlirfuse's time"


def run_child(args) -> None:
    import faulthandler

    faulthandler.enable()  # a crash in compiled code leaves a Python traceback in bench/out/<name>.log
    import torch

    from bench.measure import time_rounds, wait_for_quiet, warm_up

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
    skip: dict[str, str] = json.loads(args.skip) if args.skip else {}  # system -> why

    # --- eager: the reference
    phase("eager")
    waited, load = wait_for_quiet(args.quiet_wait)
    res["compile_quiet_wait_s"], res["load_before_compile"] = waited, load
    eager = runner(w.fn)
    ref = eager()
    ref = tuple(t.detach().clone() for t in W._leaves(ref))
    calls["eager"] = eager
    res["systems"]["eager"] = {"err": 0.0, "ok": True}

    # --- inductor and mlirfuse: first call cold (compile), then the check
    compiled_objs = {}

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
            entry["error"] = first_line(e)
            entry["traceback"] = traceback.format_exc()[-4000:]
            save()
            return
        if compiled_obj is not None:
            entry["compile_s"] = compiled_obj.compile_seconds
            entry["kernels"] = compiled_obj.stats.kernels
            why = fallback_error(compiled_obj, "in the first call")
            if why:
                entry["error"] = why
                save()
                return
            compiled_objs[system] = compiled_obj
        else:
            entry["compile_s"] = entry["first_call_s"]
        phase(f"{system}-check")
        err, ok, why = compare(out, ref, w.atol, w.rtol)
        entry.update(err=err, ok=ok, why=why)
        del out
        calls[system] = call
        save()

    if "inductor" in skip:
        res["systems"]["inductor"] = {"error": skip["inductor"] or "skipped"}
    else:
        torch._dynamo.reset()
        first_call("inductor", torch.compile(w.fn))
    for system, fuse in MLIRFUSE_FUSE.items():
        if system in skip:
            res["systems"][system] = {"error": skip[system] or "skipped"}
        elif cuda:
            res["systems"][system] = {"error": "n/a, mlirfuse compiles for the CPU only"}
        elif w.train:
            res["systems"][system] = {"error": TRAIN_NA}
        else:
            try:
                compiled = mlirfuse.compile(w.fn, fuse=fuse)
            except Exception as e:
                res["systems"][system] = {"error": first_line(e)}
            else:
                first_call(system, compiled, compiled)

    # --- mlirfuse compiles again, warm (not cold as above), for a fair compare with mlirfuse-unfused
    if "mlirfuse" in compiled_objs:
        phase("mlirfuse-warm-compile")
        try:
            with torch.no_grad():
                res["systems"]["mlirfuse"]["warm_compile_s"] = mlirfuse.compile(w.fn, w.inputs).compile_seconds
        except Exception as e:
            res["systems"]["mlirfuse"]["warm_compile_error"] = first_line(e)

    # --- the copy roofline: a clone moving the same bytes
    src = torch.randn(max(1, nbytes // 8), device=device)  # float32: clone reads 4n and writes 4n
    calls["copy"] = lambda: src.clone()

    # --- warm-up
    phase("warm-up")
    warm_up(calls, args.warmup, args.warmup_cap, sync)

    # --- timed calls, in rounds, random order, cache flushed before each
    phase("timing")
    waited, load = wait_for_quiet(args.quiet_wait)
    res["quiet_wait_s"], res["load_before"] = waited, load
    flush = torch.empty((256 if cuda else 64) * 2**20 // 4 if not args.warm else 1,
                        device=device)  # --warm: a one-element "flush" (the cache stays)
    timing = time_rounds(
        calls, target=args.calls, min_calls=args.min_calls, time_cap=args.time_cap,
        load_threshold=args.load_threshold, discard_budget=args.discard_budget,
        flush=flush, sync=sync, seed=args.seed,
    )
    res["load_during"] = timing.load_during
    res["load_kept"] = timing.load_kept
    res["discarded"] = timing.discarded
    res["discard_budget_spent"] = timing.budget_spent

    for name, ts in timing.times.items():
        entry = res["systems"].setdefault(name, {}) if name != "copy" else res.setdefault("copy", {})
        entry["ms"] = statistics.median(ts) * 1e3
        entry["n"] = len(ts)
        entry["min_ms"] = min(ts) * 1e3

    # --- no eager fallback may pass for mlirfuse's time
    for system, compiled in compiled_objs.items():
        entry = res["systems"][system]
        entry["fallbacks"] = compiled.stats.fallbacks
        entry["compilations"] = compiled.stats.compilations
        why = fallback_error(compiled, "during warm-up and timing")
        if why:
            entry["error"] = why
            entry["invalid_ms"] = entry.pop("ms")
    phase("done")
